//! Recognisers for the United Kingdom (Presidio's `country_specific/uk`, plus what it lacks).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "UK_NINO",
            r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?-u:\b)",
        )
        .validate(uk_nino)
        .score(0.5)
        .context(&["national insurance", "nino", "ni number", "nin"]),
    ]
}

/// UK National Insurance number prefixes that are never issued.
fn uk_nino(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() != 9 {
        return false;
    }
    !b"DFIQUV".contains(&b[0])
        && !b"DFIOQUV".contains(&b[1])
        && !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&&c[..2])
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("UK_NINO", "NI number [AB 12 34 56 C]"),
    Case::Invalid("UK_NINO", "NI number GB 12 34 56 C"),
    Case::Invalid("UK_NINO", "NI number DA 12 34 56 C"),
    Case::LookAlike("UK_NINO", "part AB 12 34 56 E"),
];
