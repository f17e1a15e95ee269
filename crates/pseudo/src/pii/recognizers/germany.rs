//! Recognisers for Germany (Presidio's `country_specific/germany`, plus what it lacks).

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("DE_TAX_ID", r"(?-u:\b)[1-9]\d ?\d{3} ?\d{3} ?\d{3}(?-u:\b)")
            .validate(de_tax_id)
            .score(0.5)
            .context(&[
                "steuer",
                "steuerliche",
                "identifikationsnummer",
                "idnr",
                "steuer-id",
                "tin",
                "tax id",
            ]),
    ]
}

/// German Steuerliche Identifikationsnummer: 11 digits, no leading zero,
/// exactly one digit repeated (twice, or three times but not three in a
/// row) in the first ten, and an ISO 7064 MOD 11,10 check digit.
fn de_tax_id(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || repeated[0] > 3 {
        return false;
    }
    if repeated[0] == 3 && d[..10].windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = match 11 - product {
        10 => 0,
        c => c,
    };
    check == d[10]
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("DE_TAX_ID", "Steuer-ID [86095742719]"),
    Case::Invalid("DE_TAX_ID", "Steuer-ID 86095742718"),
    Case::Invalid("DE_TAX_ID", "Steuer-ID 01234567890"),
    Case::LookAlike("DE_TAX_ID", "Bestellung 11111111116"),
];
