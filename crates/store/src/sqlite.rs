//! The embedded backend: SQLite (bundled), WAL mode, `synchronous = FULL`;
//! one writer connection that commits each batch as one transaction,
//! and a small pool of reader connections that read concurrently.
//!
//! Three files in the store's directory: `records.sqlite` (subject
//! directory, sealed records), `keyring.sqlite` (wrapped data keys, with
//! `secure_delete` on and its WAL truncated after an erasure, so a
//! destroyed key is overwritten on disk), apart so that a copy of the
//! records never holds a data key, and `access.sqlite` (the access index:
//! who accessed whose data, with each entry's salts; `secure_delete` on and
//! its WAL truncated after an erasure, as the keyring's), apart so that its
//! writes — one per group of releases — do not make every reader of the
//! records drop its page cache (a reader sees any commit to its file and
//! reads its pages again). A lock file makes this process the store's only
//! writer.
//!
//! Calls run on tokio's blocking pool, but for the point reads of a
//! release — one subject's records, and a few subjects' wrapped keys —
//! which run on the caller's thread: a point read from a pooled connection
//! costs less than the hand-off to another thread and back (in the node
//! bench, the blocking pool's wake-ups and parking took a tenth of the
//! server's CPU).
//!
//! The access index is written without a flush of its own
//! ([`Backend::note_access`], `synchronous = NORMAL` on its file): its
//! commits reach the WAL before the call returns, so a crash of the
//! process loses none, and the checkpointer (every [`CHECKPOINT_EVERY`])
//! makes them durable on disk. A release thus waits for one flush, the
//! log's. A small note is committed on the caller's thread, as the point
//! reads are.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;
use crate::backend::{
    AccessNotes, AccessRow, Backend, KeyTable, RecordStream, Resealed, SealedRecord,
    SubjectRecords, hash32, int, uint,
};
use crate::keys::WrappedKey;

/// Schema migrations of `records.sqlite`, applied in order and counted in
/// `PRAGMA user_version`.
const RECORDS_MIGRATIONS: &[&str] = &[
    "
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
    public    TEXT NOT NULL,
    sealed    BLOB NOT NULL,
    PRIMARY KEY (sid, dataset, record_id)
) WITHOUT ROWID;
CREATE INDEX records_by_age ON records (dataset, time);
CREATE TABLE access_index (
    subject   TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (subject, log_index)
) WITHOUT ROWID;
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('next_sid', 0);
",
    // 2: the subjects of a log entry, for proofs that a subject is in a set.
    "CREATE INDEX access_by_entry ON access_index (log_index);",
    // 3: salted subject sets: each subject's salt per entry, and each
    // entry's leaves (erasure deletes the salts; the leaves link to no one).
    "ALTER TABLE access_index ADD COLUMN salt BLOB;
     CREATE TABLE entry_leaves (
         log_index INTEGER NOT NULL,
         leaf      BLOB NOT NULL,
         PRIMARY KEY (log_index, leaf)
     ) WITHOUT ROWID;",
    // 4: each subject's country and user id, sealed (AES-SIV under a key
    // derived from the app's notification secret), when the region
    // notifies the app; erasure deletes it.
    "ALTER TABLE subjects ADD COLUMN user_ref TEXT;",
    // 5: the access index lives in `access.sqlite`; [`move_access_index`]
    // copies its rows there before this step drops them here, their pages
    // overwritten (salts link the log to people: erasure must find them
    // all in one place).
    "PRAGMA secure_delete = ON; DROP TABLE access_index; DROP TABLE entry_leaves;",
];

/// The records schema version that still holds the access index.
const RECORDS_WITH_ACCESS_INDEX: usize = 4;

