//! "No log entry, no plaintext": the only way to decrypt is to show a
//! [`LoggedAccess`], which can only be made from a [`tlog::Sequenced`] —
//! itself made only by the log's sequencer — and the very entry it
//! sequenced. The store then checks that the entry names the subject and
//! dataset being read.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::Error;

/// The part of a log entry the store reads: whom and what it covers.
/// (Log entries carry more; the node's schema embeds these two lists.)
#[derive(Deserialize)]
struct Scope {
    subjects: Vec<String>,
    datasets: Vec<String>,
}

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
    /// the subjects (pseudonyms) and datasets it names.
    pub fn new(sequenced: &tlog::Sequenced, entry: &[u8]) -> Result<Self, Error> {
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
        Ok(LoggedAccess {
            index: sequenced.index(),
            subjects: scope.subjects.into_iter().collect(),
            datasets: scope.datasets.into_iter().collect(),
        })
    }

    /// The log index of the entry.
    pub fn index(&self) -> u64 {
        self.index
    }

    pub(crate) fn check(&self, subject: &str, dataset: &str) -> Result<(), Error> {
        if !self.subjects.contains(subject) {
            return Err(Error::NotLogged(format!(
                "log entry {} does not name this subject",
                self.index
            )));
        }
        if !self.datasets.contains(dataset) {
            return Err(Error::NotLogged(format!(
                "log entry {} does not name dataset {dataset}",
                self.index
            )));
        }
        Ok(())
    }
}
