//! The transforms as one typed operation, [`Transform`], applied with the
//! region's [`Keys`]. Catalogs and redaction plans name them.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fpe::{Alphabet, Ff1Key};
use crate::generalise::{self, DateUnit};
use crate::mask;
use crate::token::{SivKey, TokenKey};

/// The keys a region applies transforms with. They stay in the region.
#[derive(Clone, Debug)]
pub struct Keys {
    /// One-way tokens.
    pub token: TokenKey,
    /// Reversible tokens.
    pub siv: SivKey,
    /// Format-preserving encryption.
    pub ff1: Ff1Key,
    /// Per-subject date shifts.
    pub date_shift: [u8; 32],
}

impl Keys {
    /// Derives every key from one 32-byte secret (HMAC-based, one label per
    /// key), with `version` as the token key version.
    pub fn derive(version: u16, secret: &[u8; 32]) -> Self {
        let sub = |label: &str| crate::token::hmac_sha256(secret, label.as_bytes());
        let mut siv = [0u8; 64];
        siv[..32].copy_from_slice(&sub("residency/siv/1"));
        siv[32..].copy_from_slice(&sub("residency/siv/2"));
        Keys {
            token: TokenKey::new(version, sub("residency/token")),
            siv: SivKey::new(version, siv),
            ff1: Ff1Key::Aes256(sub("residency/ff1")),
            date_shift: sub("residency/date-shift"),
        }
    }
}

/// What happens to a value on its way out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// Leaves the value as it is.
    Keep,
    /// Removes the value.
    Drop,
    /// One-way keyed token in `domain`.
    Token {
        /// Domain separating tokens, e.g. the purpose.
        domain: String,
    },
    /// Reversible token (home region only) in `domain`.
    Reversible {
        /// Domain bound into the ciphertext.
        domain: String,
    },
    /// FF1 over `alphabet` (default digits), keeping other characters.
    Fpe {
        /// Characters to permute.
        #[serde(default)]
        alphabet: Option<String>,
        /// Tweak, e.g. the field name.
        #[serde(default)]
        tweak: String,
    },
    /// Keep `first` and `last` characters, mask the rest.
    Mask {
        /// Characters kept at the start.
        #[serde(default)]
        first: usize,
        /// Characters kept at the end.
        #[serde(default)]
        last: usize,
        /// Mask character.
        #[serde(default = "default_mask")]
        with: char,
    },
    /// Replace with a fixed label (default `<ENTITY>`-style, set by the caller).
    Redact {
        /// Replacement text.
        #[serde(default)]
        label: Option<String>,
    },
    /// Numeric bucket of `width`.
    Bucket {
        /// Bucket width.
        width: u64,
    },
    /// Date truncated to `unit`.
    TruncateDate {
        /// Year, month or day.
        unit: DateUnit,
    },
    /// Keyed per-subject date shift within `max_days`.
    ShiftDate {
        /// Largest shift in days.
        max_days: u32,
    },
    /// IPv4 /24, IPv6 /48.
    TruncateIp,
    /// First `parts` parts of a version.
    TruncateVersion {
        /// Parts kept (default 1).
        #[serde(default = "one")]
        parts: usize,
    },
    /// First `keep` characters of a postcode.
    TruncatePostcode {
        /// Characters kept.
        keep: usize,
    },
    /// `lat,lon` to a geohash of `precision`.
    Geohash {
        /// Geohash length, 1–12.
        precision: usize,
    },
    /// `lat,lon` snapped to a grid of `cell` degrees.
    Grid {
        /// Cell size in degrees.
        cell: f64,
    },
    /// Free text: every identifier the detector ([`crate::pii`]) finds is
    /// transformed by the plan (a `<ENTITY>` label by default), the rest
    /// of the text is kept.
    Scrub(crate::pii::RedactionPlan),
}

fn default_mask() -> char {
    '*'
}

fn one() -> usize {
    1
}

/// What a transform needs besides the value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    /// The subject the value belongs to (for per-subject date shifts).
    pub subject: Option<&'a str>,
    /// The default label for [`Transform::Redact`] without one.
    pub label: Option<&'a str>,
}

impl Transform {
    /// Whether the transform uses the region's keys (so a tool applying it
    /// must be given them).
    pub fn needs_keys(&self) -> bool {
        match self {
            Transform::Scrub(plan) => plan.needs_keys(),
            t => matches!(
                t,
                Transform::Token { .. }
                    | Transform::Reversible { .. }
                    | Transform::Fpe { .. }
                    | Transform::ShiftDate { .. }
            ),
        }
    }

    /// Like [`Transform::apply`], appending the result to `out`: nothing
    /// when the value is dropped, and a one-way token without allocating.
    /// On error, `out` is unchanged.
    pub fn apply_into(
        &self,
        keys: &Keys,
        value: &str,
        cx: Context<'_>,
        out: &mut String,
    ) -> Result<(), Error> {
        match self {
            Transform::Token { domain } => keys.token.token_into(domain, value, out),
            other => {
                if let Some(v) = other.apply(keys, value, cx)? {
                    out.push_str(&v);
                }
            }
        }
        Ok(())
    }

    /// Applies the transform; `Ok(None)` means the value is dropped.
    pub fn apply(
        &self,
        keys: &Keys,
        value: &str,
        cx: Context<'_>,
    ) -> Result<Option<String>, Error> {
        Ok(Some(match self {
            Transform::Keep => value.to_owned(),
            Transform::Drop => return Ok(None),
            Transform::Token { domain } => keys.token.token(domain, value),
            Transform::Reversible { domain } => keys.siv.seal(domain, value)?,
            Transform::Fpe { alphabet, tweak } => {
                let a = match alphabet {
                    Some(s) => Alphabet::new(s)?,
                    None => Alphabet::digits(),
                };
                keys.ff1.encrypt(&a, tweak.as_bytes(), value)?
            }
            Transform::Mask { first, last, with } => mask::mask(value, *first, *last, *with),
            Transform::Redact { label } => {
                mask::redact(label.as_deref().or(cx.label).unwrap_or("<REDACTED>"))
            }
            Transform::Bucket { width } => generalise::bucket(value, *width)?,
            Transform::TruncateDate { unit } => generalise::truncate_date(value, *unit)?,
            Transform::ShiftDate { max_days } => {
                let subject = cx.subject.ok_or_else(|| {
                    Error::InvalidParameter("a date shift needs the subject".into())
                })?;
                generalise::shift_date(&keys.date_shift, subject, value, *max_days)?
            }
            Transform::TruncateIp => generalise::truncate_ip(value)?,
            Transform::TruncateVersion { parts } => generalise::truncate_version(value, *parts)?,
            Transform::TruncatePostcode { keep } => generalise::truncate_postcode(value, *keep)?,
            Transform::Geohash { precision } => {
                let (lat, lon) = generalise::parse_coordinates(value)?;
                generalise::geohash(lat, lon, *precision)?
            }
            Transform::Grid { cell } => {
                let (lat, lon) = generalise::parse_coordinates(value)?;
                let (a, b) = generalise::coarsen_grid(lat, lon, *cell)?;
                format!("{a},{b}")
            }
            Transform::Scrub(plan) => {
                let found = crate::pii::analyzer().analyze(value);
                crate::pii::redact_for(value, &found, plan, keys, cx.subject)
            }
        }))
    }
}