/// Schema migrations of `access.sqlite`: the tables records.sqlite held
/// up to its version 4, as they were then.
const ACCESS_MIGRATIONS: &[&str] = &["
CREATE TABLE access_index (
    subject   TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    salt      BLOB,
    PRIMARY KEY (subject, log_index)
) WITHOUT ROWID;
CREATE INDEX access_by_entry ON access_index (log_index);
CREATE TABLE entry_leaves (
    log_index INTEGER NOT NULL,
    leaf      BLOB NOT NULL,
    PRIMARY KEY (log_index, leaf)
) WITHOUT ROWID;
"];

/// A subject's records of one dataset. No `ORDER BY`: with one, the
/// planner walks the whole (dataset, time) index instead of seeking the
/// primary key; `Store` sorts the few rows instead.
const RECORDS_OF_SUBJECT: &str =
    "SELECT record_id, time, public, sealed FROM records WHERE sid = ?1 AND dataset = ?2";

/// Schema migrations of `keyring.sqlite`.
const KEYRING_MIGRATIONS: &[&str] = &[
    "
CREATE TABLE deks (
    sid     INTEGER PRIMARY KEY,
    kek_id  TEXT NOT NULL,
    wrapped BLOB NOT NULL
);
",
    // 2: batch secrets sealed to a key custodian (`kek_id` is its key's id).
    "CREATE TABLE batch_keys (
         id      INTEGER PRIMARY KEY,
         kek_id  TEXT NOT NULL,
         wrapped BLOB NOT NULL
     );",
];

fn open_db(path: &Path, migrations: &[&str]) -> Result<Connection, Error> {
    let mut db = Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
    )?;
    let version = schema_version(&db)?;
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

fn schema_version(db: &Connection) -> Result<usize, Error> {
    let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(version).unwrap_or(usize::MAX))
}

/// Copies the access index of a `records.sqlite` of an earlier schema into
/// `access` (in one transaction, flushed), before the records' migration 5
/// drops it there; a store older than schema 4 is first brought to 4, so
/// that its index has every column copied (salts and leaves came in 3).
/// A crash between copy and drop leaves the rows in both files, and the
/// next open copies them again (`OR IGNORE`: nothing twice). Returns
/// whether there was an index to move.
fn move_access_index(records: &Path, access: &mut Connection) -> Result<bool, Error> {
    if !records.exists() {
        return Ok(false);
    }
    let version = schema_version(&Connection::open(records)?)?;
    if version > RECORDS_WITH_ACCESS_INDEX {
        return Ok(false);
    }
    if version < RECORDS_WITH_ACCESS_INDEX {
        drop(open_db(
            records,
            &RECORDS_MIGRATIONS[..RECORDS_WITH_ACCESS_INDEX],
        )?);
    }
    let path = records
        .to_str()
        .ok_or_else(|| Error::Backend("the store's path is not UTF-8".into()))?;
    access.execute("ATTACH DATABASE ?1 AS old", params![path])?;
    let copied = (|| {
        let tx = access.transaction()?;
        tx.execute_batch(
            "INSERT OR IGNORE INTO main.access_index (subject, log_index, salt)
                 SELECT subject, log_index, salt FROM old.access_index;
             INSERT OR IGNORE INTO main.entry_leaves (log_index, leaf)
                 SELECT log_index, leaf FROM old.entry_leaves;",
        )?;
        tx.commit()
    })();
    access.execute_batch("DETACH DATABASE old;")?;
    copied?;
    Ok(true)
}

struct Inner {
    dir: PathBuf,
    writer: Mutex<Connection>,
    keyring: Mutex<Connection>,
    /// The access index's writer (`synchronous = NORMAL`).
    access: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    key_readers: Mutex<Vec<Connection>>,
    access_readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
    _lock: File,
}

