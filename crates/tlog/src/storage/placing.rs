//! The files of a journaled write, put in place lazily.
//!
//! A journaled write is durable once its journal record is flushed, so its
//! files need not be in place before it is acknowledged. They wait here,
//! where the storage's readers see them, and are put in place every
//! [`PLACE_EVERY`] by a thread of their own (or at once when the journal
//! must retire a segment, the storage deletes, or it settles) — only the
//! newest version of each: a partial tile (`….p/<width>`) that a wider
//! one or the full tile replaces is never written, since a tile only ever
//! grows at its end and readers take its first part from a wider version
//! ([`LogReader::read_tile`](crate::LogReader::read_tile)).
//!
//! Why: on a busy log each group commit wrote a partial entry bundle, a
//! partial hash tile and the checkpoint, each a new file — hundreds of
//! files created a second, on the commit's path, and on a file system
//! that avoids reusing recently freed inodes each creation grew slower as
//! the log ran. Placed every [`PLACE_EVERY`], a few files a tick remain.
//!
//! The files in place are always a whole log: a placement puts the tiles
//! first and the checkpoint that covers them last.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::Error;

/// How often waiting files are put in place.
pub(super) const PLACE_EVERY: Duration = Duration::from_millis(50);

/// Files written to the journal and not yet in place.
#[derive(Debug, Default)]
pub(super) struct Placing {
    waiting: Mutex<Waiting>,
    /// Held for a whole placement: placements run one at a time, in order.
    turn: Mutex<()>,
}

#[derive(Debug, Default)]
struct Waiting {
    /// In the order written.
    files: Vec<Unplaced>,
    /// The newest waiting data of each path.
    newest: HashMap<String, Arc<Vec<u8>>>,
}

#[derive(Debug, Clone)]
struct Unplaced {
    path: String,
    target: PathBuf,
    data: Arc<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Placing {
    /// Files whose journal record is durable, to put in place at `targets`.
    pub(super) fn add(&self, files: Vec<(String, Arc<Vec<u8>>)>, targets: Vec<PathBuf>) {
        let mut waiting = lock(&self.waiting);
        for ((path, data), target) in files.into_iter().zip(targets) {
            waiting.newest.insert(path.clone(), Arc::clone(&data));
            waiting.files.push(Unplaced { path, target, data });
        }
    }

    /// The newest data written to `path`, if it waits to be put in place.
    pub(super) fn read(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.waiting)
            .newest
            .get(path)
            .map(|d| d.as_ref().clone())
    }

    /// Names directly under the folder `dir` that waiting files add.
    pub(super) fn names_under(&self, dir: &str) -> BTreeSet<String> {
        let prefix = format!("{dir}/");
        lock(&self.waiting)
            .newest
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect()
    }

    /// Puts every waiting file in place with `put` (given (path, data,
    /// target) in order, the newest version of each only), and returns the
    /// targets written. On failure the files keep waiting (readers still
    /// see them); the journal holds them for the next claim to apply.
    pub(super) fn place(
        &self,
        put: impl FnOnce(&[(&str, &[u8], &Path)]) -> Result<(), Error>,
    ) -> Result<Vec<PathBuf>, Error> {
        let _turn = lock(&self.turn);
        let batch = lock(&self.waiting).files.clone();
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let keep = newest_only(&batch);
        let files: Vec<(&str, &[u8], &Path)> = keep
            .iter()
            .map(|f| (f.path.as_str(), f.data.as_slice(), f.target.as_path()))
            .collect();
        put(&files)?;
        let placed = keep.iter().map(|f| f.target.clone()).collect();
        // What was written since stays; what was placed is on disk now.
        let mut waiting = lock(&self.waiting);
        let placed_data: Vec<Unplaced> = waiting.files.drain(..batch.len()).collect();
        for f in placed_data {
            if waiting
                .newest
                .get(&f.path)
                .is_some_and(|d| Arc::ptr_eq(d, &f.data))
            {
                waiting.newest.remove(&f.path);
            }
        }
        Ok(placed)
    }
}

