//! SIGKILL during batch ingest loses nothing acknowledged: a child process
//! (this test binary, re-run with STORE_CRASH_CHILD set) ingests batches and
//! reports each committed batch; it is killed at random moments, and after
//! each kill every acknowledged record is there and decrypts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use policy::catalog::Catalog;
use store::keys::FileKeyProvider;
use store::{Event, LoggedAccess, SqliteStore};

fn open(dir: &Path) -> SqliteStore {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/catalog.toml"),
    )
    .unwrap();
    let catalog = Arc::new(Catalog::from_toml("catalog.toml", &text).unwrap());
    let keys = FileKeyProvider::open(&dir.join("region.keys")).unwrap();
    SqliteStore::open(dir, catalog, Arc::new(keys)).unwrap()
}

fn phone(n: u64) -> String {
    format!(
        "+33 6 {:02} {:02} {:02} {:02}",
        n % 100,
        (n / 100) % 100,
        (n / 10_000) % 100,
        (n / 1_000_000) % 100
    )
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("STORE_CRASH_CHILD") else {
        return; // Only runs as the child of `acknowledged_batches_survive_sigkill`.
    };
    let store = open(Path::new(&dir));
    let pid = std::process::id();
    for b in 0u64.. {
        let events: Vec<Event> = (0..200)
            .map(|i| Event {
                user_id: format!("user-{}", (b * 200 + i) % 500),
                dataset: "profile".into(),
                record_id: format!("{pid}-{b}-{i}"),
                time: 1,
                fields: BTreeMap::from([("phone".to_string(), phone(b * 200 + i))]),
            })
            .collect();
        store.ingest("eu-fr", &events).unwrap();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ACK {pid} {b}");
        let _ = out.flush();
    }
}

#[tokio::test]
async fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    FileKeyProvider::create(&dir.path().join("region.keys")).unwrap();
    let mut rng = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut acked: Vec<(String, u64)> = Vec::new();
    for _ in 0..8 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("STORE_CRASH_CHILD", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(50 + rng % 300));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            if let ["ACK", pid, b] = line.split(' ').collect::<Vec<_>>().as_slice()
                && let Ok(b) = b.parse()
            {
                acked.push(((*pid).to_owned(), b));
            }
        }
    }
    assert!(!acked.is_empty(), "the child acknowledged nothing");
    // Every acknowledged batch is there, and decrypts.
    let store = open(dir.path());
    let users: Vec<String> = (0..500)
        .map(|u| store.subject_ref(&format!("user-{u}")))
        .collect();
    let storage = tlog::MemStorage::new();
    let signer = tlog::Signer::generate("crash.example/log", tlog::note::TYPE_ED25519).unwrap();
    tlog::sequencer::create(&storage, &signer).await.unwrap();
    let (seq, _task) = tlog::sequencer::open(storage, signer, Default::default())
        .await
        .unwrap();
    let entry =
        serde_json::to_vec(&serde_json::json!({"subjects": users, "datasets": ["profile"]}))
            .unwrap();
    let s = seq.add(entry.clone()).await.unwrap();
    let access = LoggedAccess::new(&s, &entry).unwrap();
    let mut present = std::collections::HashSet::new();
    for u in &users {
        for r in store.read(&access, u, "profile").unwrap() {
            present.insert(r.record_id.clone());
            assert!(r.fields["phone"].starts_with("+33 6 "));
        }
    }
    for (pid, b) in &acked {
        for i in 0..200 {
            let id = format!("{pid}-{b}-{i}");
            assert!(present.contains(&id), "acknowledged record {id} lost");
        }
    }
}
