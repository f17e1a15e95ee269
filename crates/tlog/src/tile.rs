//! C2SP tlog-tiles: tile coordinates, paths, tile contents and entry bundles
//! (<https://c2sp.org/tlog-tiles>).
//!
//! A tile at level `L` holds up to 256 consecutive hashes of Merkle level
//! `8·L`; the hashes of the seven levels in between are recomputed from them.

use crate::Error;
use crate::hash::{Hash, node_hash};
use crate::merkle::Subtree;

/// Merkle levels spanned by one tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, and entries in a full entry bundle.
pub const TILE_WIDTH: u64 = 256;
/// The highest tile level the spec allows.
pub const MAX_TILE_LEVEL: u8 = 63;

/// Whether a resource holds Merkle hashes or log entries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum TileKind {
    /// `tile/<L>/<N>`: hashes at tile level `L`.
    Hashes(u8),
    /// `tile/entries/<N>`: an entry bundle.
    Entries,
}

/// One tile or entry bundle resource: which one, and how wide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TileId {
    /// Hash tile (with its level) or entry bundle.
    pub kind: TileKind,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes or entries, 1 to 256; below 256 the tile is partial.
    pub width: u16,
}

impl TileId {
    /// The hash tile at `level`, `index` as it is in a tree of `size` leaves,
    /// or `None` if that tree has no hash in it yet.
    pub fn hashes_at(level: u8, index: u64, size: u64) -> Option<TileId> {
        width_at(level_count(level, size), index).map(|width| TileId {
            kind: TileKind::Hashes(level),
            index,
            width,
        })
    }

    /// The entry bundle `index` as it is in a tree of `size` leaves.
    pub fn entries_at(index: u64, size: u64) -> Option<TileId> {
        width_at(size, index).map(|width| TileId {
            kind: TileKind::Entries,
            index,
            width,
        })
    }

    /// True for a full (256-wide) tile.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The same tile, full width.
    pub fn full(&self) -> TileId {
        TileId {
            width: TILE_WIDTH as u16,
            ..*self
        }
    }

    /// Tile level for hash tiles, `None` for entry bundles.
    pub fn level(&self) -> Option<u8> {
        match self.kind {
            TileKind::Hashes(l) => Some(l),
            TileKind::Entries => None,
        }
    }

    /// The resource path below the log prefix, e.g. `tile/0/x001/234.p/7`.
    pub fn path(&self) -> String {
        let mut p = match self.kind {
            TileKind::Hashes(l) => format!("tile/{l}/"),
            TileKind::Entries => "tile/entries/".to_owned(),
        };
        p.push_str(&format_index(self.index));
        if !self.is_full() {
            p.push_str(&format!(".p/{}", self.width));
        }
        p
    }

