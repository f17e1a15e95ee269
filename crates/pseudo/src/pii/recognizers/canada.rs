//! Recognisers for Canada (Presidio's `country_specific/canada`).

use super::{Case, Recognizer};
use crate::pii::checksum::{digits, luhn};

/// "sin" alone would also match "since" and "single".
const SIN_CONTEXT: &[&str] = &[
    "sin ",
    "sin:",
    "sin#",
    "sin no",
    "sin number",
    "social insurance",
    "canada",
    "nas ",
    "nas:",
    "numéro nas",
    "assurance sociale",
];
const POSTAL_CONTEXT: &[&str] = &[
    "postal code",
    "postcode",
    "zip",
    "canada",
    "ontario",
    "quebec",
    "québec",
    "alberta",
    "british columbia",
    "manitoba",
    "saskatchewan",
    "nova scotia",
    "new brunswick",
    "code postal",
];
const NOT_AFTER: &[&str] = &[
    "order",
    "invoice",
    "ref",
    "reference",
    "tracking",
    "ticket",
    "commande",
    "facture",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("CA_SIN", r"(?-u:\b)[1-79]\d{2}[ \-]\d{3}[ \-]\d{3}(?-u:\b)")
            .validate(ca_sin)
            .score(0.5)
            .context(SIN_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("CA_SIN", r"(?-u:\b)[1-79]\d{8}(?-u:\b)")
            .validate(ca_sin)
            .score(0.1)
            .context(SIN_CONTEXT)
            .not_after(NOT_AFTER),
        // Letters D, F, I, O, Q, U never occur; W and Z never first.
        Recognizer::new(
            "CA_POSTAL_CODE",
            r"(?i)(?-u:\b)[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d(?-u:\b)",
        )
        .score(0.2)
        .context(POSTAL_CONTEXT),
        Recognizer::new(
            "CA_POSTAL_CODE",
            r"(?i)(?-u:\b)[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\d[ABCEGHJ-NPRSTV-Z]\d(?-u:\b)",
        )
        .score(0.1)
        .context(POSTAL_CONTEXT),
    ]
}

/// Social Insurance Number: 9 digits, not starting 0 or 8, one separator
/// used throughout, Luhn check digit
/// (<https://www.canada.ca/en/employment-social-development/services/sin.html>).
fn ca_sin(s: &str) -> bool {
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    let d = digits(s);
    d.len() == 9
        && seps.windows(2).all(|w| w[0] == w[1])
        && !matches!(d.first(), Some(0 | 8) | None)
        && luhn(s)
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("CA_SIN", "SIN: [712-345-677]"),
    Case::Valid("CA_SIN", "social insurance number [712 345 685]"),
    Case::Valid("CA_SIN", "numéro d'assurance sociale [546454281]"),
    Case::Invalid("CA_SIN", "SIN: 712-345-678"),
    Case::Invalid("CA_SIN", "SIN: 046-454-286"),
    Case::Invalid("CA_SIN", "SIN: 712-345 677"),
    Case::LookAlike("CA_SIN", "ticket 712-345-677 closed"),
    Case::LookAlike("CA_SIN", "batch 546454281 in stock"),
    Case::Valid("CA_POSTAL_CODE", "Ottawa, Ontario [K1A 0B1]"),
    Case::Valid("CA_POSTAL_CODE", "postal code: [h2x1y4]"),
    Case::Invalid("CA_POSTAL_CODE", "Ottawa, Ontario K1A 0B1X"),
    Case::Invalid("CA_POSTAL_CODE", "postal code: D1A 0B1"),
    Case::Invalid("CA_POSTAL_CODE", "postal code: W1A 0B1"),
    Case::LookAlike("CA_POSTAL_CODE", "part K1A 0B1 in stock"),
];

#[cfg(test)]
mod tests {
    use super::ca_sin;

    #[test]
    fn sin_luhn_and_separators() {
        assert!(ca_sin("712-345-677"));
        assert!(ca_sin("712345677"));
        assert!(!ca_sin("712-345-678"));
        assert!(!ca_sin("712-345 677"), "mixed separators");
        assert!(!ca_sin("046 454 286"), "starts with 0");
        assert!(!ca_sin(""));
    }

    #[test]
    fn validators_take_any_text() {
        let validators: &[fn(&str) -> bool] = &[ca_sin];
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
