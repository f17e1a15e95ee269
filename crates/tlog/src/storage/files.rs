//! The files driver: a log in a local directory, optionally made durable
//! by a write-ahead [journal](super::journal).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::durable::{create_dirs, sync_dir};
use super::journal::{self, Journal};
use super::placing::{PLACE_EVERY, Placing};
use super::{Storage, WriterGuard};
use crate::Error;

/// A log in a local directory. Each file is written whole under a temporary
/// name and renamed into place, so a reader sees it wholly old or wholly new.
///
/// Durability comes one of two ways:
/// - by default, a write flushes every file and directory it touches
///   before it returns;
/// - [journaled](FsStorage::journaled), a write appends one
///   [record](journal::Record) to a journal segment under `.journal/` and
///   flushes that alone. Its files are put in place lazily (see
///   [`placing`](super::placing): newest versions only, every
///   [`PLACE_EVERY`]; this storage's readers see them meanwhile), made
///   durable in the background once the segment is full, and the segment
///   is then deleted. After a crash, [`Storage::claim_writer`] applies
///   what the journal holds again, so until a writer has claimed the log,
///   its files may be older than its journal.
#[derive(Clone, Debug)]
pub struct FsStorage {
    root: Arc<PathBuf>,
    journal: Option<Journaled>,
}

/// The journal of a journaled storage, and its files waiting to be placed.
#[derive(Clone, Debug)]
struct Journaled {
    journal: Arc<Journal>,
    placing: Arc<Placing>,
}

const TMP_DIR: &str = ".tmp";
const LOCK_FILE: &str = ".lock";
const JOURNAL_DIR: &str = ".journal";
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
            journal: None,
        })
    }

    /// This storage, made durable by a write-ahead journal whose segments
    /// grow to about `segment_bytes` (see the type's documentation and
    /// [`JOURNAL_SEGMENT_BYTES`](super::JOURNAL_SEGMENT_BYTES)). Only the
    /// log's one writer should write through it.
    pub fn journaled(self, segment_bytes: u64) -> Self {
        let journaled = Journaled {
            journal: Arc::new(Journal::new(self.root.join(JOURNAL_DIR), segment_bytes)),
            placing: Arc::new(Placing::default()),
        };
        // The placer ends with the last clone of this storage.
        let (root, journal, placing) = (
            Arc::downgrade(&self.root),
            Arc::downgrade(&journaled.journal),
            Arc::downgrade(&journaled.placing),
        );
        let placer = std::thread::Builder::new()
            .name("tlog-placer".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(PLACE_EVERY);
                    let (Some(root), Some(journal), Some(placing)) =
                        (root.upgrade(), journal.upgrade(), placing.upgrade())
                    else {
                        return;
                    };
                    // A failure stops all writing (see `place`); the next
                    // write reports it.
                    let _ = place(&root, &journal, &placing);
                }
            });
        // Without a thread of its own, files are still placed when the
        // journal rotates, on a delete, and when it settles.
        drop(placer);
        FsStorage {
            journal: Some(journaled),
            ..self
        }
    }

    /// Puts every file written so far in place, makes them durable and
    /// empties the journal (a no-op without one). A writer may call it
    /// before it stops; nothing is lost if it does not.
    pub async fn settle(&self) -> Result<(), Error> {
        let Some(j) = self.journal.clone() else {
            return Ok(());
        };
        let root = Arc::clone(&self.root);
        blocking(move || {
            place(&root, &j.journal, &j.placing)?;
            j.journal.settle()
        })
        .await
    }

    /// Puts the files waiting for it in place now (a no-op without a
    /// journal).
    fn place_now(&self) -> Result<(), Error> {
        match &self.journal {
            Some(j) => place(&self.root, &j.journal, &j.placing),
            None => Ok(()),
        }
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
        self.replay_journal()?;
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
            || path.split('/').any(|c| {
                c.is_empty()
                    || c == "."
                    || c == ".."
                    || c == TMP_DIR
                    || c == LOCK_FILE
                    || c == JOURNAL_DIR
            })
        {
            return Err(Error::malformed(
                "storage path",
                format!("{path:?} is not a relative log path"),
            ));
        }
        Ok(self.root.join(path))
    }

    fn write_blocking(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let targets = self.targets(&files)?;
        let Some(j) = &self.journal else {
            let staged: Vec<(&str, &[u8], &Path)> = files
                .iter()
                .zip(&targets)
                .map(|((path, data), target)| (path.as_str(), data.as_slice(), target.as_path()))
                .collect();
            return put_files(&self.root, &staged, true);
        };
        let files: Vec<(String, Arc<Vec<u8>>)> = files
            .into_iter()
            .map(|(path, data)| (path, Arc::new(data)))
            .collect();
        let full = j.journal.write(&files)?;
        j.placing.add(files, targets);
        if full {
            self.place_now()?;
            j.journal.rotate();
        }
        Ok(())
    }

    /// Where `files` go, their directories created.
    fn targets<D>(&self, files: &[(String, D)]) -> Result<Vec<PathBuf>, Error> {
        let mut targets = Vec::with_capacity(files.len());
        for (path, _) in files {
            let target = self.resolve(path)?;
            if let Some(parent) = target.parent()
                && !parent.is_dir()
            {
                create_dirs(parent)?;
            }
            targets.push(target);
        }
        Ok(targets)
    }

    /// Applies every record the journal holds, in order, makes the files
    /// durable, and deletes the segments.
    fn replay_journal(&self) -> Result<(), Error> {
        journal::replay(&self.root.join(JOURNAL_DIR), |files| {
            let targets = self.targets(files)?;
            let staged: Vec<(&str, &[u8], &Path)> = files
                .iter()
                .zip(&targets)
                .map(|((path, data), target)| (path.as_str(), data.as_slice(), target.as_path()))
                .collect();
            put_files(&self.root, &staged, false)?;
            Ok(targets)
        })
    }
}