    /// Parses a resource path as [`TileId::path`] writes it; anything else,
    /// including non-canonical numbers, is an error.
    pub fn parse_path(path: &str) -> Result<TileId, Error> {
        let bad = |why: &str| Error::malformed("tile path", why.to_owned());
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("must start with tile/"))?;
        let (kind_part, rest) = rest.split_once('/').ok_or_else(|| bad("no index"))?;
        let kind = if kind_part == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(kind_part, 2).ok_or_else(|| bad("level is not a number"))?;
            if level > u64::from(MAX_TILE_LEVEL) {
                return Err(bad("level above 63"));
            }
            TileKind::Hashes(level as u8)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((idx, w)) => {
                let w = parse_decimal(w, 3).ok_or_else(|| bad("width is not a number"))?;
                if !(1..TILE_WIDTH).contains(&w) {
                    return Err(bad("partial width must be 1 to 255"));
                }
                (idx, w as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let index =
            parse_index(index_part).ok_or_else(|| bad("index is not x-prefixed 3-digit groups"))?;
        Ok(TileId { kind, index, width })
    }
}

/// Number of hashes at tile level `level` in a tree of `size` leaves.
pub fn level_count(level: u8, size: u64) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// Width of tile `index` at a level holding `count` hashes, if non-empty.
fn width_at(count: u64, index: u64) -> Option<u16> {
    let start = index.checked_mul(TILE_WIDTH)?;
    if count <= start {
        return None;
    }
    Some((count - start).min(TILE_WIDTH) as u16)
}

/// Decimal with no leading zeros, at most `max_digits` digits.
fn parse_decimal(s: &str, max_digits: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Encodes a tile index as 3-digit path elements, all but the last prefixed
/// with `x`: 1234067 becomes `x001/x234/067`.
pub fn format_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Inverse of [`format_index`]; `None` for any other spelling.
pub fn parse_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    let (last, init) = parts.split_last()?;
    let mut n: u64 = 0;
    for (i, part) in init.iter().enumerate() {
        let digits = part.strip_prefix('x')?;
        let v = three_digits(digits)?;
        if i == 0 && v == 0 {
            return None; // leading zero group
        }
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// Splits tile bytes into hashes; the length must be exactly `width` hashes.
pub fn parse_hashes(id: &TileId, data: &[u8]) -> Result<Vec<Hash>, Error> {
    if data.len() != usize::from(id.width) * Hash::LEN {
        return Err(Error::malformed(
            "tile",
            format!(
                "{} is {} bytes, expected {}",
                id.path(),
                data.len(),
                usize::from(id.width) * Hash::LEN
            ),
        ));
    }
    Ok(data
        .chunks_exact(Hash::LEN)
        .map(|c| Hash(c.try_into().unwrap_or([0; 32])))
        .collect())
}

/// Serializes hashes as tile bytes.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Where the hash of `subtree` comes from: which tile (as wide as a tree of
/// `size` leaves has it) and which hashes in it fold into the subtree.
pub fn locate(subtree: Subtree, size: u64) -> Result<(TileId, std::ops::Range<usize>), Error> {
    if subtree.end() > size {
        return Err(Error::OutOfRange {
            what: "subtree end",
            value: subtree.end(),
            size,
        });
    }
    let level = subtree.level / TILE_HEIGHT;
    let r = subtree.level % TILE_HEIGHT;
    let first = subtree.index << r; // index among level-`level` hashes
    let tile_index = first / TILE_WIDTH;
    let pos = (first % TILE_WIDTH) as usize;
    let id = TileId::hashes_at(level, tile_index, size).ok_or(Error::OutOfRange {
        what: "subtree end",
        value: subtree.end(),
        size,
    })?;
    Ok((id, pos..pos + (1usize << r)))
}

/// Folds a power-of-two run of sibling hashes into their subtree hash.
pub fn fold_subtree(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

/// Hash of `subtree` computed from the hashes of the tile [`locate`] names.
/// `tile` may be wider than needed: a wider tile starts with the same hashes.
pub fn subtree_from_tile(subtree: Subtree, size: u64, tile: &[Hash]) -> Result<Hash, Error> {
    let (id, range) = locate(subtree, size)?;
    let hashes = tile
        .get(range)
        .ok_or_else(|| Error::Corrupt(format!("tile {} too short for the tree size", id.path())))?;
    Ok(fold_subtree(hashes))
}

/// Largest entry an entry bundle can hold.
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

/// Appends one entry to an entry bundle: big-endian uint16 length, then bytes.
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), Error> {
    let len = u16::try_from(entry.len()).map_err(|_| Error::EntryTooLarge(entry.len()))?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// The first `id.width` hashes or entries of `wider`, a wider version of
/// the same tile (a partial tile, or the full one): the bytes of `id`.
pub fn prefix(id: &TileId, mut wider: Vec<u8>) -> Result<Vec<u8>, Error> {
    let width = usize::from(id.width);
    let len = match id.kind {
        TileKind::Hashes(_) => width * Hash::LEN,
        TileKind::Entries => {
            let entries = parse_bundle(&wider)?;
            if entries.len() < width {
                return Err(Error::Corrupt(format!(
                    "a wider version of {} holds only {} entries",
                    id.path(),
                    entries.len()
                )));
            }
            entries[..width].iter().map(|e| 2 + e.len()).sum()
        }
    };
    if wider.len() < len {
        return Err(Error::Corrupt(format!(
            "a wider version of {} holds only {} bytes",
            id.path(),
            wider.len()
        )));
    }
    wider.truncate(len);
    Ok(wider)
}

/// Splits an entry bundle into its entries.
pub fn parse_bundle(data: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(|| {
            Error::malformed(
                "entry bundle",
                format!("truncated length after entry {}", out.len()),
            )
        })?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(Error::malformed(
                "entry bundle",
                format!(
                    "entry {} claims {len} bytes, {} remain",
                    out.len(),
                    tail.len()
                ),
            ));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
        if out.len() > TILE_WIDTH as usize {
            return Err(Error::malformed("entry bundle", "more than 256 entries"));
        }
    }
    Ok(out)
}

/// The tiles and entry bundles that make up a tree of `size` leaves, in
/// order: every entry bundle, then hash tiles level by level.
pub fn tiles_of(size: u64) -> impl Iterator<Item = TileId> {
    let bundles = (0..size.div_ceil(TILE_WIDTH)).filter_map(move |i| TileId::entries_at(i, size));
    let hashes = (0..=MAX_TILE_LEVEL)
        .take_while(move |&l| level_count(l, size) > 0)
        .flat_map(move |l| {
            (0..level_count(l, size).div_ceil(TILE_WIDTH))
                .filter_map(move |i| TileId::hashes_at(l, i, size))
        });
    bundles.chain(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_index_examples() {
        assert_eq!(format_index(1234067), "x001/x234/067");
        assert_eq!(format_index(0), "000");
        assert_eq!(format_index(999), "999");
        assert_eq!(format_index(1000), "x001/000");
        assert_eq!(parse_index("x001/x234/067"), Some(1234067));
        assert_eq!(parse_index("x000/067"), None);
        assert_eq!(parse_index("67"), None);
        assert_eq!(parse_index("x001/x234"), None);
    }

    #[test]
    fn spec_paths() {
        let t = TileId {
            kind: TileKind::Hashes(0),
            index: 1234067,
            width: 256,
        };
        assert_eq!(t.path(), "tile/0/x001/x234/067");
        let t = TileId {
            kind: TileKind::Hashes(1),
            index: 1234067,
            width: 8,
        };
        assert_eq!(t.path(), "tile/1/x001/x234/067.p/8");
        let t = TileId {
            kind: TileKind::Entries,
            index: 1234067,
            width: 256,
        };
        assert_eq!(t.path(), "tile/entries/x001/x234/067");
        for p in [
            "tile/0/x001/x234/067",
            "tile/1/x001/x234/067.p/8",
            "tile/entries/000.p/255",
            "tile/63/000",
        ] {
            assert_eq!(TileId::parse_path(p).unwrap().path(), p);
        }
        for p in [
            "tile/64/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/01/000",
            "tile/0/000.p/08",
            "tile/x/000",
            "tile/0/1",
            "tiles/0/000",
        ] {
            assert!(TileId::parse_path(p).is_err(), "{p}");
        }
    }

    #[test]
    fn spec_example_tree_of_70000() {
        // 273 full level-0 tiles and one of width 112; one full level-1 tile
        // and one of width 17; one level-2 tile of width 1.
        let tiles: Vec<TileId> = tiles_of(70_000).filter(|t| t.level().is_some()).collect();
        let l0: Vec<_> = tiles.iter().filter(|t| t.level() == Some(0)).collect();
        assert_eq!(l0.len(), 274);
        assert_eq!(l0.last().unwrap().width, 112);
        let l1: Vec<_> = tiles.iter().filter(|t| t.level() == Some(1)).collect();
        assert_eq!(
            l1.iter().map(|t| t.width).collect::<Vec<_>>(),
            vec![256, 17]
        );
        let l2: Vec<_> = tiles.iter().filter(|t| t.level() == Some(2)).collect();
        assert_eq!(l2.iter().map(|t| t.width).collect::<Vec<_>>(), vec![1]);
        // A tree of 256: a full level-0 tile and a level-1 tile of width 1.
        let t256: Vec<String> = tiles_of(256).map(|t| t.path()).collect();
        assert_eq!(
            t256,
            vec!["tile/entries/000", "tile/0/000", "tile/1/000.p/1"]
        );
    }

    #[test]
    fn bundle_round_trip_and_truncation() {
        let mut b = Vec::new();
        push_entry(&mut b, b"").unwrap();
        push_entry(&mut b, b"a").unwrap();
        assert_eq!(b, vec![0, 0, 0, 1, b'a']);
        assert_eq!(parse_bundle(&b).unwrap(), vec![&b""[..], &b"a"[..]]);
        assert!(parse_bundle(&b[..4]).is_err());
        assert!(parse_bundle(&b[..1]).is_err());
        assert!(matches!(
            push_entry(&mut b, &vec![0; 65536]),
            Err(Error::EntryTooLarge(65536))
        ));
    }
}
