//! Crash test: a child process appends under load and is killed with
//! SIGKILL at random moments, many times. After each kill, every
//! acknowledged entry is present at its index, the checkpoint verifies, and
//! it is consistent with every checkpoint the child reported before dying.
//!
//! The child is this same test binary, re-run with `TLOG_CRASH_CHILD` set.
//! It runs twice: on plain file storage, and journaled with small segments
//! (`TLOG_CRASH_JOURNAL`), so that kills land mid-record, between a record
//! and its files, and during a segment's retirement — and, with the `s3`
//! feature, on an S3-compatible server (`TLOG_CRASH_S3`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tlog::merkle::verify_consistency;
use tlog::note::Signer;
use tlog::sequencer::{self, SequencerConfig};
use tlog::{FsStorage, Hash, LogReader, Storage, leaf_hash};

#[cfg(feature = "s3")]
mod common;

const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const KILLS: usize = 25;

/// The child: appends forever from many tasks, reporting acknowledgements
/// (`ACK <index> <leaf hash>`) and checkpoints (`CP <size> <root>`).
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("TLOG_CRASH_CHILD") else {
        return; // Only runs as the child of `acknowledged_entries_survive_sigkill`.
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    #[cfg(feature = "s3")]
    if let Ok(endpoint) = std::env::var("TLOG_CRASH_S3") {
        rt.block_on(append_forever(s3_storage(&endpoint)));
        return;
    }
    let mut storage = FsStorage::open(&dir).unwrap();
    if let Ok(bytes) = std::env::var("TLOG_CRASH_JOURNAL") {
        storage = storage.journaled(bytes.parse().unwrap());
    }
    rt.block_on(append_forever(storage));
}

#[cfg(feature = "s3")]
fn s3_storage(endpoint: &str) -> tlog::S3Storage {
    common::connect(endpoint, "crash", "log")
}

