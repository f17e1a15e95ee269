//! The S3 driver: a log as objects in an S3-compatible bucket, at their
//! tlog-tiles paths under a prefix, so the bucket serves the log as a
//! static site.
//!
//! Every write is a whole-object PUT, atomic on its own. Two sequencers
//! can never both commit ([S3 conditional writes]):
//!
//! - tiles and entry bundles are created, never replaced
//!   (`If-None-Match: *`); one already there with the same bytes is the
//!   same write done again, with other bytes a conflict ([`Error::Fenced`]);
//! - the checkpoint is replaced only if it is still the version this
//!   writer claimed or last wrote (`If-Match: <ETag>`): of two writers,
//!   the first to commit fences the other out.
//!
//! Not yet: a lease, so that a writer taking over a dead one's log can
//! delete what it left beyond the checkpoint while a writer that is only
//! paused cannot still commit over it. Until then, one sequencer per log
//! (the embedded default).
//!
//! [S3 conditional writes]: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html

use std::sync::{Arc, Mutex, PoisonError};

use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, UpdateVersion};

use super::{Storage, WriterGuard};
use crate::Error;
use crate::reader::CHECKPOINT_PATH;

/// How many objects are written at once.
const PARALLEL_PUTS: usize = 16;

/// Where a log lives in an S3-compatible object store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    /// The endpoint URL (`https://s3.eu-west-3.amazonaws.com`, or a local
    /// server's).
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The folder of this log in the bucket (empty for the root).
    pub prefix: String,
    /// The signing region.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// Whether a plain `http://` endpoint is allowed (a local test server).
    pub allow_http: bool,
}

/// A log in an S3-compatible bucket; see the module docs.
#[derive(Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    prefix: String,
    /// The checkpoint's version as this writer last wrote or claimed it
    /// (`None` before a claim, `Some(None)` when the log had none).
    fence: Arc<Mutex<Option<Option<UpdateVersion>>>>,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Storage({})", self.store)
    }
}

fn io(path: &str, e: object_store::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

impl S3Storage {
    /// Connects to the bucket (nothing is sent until the first request).
    pub fn new(config: &S3Config) -> Result<Self, Error> {
        // TLS by rustls with ring, whatever else the process uses; a
        // provider already installed is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_allow_http(config.allow_http)
            .build()
            .map_err(|e| Error::Malformed {
                what: "object store settings",
                why: e.to_string(),
            })?;
        Ok(S3Storage {
            store: Arc::new(store),
            prefix: config.prefix.trim_matches('/').to_owned(),
            fence: Arc::new(Mutex::new(None)),
        })
    }

    fn key(&self, path: &str) -> Path {
        let path = path.trim_matches('/');
        if self.prefix.is_empty() {
            Path::from(path)
        } else {
            Path::from(format!("{}/{path}", self.prefix))
        }
    }

    fn fence(&self) -> std::sync::MutexGuard<'_, Option<Option<UpdateVersion>>> {
        self.fence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an object; one already there with the same bytes is fine.
    async fn create(&self, path: &str, data: Vec<u8>) -> Result<(), Error> {
        let key = self.key(path);
        let put = self
            .store
            .put_opts(&key, data.clone().into(), PutMode::Create.into())
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => match self.read(path).await? {
                Some(held) if held == data => Ok(()),
                _ => Err(Error::Fenced(path.to_owned())),
            },
            Err(e) => Err(io(path, e)),
        }
    }

    /// Replaces the checkpoint if it is still the version this writer
    /// holds (creates it if the log has none).
    async fn commit_checkpoint(&self, data: Vec<u8>) -> Result<(), Error> {
        let held = self.fence().clone();
        let mode = match held {
            Some(Some(version)) => PutMode::Update(version),
            // Not claimed (creating a log), or claimed with none there.
            Some(None) | None => PutMode::Create,
        };
        let key = self.key(CHECKPOINT_PATH);
        match self.store.put_opts(&key, data.into(), mode.into()).await {
            Ok(put) => {
                let mut fence = self.fence();
                if fence.is_some() {
                    *fence = Some(Some(put.into()));
                }
                Ok(())
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(Error::Fenced(CHECKPOINT_PATH.to_owned())),
            Err(e) => Err(io(CHECKPOINT_PATH, e)),
        }
    }
}

impl Storage for S3Storage {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.store.get(&self.key(path)).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(|e| io(path, e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io(path, e)),
        }
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let (checkpoint, objects): (Vec<_>, Vec<_>) =
            files.into_iter().partition(|(p, _)| p == CHECKPOINT_PATH);
        futures::stream::iter(objects)
            .map(|(path, data)| async move { self.create(&path, data).await })
            .buffer_unordered(PARALLEL_PUTS)
            .try_collect::<Vec<()>>()
            .await?;
        for (_, data) in checkpoint {
            self.commit_checkpoint(data).await?;
        }
        Ok(())
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        for path in paths {
            let key = self.key(&path);
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io(&path, e)),
            }
            // A folder: everything under it.
            let under: Vec<Path> = self
                .store
                .list(Some(&key))
                .map_ok(|m| m.location)
                .try_collect()
                .await
                .map_err(|e| io(&path, e))?;
            for k in under {
                match self.store.delete(&k).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(io(&path, e)),
                }
            }
        }
        Ok(())
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let key = self.key(dir);
        let listed = self
            .store
            .list_with_delimiter(Some(&key))
            .await
            .map_err(|e| io(dir, e))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .chain(listed.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn claim_writer(&self) -> Result<WriterGuard, Error> {
        // The checkpoint's version now: this writer's commits are
        // conditional on it, so a writer that commits in between fences
        // this one out (and this one, committing first, fences that one).
        let key = self.key(CHECKPOINT_PATH);
        let version = match self.store.head(&key).await {
            Ok(meta) => Some(UpdateVersion {
                e_tag: meta.e_tag,
                version: meta.version,
            }),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(io(CHECKPOINT_PATH, e)),
        };
        *self.fence() = Some(version);
        Ok(WriterGuard::none())
    }
}
