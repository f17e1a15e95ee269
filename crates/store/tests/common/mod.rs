//! Fixtures shared by the store's tests: one per backend, the same tests
//! for both. The PostgreSQL fixture needs `RESIDENCY_TEST_POSTGRES` (a
//! connection string; `.ci/run` sets it); each fixture works in schemas of
//! its own, so tests run in parallel.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use policy::catalog::Catalog;
use store::keys::FileKeyProvider;
use store::{Backend, Event, LoggedAccess, PgBackend, SqliteBackend, Store};
use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::{MemStorage, Sequencer};

pub const PG_ENV: &str = "RESIDENCY_TEST_POSTGRES";

/// The example catalog, plus one public field (stored in clear).
pub fn catalog() -> Arc<Catalog> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/catalog.toml"),
    )
    .unwrap()
        + "\n[datasets.device.fields.app_version]\ncategory = \"device\"\nlevel = \"public\"\n\
           egress.same = { op = \"keep\" }\negress.adequate = { op = \"keep\" }\negress.other = { op = \"keep\" }\n";
    Arc::new(Catalog::from_toml("catalog.toml", &text).unwrap())
}

pub fn keys(path: &Path) -> FileKeyProvider {
    if path.exists() {
        FileKeyProvider::open(path)
    } else {
        FileKeyProvider::create(path)
    }
    .unwrap()
}

