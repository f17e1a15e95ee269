//! Where a region's log lives: its directory (journaled files, the
//! default) or, with the `s3` feature, an S3-compatible bucket — one type
//! over both, so the region, its reader and its sequencer do not care.

use std::path::Path;

use tlog::{FsStorage, Storage, WriterGuard};

use crate::Error;
use crate::config::RegionConfig;

/// A region's log storage.
#[derive(Clone, Debug)]
pub enum LogStorage {
    /// The log directory, as files.
    Files(FsStorage),
    /// A bucket.
    #[cfg(feature = "s3")]
    S3(tlog::S3Storage),
}

impl LogStorage {
    /// The storage `me` names: its bucket if it has one, else its
    /// directory (journaled when `journaled`, for the one writer).
    pub fn open(file: &Path, me: &RegionConfig, journaled: bool) -> Result<Self, Error> {
        let Some(bucket) = &me.log_bucket else {
            let files = FsStorage::open(&me.log)?;
            return Ok(LogStorage::Files(if journaled {
                files.journaled(tlog::JOURNAL_SEGMENT_BYTES)
            } else {
                files
            }));
        };
        #[cfg(feature = "s3")]
        {
            let secret = |field: &str, reference: &str| {
                crate::config::resolve_secret(reference).map_err(|why| Error::Config {
                    file: file.display().to_string(),
                    field: format!("regions.{}.log_bucket.{field}", me.id),
                    why,
                })
            };
            let config = tlog::S3Config {
                endpoint: bucket.endpoint.clone(),
                bucket: bucket.bucket.clone(),
                prefix: bucket.prefix.clone(),
                region: bucket.region.clone(),
                access_key_id: secret("access_key_id", &bucket.access_key_id)?,
                secret_access_key: secret("secret_access_key", &bucket.secret_access_key)?,
                allow_http: bucket.allow_http,
                lease: std::time::Duration::from_secs(bucket.lease_secs),
            };
            Ok(LogStorage::S3(tlog::S3Storage::new(&config)?))
        }
        #[cfg(not(feature = "s3"))]
        {
            let _ = (bucket, journaled);
            Err(Error::Config {
                file: file.display().to_string(),
                field: format!("regions.{}.log_bucket", me.id),
                why: "this build keeps logs in files only (build with the `s3` feature)".into(),
            })
        }
    }

    /// Waits until what the journal holds is in the files (nothing to do
    /// for a bucket, whose writes are whole when acknowledged).
    pub async fn settle(&self) -> Result<(), tlog::Error> {
        match self {
            LogStorage::Files(f) => f.settle().await,
            #[cfg(feature = "s3")]
            LogStorage::S3(_) => Ok(()),
        }
    }
}

impl Storage for LogStorage {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, tlog::Error> {
        match self {
            LogStorage::Files(f) => f.read(path).await,
            #[cfg(feature = "s3")]
            LogStorage::S3(s) => s.read(path).await,
        }
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), tlog::Error> {
        match self {
            LogStorage::Files(f) => f.write(files).await,
            #[cfg(feature = "s3")]
            LogStorage::S3(s) => s.write(files).await,
        }
    }

    async fn write_then(
        &self,
        files: Vec<(String, Vec<u8>)>,
        last: Vec<(String, Vec<u8>)>,
    ) -> Result<(), tlog::Error> {
        match self {
            LogStorage::Files(f) => f.write_then(files, last).await,
            #[cfg(feature = "s3")]
            LogStorage::S3(s) => s.write_then(files, last).await,
        }
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), tlog::Error> {
        match self {
            LogStorage::Files(f) => f.delete(paths).await,
            #[cfg(feature = "s3")]
            LogStorage::S3(s) => s.delete(paths).await,
        }
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, tlog::Error> {
        match self {
            LogStorage::Files(f) => f.list(dir).await,
            #[cfg(feature = "s3")]
            LogStorage::S3(s) => s.list(dir).await,
        }
    }

    async fn claim_writer(&self) -> Result<WriterGuard, tlog::Error> {
        match self {
            LogStorage::Files(f) => f.claim_writer().await,
            #[cfg(feature = "s3")]
            LogStorage::S3(s) => s.claim_writer().await,
        }
    }
}
