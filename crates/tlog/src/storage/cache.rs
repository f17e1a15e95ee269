//! A read cache over a log's storage, for a log server's own reads
//! (receipts, exports, the tile endpoints). Tiles and entry bundles never
//! change once a checkpoint covers them (a partial tile's path names its
//! width), so they are cached by path; the checkpoint and listings are not.
//!
//! The sequencer writes through [`Warming`], which hands the hash tiles of
//! each committed batch to the cache: a receipt for a fresh entry needs the
//! log's edge tiles, just written, and so reads nothing from disk.

use std::sync::{Arc, Mutex, PoisonError};

use quick_cache::sync::Cache;

use super::{Storage, WriterGuard};
use crate::Error;
use crate::reader::CHECKPOINT_PATH;

/// How many tiles the cache holds (a full tile is 8 KiB of hashes; entry
/// bundles vary): bounds its memory to tens of MiB.
const TILES: usize = 4096;

/// `S` with tile reads cached. Read-only: writes are refused, so the
/// sequencer can never be handed a cache.
pub struct CachedTiles<S> {
    inner: S,
    cache: Arc<Cache<String, Vec<u8>>>,
}

impl<S> CachedTiles<S> {
    /// A cache over `inner`.
    pub fn new(inner: S) -> Self {
        CachedTiles {
            inner,
            cache: Arc::new(Cache::new(TILES)),
        }
    }

    /// The storage for the log's sequencer, `writes`: it writes there and
    /// warms this cache with what it commits.
    pub fn warmed_by<W>(&self, writes: W) -> Warming<W> {
        Warming {
            inner: writes,
            cache: Arc::clone(&self.cache),
            pending: Mutex::new(Vec::new()),
        }
    }
}

/// A sequencer's storage that warms a [`CachedTiles`]: the hash tiles of a
/// write are kept aside, and enter the cache only once a checkpoint is
/// stored after them — tiles of a batch that failed before its
/// checkpoint are rewritten by the next and must never be served.
pub struct Warming<S> {
    inner: S,
    cache: Arc<Cache<String, Vec<u8>>>,
    pending: Mutex<Vec<(String, Vec<u8>)>>,
}

/// The hash tiles among `files` (receipts need no entry bundles).
fn hash_tiles(files: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .filter(|(path, _)| path.starts_with("tile/") && !path.starts_with("tile/entries/"))
        .cloned()
        .collect()
}

impl<S> Warming<S> {
    /// After a write of `tiles`: a stored checkpoint lets them, and those
    /// kept aside, into the cache; a failed write discards them all.
    fn warm(&self, tiles: Vec<(String, Vec<u8>)>, commits: bool, written: bool) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match (written, commits) {
            (true, true) => {
                for (path, data) in pending.drain(..).chain(tiles) {
                    self.cache.insert(path, data);
                }
            }
            // The tiles of this batch, replacing any of a failed one.
            (true, false) => *pending = tiles,
            (false, _) => pending.clear(),
        }
    }
}

impl<S: Storage> Storage for Warming<S> {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.read(path).await
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let tiles = hash_tiles(&files);
        let commits = files.iter().any(|(path, _)| path == CHECKPOINT_PATH);
        let written = self.inner.write(files).await;
        self.warm(tiles, commits, written.is_ok());
        written
    }

    async fn write_then(
        &self,
        files: Vec<(String, Vec<u8>)>,
        last: Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        let mut tiles = hash_tiles(&files);
        tiles.extend(hash_tiles(&last));
        let commits = files
            .iter()
            .chain(&last)
            .any(|(path, _)| path == CHECKPOINT_PATH);
        let written = self.inner.write_then(files, last).await;
        self.warm(tiles, commits, written.is_ok());
        written
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        self.inner.delete(paths).await
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        self.inner.list(dir).await
    }

    async fn claim_writer(&self) -> Result<WriterGuard, Error> {
        self.inner.claim_writer().await
    }
}

