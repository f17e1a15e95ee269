//! What the custodian has read of each log. It releases nothing until it
//! has read every entry of every checkpoint it vouched for: the gateway
//! sends the entries it has not read (a [`Tail`]), the custodian hashes
//! them onto the [`Frontier`] it keeps (so they are the log's, not a
//! selection) and stops before the first allowed erasure it was not
//! notified of. An operator who logs an erasure and keeps it from the
//! custodian stops every release of its region, instead of obtaining the
//! erased subject's keys later (the entries' salted subject sets do not
//! let the custodian tell whose erasure it is).
//!
//! The frontier is kept in `scan.db` (`synchronous = NORMAL`): a crash may
//! lose its latest advance, which is read again — losing it never lets
//! anything through.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use custody::protocol::Tail;
use entry::{Entry, Kind, Outcome};
use policy::Action;
use rusqlite::{Connection, OptionalExtension, params};
use tlog::merkle::Frontier;
use tlog::{Hash, SignedCheckpoint};

use crate::gate::Refusal;
use crate::state::State;

/// What the custodian has read of one region's log.
#[derive(Debug, Default)]
pub struct Scan {
    /// The tree of every entry read, in order.
    pub frontier: Frontier,
    /// The largest checkpoint size vouched for.
    pub vouched: u64,
    /// An allowed erasure read but not notified: reading stopped before it.
    pub pending: Option<u64>,
}

impl Scan {
    /// Whether every entry of every checkpoint vouched for was read, or
    /// why not.
    pub fn complete(&self) -> Result<(), Refusal> {
        if let Some(index) = self.pending {
            return Err(Refusal::ErasureUnnotified(index));
        }
        if self.frontier.size() < self.vouched {
            return Err(Refusal::Unscanned {
                scanned: self.frontier.size(),
            });
        }
        Ok(())
    }
}

/// Every region's [`Scan`], each behind its own lock, and their store.
pub struct Scans {
    db: Mutex<Connection>,
    regions: HashMap<String, Mutex<Scan>>,
}

impl std::fmt::Debug for Scans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scans({} regions)", self.regions.len())
    }
}

fn storage(e: impl std::fmt::Display) -> Refusal {
    Refusal::Storage(e.to_string())
}

impl Scans {
    /// Opens (creating) `path` and loads each region's scan; `vouched`
    /// gives the size each region's log was last vouched for at.
    pub fn open(
        path: &Path,
        regions: impl IntoIterator<Item = (String, u64)>,
    ) -> Result<Self, String> {
        let db = Connection::open(path).map_err(|e| e.to_string())?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS scans (
                 region   TEXT PRIMARY KEY,
                 frontier BLOB NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(|e| e.to_string())?;
        let mut out = HashMap::new();
        for (region, vouched) in regions {
            let bytes: Option<Vec<u8>> = db
                .query_row(
                    "SELECT frontier FROM scans WHERE region = ?1",
                    params![region],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| e.to_string())?;
            let frontier = match bytes {
                Some(b) => Frontier::from_bytes(&b).map_err(|e| format!("{region}: {e}"))?,
                None => Frontier::new(),
            };
            out.insert(
                region,
                Mutex::new(Scan {
                    frontier,
                    vouched,
                    pending: None,
                }),
            );
        }
        Ok(Scans {
            db: Mutex::new(db),
            regions: out,
        })
    }

    /// The region's scan, locked: a request that vouched for a checkpoint
    /// counts it here first, then reads up to it, so no request finds
    /// every vouched checkpoint read while a newer one is unread.
    pub fn lock(&self, region: &str) -> Result<MutexGuard<'_, Scan>, Refusal> {
        self.regions
            .get(region)
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
            .ok_or_else(|| Refusal::Unauthenticated("not a region this custodian serves".into()))
    }

    /// Reads `tail` onto `scan`, checked against `checkpoint`: the entries
    /// it has not read are hashed on; they must lead to the checkpoint's
    /// root (directly, or by the tail's consistency proof). Reading stops
    /// before the first allowed erasure `state` was not notified of.
    pub fn read(
        &self,
        region: &str,
        scan: &mut Scan,
        checkpoint: &SignedCheckpoint,
        tail: Option<&Tail>,
        state: &State,
    ) -> Result<(), Refusal> {
        if let Some(index) = scan.pending
            && state.notified(region, index).map_err(storage)?
        {
            scan.pending = None;
        }
        let read = scan.frontier.size();
        let cp = &checkpoint.checkpoint;
        let Some(tail) = tail else {
            return Ok(());
        };
        if tail.end() > cp.size {
            return Err(Refusal::Malformed(format!(
                "tail: entries up to {} are beyond the checkpoint's size {}",
                tail.end(),
                cp.size
            )));
        }
        if tail.from > read {
            return Err(Refusal::Unscanned { scanned: read });
        }
        if tail.end() <= read {
            return Ok(());
        }
        let skip = usize::try_from(read - tail.from).unwrap_or(usize::MAX);
        let new = tail.entries.get(skip..).unwrap_or_default();
        let hashes: Vec<Hash> = new.iter().map(|e| tlog::leaf_hash(&e.0)).collect();
        let mut whole = scan.frontier.clone();
        for h in &hashes {
            whole.push(*h);
        }
        let leads = if tail.end() == cp.size {
            whole.root() == cp.root
        } else {
            let proof: Vec<Hash> = tail.proof.iter().map(|h| h.0).collect();
            tlog::merkle::verify_consistency(tail.end(), cp.size, &proof, &whole.root(), &cp.root)
                .is_ok()
        };
        if !leads {
            return Err(Refusal::NotLogged(format!(
                "tail: the entries from {read} do not lead to the checkpoint of size {}",
                cp.size
            )));
        }
        let mut stop = None;
        for (k, e) in new.iter().enumerate() {
            let index = read + k as u64;
            if is_erasure(&e.0) && !state.notified(region, index).map_err(storage)? {
                stop = Some(k);
                break;
            }
        }
        let frontier = match stop {
            None => whole,
            Some(k) => {
                let mut f = scan.frontier.clone();
                for h in &hashes[..k] {
                    f.push(*h);
                }
                f
            }
        };
        if frontier.size() > read {
            self.db
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .execute(
                    "INSERT OR REPLACE INTO scans (region, frontier) VALUES (?1, ?2)",
                    params![region, frontier.to_bytes()],
                )
                .map_err(storage)?;
        }
        scan.pending = stop.map(|k| read + k as u64);
        scan.frontier = frontier;
        Ok(())
    }
}

/// Whether `bytes` is an allowed erasure: what the custodian must be told
/// of before it reads past it. (An erasure's region is not checked: one
/// the log holds counts, whatever it claims.)
fn is_erasure(bytes: &[u8]) -> bool {
    Entry::parse(bytes).is_ok_and(|e| {
        e.kind == Kind::Access
            && e.action == Some(Action::Erase)
            && e.decision == Some(Outcome::Allow)
    })
}
