//! Recognisers for Thailand (Presidio's `country_specific/thai`).

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        // N1 is not 0; N2N3 (the province) is one that exists. Written plain
        // or grouped 1-4-5-2-1 as on the card.
        Recognizer::new(
            "TH_TNIN",
            r"(?-u:\b)[1-9][ \-]?(?:[134]\d|2[0-7]|5[0-8]|[67][0-7]|[89][0-6])\d{2}[ \-]?\d{5}[ \-]?\d{2}[ \-]?\d(?-u:\b)",
        )
        .validate(th_tnin)
        .score(0.6)
        .context(&[
            "thai national id",
            "thai id",
            "tnin",
            "national id",
            "เลขประจำตัวประชาชน",
            "เลขบัตรประชาชน",
            "รหัสปชช",
            "บัตรประชาชน",
        ])
        .not_after(&["order", "invoice", "tracking", "ref", "reference"]),
    ]
}

/// Thai national ID number: 13 digits, N1 and N2 not 0, an existing province
/// in N2N3, and the check digit `(11 - Σ(13..2 · N1..N12) mod 11) mod 10`;
/// separators, if any, in the 1-4-5-2-1 grouping and all the same.
fn th_tnin(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 13 {
        return false;
    }
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    let grouped = seps.is_empty()
        || (seps.len() == 4
            && seps.windows(2).all(|w| w[0] == w[1])
            && [1, 6, 12, 15]
                .iter()
                .all(|&i| s.as_bytes().get(i).is_some_and(|b| !b.is_ascii_digit())));
    let province = d[1] * 10 + d[2];
    let sum: u32 = d.iter().zip((2..=13).rev()).map(|(x, w)| x * w).sum();
    grouped
        && d[0] != 0
        && d[1] != 0
        && ![28, 29, 59, 68, 69, 78, 79, 87, 88, 89, 97, 98, 99].contains(&province)
        && d.get(12) == Some(&((11 - sum % 11) % 10))
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("TH_TNIN", "Thai ID number [1101700207366]"),
    Case::Valid("TH_TNIN", "เลขประจำตัวประชาชน [3-1005-01234-56-3]"),
    Case::Valid("TH_TNIN", "TNIN: [8101234567894]"),
    Case::Invalid("TH_TNIN", "Thai ID number 1101700207367"),
    Case::Invalid("TH_TNIN", "Thai ID number 1991700207366"),
    Case::LookAlike("TH_TNIN", "order 1101700207366 shipped"),
];

#[cfg(test)]
mod tests {
    use super::th_tnin;

    #[test]
    fn tnin_checks() {
        assert!(th_tnin("1101700207366"));
        assert!(th_tnin("3 1005 01234 56 3"));
        assert!(!th_tnin("3-1005 01234-56-3"), "mixed separators");
        assert!(!th_tnin("31-005-01234-56-3"), "wrong grouping");
        assert!(!th_tnin("1101700207367"), "check digit");
        assert!(!th_tnin("0101700207366"), "N1 is 0");
        assert!(!th_tnin("110170020736"));
    }
}
