//! Recognisers for Italy (Presidio's `country_specific/italy`, plus what it lacks).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "IT_FISCAL_CODE",
            r"(?i)(?-u:\b)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?-u:\b)",
        )
        .validate(it_fiscal_code)
        .score(1.0),
    ]
}

/// Italian codice fiscale: 16 characters with its control letter.
fn it_fiscal_code(s: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let c = s.to_ascii_uppercase();
    if c.len() != 16 || !c.is_ascii() {
        return false;
    }
    let mut sum = 0;
    for (i, ch) in c.bytes().take(15).enumerate() {
        let v = match ch {
            b'0'..=b'9' => u32::from(ch - b'0'),
            b'A'..=b'Z' => u32::from(ch - b'A'),
            _ => return false,
        };
        // Positions count from 1: odd positions use the table.
        sum += if i % 2 == 0 { ODD[v as usize] } else { v };
    }
    c.as_bytes()[15] == b'A' + (sum % 26) as u8
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("IT_FISCAL_CODE", "codice fiscale [RSSMRA85T10A562S]"),
    Case::Invalid("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A562T"),
    Case::LookAlike("IT_FISCAL_CODE", "serial RSSMRA85X10A562S"),
];
