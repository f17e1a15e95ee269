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
//! And a lease: [`claim_writer`](Storage::claim_writer) takes the `lease`
//! object (conditional writes again) and renews it every third of its
//! length; another writer is refused while it holds it ([`Error::Locked`],
//! saying for how long), and a standby takes over once it has run out.
//! A writer stops writing a third of the lease before its end, so a
//! standby that starts at the end meets no write of the old one — given
//! clocks that agree within that third; every request times out after a
//! third of the lease (1 s at least), so a write started before the
//! deadline ends before the lease does (for leases of 3 s and more).
//!
//! [S3 conditional writes]: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// How long a writer's lease on the log lasts unless renewed (renewed
    /// every third of it); a standby takes over once it has run out.
    pub lease: Duration,
}

/// The path of the writer's lease, beside the log's objects.
const LEASE_PATH: &str = "lease";

/// A log in an S3-compatible bucket; see the module docs.
#[derive(Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    prefix: String,
    /// The checkpoint's version as this writer last wrote or claimed it
    /// (`None` before a claim, `Some(None)` when the log had none).
    fence: Arc<Mutex<Option<Option<UpdateVersion>>>>,
    /// Until when this writer may write (ms since the epoch): its lease's
    /// end less a third of it, so that it stops before a standby can start.
    writable_until: Arc<std::sync::atomic::AtomicU64>,
    lease: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The lease object: who holds the log, until when — two lines, the
/// holder's random id and the end in ms since the epoch.
struct Lease {
    holder: String,
    until_ms: u64,
}

impl Lease {
    fn to_bytes(&self) -> Vec<u8> {
        format!("{}\n{}\n", self.holder, self.until_ms).into_bytes()
    }

    fn parse(bytes: &[u8]) -> Option<Lease> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let holder = lines.next()?.to_owned();
        let until_ms = lines.next()?.parse().ok()?;
        Some(Lease { holder, until_ms })
    }
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
        let lease = config.lease.max(Duration::from_millis(300));
        // A write started before the writer's deadline ends within a third
        // of the lease (the margin before the lease's end), or fails: the
        // lease's guarantee for leases of 3 s and more.
        let options = object_store::ClientOptions::new()
            .with_timeout((lease / 3).max(Duration::from_secs(1)))
            .with_allow_http(config.allow_http);
        let store = AmazonS3Builder::new()
            .with_client_options(options)
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
            writable_until: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
            lease,
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

    /// Refuses a write once this writer's lease may have run out.
    fn check_lease(&self) -> Result<(), Error> {
        let until = self
            .writable_until
            .load(std::sync::atomic::Ordering::Relaxed);
        if now_ms() >= until {
            return Err(Error::Fenced(
                "lease (not renewed in time: a standby may hold the log)".into(),
            ));
        }
        Ok(())
    }

    /// Takes the lease if it is free or has run out; `Ok(Err(ms))` with
    /// how long another writer still holds it.
    async fn take_lease(&self, holder: &str) -> Result<Result<UpdateVersion, u64>, Error> {
        let key = self.key(LEASE_PATH);
        let mode = match self.store.get(&key).await {
            Ok(got) => {
                let version = UpdateVersion {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let bytes = got.bytes().await.map_err(|e| io(LEASE_PATH, e))?;
                let held = Lease::parse(&bytes);
                match held {
                    Some(l) if l.until_ms > now_ms() && l.holder != holder => {
                        return Ok(Err(l.until_ms - now_ms()));
                    }
                    _ => PutMode::Update(version),
                }
            }
            Err(object_store::Error::NotFound { .. }) => PutMode::Create,
            Err(e) => return Err(io(LEASE_PATH, e)),
        };
        self.put_lease(holder, mode).await
    }

    /// Writes the lease for `holder` from now; `Err(0)` if another writer
    /// changed it first.
    async fn put_lease(
        &self,
        holder: &str,
        mode: PutMode,
    ) -> Result<Result<UpdateVersion, u64>, Error> {
        let start = now_ms();
        let lease_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        let body = Lease {
            holder: holder.to_owned(),
            until_ms: start.saturating_add(lease_ms),
        }
        .to_bytes();
        match self
            .store
            .put_opts(&self.key(LEASE_PATH), body.into(), mode.into())
            .await
        {
            Ok(put) => {
                // Counted from before the write: it may have taken a while.
                self.writable_until.store(
                    start.saturating_add(lease_ms - lease_ms / 3),
                    std::sync::atomic::Ordering::Relaxed,
                );
                Ok(Ok(put.into()))
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Ok(Err(0)),
            Err(e) => Err(io(LEASE_PATH, e)),
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
        self.check_lease()?;
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
        // The lease first: one writer at a time, a standby once it ran out.
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error::Io {
            path: LEASE_PATH.into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let holder = hex::encode(id);
        let mut lease = match self.take_lease(&holder).await? {
            Ok(version) => version,
            Err(0) => {
                return Err(Error::Locked(format!(
                    "{}: another sequencer took the lease at the same moment",
                    self.store
                )));
            }
            Err(left_ms) => {
                return Err(Error::Locked(format!(
                    "{}: another sequencer holds the lease for {:.1} s more",
                    self.store,
                    left_ms as f64 / 1000.0
                )));
            }
        };
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
        // Renewed every third of the lease while the guard lives; a failed
        // renewal leaves the deadline as it was, so writes stop by it.
        let me = self.clone();
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(me.lease / 3).await;
                match me.put_lease(&holder, PutMode::Update(lease.clone())).await {
                    Ok(Ok(v)) => lease = v,
                    Ok(Err(_)) => return, // taken over: writes stop at the deadline
                    Err(_) => {}          // unreachable for now: try again
                }
            }
        });
        Ok(WriterGuard(Some(Box::new(Renewing(renew)))))
    }
}

/// The lease's renewal, stopped with the writer's guard.
struct Renewing(tokio::task::JoinHandle<()>);

impl Drop for Renewing {
    fn drop(&mut self) {
        self.0.abort();
    }
}
