//! Every request the gateway sees is decided here: who asks, for which
//! data, for what purpose, from where, to which jurisdiction, on which
//! legal basis — and which transform each field gets on its way out.
//!
//! An operator writes a policy directory ([`Bundle::load`]): the
//! [`catalog`] (TOML), the [`law`] table (TOML; a default ships), the
//! [`principals`] and regions (TOML), the [`purpose`]s requests may name,
//! and Cedar policies validated against residency's schema ([`cedar`]).
//! [`decide`] applies the policies and the rules that hold whatever they
//! say (remote viewing is a transfer; a transfer of personal data names a
//! valid tool; protected fields never
//! leave in clear toward a jurisdiction without adequacy; aggregates are
//! k-anonymous with k ≥ 5). [`diff`] says what changed from one bundle
//! to the next, and whether each change weakens protection.
//!
//! No I/O beyond [`Bundle::load`] reading its files.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bundle;
pub mod catalog;
pub mod cedar;
pub mod decision;
pub mod diff;
mod error;
mod field_ref;
pub mod law;
pub mod principals;
pub mod purpose;

pub use bundle::{Bundle, Sources};
pub use decision::{Action, Decision, DecisionRequest, decide};
pub use error::Error;
pub use field_ref::{FieldRef, is_catalog_name};

/// Parses a TOML file into `T`, naming the file (and the line, from the
/// parser) on error.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| Error::Config {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

/// For benchmarks: the Cedar engine alone on this bundle's policies.
#[doc(hidden)]
pub mod bench_support {
    use std::time::{Duration, Instant};

    use crate::Bundle;
    use crate::cedar::{self, CedarContext};

    /// Times `n` authorizations of one fixed request with the engine alone.
    pub fn engine_only(bundle: &Bundle, n: usize) -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let cx = CedarContext {
                    region: "eu-fr",
                    data_jurisdiction: "EEA",
                    destination: "US",
                    is_transfer: true,
                    purpose: "reco-training",
                    legal_basis: "adequacy:eu-us-dpf",
                    datasets: vec!["device".into()],
                    fields: vec!["device.language".into(), "device.os_version".into()],
                    levels: vec!["personal".into()],
                    categories: vec!["device".into()],
                    subject_count: 2000,
                };
                let t = Instant::now();
                let a = cedar::authorize(
                    &bundle.policies,
                    &bundle.entities,
                    "svc-reco-us",
                    "transfer",
                    cedar::uid("Region", "eu-fr"),
                    cx,
                );
                std::hint::black_box(a.is_ok());
                t.elapsed()
            })
            .collect()
    }
}
