//! The independent monitor of residency's regional logs. It needs nothing
//! from an operator but each log's origin, public key and URL.
//!
//! Today: [`witness`], a C2SP tlog-witness that cosigns only checkpoints
//! consistent with everything it has seen, and keeps the evidence of a
//! split view. Mirroring, replay of decisions and reports come next.

#![deny(missing_docs)]

pub mod witness;

pub use witness::Witness;
