//! Reading a log from storage: checkpoint, tiles, entries, and proofs for
//! any tree size, computed from tiles.

use std::collections::HashMap;
use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::Error;
use crate::checkpoint::SignedCheckpoint;
use crate::hash::Hash;
use crate::merkle::{ProofPlan, Subtree};
use crate::note::Verifier;
use crate::receipt::Receipt;
use crate::storage::Storage;
use crate::tile::{self, TILE_WIDTH, TileId};

/// Storage path of the checkpoint.
pub const CHECKPOINT_PATH: &str = "checkpoint";

/// Read access to a log in storage.
#[derive(Clone)]
pub struct LogReader<S> {
    storage: S,
    /// Hashes of complete subtrees already computed for proofs.
    subtrees: Option<Arc<Cache<Subtree, Hash>>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for LogReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("storage", &self.storage)
            .field("remembers_subtrees", &self.subtrees.is_some())
            .finish()
    }
}

impl<S: Storage> LogReader<S> {
    /// A reader over `storage`.
    pub fn new(storage: S) -> Self {
        LogReader {
            storage,
            subtrees: None,
        }
    }

    /// This reader, remembering up to `capacity` hashes of the complete
    /// subtrees it computes for proofs. A complete subtree's hash never
    /// changes, and proofs for neighbouring entries share most of theirs,
    /// so a log's own server need not hash them again for every receipt.
    /// Only for a reader over storage that is the log of record (its
    /// sequencer's output): a verifier re-reading storage it does not
    /// trust must not remember.
    pub fn remembering_subtrees(mut self, capacity: usize) -> Self {
        self.subtrees = Some(Arc::new(Cache::new(capacity.max(1))));
        self
    }

    /// The storage read from.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The stored checkpoint, verified with the log's key.
    pub async fn checkpoint(&self, log_key: &Verifier) -> Result<SignedCheckpoint, Error> {
        let raw = self
            .storage
            .read(CHECKPOINT_PATH)
            .await?
            .ok_or_else(|| Error::NotInitialized("no checkpoint".to_owned()))?;
        SignedCheckpoint::open(&raw, log_key, &[])
    }

    /// Reads a tile or bundle as a tree of some size has it: exactly the
    /// bytes of `id`. They are stored under `id`'s path, or are the start
    /// of a wider version of the same tile — the full tile, which replaces
    /// partial ones, or a wider partial one, as a writer that places files
    /// lazily keeps only some widths (a tile only ever grows at its end).
    pub async fn read_tile(&self, id: TileId) -> Result<Vec<u8>, Error> {
        if let Some(d) = self.storage.read(&id.path()).await? {
            return Ok(d);
        }
        if id.is_full() {
            return Err(Error::NotFound(id.path()));
        }
        let full = id.full().path();
        let wider = match self.storage.read(&full).await? {
            Some(d) => Some(d),
            None => {
                let dir = format!("{full}.p");
                let widths = self.storage.list(&dir).await?;
                let narrowest_wider = widths
                    .iter()
                    .filter_map(|w| w.parse::<u16>().ok())
                    .filter(|w| *w > id.width)
                    .min();
                match narrowest_wider {
                    Some(w) => self.storage.read(&format!("{dir}/{w}")).await?,
                    None => None,
                }
            }
        };
        let wider = wider.ok_or_else(|| Error::NotFound(id.path()))?;
        tile::prefix(&id, wider)
    }

    /// Hashes of a hash tile, exactly `id.width` of them.
    pub async fn read_hashes(&self, id: TileId) -> Result<Vec<Hash>, Error> {
        tile::parse_hashes(&id, &self.read_tile(id).await?)
    }

    /// Entries of an entry bundle, exactly `id.width` of them.
    pub async fn read_entries(&self, id: TileId) -> Result<Vec<Vec<u8>>, Error> {
        let data = self.read_tile(id).await?;
        let entries = tile::parse_bundle(&data)?;
        if entries.len() != usize::from(id.width) {
            return Err(Error::Corrupt(format!(
                "entry bundle {} holds {} entries, expected {}",
                id.path(),
                entries.len(),
                id.width
            )));
        }
        Ok(entries.iter().map(|e| e.to_vec()).collect())
    }

    /// The entry at `index` in a tree of `size` leaves.
    pub async fn entry(&self, index: u64, size: u64) -> Result<Vec<u8>, Error> {
        let id = TileId::entries_at(index / TILE_WIDTH, size)
            .filter(|_| index < size)
            .ok_or(Error::OutOfRange {
                what: "index",
                value: index,
                size,
            })?;
        let mut entries = self.read_entries(id).await?;
        Ok(entries.swap_remove((index % TILE_WIDTH) as usize))
    }

