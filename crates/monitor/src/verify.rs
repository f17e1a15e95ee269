//! Verification of a tiled log (C2SP tlog-tiles) from its entries up:
//! every entry is hashed, every tile is recomputed and compared byte for
//! byte with the one the log serves, and the root is compared with a
//! checkpoint whose signature was checked. The same code verifies a log
//! over HTTP and the monitor's own mirror on disk ([`TileSource`]).

use std::future::Future;

use futures::StreamExt;
use tlog::edge::{Edge, TileData};
use tlog::tile::{self, TILE_WIDTH, TileId, TileKind};
use tlog::{Checkpoint, Hash, LogReader, Storage};

/// Where a log's checkpoint, tiles and entry bundles come from.
pub trait TileSource: Sync {
    /// The bytes at a tlog-tiles path (`tile/0/000`, `tile/entries/001.p/7`).
    /// For a partial tile the source may give the full one, which starts
    /// with the same data.
    fn tile(&self, id: TileId) -> impl Future<Output = Result<Vec<u8>, Fetch>> + Send;
}

/// What receives a verification's output, in log order.
pub trait Consumer: Send {
    /// An entry, hashed into the tree (trusted only once [`extend`]
    /// returns `Ok`).
    fn entry(&mut self, index: u64, bytes: &[u8]) -> Result<(), String>;

    /// Tiles and bundles the new entries completed (recomputed: equal to
    /// the served ones unless [`Consumer::tile_differs`] let one pass).
    fn tiles(&mut self, tiles: Vec<TileData>) -> impl Future<Output = Result<(), String>> + Send;

    /// A served hash tile differs from the one the entries give. The
    /// entries are still checked against the signed root, so a consumer
    /// may note it and go on (`true`); by default it stops the
    /// verification.
    fn tile_differs(&mut self, index: Option<u64>, message: &str) -> bool {
        let _ = (index, message);
        false
    }
}

/// Why a tile could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Fetch {
    /// The source does not have it (a log that lost or hides data).
    #[error("{0} is missing")]
    Missing(String),
    /// The source could not be reached or failed; worth retrying later.
    #[error("{0}")]
    Unavailable(String),
}

/// A tiled log in a [`Storage`] (the monitor's mirror, or a log directory).
impl<S: Storage> TileSource for LogReader<S> {
    async fn tile(&self, id: TileId) -> Result<Vec<u8>, Fetch> {
        self.read_tile(id).await.map_err(|e| match e {
            tlog::Error::NotFound(p) => Fetch::Missing(p),
            other => Fetch::Unavailable(other.to_string()),
        })
    }
}

/// What stops a verification.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    /// The log contradicts itself or its checkpoint: `index` is the first
    /// entry concerned, when there is one.
    #[error("{message}")]
    Inconsistent {
        /// The entry concerned.
        index: Option<u64>,
        /// What differs.
        message: String,
    },
    /// A tile could not be fetched; nothing is wrong with the log as far as
    /// is known.
    #[error("{0}")]
    Unavailable(String),
    /// The consumer of the entries failed.
    #[error("{0}")]
    Sink(String),
}

fn inconsistent(index: Option<u64>, message: String) -> Stop {
    Stop::Inconsistent { index, message }
}

/// How many bundles are fetched ahead of the one being hashed.
const PREFETCH: usize = 16;

/// Extends `edge`, a verified tree, to the checkpoint `target`: fetches the
/// new entries and tiles from `src`, hashes every entry, recomputes every
/// tile and compares it with the served one, and checks the root. Entries
/// and the tiles they complete go to `out`, in order. On success `edge` is at `target.size`
/// and its root is `target.root`; on failure `edge` is undefined.
pub async fn extend<S: TileSource>(
    src: &S,
    edge: &mut Edge,
    target: &Checkpoint,
    out: &mut impl Consumer,
) -> Result<(), Stop> {
    let old = edge.size();
    let n = target.size;
    if n < old {
        return Err(inconsistent(
            None,
            format!("size {n} is below the verified size {old}"),
        ));
    }
    let held: Vec<Hash> = edge.tile_hashes(0).to_vec();
    let first_bundle = old / TILE_WIDTH;
    let bundles = first_bundle..n.div_ceil(TILE_WIDTH);
    let mut fetched = futures::stream::iter(bundles)
        .map(|b| async move {
            let id = TileId::entries_at(b, n).ok_or_else(|| {
                Stop::Unavailable(format!("no entry bundle {b} in a tree of {n}"))
            })?;
            let data = get(src, id).await?;
            Ok::<_, Stop>((id, data))
        })
        .buffered(PREFETCH);
    let mut done: Vec<TileData> = Vec::new();
    while let Some(next) = fetched.next().await {
        let (id, data) = next?;
        let first = id.index * TILE_WIDTH;
        let entries = tile::parse_bundle(&data)
            .map_err(|e| inconsistent(Some(first), format!("entry bundle {}: {e}", id.path())))?;
        let width = usize::from(id.width);
        if entries.len() < width {
            return Err(inconsistent(
                Some(first + entries.len() as u64),
                format!(
                    "entry bundle {} holds {} entries, the checkpoint of size {n} needs {width}: the log is truncated",
                    id.path(),
                    entries.len()
                ),
            ));
        }
        // Entries verified before must be served unchanged.
        let skip = if id.index == first_bundle {
            (old % TILE_WIDTH) as usize
        } else {
            0
        };
        for (i, (e, h)) in entries.iter().zip(&held).take(skip).enumerate() {
            if tlog::leaf_hash(e) != *h {
                return Err(inconsistent(
                    Some(first + i as u64),
                    format!(
                        "entry {} differs from the one verified at size {old}",
                        first + i as u64
                    ),
                ));
            }
        }
        for (i, e) in entries.iter().enumerate().take(width).skip(skip) {
            let index = first + i as u64;
            edge.push(e, &mut done)
                .map_err(|err| inconsistent(Some(index), format!("entry {index}: {err}")))?;
            out.entry(index, e).map_err(Stop::Sink)?;
        }
        for (tid, bytes) in &done {
            if tid.kind != TileKind::Entries {
                lenient(compare(src, *tid, bytes).await, out)?;
            }
        }
        out.tiles(std::mem::take(&mut done))
            .await
            .map_err(Stop::Sink)?;
    }
    for (tid, bytes) in edge.partial_tiles() {
        if tid.kind != TileKind::Entries {
            lenient(compare(src, tid, &bytes).await, out)?;
        }
    }
    let root = edge
        .root()
        .map_err(|e| inconsistent(None, format!("computing the root: {e}")))?;
    if root != target.root {
        return Err(inconsistent(
            None,
            format!(
                "the {n} entries hash to root {}, the checkpoint says {}",
                root.to_base64(),
                target.root.to_base64()
            ),
        ));
    }
    Ok(())
}

