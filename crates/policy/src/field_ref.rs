//! `dataset.field`: how requests, decisions and log entries name a field of
//! the catalog. Parsed once, where the text comes in (a request body, a log
//! entry being replayed), so that nothing downstream splits it again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A reference to a field of the catalog: two catalog names (ASCII
/// letters, digits, `_` and `-`) joined by one dot, at most
/// [`FieldRef::MAX_BYTES`] long. Whether the catalog
/// has the field is checked where it is decided on.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldRef {
    /// `dataset.field`, as parsed.
    text: String,
    /// Where the dot is.
    dot: usize,
}

/// Whether `s` has a catalog name's shape. Only names of this shape are
/// ever repeated in a message, so no caller's free text is.
pub fn is_catalog_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl FieldRef {
    /// The longest reference, in bytes.
    pub const MAX_BYTES: usize = 128;

    /// The dataset's name.
    pub fn dataset(&self) -> &str {
        &self.text[..self.dot]
    }

    /// The field's name within its dataset.
    pub fn field(&self) -> &str {
        &self.text[self.dot + 1..]
    }

    /// `dataset.field`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The reference to `field` of `dataset`, if both are catalog names.
    pub fn new(dataset: &str, field: &str) -> Result<Self, Error> {
        format!("{dataset}.{field}").parse()
    }
}

impl FromStr for FieldRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() > Self::MAX_BYTES {
            return Err(Error::FieldRefTooLong);
        }
        match s.split_once('.') {
            Some((d, f)) if is_catalog_name(d) && is_catalog_name(f) => Ok(FieldRef {
                text: s.to_owned(),
                dot: d.len(),
            }),
            _ => Err(Error::NotAFieldRef),
        }
    }
}

impl TryFrom<String> for FieldRef {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<FieldRef> for String {
    fn from(f: FieldRef) -> String {
        f.text
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parts_are_the_two_names() {
        let f: FieldRef = "profile.phone".parse().unwrap();
        assert_eq!((f.dataset(), f.field()), ("profile", "phone"));
        assert_eq!(f.to_string(), "profile.phone");
        assert_eq!(serde_json::to_string(&f).unwrap(), r#""profile.phone""#);
    }

    #[test]
    fn a_reference_too_long_is_refused_before_its_shape_is_read() {
        let long = format!("d.{}", "f".repeat(FieldRef::MAX_BYTES));
        assert!(matches!(
            long.parse::<FieldRef>(),
            Err(Error::FieldRefTooLong)
        ));
        let longest = format!("d.{}", "f".repeat(FieldRef::MAX_BYTES - 2));
        assert!(longest.parse::<FieldRef>().is_ok());
    }

    #[test]
    fn anything_but_two_catalog_names_is_refused_without_echo() {
        for bad in [
            "", ".", "a.", ".b", "a", "a.b.c", "a b.c", "a.b\n", "é.b", "a.b/c",
        ] {
            let e = bad.parse::<FieldRef>().unwrap_err();
            assert!(matches!(e, Error::NotAFieldRef), "{bad:?}");
        }
        let e = serde_json::from_str::<FieldRef>(r#""secret.value.x""#).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    proptest! {
        #[test]
        fn parsing_round_trips(d in "[a-z0-9_-]{1,20}", f in "[A-Za-z0-9_-]{1,20}") {
            let r = FieldRef::new(&d, &f).unwrap();
            prop_assert_eq!(r.dataset(), d.as_str());
            prop_assert_eq!(r.field(), f.as_str());
            let back: FieldRef = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
            prop_assert_eq!(back, r);
        }

        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            if let Ok(r) = s.parse::<FieldRef>() {
                prop_assert_eq!(r.as_str(), s.as_str());
            }
        }
    }
}
