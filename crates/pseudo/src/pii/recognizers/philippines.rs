//! Recognisers for the Philippines (Presidio's `country_specific/philippines`).

use super::{Case, Recognizer};
use crate::pii::checksum::compact;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "PH_PASSPORT",
            r"(?-u:\b)(?:[A-Z][0-9]{7}[A-Z]|[A-Z]{2}[0-9]{7})(?-u:\b)",
        )
        .validate(ph_passport)
        .score(0.1)
        .context(&[
            "passport",
            "philippine",
            "filipino",
            "pilipinas",
            "pasaporte",
            "travel document",
            "dfa",
        ]),
        // 9 digits, or 12 with the branch code, grouped by three.
        Recognizer::new(
            "PH_TIN",
            r"(?-u:\b)[0-9]{3}-[0-9]{3}-[0-9]{3}(?:-[0-9]{3})?(?-u:\b)",
        )
        .validate(ph_tin)
        .score(0.5)
        .context(TIN_CONTEXT)
        .not_after(NOT_PII),
        // Ungrouped: a 1-in-11 check on a bare run of digits is weak, and a
        // US SSN or an Aadhaar of the same length is likelier without context.
        Recognizer::new("PH_TIN", r"(?-u:\b)(?:[0-9]{9}|[0-9]{12})(?-u:\b)")
            .validate(ph_tin)
            .score(0.35)
            .context(TIN_CONTEXT)
            .not_after(NOT_PII),
        Recognizer::new("PH_UMID", r"(?-u:\b)[0-9]{4}-[0-9]{7}-[0-9](?-u:\b)")
            .validate(ph_umid)
            .score(0.2)
            .context(&[
                "umid",
                "crn",
                "common reference number",
                "unified multi-purpose id",
                "unified multipurpose id",
                "sss",
                "gsis",
                "philhealth",
                "pag-ibig",
            ]),
    ]
}

const TIN_CONTEXT: &[&str] = &[
    "tin",
    "taxpayer identification number",
    "taxpayer id",
    "tax id",
    "bir",
    "rdo",
    "revenue district office",
];

/// Labels right before a number that say it is not a personal identifier.
const NOT_PII: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "ticket",
    "ref",
    "reference",
    "account",
    "acct",
];

/// Passport: a serial that is not all zeros.
fn ph_passport(s: &str) -> bool {
    s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// Taxpayer Identification Number (BIR): 9 digits, the 9th the remainder
/// mod 11 of the first eight weighted 9 down to 2, and an optional 3-digit
/// branch code.
fn ph_tin(s: &str) -> bool {
    let Some(c) = compact(s, "-") else {
        return false;
    };
    let d: Vec<u32> = c.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(d.len() == 9 || d.len() == 12) || d.len() != c.len() || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: u32 = (2..=9).rev().zip(&d).map(|(w, x)| w * x).sum();
    d.get(8) == Some(&(sum % 11))
}

/// UMID common reference number (4-7-1 digits): the check digit's
/// algorithm is not published; not all zeros.
fn ph_umid(s: &str) -> bool {
    s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("PH_PASSPORT", "passport no. [P1234567A]"),
    Case::Valid("PH_PASSPORT", "Philippine passport [EB1234567]"),
    Case::Invalid("PH_PASSPORT", "passport no. P123456A"),
    Case::Invalid("PH_PASSPORT", "passport no. P0000000A"),
    Case::LookAlike("PH_PASSPORT", "booking ref P1234567A"),
    Case::Valid("PH_TIN", "TIN [123-456-782]"),
    Case::Valid("PH_TIN", "TIN [123-456-782-000]"),
    Case::Valid("PH_TIN", "BIR TIN: [234567818]"),
    Case::Invalid("PH_TIN", "TIN 123-456-783"),
    Case::Invalid("PH_TIN", "TIN 123-456782"),
    Case::LookAlike("PH_TIN", "order 123456782"),
    Case::Valid("PH_UMID", "UMID CRN [0111-2345678-9]"),
    Case::Invalid("PH_UMID", "UMID CRN 0111-234567-89"),
    Case::Invalid("PH_UMID", "UMID CRN 0000-0000000-0"),
    Case::LookAlike("PH_UMID", "part no. 0111-2345678-9"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tin_check_digit() {
        assert!(ph_tin("123-456-782"));
        assert!(ph_tin("123456782000"));
        assert!(!ph_tin("123-456-783"));
        assert!(!ph_tin("123-456-78"));
        assert!(!ph_tin("000000000"));
    }
}
