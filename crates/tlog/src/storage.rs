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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

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

/// A log in a local directory. Each file is written whole under a temporary
/// name and renamed into place, so a reader sees it wholly old or wholly new.
///
/// Durability comes one of two ways:
/// - by default, a write flushes every file and directory it touches
///   before it returns;
/// - [journaled](FsStorage::journaled), a write appends one
///   [record](crate::journal) to a journal segment under `.journal/` and
///   flushes that alone; the files are made durable in the background once
///   the segment is full, and the segment is then deleted. After a crash,
///   [`Storage::claim_writer`] applies what the journal holds again, so
///   until a writer has claimed the log, its files may be older than its
///   journal.
#[derive(Clone, Debug)]
pub struct FsStorage {
    root: Arc<PathBuf>,
    journal: Option<Arc<Journal>>,
}

const TMP_DIR: &str = ".tmp";
const LOCK_FILE: &str = ".lock";
const JOURNAL_DIR: &str = ".journal";
/// The size at which a journaled storage starts a new segment.
pub const JOURNAL_SEGMENT_BYTES: u64 = 32 << 20;
/// The pause after each file a segment's retirement flushes: a burst of
/// flushes queues the writer's own behind it (in the node bench, pacing
/// halved the requests slower than 15 ms; retirements took ~30–80 ms of a
/// segment's ~0.7 s). The pauses stop once the next segment is half full,
/// or the writer waits for the retirement to end.
const RETIRE_PACE: Duration = Duration::from_micros(500);
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
    /// [`JOURNAL_SEGMENT_BYTES`]). Only the log's one writer should write
    /// through it.
    pub fn journaled(self, segment_bytes: u64) -> Self {
        let journal = Journal {
            dir: self.root.join(JOURNAL_DIR),
            segment_bytes,
            state: std::sync::Mutex::new(JournalState::default()),
        };
        FsStorage {
            journal: Some(Arc::new(journal)),
            ..self
        }
    }

    /// Makes every file written so far durable in place and empties the
    /// journal (a no-op without one). A writer may call it before it stops;
    /// nothing is lost if it does not.
    pub async fn settle(&self) -> Result<(), Error> {
        let Some(journal) = self.journal.clone() else {
            return Ok(());
        };
        blocking(move || journal.settle()).await
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
        let tmp_dir = self.root.join(TMP_DIR);
        if !tmp_dir.is_dir() {
            create_dirs(&tmp_dir)?;
        }
        let targets = self.targets(&files)?;
        match &self.journal {
            None => self.put_files(&files, &targets, true),
            Some(journal) => {
                let mut state = journal.lock();
                journal.append(&mut state, &files)?;
                // Durable now: the files follow without flushes (the
                // segment's retirement flushes them). Should they fail to,
                // stop writing: what was written is only whole in the
                // journal, which the next claim replays.
                if let Err(e) = self.put_files(&files, &targets, false) {
                    state.broken = true;
                    return Err(e);
                }
                state.written.extend(targets);
                if state.len >= journal.segment_bytes {
                    journal.rotate(&mut state);
                } else if state.len >= journal.segment_bytes / 2
                    && let Some(retiring) = &state.retiring
                {
                    // Half full already: the retirement must not pace itself
                    // into the next rotation.
                    retiring.hurry.store(true, Ordering::Relaxed);
                }
                Ok(())
            }
        }
    }

    /// Where `files` go, their directories created.
    fn targets(&self, files: &[(String, Vec<u8>)]) -> Result<Vec<PathBuf>, Error> {
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

    /// Stores each file under a temporary name and renames it into place;
    /// with `flush`, the files and their directories are durable on return.
    fn put_files(
        &self,
        files: &[(String, Vec<u8>)],
        targets: &[PathBuf],
        flush: bool,
    ) -> Result<(), Error> {
        let tmp_dir = self.root.join(TMP_DIR);
        let mut staged = Vec::with_capacity(files.len());
        for (i, ((path, data), target)) in files.iter().zip(targets).enumerate() {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = tmp_dir.join(format!("{}-{n}-{i}", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(path.clone(), e))?;
            f.write_all(data).map_err(|e| Error::io(path.clone(), e))?;
            if flush {
                f.sync_data().map_err(|e| Error::io(path.clone(), e))?;
            }
            staged.push((tmp, target));
        }
        for (tmp, target) in &staged {
            std::fs::rename(tmp, target).map_err(|e| Error::io(target.display().to_string(), e))?;
        }
        if flush {
            let dirs: BTreeSet<&Path> = targets.iter().filter_map(|t| t.parent()).collect();
            for dir in dirs {
                sync_dir(dir)?;
            }
        }
        Ok(())
    }

    /// Applies every record the journal holds, in order, makes the files
    /// durable, and deletes the segments.
    fn replay_journal(&self) -> Result<(), Error> {
        let dir = self.root.join(JOURNAL_DIR);
        let segments = journal_segments(&dir)?;
        if segments.is_empty() {
            return Ok(());
        }
        let tmp_dir = self.root.join(TMP_DIR);
        create_dirs(&tmp_dir)?;
        // Every segment is checked before anything is applied.
        let last = segments.len() - 1;
        let mut decoded = Vec::with_capacity(segments.len());
        for (i, (_, path)) in segments.iter().enumerate() {
            let bytes =
                std::fs::read(path).map_err(|e| Error::io(path.display().to_string(), e))?;
            let segment = crate::journal::Segment::decode(&bytes)
                .map_err(|e| Error::Corrupt(format!("journal segment {}: {e}", path.display())))?;
            // Only the newest segment can end in an interrupted append.
            if segment.torn_tail > 0 && i != last {
                return Err(Error::Corrupt(format!(
                    "journal segment {} is damaged {} bytes before its end",
                    path.display(),
                    segment.torn_tail
                )));
            }
            decoded.push(segment);
        }
        let mut written = BTreeSet::new();
        for record in decoded.into_iter().flat_map(|s| s.records) {
            let targets = self.targets(&record.files)?;
            self.put_files(&record.files, &targets, false)?;
            written.extend(targets);
        }
        make_durable(&written, None)?;
        for (_, path) in &segments {
            std::fs::remove_file(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        }
        sync_dir(&dir)
    }
}

/// Creates missing directories and makes each new entry durable.
fn create_dirs(dir: &Path) -> Result<(), Error> {
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

/// The journal of a [journaled](FsStorage::journaled) storage.
#[derive(Debug)]
struct Journal {
    dir: PathBuf,
    segment_bytes: u64,
    state: std::sync::Mutex<JournalState>,
}

#[derive(Debug, Default)]
struct JournalState {
    /// The segment being appended to, opened at the first write.
    current: Option<(u64, std::fs::File)>,
    /// Bytes in the current segment.
    len: u64,
    /// Files written since the current segment began.
    written: BTreeSet<PathBuf>,
    /// The retirement of the previous segment, if it may still run.
    retiring: Option<Retirement>,
    /// Set when an append failed and could not be undone, or files did
    /// not follow their record: nothing more may be written.
    broken: bool,
    /// Set when a retirement failed: segments are kept from then on.
    halted: bool,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl Journal {
    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        // Every update below leaves the state whole before it can fail.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}"))
    }

    /// Appends one record and flushes it.
    fn append(&self, state: &mut JournalState, files: &[(String, Vec<u8>)]) -> Result<(), Error> {
        if state.broken {
            return Err(Error::io(
                self.dir.display().to_string(),
                std::io::Error::other("an earlier journaled write failed; restart the writer"),
            ));
        }
        if state.current.is_none() {
            self.start_segment(state)?;
        }
        let mut buf = std::mem::take(&mut state.buf);
        buf.clear();
        let encoded = crate::journal::Record::encode(files, &mut buf);
        let (seq, file) = state.current.as_mut().ok_or_else(|| {
            Error::io(
                self.dir.display().to_string(),
                std::io::Error::other("no segment"),
            )
        })?;
        let appended = encoded.and_then(|()| {
            file.write_all(&buf)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io(self.path(*seq).display().to_string(), e))
        });
        if let Err(e) = appended {
            // Cut the segment back to its last whole record, or stop.
            if file
                .set_len(state.len)
                .and_then(|()| file.sync_data())
                .is_err()
            {
                state.broken = true;
            }
            state.buf = buf;
            return Err(e);
        }
        state.len += buf.len() as u64;
        state.buf = buf;
        Ok(())
    }

    /// Opens a new, empty segment after every existing one.
    fn start_segment(&self, state: &mut JournalState) -> Result<(), Error> {
        create_dirs(&self.dir)?;
        let next = match &state.current {
            Some((seq, _)) => seq + 1,
            None => journal_segments(&self.dir)?
                .last()
                .map_or(0, |(seq, _)| seq + 1),
        };
        let path = self.path(next);
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        sync_dir(&self.dir)?;
        state.current = Some((next, file));
        state.len = 0;
        Ok(())
    }

    /// Starts a new segment and retires the full one in the background:
    /// flush the files it covers, then delete it. The write that filled it
    /// is durable already, so nothing here fails it: a segment that cannot
    /// be retired stays, with every later one, for the next claim to replay.
    fn rotate(&self, state: &mut JournalState) {
        if state.halted {
            return;
        }
        // One retirement at a time, in order: a segment may only go once
        // the ones before it are gone, or a replay could apply it after
        // newer records.
        if let Some(previous) = state.retiring.take()
            && previous.finish().is_err()
        {
            state.halted = true;
            return;
        }
        let Some((seq, _)) = state.current else {
            return;
        };
        if self.start_segment(state).is_err() {
            return; // The current segment grows; the next write tries again.
        }
        let written = std::mem::take(&mut state.written);
        let (dir, full) = (self.dir.clone(), self.path(seq));
        let hurry = Arc::new(AtomicBool::new(false));
        let paced = Arc::clone(&hurry);
        state.retiring = Some(Retirement {
            hurry,
            thread: std::thread::spawn(move || retire(&dir, &full, &written, Some(&paced))),
        });
    }

    fn settle(&self) -> Result<(), Error> {
        let mut state = self.lock();
        if state.halted {
            return Err(Error::io(
                self.dir.display().to_string(),
                std::io::Error::other("a journal segment could not be retired; restart the writer"),
            ));
        }
        if let Some(previous) = state.retiring.take() {
            previous.finish()?;
        }
        let Some((seq, _)) = state.current else {
            return Ok(());
        };
        self.start_segment(&mut state)?;
        let written = std::mem::take(&mut state.written);
        retire(&self.dir, &self.path(seq), &written, None)
    }
}

/// Makes the files a full segment covers durable, then deletes it.
fn retire(
    dir: &Path,
    segment: &Path,
    written: &BTreeSet<PathBuf>,
    hurry: Option<&AtomicBool>,
) -> Result<(), Error> {
    make_durable(written, hurry)?;
    std::fs::remove_file(segment).map_err(|e| Error::io(segment.display().to_string(), e))?;
    sync_dir(dir)
}

/// A segment's retirement, running on a thread of its own.
#[derive(Debug)]
struct Retirement {
    hurry: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<(), Error>>,
}

impl Retirement {
    /// Waits for the retirement to end, unpaced from now on.
    fn finish(self) -> Result<(), Error> {
        self.hurry.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| {
            Err(Error::io(
                "journal",
                std::io::Error::other("the segment retirement panicked"),
            ))
        })
    }
}

/// The journal's segments, oldest first.
fn journal_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir.display().to_string(), e)),
    };
    let mut segments = Vec::new();
    for e in entries {
        let e = e.map_err(|err| Error::io(dir.display().to_string(), err))?;
        let name = e.file_name();
        let seq = name
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                Error::Corrupt(format!("{} is not a journal segment", e.path().display()))
            })?;
        segments.push((seq, e.path()));
    }
    segments.sort();
    Ok(segments)
}

/// Flushes each file that still exists (deleted ones need not survive)
/// and the directories that name them. Given `hurry`, it pauses for
/// [`RETIRE_PACE`] after each file until `hurry` is set.
fn make_durable(files: &BTreeSet<PathBuf>, hurry: Option<&AtomicBool>) -> Result<(), Error> {
    let mut dirs = BTreeSet::new();
    for path in files {
        match std::fs::File::open(path) {
            Ok(f) => {
                f.sync_data()
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                if hurry.is_some_and(|h| !h.load(Ordering::Relaxed)) {
                    std::thread::sleep(RETIRE_PACE);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        }
        if let Some(dir) = path.parent() {
            dirs.insert(dir);
        }
    }
    for dir in dirs {
        match sync_dir(dir) {
            // Deleted since, with what it held: nothing to keep.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            r => r?,
        }
    }
    Ok(())
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
        blocking(move || {
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