/// Puts the files waiting in `placing` in place and notes them in the
/// journal; on failure nothing more may be written (the journal holds
/// them for the next claim).
fn place(root: &Path, journal: &Journal, placing: &Placing) -> Result<(), Error> {
    match placing.place(|files| put_files(root, files, false)) {
        Ok(placed) => {
            journal.placed(placed);
            Ok(())
        }
        Err(e) => {
            journal.fail();
            Err(e)
        }
    }
}

/// Stores each file (path, data, target) under a temporary name and
/// renames it into place, in order; with `flush`, the files and their
/// directories are durable on return.
fn put_files(root: &Path, files: &[(&str, &[u8], &Path)], flush: bool) -> Result<(), Error> {
    let tmp_dir = root.join(TMP_DIR);
    if !tmp_dir.is_dir() {
        create_dirs(&tmp_dir)?;
    }
    let mut staged = Vec::with_capacity(files.len());
    for (i, (path, data, target)) in files.iter().enumerate() {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = tmp_dir.join(format!("{}-{n}-{i}", std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(*path, e))?;
        f.write_all(data).map_err(|e| Error::io(*path, e))?;
        if flush {
            f.sync_data().map_err(|e| Error::io(*path, e))?;
        }
        staged.push((tmp, target));
    }
    for (tmp, target) in &staged {
        std::fs::rename(tmp, target).map_err(|e| Error::io(target.display().to_string(), e))?;
    }
    if flush {
        let dirs: BTreeSet<&Path> = files.iter().filter_map(|(_, _, t)| t.parent()).collect();
        for dir in dirs {
            sync_dir(dir)?;
        }
    }
    Ok(())
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
        if let Some(waiting) = self.journal.as_ref().and_then(|j| j.placing.read(path)) {
            return Ok(Some(waiting));
        }
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

    async fn write_then(
        &self,
        mut files: Vec<(String, Vec<u8>)>,
        last: Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        if self.journal.is_none() {
            self.write(files).await?;
            return self.write(last).await;
        }
        // One journal record is replayed whole, and its files are put in
        // place in order: `last` goes after the others.
        files.extend(last);
        self.write(files).await
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        let resolved = paths
            .iter()
            .map(|p| self.resolve(p))
            .collect::<Result<Vec<_>, _>>()?;
        let this = self.clone();
        blocking(move || {
            // In order: what was written before the delete goes in place
            // first (a path deleted now may be written again after).
            this.place_now()?;
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
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let p = self.resolve(dir)?;
        let waiting = self
            .journal
            .as_ref()
            .map(|j| j.placing.names_under(dir))
            .unwrap_or_default();
        let dir = dir.to_owned();
        blocking(move || {
            let entries = match std::fs::read_dir(&p) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(waiting.into_iter().collect());
                }
                Err(e) => return Err(Error::io(dir, e)),
            };
            let mut names = waiting;
            for e in entries {
                let e = e.map_err(|err| Error::io(dir.clone(), err))?;
                names.insert(e.file_name().to_string_lossy().into_owned());
            }
            Ok(names.into_iter().collect())
        })
        .await
    }
}
