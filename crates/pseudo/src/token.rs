//! Keyed tokens: one-way (HMAC-SHA-256, [RFC 2104], tested against
//! [RFC 4231]) and reversible (AES-SIV deterministic encryption, [RFC 5297]).
//!
//! Both are deterministic — the same value, key and domain give the same
//! token, so joins work across datasets — and domain-separated: the domain
//! (e.g. the purpose of a transfer) is bound into the token, so tokens of
//! different domains cannot be linked. Each token starts with its kind and
//! the key version (`t3.` one-way with key 3, `r3.` reversible), so keys can
//! rotate and a token says which key made it.
//!
//! [RFC 2104]: https://www.rfc-editor.org/rfc/rfc2104
//! [RFC 4231]: https://www.rfc-editor.org/rfc/rfc4231
//! [RFC 5297]: https://www.rfc-editor.org/rfc/rfc5297

use aes_siv::KeyInit as _;
use aes_siv::siv::Aes256Siv;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::Error;

/// Bytes of the HMAC kept in a one-way token: 128 bits, 22 characters.
const TOKEN_BYTES: usize = 16;

/// HMAC-SHA-256 of `message` under `key` (any length, per RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Length-prefixes the domain so that (domain, value) pairs cannot collide.
fn domain_message(domain: &str, value: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(4 + domain.len() + value.len());
    m.extend_from_slice(&(domain.len() as u32).to_be_bytes());
    m.extend_from_slice(domain.as_bytes());
    m.extend_from_slice(value);
    m
}

/// A region's key for one-way tokens.
#[derive(Clone)]
pub struct TokenKey {
    version: u16,
    /// HMAC-SHA-256 keyed with the key: the inner and outer pads are
    /// hashed once here, not for every token.
    mac: Hmac<Sha256>,
    /// `t<version>.`, which starts every token.
    prefix: String,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey(v{})", self.version)
    }
}

impl TokenKey {
    /// A key of 32 bytes with its version.
    pub fn new(version: u16, key: [u8; 32]) -> Self {
        let mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        TokenKey {
            version,
            mac,
            prefix: format!("t{version}."),
        }
    }

    /// The key version tokens carry.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The one-way token of `value` in `domain`: `t<version>.` and 22
    /// URL-safe base64 characters.
    pub fn token(&self, domain: &str, value: &str) -> String {
        let mut out = String::with_capacity(28);
        self.token_into(domain, value, &mut out);
        out
    }

    /// Like [`TokenKey::token`], appending to `out` (no allocation when
    /// `out` has room).
    pub fn token_into(&self, domain: &str, value: &str, out: &mut String) {
        let mut mac = self.mac.clone();
        mac.update(&(domain.len() as u32).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        let tag = mac.finalize().into_bytes();
        out.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(&tag[..TOKEN_BYTES], out);
    }
}

/// The key version a token (one-way or reversible) names, if it has the form.
pub fn token_version(token: &str) -> Option<u16> {
    let (head, _) = token.split_once('.')?;
    let digits = head.strip_prefix('t').or_else(|| head.strip_prefix('r'))?;
    digits.parse().ok()
}

/// A region's key for reversible tokens: AES-256-SIV (two 256-bit halves).
/// It never leaves the home region.
#[derive(Clone)]
pub struct SivKey {
    version: u16,
    key: [u8; 64],
}

impl std::fmt::Debug for SivKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SivKey(v{})", self.version)
    }
}

impl SivKey {
    /// A key of 64 bytes with its version.
    pub fn new(version: u16, key: [u8; 64]) -> Self {
        SivKey { version, key }
    }

    fn cipher(&self) -> Aes256Siv {
        Aes256Siv::new((&self.key).into())
    }

    /// The reversible token of `value` in `domain`: `r<version>.` and the
    /// URL-safe base64 of the SIV ciphertext (16 bytes longer than the value).
    pub fn seal(&self, domain: &str, value: &str) -> Result<String, Error> {
        let ct = self
            .cipher()
            .encrypt([domain.as_bytes()], value.as_bytes())
            .map_err(|_| Error::InvalidParameter("value too long for AES-SIV".into()))?;
        Ok(format!("r{}.{}", self.version, URL_SAFE_NO_PAD.encode(ct)))
    }

    /// Recovers the value of a reversible token made with this key and domain.
    pub fn open(&self, domain: &str, token: &str) -> Result<String, Error> {
        let what = "reversible token";
        let (head, body) = token.split_once('.').ok_or(Error::Undecryptable(what))?;
        let version: u16 = head
            .strip_prefix('r')
            .and_then(|v| v.parse().ok())
            .ok_or(Error::Undecryptable(what))?;
        if version != self.version {
            return Err(Error::KeyVersion {
                expected: self.version,
                found: version,
            });
        }
        let ct = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Error::Undecryptable(what))?;
        let pt = self
            .cipher()
            .decrypt([domain.as_bytes()], &ct)
            .map_err(|_| Error::Undecryptable(what))?;
        String::from_utf8(pt).map_err(|_| Error::Undecryptable(what))
    }
}

/// A keyed pseudo-random value in `[0, n)` for `(domain, value)`, e.g. a
/// per-subject date shift.
pub(crate) fn keyed_index(key: &[u8], domain: &str, value: &str, n: u64) -> u64 {
    let h = hmac_sha256(key, &domain_message(domain, value.as_bytes()));
    let x = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    // n is small against 2^64: the modulo bias is negligible.
    x % n.max(1)
}
