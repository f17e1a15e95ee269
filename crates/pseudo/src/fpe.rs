//! Format-preserving encryption: FF1 ([NIST SP 800-38G]) through the `fpe`
//! crate, over an [`Alphabet`]. Characters outside the alphabet (spaces,
//! dashes, a leading `+`) stay where they are, so a phone number stays a
//! phone number of the same length and layout.
//!
//! [NIST SP 800-38G]: https://csrc.nist.gov/pubs/sp/800/38/g/upd1/final

use aes::{Aes128, Aes192, Aes256};
use fpe::ff1::{FF1, FlexibleNumeralString};

use crate::Error;

/// The characters FF1 permutes; everything else is kept in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alphabet(Vec<char>);

impl Alphabet {
    /// `0-9`.
    pub fn digits() -> Self {
        Alphabet("0123456789".chars().collect())
    }

    /// `0-9a-z`, the alphabet of NIST's radix-36 samples.
    pub fn base36_lower() -> Self {
        Alphabet("0123456789abcdefghijklmnopqrstuvwxyz".chars().collect())
    }

    /// `0-9A-Z`.
    pub fn alphanumeric_upper() -> Self {
        Alphabet("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect())
    }

    /// Any set of at least two distinct characters.
    pub fn new(chars: &str) -> Result<Self, Error> {
        let mut v: Vec<char> = chars.chars().collect();
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        if v.len() != n || n < 2 || n > usize::from(u16::MAX) {
            return Err(Error::InvalidParameter(
                "an FF1 alphabet needs 2 or more distinct characters".into(),
            ));
        }
        Ok(Alphabet(chars.chars().collect()))
    }

    fn index(&self, c: char) -> Option<u16> {
        self.0.iter().position(|&a| a == c).map(|i| i as u16)
    }

    /// Number of characters.
    pub fn radix(&self) -> u32 {
        self.0.len() as u32
    }
}

/// An FF1 key: AES-128, AES-192 or AES-256.
#[derive(Clone)]
pub enum Ff1Key {
    /// 16-byte key.
    Aes128([u8; 16]),
    /// 24-byte key.
    Aes192([u8; 24]),
    /// 32-byte key (the default for regions).
    Aes256([u8; 32]),
}

impl std::fmt::Debug for Ff1Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ff1Key(..)")
    }
}

impl Ff1Key {
    /// A key from 16, 24 or 32 bytes.
    pub fn from_slice(key: &[u8]) -> Result<Self, Error> {
        Ok(match key.len() {
            16 => Ff1Key::Aes128(key.try_into().map_err(|_| Error::InvalidKey("FF1"))?),
            24 => Ff1Key::Aes192(key.try_into().map_err(|_| Error::InvalidKey("FF1"))?),
            32 => Ff1Key::Aes256(key.try_into().map_err(|_| Error::InvalidKey("FF1"))?),
            _ => return Err(Error::InvalidKey("FF1 keys are 16, 24 or 32 bytes")),
        })
    }

    fn run(
        &self,
        radix: u32,
        tweak: &[u8],
        numerals: Vec<u16>,
        encrypt: bool,
    ) -> Result<Vec<u16>, Error> {
        let bad = |_| Error::InvalidParameter("FF1 radix".into());
        let ns = FlexibleNumeralString::from(numerals);
        let short = |_| {
            Error::InvalidParameter(
                "too few characters for FF1 (it needs radix^length >= 1,000,000)".into(),
            )
        };
        let out = match self {
            Ff1Key::Aes128(k) => {
                let f = FF1::<Aes128>::new(k, radix).map_err(bad)?;
                if encrypt {
                    f.encrypt(tweak, &ns)
                } else {
                    f.decrypt(tweak, &ns)
                }
                .map_err(short)?
            }
            Ff1Key::Aes192(k) => {
                let f = FF1::<Aes192>::new(k, radix).map_err(bad)?;
                if encrypt {
                    f.encrypt(tweak, &ns)
                } else {
                    f.decrypt(tweak, &ns)
                }
                .map_err(short)?
            }
            Ff1Key::Aes256(k) => {
                let f = FF1::<Aes256>::new(k, radix).map_err(bad)?;
                if encrypt {
                    f.encrypt(tweak, &ns)
                } else {
                    f.decrypt(tweak, &ns)
                }
                .map_err(short)?
            }
        };
        Ok(out.into())
    }

    /// Encrypts the alphabet characters of `value`, keeping the others in place.
    pub fn encrypt(&self, alphabet: &Alphabet, tweak: &[u8], value: &str) -> Result<String, Error> {
        self.apply(alphabet, tweak, value, true)
    }

    /// Inverse of [`Ff1Key::encrypt`].
    pub fn decrypt(&self, alphabet: &Alphabet, tweak: &[u8], value: &str) -> Result<String, Error> {
        self.apply(alphabet, tweak, value, false)
    }

    fn apply(
        &self,
        alphabet: &Alphabet,
        tweak: &[u8],
        value: &str,
        encrypt: bool,
    ) -> Result<String, Error> {
        let numerals: Vec<u16> = value.chars().filter_map(|c| alphabet.index(c)).collect();
        let out = self.run(alphabet.radix(), tweak, numerals, encrypt)?;
        let mut it = out.into_iter();
        Ok(value
            .chars()
            .map(|c| match alphabet.index(c) {
                Some(_) => it
                    .next()
                    .and_then(|n| alphabet.0.get(usize::from(n)).copied())
                    .unwrap_or(c),
                None => c,
            })
            .collect())
    }
}
