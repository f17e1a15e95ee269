//! The write-ahead journal of a [journaled](super::FsStorage::journaled)
//! files driver: a write is made durable by one flush of one
//! [`Record`] appended to a segment file, instead of a flush of every file
//! and directory it touches. The files themselves are put in place after
//! (lazily: see [`super::placing`]) and made durable in the background once
//! their segment is full (its retirement), and a crash is repaired by
//! applying the records again ([`replay`]). The records' format is in
//! [`record`].

mod bases;
mod record;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::durable::{create_dirs, sync_dir};
use crate::Error;

use bases::Bases;
pub use record::{Content, Part, Record, Segment};

/// The size at which a journaled storage starts a new segment.
pub const JOURNAL_SEGMENT_BYTES: u64 = 32 << 20;
/// The pause after each file a segment's retirement flushes: a burst of
/// flushes queues the writer's own behind it (in the node bench, pacing
/// halved the requests slower than 15 ms; retirements took ~30–80 ms of a
/// segment's ~0.7 s). The pauses stop once the next segment is half full,
/// or the writer waits for the retirement to end.
const RETIRE_PACE: Duration = Duration::from_micros(500);

/// The journal of a journaled storage, in its directory of segments.
#[derive(Debug)]
pub(super) struct Journal {
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<JournalState>,
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
    /// What a file written to the current segment can extend.
    bases: Bases,
}

impl Journal {
    /// The journal in `dir`, whose segments grow to about `segment_bytes`.
    /// Nothing is created until the first write.
    pub(super) fn new(dir: PathBuf, segment_bytes: u64) -> Self {
        Journal {
            dir,
            segment_bytes,
            state: Mutex::new(JournalState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, JournalState> {
        // Every update below leaves the state whole before it can fail.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}"))
    }

    /// Appends the record of `files` and flushes it. Returns whether the
    /// segment is now full: the caller then puts every file written so far
    /// in place (each noted with [`Journal::placed`]) and calls
    /// [`Journal::rotate`]. Should files fail to follow their records, the
    /// caller calls [`Journal::fail`]: what was written is then only whole
    /// in the journal, which the next claim replays.
    pub(super) fn write(&self, files: &[(String, Arc<Vec<u8>>)]) -> Result<bool, Error> {
        let mut state = self.lock();
        self.append(&mut state, files)?;
        if state.len >= self.segment_bytes {
            return Ok(true);
        }
        if state.len >= self.segment_bytes / 2
            && let Some(retiring) = &state.retiring
        {
            // Half full already: the retirement must not pace itself
            // into the next rotation.
            retiring.hurry.store(true, Ordering::Relaxed);
        }
        Ok(false)
    }

    /// Notes files put in place, for their segment's retirement to flush.
    pub(super) fn placed(&self, targets: impl IntoIterator<Item = PathBuf>) {
        self.lock().written.extend(targets);
    }

    /// Files did not follow their records: nothing more may be written.
    pub(super) fn fail(&self) {
        self.lock().broken = true;
    }

    /// Starts a new segment and retires the full one; see [`Journal::write`].
    pub(super) fn rotate(&self) {
        let mut state = self.lock();
        self.rotate_locked(&mut state);
    }

    /// Appends one record and flushes it.
    fn append(
        &self,
        state: &mut JournalState,
        files: &[(String, Arc<Vec<u8>>)],
    ) -> Result<(), Error> {
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
        // A partial tile is journaled as what it adds to its last version.
        let parts: Vec<(&str, Part<'_>)> = files
            .iter()
            .map(|(path, data)| (path.as_str(), state.bases.part(path, data)))
            .collect();
        let encoded = Record::encode(&parts, &mut buf);
        drop(parts);
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
        for (path, data) in files {
            state.bases.note(path, Arc::clone(data));
        }
        Ok(())
    }

    /// Opens a new, empty segment after every existing one.
    fn start_segment(&self, state: &mut JournalState) -> Result<(), Error> {
        create_dirs(&self.dir)?;
        let next = match &state.current {
            Some((seq, _)) => seq + 1,
            None => segments(&self.dir)?.last().map_or(0, |(seq, _)| seq + 1),
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
        // A segment's records replay on their own.
        state.bases = Bases::default();
        Ok(())
    }

    /// Starts a new segment and retires the full one in the background:
    /// flush the files it covers, then delete it. The write that filled it
    /// is durable already, so nothing here fails it: a segment that cannot
    /// be retired stays, with every later one, for the next claim to replay.
    fn rotate_locked(&self, state: &mut JournalState) {
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

    /// Makes every file written so far durable in place and empties the
    /// journal.
    pub(super) fn settle(&self) -> Result<(), Error> {
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

impl Drop for Journal {
    /// Waits for a retirement still running: a writer opened next in this
    /// process must not find a segment that is about to go.
    fn drop(&mut self) {
        if let Some(retiring) = self.lock().retiring.take() {
            let _ = retiring.finish();
        }
    }
}

/// Applies every record the journal in `dir` holds, in order, with `put`
/// (which stores a record's files, whole, and returns where they went),
/// makes the files durable, and deletes the segments.
pub(super) fn replay(
    dir: &Path,
    mut put: impl FnMut(&[(String, Arc<Vec<u8>>)]) -> Result<Vec<PathBuf>, Error>,
) -> Result<(), Error> {
    let segments = segments(dir)?;
    if segments.is_empty() {
        return Ok(());
    }
    // Every segment is checked before anything is applied.
    let last = segments.len() - 1;
    let mut decoded = Vec::with_capacity(segments.len());
    for (i, (_, path)) in segments.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        let segment = Segment::decode(&bytes)
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
    // Including that every file that extends another finds its base.
    for segment in &decoded {
        bases::resolve_segment(&segment.records, |_| Ok(()))?;
    }
    let mut written = BTreeSet::new();
    for segment in &decoded {
        bases::resolve_segment(&segment.records, |files| {
            written.extend(put(files)?);
            Ok(())
        })?;
    }
    make_durable(&written, None)?;
    for (_, path) in &segments {
        std::fs::remove_file(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    }
    sync_dir(dir)
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
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
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
