//! The custodian's key pair. The private half is a 32-byte seed from
//! which the KEM key pair is derived (RFC 9180 §7.1.3 `DeriveKeyPair`),
//! so a key file holds one short line per key.
//!
//! The public text form, given to regions in the cluster file, is
//! `NAME+SUITE+BASE64`: the custodian's name, the suite (`xwing` or
//! `x25519`) and the encoded public key. A key's id — the first four bytes
//! of SHA-256 over that text, hex — travels in every [`WrappedSecret`]
//! (crate::WrappedSecret), so that during a rotation the custodian knows
//! which of its keys to open with.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::{Kem as _, Serializable as _};
use sha2::{Digest as _, Sha256};

use crate::Error;

/// The KEM a custodian key is for. The KDF is HKDF-SHA-256 and the AEAD
/// ChaCha20-Poly1305 in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// X-Wing (ML-KEM-768 + X25519): wrapped secrets stored for decades
    /// stay sealed against a future quantum computer. The default.
    XWing,
    /// DHKEM(X25519, HKDF-SHA256): smaller and faster, classical only.
    X25519,
}

impl Suite {
    /// The suite's name in key texts.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::XWing => "xwing",
            Suite::X25519 => "x25519",
        }
    }

    /// The suite of this name.
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "xwing" => Ok(Suite::XWing),
            "x25519" => Ok(Suite::X25519),
            _ => Err(Error::Malformed(
                "custodian key suite (expected xwing or x25519)".into(),
            )),
        }
    }
}

/// A public key a region seals batch secrets to.
#[derive(Clone, PartialEq, Eq)]
pub struct CustodianPublicKey {
    name: String,
    pub(crate) public: Public,
    id: String,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Public {
    XWing(Box<<XWing as hpke::Kem>::PublicKey>),
    X25519(<X25519HkdfSha256 as hpke::Kem>::PublicKey),
}

impl Public {
    fn suite(&self) -> Suite {
        match self {
            Public::XWing(_) => Suite::XWing,
            Public::X25519(_) => Suite::X25519,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Public::XWing(k) => k.to_bytes().to_vec(),
            Public::X25519(k) => k.to_bytes().to_vec(),
        }
    }
}

impl std::fmt::Debug for CustodianPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustodianPublicKey({} {})", self.name, self.id)
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'+');
    if ok {
        Ok(())
    } else {
        Err(Error::Malformed(
            "custodian key name (1 to 128 printable ASCII characters, no '+')".into(),
        ))
    }
}

impl CustodianPublicKey {
    fn new(name: &str, public: Public) -> Self {
        let text = format!(
            "{name}+{}+{}",
            public.suite().as_str(),
            B64.encode(public.bytes())
        );
        let id = hex::encode(&Sha256::digest(text.as_bytes())[..4]);
        CustodianPublicKey {
            name: name.to_owned(),
            public,
            id,
        }
    }

    /// Parses the text form `NAME+SUITE+BASE64`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(suite), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Malformed(
                "custodian public key (expected NAME+SUITE+BASE64)".into(),
            ));
        };
        check_name(name)?;
        let bytes = B64
            .decode(b64)
            .map_err(|_| Error::Malformed("custodian public key: not base64".into()))?;
        let bad = |_| Error::Malformed("custodian public key: not a key of its suite".into());
        let public = match Suite::parse(suite)? {
            Suite::XWing => Public::XWing(Box::new(
                hpke::Deserializable::from_bytes(&bytes).map_err(bad)?,
            )),
            Suite::X25519 => Public::X25519(hpke::Deserializable::from_bytes(&bytes).map_err(bad)?),
        };
        Ok(Self::new(name, public))
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        format!(
            "{}+{}+{}",
            self.name,
            self.public.suite().as_str(),
            B64.encode(self.public.bytes())
        )
    }

    /// The custodian's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id: 8 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The KEM suite.
    pub fn suite(&self) -> Suite {
        self.public.suite()
    }
}

/// A custodian's private key. Never leaves the custodian; its `Debug`
/// prints only the public id.
pub struct CustodianKey {
    seed: [u8; 32],
    pub(crate) private: Private,
    public: CustodianPublicKey,
}

pub(crate) enum Private {
    XWing(Box<<XWing as hpke::Kem>::PrivateKey>),
    X25519(<X25519HkdfSha256 as hpke::Kem>::PrivateKey),
}

impl std::fmt::Debug for CustodianKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustodianKey({} {})", self.public.name, self.public.id)
    }
}

impl CustodianKey {
    /// The key pair of `suite` derived from `seed`.
    pub fn from_seed(name: &str, suite: Suite, seed: [u8; 32]) -> Result<Self, Error> {
        check_name(name)?;
        let (private, public) = match suite {
            Suite::XWing => {
                let (sk, pk) = XWing::derive_keypair(&seed);
                (Private::XWing(Box::new(sk)), Public::XWing(Box::new(pk)))
            }
            Suite::X25519 => {
                let (sk, pk) = X25519HkdfSha256::derive_keypair(&seed);
                (Private::X25519(sk), Public::X25519(pk))
            }
        };
        Ok(CustodianKey {
            seed,
            private,
            public: CustodianPublicKey::new(name, public),
        })
    }

    /// A fresh key pair.
    pub fn generate(name: &str, suite: Suite) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom(&mut seed)?;
        Self::from_seed(name, suite, seed)
    }

    /// The public half.
    pub fn public(&self) -> &CustodianPublicKey {
        &self.public
    }

    /// The private text form, `NAME+SUITE+SEEDHEX`, for the key file only.
    pub fn to_private_text(&self) -> String {
        format!(
            "{}+{}+{}",
            self.public.name,
            self.public.suite().as_str(),
            hex::encode(self.seed)
        )
    }

    /// Parses [`CustodianKey::to_private_text`].
    pub fn parse_private(text: &str) -> Result<Self, Error> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(suite), Some(seed)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Malformed(
                "custodian private key (expected NAME+SUITE+SEEDHEX)".into(),
            ));
        };
        let seed = <[u8; 32] as hex::FromHex>::from_hex(seed).map_err(|_| {
            Error::Malformed("custodian private key: the seed is not 64 hex digits".into())
        })?;
        Self::from_seed(name, Suite::parse(suite)?, seed)
    }
}

pub(crate) fn getrandom(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_text_round_trips_and_ids_differ_per_suite() {
        for suite in [Suite::XWing, Suite::X25519] {
            let k = CustodianKey::from_seed("custodian.example", suite, [7; 32]).unwrap();
            let text = k.public().to_text();
            let back = CustodianPublicKey::parse(&text).unwrap();
            assert_eq!(&back, k.public());
            assert_eq!(back.id().len(), 8);
            let again = CustodianKey::parse_private(&k.to_private_text()).unwrap();
            assert_eq!(again.public(), k.public());
        }
        let a = CustodianKey::from_seed("c", Suite::XWing, [7; 32]).unwrap();
        let b = CustodianKey::from_seed("c", Suite::X25519, [7; 32]).unwrap();
        assert_ne!(a.public().id(), b.public().id());
    }

    #[test]
    fn malformed_keys_are_named_not_echoed() {
        for bad in [
            "",
            "a+b",
            "name+rsa+AAAA",
            "name+xwing+!!!",
            "name+x25519+AAAA",
            "na me+xwing+AAAA",
        ] {
            let e = CustodianPublicKey::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("malformed custodian"), "{e}");
            assert!(!e.contains("AAAA") && !e.contains("!!!"), "{e}");
        }
        let e = CustodianKey::parse_private("c+xwing+zz")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("zz"), "{e}");
    }
}
