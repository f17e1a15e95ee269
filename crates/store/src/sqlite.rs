//! The embedded backend: SQLite (bundled), WAL mode, `synchronous = FULL`;
//! one writer connection that commits each batch as one transaction,
//! and a small pool of reader connections that read concurrently.
//!
//! Two files in the store's directory, apart so that a copy of the records
//! never holds a data key: `records.sqlite` (subject directory, sealed
//! records, access index) and `keyring.sqlite` (wrapped data keys, with
//! `secure_delete` on and its WAL truncated after an erasure, so a
//! destroyed key is overwritten on disk). A lock file makes this process
//! the store's only writer.
//!
//! Calls run on tokio's blocking pool.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;
use crate::backend::{Backend, SealedRecord};
use crate::keys::WrappedKey;

/// Schema migrations of `records.sqlite`, applied in order and counted in
/// `PRAGMA user_version`.
const RECORDS_MIGRATIONS: &[&str] = &["
CREATE TABLE subjects (
    sid     INTEGER PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    home    TEXT NOT NULL
);
CREATE TABLE records (
    sid       INTEGER NOT NULL,
    dataset   TEXT NOT NULL,
    record_id TEXT NOT NULL,
    time      INTEGER NOT NULL,
    fields    TEXT NOT NULL,
    PRIMARY KEY (sid, dataset, record_id)
) WITHOUT ROWID;
CREATE INDEX records_by_age ON records (dataset, time);
CREATE TABLE access_index (
    subject   TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (subject, log_index)
) WITHOUT ROWID;
"];

/// Schema migrations of `keyring.sqlite`.
const KEYRING_MIGRATIONS: &[&str] = &["
CREATE TABLE deks (
    subject TEXT PRIMARY KEY,
    kek_id  TEXT NOT NULL,
    wrapped BLOB NOT NULL
) WITHOUT ROWID;
"];

fn open_db(path: &Path, migrations: &[&str]) -> Result<Connection, Error> {
    let mut db = Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
    )?;
    let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > migrations.len() {
        return Err(Error::Schema(format!(
            "{} has schema version {version}; this build knows up to {}",
            path.display(),
            migrations.len()
        )));
    }
    for (i, step) in migrations.iter().enumerate().skip(version) {
        let tx = db.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(db)
}

struct Inner {
    dir: PathBuf,
    writer: Mutex<Connection>,
    keyring: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    _lock: File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The SQLite backend of one region's store.
#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteBackend({})", self.inner.dir.display())
    }
}

impl SqliteBackend {
    /// Opens (creating and migrating if needed) the store in `dir`. Fails
    /// if another process has it open.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            why: e.to_string(),
        })?;
        let lock_path = dir.join("store.lock");
        let io = |e: std::io::Error| Error::Io {
            path: lock_path.display().to_string(),
            why: e.to_string(),
        };
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        lock_file.try_lock().map_err(|_| Error::Io {
            path: dir.display().to_string(),
            why: "the store is open in another process".into(),
        })?;
        let writer = open_db(&dir.join("records.sqlite"), RECORDS_MIGRATIONS)?;
        let keyring = open_db(&dir.join("keyring.sqlite"), KEYRING_MIGRATIONS)?;
        keyring.execute_batch("PRAGMA secure_delete = ON;")?;
        Ok(SqliteBackend {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                writer: Mutex::new(writer),
                keyring: Mutex::new(keyring),
                readers: Mutex::new(Vec::new()),
                _lock: lock_file,
            }),
        })
    }

    /// Forces the WALs into the database files (for tests that scan them).
    pub async fn checkpoint(&self) -> Result<(), Error> {
        self.run(|i| {
            lock(&i.writer).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            lock(&i.keyring).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| Error::Backend(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` on a pooled reader connection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.run(move |i| {
            let conn = lock(&i.readers).pop();
            let conn = match conn {
                Some(c) => c,
                None => {
                    let c = Connection::open(i.dir.join("records.sqlite"))?;
                    c.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
                    c
                }
            };
            let out = f(&conn);
            lock(&i.readers).push(conn);
            out
        })
        .await
    }
}

fn wrapped(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, WrappedKey)> {
    Ok((
        r.get(0)?,
        WrappedKey {
            kek_id: r.get(1)?,
            bytes: r.get(2)?,
        },
    ))
}

fn keys_of(db: &Connection, subjects: &[String]) -> Result<Vec<(String, WrappedKey)>, Error> {
    let mut stmt =
        db.prepare_cached("SELECT subject, kek_id, wrapped FROM deks WHERE subject = ?1")?;
    let mut out = Vec::with_capacity(subjects.len());
    for s in subjects {
        if let Some(k) = stmt.query_row(params![s], wrapped).optional()? {
            out.push(k);
        }
    }
    Ok(out)
}

impl Backend for SqliteBackend {
    async fn keys_of(&self, subjects: Vec<String>) -> Result<Vec<(String, WrappedKey)>, Error> {
        self.run(move |i| keys_of(&lock(&i.keyring), &subjects))
            .await
    }

    async fn ensure_keys(
        &self,
        keys: Vec<(String, WrappedKey)>,
    ) -> Result<Vec<(String, WrappedKey)>, Error> {
        self.run(move |i| {
            let mut db = lock(&i.keyring);
            let tx = db.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO deks (subject, kek_id, wrapped) VALUES (?1, ?2, ?3) ON CONFLICT (subject) DO NOTHING",
                )?;
                for (s, k) in &keys {
                    insert.execute(params![s, k.kek_id, k.bytes])?;
                }
            }
            let subjects: Vec<String> = keys.into_iter().map(|(s, _)| s).collect();
            let stored = keys_of(&tx, &subjects)?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn put_records(&self, home: String, records: Vec<SealedRecord>) -> Result<(), Error> {
        self.run(move |i| {
            let mut db = lock(&i.writer);
            let tx = db.transaction()?;
            {
                let mut find = tx.prepare_cached("SELECT sid FROM subjects WHERE subject = ?1")?;
                let mut add =
                    tx.prepare_cached("INSERT INTO subjects (subject, home) VALUES (?1, ?2)")?;
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO records (sid, dataset, record_id, time, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                let mut sids: HashMap<&str, i64> = HashMap::new();
                for r in &records {
                    let sid = match sids.get(r.subject.as_str()) {
                        Some(sid) => *sid,
                        None => {
                            let sid = match find
                                .query_row(params![r.subject], |row| row.get(0))
                                .optional()?
                            {
                                Some(sid) => sid,
                                None => {
                                    add.execute(params![r.subject, home])?;
                                    tx.last_insert_rowid()
                                }
                            };
                            sids.insert(&r.subject, sid);
                            sid
                        }
                    };
                    insert.execute(params![sid, r.dataset, r.record_id, r.time, r.fields])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn records(&self, subject: String, dataset: String) -> Result<Vec<SealedRecord>, Error> {
        self.read(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT r.record_id, r.time, r.fields FROM records r JOIN subjects s ON s.sid = r.sid
                 WHERE s.subject = ?1 AND r.dataset = ?2 ORDER BY r.time, r.record_id",
            )?;
            let rows = stmt.query_map(params![subject, dataset], |r| {
                Ok(SealedRecord {
                    subject: subject.clone(),
                    dataset: dataset.clone(),
                    record_id: r.get(0)?,
                    time: r.get(1)?,
                    fields: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn home(&self, subject: String) -> Result<Option<String>, Error> {
        self.read(move |db| {
            Ok(db
                .prepare_cached("SELECT home FROM subjects WHERE subject = ?1")?
                .query_row(params![subject], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn erase(&self, subject: String) -> Result<bool, Error> {
        self.run(move |i| {
            let existed = {
                let keyring = lock(&i.keyring);
                let n = keyring.execute("DELETE FROM deks WHERE subject = ?1", params![subject])?;
                // The old page images of the key live on in the WAL until
                // it is checkpointed: fold them in and truncate it now.
                keyring.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
                n > 0
            };
            let mut db = lock(&i.writer);
            let tx = db.transaction()?;
            tx.execute(
                "DELETE FROM records WHERE sid IN (SELECT sid FROM subjects WHERE subject = ?1)",
                params![subject],
            )?;
            tx.execute("DELETE FROM subjects WHERE subject = ?1", params![subject])?;
            tx.commit()?;
            Ok(existed)
        })
        .await
    }

    async fn note_access(&self, subject: String, log_index: u64) -> Result<(), Error> {
        let index = i64::try_from(log_index)
            .map_err(|_| Error::Rejected("log index out of range".into()))?;
        self.run(move |i| {
            lock(&i.writer)
                .prepare_cached(
                    "INSERT OR IGNORE INTO access_index (subject, log_index) VALUES (?1, ?2)",
                )?
                .execute(params![subject, index])?;
            Ok(())
        })
        .await
    }

    async fn accesses(&self, subject: String) -> Result<Vec<u64>, Error> {
        self.read(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT log_index FROM access_index WHERE subject = ?1 ORDER BY log_index",
            )?;
            let rows = stmt.query_map(params![subject], |r| r.get::<_, i64>(0))?;
            rows.map(|r| u64::try_from(r?).map_err(|_| Error::Schema("negative log index".into())))
                .collect()
        })
        .await
    }

    async fn keys_not_under(
        &self,
        kek_id: String,
        limit: usize,
    ) -> Result<Vec<(String, WrappedKey)>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |i| {
            let db = lock(&i.keyring);
            let mut stmt = db.prepare_cached(
                "SELECT subject, kek_id, wrapped FROM deks WHERE kek_id <> ?1 ORDER BY subject LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![kek_id, limit], wrapped)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn count_keys_not_under(&self, kek_id: String) -> Result<u64, Error> {
        self.run(move |i| {
            let n: i64 = lock(&i.keyring).query_row(
                "SELECT count(*) FROM deks WHERE kek_id <> ?1",
                params![kek_id],
                |r| r.get(0),
            )?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn replace_keys(
        &self,
        updates: Vec<(String, WrappedKey, WrappedKey)>,
    ) -> Result<u64, Error> {
        self.run(move |i| {
            let mut db = lock(&i.keyring);
            let tx = db.transaction()?;
            let mut n = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE deks SET kek_id = ?1, wrapped = ?2 WHERE subject = ?3 AND kek_id = ?4 AND wrapped = ?5",
                )?;
                for (subject, old, new) in &updates {
                    n += update.execute(params![
                        new.kek_id, new.bytes, subject, old.kek_id, old.bytes
                    ])? as u64;
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn sweep(&self, dataset: String, before: i64) -> Result<u64, Error> {
        self.run(move |i| {
            let n = lock(&i.writer).execute(
                "DELETE FROM records WHERE dataset = ?1 AND time < ?2",
                params![dataset, before],
            )?;
            Ok(n as u64)
        })
        .await
    }
}
