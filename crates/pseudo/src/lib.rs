//! Pseudonymisation and de-identification for residency: every transform a
//! value can get on its way out of its home region, and the detector of
//! personal data in free text.
//!
//! What leaves a region must not identify a person without additional
//! information that stays in the region (GDPR Art. 4(5)): one-way and
//! reversible keyed tokens ([`token`]), format-preserving encryption
//! ([`fpe`]), generalisation ([`generalise`]), masking ([`mask`]) and
//! k-anonymous aggregates ([`kanon`]), tied together by [`Transform`].
//! [`pii`] finds personal data in text and [`pii::redact`] applies
//! transforms to what it finds.
//!
//! This crate does no I/O: keys arrive as values, text as strings.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
pub mod fpe;
pub mod generalise;
pub mod kanon;
pub mod mask;
pub mod pii;
pub mod token;
pub mod transform;

pub use error::Error;
pub use transform::{Context, Keys, Transform};
