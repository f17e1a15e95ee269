//! Verification of a tiled log (C2SP tlog-tiles) from its entries up:
//! every entry is hashed, every tile is recomputed and compared byte for
//! byte with the one the log serves, and the root is compared with a
//! checkpoint whose signature was checked. The same code verifies a log
//! over HTTP, a monitor's mirror and a log directory ([`TileSource`]).
//!
//! What the log gets wrong is a [`Discrepancy`]: data, so that each caller
//! words it for its readers.

use std::future::Future;

use futures::StreamExt as _;

use crate::edge::{Edge, TileData};
use crate::tile::{self, TILE_WIDTH, TileId, TileKind};
use crate::{Checkpoint, Hash, LogReader, Storage};

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
    fn tile_differs(&mut self, found: &Discrepancy) -> bool {
        let _ = found;
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

/// A GET of a public log resource: its bytes, `None` on 404, otherwise
/// [`Fetch::Unavailable`] naming the status (never the URL, which may
/// carry a token).
pub async fn fetch(req: reqwest::RequestBuilder) -> Result<Option<Vec<u8>>, Fetch> {
    let resp = req
        .send()
        .await
        .map_err(|e| Fetch::Unavailable(e.without_url().to_string()))?;
    match resp.status().as_u16() {
        200 => Ok(Some(
            resp.bytes()
                .await
                .map_err(|e| Fetch::Unavailable(e.without_url().to_string()))?
                .to_vec(),
        )),
        404 => Ok(None),
        s => Err(Fetch::Unavailable(format!("HTTP {s}"))),
    }
}

/// A tiled log served over HTTP at `base` (`{base}/checkpoint`,
/// `{base}/tile/…`): a node's `/log`, or a bucket serving the objects
/// [`crate::storage`]'s S3 driver wrote, as a static site.
#[derive(Clone, Debug)]
pub struct HttpTiles {
    client: reqwest::Client,
    base: String,
}

impl HttpTiles {
    /// The log at `base` (a trailing `/` is ignored).
    pub fn new(client: reqwest::Client, base: &str) -> Self {
        HttpTiles {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The resource at a tlog-tiles path; `None` if it is not served.
    pub async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, Fetch> {
        fetch(self.client.get(format!("{}/{path}", self.base))).await
    }

    /// Entry `index` of the served tree of `size` leaves, from its bundle.
    pub async fn entry(&self, index: u64, size: u64) -> Result<Vec<u8>, Fetch> {
        let id = TileId::entries_at(index / TILE_WIDTH, size)
            .filter(|_| index < size)
            .ok_or_else(|| {
                Fetch::Unavailable(format!("entry {index} is not in a tree of {size}"))
            })?;
        let bundle = self.tile(id).await?;
        let entries = tile::parse_bundle(&bundle)
            .map_err(|e| Fetch::Unavailable(format!("{}: {e}", id.path())))?;
        usize::try_from(index % TILE_WIDTH)
            .ok()
            .and_then(|at| entries.get(at))
            .map(|e| e.to_vec())
            .ok_or_else(|| Fetch::Unavailable(format!("{} is short", id.path())))
    }
}

impl TileSource for HttpTiles {
    async fn tile(&self, id: TileId) -> Result<Vec<u8>, Fetch> {
        self.get(&id.path())
            .await?
            .ok_or_else(|| Fetch::Missing(id.path()))
    }
}

/// A tiled log in a [`Storage`] (a monitor's mirror, or a log directory).
impl<S: Storage> TileSource for LogReader<S> {
    async fn tile(&self, id: TileId) -> Result<Vec<u8>, Fetch> {
        self.read_tile(id).await.map_err(|e| match e {
            crate::Error::NotFound(p) => Fetch::Missing(p),
            other => Fetch::Unavailable(other.to_string()),
        })
    }
}

/// What stops a verification.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    /// The log contradicts itself or its checkpoint.
    #[error("{0}")]
    Inconsistent(Discrepancy),
    /// A tile could not be fetched; nothing is wrong with the log as far as
    /// is known.
    #[error("{0}")]
    Unavailable(String),
    /// The consumer of the entries failed.
    #[error("{0}")]
    Sink(String),
}

/// How a log contradicts itself or its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Discrepancy {
    /// The checkpoint is smaller than the tree already verified.
    #[error("size {size} is below the verified size {verified}")]
    Shrunk {
        /// The checkpoint's size.
        size: u64,
        /// The size verified before.
        verified: u64,
    },
    /// A tile or bundle the tree needs is not served.
    #[error("{path} is missing from the log")]
    Missing {
        /// Its path.
        path: String,
        /// The first entry it covers.
        first: u64,
    },
    /// An entry bundle does not parse.
    #[error("entry bundle {path}: {why}")]
    Bundle {
        /// Its path.
        path: String,
        /// Its first entry.
        first: u64,
        /// What is wrong with it.
        why: String,
    },
    /// An entry bundle holds fewer entries than the checkpoint needs.
    #[error(
        "entry bundle {path} holds {held} entries, the checkpoint of size {size} needs {needed}: the log is truncated"
    )]
    Truncated {
        /// Its path.
        path: String,
        /// Its first entry.
        first: u64,
        /// How many entries it holds.
        held: usize,
        /// How many the checkpoint needs.
        needed: usize,
        /// The checkpoint's size.
        size: u64,
    },
    /// An entry verified before is served changed.
    #[error("entry {index} differs from the one verified at size {verified}")]
    Changed {
        /// The entry.
        index: u64,
        /// The size verified before.
        verified: u64,
    },
    /// An entry cannot be hashed into the tree.
    #[error("entry {index}: {why}")]
    Entry {
        /// The entry.
        index: u64,
        /// Why.
        why: String,
    },
    /// A served hash tile has another length than the recomputed one.
    #[error("tile {path} is {served} bytes, the entries give {computed}")]
    TileLength {
        /// Its path.
        path: String,
        /// The first entry under its first differing hash.
        first: u64,
        /// The served tile's length.
        served: usize,
        /// The recomputed tile's length.
        computed: usize,
    },
    /// A hash of a served tile is not the one the entries give.
    #[error(
        "tile {} hash {hash} (entries {first}..={}) differs from the hash of the entries",
        id.path(),
        first + span - 1
    )]
    TileHash {
        /// The tile.
        id: TileId,
        /// The hash's position in the tile.
        hash: usize,
        /// The first entry under the hash.
        first: u64,
        /// How many entries are under it.
        span: u64,
        /// The served hash.
        served: Hash,
        /// The hash the entries give.
        computed: Hash,
    },
    /// The tree's root cannot be computed.
    #[error("computing the root: {0}")]
    NoRoot(String),
    /// The entries give another root than the checkpoint's.
    #[error(
        "the {size} entries hash to root {}, the checkpoint says {}",
        computed.to_base64(),
        signed.to_base64()
    )]
    Root {
        /// The checkpoint's size.
        size: u64,
        /// The root the entries give.
        computed: Hash,
        /// The checkpoint's root.
        signed: Hash,
    },
}

