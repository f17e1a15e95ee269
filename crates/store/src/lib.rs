//! The regional record store: a region's personal data lives here and
//! nowhere else — ciphertext at rest, keys that never leave the region,
//! erasure that destroys the key.
//!
//! [`Store`] validates against the catalog, seals and opens; a
//! [`Backend`] moves the sealed rows: [`SqliteBackend`] (embedded default)
//! or [`PgBackend`] (for scale). Every personal or protected value is
//! encrypted with AES-256-GCM-SIV (RFC 8452) under its subject's data key,
//! the record's personal and protected fields sealed together with the
//! record's identity (subject number, dataset, record id) as associated
//! data, so a ciphertext cannot be moved to another record. A batch is
//! sealed in chunks while the backend writes the chunk before. Data keys
//! are wrapped by the region's key-encryption key
//! ([`keys::KeyProvider`]) and kept apart from the records — or, when a
//! key custodian holds the keys ([`Store::sealing_to`]), records are sealed
//! under keys derived from batch secrets only the custodian opens
//! ([`custody`]). Decryption needs a [`LoggedAccess`]: no log entry, no
//! plaintext.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod access;
pub mod backend;
pub mod custody;
mod error;
pub mod keys;
pub mod postgres;
pub mod sqlite;
mod store;

use std::collections::BTreeMap;

pub use access::{LoggedAccess, subject_set_root};
pub use backend::{AccessNotes, Backend, KeyTable};
pub use error::Error;
pub use postgres::PgBackend;
pub use sqlite::SqliteBackend;
pub use store::{MAX_VALUE_LEN, Sealed, Store};

/// What the app sends about one subject.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Event {
    /// The app's own user id (stored only as a keyed pseudonym, and
    /// sealed under the app's notification key when the region notifies
    /// the app).
    pub user_id: String,
    /// The person's country (ISO 3166-1 alpha-2), as the app said: kept
    /// only beside the sealed user id, for notifications.
    #[serde(default)]
    pub country: String,
    /// Dataset of the catalog.
    pub dataset: String,
    /// Record id within the dataset.
    pub record_id: String,
    /// Time of the record (seconds since the epoch).
    pub time: i64,
    /// Field values.
    pub fields: BTreeMap<String, String>,
}

/// A decrypted record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    /// Dataset.
    pub dataset: String,
    /// Record id.
    pub record_id: String,
    /// Time.
    pub time: i64,
    /// Field values.
    pub fields: BTreeMap<String, String>,
}
