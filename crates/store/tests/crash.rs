//! SIGKILL during batch ingest loses nothing acknowledged, on both
//! backends: a child process (this test binary, re-run with
//! STORE_CRASH_CHILD set) ingests batches and reports each committed batch;
//! it is killed at random moments, and after each kill every acknowledged
//! record is there and decrypts.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{PG_ENV, catalog, keys, log, logged};
use store::keys::FileKeyProvider;
use store::{Backend, Event, PgBackend, SqliteBackend, Store};

const USERS: u64 = 500;
const BATCH: u64 = 200;

fn phone(n: u64) -> String {
    format!(
        "+33 6 {:02} {:02} {:02} {:02}",
        n % 100,
        (n / 100) % 100,
        (n / 10_000) % 100,
        (n / 1_000_000) % 100
    )
}

/// The store in `dir`: SQLite, or PostgreSQL in the fixture schemas `pg`.
async fn with_store<T>(
    dir: &Path,
    pg: Option<&str>,
    sqlite: impl AsyncFnOnce(Store<SqliteBackend>) -> T,
    postgres: impl AsyncFnOnce(Store<PgBackend>) -> T,
) -> T {
    let keys = Arc::new(keys(&dir.join("region.keys")));
    match pg {
        None => {
            sqlite(Store::new(
                SqliteBackend::open(dir).unwrap(),
                catalog(),
                keys,
            ))
            .await
        }
        Some(schema) => {
            let url = std::env::var(PG_ENV).unwrap();
            let (records, keyring) = common::pg_configs(&url, schema);
            let backend = PgBackend::with_configs(&records, &keyring).await.unwrap();
            postgres(Store::new(backend, catalog(), keys)).await
        }
    }
}

async fn ingest_forever<B: Backend>(store: Store<B>) {
    let pid = std::process::id();
    for b in 0u64.. {
        let events: Vec<Event> = (0..BATCH)
            .map(|i| Event {
                user_id: format!("user-{}", (b * BATCH + i) % USERS),
                country: "FR".into(),
                dataset: "profile".into(),
                record_id: format!("{pid}-{b}-{i}"),
                time: 1,
                fields: BTreeMap::from([("phone".to_string(), phone(b * BATCH + i))]),
            })
            .collect();
        store.ingest("eu-fr", &events).await.unwrap();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ACK {pid} {b}");
        let _ = out.flush();
    }
}

#[tokio::test]
async fn crash_child() {
    let Ok(dir) = std::env::var("STORE_CRASH_CHILD") else {
        return; // Only runs as the child of the tests below.
    };
    let pg = std::env::var("STORE_CRASH_PG").ok();
    with_store(
        Path::new(&dir),
        pg.as_deref(),
        ingest_forever,
        ingest_forever,
    )
    .await;
}

/// Every acknowledged batch is there, and decrypts.
async fn check<B: Backend>(store: Store<B>, acked: Vec<(String, u64)>) {
    let users: Vec<String> = (0..USERS)
        .map(|u| store.subject_ref(&format!("user-{u}")))
        .collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let seq = log().await;
    let access = logged(&seq, &refs, &["profile"]).await;
    let mut present = HashSet::new();
    for u in &users {
        for r in store.read(&access, u, "profile").await.unwrap() {
            assert!(r.fields["phone"].starts_with("+33 6 "));
            present.insert(r.record_id);
        }
    }
    for (pid, b) in &acked {
        for i in 0..BATCH {
            let id = format!("{pid}-{b}-{i}");
            assert!(present.contains(&id), "acknowledged record {id} lost");
        }
    }
}

async fn kill_during_ingest(dir: &Path, pg: Option<&str>) {
    let mut rng = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut acked: Vec<(String, u64)> = Vec::new();
    for _ in 0..8 {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("STORE_CRASH_CHILD", dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(schema) = pg {
            cmd.env("STORE_CRASH_PG", schema);
        }
        let mut child = cmd.spawn().unwrap();
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
        std::thread::sleep(Duration::from_millis(150 + rng % 400));
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
    let acked2 = acked.clone();
    with_store(
        dir,
        pg,
        async |s| check(s, acked).await,
        async |s| check(s, acked2).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    FileKeyProvider::create(&dir.path().join("region.keys")).unwrap();
    kill_during_ingest(dir.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_batches_survive_sigkill() {
    use common::Fixture as _;
    let Some(f) = common::PgFixture::new().await else {
        return;
    };
    let schema = f.schema.clone();
    kill_during_ingest(f.dir.path(), Some(&schema)).await;
    f.finish().await;
}