async fn append_forever<S: Storage + Clone>(storage: S) {
    {
        let signer = Signer::parse(SKEY).unwrap();
        let config = SequencerConfig {
            batch_interval: Duration::from_millis(5),
            max_batch: 700,
            ..SequencerConfig::default()
        };
        let (seq, _task) = open_when_free(storage, signer, config).await;
        let mut cps = seq.subscribe();
        tokio::spawn(async move {
            while cps.changed().await.is_ok() {
                let cp = cps.borrow_and_update().clone();
                let line = format!(
                    "CP {} {}\n",
                    cp.checkpoint.size,
                    cp.checkpoint.root.to_base64()
                );
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
        });
        let pid = std::process::id();
        for t in 0..64u32 {
            let seq = seq.clone();
            tokio::spawn(async move {
                for i in 0u64.. {
                    let entry = format!("{pid}-{t}-{i}-{}", "x".repeat(280)).into_bytes();
                    let s = seq.add(entry).await.unwrap();
                    let line = format!("ACK {} {}\n", s.index(), s.leaf_hash().to_base64());
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
            });
        }
        std::future::pending::<()>().await;
    }
}

/// Opens the sequencer, waiting while another writer's lease holds the
/// log (on S3, the killed one's runs out; files have no lease).
async fn open_when_free<S: Storage + Clone>(
    storage: S,
    signer: Signer,
    config: SequencerConfig,
) -> (tlog::Sequencer, tokio::task::JoinHandle<()>) {
    for _ in 0..100 {
        match sequencer::open(storage.clone(), signer.clone(), config.clone()).await {
            Err(tlog::Error::Locked(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => return other.unwrap(),
        }
    }
    panic!("the log's lease was never free");
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    survive_sigkill(None);
}

#[test]
fn acknowledged_entries_survive_sigkill_with_a_journal() {
    survive_sigkill(Some(256 << 10));
}

fn survive_sigkill(journal: Option<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = || FsStorage::open(dir.path()).unwrap();
    let env: Vec<(String, String)> = journal
        .map(|b| ("TLOG_CRASH_JOURNAL".to_owned(), b.to_string()))
        .into_iter()
        .collect();
    let journal_dir = dir.path().join(".journal");
    let replays = kill_rounds(&rt, dir.path(), open, env, Duration::ZERO, || {
        std::fs::read_dir(&journal_dir).is_ok_and(|mut d| d.next().is_some())
    });
    assert_eq!(
        replays > 0,
        journal.is_some(),
        "a journaled child leaves a journal to replay, a plain one none"
    );
}

/// The same on an S3-compatible server: every object write is a PUT, the
/// checkpoint a conditional one.
#[cfg(feature = "s3")]
#[test]
fn acknowledged_entries_survive_sigkill_on_s3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(moto) = rt.block_on(common::moto()) else {
        return;
    };
    rt.block_on(moto.storage("crash", "log"));
    let endpoint = moto.endpoint.clone();
    let env = vec![("TLOG_CRASH_S3".to_owned(), endpoint.clone())];
    let dir = tempfile::tempdir().unwrap();
    // Each child first waits for the lease its predecessor's recovery
    // held (1 s at most): it lives that much longer.
    kill_rounds(
        &rt,
        dir.path(),
        || s3_storage(&endpoint),
        env,
        Duration::from_millis(1000),
        || false,
    );
}

/// Runs the child on the storage `open` gives, `KILLS` times, killing it
/// at random moments (after `waits`), and checks what survived after
/// each; returns how many rounds `replayed` said left something to replay.
fn kill_rounds<S: Storage + Clone>(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    open: impl Fn() -> S,
    env: Vec<(String, String)>,
    waits: Duration,
    replayed: impl Fn() -> bool,
) -> usize {
    let signer = Signer::parse(SKEY).unwrap();
    let vkey = signer.verifier();
    rt.block_on(sequencer::create(&open(), &signer)).unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = XorShift(seed);

    let mut acked: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut checkpoints: Vec<(u64, Hash)> = Vec::new();
    let mut mid_batch_kills = 0;
    let mut replays = 0;
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("TLOG_CRASH_CHILD", dir)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(waits + Duration::from_millis(40 + rng.next() % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = lines.join().unwrap();

        let mut round_acks = 0;
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["ACK", index, hash] => {
                    let (Ok(index), Ok(hash)) = (index.parse(), Hash::from_base64(hash)) else {
                        continue;
                    };
                    assert!(
                        acked.insert(index, hash).is_none_or(|old| old == hash),
                        "index {index} acknowledged twice"
                    );
                    round_acks += 1;
                }
                ["CP", size, root] => {
                    let (Ok(size), Ok(root)) = (size.parse(), Hash::from_base64(root)) else {
                        continue;
                    };
                    checkpoints.push((size, root));
                }
                _ => {} // test harness chatter, or a line cut by the kill
            }
        }

        if replayed() {
            replays += 1;
        }
        rt.block_on(async {
            let storage = open();
            // Recovery runs here, exactly as a restarted process would run it.
            let (seq, task) =
                open_when_free(storage.clone(), signer.clone(), SequencerConfig::default()).await;
            drop(seq);
            task.await.unwrap();
            let reader = LogReader::new(storage);
            let cp = reader.checkpoint(&vkey).await.unwrap().checkpoint;
            if checkpoints.last().is_some_and(|(s, _)| *s < cp.size) {
                mid_batch_kills += 1; // killed after signing, before reporting
            }
            assert_eq!(
                reader.tree_hash(cp.size).await.unwrap(),
                cp.root,
                "round {round}: stored tiles do not give the root"
            );
            for &index in acked.keys() {
                assert!(
                    index < cp.size,
                    "round {round}: acknowledged index {index} beyond checkpoint size {}",
                    cp.size
                );
            }
            // Every acknowledged entry, read back from its bundle, hashes as acknowledged.
            let mut last_bundle = (u64::MAX, Vec::new());
            for (&index, hash) in &acked {
                let b = index / 256;
                if last_bundle.0 != b {
                    let id = tlog::tile::TileId::entries_at(b, cp.size).unwrap();
                    last_bundle = (b, reader.read_entries(id).await.unwrap());
                }
                assert_eq!(
                    leaf_hash(&last_bundle.1[(index % 256) as usize]),
                    *hash,
                    "round {round}: entry {index} changed"
                );
            }
            for &(size, root) in &checkpoints {
                let proof = reader.consistency_proof(size, cp.size).await.unwrap();
                verify_consistency(size, cp.size, &proof, &root, &cp.root).unwrap_or_else(|e| {
                    panic!(
                        "round {round}: checkpoint {size} inconsistent with {}: {e}",
                        cp.size
                    )
                });
            }
        });
        eprintln!(
            "round {round}: {round_acks} acknowledged, {} in total",
            acked.len()
        );
    }
    assert!(
        acked.len() > 1000,
        "the child acknowledged too little to test anything: {}",
        acked.len()
    );
    eprintln!("{mid_batch_kills} kills between signing and reporting, {replays} replays");
    replays
}
