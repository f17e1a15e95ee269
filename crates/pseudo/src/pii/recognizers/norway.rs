//! Recognisers for Norway (Presidio has none).

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("NO_FNR", r"(?-u:\b)\d{6} ?\d{5}(?-u:\b)")
            .validate(no_fnr)
            .score(0.7)
            .context(&[
                "fødselsnummer",
                "fodselsnummer",
                "fnr",
                "personnummer",
                "d-nummer",
            ]),
    ]
}

/// Norwegian fødselsnummer (and D-/H-numbers): a valid date and both
/// modulus-11 check digits.
fn no_fnr(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 {
        return false;
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    if day > 40 {
        day -= 40; // D-number
    }
    if month > 80 {
        month -= 80; // synthetic test number
    } else if month > 40 {
        month -= 40; // H-number
    }
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return false;
    }
    let check = |weights: &[u32], n: usize| -> Option<u32> {
        let sum: u32 = weights.iter().zip(&d[..n]).map(|(w, x)| w * x).sum();
        match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            k => Some(k),
        }
    };
    check(&[3, 7, 6, 1, 8, 9, 4, 5, 2], 9) == Some(d[9])
        && check(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], 10) == Some(d[10])
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("NO_FNR", "fødselsnummer [15076500565]"),
    Case::Valid("NO_FNR", "D-nummer: [410190 12393]"),
    Case::Invalid("NO_FNR", "fødselsnummer 15076500566"),
    Case::Invalid("NO_FNR", "fødselsnummer 32019012345"),
    Case::LookAlike("NO_FNR", "ordre 150765 00564 sendt"),
];

#[cfg(test)]
mod tests {
    use super::no_fnr;

    #[test]
    fn fodselsnummer_check_digits() {
        assert!(no_fnr(&make_fnr("150765", "005")));
        assert!(no_fnr(&make_fnr("410190", "123")), "D-number");
        assert!(!no_fnr(&make_fnr("320190", "123")), "day 32");
    }

    /// A fødselsnummer with both check digits, trying the next individual
    /// number while a check digit would be 10.
    fn make_fnr(date: &str, ind: &str) -> String {
        let mut ind: u32 = ind.parse().unwrap();
        loop {
            let base = format!("{date}{ind:03}");
            let d: Vec<u32> = base.chars().map(|c| c.to_digit(10).unwrap()).collect();
            let k = |w: &[u32], d: &[u32]| match 11
                - w.iter().zip(d).map(|(a, b)| a * b).sum::<u32>() % 11
            {
                11 => Some(0),
                10 => None,
                k => Some(k),
            };
            if let Some(k1) = k(&[3, 7, 6, 1, 8, 9, 4, 5, 2], &d) {
                let mut d2 = d.clone();
                d2.push(k1);
                if let Some(k2) = k(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], &d2) {
                    return format!("{base}{k1}{k2}");
                }
            }
            ind += 1;
        }
    }
}