impl<S: Storage> Storage for CachedTiles<S> {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        if !path.starts_with("tile/") {
            return self.inner.read(path).await;
        }
        if let Some(hit) = self.cache.get(path) {
            return Ok(Some(hit));
        }
        let read = self.inner.read(path).await?;
        if let Some(bytes) = &read {
            self.cache.insert(path.to_owned(), bytes.clone());
        }
        Ok(read)
    }

    async fn write(&self, _files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        Err(Error::Sequencer("a tile cache is read-only".into()))
    }

    async fn delete(&self, _paths: Vec<String>) -> Result<(), Error> {
        Err(Error::Sequencer("a tile cache is read-only".into()))
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        self.inner.list(dir).await
    }

    async fn claim_writer(&self) -> Result<WriterGuard, Error> {
        Err(Error::Sequencer("a tile cache is read-only".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tiles_are_read_once_and_the_checkpoint_always() {
        let mem = crate::MemStorage::new();
        mem.write(vec![
            ("tile/0/000".into(), b"v1".to_vec()),
            ("checkpoint".into(), b"c1".to_vec()),
        ])
        .await
        .unwrap();
        let cached = CachedTiles::new(mem.clone());
        assert_eq!(cached.read("tile/0/000").await.unwrap().unwrap(), b"v1");
        assert_eq!(cached.read("checkpoint").await.unwrap().unwrap(), b"c1");
        mem.write(vec![
            ("tile/0/000".into(), b"v2".to_vec()),
            ("checkpoint".into(), b"c2".to_vec()),
        ])
        .await
        .unwrap();
        assert_eq!(
            cached.read("tile/0/000").await.unwrap().unwrap(),
            b"v1",
            "tiles are immutable: cached"
        );
        assert_eq!(
            cached.read("checkpoint").await.unwrap().unwrap(),
            b"c2",
            "the checkpoint is not"
        );
        assert!(cached.read("tile/0/001").await.unwrap().is_none());
        assert!(cached.write(vec![]).await.is_err());
        assert!(cached.claim_writer().await.is_err());
    }

    #[tokio::test]
    async fn committed_tiles_warm_the_cache_and_a_failed_batch_never_does() {
        let disk = crate::MemStorage::new();
        let cached = CachedTiles::new(disk.clone());
        let writes = cached.warmed_by(disk.clone());
        // A batch whose checkpoint never came: its tiles stay out.
        writes
            .write(vec![("tile/0/000.p/3".into(), b"failed".to_vec())])
            .await
            .unwrap();
        // The next batch rewrites the same path, then commits.
        writes
            .write(vec![
                ("tile/0/000.p/3".into(), b"good".to_vec()),
                ("tile/entries/000.p/3".into(), b"entries".to_vec()),
            ])
            .await
            .unwrap();
        writes
            .write(vec![("checkpoint".into(), b"c".to_vec())])
            .await
            .unwrap();
        // Served from memory even once the file is gone from disk.
        disk.delete(vec!["tile/0/000.p/3".into(), "tile/entries/000.p/3".into()])
            .await
            .unwrap();
        assert_eq!(
            cached.read("tile/0/000.p/3").await.unwrap().unwrap(),
            b"good"
        );
        assert!(
            cached.read("tile/entries/000.p/3").await.unwrap().is_none(),
            "entry bundles are not warmed"
        );
    }

    #[tokio::test]
    async fn tiles_written_with_their_checkpoint_warm_the_cache() {
        let disk = crate::MemStorage::new();
        let cached = CachedTiles::new(disk.clone());
        let writes = cached.warmed_by(disk.clone());
        writes
            .write_then(
                vec![("tile/0/000.p/1".into(), b"hashes".to_vec())],
                vec![("checkpoint".into(), b"c".to_vec())],
            )
            .await
            .unwrap();
        disk.delete(vec!["tile/0/000.p/1".into()]).await.unwrap();
        assert_eq!(
            cached.read("tile/0/000.p/1").await.unwrap().unwrap(),
            b"hashes"
        );
    }
}
