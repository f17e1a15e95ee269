//! The durable sequencer against real files: concurrency, receipts,
//! recovery from what a crashed batch leaves, and refusal of corrupt logs.

use std::time::Duration;

use tlog::edge::Edge;
use tlog::merkle::verify_consistency;
use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::{Error, FsStorage, LogReader, Storage, leaf_hash};

fn signer() -> Signer {
    Signer::generate("test.example/log", TYPE_ED25519).unwrap()
}

/// A fresh, empty log in a temporary directory.
async fn new_log() -> (tempfile::TempDir, FsStorage, Signer) {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap();
    let signer = signer();
    sequencer::create(&storage, &signer).await.unwrap();
    (dir, storage, signer)
}

fn config() -> SequencerConfig {
    SequencerConfig {
        batch_interval: Duration::from_millis(2),
        max_batch: 64,
        ..SequencerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_get_distinct_indices_and_verifiable_receipts() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();

    let mut handles = Vec::new();
    for t in 0..40u32 {
        let seq = seq.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..25u32 {
                let entry = format!("task {t} entry {i}").into_bytes();
                let s = seq.add(entry.clone()).await.unwrap();
                out.push((entry, s));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let mut indices: Vec<u64> = all.iter().map(|(_, s)| s.index()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..1000).collect::<Vec<_>>());

    let reader = LogReader::new(storage.clone());
    let vkey = signer.verifier();
    let cp = reader.checkpoint(&vkey).await.unwrap();
    assert_eq!(cp.checkpoint.size, 1000);
    for (entry, s) in all.iter().step_by(37) {
        assert_eq!(*s.leaf_hash(), leaf_hash(entry));
        assert!(s.index() < s.checkpoint().checkpoint.size);
        // A receipt against the checkpoint the entry was acknowledged with...
        let r = reader.receipt(s.index(), s.checkpoint()).await.unwrap();
        r.verify(entry, &vkey, &[]).unwrap();
        // ...and against the latest one.
        let r = reader.receipt(s.index(), &cp).await.unwrap();
        r.verify(entry, &vkey, &[]).unwrap();
        assert!(r.verify(b"another entry", &vkey, &[]).is_err());
        assert_eq!(&reader.entry(s.index(), 1000).await.unwrap(), entry);
        // Every intermediate checkpoint is consistent with the final one.
        let old = &s.checkpoint().checkpoint;
        let proof = reader.consistency_proof(old.size, 1000).await.unwrap();
        verify_consistency(old.size, 1000, &proof, &old.root, &cp.checkpoint.root).unwrap();
    }
    drop(seq);
    task.await.unwrap();

    // Reopening resumes from the same checkpoint and keeps appending.
    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    assert_eq!(seq.checkpoint().checkpoint, cp.checkpoint);
    let s = seq.add(b"after restart".to_vec()).await.unwrap();
    assert_eq!(s.index(), 1000);
}

#[tokio::test]
async fn oversized_entry_is_refused_and_nothing_is_stored() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    assert!(matches!(
        seq.add(vec![0; 70_000]).await,
        Err(Error::EntryTooLarge(70_000))
    ));
    assert_eq!(seq.add(vec![1; 65_535]).await.unwrap().index(), 0);
    assert_eq!(seq.checkpoint().checkpoint.size, 1);
}

#[tokio::test]
async fn create_refuses_an_existing_log_and_open_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap();
    let signer = signer();
    assert!(matches!(
        sequencer::open(storage.clone(), signer.clone(), config()).await,
        Err(Error::NotInitialized(_))
    ));
    sequencer::create(&storage, &signer).await.unwrap();
    assert!(matches!(
        sequencer::create(&storage, &signer).await,
        Err(Error::AlreadyInitialized(_))
    ));
    // A different key cannot open the log.
    assert!(matches!(
        sequencer::open(
            storage,
            Signer::generate("test.example/log", 1).unwrap(),
            config()
        )
        .await,
        Err(Error::Unverified(_))
    ));
}

