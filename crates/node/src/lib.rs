//! The region node: the gateway through which personal data leaves its
//! region or is viewed from outside it, and the only writer of the
//! region's transparency log (entries as the `entry` crate defines them).
//!
//! - [`config`]: the cluster file.
//! - [`bounds`]: the bounds of every caller-controlled input, checked at
//!   the edge before anything is decided.
//! - [`auth`]: API tokens, stored hashed, compared in constant time.
//! - [`region`]: what a region does — ingest and routing, reads,
//!   transfers, aggregates, re-identification, subject requests — with the
//!   rule that nothing is released before its log entry is sequenced.
//! - [`http`]: the HTTP API (axum), its problem documents (RFC 9457) and
//!   its OpenAPI document.
//! - [`sequencing`]: how a gateway's entries reach the log — its own
//!   sequencer, or the region's over the network, every acknowledgement
//!   proven — and the sequencer process itself.
//! - [`metrics`]: Prometheus metrics.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod bounds;
pub mod config;
pub mod http;
pub mod metrics;
pub mod region;
pub mod sequencing;

pub use config::ClusterConfig;
pub use region::{Region, Start};
pub use sequencing::SequencerNode;

/// What can go wrong in a node. Messages never carry personal data: they
/// name fields, regions, indices and files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("{file}: {field}{}{why}", if field.is_empty() { "" } else { ": " })]
    Config {
        /// The file.
        file: String,
        /// The field (`regions.eu-fr.store`), or empty for the whole file.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// The request is malformed or asks for something that does not exist.
    #[error("{0}")]
    BadRequest(String),
    /// No credential, or an unknown one.
    #[error("{0}")]
    Unauthenticated(String),
    /// Denied by policy; the denial is in the log at `log_index`.
    #[error("denied: {}", reasons.join("; "))]
    Denied {
        /// Why.
        reasons: Vec<String>,
        /// The log entry recording the denial.
        log_index: Option<u64>,
    },
    /// Nothing here for the subject or resource asked for.
    #[error("{0}")]
    NotFound(String),
    /// A peer region could not be reached or failed.
    #[error("region {region} is unavailable: {why}")]
    PeerUnavailable {
        /// The region.
        region: String,
        /// What happened.
        why: String,
    },
    /// The region's key custodian could not be reached, or refused: nothing
    /// was decrypted.
    #[error("the key custodian {why}; nothing was decrypted")]
    Custodian {
        /// What happened (the custodian's refusal, or the network's error).
        why: String,
        /// Whether it refused (403-like) rather than being unreachable.
        refused: bool,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] store::Error),
    /// The log failed.
    #[error("log: {0}")]
    Log(#[from] tlog::Error),
    /// A decided request could not be logged, so nothing was released
    /// (the log's error is traced and counted, not shown to the caller).
    #[error("the decision could not be logged, so nothing was released; retry later")]
    NotLogged,
    /// The region's sequencer is saturated and took nothing (its
    /// pushback): nothing was logged or released; retry after a second.
    #[error("the region's log is saturated, so nothing was logged or released; retry in a second")]
    LogBusy,
    /// The policy bundle failed to load or decide.
    #[error("policy: {0}")]
    Policy(#[from] policy::Error),
    /// Something else went wrong inside the node.
    #[error("{0}")]
    Internal(String),
}
