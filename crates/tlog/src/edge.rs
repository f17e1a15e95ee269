//! The right edge of a tiled tree: the only part that changes on append.
//!
//! [`Edge`] holds, per tile level, the hashes of the rightmost (partial) tile
//! and the entries of the rightmost entry bundle — at most a few hundred
//! hashes and entries, whatever the size of the log. Appending leaves yields
//! the tiles that became full; [`Edge::partial_tiles`] gives the rest of what
//! a new checkpoint needs. The root is computed from the edge alone.
//!
//! The edge also keeps the inner nodes of its partial tiles (the hash of
//! every complete, aligned run of 2, 4, … 128 of a tile's hashes): a tile
//! only grows at its end, so each is hashed once, as it completes, and a
//! subtree in a partial tile — what a root or a consistency proof asks for
//! at every commit — is looked up instead of folded from up to 255 hashes.

use crate::Error;
use crate::hash::{Hash, leaf_hash, node_hash};
use crate::merkle::{ProofPlan, Subtree};
use crate::tile::{self, TILE_HEIGHT, TILE_WIDTH, TileId, TileKind};

/// A finished tile or bundle: its id and its bytes.
pub type TileData = (TileId, Vec<u8>);

/// The rightmost tiles of a tree; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Edge {
    size: u64,
    /// `levels[l]` holds the hashes of the partial tile at tile level `l`.
    levels: Vec<Vec<Hash>>,
    /// `inner[l][k - 1]` holds the hashes of the complete aligned runs of
    /// 2^k hashes of `levels[l]`, left to right (k = 1 … `TILE_HEIGHT` - 1).
    inner: Vec<Vec<Vec<Hash>>>,
    /// Encoded entries of the partial entry bundle.
    bundle: Vec<u8>,
}