/// A tile comparison's outcome, passed to the consumer when it differs.
fn lenient(r: Result<(), Stop>, out: &mut impl Consumer) -> Result<(), Stop> {
    match r {
        Err(Stop::Inconsistent { index, message }) if out.tile_differs(index, &message) => Ok(()),
        other => other,
    }
}

async fn get<S: TileSource>(src: &S, id: TileId) -> Result<Vec<u8>, Stop> {
    src.tile(id).await.map_err(|e| match e {
        Fetch::Missing(p) => inconsistent(
            Some(id.index * TILE_WIDTH),
            format!("{p} is missing from the log"),
        ),
        Fetch::Unavailable(why) => Stop::Unavailable(format!("{}: {why}", id.path())),
    })
}

/// Compares a recomputed hash tile with the served one.
async fn compare<S: TileSource>(src: &S, id: TileId, computed: &[u8]) -> Result<(), Stop> {
    let mut served = get(src, id).await?;
    let want = computed.len();
    // A full tile stands in for a partial one: its first hashes.
    if served.len() == TILE_WIDTH as usize * Hash::LEN && want < served.len() {
        served.truncate(want);
    }
    if served == computed {
        return Ok(());
    }
    let level = id.level().unwrap_or(0);
    let span = 1u64 << (8 * u32::from(level));
    let i = served
        .chunks(Hash::LEN)
        .zip(computed.chunks(Hash::LEN))
        .position(|(a, b)| a != b)
        .unwrap_or(served.len().min(want) / Hash::LEN);
    let first = (id.index * TILE_WIDTH + i as u64) * span;
    Err(inconsistent(
        Some(first),
        if served.len() != want {
            format!(
                "tile {} is {} bytes, the entries give {want}",
                id.path(),
                served.len()
            )
        } else {
            format!(
                "tile {} hash {i} (entries {first}..={}) differs from the hash of the entries",
                id.path(),
                first + span - 1
            )
        },
    ))
}

/// Rebuilds the verified edge at `size` from a mirror's stored partial
/// tiles, and checks it against the verified `root`.
pub async fn restore<S: Storage>(
    mirror: &LogReader<S>,
    size: u64,
    root: &Hash,
) -> Result<Edge, String> {
    if size == 0 {
        return Ok(Edge::new());
    }
    let bundle = match TileId::entries_at(size / TILE_WIDTH, size) {
        Some(id) if !id.is_full() => {
            let entries = mirror.read_entries(id).await.map_err(|e| e.to_string())?;
            let mut b = Vec::new();
            for e in &entries {
                tile::push_entry(&mut b, e).map_err(|e| e.to_string())?;
            }
            b
        }
        _ => Vec::new(),
    };
    let mut levels = Vec::new();
    let mut level = 0u8;
    while tile::level_count(level, size) > 0 {
        let count = tile::level_count(level, size);
        let hashes = match TileId::hashes_at(level, count / TILE_WIDTH, size) {
            Some(id) if !id.is_full() => mirror.read_hashes(id).await.map_err(|e| e.to_string())?,
            _ => Vec::new(),
        };
        levels.push(hashes);
        level += 1;
    }
    let edge = Edge::from_parts(size, bundle, levels).map_err(|e| e.to_string())?;
    let computed = edge.root().map_err(|e| e.to_string())?;
    if computed != *root {
        return Err(format!(
            "the mirror's tiles at size {size} give root {}, the verified checkpoint says {}",
            computed.to_base64(),
            root.to_base64()
        ));
    }
    Ok(edge)
}