/// What a batch that crashed after writing its tiles but before its
/// checkpoint leaves behind is deleted on open, and the next batch, with
/// different entries, is consistent with the last signed checkpoint.
#[tokio::test]
async fn recovery_discards_files_written_without_a_checkpoint() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..300u32 {
        acked.push(seq.add(format!("acked {i}").into_bytes()).await.unwrap());
    }
    let before = seq.checkpoint();
    drop(seq);
    task.await.unwrap();

    // Simulate the crashed batch: 600 more entries' tiles, no checkpoint.
    let reader = LogReader::new(storage.clone());
    let mut edge = Edge::new();
    let mut files = Vec::new();
    for i in 0..300u32 {
        edge.push(format!("acked {i}").as_bytes(), &mut files)
            .unwrap();
    }
    files.clear();
    for i in 0..600u32 {
        edge.push(format!("lost {i}").as_bytes(), &mut files)
            .unwrap();
    }
    files.extend(edge.partial_tiles());
    storage
        .write(files.into_iter().map(|(id, d)| (id.path(), d)).collect())
        .await
        .unwrap();
    assert!(storage.read("tile/0/003.p/132").await.unwrap().is_some());

    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    assert_eq!(seq.checkpoint().checkpoint, before.checkpoint);
    for stale in [
        "tile/0/002",
        "tile/0/003.p/132",
        "tile/entries/002",
        "tile/entries/003.p/132",
        "tile/1/000.p/3",
    ] {
        assert!(
            storage.read(stale).await.unwrap().is_none(),
            "{stale} survived recovery"
        );
    }
    assert!(storage.read("tile/0/001.p/44").await.unwrap().is_some());
    for i in 0..10u32 {
        seq.add(format!("new {i}").into_bytes()).await.unwrap();
    }
    let after = seq.checkpoint();
    let proof = reader
        .consistency_proof(300, after.checkpoint.size)
        .await
        .unwrap();
    verify_consistency(
        300,
        after.checkpoint.size,
        &proof,
        &before.checkpoint.root,
        &after.checkpoint.root,
    )
    .unwrap();
    for s in acked.iter().step_by(17) {
        reader
            .receipt(s.index(), &after)
            .await
            .unwrap()
            .verify(
                format!("acked {}", s.index()).as_bytes(),
                &signer.verifier(),
                &[],
            )
            .unwrap();
    }
}

#[tokio::test]
async fn open_refuses_tiles_that_do_not_match_the_checkpoint() {
    let (dir, storage, signer) = new_log().await;
    let (seq, task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    for i in 0..10u32 {
        seq.add(format!("entry {i}").into_bytes()).await.unwrap();
    }
    drop(seq);
    task.await.unwrap();
    // Tamper with one stored leaf hash.
    let path = dir.path().join("tile/0/000.p/10");
    let mut data = std::fs::read(&path).unwrap();
    data[40] ^= 1;
    std::fs::write(&path, data).unwrap();
    let err = sequencer::open(storage, signer, config())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

/// Two writers on one log could sign two different checkpoints of the same
/// size (a fork); the second must be refused while the first runs.
#[tokio::test]
async fn a_second_writer_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    sequencer::create(&FsStorage::open(dir.path()).unwrap(), &signer)
        .await
        .unwrap();
    let (seq, task) = sequencer::open(
        FsStorage::open(dir.path()).unwrap(),
        signer.clone(),
        config(),
    )
    .await
    .unwrap();
    seq.add(b"one".to_vec()).await.unwrap();
    let second = sequencer::open(
        FsStorage::open(dir.path()).unwrap(),
        signer.clone(),
        config(),
    )
    .await;
    assert!(matches!(second, Err(Error::Locked(_))), "{second:?}");
    // Readers are never refused.
    let reader = LogReader::new(FsStorage::open(dir.path()).unwrap());
    assert_eq!(
        reader
            .checkpoint(&signer.verifier())
            .await
            .unwrap()
            .checkpoint
            .size,
        1
    );
    drop(seq);
    task.await.unwrap();
    drop(reader);
    let (seq, _task) = sequencer::open(FsStorage::open(dir.path()).unwrap(), signer, config())
        .await
        .unwrap();
    assert_eq!(seq.add(b"two".to_vec()).await.unwrap().index(), 1);
}

/// At one entry per batch a tile would otherwise keep 255 partial versions
/// of itself; once full, its partials go, and old receipts still work from
/// the full tile.
#[tokio::test]
async fn partial_tiles_are_removed_once_their_tile_is_full() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    let first = seq.add(b"entry 0".to_vec()).await.unwrap();
    assert_eq!(first.checkpoint().checkpoint.size, 1);
    assert!(storage.read("tile/0/000.p/1").await.unwrap().is_some());
    for i in 1..300u32 {
        seq.add(format!("entry {i}").into_bytes()).await.unwrap();
    }
    assert!(storage.list("tile/0/000.p").await.unwrap().is_empty());
    assert!(storage.list("tile/entries/000.p").await.unwrap().is_empty());
    assert!(storage.read("tile/0/000").await.unwrap().is_some());
    let reader = LogReader::new(storage);
    let r = reader.receipt(0, first.checkpoint()).await.unwrap();
    r.verify(b"entry 0", &signer.verifier(), &[]).unwrap();
    assert_eq!(reader.entry(0, 1).await.unwrap(), b"entry 0");
}

