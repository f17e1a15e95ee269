//! RFC 6962 Merkle tree hashing ([RFC 9162 §2.1.1]).
//!
//! [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::Error;

/// A SHA-256 Merkle tree hash: a leaf hash, an interior node, or a root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Length of a hash in bytes.
    pub const LEN: usize = 32;

    /// Reads a hash from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        <[u8; 32]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| Error::Malformed {
                what: "hash",
                why: format!("{} bytes, expected 32", bytes.len()),
            })
    }

    /// Decodes a standard base64 hash, as checkpoints and proofs carry them.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = STANDARD.decode(text).map_err(|e| Error::Malformed {
            what: "base64 hash",
            why: e.to_string(),
        })?;
        Self::from_slice(&bytes)
    }

    /// Standard base64 encoding of the hash.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Decodes 64 hexadecimal digits (either case), as [`Hash::to_hex`]
    /// writes them; no sign, prefix or white space.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)
            .map_err(|_| Error::malformed("hex hash", "expected 64 hexadecimal digits"))?;
        Ok(Hash(out))
    }

    /// Lowercase hexadecimal encoding of the hash.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Parses proof lines, one base64 hash each, as tlog-proof and tlog-witness
/// carry them; more than `max` lines is an error.
pub(crate) fn parse_proof_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
    max: usize,
    what: &'static str,
) -> Result<Vec<Hash>, Error> {
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if i == max {
            return Err(Error::malformed(
                what,
                format!("more than {max} proof lines"),
            ));
        }
        let h = Hash::from_base64(line).map_err(|_| {
            Error::malformed(what, format!("proof line {} is not a base64 hash", i + 1))
        })?;
        out.push(h);
    }
    Ok(out)
}

/// The hash of a log entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_round_trips_and_anything_else_is_an_error() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()).unwrap(), h);
        let hex = h.to_hex();
        for bad in [
            &hex[..62],
            &format!("{hex}00"),
            &format!("+{}", &hex[1..]),
            &format!("g{}", &hex[1..]),
            &format!("é{}", &hex[2..]),
            "",
        ] {
            assert!(Hash::from_hex(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base64_round_trip_and_wrong_length_is_an_error() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()).unwrap(), h);
        assert!(Hash::from_base64("AAAA").is_err());
        assert!(Hash::from_base64("not base64!").is_err());
    }
}