pub async fn log() -> Sequencer {
    let storage = MemStorage::new();
    let signer = Signer::generate("test.example/log", TYPE_ED25519).unwrap();
    sequencer::create(&storage, &signer).await.unwrap();
    let config = SequencerConfig {
        batch_interval: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    sequencer::open(storage, signer, config).await.unwrap().0
}

/// Logs an access entry naming `subjects` and `datasets` and returns its proof.
pub async fn logged(seq: &Sequencer, subjects: &[&str], datasets: &[&str]) -> LoggedAccess {
    let entry = serde_json::to_vec(
        &serde_json::json!({"kind": "read", "decision": "allow", "subjects": subjects, "datasets": datasets}),
    )
    .unwrap();
    let s = seq.add(entry.clone()).await.unwrap();
    LoggedAccess::new(&s, &entry).unwrap()
}

pub fn event(user: &str, dataset: &str, id: &str, fields: &[(&str, &str)]) -> Event {
    Event {
        user_id: user.into(),
        country: "FR".into(),
        dataset: dataset.into(),
        record_id: id.into(),
        time: 1_700_000_000,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// A store on one backend, with what the tests need to look beneath it.
pub trait Fixture: Sized {
    type B: Backend;
    /// None when the backend is not available here.
    async fn new() -> Option<Self>;
    fn store(&self) -> &Store<Self::B>;
    /// The store, to change how it seals.
    fn store_mut(&mut self) -> &mut Store<Self::B>;
    /// Closes and reopens the store with the same keys.
    async fn reopen(&mut self);
    /// Everything the backend holds, as (where, bytes).
    async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)>;
    /// Takes a backup of the records half (not the keyring).
    async fn backup_records(&mut self);
    /// Restores the records half from that backup.
    async fn restore_records(&mut self);
    /// The sealed fields of a record, as stored.
    async fn doc(&self, subject: &str, dataset: &str, id: &str) -> Vec<u8>;
    /// Overwrites the sealed fields of a record.
    async fn set_doc(&self, subject: &str, dataset: &str, id: &str, doc: &[u8]);
    /// The region's key file.
    fn key_file(&self) -> PathBuf;
    /// Rotates the region's KEK in the key file and reopens the store.
    async fn add_kek(&mut self) {
        keys(&self.key_file()).add_kek().unwrap();
        self.reopen().await;
    }
    /// Drops old KEKs from the key file and reopens the store.
    async fn retire_old_keks(&mut self) {
        keys(&self.key_file()).retire_old().unwrap();
        self.reopen().await;
    }
    /// Removes what the fixture made outside its temporary directory.
    async fn finish(self) {}
}

pub struct SqliteFixture {
    pub dir: tempfile::TempDir,
    store: Option<Store<SqliteBackend>>,
    backup: Vec<u8>,
}

impl SqliteFixture {
    fn open(dir: &Path) -> Store<SqliteBackend> {
        let keys = keys(&dir.join("region.keys"));
        // A call of a dropped store may still be finishing on the blocking
        // pool, holding the store's lock for a moment.
        let mut tries = 0;
        let backend = loop {
            match SqliteBackend::open(dir) {
                Ok(b) => break b,
                Err(e) if tries < 100 => {
                    tries += 1;
                    assert!(e.to_string().contains("another process"), "{e}");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        };
        Store::new(backend, catalog(), Arc::new(keys))
    }

    fn records_path(&self) -> PathBuf {
        self.dir.path().join("records.sqlite")
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.records_path()).unwrap()
    }
}

const DOC_SQL: &str = "SELECT sealed FROM records WHERE dataset = $2 AND record_id = $3 AND sid = (SELECT sid FROM subjects WHERE subject = $1)";
const SET_DOC_SQL: &str = "UPDATE records SET sealed = $4 WHERE dataset = $2 AND record_id = $3 AND sid = (SELECT sid FROM subjects WHERE subject = $1)";

impl Fixture for SqliteFixture {
    type B = SqliteBackend;

    async fn new() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let store = Some(Self::open(dir.path()));
        Some(SqliteFixture {
            dir,
            store,
            backup: Vec::new(),
        })
    }

    fn store(&self) -> &Store<SqliteBackend> {
        self.store.as_ref().unwrap()
    }

    fn store_mut(&mut self) -> &mut Store<SqliteBackend> {
        self.store.as_mut().unwrap()
    }

    async fn reopen(&mut self) {
        self.store = None;
        self.store = Some(Self::open(self.dir.path()));
    }

    async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                (path.display().to_string(), std::fs::read(&path).unwrap())
            })
            .collect()
    }

    async fn backup_records(&mut self) {
        self.store().backend().checkpoint().await.unwrap();
        self.backup = std::fs::read(self.records_path()).unwrap();
    }

    async fn restore_records(&mut self) {
        self.store = None;
        // The dropped store may still be closing on the blocking pool, and
        // its connections checkpoint as they close — into the restored
        // file, were it already in place (a CI run lost a row, most likely
        // that way).
        // Opening waits until it has let go; closing again is synchronous.
        drop(Self::open(self.dir.path()));
        std::fs::write(self.records_path(), &self.backup).unwrap();
        for f in ["records.sqlite-wal", "records.sqlite-shm"] {
            let _ = std::fs::remove_file(self.dir.path().join(f));
        }
        self.store = Some(Self::open(self.dir.path()));
    }

    async fn doc(&self, subject: &str, dataset: &str, id: &str) -> Vec<u8> {
        self.db()
            .query_row(&DOC_SQL.replace('$', "?"), [subject, dataset, id], |r| {
                r.get(0)
            })
            .unwrap()
    }

    async fn set_doc(&self, subject: &str, dataset: &str, id: &str, doc: &[u8]) {
        let n = self
            .db()
            .execute(
                &SET_DOC_SQL.replace('$', "?"),
                rusqlite::params![subject, dataset, id, doc],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("region.keys")
    }
}

pub struct PgFixture {
    pub dir: tempfile::TempDir,
    pub admin: tokio_postgres::Client,
    pub records: tokio_postgres::Config,
    pub keyring: tokio_postgres::Config,
    pub schema: String,
    store: Option<Store<PgBackend>>,
}

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