/// A reader that remembers subtree hashes gives the proofs a plain reader
/// gives, while the log grows under it: at every acknowledged size, for
/// entries old and new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_remembering_subtrees_proves_what_a_plain_reader_proves() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    let plain = LogReader::new(storage.clone());
    let remembering = LogReader::new(storage.clone()).remembering_subtrees(64);
    let vkey = signer.verifier();
    let mut entries = Vec::new();
    for i in 0..700u32 {
        let entry = format!("entry {i}").into_bytes();
        let s = seq.add(entry.clone()).await.unwrap();
        entries.push(entry);
        let size = s.checkpoint().checkpoint.size;
        for index in [s.index(), s.index() / 2, s.index().saturating_sub(255)] {
            let r = remembering.receipt(index, s.checkpoint()).await.unwrap();
            assert_eq!(
                r.proof,
                plain.inclusion_proof(index, size).await.unwrap(),
                "inclusion of {index} at {size}"
            );
            r.verify(&entries[index as usize], &vkey, &[]).unwrap();
        }
        if size > 1 {
            let old = size / 3 + 1;
            assert_eq!(
                remembering.consistency_proof(old, size).await.unwrap(),
                plain.consistency_proof(old, size).await.unwrap()
            );
        }
    }
}

/// What a gateway does with a remote sequencer's answer: entries proven
/// against the signed checkpoint become `Sequenced`; a wrong entry, index,
/// proof, or a checkpoint another key signed, never do.
#[tokio::test]
async fn entries_proven_against_the_signed_checkpoint_are_sequenced_and_nothing_else() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    let entries: Vec<Vec<u8>> = (0..7).map(|i| format!("entry {i}").into_bytes()).collect();
    for e in &entries {
        seq.add(e.clone()).await.unwrap();
    }
    let cp = seq.checkpoint();
    let reader = LogReader::new(storage.clone());
    let mut proofs = Vec::new();
    for i in 0..entries.len() as u64 {
        proofs.push(reader.inclusion_proof(i, cp.checkpoint.size).await.unwrap());
    }
    let text = cp.to_text();
    let key = signer.verifier();
    fn all<'a>(
        entries: &'a [Vec<u8>],
        index_shift: u64,
        proofs: &'a [Vec<tlog::Hash>],
    ) -> Vec<(&'a [u8], u64, &'a [tlog::Hash])> {
        entries
            .iter()
            .zip(proofs)
            .enumerate()
            .map(|(i, (e, p))| (e.as_slice(), i as u64 + index_shift, p.as_slice()))
            .collect()
    }

    let proven =
        tlog::Sequenced::prove_all(text.as_bytes(), &key, all(&entries, 0, &proofs)).unwrap();
    for (i, s) in proven.iter().enumerate() {
        assert_eq!(s.index(), i as u64);
        assert!(s.is_entry(&entries[i]));
        assert_eq!(s.checkpoint().checkpoint, cp.checkpoint);
    }

    // Another entry at a proven index.
    let mut other = entries.clone();
    other[3] = b"not what was logged".to_vec();
    assert!(matches!(
        tlog::Sequenced::prove_all(text.as_bytes(), &key, all(&other, 0, &proofs)),
        Err(Error::InvalidProof(_))
    ));
    // The right entries claimed at other indices.
    assert!(tlog::Sequenced::prove_all(text.as_bytes(), &key, all(&entries, 1, &proofs)).is_err());
    // A proof with one hash altered.
    let mut bent = proofs.clone();
    bent[2][0].0[0] ^= 1;
    assert!(matches!(
        tlog::Sequenced::prove_all(text.as_bytes(), &key, all(&entries, 0, &bent)),
        Err(Error::InvalidProof(_))
    ));
    // The same checkpoint signed by a key of the same name.
    let impostor = Signer::generate("test.example/log", TYPE_ED25519).unwrap();
    let forged = cp.checkpoint.sign(&impostor).unwrap().to_text();
    assert!(matches!(
        tlog::Sequenced::prove_all(forged.as_bytes(), &key, all(&entries, 0, &proofs)),
        Err(Error::Unverified(_))
    ));
}