impl Discrepancy {
    /// The first entry concerned, when there is one.
    pub fn index(&self) -> Option<u64> {
        match self {
            Discrepancy::Missing { first, .. }
            | Discrepancy::Bundle { first, .. }
            | Discrepancy::TileLength { first, .. }
            | Discrepancy::TileHash { first, .. } => Some(*first),
            Discrepancy::Truncated { first, held, .. } => Some(first + *held as u64),
            Discrepancy::Changed { index, .. } | Discrepancy::Entry { index, .. } => Some(*index),
            Discrepancy::Shrunk { .. } | Discrepancy::NoRoot(_) | Discrepancy::Root { .. } => None,
        }
    }
}

/// How many bundles are fetched ahead of the one being hashed.
const PREFETCH: usize = 16;

/// Extends `edge`, a verified tree, to the checkpoint `target`: fetches the
/// new entries and tiles from `src`, hashes every entry, recomputes every
/// tile and compares it with the served one, and checks the root. Entries
/// and the tiles they complete go to `out`, in order. On success `edge` is
/// at `target.size` and its root is `target.root`; on failure `edge` is
/// undefined.
pub async fn extend<S: TileSource>(
    src: &S,
    edge: &mut Edge,
    target: &Checkpoint,
    out: &mut impl Consumer,
) -> Result<(), Stop> {
    let old = edge.size();
    let n = target.size;
    if n < old {
        return Err(Stop::Inconsistent(Discrepancy::Shrunk {
            size: n,
            verified: old,
        }));
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
        let entries = tile::parse_bundle(&data).map_err(|e| {
            Stop::Inconsistent(Discrepancy::Bundle {
                path: id.path(),
                first,
                why: e.to_string(),
            })
        })?;
        let width = usize::from(id.width);
        if entries.len() < width {
            return Err(Stop::Inconsistent(Discrepancy::Truncated {
                path: id.path(),
                first,
                held: entries.len(),
                needed: width,
                size: n,
            }));
        }
        // Entries verified before must be served unchanged.
        let skip = if id.index == first_bundle {
            (old % TILE_WIDTH) as usize
        } else {
            0
        };
        for (i, (e, h)) in entries.iter().zip(&held).take(skip).enumerate() {
            if crate::leaf_hash(e) != *h {
                return Err(Stop::Inconsistent(Discrepancy::Changed {
                    index: first + i as u64,
                    verified: old,
                }));
            }
        }
        for (i, e) in entries.iter().enumerate().take(width).skip(skip) {
            let index = first + i as u64;
            edge.push(e, &mut done).map_err(|err| {
                Stop::Inconsistent(Discrepancy::Entry {
                    index,
                    why: err.to_string(),
                })
            })?;
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
        .map_err(|e| Stop::Inconsistent(Discrepancy::NoRoot(e.to_string())))?;
    if root != target.root {
        return Err(Stop::Inconsistent(Discrepancy::Root {
            size: n,
            computed: root,
            signed: target.root,
        }));
    }
    Ok(())
}

/// A tile comparison's outcome, passed to the consumer when it differs.
fn lenient(r: Result<(), Stop>, out: &mut impl Consumer) -> Result<(), Stop> {
    match r {
        Err(Stop::Inconsistent(found)) if out.tile_differs(&found) => Ok(()),
        other => other,
    }
}

async fn get<S: TileSource>(src: &S, id: TileId) -> Result<Vec<u8>, Stop> {
    src.tile(id).await.map_err(|e| match e {
        Fetch::Missing(path) => Stop::Inconsistent(Discrepancy::Missing {
            path,
            first: id.index * TILE_WIDTH,
        }),
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
    let mut pairs = served.chunks(Hash::LEN).zip(computed.chunks(Hash::LEN));
    let differing = pairs.position(|(a, b)| a != b);
    let i = differing.unwrap_or(served.len().min(want) / Hash::LEN);
    let first = (id.index * TILE_WIDTH + i as u64) * span;
    let hashes = |tile: &[u8]| Hash::from_slice(tile.get(i * Hash::LEN..(i + 1) * Hash::LEN)?).ok();
    let found = match (hashes(&served), hashes(computed)) {
        (Some(served_hash), Some(computed_hash)) if served.len() == want => Discrepancy::TileHash {
            id,
            hash: i,
            first,
            span,
            served: served_hash,
            computed: computed_hash,
        },
        _ => Discrepancy::TileLength {
            path: id.path(),
            first,
            served: served.len(),
            computed: want,
        },
    };
    Err(Stop::Inconsistent(found))
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
