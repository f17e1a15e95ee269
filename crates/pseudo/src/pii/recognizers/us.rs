//! Recognisers for the United States (Presidio's `country_specific/us`, plus what it lacks).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("US_SSN", r"(?-u:\b)\d{3}[ \-]?\d{2}[ \-]?\d{4}(?-u:\b)")
            .validate(us_ssn)
            .score(0.4)
            .context(&["ssn", "social security", "social sec", "ssa"]),
    ]
}

/// US Social Security number: consistent separators and an area, group and
/// serial that are ever issued.
fn us_ssn(s: &str) -> bool {
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if !(seps.is_empty() || (seps.len() == 2 && seps[0] == seps[1])) {
        return false;
    }
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 9 || d.bytes().all(|b| b == d.as_bytes()[0]) || d == "123456789" {
        return false;
    }
    let area: u32 = d[..3].parse().unwrap_or(0);
    let group: u32 = d[3..5].parse().unwrap_or(0);
    let serial: u32 = d[5..].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("US_SSN", "SSN [078-05-1120]"),
    Case::Invalid("US_SSN", "SSN 666-05-1120"),
    Case::Invalid("US_SSN", "SSN 000-12-3456"),
    Case::LookAlike("US_SSN", "SSN 078-05 1120"),
];
