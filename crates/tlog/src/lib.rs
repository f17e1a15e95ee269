//! The transparency log of residency: every access decision becomes an
//! entry in an append-only Merkle log that anyone can check only grows.
//!
//! Built to the public specifications so that existing transparency tooling
//! can read the logs and receipts:
//!
//! | module | spec |
//! |---|---|
//! | [`hash`], [`merkle`] | [RFC 9162 §2.1](https://www.rfc-editor.org/rfc/rfc9162#section-2.1) Merkle hashing and proofs |
//! | [`tile`], [`edge`] | [C2SP tlog-tiles](https://c2sp.org/tlog-tiles) |
//! | [`note`] | [C2SP signed-note](https://c2sp.org/signed-note) |
//! | [`checkpoint`] | [C2SP tlog-checkpoint](https://c2sp.org/tlog-checkpoint) |
//! | [`cosignature`] | [C2SP tlog-cosignature](https://c2sp.org/tlog-cosignature) (cosignature/v1) |
//! | [`receipt`] | [C2SP tlog-proof](https://c2sp.org/tlog-proof) |
//! | [`witness`] | [C2SP tlog-witness](https://c2sp.org/tlog-witness) `add-checkpoint`, client side |
//!
//! [`sequencer`] is the log's single durable writer, [`reader`] reads it
//! back, and [`storage`] is where the files live, one module per driver;
//! [`keyfile`] keeps a log's keys beside them. [`verify`] checks a whole
//! log from its entries up, as a monitor or an auditor does. Only
//! `storage`, `keyfile` and the witness client do I/O of their own;
//! everything else is pure computation (or reads through a [`Storage`]).
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod checkpoint;
pub mod cosignature;
pub mod edge;
mod error;
pub mod hash;
pub mod keyfile;
pub mod merkle;
pub mod note;
pub mod reader;
pub mod receipt;
pub mod sequencer;
pub mod storage;
pub mod tile;
pub mod verify;
pub mod witness;

pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use error::Error;
pub use hash::{Hash, leaf_hash, node_hash};
pub use note::{Note, NoteVerifier, Signer, Verifier};
pub use reader::LogReader;
pub use receipt::Receipt;
pub use sequencer::{Sequenced, Sequencer, SequencerConfig};
pub use storage::{
    CachedTiles, FsStorage, JOURNAL_SEGMENT_BYTES, MemStorage, Storage, WriterGuard,
};
#[cfg(feature = "s3")]
pub use storage::{S3Config, S3Storage};
