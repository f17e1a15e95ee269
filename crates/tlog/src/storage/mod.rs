//! Where a log's checkpoint, tiles and entry bundles live: the [`Storage`]
//! trait, and its drivers, one module each. With the witness client, the
//! only part of this crate that does I/O.
//!
//! Paths are the tlog-tiles resource paths (`checkpoint`, `tile/0/000`, …),
//! so any driver that stores them as named objects can serve the log as
//! static files. [`FsStorage`] (`files`, with its write-ahead [`journal`])
//! is the local default, [`MemStorage`] (`memory`) the model for tests,
//! and `S3Storage` (`s3`, feature `s3`) an S3-compatible bucket (each
//! write a whole-object PUT, conditional where two writers could meet).
//! [`CachedTiles`] (`cache`) wraps any of them to serve tiles from memory.

mod cache;
mod durable;
mod files;
pub mod journal;
mod memory;
mod placing;
#[cfg(feature = "s3")]
mod s3;

use std::future::Future;

use crate::Error;

pub use cache::{CachedTiles, Warming};
pub use files::FsStorage;
pub use journal::JOURNAL_SEGMENT_BYTES;
pub use memory::MemStorage;
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Storage};

/// Storage of named, immutable-once-committed objects.
pub trait Storage: Send + Sync + 'static {
    /// Reads an object; `Ok(None)` if it does not exist.
    fn read(&self, path: &str) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Writes objects so that each one is either wholly old or wholly new
    /// after a crash, and all are durable when this returns.
    fn write(
        &self,
        files: Vec<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Writes `files`, then `last`, so that `last` is never durable without
    /// `files` (a checkpoint after the tiles it covers). The default is two
    /// [`write`](Storage::write)s in turn; a backend that makes one write
    /// whole after a crash can do it in one.
    fn write_then(
        &self,
        files: Vec<(String, Vec<u8>)>,
        last: Vec<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async move {
            self.write(files).await?;
            self.write(last).await
        }
    }

    /// Deletes objects, or folders with everything under them; a missing
    /// one is not an error. A delete need not be durable: the log deletes
    /// only what it no longer reads, and a crash may bring it back.
    fn delete(&self, paths: Vec<String>) -> impl Future<Output = Result<(), Error>> + Send;

    /// Names (not full paths) of the objects and folders directly under the
    /// folder `dir`, e.g. `tile/0/001.p` lists `3`, `17`.
    fn list(&self, dir: &str) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    /// Called once by the sequencer before it writes: makes sure no other
    /// writer works on this log (two writers could sign a fork), and
    /// discards leftovers of writes a crash interrupted. Readers never call it.
    /// The returned guard keeps the claim until dropped.
    fn claim_writer(&self) -> impl Future<Output = Result<WriterGuard, Error>> + Send;
}

/// Proof of the writer's claim on a log (see [`Storage::claim_writer`]);
/// the claim ends when it is dropped.
pub struct WriterGuard(#[allow(dead_code)] Option<Box<dyn Send + Sync>>);

impl WriterGuard {
    /// A guard that holds nothing, for backends whose writes need no lock.
    pub fn none() -> Self {
        WriterGuard(None)
    }
}

impl std::fmt::Debug for WriterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterGuard")
    }
}
