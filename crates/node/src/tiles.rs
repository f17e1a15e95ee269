//! A read cache over a log's storage for the node's own reads (receipts,
//! exports, the tile endpoints). Tiles and entry bundles never change once
//! a checkpoint covers them (a partial tile's path names its width), so
//! they are cached by path; the checkpoint and listings are not.

use quick_cache::sync::Cache;
use tlog::storage::WriterGuard;
use tlog::{Error, Storage};

/// How many tiles the cache holds (a full tile is 8 KiB of hashes; entry
/// bundles vary): bounds its memory to tens of MiB.
const TILES: usize = 4096;

/// `S` with tile reads cached. Read-only: writes are refused, so the
/// sequencer can never be handed a cache.
pub struct CachedTiles<S> {
    inner: S,
    cache: Cache<String, Vec<u8>>,
}

impl<S> CachedTiles<S> {
    /// A cache over `inner`.
    pub fn new(inner: S) -> Self {
        CachedTiles {
            inner,
            cache: Cache::new(TILES),
        }
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
        let mem = tlog::MemStorage::new();
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
}