impl Edge {
    /// The edge of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the edge of a tree of `size` leaves from its partial tiles:
    /// `bundle` is the partial entry bundle (empty if none) and `tiles[l]`
    /// the hashes of the partial tile at level `l`. Checks that the bundle
    /// matches the level-0 tile; the caller checks the root.
    pub fn from_parts(size: u64, bundle: Vec<u8>, tiles: Vec<Vec<Hash>>) -> Result<Self, Error> {
        let mut levels = tiles;
        for (l, hashes) in levels.iter().enumerate() {
            let want = (tile::level_count(l as u8, size) % TILE_WIDTH) as usize;
            if hashes.len() != want {
                return Err(Error::Corrupt(format!(
                    "partial tile at level {l} has {} hashes, a tree of {size} needs {want}",
                    hashes.len()
                )));
            }
        }
        while levels.last().is_some_and(Vec::is_empty) {
            levels.pop();
        }
        let entries = tile::parse_bundle(&bundle)?;
        let want = (size % TILE_WIDTH) as usize;
        if entries.len() != want {
            return Err(Error::Corrupt(format!(
                "partial entry bundle has {} entries, a tree of {size} needs {want}",
                entries.len()
            )));
        }
        let level0 = levels.first().map(Vec::as_slice).unwrap_or(&[]);
        for (i, (e, h)) in entries.iter().zip(level0).enumerate() {
            if leaf_hash(e) != *h {
                return Err(Error::Corrupt(format!(
                    "entry {} does not hash to its level-0 tile hash",
                    size - want as u64 + i as u64
                )));
            }
        }
        let inner = levels
            .iter()
            .map(|hashes| {
                let mut inner = Vec::new();
                for n in 1..=hashes.len() {
                    // A partial tile holds fewer than 256 hashes: no run
                    // completes the tile here.
                    let _ = grow(&mut inner, &hashes[..n]);
                }
                inner
            })
            .collect();
        Ok(Edge {
            size,
            levels,
            inner,
            bundle,
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends an entry; returns tiles and bundles that it completed.
    pub fn push(&mut self, entry: &[u8], done: &mut Vec<TileData>) -> Result<Hash, Error> {
        let h = leaf_hash(entry);
        tile::push_entry(&mut self.bundle, entry)?;
        let index = self.size;
        self.size += 1;
        if self.size.is_multiple_of(TILE_WIDTH) {
            let id = TileId {
                kind: TileKind::Entries,
                index: index / TILE_WIDTH,
                width: TILE_WIDTH as u16,
            };
            done.push((id, std::mem::take(&mut self.bundle)));
        }
        self.push_hash(0, h, index, done);
        Ok(h)
    }

    fn push_hash(&mut self, level: usize, h: Hash, index: u64, done: &mut Vec<TileData>) {
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
            self.inner.resize_with(level + 1, Vec::new);
        }
        self.levels[level].push(h);
        if let Some(root) = grow(&mut self.inner[level], &self.levels[level]) {
            let hashes = std::mem::take(&mut self.levels[level]);
            self.inner[level].iter_mut().for_each(Vec::clear);
            let id = TileId {
                kind: TileKind::Hashes(level as u8),
                index: index / TILE_WIDTH,
                width: TILE_WIDTH as u16,
            };
            done.push((id, tile::tile_bytes(&hashes)));
            self.push_hash(level + 1, root, index / TILE_WIDTH, done);
        }
    }

    /// The hash of `subtree` if it lies in one of the edge's partial tiles
    /// (at the current size), looked up, not folded; `None` if it lies in a
    /// full tile, which the edge no longer holds.
    pub fn subtree(&self, subtree: Subtree) -> Result<Option<Hash>, Error> {
        let (id, range) = tile::locate(subtree, self.size)?;
        if id.is_full() {
            return Ok(None);
        }
        let level = usize::from(id.level().unwrap_or(0));
        let k = range.len().trailing_zeros() as usize;
        let run = match k {
            0 => self.levels.get(level),
            k => self.inner.get(level).and_then(|inner| inner.get(k - 1)),
        };
        run.and_then(|hashes| hashes.get(range.start >> k))
            .copied()
            .map(Some)
            .ok_or_else(|| {
                Error::Corrupt(format!("tile {} too short for the tree size", id.path()))
            })
    }

    /// The partial tiles and bundle of the current size (full ones were
    /// returned by [`Edge::push`] as they filled): the bundle first.
    pub fn partial_tiles(&self) -> Vec<TileData> {
        let mut out = Vec::new();
        if let Some(id) = self.partial_bundle() {
            out.push((id, self.bundle.clone()));
        }
        out.extend(self.partial_hash_tiles());
        out
    }

    /// The ids of [`Edge::partial_tiles`], without copying their bytes.
    pub fn partial_ids(&self) -> Vec<TileId> {
        self.partial_bundle()
            .into_iter()
            .chain(self.partial_levels().map(|(id, _)| id))
            .collect()
    }

    /// The partial hash tiles of [`Edge::partial_tiles`], without the bundle.
    pub fn partial_hash_tiles(&self) -> Vec<TileData> {
        self.partial_levels()
            .map(|(id, hashes)| (id, tile::tile_bytes(hashes)))
            .collect()
    }

    /// Each partial hash tile's id and hashes, lowest level first.
    fn partial_levels(&self) -> impl Iterator<Item = (TileId, &[Hash])> {
        self.levels.iter().enumerate().filter_map(|(l, hashes)| {
            if hashes.is_empty() {
                return None;
            }
            let count = tile::level_count(l as u8, self.size);
            TileId::hashes_at(l as u8, count / TILE_WIDTH, self.size).map(|id| (id, &hashes[..]))
        })
    }

    fn partial_bundle(&self) -> Option<TileId> {
        TileId::entries_at(self.size / TILE_WIDTH, self.size).filter(|id| !id.is_full())
    }

    /// Hashes of the partial tile at `level` (empty if none).
    pub fn tile_hashes(&self, level: u8) -> &[Hash] {
        self.levels
            .get(usize::from(level))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The tree's root hash, from the edge tiles alone: every subtree of a
    /// tree's binary decomposition lies in a partial tile.
    pub fn root(&self) -> Result<Hash, Error> {
        let plan = ProofPlan::tree_hash(self.size);
        let out = plan.finish(|st| {
            self.subtree(st)?
                .ok_or(Error::InvalidProof("a root's subtree in a full tile"))
        })?;
        let root = out
            .into_iter()
            .next()
            .ok_or(Error::InvalidProof("no root"))?;
        // The signed root must be the one the written tiles give: in tests,
        // every root from the inner nodes is checked against a fold of the
        // tiles' hashes.
        #[cfg(debug_assertions)]
        {
            let folded = plan.finish(|st| {
                let (id, _) = tile::locate(st, self.size)?;
                tile::subtree_from_tile(st, self.size, self.tile_hashes(id.level().unwrap_or(0)))
            });
            debug_assert_eq!(folded.ok().and_then(|f| f.into_iter().next()), Some(root));
        }
        Ok(root)
    }
}

/// Brings the inner nodes of a tile whose hashes are now `hashes` (one more
/// than before) up to date: each run of 2^k that the new hash completes is
/// hashed from its two halves. Returns the tile's root when the new hash
/// completes the tile (256 hashes).
fn grow(inner: &mut Vec<Vec<Hash>>, hashes: &[Hash]) -> Option<Hash> {
    let n = hashes.len();
    let top = usize::from(TILE_HEIGHT);
    for k in 1..=top {
        if !n.is_multiple_of(1 << k) {
            return None;
        }
        // The two halves: the last two runs of 2^(k-1).
        let i = n >> (k - 1);
        let below = if k == 1 { hashes } else { &inner[k - 2][..] };
        let node = node_hash(&below[i - 2], &below[i - 1]);
        if k == top {
            return Some(node);
        }
        if inner.len() < k {
            inner.resize_with(k, Vec::new);
        }
        inner[k - 1].push(node);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;

    #[test]
    fn edge_root_matches_reference_across_tile_boundaries() {
        let mut edge = Edge::new();
        let mut reference = MemoryTree::new();
        let mut done = Vec::new();
        for i in 0..70_000u32 {
            let h = edge.push(&i.to_be_bytes(), &mut done).unwrap();
            reference.push(h);
            let n = i + 1;
            if n < 600 || n % 9973 == 0 || n == 65_536 || n == 70_000 {
                assert_eq!(
                    edge.root().unwrap(),
                    reference.root(u64::from(n)),
                    "size {n}"
                );
            }
        }
        // 273 entry bundles, 273 level-0 tiles and one level-1 tile filled.
        assert_eq!(
            done.iter()
                .filter(|(id, _)| id.kind == TileKind::Entries)
                .count(),
            273
        );
        assert_eq!(
            done.iter()
                .filter(|(id, _)| id.kind == TileKind::Hashes(0))
                .count(),
            273
        );
        assert_eq!(
            done.iter()
                .filter(|(id, _)| id.kind == TileKind::Hashes(1))
                .count(),
            1
        );
        let partial: Vec<String> = edge
            .partial_tiles()
            .iter()
            .map(|(id, _)| id.path())
            .collect();
        assert_eq!(
            partial,
            vec![
                "tile/entries/273.p/112",
                "tile/0/273.p/112",
                "tile/1/001.p/17",
                "tile/2/000.p/1"
            ]
        );
    }
}
