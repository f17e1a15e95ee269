//! The one error type of this crate.

use std::io;

/// Everything that can go wrong in `tlog`.
///
/// Messages name what was wrong (a path, a line, a size) and never carry
/// entry contents, which belong to the application.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input did not parse: `what` names the kind of input, `why` the defect.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// The kind of input, e.g. "checkpoint" or "tile path".
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// An inclusion or consistency proof does not verify.
    #[error("invalid proof: {0}")]
    InvalidProof(&'static str),
    /// A leaf index or tree size that the tree at hand cannot have.
    #[error("{what} {value} is out of range for a tree of size {size}")]
    OutOfRange {
        /// What the number is ("index", "size").
        what: &'static str,
        /// The offending number.
        value: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// A signed note whose signatures do not verify against the trusted keys.
    #[error("signature verification failed: {0}")]
    Unverified(String),
    /// A checkpoint of another log than the one expected.
    #[error("checkpoint origin {found:?} does not match the expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller trusts.
        expected: String,
        /// The origin found in the checkpoint.
        found: String,
    },
    /// Entries are length-prefixed with a uint16 in entry bundles.
    #[error("entry of {0} bytes is larger than the 65535 bytes an entry bundle can hold")]
    EntryTooLarge(usize),
    /// Stored log data contradicts itself or the signed checkpoint.
    #[error("log data is corrupt: {0}")]
    Corrupt(String),
    /// A file the tree at hand needs is not in storage.
    #[error("missing from storage: {0}")]
    NotFound(String),
    /// The log directory holds no checkpoint: run `init` first.
    #[error("no log here: {0}")]
    NotInitialized(String),
    /// The log already exists and `init` would overwrite it.
    #[error("a log already exists here: {0}")]
    AlreadyInitialized(String),
    /// Another writer holds the log: only one sequencer may write it.
    #[error("another process is writing the log in {0}")]
    Locked(String),
    /// Another sequencer committed to the log since this one claimed it:
    /// this one must stop (object storage's conditional write is the fence).
    #[error("fenced: another sequencer wrote {0} since this one claimed the log")]
    Fenced(String),
    /// An I/O failure in the storage backend.
    #[error("storage I/O on {path}: {source}")]
    Io {
        /// The storage path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The sequencer stopped (shut down, or failed to persist a batch).
    #[error("sequencer unavailable: {0}")]
    Sequencer(String),
    /// The sequencer's queue is full: nothing was queued; retry later
    /// (the pushback of a saturated log).
    #[error("the sequencer is saturated: {0} entries did not fit in its queue")]
    Busy(usize),
    /// A witness answered `409 Conflict`: its latest cosigned size differs.
    #[error("witness holds a checkpoint of size {latest}, not the old size sent")]
    WitnessConflict {
        /// The size of the latest checkpoint the witness cosigned.
        latest: u64,
    },
    /// A witness refused the checkpoint with another status.
    #[error("witness refused with HTTP {status}: {message}")]
    WitnessRefused {
        /// HTTP status code.
        status: u16,
        /// The first line of the witness's answer.
        message: String,
    },
    /// The witness could not be reached.
    #[error("witness request failed: {0}")]
    Http(String),
}

impl Error {
    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Error::Malformed {
            what,
            why: why.into(),
        }
    }

    pub(crate) fn io(path: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
