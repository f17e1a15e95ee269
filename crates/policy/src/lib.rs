//! Every request the gateway sees is decided here: who asks, for which
//! data, for what purpose, from where, to which jurisdiction, on which
//! legal basis — and which transform each field gets on its way out.
//!
//! An operator writes a policy directory ([`Bundle::load`]): the
//! [`catalog`] (TOML), the [`law`] table (TOML; a default ships), the
//! [`principals`] and regions (TOML) and Cedar policies validated against
//! residency's schema ([`cedar`]). [`decide`] applies the policies and the
//! rules that hold whatever they say (remote viewing is a transfer; a
//! transfer of personal data names a valid tool; protected fields never
//! leave in clear toward a jurisdiction without adequacy; aggregates are
//! k-anonymous with k ≥ 5).
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
mod error;
pub mod law;
pub mod principals;

pub use bundle::{Bundle, Sources};
pub use decision::{Action, Decision, DecisionRequest, decide};
pub use error::Error;

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
