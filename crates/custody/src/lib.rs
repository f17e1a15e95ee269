//! What a region and its key custodian exchange.
//!
//! A region seals its records under keys it cannot re-derive: at ingest it
//! draws a fresh **batch secret**, seals it to the custodian's public key
//! with HPKE ([RFC 9180](https://www.rfc-editor.org/rfc/rfc9180)), derives
//! one **record key** per (subject, dataset) of the batch from it with
//! HKDF ([RFC 5869](https://www.rfc-editor.org/rfc/rfc5869)), seals the
//! records, and forgets the secret. Only the custodian can open a
//! [`WrappedSecret`]; it never hands the secret out, only the record keys
//! of the subjects and datasets a logged, lawful access names
//! ([`ReleaseRequest`]).
//!
//! | module | what |
//! |---|---|
//! | [`key`] | the custodian's key pair (X-Wing, a post-quantum hybrid KEM, by default; X25519 for comparison) and its public text form |
//! | [`wrap`] | sealing a batch secret to a custodian key, opening it, deriving record keys |
//! | [`protocol`] | the JSON bodies of `POST /v1/release` and `POST /v1/erase`, parsed once into types |
//!
//! Must not: do I/O, or know what a log entry means beyond the
//! commitments it carries (that is the custodian's gate).
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod key;
pub mod protocol;
pub mod wrap;

pub use key::{CustodianKey, CustodianPublicKey, Suite};
pub use protocol::{
    EraseRequest, KeyAsk, KeyRef, LoggedEntry, ReleaseAnswer, ReleaseRequest, SubjectKeys,
};
pub use wrap::{BatchSecret, RecordKey, WrappedSecret};

/// Why something a custodian exchange carries is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A key, wrapped secret or request part is not well formed; names
    /// the part, never its value.
    #[error("malformed {0}")]
    Malformed(String),
    /// A wrapped secret does not open with this key (wrong key, region, or
    /// tampered bytes).
    #[error("the wrapped secret does not open: {0}")]
    DoesNotOpen(String),
    /// The system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}
