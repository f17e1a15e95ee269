//! Recognisers for Australia (Presidio's `country_specific/australia`).
//!
//! Each identifier has two forms, as in Presidio: the grouped form printed
//! on documents (reported on its check digit alone) and the bare run of
//! digits, which a weak check cannot tell from any other number and so is
//! reported only with a context word before it.

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

const ABN_CONTEXT: &[&str] = &[
    "australian business number",
    "abn ",
    "abn:",
    "abn#",
    "abn.",
    "abn-",
];
const ACN_CONTEXT: &[&str] = &["australian company number", "acn"];
const TFN_CONTEXT: &[&str] = &["tax file number", "tfn"];
const MEDICARE_CONTEXT: &[&str] = &["medicare"];
/// Words right before a number that say it is something else.
const NOT_AFTER: &[&str] = &[
    "order",
    "invoice",
    "ref",
    "reference",
    "tracking",
    "ticket",
    "account",
    "acct",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("AU_ABN", r"(?-u:\b)\d{2} \d{3} \d{3} \d{3}(?-u:\b)")
            .validate(au_abn)
            .score(0.6)
            .context(ABN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_ABN", r"(?-u:\b)\d{11}(?-u:\b)")
            .validate(au_abn)
            .score(0.2)
            .context(ABN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_ACN", r"(?-u:\b)\d{3} \d{3} \d{3}(?-u:\b)")
            .validate(au_acn)
            .score(0.5)
            .context(ACN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_ACN", r"(?-u:\b)\d{9}(?-u:\b)")
            .validate(au_acn)
            .score(0.1)
            .context(ACN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_TFN", r"(?-u:\b)\d{3} \d{3} \d{3}(?-u:\b)")
            .validate(au_tfn)
            .score(0.5)
            .context(TFN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_TFN", r"(?-u:\b)\d{9}(?-u:\b)")
            .validate(au_tfn)
            .score(0.1)
            .context(TFN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_MEDICARE", r"(?-u:\b)[2-6]\d{3} \d{5} \d(?-u:\b)")
            .validate(au_medicare)
            .score(0.5)
            .context(MEDICARE_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("AU_MEDICARE", r"(?-u:\b)[2-6]\d{9}(?-u:\b)")
            .validate(au_medicare)
            .score(0.1)
            .context(MEDICARE_CONTEXT)
            .not_after(NOT_AFTER),
    ]
}

/// Weighted sum of `d` by `w` (pairs beyond the shorter are ignored).
fn weighted(d: &[u32], w: &[u32]) -> u32 {
    d.iter().zip(w).map(|(x, y)| x * y).sum()
}

/// Australian Business Number: 11 digits; with 1 taken from the first, the
/// sum weighted 10, 1, 3, 5, …, 19 is a multiple of 89
/// (<https://abr.business.gov.au/Help/AbnFormat>).
fn au_abn(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d.first().is_none_or(|&x| x == 0) {
        return false;
    }
    let mut d = d;
    if let Some(first) = d.first_mut() {
        *first -= 1;
    }
    weighted(&d, &[10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]).is_multiple_of(89)
}

/// Australian Company Number: 9 digits, the last the complement to 10 of
/// the first eight weighted 8 down to 1 (ASIC's modulus-10 rule).
fn au_acn(s: &str) -> bool {
    let d = digits(s);
    let (Some(body), Some(&check)) = (d.get(..8), d.get(8)) else {
        return false;
    };
    d.len() == 9 && (10 - weighted(body, &[8, 7, 6, 5, 4, 3, 2, 1]) % 10) % 10 == check
}

/// Tax File Number: 9 digits whose sum weighted 1, 4, 3, 7, 5, 8, 6, 9, 10
/// is a multiple of 11 (the ATO's modulus-11 rule).
fn au_tfn(s: &str) -> bool {
    let d = digits(s);
    d.len() == 9
        && !d.iter().all(|&x| x == 0)
        && weighted(&d, &[1, 4, 3, 7, 5, 8, 6, 9, 10]).is_multiple_of(11)
}

/// Medicare card number: 10 digits starting 2–6, the ninth the sum of the
/// first eight weighted 1, 3, 7, 9 (twice) modulo 10, the tenth the card's
/// issue number.
fn au_medicare(s: &str) -> bool {
    let d = digits(s);
    let (Some(body), Some(&check)) = (d.get(..8), d.get(8)) else {
        return false;
    };
    d.len() == 10
        && (2..=6).contains(&body[0])
        && weighted(body, &[1, 3, 7, 9, 1, 3, 7, 9]) % 10 == check
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("AU_ABN", "Supplier ABN: [51 824 753 556]"),
    Case::Valid("AU_ABN", "the australian business number is [18123456789]."),
    Case::Valid("AU_ABN", "registered as [80 987 654 321] in Sydney"),
    Case::Invalid("AU_ABN", "Supplier ABN: 51 824 753 557"),
    Case::Invalid("AU_ABN", "ABN 08123456789"),
    Case::LookAlike("AU_ABN", "order 51 824 753 556 shipped"),
    Case::LookAlike("AU_ABN", "batch 18123456789 in stock"),
    Case::Valid("AU_ACN", "ACN [531 004 878] (Pty Ltd)"),
    Case::Valid("AU_ACN", "Australian Company Number [612345098]"),
    Case::Invalid("AU_ACN", "ACN 531 004 877"),
    Case::LookAlike("AU_ACN", "invoice 531 004 878 paid"),
    Case::LookAlike("AU_ACN", "batch 531004878 in stock"),
    Case::Valid("AU_TFN", "my TFN is [123 456 782]"),
    Case::Valid("AU_TFN", "tax file number: [531004887]"),
    Case::Invalid("AU_TFN", "my TFN is 123 456 783"),
    Case::LookAlike("AU_TFN", "ticket 123 456 782 closed"),
    Case::LookAlike("AU_TFN", "batch 531004887 in stock"),
    Case::Valid("AU_MEDICARE", "Medicare card [2951 23457 1]"),
    Case::Valid("AU_MEDICARE", "medicare no. [6123450901]"),
    Case::Invalid("AU_MEDICARE", "Medicare card 2951 23458 1"),
    Case::Invalid("AU_MEDICARE", "Medicare card 7951 23457 1"),
    Case::LookAlike("AU_MEDICARE", "order 2951 23457 1 shipped"),
    Case::LookAlike("AU_MEDICARE", "batch 6123450901 in stock"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        assert!(au_abn("51 824 753 556"));
        assert!(!au_abn("51 824 753 555"));
        assert!(!au_abn("1"));
        assert!(au_acn("000 000 019"), "ASIC's example");
        assert!(au_acn("531004878"));
        assert!(!au_acn("531004879"));
        assert!(!au_acn("53100487"));
        assert!(au_tfn("123 456 782"));
        assert!(!au_tfn("000 000 000"));
        assert!(au_medicare("2951234571"));
        assert!(!au_medicare("1951234571"));
        assert!(!au_medicare(""));
    }

    #[test]
    fn validators_take_any_text() {
        let validators: &[fn(&str) -> bool] = &[au_abn, au_acn, au_tfn, au_medicare];
        for s in [
            "",
            "0",
            "é",
            "ééééé-éééé",
            "131052é308T",
            "99999999999999999999",
            "+",
        ] {
            for v in validators {
                let _ = v(s);
            }
        }
    }
}
