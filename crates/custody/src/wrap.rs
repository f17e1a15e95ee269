//! Batch secrets sealed to a custodian key, and the record keys derived
//! from them.
//!
//! A [`WrappedSecret`] is the HPKE base-mode single-shot encryption
//! (RFC 9180 §6.1) of a 32-byte batch secret to a [`CustodianPublicKey`],
//! with `info` binding the region (`residency/custody/v1 region=…`): a
//! secret wrapped for one region does not open for another. Its bytes are
//!
//! ```text
//! version (1) · key id (4) · encapsulated key length (2, big-endian) · encapsulated key · ciphertext (48)
//! ```
//!
//! A [`RecordKey`] is HKDF-SHA-256 (RFC 5869) of the batch secret with
//! `info` = `residency/record-key/v1` and the length-prefixed subject
//! pseudonym and dataset: one key per (subject, dataset) of the batch, so
//! a custodian that releases the key of one subject's `profile` opens
//! nothing else.

use hkdf::Hkdf;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::{OpModeR, OpModeS, Serializable as _};
use sha2::Sha256;

use crate::Error;
use crate::key::{CustodianKey, CustodianPublicKey, Private, Public};

const VERSION: u8 = 1;
const SECRET_LEN: usize = 32;
/// The ciphertext of a 32-byte secret: the secret and a 16-byte tag.
const SEALED_LEN: usize = SECRET_LEN + 16;

/// A batch secret: the custodian's alone once wrapped. Its `Debug` prints
/// nothing of it.
#[derive(Clone)]
pub struct BatchSecret([u8; SECRET_LEN]);

impl std::fmt::Debug for BatchSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchSecret(..)")
    }
}

/// The key a record of one subject and dataset is sealed under (an
/// AES-256-GCM-SIV key in the store).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordKey(pub [u8; 32]);

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKey(..)")
    }
}

fn info(region: &str) -> Vec<u8> {
    format!("residency/custody/v1 region={region}").into_bytes()
}

impl BatchSecret {
    /// A fresh secret.
    pub fn generate() -> Result<Self, Error> {
        let mut s = [0u8; SECRET_LEN];
        crate::key::getrandom(&mut s)?;
        Ok(BatchSecret(s))
    }

    /// Seals this secret to `to`, for `region`.
    pub fn wrap(&self, to: &CustodianPublicKey, region: &str) -> Result<WrappedSecret, Error> {
        let info = info(region);
        let sealed = |e: hpke::HpkeError| Error::Malformed(format!("HPKE seal: {e}"));
        let (enc, ct) = match &to.public {
            Public::XWing(pk) => {
                let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, XWing>(
                    &OpModeS::Base,
                    pk,
                    &info,
                    &self.0,
                    b"",
                )
                .map_err(sealed)?;
                (enc.to_bytes().to_vec(), ct)
            }
            Public::X25519(pk) => {
                let (enc, ct) = hpke::single_shot_seal::<
                    ChaCha20Poly1305,
                    HkdfSha256,
                    X25519HkdfSha256,
                >(&OpModeS::Base, pk, &info, &self.0, b"")
                .map_err(sealed)?;
                (enc.to_bytes().to_vec(), ct)
            }
        };
        let mut key_id = [0u8; 4];
        hex::decode_to_slice(to.id(), &mut key_id)
            .map_err(|_| Error::Malformed("custodian key id".into()))?;
        Ok(WrappedSecret { key_id, enc, ct })
    }

    /// The record key of `subject`'s `dataset` in this batch.
    pub fn record_key(&self, subject: &str, dataset: &str) -> RecordKey {
        let mut info = Vec::with_capacity(32 + subject.len() + dataset.len());
        info.extend_from_slice(b"residency/record-key/v1");
        for part in [subject, dataset] {
            info.extend_from_slice(&(part.len() as u32).to_be_bytes());
            info.extend_from_slice(part.as_bytes());
        }
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's limit of 255 × 32.
        let _ = Hkdf::<Sha256>::new(None, &self.0).expand(&info, &mut okm);
        RecordKey(okm)
    }
}

