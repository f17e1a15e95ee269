//! The custodian's own durable state, in SQLite (`custodian.db`, WAL,
//! `synchronous = FULL`: a row is on disk before the answer that relies
//! on it): the erasure list — per region, every subject whose erasure was
//! logged and shown to it, and every erasure entry so notified — and the
//! policy bundles it has seen, by hash.
//! (What it knows of each log's checkpoints is the [`witness::Witness`]'s
//! state, beside it.)

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS erasures (
    region    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (region, subject)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasure_entries (
    region    TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (region, log_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bundles (
    hash    TEXT PRIMARY KEY,
    content TEXT NOT NULL
) WITHOUT ROWID;
";

/// The custodian's state database.
pub struct State {
    db: Mutex<Connection>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State(..)")
    }
}

impl State {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let db = Connection::open(path)?;
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        db.execute_batch(SCHEMA)?;
        Ok(State { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records, durably and at once, that `subjects` of `region` were
    /// erased by log entry `log_index` (each subject's first such entry is
    /// kept), and that entry `log_index` was notified.
    pub fn add_erasure(
        &self,
        region: &str,
        subjects: &[&str],
        log_index: u64,
    ) -> Result<(), rusqlite::Error> {
        let index = i64::try_from(log_index).unwrap_or(i64::MAX);
        let mut db = self.db();
        let tx = db.transaction()?;
        for subject in subjects {
            tx.execute(
                "INSERT OR IGNORE INTO erasures (region, subject, log_index) VALUES (?1, ?2, ?3)",
                params![region, subject, index],
            )?;
        }
        tx.execute(
            "INSERT OR IGNORE INTO erasure_entries (region, log_index) VALUES (?1, ?2)",
            params![region, index],
        )?;
        tx.commit()
    }

    /// Whether the erasure logged as entry `log_index` of `region` was
    /// notified (its subject is on the list).
    pub fn notified(&self, region: &str, log_index: u64) -> Result<bool, rusqlite::Error> {
        let index = i64::try_from(log_index).unwrap_or(i64::MAX);
        self.db()
            .prepare_cached("SELECT 1 FROM erasure_entries WHERE region = ?1 AND log_index = ?2")?
            .query_row(params![region, index], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }

    /// The log index of `subject`'s erasure, if one was recorded.
    pub fn erased(&self, region: &str, subject: &str) -> Result<Option<u64>, rusqlite::Error> {
        let i: Option<i64> = self
            .db()
            .prepare_cached("SELECT log_index FROM erasures WHERE region = ?1 AND subject = ?2")?
            .query_row(params![region, subject], |r| r.get(0))
            .optional()?;
        Ok(i.map(|i| u64::try_from(i).unwrap_or(0)))
    }

    /// How many erasures are recorded.
    pub fn erasure_count(&self) -> Result<u64, rusqlite::Error> {
        let n: i64 = self
            .db()
            .query_row("SELECT count(*) FROM erasures", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Stores a bundle's canonical content (checked by the caller).
    pub fn put_bundle(&self, hash: &str, content: &str) -> Result<(), rusqlite::Error> {
        self.db().execute(
            "INSERT OR IGNORE INTO bundles (hash, content) VALUES (?1, ?2)",
            params![hash, content],
        )?;
        Ok(())
    }

    /// Every bundle stored.
    pub fn bundles(&self) -> Result<Vec<(String, String)>, rusqlite::Error> {
        let db = self.db();
        let mut q = db.prepare("SELECT hash, content FROM bundles")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasures_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custodian.db");
        let s = State::open(&path).unwrap();
        s.add_erasure("eu-fr", &["subject"], 7).unwrap();
        s.add_erasure("eu-fr", &["subject"], 9).unwrap();
        drop(s);
        let s = State::open(&path).unwrap();
        assert_eq!(s.erased("eu-fr", "subject").unwrap(), Some(7));
        assert_eq!(s.erased("eu-de", "subject").unwrap(), None);
        assert_eq!(s.erasure_count().unwrap(), 1);
        assert!(s.notified("eu-fr", 7).unwrap() && s.notified("eu-fr", 9).unwrap());
        assert!(!s.notified("eu-fr", 8).unwrap() && !s.notified("eu-de", 7).unwrap());
    }
}
