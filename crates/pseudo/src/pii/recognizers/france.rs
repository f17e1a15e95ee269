//! Recognisers for France (Presidio has none).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "FR_NIR",
            r"(?i)(?-u:\b)[1234578] ?\d{2} ?\d{2} ?(?:\d{2}|2a|2b) ?\d{3} ?\d{3} ?\d{2}(?-u:\b)",
        )
        .validate(fr_nir)
        .score(0.9)
        .context(&[
            "sécurité sociale",
            "securite sociale",
            "nir",
            "insee",
            "sécu",
            "secu",
        ]),
    ]
}

/// French NIR (numéro de sécurité sociale): 13 characters and a key of
/// `97 - (number mod 97)`, with Corsica's `2A`/`2B` counted as 19/18.
fn fr_nir(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() != 15 {
        return false;
    }
    let (body, key) = c.split_at(13);
    let body = body.replacen("2A", "19", 1).replacen("2B", "18", 1);
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    let month: u32 = c[3..5].parse().unwrap_or(0);
    let month_ok =
        (1..=12).contains(&month) || (20..=42).contains(&month) || (50..=99).contains(&month);
    month_ok
        && matches!(c.as_bytes()[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8')
        && key == 97 - n % 97
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("FR_NIR", "n° de sécu [1 85 05 78 006 084 91] merci"),
    Case::Valid("FR_NIR", "NIR : [269052A12345688] (Corse)"),
    Case::Invalid("FR_NIR", "n° de sécu 1 85 05 78 006 084 92"),
    Case::Invalid("FR_NIR", "n° de sécu 1 85 13 78 006 084 XX"),
    Case::LookAlike("FR_NIR", "commande 6 85 05 78 006 084 91 expédiée"),
];