pub async fn pg_client(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Configurations of the records and keyring halves in the fixture schemas
/// named `schema`.
pub fn pg_configs(url: &str, schema: &str) -> (tokio_postgres::Config, tokio_postgres::Config) {
    let base: tokio_postgres::Config = url.parse().unwrap();
    let mut records = base.clone();
    records.options(format!("-c search_path={schema}_records"));
    let mut keyring = base;
    keyring.options(format!("-c search_path={schema}_keyring"));
    (records, keyring)
}

impl PgFixture {
    pub async fn open(&self) -> Store<PgBackend> {
        let keys = keys(&self.key_file());
        let backend = PgBackend::with_configs(&self.records, &self.keyring)
            .await
            .unwrap();
        Store::new(backend, catalog(), Arc::new(keys))
    }

    /// Tables of both halves, schema-qualified.
    fn tables(&self) -> Vec<String> {
        let s = &self.schema;
        vec![
            format!("{s}_records.subjects"),
            format!("{s}_records.records"),
            format!("{s}_records.access_index"),
            format!("{s}_records.meta"),
            format!("{s}_keyring.deks"),
        ]
    }

    /// A fixture in fresh schemas of the database at `url`.
    pub async fn in_database(url: &str) -> Self {
        let base: tokio_postgres::Config = url.parse().unwrap();
        let admin = pg_client(&base).await;
        let schema = format!(
            "rt_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema}_records CASCADE; DROP SCHEMA IF EXISTS {schema}_keyring CASCADE;
                 CREATE SCHEMA {schema}_records; CREATE SCHEMA {schema}_keyring;"
            ))
            .await
            .unwrap();
        let (records, keyring) = pg_configs(url, &schema);
        let mut f = PgFixture {
            dir: tempfile::tempdir().unwrap(),
            admin,
            records,
            keyring,
            schema,
            store: None,
        };
        f.store = Some(f.open().await);
        f
    }
}

impl Fixture for PgFixture {
    type B = PgBackend;

    async fn new() -> Option<Self> {
        let Ok(url) = std::env::var(PG_ENV) else {
            eprintln!("PostgreSQL tests skipped: {PG_ENV} is not set");
            return None;
        };
        Some(Self::in_database(&url).await)
    }

    fn store(&self) -> &Store<PgBackend> {
        self.store.as_ref().unwrap()
    }

    fn store_mut(&mut self) -> &mut Store<PgBackend> {
        self.store.as_mut().unwrap()
    }

    async fn reopen(&mut self) {
        self.store = None;
        self.store = Some(self.open().await);
    }

    async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for t in self.tables() {
            let rows = self
                .admin
                .query(&format!("SELECT t::text FROM {t} t"), &[])
                .await
                .unwrap();
            let text: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            out.push((t, text.join("\n").into_bytes()));
        }
        out
    }

    async fn backup_records(&mut self) {
        let s = &self.schema;
        self.admin
            .batch_execute(&format!(
                "CREATE SCHEMA {s}_backup;
                 CREATE TABLE {s}_backup.subjects AS SELECT * FROM {s}_records.subjects;
                 CREATE TABLE {s}_backup.records AS SELECT * FROM {s}_records.records;
                 CREATE TABLE {s}_backup.meta AS SELECT * FROM {s}_records.meta;"
            ))
            .await
            .unwrap();
    }

    async fn restore_records(&mut self) {
        let s = &self.schema;
        self.admin
            .batch_execute(&format!(
                "DELETE FROM {s}_records.records; DELETE FROM {s}_records.subjects; DELETE FROM {s}_records.meta;
                 INSERT INTO {s}_records.subjects SELECT * FROM {s}_backup.subjects;
                 INSERT INTO {s}_records.records SELECT * FROM {s}_backup.records;
                 INSERT INTO {s}_records.meta SELECT * FROM {s}_backup.meta;"
            ))
            .await
            .unwrap();
        self.reopen().await;
    }

    async fn doc(&self, subject: &str, dataset: &str, id: &str) -> Vec<u8> {
        let sql = DOC_SQL
            .replace(
                "FROM records",
                &format!("FROM {}_records.records", self.schema),
            )
            .replace(
                "FROM subjects",
                &format!("FROM {}_records.subjects", self.schema),
            );
        self.admin
            .query_one(&sql, &[&subject, &dataset, &id])
            .await
            .unwrap()
            .get(0)
    }

    async fn set_doc(&self, subject: &str, dataset: &str, id: &str, doc: &[u8]) {
        let sql = SET_DOC_SQL
            .replace(
                "UPDATE records",
                &format!("UPDATE {}_records.records", self.schema),
            )
            .replace(
                "FROM subjects",
                &format!("FROM {}_records.subjects", self.schema),
            );
        let n = self
            .admin
            .execute(&sql, &[&subject, &dataset, &id, &doc])
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("region.keys")
    }

    async fn finish(self) {
        let s = &self.schema;
        self.admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {s}_records CASCADE; DROP SCHEMA IF EXISTS {s}_keyring CASCADE; DROP SCHEMA IF EXISTS {s}_backup CASCADE;"
            ))
            .await
            .unwrap();
    }
}