/// A batch secret sealed to a custodian key.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedSecret {
    key_id: [u8; 4],
    enc: Vec<u8>,
    ct: Vec<u8>,
}

impl std::fmt::Debug for WrappedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedSecret(key {})", self.key_id())
    }
}

impl WrappedSecret {
    /// The id of the custodian key it is sealed to.
    pub fn key_id(&self) -> String {
        hex::encode(self.key_id)
    }

    /// The bytes as stored and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(7 + self.enc.len() + self.ct.len());
        out.push(VERSION);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&(self.enc.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ct);
        out
    }

    /// Parses [`WrappedSecret::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |why: &str| Error::Malformed(format!("wrapped secret: {why}"));
        let (&version, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if version != VERSION {
            return Err(bad("unknown version"));
        }
        let (key_id, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("too short"))?;
        let (len, rest) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| bad("too short"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() != len + SEALED_LEN {
            return Err(bad("wrong length"));
        }
        let (enc, ct) = rest.split_at(len);
        Ok(WrappedSecret {
            key_id: *key_id,
            enc: enc.to_vec(),
            ct: ct.to_vec(),
        })
    }

    /// Opens it with `key`, for `region`.
    pub fn open(&self, key: &CustodianKey, region: &str) -> Result<BatchSecret, Error> {
        if self.key_id() != key.public().id() {
            return Err(Error::DoesNotOpen(format!(
                "sealed to key {}, not {}",
                self.key_id(),
                key.public().id()
            )));
        }
        let info = info(region);
        let fail = |_| Error::DoesNotOpen("HPKE open failed (another region, or altered)".into());
        let plain = match &key.private {
            Private::XWing(sk) => {
                let enc = hpke::Deserializable::from_bytes(&self.enc).map_err(fail)?;
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, XWing>(
                    &OpModeR::Base,
                    sk,
                    &enc,
                    &info,
                    &self.ct,
                    b"",
                )
                .map_err(fail)?
            }
            Private::X25519(sk) => {
                let enc = hpke::Deserializable::from_bytes(&self.enc).map_err(fail)?;
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                    &OpModeR::Base,
                    sk,
                    &enc,
                    &info,
                    &self.ct,
                    b"",
                )
                .map_err(fail)?
            }
        };
        let secret: [u8; SECRET_LEN] = plain
            .try_into()
            .map_err(|_| Error::DoesNotOpen("not a 32-byte secret".into()))?;
        Ok(BatchSecret(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Suite;

    #[test]
    fn a_wrapped_secret_opens_only_with_its_key_and_region() {
        for suite in [Suite::XWing, Suite::X25519] {
            let key = CustodianKey::generate("custodian", suite).unwrap();
            let other = CustodianKey::generate("custodian", suite).unwrap();
            let secret = BatchSecret::generate().unwrap();
            let wrapped = secret.wrap(key.public(), "eu-fr").unwrap();
            let back = WrappedSecret::from_bytes(&wrapped.to_bytes()).unwrap();
            assert_eq!(back, wrapped);
            let opened = back.open(&key, "eu-fr").unwrap();
            assert_eq!(
                opened.record_key("s", "profile"),
                secret.record_key("s", "profile")
            );
            assert!(matches!(
                back.open(&key, "eu-de"),
                Err(Error::DoesNotOpen(_))
            ));
            assert!(matches!(
                back.open(&other, "eu-fr"),
                Err(Error::DoesNotOpen(_))
            ));
            let mut bytes = wrapped.to_bytes();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let altered = WrappedSecret::from_bytes(&bytes).unwrap();
            assert!(matches!(
                altered.open(&key, "eu-fr"),
                Err(Error::DoesNotOpen(_))
            ));
        }
    }

    #[test]
    fn record_keys_differ_per_subject_and_dataset_without_ambiguity() {
        let s = BatchSecret::generate().unwrap();
        let a = s.record_key("ab", "c");
        assert_ne!(a, s.record_key("a", "bc"));
        assert_ne!(a, s.record_key("ab", "d"));
        assert_eq!(a, s.record_key("ab", "c"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1300)) {
            let _ = WrappedSecret::from_bytes(&bytes);
        }
    }
}