/// Pushback: a batch that does not fit in the queue is refused whole, with
/// `Busy`, and nothing of it is logged; one that fits is sequenced in order.
#[tokio::test]
async fn a_batch_that_does_not_fit_in_the_queue_is_refused_whole() {
    let (_dir, storage, signer) = new_log().await;
    let (seq, _task) = sequencer::open(
        storage.clone(),
        signer.clone(),
        SequencerConfig {
            queue: 4,
            ..config()
        },
    )
    .await
    .unwrap();
    let batch = |n: usize| {
        (0..n)
            .map(|i| format!("e{i}").into_bytes())
            .collect::<Vec<_>>()
    };
    assert!(matches!(seq.try_submit_all(batch(5)), Err(Error::Busy(5))));
    assert!(matches!(
        seq.try_submit_all(vec![vec![0; 70_000]]),
        Err(Error::EntryTooLarge(70_000))
    ));
    let pending = seq.try_submit_all(batch(4)).unwrap();
    let mut indices = Vec::new();
    for p in pending {
        indices.push(p.wait().await.unwrap().index());
    }
    assert_eq!(indices, vec![0, 1, 2, 3]);
    assert_eq!(seq.checkpoint().checkpoint.size, 4);
}

/// A bucket as the S3 driver sees one: objects are created, never
/// replaced (a different object at a path is `Fenced`), except the
/// checkpoint; and the next checkpoint write can be made to fail.
#[derive(Clone, Default)]
struct CreateOnly {
    inner: tlog::MemStorage,
    /// The next checkpoint write fails with this, once.
    fail_checkpoint: std::sync::Arc<std::sync::Mutex<Option<Error>>>,
}

impl Storage for CreateOnly {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.read(path).await
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        for (path, data) in &files {
            if path == "checkpoint" {
                if let Some(e) = self.fail_checkpoint.lock().unwrap().take() {
                    return Err(e);
                }
            } else if let Some(held) = self.inner.read(path).await?
                && &held != data
            {
                return Err(Error::Fenced(path.clone()));
            }
        }
        self.inner.write(files).await
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        self.inner.delete(paths).await
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        self.inner.list(dir).await
    }

    async fn claim_writer(&self) -> Result<tlog::WriterGuard, Error> {
        Ok(tlog::WriterGuard::none())
    }
}

/// The red team's wedge: a batch whose checkpoint was not written left its
/// tiles in the bucket, and every later batch met them (objects are never
/// replaced) — the region's log stopped until a restart.
#[tokio::test]
async fn a_batch_whose_checkpoint_failed_leaves_nothing_in_the_next_ones_way() {
    let storage = CreateOnly::default();
    let signer = signer();
    sequencer::create(&storage, &signer).await.unwrap();
    let (seq, _task) = sequencer::open(storage.clone(), signer.clone(), config())
        .await
        .unwrap();
    seq.add(b"first".to_vec()).await.unwrap();
    *storage.fail_checkpoint.lock().unwrap() = Some(Error::Http("a timeout".into()));
    assert!(seq.add(b"lost".to_vec()).await.is_err());
    for i in 0..5 {
        let s = seq.add(format!("after {i}").into_bytes()).await.unwrap();
        assert_eq!(s.index(), 1 + i);
    }
    let reader = LogReader::new(storage);
    let cp = reader.checkpoint(&signer.verifier()).await.unwrap();
    assert_eq!(cp.checkpoint.size, 6);
    assert_eq!(reader.entry(1, 6).await.unwrap(), b"after 0");
}

