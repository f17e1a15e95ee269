//! A witness for transparency logs, to the C2SP specifications:
//! [tlog-witness](https://c2sp.org/tlog-witness) (`add-checkpoint`) over
//! HTTP, [tlog-cosignature](https://c2sp.org/tlog-cosignature)
//! (cosignature/v1) for what it signs.
//!
//! For each log it knows, a [`Witness`] keeps the latest checkpoint it
//! cosigned, and cosigns a new one only if the log signed it and it
//! provably extends that one. The check and the new state are committed in
//! one SQLite transaction before the answer, so a restart never lets it
//! cosign a fork. Every signed checkpoint it is shown is kept; two of the
//! same size with different roots, or one that does not extend the last,
//! is a **split view**: refused, and both notes are kept as [`Evidence`]
//! anyone can check with the log's public key.
//!
//! [`router`] serves it with this witness's `/latest` and `/evidence`
//! extensions, for monitors; [`c2sp_router`] serves only what the
//! specification says. The witness trusts nothing but the logs' public
//! keys it is given, and knows nothing of what the logs hold.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod http;

pub use http::{c2sp_router, router};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tlog::note::NoteSignature;
use tlog::witness::AddCheckpoint;
use tlog::{Hash, SignedCheckpoint, Signer, Verifier};

/// Why a witness refuses a checkpoint; each maps to the status
/// tlog-witness gives it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The body is not an add-checkpoint request (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The witness does not know this log (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No valid signature by the log's key (403).
    #[error("not signed by the log: {0}")]
    NotSigned(String),
    /// The old size is above the checkpoint's size (400).
    #[error("old size {old} is above the checkpoint size {size}")]
    BadOldSize {
        /// Old size of the request.
        old: u64,
        /// Checkpoint size.
        size: u64,
    },
    /// The old size is not the size the witness holds (409; the body
    /// carries `latest`).
    #[error("the witness holds size {latest}")]
    Conflict {
        /// The size of the latest checkpoint cosigned.
        latest: u64,
    },
    /// A checkpoint that contradicts what the witness holds: refused, and
    /// kept as evidence (409 when of the same size, 422 otherwise).
    #[error("split view of {origin} at size {size}: {why}")]
    SplitView {
        /// The log.
        origin: String,
        /// Size of the offending checkpoint.
        size: u64,
        /// What contradicts what.
        why: String,
        /// Whether the sizes are equal (409) or the proof failed (422).
        same_size: bool,
        /// The size the witness holds.
        latest: u64,
    },
    /// The witness's own storage failed (500).
    #[error("witness storage: {0}")]
    Storage(String),
}

impl Refusal {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) | Refusal::BadOldSize { .. } => 400,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::NotSigned(_) => 403,
            Refusal::Conflict { .. } => 409,
            Refusal::SplitView { same_size, .. } => {
                if *same_size {
                    409
                } else {
                    422
                }
            }
            Refusal::Storage(_) => 500,
        }
    }
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Self {
        Refusal::Storage(e.to_string())
    }
}

