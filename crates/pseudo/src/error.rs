//! The one error type of this crate.

/// Everything that can go wrong in `pseudo`. Messages name the operation and
/// the defect, never the value being transformed: values are personal data.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A value does not have the shape the transform needs (e.g. not an IP
    /// address for IP truncation).
    #[error("{transform}: the value is not {expected}")]
    WrongShape {
        /// The transform.
        transform: &'static str,
        /// What the value should have been.
        expected: &'static str,
    },
    /// A reversible or format-preserving token that does not decrypt with
    /// this key (wrong key, wrong domain, or altered).
    #[error("{0}: token does not decrypt with this key and domain")]
    Undecryptable(&'static str),
    /// A token made with another key version than the one at hand.
    #[error("token was made with key version {found}, this key is version {expected}")]
    KeyVersion {
        /// The version of the key at hand.
        expected: u16,
        /// The version the token names.
        found: u16,
    },
    /// Key material of the wrong length or form.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A transform's parameters are out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}