/// Fenced out, a writer never writes again, and says it stopped (its
/// process then exits, and a standby takes the log over).
#[tokio::test]
async fn a_writer_fenced_out_stops_for_good() {
    let storage = CreateOnly::default();
    let signer = signer();
    sequencer::create(&storage, &signer).await.unwrap();
    let (seq, _task) = sequencer::open(storage.clone(), signer, config())
        .await
        .unwrap();
    seq.add(b"first".to_vec()).await.unwrap();
    *storage.fail_checkpoint.lock().unwrap() = Some(Error::Fenced("checkpoint".into()));
    assert!(seq.add(b"second".to_vec()).await.is_err());
    tokio::time::timeout(Duration::from_secs(5), seq.stopped())
        .await
        .expect("the sequencer says it stopped");
    assert!(seq.add(b"third".to_vec()).await.is_err());
}

/// A sequencer over memory (commits take no time) with a group window.
async fn windowed(window: Duration) -> sequencer::Sequencer {
    let storage = tlog::MemStorage::new();
    let signer = signer();
    sequencer::create(&storage, &signer).await.unwrap();
    let config = SequencerConfig {
        batch_interval: Duration::ZERO,
        group_window: window,
        ..SequencerConfig::default()
    };
    sequencer::open(storage, signer, config).await.unwrap().0
}

/// Commits (distinct checkpoint sizes) for `n` entries submitted `gap`
/// apart to `seq`, and the longest wait for one.
async fn commits_for(seq: &sequencer::Sequencer, n: u32, gap: Duration) -> (usize, Duration) {
    let mut waits = Vec::new();
    for i in 0..n {
        let seq = seq.clone();
        waits.push(tokio::spawn(async move {
            let start = std::time::Instant::now();
            let s = seq.add(format!("entry {i}").into_bytes()).await.unwrap();
            (s.checkpoint().checkpoint.size, start.elapsed())
        }));
        tokio::time::sleep(gap).await;
    }
    let mut sizes = std::collections::BTreeSet::new();
    let mut longest = Duration::ZERO;
    for w in waits {
        let (size, waited) = w.await.unwrap();
        sizes.insert(size);
        longest = longest.max(waited);
    }
    (sizes.len(), longest)
}

/// Entries arriving a few milliseconds apart share commits under a group
/// window (each commit costs a flush and a signature), where without one
/// each gets its own; entries arriving far apart, the first entry after a
/// pause, and batches submitted whole are never held for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_window_gathers_entries_under_load_and_never_holds_a_sparse_log() {
    let window = Duration::from_millis(100);
    let dense = Duration::from_millis(2);
    let (without, _) = commits_for(&windowed(Duration::ZERO).await, 60, dense).await;
    let seq = windowed(window).await;
    let (with, _) = commits_for(&seq, 60, dense).await;
    assert!(without >= 30, "{without} commits without a window");
    assert!(
        with <= 10,
        "{with} commits under a window ({without} without)"
    );
    // The same log after a pause longer than the window: not held.
    tokio::time::sleep(window * 2).await;
    let (_, after_pause) = commits_for(&seq, 1, Duration::ZERO).await;
    assert!(
        after_pause < window / 2,
        "the first entry after a pause waited {after_pause:?}"
    );

    let (commits, longest) =
        commits_for(&windowed(window).await, 4, Duration::from_millis(250)).await;
    assert_eq!(commits, 4);
    assert!(longest < window / 2, "a sparse entry waited {longest:?}");

    // Batches of 16 submitted whole, 60 ms apart (more than half the
    // window): each is one arrival, and none is held.
    let seq = windowed(window).await;
    let mut longest = Duration::ZERO;
    for b in 0..4 {
        let start = std::time::Instant::now();
        let entries = (0..16)
            .map(|i| format!("batch {b} entry {i}").into_bytes())
            .collect();
        for p in seq.try_submit_all(entries).unwrap() {
            p.wait().await.unwrap();
        }
        longest = longest.max(start.elapsed());
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        longest < window / 2,
        "a batch submitted whole waited {longest:?}"
    );
}