/// Folds the WALs of records and access index into their files on a thread
/// of its own, so that commits never wait for a checkpoint (the writers'
/// automatic checkpoints are off). Passive: it never blocks the writers or
/// readers.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the checkpointer runs.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Checkpointer {
    fn start(paths: &[PathBuf]) -> Result<Self, Error> {
        let dbs = paths
            .iter()
            .map(|path| {
                let db = Connection::open(path)?;
                db.execute_batch("PRAGMA busy_timeout = 5000;")?;
                Ok(db)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let (stop, wake) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    wake.recv_timeout(CHECKPOINT_EVERY)
                {
                    // A failed pass is retried at the next tick; the writers
                    // also checkpoint at close.
                    for db in &dbs {
                        let _ = db.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
                    }
                }
            })
            .map_err(|e| Error::Backend(format!("checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
        let (records, access_path) = (dir.join("records.sqlite"), dir.join("access.sqlite"));
        let mut access = open_db(&access_path, ACCESS_MIGRATIONS)?;
        // An erased subject's salts are overwritten, not only unlinked.
        access.execute_batch("PRAGMA secure_delete = ON;")?;
        // Moved while this connection still flushes each commit.
        let moved = move_access_index(&records, &mut access)?;
        access.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")?;
        let writer = open_db(&records, RECORDS_MIGRATIONS)?;
        if moved {
            // The dropped index's old page images leave the WAL now.
            truncate_wal(&writer, "records.sqlite")?;
        }
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let checkpointer = Checkpointer::start(&[records, access_path])?;
        let keyring = open_db(&dir.join("keyring.sqlite"), KEYRING_MIGRATIONS)?;
        keyring.execute_batch("PRAGMA secure_delete = ON;")?;
        Ok(SqliteBackend {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                writer: Mutex::new(writer),
                keyring: Mutex::new(keyring),
                access: Mutex::new(access),
                readers: Mutex::new(Vec::new()),
                key_readers: Mutex::new(Vec::new()),
                access_readers: Mutex::new(Vec::new()),
                _checkpointer: checkpointer,
                _lock: lock_file,
            }),
        })
    }

    /// Forces the WALs into the database files (for tests that scan them).
    pub async fn checkpoint(&self) -> Result<(), Error> {
        self.run(|i| {
            lock(&i.writer).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            lock(&i.keyring).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            lock(&i.access).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
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

    /// Runs `f` on a pooled reader connection, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.run(move |i| i.with_reader(f)).await
    }

    /// Runs `f` on a pooled reader connection of the access index, on the
    /// blocking pool.
    async fn read_access<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.run(move |i| i.with_access_reader(f)).await
    }
}

/// How a pooled reader connection is set up: read-only. (Not memory-mapped:
/// the map is remade as the WAL's checkpoints grow the file, and under the
/// node bench the unmapping cost more than the reads it saved.)
const READER_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;";

/// At most this many keys are read on the caller's thread: a release of a
/// few subjects; a bulk one goes to the blocking pool.
const INLINE_KEYS: usize = 16;

/// At most this many rows of the access index are written on the caller's
/// thread (a group of small releases); more go to the blocking pool.
const INLINE_NOTE_ROWS: usize = 64;

impl Inner {
    /// Runs `f` on a pooled reader connection of `records.sqlite`, on this
    /// thread.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        self.with_pooled(&self.readers, "records.sqlite", f)
    }

    /// Runs `f` on a pooled reader connection of `access.sqlite`, on this
    /// thread.
    fn with_access_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.with_pooled(&self.access_readers, "access.sqlite", f)
    }

    /// Runs `f` on a pooled reader connection of `keyring.sqlite`, on this
    /// thread.
    fn with_key_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.with_pooled(&self.key_readers, "keyring.sqlite", f)
    }

    fn with_pooled<T>(
        &self,
        pool: &Mutex<Vec<Connection>>,
        file: &str,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let conn = lock(pool).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(self.dir.join(file))?;
                c.execute_batch(READER_PRAGMAS)?;
                c
            }
        };
        let out = f(&conn);
        lock(pool).push(conn);
        out
    }
}