/// Evidence of a split view: two checkpoints the log signed that cannot
/// both be true.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The log.
    pub origin: String,
    /// The checkpoint the witness held.
    pub held: String,
    /// The checkpoint that contradicts it.
    pub offered: String,
    /// What contradicts what.
    pub why: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS latest (
    origin     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    checkpoint TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (
    origin     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    PRIMARY KEY (origin, size, checkpoint)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cosigned (
    origin     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    PRIMARY KEY (origin, size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evidence (
    id      INTEGER PRIMARY KEY,
    origin  TEXT NOT NULL,
    held    TEXT NOT NULL,
    offered TEXT NOT NULL,
    why     TEXT NOT NULL,
    UNIQUE (origin, held, offered)
);
";

/// A witness over a state database.
pub struct Witness {
    signer: Signer,
    logs: BTreeMap<String, Verifier>,
    db: Mutex<Connection>,
    /// A second connection for looking up what was cosigned, so that a
    /// gate vouching for a checkpoint cosigned before never waits behind
    /// a write's flush (WAL readers do not block on the writer).
    reader: Mutex<Connection>,
    /// Per log, the checkpoint last vouched for, verbatim, with its
    /// cosignature: a gate is shown the same checkpoint by every release
    /// it covers, and checking its signature again would give the same
    /// answer (a size, once cosigned at a root, stays cosigned at it).
    last_vouched: Mutex<BTreeMap<String, LastVouched>>,
}

/// A checkpoint vouched for, and its cosignature at `at`.
struct LastVouched {
    text: String,
    checkpoint: SignedCheckpoint,
    at: u64,
    cosignature: NoteSignature,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Witness({}, {} logs)",
            self.signer.name(),
            self.logs.len()
        )
    }
}

fn int(n: u64) -> Result<i64, Refusal> {
    i64::try_from(n).map_err(|_| Refusal::Malformed(format!("size {n} out of range")))
}

impl Witness {
    /// Opens (creating) the state at `path`; `signer` is the witness's
    /// cosignature/v1 key, `logs` the logs' public keys (named by origin).
    pub fn open(path: &Path, signer: Signer, logs: Vec<Verifier>) -> Result<Self, Refusal> {
        if signer.sig_type() != tlog::note::TYPE_COSIGNATURE_V1 {
            return Err(Refusal::Storage(
                "the witness key must be a cosignature/v1 key (type 0x04)".into(),
            ));
        }
        let db = Connection::open(path)?;
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        db.execute_batch(SCHEMA)?;
        let reader = Connection::open(path)?;
        reader.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")?;
        Ok(Witness {
            signer,
            logs: logs.into_iter().map(|v| (v.name.clone(), v)).collect(),
            db: Mutex::new(db),
            reader: Mutex::new(reader),
            last_vouched: Mutex::new(BTreeMap::new()),
        })
    }

    /// The witness's public key.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// Handles an add-checkpoint request body at time `now` (seconds since
    /// the epoch): the cosignature, or why not.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<NoteSignature, Refusal> {
        let req = AddCheckpoint::parse(body).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let unverified = SignedCheckpoint::parse_unverified(req.checkpoint.as_bytes())
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let origin = unverified.checkpoint.origin.clone();
        let key = self
            .logs
            .get(&origin)
            .ok_or_else(|| Refusal::UnknownOrigin(origin.clone()))?;
        let cp = SignedCheckpoint::open(req.checkpoint.as_bytes(), key, &[])
            .map_err(|e| Refusal::NotSigned(e.to_string()))?;
        self.add_verified(origin, cp, req.old_size, &req.proof, now)
    }

    /// [`Witness::add_checkpoint`] of a checkpoint whose signature is
    /// verified already (so that [`Witness::vouch`] verifies it once).
    fn add_verified(
        &self,
        origin: String,
        cp: SignedCheckpoint,
        old_size: u64,
        proof: &[Hash],
        now: u64,
    ) -> Result<NoteSignature, Refusal> {
        let size = cp.checkpoint.size;
        if old_size > size {
            return Err(Refusal::BadOldSize {
                old: old_size,
                size,
            });
        }
        let text = cp.to_text();

        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO seen (origin, size, checkpoint) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![origin, int(size)?, text])?;
        let held: Option<(i64, Vec<u8>, String)> = tx
            .prepare_cached("SELECT size, root, checkpoint FROM latest WHERE origin = ?1")?
            .query_row(params![origin], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (held_size, held_root, held_text) = match held {
            Some((s, r, t)) => (
                u64::try_from(s).map_err(|_| Refusal::Storage("negative size stored".into()))?,
                Hash::from_slice(&r).map_err(|e| Refusal::Storage(e.to_string()))?,
                t,
            ),
            None => (0, tlog::hash::empty_root(), String::new()),
        };
        let split = |why: String, same_size: bool| Refusal::SplitView {
            origin: origin.clone(),
            size,
            why,
            same_size,
            latest: held_size,
        };
        let outcome = if old_size != held_size {
            Err(Refusal::Conflict { latest: held_size })
        } else if size == held_size && cp.checkpoint.root != held_root {
            Err(split(
                format!("two checkpoints of size {size} with different roots"),
                true,
            ))
        } else if size == 0 && cp.checkpoint.root != tlog::hash::empty_root() {
            Err(split(
                "a size-0 checkpoint whose root is not the empty tree's".into(),
                false,
            ))
        } else if let Err(e) = tlog::merkle::verify_consistency(
            held_size,
            size,
            proof,
            &held_root,
            &cp.checkpoint.root,
        ) {
            Err(split(
                format!("size {size} is not consistent with size {held_size}: {e}"),
                false,
            ))
        } else {
            Ok(())
        };
        match outcome {
            Ok(()) => {
                tx.prepare_cached(
                    "INSERT INTO latest (origin, size, root, checkpoint) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (origin) DO UPDATE SET size = ?2, root = ?3, checkpoint = ?4",
                )?
                .execute(params![
                    origin,
                    int(size)?,
                    cp.checkpoint.root.0.to_vec(),
                    text
                ])?;
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO cosigned (origin, size, root) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    origin,
                    int(size)?,
                    cp.checkpoint.root.0.to_vec()
                ])?;
                tx.commit()?;
            }
            Err(e) => {
                if let Refusal::SplitView { why, .. } = &e {
                    tx.prepare_cached("INSERT OR IGNORE INTO evidence (origin, held, offered, why) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![origin, held_text, text, why])?;
                    tracing::error!(%origin, size, "split view: {why}");
                }
                tx.commit()?;
                return Err(e);
            }
        }
        drop(db);
        tlog::cosignature::cosign(&self.signer, &cp.note.text, now)
            .map_err(|e| Refusal::Storage(e.to_string()))
    }

    /// Vouches for a checkpoint the log signed, as a gate that releases
    /// something against it must: the checkpoint is one this witness has
    /// cosigned before, or it extends the latest (then `consistency`, the
    /// size the caller believes the witness holds and the proof from it,
    /// is required, and the checkpoint is cosigned as by
    /// [`Witness::add_checkpoint`]). An older checkpoint never cosigned is
    /// refused as a [`Refusal::Conflict`] naming the latest size (prove
    /// against a newer one); a different root at a size cosigned before is
    /// a split view, kept as evidence. Returns the checkpoint, verified,
    /// and the cosignature.
    pub fn vouch(
        &self,
        checkpoint: &str,
        consistency: Option<(u64, Vec<Hash>)>,
        now: u64,
    ) -> Result<(SignedCheckpoint, NoteSignature), Refusal> {
        if let Some(vouched) = self.vouched_before(checkpoint, now)? {
            return Ok(vouched);
        }
        let (cp, sig) = self.vouch_anew(checkpoint, consistency, now)?;
        self.last_vouched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                cp.checkpoint.origin.clone(),
                LastVouched {
                    text: checkpoint.to_owned(),
                    checkpoint: cp.clone(),
                    at: now,
                    cosignature: sig.clone(),
                },
            );
        Ok((cp, sig))
    }

    /// The answer to [`Witness::vouch`] for `checkpoint` if it is, byte
    /// for byte, the one last vouched for (cosigned again if `now` moved).
    fn vouched_before(
        &self,
        checkpoint: &str,
        now: u64,
    ) -> Result<Option<(SignedCheckpoint, NoteSignature)>, Refusal> {
        let mut last = self
            .last_vouched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(hit) = last.values_mut().find(|l| l.text == checkpoint) else {
            return Ok(None);
        };
        if hit.at != now {
            hit.cosignature =
                tlog::cosignature::cosign(&self.signer, &hit.checkpoint.note.text, now)
                    .map_err(|e| Refusal::Storage(e.to_string()))?;
            hit.at = now;
        }
        Ok(Some((hit.checkpoint.clone(), hit.cosignature.clone())))
    }

    fn vouch_anew(
        &self,
        checkpoint: &str,
        consistency: Option<(u64, Vec<Hash>)>,
        now: u64,
    ) -> Result<(SignedCheckpoint, NoteSignature), Refusal> {
        let unverified = SignedCheckpoint::parse_unverified(checkpoint.as_bytes())
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let origin = unverified.checkpoint.origin.clone();
        let key = self
            .logs
            .get(&origin)
            .ok_or_else(|| Refusal::UnknownOrigin(origin.clone()))?;
        let cp = SignedCheckpoint::open(checkpoint.as_bytes(), key, &[])
            .map_err(|e| Refusal::NotSigned(e.to_string()))?;
        let size = cp.checkpoint.size;
        let known: Option<Vec<u8>> = {
            let db = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
            db.prepare_cached("SELECT root FROM cosigned WHERE origin = ?1 AND size = ?2")?
                .query_row(params![origin, int(size)?], |r| r.get(0))
                .optional()?
        };
        match known {
            Some(root) if root == cp.checkpoint.root.0.to_vec() => {
                let sig = tlog::cosignature::cosign(&self.signer, &cp.note.text, now)
                    .map_err(|e| Refusal::Storage(e.to_string()))?;
                Ok((cp, sig))
            }
            // A second root at a size cosigned before: add_checkpoint
            // records the evidence when it is the latest; otherwise it is
            // recorded here.
            Some(_) => {
                let latest = self.latest_size(&origin)?;
                if latest != size {
                    let held: Option<String> = {
                        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
                        db.query_row(
                            "SELECT checkpoint FROM seen WHERE origin = ?1 AND size = ?2 LIMIT 1",
                            params![origin, int(size)?],
                            |r| r.get(0),
                        )
                        .optional()?
                    };
                    let why = format!("two checkpoints of size {size} with different roots");
                    let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
                    db.execute(
                        "INSERT OR IGNORE INTO evidence (origin, held, offered, why) VALUES (?1, ?2, ?3, ?4)",
                        params![origin, held.unwrap_or_default(), cp.to_text(), why],
                    )?;
                    return Err(Refusal::SplitView {
                        origin,
                        size,
                        why,
                        same_size: true,
                        latest,
                    });
                }
                let sig = self.add_verified(origin, cp.clone(), size, &[], now)?;
                Ok((cp, sig))
            }
            None => {
                let latest = self.latest_size(&origin)?;
                let (old_size, proof) = if size == latest {
                    // The latest, held from before this table was kept.
                    (size, Vec::new())
                } else {
                    match consistency.filter(|_| size > latest) {
                        Some(c) => c,
                        None => return Err(Refusal::Conflict { latest }),
                    }
                };
                let sig = self.add_verified(origin, cp.clone(), old_size, &proof, now)?;
                Ok((cp, sig))
            }
        }
    }

    /// Every split view recorded, oldest first.
    pub fn evidence(&self) -> Result<Vec<Evidence>, Refusal> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let mut q = db.prepare("SELECT origin, held, offered, why FROM evidence ORDER BY id")?;
        let rows = q.query_map([], |r| {
            Ok(Evidence {
                origin: r.get(0)?,
                held: r.get(1)?,
                offered: r.get(2)?,
                why: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest checkpoint cosigned for `origin`, as the log signed it.
    pub fn latest(&self, origin: &str) -> Result<Option<String>, Refusal> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(db
            .query_row(
                "SELECT checkpoint FROM latest WHERE origin = ?1",
                params![origin],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The size of the latest checkpoint cosigned for `origin`.
    pub fn latest_size(&self, origin: &str) -> Result<u64, Refusal> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let size: Option<i64> = db
            .prepare_cached("SELECT size FROM latest WHERE origin = ?1")?
            .query_row(params![origin], |r| r.get(0))
            .optional()?;
        Ok(size.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
    }
}