    /// The entries `[from, to)` of a tree of `size` leaves, a bundle read
    /// at a time.
    pub async fn entries(&self, from: u64, to: u64, size: u64) -> Result<Vec<Vec<u8>>, Error> {
        if from > to || to > size {
            return Err(Error::OutOfRange {
                what: "entry range end",
                value: to,
                size,
            });
        }
        let mut out = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0));
        let mut i = from;
        while i < to {
            let bundle = i / TILE_WIDTH;
            let id = TileId::entries_at(bundle, size).ok_or(Error::OutOfRange {
                what: "index",
                value: i,
                size,
            })?;
            let first = bundle * TILE_WIDTH;
            let end = to.min(first + u64::from(id.width));
            let entries = self.read_entries(id).await?;
            let lo = usize::try_from(i - first).unwrap_or(usize::MAX);
            let hi = usize::try_from(end - first).unwrap_or(0);
            out.extend(entries.into_iter().take(hi).skip(lo));
            i = end;
        }
        Ok(out)
    }

    /// Runs a plan at tree size `size`, fetching each tile it needs once.
    pub async fn run(&self, plan: &ProofPlan, size: u64) -> Result<Vec<Hash>, Error> {
        // Remembered hashes are taken once, here: one evicted before the
        // plan finishes must not leave it without its tile.
        let mut remembered: HashMap<Subtree, Hash> = HashMap::new();
        let mut tiles: HashMap<TileId, Vec<Hash>> = HashMap::new();
        let needed = plan.subtrees();
        for st in &needed {
            if let Some(hash) = self.subtrees.as_ref().and_then(|c| c.get(st)) {
                remembered.insert(*st, hash);
                continue;
            }
            let (id, _) = tile::locate(*st, size)?;
            if let std::collections::hash_map::Entry::Vacant(slot) = tiles.entry(id) {
                slot.insert(self.read_hashes(id).await?);
            }
        }
        plan.finish(|st| {
            if let Some(hash) = remembered.get(&st) {
                return Ok(*hash);
            }
            let (id, _) = tile::locate(st, size)?;
            let hashes = tiles.get(&id).ok_or_else(|| Error::NotFound(id.path()))?;
            let hash = tile::subtree_from_tile(st, size, hashes)?;
            // A leaf's hash is read as it is; only folds are worth keeping.
            if let Some(cache) = &self.subtrees
                && st.level > 0
            {
                cache.insert(st, hash);
            }
            Ok(hash)
        })
    }

    /// Root hash of the tree of `size` leaves.
    pub async fn tree_hash(&self, size: u64) -> Result<Hash, Error> {
        if size == 0 {
            return Ok(crate::hash::empty_root());
        }
        let out = self.run(&ProofPlan::tree_hash(size), size).await?;
        out.into_iter().next().ok_or(Error::InvalidProof("no root"))
    }

    /// Inclusion proof of `index` in the tree of `size` leaves.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
        self.run(&ProofPlan::inclusion(index, size)?, size).await
    }

    /// Consistency proof from `old` leaves to `new` leaves.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, Error> {
        self.run(&ProofPlan::consistency(old, new)?, new).await
    }

    /// A tlog-proof receipt for `index` against the signed checkpoint `cp`.
    pub async fn receipt(&self, index: u64, cp: &SignedCheckpoint) -> Result<Receipt, Error> {
        Ok(Receipt {
            extra: None,
            index,
            proof: self.inclusion_proof(index, cp.checkpoint.size).await?,
            checkpoint: cp.to_text(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    /// A writer that places files lazily keeps only some partial widths:
    /// a narrower one is the start of a wider one, or of the full tile.
    #[tokio::test]
    async fn a_partial_tile_not_stored_is_read_from_a_wider_version() {
        let storage = MemStorage::new();
        let hashes: Vec<Hash> = (0u8..5).map(|i| Hash([i; 32])).collect();
        let mut bundle = Vec::new();
        for e in [&b"e0"[..], b"e1", b"entry two", b"e3", b"e4"] {
            tile::push_entry(&mut bundle, e).unwrap();
        }
        storage
            .write(vec![
                ("tile/0/000.p/5".into(), tile::tile_bytes(&hashes)),
                ("tile/entries/000.p/5".into(), bundle),
            ])
            .await
            .unwrap();
        let reader = LogReader::new(storage);
        let id = TileId::hashes_at(0, 0, 3).unwrap();
        assert_eq!(reader.read_hashes(id).await.unwrap(), hashes[..3]);
        let id = TileId::entries_at(0, 3).unwrap();
        assert_eq!(
            reader.read_entries(id).await.unwrap(),
            [b"e0".to_vec(), b"e1".to_vec(), b"entry two".to_vec()]
        );
        let wider = TileId::hashes_at(0, 0, 6).unwrap();
        assert!(matches!(
            reader.read_tile(wider).await,
            Err(Error::NotFound(_))
        ));
    }
}
