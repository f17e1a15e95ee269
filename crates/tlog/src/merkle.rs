//! Merkle tree math without I/O: tree hashes, inclusion and consistency
//! proofs ([RFC 9162 §2.1]).
//!
//! Generation is split in two so that callers can fetch hashes from wherever
//! they live (tiles on disk, object storage, memory): a [`ProofPlan`] names the
//! complete [`Subtree`]s it needs, the caller looks them up, and
//! [`ProofPlan::finish`] folds them into the proof. Nothing here holds the
//! whole tree.
//!
//! [RFC 9162 §2.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1

use std::collections::BTreeSet;

use crate::Error;
use crate::hash::{Hash, empty_root, node_hash};

/// Proofs longer than this cannot belong to a tree with at most 2^64 leaves.
pub const MAX_PROOF_LEN: usize = 64;

/// A complete subtree of `2^level` leaves, the `index`-th at that level: it
/// covers leaves `[index << level, (index + 1) << level)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Subtree {
    /// Height of the subtree: 0 for a single leaf.
    pub level: u8,
    /// Position among the subtrees of that level, left to right.
    pub index: u64,
}

impl Subtree {
    /// First leaf covered.
    pub fn start(&self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf covered.
    pub fn end(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// The complete subtrees, left to right, whose hashes fold into
/// `MTH(D[lo:hi])`. `lo` must be aligned as in the RFC recursion (a multiple
/// of a power of two at least `hi - lo`), which holds for every range the
/// proof algorithms below produce.
fn range_subtrees(lo: u64, hi: u64) -> impl Iterator<Item = Subtree> {
    let n = hi - lo;
    let mut cur = lo;
    (0..64u8).rev().filter_map(move |level| {
        if (n >> level) & 1 == 1 {
            let st = Subtree {
                level,
                index: cur >> level,
            };
            debug_assert_eq!(cur & ((1u64 << level) - 1), 0, "unaligned range");
            cur += 1 << level;
            Some(st)
        } else {
            None
        }
    })
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A computation over a tree of known size: which subtree hashes it needs and
/// how they combine. Build one with [`ProofPlan::tree_hash`],
/// [`ProofPlan::inclusion`] or [`ProofPlan::consistency`].
#[derive(Clone, Debug)]
pub struct ProofPlan {
    /// Each output hash is `MTH(D[lo:hi])` for one of these ranges.
    ranges: Vec<(u64, u64)>,
}

impl ProofPlan {
    /// The root hash of a tree of `size` leaves (one output hash).
    pub fn tree_hash(size: u64) -> Self {
        ProofPlan {
            ranges: vec![(0, size)],
        }
    }

    /// The inclusion proof of leaf `index` in a tree of `size` leaves
    /// (RFC 9162 §2.1.3.1), leaf's sibling first.
    pub fn inclusion(index: u64, size: u64) -> Result<Self, Error> {
        if index >= size {
            return Err(Error::OutOfRange {
                what: "leaf index",
                value: index,
                size,
            });
        }
        let (mut lo, mut hi) = (0u64, size);
        let mut ranges = Vec::new();
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if index < lo + k {
                ranges.push((lo + k, hi));
                hi = lo + k;
            } else {
                ranges.push((lo, lo + k));
                lo += k;
            }
        }
        ranges.reverse();
        Ok(ProofPlan { ranges })
    }

    /// The consistency proof from a tree of `old` leaves to one of `new`
    /// leaves (RFC 9162 §2.1.4.1). Empty when `old` is 0 or equals `new`.
    pub fn consistency(old: u64, new: u64) -> Result<Self, Error> {
        if old > new {
            return Err(Error::OutOfRange {
                what: "old size",
                value: old,
                size: new,
            });
        }
        let mut ranges = Vec::new();
        if old == 0 || old == new {
            return Ok(ProofPlan { ranges });
        }
        // SUBPROOF(m, D[lo:hi], b), unrolled; `old` stays absolute.
        let (mut lo, mut hi, mut whole) = (0u64, new, true);
        loop {
            if old == hi {
                if !whole {
                    ranges.push((lo, hi));
                }
                break;
            }
            let k = split_point(hi - lo);
            if old - lo <= k {
                ranges.push((lo + k, hi));
                hi = lo + k;
            } else {
                ranges.push((lo, lo + k));
                lo += k;
                whole = false;
            }
        }
        ranges.reverse();
        Ok(ProofPlan { ranges })
    }

    /// The complete subtrees whose hashes [`ProofPlan::finish`] needs, sorted
    /// and without repeats.
    pub fn subtrees(&self) -> Vec<Subtree> {
        let set: BTreeSet<Subtree> = self
            .ranges
            .iter()
            .flat_map(|&(lo, hi)| range_subtrees(lo, hi))
            .collect();
        set.into_iter().collect()
    }

    /// Folds looked-up subtree hashes into the output: the proof hashes, or
    /// the single root for [`ProofPlan::tree_hash`].
    pub fn finish(
        &self,
        mut lookup: impl FnMut(Subtree) -> Result<Hash, Error>,
    ) -> Result<Vec<Hash>, Error> {
        let mut out = Vec::with_capacity(self.ranges.len());
        for &(lo, hi) in &self.ranges {
            if lo == hi {
                out.push(empty_root());
                continue;
            }
            let parts = range_subtrees(lo, hi)
                .map(&mut lookup)
                .collect::<Result<Vec<_>, _>>()?;
            let mut iter = parts.into_iter().rev();
            let last = iter.next().ok_or(Error::InvalidProof("empty range"))?;
            out.push(iter.fold(last, |acc, left| node_hash(&left, &acc)));
        }
        Ok(out)
    }
}

/// Checks that `proof` proves `leaf` is at `index` in the tree of `size`
/// leaves with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    if index >= size {
        return Err(Error::OutOfRange {
            what: "leaf index",
            value: index,
            size,
        });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(Error::InvalidProof("too many hashes"));
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(Error::InvalidProof("too many hashes for the tree size"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Error::InvalidProof("too few hashes for the tree size"));
    }
    if r != *root {
        return Err(Error::InvalidProof(
            "inclusion proof does not lead to the root",
        ));
    }
    Ok(())
}

/// Checks that `proof` proves the tree of `new` leaves with root `new_root`
/// extends the tree of `old` leaves with root `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), Error> {
    if old > new {
        return Err(Error::OutOfRange {
            what: "old size",
            value: old,
            size: new,
        });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(Error::InvalidProof(
                "proof between equal sizes must be empty",
            ));
        }
        if old_root != new_root {
            return Err(Error::InvalidProof("different roots for the same size"));
        }
        return Ok(());
    }
    if old == 0 {
        // The empty tree is a prefix of every tree.
        if !proof.is_empty() {
            return Err(Error::InvalidProof(
                "proof from the empty tree must be empty",
            ));
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(Error::InvalidProof("empty consistency proof"));
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(Error::InvalidProof("too many hashes"));
    }
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());

    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*path[0], *path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(Error::InvalidProof("too many hashes for the tree sizes"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Error::InvalidProof("too few hashes for the tree sizes"));
    }
    if fr != *old_root {
        return Err(Error::InvalidProof(
            "consistency proof does not lead to the old root",
        ));
    }
    if sr != *new_root {
        return Err(Error::InvalidProof(
            "consistency proof does not lead to the new root",
        ));
    }
    Ok(())
}

