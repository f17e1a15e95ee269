//! The one error type of this crate. Messages never carry field values.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite backend failed.
    #[error("sqlite: {0}")]
    Db(#[from] rusqlite::Error),
    /// The PostgreSQL backend failed.
    #[error("postgres: {0}")]
    Pg(#[from] tokio_postgres::Error),
    /// A stored schema this build does not know, or a bad connection string.
    #[error("schema: {0}")]
    Schema(String),
    /// The backend could not run a call.
    #[error("backend: {0}")]
    Backend(String),
    /// A file or directory of the store could not be used.
    #[error("{path}: {why}")]
    Io {
        /// The file or directory.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// A key file could not be read or written.
    #[error("key file {path}: {why}")]
    Keys {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// Data the catalog does not describe, or a value that is too large.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The access proof does not cover this read, or is not a logged entry.
    #[error("no logged access: {0}")]
    NotLogged(String),
    /// A ciphertext that does not authenticate (tampered, moved, or its key
    /// was destroyed).
    #[error("cannot decrypt {0}: wrong key, erased subject, or tampered data")]
    Decrypt(String),
    /// The subject is unknown (never ingested, or erased).
    #[error("unknown subject")]
    UnknownSubject,
}

impl Error {
    /// Whether another writer of a shared database wrote the same unique
    /// rows first (PostgreSQL's `unique_violation`): the write changed
    /// nothing and may be made again from what is stored now.
    pub fn is_write_conflict(&self) -> bool {
        matches!(self, Error::Pg(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }
}
