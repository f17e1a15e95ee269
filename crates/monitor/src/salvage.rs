//! What can still be checked of a log whose new entries do not give its
//! signed root (an edited, missing or truncated entry bundle): each entry
//! above the verified size on its own, by an inclusion proof computed from
//! the served tiles and checked against the signed checkpoint. An entry
//! that proves is the log's own, and is replayed like any other; one that
//! does not (or is not served) is an inconsistency, one finding per run of
//! consecutive entries. Nothing is committed: the verified size stays where
//! the entries last gave a signed root, so this runs again on every poll,
//! and what it finds is recorded, logged and alerted once.

use std::collections::HashMap;
use std::sync::Mutex;

use tlog::tile::{self, TILE_WIDTH, TileId};
use tlog::{Error as TlogError, LogReader, SignedCheckpoint, Storage};

use crate::mirror::Followed;
use crate::replay::Finding;
use crate::{Error, Monitor};

/// A log's served tiles over HTTP, read-only, each fetched once.
struct Served {
    client: reqwest::Client,
    base: String,
    fetched: Mutex<HashMap<String, Option<Vec<u8>>>>,
}

fn read_only() -> TlogError {
    TlogError::Corrupt("the served log is read-only".into())
}

impl Storage for Served {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TlogError> {
        if let Some(hit) = self
            .fetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path)
        {
            return Ok(hit.clone());
        }
        let resp = self
            .client
            .get(format!("{}/log/{path}", self.base))
            .send()
            .await
            .map_err(|e| TlogError::Corrupt(e.without_url().to_string()))?;
        let data = match resp.status().as_u16() {
            200 => Some(
                resp.bytes()
                    .await
                    .map_err(|e| TlogError::Corrupt(e.without_url().to_string()))?
                    .to_vec(),
            ),
            404 => None,
            s => return Err(TlogError::Corrupt(format!("{path}: HTTP {s}"))),
        };
        self.fetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_owned(), data.clone());
        Ok(data)
    }

    async fn write(&self, _: Vec<(String, Vec<u8>)>) -> Result<(), TlogError> {
        Err(read_only())
    }

    async fn delete(&self, _: Vec<String>) -> Result<(), TlogError> {
        Err(read_only())
    }

    async fn list(&self, _: &str) -> Result<Vec<String>, TlogError> {
        Err(read_only())
    }

    async fn claim_writer(&self) -> Result<tlog::storage::WriterGuard, TlogError> {
        Err(read_only())
    }
}

/// Why an entry could not be checked.
const NOT_SERVED: &str = "not served";
const NOT_IN_TREE: &str = "its hash is not in the signed tree";

impl Monitor {
    /// Checks the entries from `old` to the signed checkpoint `cp` one by
    /// one (see the module docs). Returns whether some entry failed, and
    /// the findings not recorded before.
    pub(crate) async fn salvage(
        &self,
        log: &Followed,
        old: u64,
        cp: &SignedCheckpoint,
    ) -> Result<(bool, Vec<Finding>), Error> {
        let cfg = &log.config;
        let origin = cfg.key.name.as_str();
        let (n, root) = (cp.checkpoint.size, cp.checkpoint.root);
        let served = LogReader::new(Served {
            client: self.http.clone(),
            base: cfg.url.clone(),
            fetched: Mutex::new(HashMap::new()),
        });
        let mut replayer = self.resumed_replayer(cfg, old)?;
        // Runs of entries that do not check: (first, last, why).
        let mut bad: Vec<(u64, u64, String)> = Vec::new();
        let mut found = Vec::new();
        for b in old / TILE_WIDTH..n.div_ceil(TILE_WIDTH) {
            let Some(id) = TileId::entries_at(b, n) else {
                continue;
            };
            let entries = match served.read_tile(id).await {
                Ok(data) => tile::parse_bundle(&data)
                    .map(|es| es.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
                    .unwrap_or_default(),
                Err(TlogError::NotFound(_)) => Vec::new(),
                // Unreachable: checked again on the next poll.
                Err(_) => return Ok((!bad.is_empty(), found)),
            };
            let first = b * TILE_WIDTH;
            for i in old.max(first)..n.min(first + TILE_WIDTH) {
                let Some(e) = entries.get((i - first) as usize) else {
                    blame(&mut bad, i, NOT_SERVED.into());
                    continue;
                };
                let proved = match served.inclusion_proof(i, n).await {
                    Ok(proof) => {
                        tlog::merkle::verify_inclusion(&tlog::leaf_hash(e), i, n, &proof, &root)
                            .map_err(|_| NOT_IN_TREE.to_owned())
                    }
                    Err(e) => Err(format!("no inclusion proof from the served tiles: {e}")),
                };
                if let Err(why) = proved {
                    blame(&mut bad, i, why);
                    continue;
                }
                for f in replayer.replay(i, e).findings {
                    if self.state.add_final_finding(origin, &f)? {
                        tracing::warn!(region = %cfg.region, index = f.index, "{}", f.message);
                        self.alert(&f).await;
                        found.push(f);
                    }
                }
            }
        }
        let any_bad = !bad.is_empty();
        for (a, z, why) in bad {
            let message = if a == z {
                format!("entry {a} is not the one the signed checkpoint commits to: {why}")
            } else {
                format!(
                    "entries {a}..={z} are not the ones the signed checkpoint commits to: {why}"
                )
            };
            found.extend(
                self.inconsistency(cfg, Some(a), message, &cp.to_text())
                    .await?,
            );
        }
        Ok((any_bad, found))
    }
}

/// Adds entry `i` to the runs of entries that do not check.
fn blame(bad: &mut Vec<(u64, u64, String)>, i: u64, why: String) {
    match bad.last_mut() {
        Some((_, last, w)) if *last + 1 == i && *w == why => *last = i,
        _ => bad.push((i, i, why)),
    }
}