/// The files of `batch` worth writing, in order: the last version of each
/// path, and of a partial tile only the widest, if the full tile is not
/// there too.
fn newest_only(batch: &[Unplaced]) -> Vec<&Unplaced> {
    let paths: HashSet<&str> = batch.iter().map(|f| f.path.as_str()).collect();
    let mut widest: HashMap<&str, u16> = HashMap::new();
    for f in batch {
        if let Some((tile, width)) = partial(&f.path) {
            let w = widest.entry(tile).or_insert(width);
            *w = (*w).max(width);
        }
    }
    let mut seen = HashSet::new();
    let mut keep: Vec<&Unplaced> = batch
        .iter()
        .rev()
        .filter(|f| seen.insert(f.path.as_str()))
        .filter(|f| match partial(&f.path) {
            Some((tile, width)) => !paths.contains(tile) && widest.get(tile) == Some(&width),
            None => true,
        })
        .collect();
    keep.reverse();
    keep
}

/// A partial tile's path (`<tile>.p/<width>`) as the full tile's path and
/// the width.
fn partial(path: &str) -> Option<(&str, u16)> {
    let (tile, width) = path.rsplit_once(".p/")?;
    if width.is_empty() || !width.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((tile, width.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unplaced(path: &str) -> Unplaced {
        Unplaced {
            path: path.into(),
            target: PathBuf::from(path),
            data: Arc::new(path.as_bytes().to_vec()),
        }
    }

    #[test]
    fn only_the_newest_version_of_each_file_is_placed_checkpoint_last() {
        let batch: Vec<Unplaced> = [
            "tile/entries/000.p/3",
            "tile/0/000.p/3",
            "checkpoint",
            "tile/entries/000.p/7",
            "tile/0/000.p/7",
            "checkpoint",
            "tile/entries/001.p/2",
            "tile/entries/000",
            "tile/0/000",
            "tile/0/001.p/2",
            "tile/1/000.p/1",
            "checkpoint",
        ]
        .into_iter()
        .map(unplaced)
        .collect();
        let kept: Vec<&str> = newest_only(&batch)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            kept,
            [
                "tile/entries/001.p/2",
                "tile/entries/000",
                "tile/0/000",
                "tile/0/001.p/2",
                "tile/1/000.p/1",
                "checkpoint"
            ]
        );
    }

    #[test]
    fn waiting_files_are_read_and_listed_until_placed() {
        let p = Placing::default();
        p.add(
            vec![
                ("tile/0/000.p/1".into(), b"a".to_vec().into()),
                ("checkpoint".into(), b"c1".to_vec().into()),
            ],
            vec!["x/1".into(), "x/c".into()],
        );
        p.add(
            vec![
                ("tile/0/000.p/2".into(), b"ab".to_vec().into()),
                ("checkpoint".into(), b"c2".to_vec().into()),
            ],
            vec!["x/2".into(), "x/c".into()],
        );
        assert_eq!(p.read("checkpoint").unwrap(), b"c2");
        assert_eq!(p.read("tile/0/000.p/1").unwrap(), b"a");
        let names: Vec<String> = p.names_under("tile/0/000.p").into_iter().collect();
        assert_eq!(names, ["1", "2"]);
        assert_eq!(p.names_under("tile/0").len(), 1);
        // A failed placement leaves everything waiting.
        assert!(p.place(|_| Err(Error::Corrupt("disk".into()))).is_err());
        assert_eq!(p.read("checkpoint").unwrap(), b"c2");
        let mut put = Vec::new();
        let placed = p
            .place(|files| {
                put = files.iter().map(|(path, _, _)| path.to_string()).collect();
                Ok(())
            })
            .unwrap();
        assert_eq!(put, ["tile/0/000.p/2", "checkpoint"]);
        assert_eq!(placed, [PathBuf::from("x/2"), PathBuf::from("x/c")]);
        assert!(p.read("checkpoint").is_none() && p.read("tile/0/000.p/1").is_none());
    }
}