/// A tree held entirely in memory, computed by the RFC's recursive
/// definition. A reference for tests and for small trees; logs use tiles.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    leaves: Vec<Hash>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.leaves.push(leaf);
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// `MTH(D[lo:hi])` by the recursive definition (RFC 9162 §2.1.1).
    pub fn range_hash(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        match n {
            0 => empty_root(),
            1 => self.leaves[lo as usize],
            _ => {
                let k = split_point(n);
                node_hash(&self.range_hash(lo, lo + k), &self.range_hash(lo + k, hi))
            }
        }
    }

    /// Root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Hash {
        self.range_hash(0, size)
    }

    /// Hash of a complete subtree, if the tree has all its leaves.
    pub fn subtree(&self, st: Subtree) -> Result<Hash, Error> {
        if st.end() > self.size() {
            return Err(Error::NotFound(format!(
                "subtree at level {} index {}",
                st.level, st.index
            )));
        }
        Ok(self.range_hash(st.start(), st.end()))
    }

    /// Runs a plan against this tree.
    pub fn run(&self, plan: &ProofPlan) -> Result<Vec<Hash>, Error> {
        plan.finish(|st| self.subtree(st))
    }
}

/// The right edge of a tree as its complete subtrees' hashes, left to
/// right (a "compact range" from leaf 0): at most 64 hashes, whatever the
/// size, enough to append leaves and compute the root. A verifier that
/// keeps one has checked every leaf up to its size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, largest subtree first.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.nodes.push(leaf);
        // Each trailing one of the old size closes a subtree.
        let mut carry = self.size;
        while carry & 1 == 1 {
            let right = self.nodes.pop().unwrap_or_default();
            let left = self.nodes.pop().unwrap_or_default();
            self.nodes.push(node_hash(&left, &right));
            carry >>= 1;
        }
        self.size += 1;
    }

    /// The tree hash of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The size (8 bytes, big-endian) then the hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.nodes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.nodes {
            out.extend_from_slice(&h.0);
        }
        out
    }

    /// Parses [`Frontier::to_bytes`]: one hash per set bit of the size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Corrupt("frontier: not a size and one hash per set bit".into());
        let (size, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
        let size = u64::from_be_bytes(*size);
        if rest.len() != 32 * size.count_ones() as usize {
            return Err(bad());
        }
        let nodes = rest
            .chunks_exact(32)
            .map(|c| Hash(c.try_into().unwrap_or_default()))
            .collect();
        Ok(Frontier { size, nodes })
    }
}
