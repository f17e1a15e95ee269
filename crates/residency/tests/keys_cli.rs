//! `residency keys init` through the real binary.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

mod pg;

#[test]
fn init_creates_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eu-fr/region.keys");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_residency"))
            .args(["keys", "init", "--file", file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&file).unwrap();
    let out = run();
    assert!(
        !out.status.success(),
        "a second init must not overwrite the keys"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // The secret is never printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kek "));
    store::keys::FileKeyProvider::open(&file).unwrap();
}

fn catalog() -> std::sync::Arc<policy::catalog::Catalog> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/catalog.toml"),
    )
    .unwrap();
    std::sync::Arc::new(policy::catalog::Catalog::from_toml("catalog.toml", &text).unwrap())
}

fn open_store(dir: &std::path::Path) -> store::Store<store::SqliteBackend> {
    let keys = store::keys::FileKeyProvider::open(&dir.join("region.keys")).unwrap();
    store::Store::new(
        store::SqliteBackend::open(dir).unwrap(),
        catalog(),
        std::sync::Arc::new(keys),
    )
}

/// `residency keys rotate --file KEYS` with the store's arguments.
fn rotate_with(keys: &std::path::Path, store: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["keys", "rotate", "--file"])
        .arg(keys)
        .args(store)
        .output()
        .unwrap()
}

/// Rotates the SQLite store in `dir` with the key file beside it.
fn rotate(dir: &std::path::Path) -> std::process::Output {
    rotate_with(
        &dir.join("region.keys"),
        &["--sqlite".as_ref(), dir.as_os_str()],
    )
}

/// Reads every subject's phone back through a logged access.
async fn phones(dir: &std::path::Path, users: &[String]) -> Vec<String> {
    let store = open_store(dir);
    let subjects: Vec<String> = users.iter().map(|u| store.subject_ref(u)).collect();
    let storage = tlog::MemStorage::new();
    let signer = tlog::Signer::generate("keys.test/log", tlog::note::TYPE_ED25519).unwrap();
    tlog::sequencer::create(&storage, &signer).await.unwrap();
    let (seq, _task) = tlog::sequencer::open(storage, signer, Default::default())
        .await
        .unwrap();
    let entry = serde_json::to_vec(
        &serde_json::json!({"decision": "allow", "subjects": subjects, "datasets": ["profile"]}),
    )
    .unwrap();
    let s = seq.add(entry.clone()).await.unwrap();
    let access = store::LoggedAccess::new(&s, &entry).unwrap();
    let mut out = Vec::new();
    for s in &subjects {
        out.push(store.read(&access, s, "profile").await.unwrap()[0].fields["phone"].clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_rewraps_every_data_key_and_resumes_an_interrupted_rotation() {
    let dir = tempfile::tempdir().unwrap();
    store::keys::FileKeyProvider::create(&dir.path().join("region.keys")).unwrap();
    let users: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    let events: Vec<store::Event> = users
        .iter()
        .enumerate()
        .map(|(i, u)| store::Event {
            user_id: u.clone(),
            country: "FR".into(),
            dataset: "profile".into(),
            record_id: "p1".into(),
            time: 1,
            fields: [("phone".to_string(), format!("+33 6 00 00 00 {i:02}"))].into(),
        })
        .collect();
    open_store(dir.path())
        .ingest("eu-fr", &events)
        .await
        .unwrap();
    let want = phones(dir.path(), &users).await;

    let out = rotate(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("added kek-2"), "{stdout}");
    assert!(stdout.contains("retired kek-1"), "{stdout}");
    let keys = store::keys::FileKeyProvider::open(&dir.path().join("region.keys")).unwrap();
    assert_eq!(keys.kek_ids(), ["kek-2"]);
    assert_eq!(phones(dir.path(), &users).await, want);

    // A rotation that stopped after adding its KEK is resumed, not restarted.
    store::keys::FileKeyProvider::open(&dir.path().join("region.keys"))
        .unwrap()
        .add_kek()
        .unwrap();
    let out = rotate(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("resuming the rotation to kek-3"),
        "{stdout}"
    );
    assert!(stdout.contains("retired kek-2"), "{stdout}");
    assert_eq!(phones(dir.path(), &users).await, want);

    // A store in use by another process is refused, and the key file is
    // left as it was.
    let _open = store::SqliteBackend::open(dir.path()).unwrap();
    let before = std::fs::read(dir.path().join("region.keys")).unwrap();
    let out = rotate(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("open in another process"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("region.keys")).unwrap(),
        before
    );
}

#[test]
fn rotate_without_a_store_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    store::keys::FileKeyProvider::create(&dir.path().join("region.keys")).unwrap();
    let out = rotate(&dir.path().join("nowhere"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key file"), "{stderr}");
    let out = rotate(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holds no store"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_over_postgres() {
    let Some(pg) = pg::schema("keys_cli").await else {
        return;
    };
    let (admin, schema, conninfo) = (&pg.admin, &pg.name, &pg.conninfo);
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("region.keys");
    store::keys::FileKeyProvider::create(&keyfile).unwrap();
    {
        let keys = store::keys::FileKeyProvider::open(&keyfile).unwrap();
        let backend = store::PgBackend::connect(conninfo, conninfo).await.unwrap();
        let store = store::Store::new(backend, catalog(), std::sync::Arc::new(keys));
        let e = store::Event {
            user_id: "user-1".into(),
            country: "FR".into(),
            dataset: "profile".into(),
            record_id: "p1".into(),
            time: 1,
            fields: [("phone".to_string(), "+33 6 00 00 00 01".to_string())].into(),
        };
        store.ingest("eu-fr", &[e]).await.unwrap();
    }
    let out = rotate_with(&keyfile, &["--postgres".as_ref(), conninfo.as_ref()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("retired kek-1"), "{stdout}");
    let row = admin
        .query_one(
            &format!("SELECT count(*) FROM {schema}.deks WHERE kek_id <> 'kek-2'"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    pg.drop().await;
}
