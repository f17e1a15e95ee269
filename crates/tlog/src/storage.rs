//! Where a log's checkpoint, tiles and entry bundles live. The only module
//! of this crate that does I/O (with the witness client).
//!
//! Paths are the tlog-tiles resource paths (`checkpoint`, `tile/0/000`, …),
//! so any backend that stores them as named objects can serve the log as
//! static files. [`FsStorage`] is the local default; the trait is shaped so an
//! S3-compatible object store (each write a whole-object PUT, listing by
//! prefix) can implement it.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

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

    /// Deletes objects, or folders with everything under them; a missing
    /// one is not an error.
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

/// A log in a local directory, written atomically: temp file, fsync,
/// rename, fsync of the directory.
#[derive(Clone, Debug)]
pub struct FsStorage {
    root: Arc<PathBuf>,
}

const TMP_DIR: &str = ".tmp";
const LOCK_FILE: &str = ".lock";
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FsStorage {
    /// Storage rooted at `root`, which must exist. Opening changes nothing
    /// on disk; see [`Storage::claim_writer`].
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root: PathBuf = root.into();
        if !root.is_dir() {
            return Err(Error::NotInitialized(root.display().to_string()));
        }
        Ok(FsStorage {
            root: Arc::new(root),
        })
    }

    fn claim_blocking(&self) -> Result<WriterGuard, Error> {
        let path = self.root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked(self.root.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(path.display().to_string(), e));
            }
        }
        // Leftovers of writes a crash interrupted; no other writer runs.
        let tmp = self.root.join(TMP_DIR);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(tmp.display().to_string(), e))?;
        }
        Ok(WriterGuard(Some(Box::new(file))))
    }

    /// The directory this storage lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, Error> {
        // Paths come from this crate's tile ids, but refuse anything that
        // could leave the root all the same.
        if path.is_empty()
            || path.starts_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c == TMP_DIR || c == LOCK_FILE)
        {
            return Err(Error::malformed(
                "storage path",
                format!("{path:?} is not a relative log path"),
            ));
        }
        Ok(self.root.join(path))
    }

    fn write_blocking(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let tmp_dir = self.root.join(TMP_DIR);
        if !tmp_dir.is_dir() {
            self.create_dirs(&tmp_dir)?;
        }
        let mut staged = Vec::with_capacity(files.len());
        let mut dirs = BTreeSet::new();
        for (i, (path, data)) in files.iter().enumerate() {
            let target = self.resolve(path)?;
            let parent = target
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| (*self.root).clone());
            if !parent.is_dir() {
                self.create_dirs(&parent)?;
            }
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = tmp_dir.join(format!("{}-{n}-{i}", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(path.clone(), e))?;
            f.write_all(data).map_err(|e| Error::io(path.clone(), e))?;
            f.sync_data().map_err(|e| Error::io(path.clone(), e))?;
            staged.push((tmp, target));
            dirs.insert(parent);
        }
        for (tmp, target) in &staged {
            std::fs::rename(tmp, target).map_err(|e| Error::io(target.display().to_string(), e))?;
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Creates missing directories and makes each new entry durable.
    fn create_dirs(&self, dir: &Path) -> Result<(), Error> {
        let mut missing = Vec::new();
        let mut cur = dir;
        while !cur.is_dir() {
            missing.push(cur.to_path_buf());
            cur = cur
                .parent()
                .ok_or_else(|| Error::NotFound(dir.display().to_string()))?;
        }
        for d in missing.iter().rev() {
            match std::fs::create_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(d.display().to_string(), e)),
            }
            if let Some(parent) = d.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir.display().to_string(), e))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("storage task", std::io::Error::other(e.to_string())))?
}

impl Storage for FsStorage {
    async fn claim_writer(&self) -> Result<WriterGuard, Error> {
        let this = self.clone();
        blocking(move || this.claim_blocking()).await
    }

    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let p = self.resolve(path)?;
        let path = path.to_owned();
        blocking(move || match std::fs::read(&p) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // A directory where a file is expected (e.g. `tile/0/001.p`).
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        })
        .await
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let this = self.clone();
        blocking(move || this.write_blocking(files)).await
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        let resolved = paths
            .iter()
            .map(|p| self.resolve(p))
            .collect::<Result<Vec<_>, _>>()?;
        blocking(move || {
            let mut dirs = BTreeSet::new();
            for p in resolved {
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                match r {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(p.display().to_string(), e)),
                }
                if let Some(parent) = p.parent() {
                    dirs.insert(parent.to_path_buf());
                }
            }
            for d in dirs {
                sync_dir(&d)?;
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let p = self.resolve(dir)?;
        let dir = dir.to_owned();
        blocking(move || {
            let entries = match std::fs::read_dir(&p) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(Error::io(dir, e)),
            };
            let mut names = Vec::new();
            for e in entries {
                let e = e.map_err(|err| Error::io(dir.clone(), err))?;
                names.push(e.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        })
        .await
    }
}

/// A log held in memory: for tests, and a model of what an object store
/// backend must do. Nothing survives the process.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    objects: Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>>,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Storage for MemStorage {
    async fn claim_writer(&self) -> Result<WriterGuard, Error> {
        Ok(WriterGuard::none())
    }

    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock().get(path).cloned())
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let mut map = self.lock();
        for (p, d) in files {
            map.insert(p, d);
        }
        Ok(())
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        let mut map = self.lock();
        for p in paths {
            let prefix = format!("{p}/");
            map.retain(|k, _| *k != p && !k.starts_with(&prefix));
        }
        Ok(())
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let map = self.lock();
        let names: BTreeSet<String> = map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_owned))
            .collect();
        Ok(names.into_iter().collect())
    }
}