/// Folds a WAL into its file and truncates it, so that deleted rows' old
/// page images (a key, salts) are gone from disk. Readers may hold a
/// snapshot for a moment, and the checkpointer's pass holds the checkpoint
/// lock for one (SQLite then answers busy at once, without waiting): it is
/// tried again for up to [`TRUNCATE_FOR`], and if the WAL is still held,
/// that is an error, never a silent success.
fn truncate_wal(db: &Connection, file: &str) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + TRUNCATE_FOR;
    loop {
        let busy: i64 = db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::Backend(format!(
                "the WAL of {file} could not be truncated (held past {} s); retry the erasure",
                TRUNCATE_FOR.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// How long [`truncate_wal`] tries.
const TRUNCATE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// The wrapped keys in those of `slots` that hold one, in one read
/// transaction.
fn keys_of(db: &Connection, slots: &[u64]) -> Result<Vec<(u64, WrappedKey)>, Error> {
    let tx = db.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached("SELECT sid, kek_id, wrapped FROM deks WHERE sid = ?1")?;
    let mut out = Vec::with_capacity(slots.len());
    for &sid in slots {
        if let Some((_, k)) = stmt.query_row(params![int(sid)?], wrapped).optional()? {
            out.push((sid, k));
        }
    }
    Ok(out)
}

/// The access index rows of [`Backend::note_access`], in one transaction.
fn note(
    db: &mut Connection,
    touched: &[(String, i64, Option<[u8; 32]>)],
    leaves: &[(i64, [u8; 32])],
) -> Result<(), Error> {
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO access_index (subject, log_index, salt) VALUES (?1, ?2, ?3)",
        )?;
        for (subject, index, salt) in touched {
            insert.execute(params![subject, index, salt.as_ref().map(|s| &s[..])])?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO entry_leaves (log_index, leaf) VALUES (?1, ?2)",
        )?;
        for (index, leaf) in leaves {
            insert.execute(params![index, &leaf[..]])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn wrapped(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, WrappedKey)> {
    Ok((
        r.get(0)?,
        WrappedKey {
            kek_id: r.get(1)?,
            bytes: r.get(2)?,
        },
    ))
}

fn wrapped_rows(
    rows: impl Iterator<Item = rusqlite::Result<(i64, WrappedKey)>>,
) -> Result<Vec<(u64, WrappedKey)>, Error> {
    rows.map(|r| {
        let (sid, k) = r?;
        Ok((uint(sid)?, k))
    })
    .collect()
}

impl Backend for SqliteBackend {
    async fn subject_ids(&self, subjects: Vec<String>) -> Result<Vec<(String, u64)>, Error> {
        self.read(move |db| {
            // One read transaction for all look-ups, not one each.
            let tx = db.unchecked_transaction()?;
            let mut stmt = tx.prepare_cached("SELECT sid FROM subjects WHERE subject = ?1")?;
            let mut out = Vec::with_capacity(subjects.len());
            for s in subjects {
                if let Some(sid) = stmt.query_row(params![s], |r| r.get(0)).optional()? {
                    out.push((s, uint(sid)?));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn next_sid(&self) -> Result<u64, Error> {
        self.run(|i| {
            let n: i64 = lock(&i.writer).query_row(
                "SELECT value FROM meta WHERE name = 'next_sid'",
                [],
                |r| r.get(0),
            )?;
            uint(n)
        })
        .await
    }

    async fn put_records(
        &self,
        home: String,
        new_subjects: Vec<(String, u64, Option<String>)>,
        next_sid: u64,
        mut records: RecordStream,
    ) -> Result<(), Error> {
        self.run(move |i| {
            let mut db = lock(&i.writer);
            let tx = db.transaction()?;
            {
                let mut add = tx.prepare_cached(
                    "INSERT INTO subjects (sid, subject, home, user_ref) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (subject, sid, user_ref) in &new_subjects {
                    add.execute(params![int(*sid)?, subject, home, user_ref])?;
                }
                tx.prepare_cached(
                    "UPDATE meta SET value = max(value, ?1) WHERE name = 'next_sid'",
                )?
                .execute(params![int(next_sid)?])?;
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO records (sid, dataset, record_id, time, public, sealed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                while let Some(chunk) = records.blocking_next() {
                    for r in &chunk {
                        insert.execute(params![
                            int(r.sid)?,
                            r.dataset,
                            r.record_id,
                            r.time,
                            r.public,
                            r.sealed
                        ])?;
                    }
                }
            }
            records.complete()?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn subject_records(
        &self,
        subject: String,
        datasets: Vec<String>,
    ) -> Result<Option<SubjectRecords>, Error> {
        // A point read: on this thread (see the module's documentation).
        self.inner.with_reader(move |db| {
            // One read transaction: the entry and its records agree.
            let tx = db.unchecked_transaction()?;
            let Some((stored_sid, home)) = tx
                .prepare_cached("SELECT sid, home FROM subjects WHERE subject = ?1")?
                .query_row(params![subject], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))
                .optional()?
            else {
                return Ok(None);
            };
            let sid = uint(stored_sid)?;
            let mut stmt = tx.prepare_cached(RECORDS_OF_SUBJECT)?;
            let mut rows = Vec::new();
            for dataset in datasets {
                let of_dataset = stmt.query_map(params![stored_sid, dataset], |r| {
                    Ok(SealedRecord {
                        sid,
                        dataset: dataset.clone(),
                        record_id: r.get(0)?,
                        time: r.get(1)?,
                        public: r.get(2)?,
                        sealed: r.get(3)?,
                    })
                })?;
                for row in of_dataset {
                    rows.push(row?);
                }
            }
            Ok(Some(SubjectRecords { sid, home, rows }))
        })
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

    async fn note_access(&self, notes: AccessNotes) -> Result<(), Error> {
        let touched = notes
            .touched
            .into_iter()
            .map(|(s, i, salt)| Ok((s, int(i)?, salt)))
            .collect::<Result<Vec<_>, Error>>()?;
        let leaves = notes
            .leaves
            .into_iter()
            .map(|(i, leaf)| Ok((int(i)?, leaf)))
            .collect::<Result<Vec<_>, Error>>()?;
        // No flush of its own (see the module's documentation): a small
        // note is a few page writes, cheaper here than a hand-off — unless
        // the index is busy (an erasure's flushed commit, a checkpoint),
        // which this thread must not wait out.
        if touched.len() + leaves.len() <= INLINE_NOTE_ROWS
            && let Ok(mut db) = self.inner.access.try_lock()
        {
            return note(&mut db, &touched, &leaves);
        }
        self.run(move |i| note(&mut lock(&i.access), &touched, &leaves))
            .await
    }

    async fn leaves_at(&self, log_index: u64) -> Result<Vec<[u8; 32]>, Error> {
        let index = int(log_index)?;
        self.read_access(move |db| {
            let mut q = db.prepare_cached("SELECT leaf FROM entry_leaves WHERE log_index = ?1")?;
            let rows = q.query_map(params![index], |r| r.get::<_, Vec<u8>>(0))?;
            rows.map(|r| hash32(&r?)).collect()
        })
        .await
    }

    async fn subjects_at(&self, log_index: u64) -> Result<Vec<String>, Error> {
        let index = int(log_index)?;
        self.read_access(move |db| {
            let mut q =
                db.prepare_cached("SELECT subject FROM access_index WHERE log_index = ?1")?;
            let rows = q.query_map(params![index], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn subjects_with(&self, dataset: String) -> Result<Vec<String>, Error> {
        self.read(move |db| {
            let mut q = db.prepare_cached(
                "SELECT s.subject FROM subjects s WHERE EXISTS \
                 (SELECT 1 FROM records r WHERE r.sid = s.sid AND r.dataset = ?1)",
            )?;
            let rows = q.query_map(params![dataset], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn public_fields(&self, dataset: String) -> Result<Vec<(String, String)>, Error> {
        self.read(move |db| {
            let mut q = db.prepare_cached(
                "SELECT s.subject, r.public FROM records r JOIN subjects s ON s.sid = r.sid \
                 WHERE r.dataset = ?1",
            )?;
            let rows = q.query_map(params![dataset], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<(String, String)>, _>>()?)
        })
        .await
    }

    async fn accesses(
        &self,
        subject: String,
        below: u64,
        limit: usize,
    ) -> Result<Vec<AccessRow>, Error> {
        let (below, limit) = (clamp(below), clamp(limit as u64));
        self.read_access(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT log_index, salt FROM access_index WHERE subject = ?1 AND log_index < ?2
                 ORDER BY log_index DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![subject, below, limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
            })?;
            rows.map(|r| {
                let (i, salt) = r?;
                Ok((uint(i)?, salt.as_deref().map(hash32).transpose()?))
            })
            .collect()
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

    async fn records_of(
        &self,
        sids: Vec<u64>,
    ) -> Result<Vec<(u64, String, Vec<SealedRecord>)>, Error> {
        self.read(move |db| {
            let tx = db.unchecked_transaction()?;
            let mut subject = tx.prepare_cached("SELECT subject FROM subjects WHERE sid = ?1")?;
            let mut records = tx.prepare_cached(
                "SELECT dataset, record_id, time, public, sealed FROM records WHERE sid = ?1",
            )?;
            let mut out = Vec::new();
            for sid in sids {
                let Some(name) = subject
                    .query_row(params![int(sid)?], |r| r.get::<_, String>(0))
                    .optional()?
                else {
                    continue;
                };
                let rows = records
                    .query_map(params![int(sid)?], |r| {
                        Ok(SealedRecord {
                            sid,
                            dataset: r.get(0)?,
                            record_id: r.get(1)?,
                            time: r.get(2)?,
                            public: r.get(3)?,
                            sealed: r.get(4)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                out.push((sid, name, rows));
            }
            Ok(out)
        })
        .await
    }

    async fn reseal(&self, updates: Vec<Resealed>) -> Result<u64, Error> {
        self.run(move |i| {
            let mut db = lock(&i.writer);
            let tx = db.transaction()?;
            let mut n = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE records SET sealed = ?1
                     WHERE sid = ?2 AND dataset = ?3 AND record_id = ?4 AND sealed = ?5",
                )?;
                for u in &updates {
                    n += update.execute(params![
                        u.new,
                        int(u.sid)?,
                        u.dataset,
                        u.record_id,
                        u.old
                    ])? as u64;
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn key_slots_end(&self) -> Result<u64, Error> {
        self.run(|i| {
            let n: i64 = lock(&i.keyring).query_row(
                "SELECT COALESCE(MAX(sid) + 1, 0) FROM deks",
                [],
                |r| r.get(0),
            )?;
            uint(n)
        })
        .await
    }

    async fn add_keys(&self, keys: Vec<(u64, WrappedKey)>) -> Result<(), Error> {
        self.run(move |i| {
            let mut db = lock(&i.keyring);
            let tx = db.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO deks (sid, kek_id, wrapped) VALUES (?1, ?2, ?3)",
                )?;
                for (sid, k) in &keys {
                    insert.execute(params![int(*sid)?, k.kek_id, k.bytes])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn add_batch_key(&self, key: WrappedKey) -> Result<u64, Error> {
        self.run(move |i| {
            let db = lock(&i.keyring);
            db.execute(
                "INSERT INTO batch_keys (kek_id, wrapped) VALUES (?1, ?2)",
                params![key.kek_id, key.bytes],
            )?;
            uint(db.last_insert_rowid())
        })
        .await
    }

    async fn batch_keys(&self, ids: Vec<u64>) -> Result<Vec<(u64, WrappedKey)>, Error> {
        self.run(move |i| {
            let db = lock(&i.keyring);
            let mut stmt =
                db.prepare_cached("SELECT id, kek_id, wrapped FROM batch_keys WHERE id = ?1")?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some((_, k)) = stmt.query_row(params![int(id)?], wrapped).optional()? {
                    out.push((id, k));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn keys_of(&self, slots: Vec<u64>) -> Result<Vec<(u64, WrappedKey)>, Error> {
        // A few keys: point reads, on this thread (see the module's
        // documentation).
        if slots.len() <= INLINE_KEYS {
            return self.inner.with_key_reader(|db| keys_of(db, &slots));
        }
        self.run(move |i| i.with_key_reader(|db| keys_of(db, &slots)))
            .await
    }

    async fn keys_not_under(
        &self,
        table: KeyTable,
        kek_id: String,
        limit: usize,
    ) -> Result<Vec<(u64, WrappedKey)>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (t, id) = table.sql();
        self.run(move |i| {
            let db = lock(&i.keyring);
            let mut stmt = db.prepare_cached(&format!(
                "SELECT {id}, kek_id, wrapped FROM {t} WHERE kek_id <> ?1 ORDER BY {id} LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![kek_id, limit], wrapped)?;
            wrapped_rows(rows)
        })
        .await
    }

    async fn count_keys_not_under(&self, table: KeyTable, kek_id: String) -> Result<u64, Error> {
        let (t, _) = table.sql();
        self.run(move |i| {
            let n: i64 = lock(&i.keyring).query_row(
                &format!("SELECT count(*) FROM {t} WHERE kek_id <> ?1"),
                params![kek_id],
                |r| r.get(0),
            )?;
            uint(n)
        })
        .await
    }

    async fn replace_keys(
        &self,
        table: KeyTable,
        updates: Vec<(u64, WrappedKey, WrappedKey)>,
    ) -> Result<u64, Error> {
        let (t, id) = table.sql();
        self.run(move |i| {
            let mut db = lock(&i.keyring);
            let tx = db.transaction()?;
            let mut n = 0;
            {
                let mut update = tx.prepare_cached(&format!(
                    "UPDATE {t} SET kek_id = ?1, wrapped = ?2 WHERE {id} = ?3 AND kek_id = ?4 AND wrapped = ?5"
                ))?;
                for (sid, old, new) in &updates {
                    n += update.execute(params![
                        new.kek_id,
                        new.bytes,
                        int(*sid)?,
                        old.kek_id,
                        old.bytes
                    ])? as u64;
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn drop_keys(&self, slots: Vec<u64>) -> Result<(), Error> {
        self.run(move |i| {
            let mut db = lock(&i.keyring);
            let tx = db.transaction()?;
            {
                let mut delete = tx.prepare_cached("DELETE FROM deks WHERE sid = ?1")?;
                for sid in slots {
                    delete.execute(params![int(sid)?])?;
                }
            }
            tx.commit()?;
            // As for an erasure: the keys' old page images leave the WAL.
            truncate_wal(&db, "keyring.sqlite")
        })
        .await
    }

    async fn user_refs(&self, subjects: Vec<String>) -> Result<Vec<(String, String)>, Error> {
        self.read(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT subject, user_ref FROM subjects WHERE subject = ?1 AND user_ref IS NOT NULL",
            )?;
            let mut out = Vec::new();
            for s in subjects {
                if let Some(row) = stmt
                    .query_row(params![s], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                {
                    out.push(row);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn counter(&self, name: &'static str) -> Result<u64, Error> {
        self.read(move |db| {
            let v: Option<i64> = db
                .query_row(
                    "SELECT value FROM meta WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            uint(v.unwrap_or(0))
        })
        .await
    }

    async fn set_counter(&self, name: &'static str, value: u64) -> Result<(), Error> {
        self.run(move |i| {
            lock(&i.writer).execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, int(value)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn erase(&self, subject: String) -> Result<bool, Error> {
        self.run(move |i| {
            let mut db = lock(&i.writer);
            let Some(sid): Option<i64> = db
                .query_row(
                    "SELECT sid FROM subjects WHERE subject = ?1",
                    params![subject],
                    |r| r.get(0),
                )
                .optional()?
            else {
                return Ok(false);
            };
            {
                let keyring = lock(&i.keyring);
                keyring.execute("DELETE FROM deks WHERE sid = ?1", params![sid])?;
                // The key's old page images live on in the WAL until it is
                // checkpointed: fold them in and truncate it now.
                truncate_wal(&keyring, "keyring.sqlite")?;
            }
            // Without its salts, the log's commitments link to no one. They
            // go before the records, flushed and overwritten (their WAL
            // truncated): should the process die between, the subject is
            // still here, and erasing again finishes. The index stays locked
            // until the records are gone, so that no note lands between.
            let access = lock(&i.access);
            access.execute_batch("PRAGMA synchronous = FULL;")?;
            let deleted = access
                .execute(
                    "DELETE FROM access_index WHERE subject = ?1",
                    params![subject],
                )
                .map_err(Error::from)
                .and_then(|_| truncate_wal(&access, "access.sqlite"));
            access.execute_batch("PRAGMA synchronous = NORMAL;")?;
            deleted?;
            let tx = db.transaction()?;
            tx.execute("DELETE FROM records WHERE sid = ?1", params![sid])?;
            tx.execute("DELETE FROM subjects WHERE sid = ?1", params![sid])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

/// A bound as SQL's integer: above `i64::MAX`, `i64::MAX` (no bound).
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_of_an_earlier_schema_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.sqlite");
        drop(open_db(&path, &RECORDS_MIGRATIONS[..1]).unwrap());
        let db = open_db(&path, RECORDS_MIGRATIONS).unwrap();
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, RECORDS_MIGRATIONS.len() as i64);
        let column: i64 = db
            .query_row(
                "SELECT count(*) FROM pragma_table_info('subjects') WHERE name = 'user_ref'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(column, 1);
    }

    /// Regresses the access index's move out of `records.sqlite`: from a
    /// store of schema 2, 3 or 4 its rows are in `access.sqlite` after the
    /// open, once, even when an earlier open died between copying them and
    /// dropping them; and `records.sqlite` keeps no salt on disk.
    #[tokio::test]
    async fn a_store_of_an_earlier_schema_moves_its_access_index_into_its_own_file() {
        let (salt, leaf) = ([7u8; 32], [9u8; 32]);
        for version in 2..=RECORDS_WITH_ACCESS_INDEX {
            let dir = tempfile::tempdir().unwrap();
            let records = dir.path().join("records.sqlite");
            {
                let db = open_db(&records, &RECORDS_MIGRATIONS[..version]).unwrap();
                if version < 3 {
                    db.execute(
                        "INSERT INTO access_index (subject, log_index) VALUES ('s-1', 5)",
                        [],
                    )
                    .unwrap();
                } else {
                    db.execute(
                        "INSERT INTO access_index (subject, log_index, salt) VALUES ('s-1', 5, ?1)",
                        params![&salt[..]],
                    )
                    .unwrap();
                    db.execute(
                        "INSERT INTO entry_leaves (log_index, leaf) VALUES (5, ?1)",
                        params![&leaf[..]],
                    )
                    .unwrap();
                }
            }
            if version == RECORDS_WITH_ACCESS_INDEX {
                // The copy of an open that died before the drop.
                let mut access =
                    open_db(&dir.path().join("access.sqlite"), ACCESS_MIGRATIONS).unwrap();
                assert!(move_access_index(&records, &mut access).unwrap());
            }

            let backend = SqliteBackend::open(dir.path()).unwrap();
            let (want_salt, want_leaves) = if version < 3 {
                (None, vec![])
            } else {
                (Some(salt), vec![leaf])
            };
            assert_eq!(
                backend.accesses("s-1".into(), u64::MAX, 10).await.unwrap(),
                vec![(5, want_salt)],
                "from schema {version}"
            );
            assert_eq!(backend.leaves_at(5).await.unwrap(), want_leaves);
            let left: i64 = Connection::open(&records)
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name IN ('access_index', 'entry_leaves')",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(left, 0, "the access index is still in records.sqlite");
            for file in ["records.sqlite", "records.sqlite-wal"] {
                let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
                assert!(
                    !bytes.windows(32).any(|w| w == salt),
                    "a salt is left in {file} (from schema {version})"
                );
            }
            drop(backend);
            // Opened again: nothing to move, nothing lost.
            let backend = SqliteBackend::open(dir.path()).unwrap();
            assert_eq!(
                backend
                    .accesses("s-1".into(), u64::MAX, 10)
                    .await
                    .unwrap()
                    .len(),
                1
            );
        }
    }

    #[test]
    fn reading_a_subjects_records_seeks_the_primary_key_not_the_age_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(&dir.path().join("records.sqlite"), RECORDS_MIGRATIONS).unwrap();
        let plan: Vec<String> = db
            .prepare(&format!("EXPLAIN QUERY PLAN {RECORDS_OF_SUBJECT}"))
            .unwrap()
            .query_map(params![1, "profile"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains("PRIMARY KEY"), "{plan}");
        assert!(!plan.contains("records_by_age"), "{plan}");
    }
}
