//! The monitor's state, in SQLite: per log the last verified checkpoint,
//! and what the verified entries amount to — bundles, accesses, findings —
//! and every bundle entry with its changes against the bundle before it —
//! so that reports are queries. Rows for entries at or above a log's
//! verified size are provisional: written while a sync runs, discarded if
//! it does not finish, and visible to reports only once the checkpoint
//! that covers them is committed.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use tlog::Hash;

use crate::Error;
use crate::replay::{Access, Finding, FindingKind};
use policy::diff::Change;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs (
    origin      TEXT PRIMARY KEY,
    region      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    root        BLOB NOT NULL,
    checkpoint  TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    cosigners   TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bundles (
    origin  TEXT NOT NULL,
    hash    TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (origin, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bundle_history (
    origin   TEXT NOT NULL,
    idx      INTEGER NOT NULL,
    region   TEXT NOT NULL,
    hash     TEXT NOT NULL,
    previous TEXT,
    changes  TEXT NOT NULL,
    PRIMARY KEY (origin, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accesses (
    origin  TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    region  TEXT NOT NULL,
    record  TEXT NOT NULL,
    time    TEXT NOT NULL,
    action  TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    destination TEXT NOT NULL,
    PRIMARY KEY (origin, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings (
    id       INTEGER PRIMARY KEY,
    origin   TEXT NOT NULL,
    region   TEXT NOT NULL,
    idx      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL,
    evidence TEXT NOT NULL,
    found_at TEXT NOT NULL,
    UNIQUE (origin, idx, kind, message)
);
";

/// The verified state of one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The region.
    pub region: String,
    /// The log's origin.
    pub origin: String,
    /// Verified size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The signed checkpoint, as served.
    pub checkpoint: String,
    /// When it was verified (RFC 3339).
    pub verified_at: String,
    /// Witnesses whose cosignature it carried (their key names).
    pub cosigners: Vec<String>,
}

/// A finding as stored, with when and the evidence kept for it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// When it was found.
    pub found_at: String,
    /// Signed checkpoints or other material that shows it, if any.
    pub evidence: String,
}

/// A policy bundle entry of a log, with what changed against the bundle
/// logged before it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BundleLogged {
    /// The region.
    pub region: String,
    /// The bundle entry's index.
    pub index: u64,
    /// The bundle's hash.
    pub hash: String,
    /// The hash of the bundle logged before it, if it differs (none for
    /// the first bundle of a log, or one logged again unchanged).
    pub previous: Option<String>,
    /// Every change from `previous`; the weakening ones are also findings.
    pub changes: Vec<Change>,
}

/// The state database.
#[derive(Debug)]
pub struct State {
    db: Mutex<Connection>,
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn uint(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl State {
    /// Opens (creating) the state database at `path`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let db = Connection::open(path)?;
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        db.execute_batch(SCHEMA)?;
        // `final`: a finding on an entry checked on its own above the
        // verified size (a log whose tree does not verify from its entries
        // up): not a provisional row. Added to databases made before it.
        let has_final = db
            .prepare("SELECT 1 FROM pragma_table_info('findings') WHERE name = 'final'")?
            .exists([])?;
        if !has_final {
            db.execute_batch("ALTER TABLE findings ADD COLUMN final INTEGER NOT NULL DEFAULT 0")?;
        }
        Ok(State { db: Mutex::new(db) })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The verified state of `origin`, if any.
    pub fn verified(&self, origin: &str) -> Result<Option<Verified>, Error> {
        let db = self.db();
        let row = db
            .query_row(
                "SELECT region, size, root, checkpoint, verified_at, cosigners FROM logs WHERE origin = ?1",
                params![origin],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((region, size, root, checkpoint, verified_at, cosigners)) = row else {
            return Ok(None);
        };
        Ok(Some(Verified {
            region,
            origin: origin.to_owned(),
            size: uint(size),
            root: Hash::from_slice(&root).map_err(|e| Error::State(e.to_string()))?,
            checkpoint,
            verified_at,
            cosigners: serde_json::from_str(&cosigners).unwrap_or_default(),
        }))
    }

    /// Bundles logged below `size`: hash and canonical content.
    pub fn bundles(&self, origin: &str, size: u64) -> Result<Vec<(String, String)>, Error> {
        let db = self.db();
        let mut q = db.prepare(
            "SELECT hash, content FROM bundles WHERE origin = ?1 AND idx < ?2 ORDER BY idx",
        )?;
        let rows = q.query_map(params![origin, int(size)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The hash of the bundle logged last below `size`, as the bundle
    /// history holds it (none if it holds nothing there).
    pub fn latest_bundle(&self, origin: &str, size: u64) -> Result<Option<String>, Error> {
        let db = self.db();
        Ok(db
            .query_row(
                "SELECT hash FROM bundle_history WHERE origin = ?1 AND idx < ?2 ORDER BY idx DESC LIMIT 1",
                params![origin, int(size)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Each verified log's bundle history, by region then index: its first
    /// bundle and every one that differs from the one logged before it
    /// (one logged again unchanged, as each start does, is left out).
    pub fn bundle_history(&self) -> Result<Vec<BundleLogged>, Error> {
        let db = self.db();
        let mut q = db.prepare(
            "SELECT h.region, h.idx, h.hash, h.previous, h.changes FROM bundle_history h
             JOIN logs l ON l.origin = h.origin
             WHERE h.idx < l.size AND (h.previous IS NOT NULL
                 OR h.idx = (SELECT MIN(idx) FROM bundle_history f WHERE f.origin = h.origin))
             ORDER BY h.region, h.idx",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (region, idx, hash, previous, changes) = row?;
            out.push(BundleLogged {
                region,
                index: uint(idx),
                hash,
                previous,
                changes: serde_json::from_str(&changes).map_err(|e| Error::State(e.to_string()))?,
            });
        }
        Ok(out)
    }

    /// Drops what an unfinished sync wrote above the verified `size`
    /// (inconsistencies and final findings stay: they are about the log,
    /// or about entries checked on their own).
    pub fn discard_provisional(&self, origin: &str, size: u64) -> Result<(), Error> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute(
            "DELETE FROM bundles WHERE origin = ?1 AND idx >= ?2",
            params![origin, int(size)],
        )?;
        tx.execute(
            "DELETE FROM bundle_history WHERE origin = ?1 AND idx >= ?2",
            params![origin, int(size)],
        )?;
        tx.execute(
            "DELETE FROM accesses WHERE origin = ?1 AND idx >= ?2",
            params![origin, int(size)],
        )?;
        tx.execute(
            "DELETE FROM findings WHERE origin = ?1 AND idx >= ?2 AND kind != 'inconsistency' AND final = 0",
            params![origin, int(size)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Writes provisional rows of replayed entries in one transaction;
    /// returns the findings not recorded before.
    pub fn put_replayed(&self, origin: &str, batch: &Batch) -> Result<Vec<Finding>, Error> {
        let mut db = self.db();
        let tx = db.transaction()?;
        {
            let mut b = tx.prepare_cached(
                "INSERT OR IGNORE INTO bundles (origin, hash, idx, content) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (idx, hash, content) in &batch.bundles {
                b.execute(params![origin, hash, int(*idx), content])?;
            }
            let mut h = tx.prepare_cached(
                "INSERT OR REPLACE INTO bundle_history (origin, idx, region, hash, previous, changes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for l in &batch.history {
                let changes =
                    serde_json::to_string(&l.changes).map_err(|e| Error::State(e.to_string()))?;
                h.execute(params![
                    origin,
                    int(l.index),
                    l.region,
                    l.hash,
                    l.previous,
                    changes
                ])?;
            }
            let mut a = tx.prepare_cached(
                "INSERT OR REPLACE INTO accesses (origin, idx, region, record, time, action, allowed, destination)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (region, acc) in &batch.accesses {
                let record = serde_json::to_string(acc).map_err(|e| Error::State(e.to_string()))?;
                a.execute(params![
                    origin,
                    int(acc.index),
                    region,
                    record,
                    acc.time,
                    acc.action,
                    acc.allowed,
                    acc.destination
                ])?;
            }
        }
        let mut new = Vec::new();
        for f in &batch.findings {
            if insert_finding(&tx, origin, f, "", false)? {
                new.push(f.clone());
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Records a finding with its evidence; true if it is new.
    pub fn add_finding(&self, origin: &str, f: &Finding, evidence: &str) -> Result<bool, Error> {
        let db = self.db();
        insert_finding(&db, origin, f, evidence, false)
    }

    /// Records a finding on an entry checked on its own above the verified
    /// size, kept whatever later syncs discard; true if it is new.
    pub fn add_final_finding(&self, origin: &str, f: &Finding) -> Result<bool, Error> {
        let db = self.db();
        insert_finding(&db, origin, f, "", true)
    }

    /// Commits a verified checkpoint: every row below its size is final.
    pub fn commit(&self, v: &Verified) -> Result<(), Error> {
        let db = self.db();
        db.execute(
            "INSERT INTO logs (origin, region, size, root, checkpoint, verified_at, cosigners)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (origin) DO UPDATE SET region = ?2, size = ?3, root = ?4,
                 checkpoint = ?5, verified_at = ?6, cosigners = ?7",
            params![
                v.origin,
                v.region,
                int(v.size),
                v.root.0.to_vec(),
                v.checkpoint,
                v.verified_at,
                serde_json::to_string(&v.cosigners).unwrap_or_else(|_| "[]".into())
            ],
        )?;
        Ok(())
    }

    /// Verified accesses (below each log's verified size), oldest first.
    pub fn accesses(&self) -> Result<Vec<(String, Access)>, Error> {
        let db = self.db();
        let mut q = db.prepare(
            "SELECT a.region, a.record FROM accesses a JOIN logs l ON l.origin = a.origin
             WHERE a.idx < l.size ORDER BY a.time, a.region, a.idx",
        )?;
        let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (region, record) = row?;
            let acc: Access =
                serde_json::from_str(&record).map_err(|e| Error::State(e.to_string()))?;
            out.push((region, acc));
        }
        Ok(out)
    }

    /// Findings on verified entries and on the logs themselves, newest first.
    pub fn findings(&self) -> Result<Vec<StoredFinding>, Error> {
        let db = self.db();
        let mut q = db.prepare(
            "SELECT f.region, f.idx, f.kind, f.message, f.found_at, f.evidence FROM findings f
             LEFT JOIN logs l ON l.origin = f.origin
             WHERE f.kind = 'inconsistency' OR f.final = 1 OR f.idx < COALESCE(l.size, 0)
             ORDER BY f.id DESC",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (region, idx, kind, message, found_at, evidence) = row?;
            let kind = match kind.as_str() {
                "inconsistency" => FindingKind::Inconsistency,
                "mismatch" => FindingKind::Mismatch,
                "weakening" => FindingKind::Weakening,
                _ => FindingKind::Violation,
            };
            out.push(StoredFinding {
                finding: Finding {
                    region,
                    index: (idx >= 0).then(|| uint(idx)),
                    kind,
                    message,
                },
                found_at,
                evidence,
            });
        }
        Ok(out)
    }

    /// Every log's verified state.
    pub fn logs(&self) -> Result<Vec<Verified>, Error> {
        let origins: Vec<String> = {
            let db = self.db();
            let mut q = db.prepare("SELECT origin FROM logs ORDER BY region")?;
            let rows = q.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for o in origins {
            if let Some(v) = self.verified(&o)? {
                out.push(v);
            }
        }
        Ok(out)
    }
}

fn insert_finding(
    db: &Connection,
    origin: &str,
    f: &Finding,
    evidence: &str,
    is_final: bool,
) -> Result<bool, Error> {
    let n = db.execute(
        "INSERT OR IGNORE INTO findings (origin, region, idx, kind, message, evidence, found_at, final)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            origin,
            f.region,
            f.index.map_or(-1, int),
            f.kind.as_str(),
            f.message,
            evidence,
            now(),
            is_final
        ],
    )?;
    Ok(n == 1)
}

/// Provisional rows of replayed entries, written together.
#[derive(Debug, Default)]
pub struct Batch {
    /// Bundles: index, hash, canonical content.
    pub bundles: Vec<(u64, String, String)>,
    /// Bundle entries, with their changes.
    pub history: Vec<BundleLogged>,
    /// Accesses with their region.
    pub accesses: Vec<(String, Access)>,
    /// Findings on entries.
    pub findings: Vec<Finding>,
}

impl Batch {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.bundles.len() + self.history.len() + self.accesses.len() + self.findings.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
