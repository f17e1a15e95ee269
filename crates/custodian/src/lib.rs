//! The key custodian, behind `residency custodian`: run by a party the
//! operator does not control, it holds the only keys that open a region's
//! records, and releases record keys only for an access that
//!
//! 1. is in the region's log — an inclusion proof to a checkpoint the
//!    region signed, which the custodian vouches for as a witness of that
//!    log (no rollback, no fork; the evidence is kept);
//! 2. is an allowed decision, of an action that opens records, for exactly
//!    the subjects and datasets whose keys are asked for (each subject's
//!    opening of the entry's salted set, and its membership proof);
//! 3. replays: decided again under the logged policy bundle on the entry's
//!    date, the verdict and plan equal the logged ones, and the law —
//!    judged by the custodian's own law table, not the operator's — allows
//!    it (the monitor's [`replay`] crate, the same code);
//! 4. names no subject whose erasure was logged before (the erasure list
//!    is durable before the erasure is acknowledged, so keys restored from
//!    a backup stay shut) — and the custodian has read every entry of the
//!    log it vouched for, so no logged erasure was kept from it.
//!
//! | module | what |
//! |---|---|
//! | [`keys`] | the custodian's key file (its KEM keys and cosigning key, 0600) behind the [`keys::KeyProvider`] seam for an HSM |
//! | [`config`] | `custodian.toml`: the logs it serves (region, log key, caller token hash) and its law table |
//! | [`state`] | SQLite: the erasure list and the bundles it has seen |
//! | [`scan`] | what it has read of each log: the entries hashed onto a frontier, up to the first erasure it was not told of |
//! | [`gate`] | the checks above, and the refusals |
//! | [`http`] | `POST /v1/release`, `/v1/erase`, `/v1/scan`, `/v1/rewrap`, `GET /v1/keys`, `/metrics` |
//!
//! Must not: hand out a batch secret or a private key; release a key that
//! a check did not pass; put a subject or a value in an error or a trace.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod gate;
pub mod http;
pub mod keys;
pub mod scan;
pub mod state;

pub use config::CustodianConfig;
pub use gate::{Gate, Refusal};
