//! "No log entry, no plaintext": the only way to decrypt is to show a
//! [`LoggedAccess`], which can only be made from a [`tlog::Sequenced`] —
//! itself made only by the log's sequencer — and the very entry it
//! sequenced. The store then checks that the entry names the subject and
//! dataset being read.
//!
//! Only an allowed decision opens anything: an entry whose `decision` is
//! not `allow` is refused. An entry (schema version 2) commits to its
//! subjects by a salted set root ([`entry::SubjectSet`]): opening it takes
//! the subjects' openings, which only the region holds. Version 1 entries
//! named them as a list (`subjects`) or by an unsalted root
//! ([`entry::subject_set_root`]).

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::Error;

/// The part of a log entry the store reads: whom and what it covers.
/// (Log entries carry more; the node's schema embeds these fields.)
#[derive(Deserialize)]
struct Scope {
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    subjects_root: Option<String>,
    datasets: Vec<String>,
}

pub use entry::subject_set_root;

/// Proof that an access to some subjects' datasets was sequenced in the log.
///
/// There is no other way to make one than [`LoggedAccess::new`]; neither it
/// nor the sequencer's acknowledgement can be written as a literal:
///
/// ```compile_fail
/// let forged = store::LoggedAccess { index: 0, subjects: Default::default(), datasets: Default::default() };
/// ```
///
/// ```compile_fail
/// fn forge(checkpoint: std::sync::Arc<tlog::SignedCheckpoint>) -> tlog::Sequenced {
///     tlog::Sequenced { index: 0, leaf_hash: tlog::Hash::default(), checkpoint }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct LoggedAccess {
    index: u64,
    subjects: BTreeSet<String>,
    datasets: BTreeSet<String>,
}

impl LoggedAccess {
    /// Checks that `entry` is the entry `sequenced` acknowledges and reads
    /// the subjects (pseudonyms) and datasets it lists.
    pub fn new(sequenced: &tlog::Sequenced, entry: &[u8]) -> Result<Self, Error> {
        let scope = Self::scope(sequenced, entry)?;
        Self::listed(sequenced, scope)
    }

    fn listed(sequenced: &tlog::Sequenced, scope: Scope) -> Result<Self, Error> {
        if scope.subjects_root.is_some() {
            return Err(Error::NotLogged(
                "the entry names its subjects by a root: give the set".into(),
            ));
        }
        Ok(LoggedAccess {
            index: sequenced.index(),
            subjects: scope.subjects.into_iter().collect(),
            datasets: scope.datasets.into_iter().collect(),
        })
    }

    /// Like [`LoggedAccess::new`] for an entry that names its subjects by
    /// `subjects_root`: `subjects` must be the very set the root commits to.
    pub fn with_subjects(
        sequenced: &tlog::Sequenced,
        entry: &[u8],
        subjects: &[String],
    ) -> Result<Self, Error> {
        let scope = Self::scope(sequenced, entry)?;
        let Some(root) = scope.subjects_root.as_deref() else {
            return Self::listed(sequenced, scope);
        };
        let (set, computed) = subject_set_root(subjects);
        if computed.to_hex() != root {
            return Err(Error::NotLogged(format!(
                "the {} subjects given are not the set log entry {} commits to",
                set.len(),
                sequenced.index()
            )));
        }
        Ok(LoggedAccess {
            index: sequenced.index(),
            subjects: set.into_iter().collect(),
            datasets: scope.datasets.into_iter().collect(),
        })
    }

    /// For an entry that commits to a salted subject set: `openings` must
    /// be the very set its root commits to; the subjects they name (not the
    /// fillers) may be read.
    pub fn with_openings(
        sequenced: &tlog::Sequenced,
        entry: &[u8],
        openings: &[entry::Opening],
    ) -> Result<Self, Error> {
        let scope = Self::scope(sequenced, entry)?;
        let set = entry::SubjectSet::of(openings);
        let root = if set.is_empty() {
            None
        } else {
            Some(set.root().to_hex())
        };
        if scope.subjects_root != root || !scope.subjects.is_empty() {
            return Err(Error::NotLogged(format!(
                "the {} openings given are not the set log entry {} commits to",
                openings.len(),
                sequenced.index()
            )));
        }
        Ok(LoggedAccess {
            index: sequenced.index(),
            subjects: openings
                .iter()
                .filter(|o| !o.subject.is_empty())
                .map(|o| o.subject.clone())
                .collect(),
            datasets: scope.datasets.into_iter().collect(),
        })
    }

    fn scope(sequenced: &tlog::Sequenced, entry: &[u8]) -> Result<Scope, Error> {
        if !sequenced.is_entry(entry) {
            return Err(Error::NotLogged(
                "the entry is not the one the log sequenced".into(),
            ));
        }
        let scope: Scope = serde_json::from_slice(entry).map_err(|e| {
            Error::NotLogged(format!(
                "the entry does not name subjects and datasets: {e}"
            ))
        })?;
        // A denial is logged too, and must open nothing.
        if scope.decision.as_deref() != Some("allow") {
            return Err(Error::NotLogged(format!(
                "log entry {} does not record an allowed decision",
                sequenced.index()
            )));
        }
        Ok(scope)
    }

    /// The log index of the entry.
    pub fn index(&self) -> u64 {
        self.index
    }

    pub(crate) fn check_subject(&self, subject: &str) -> Result<(), Error> {
        if !self.subjects.contains(subject) {
            return Err(Error::NotLogged(format!(
                "log entry {} does not name this subject",
                self.index
            )));
        }
        Ok(())
    }

    pub(crate) fn check(&self, subject: &str, dataset: &str) -> Result<(), Error> {
        self.check_subject(subject)?;
        if !self.datasets.contains(dataset) {
            return Err(Error::NotLogged(format!(
                "log entry {} does not name dataset {dataset}",
                self.index
            )));
        }
        Ok(())
    }
}
