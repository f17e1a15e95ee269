//! Recognisers for Turkey (Presidio's `country_specific/turkey`).

use std::sync::LazyLock;

use regex::Regex;

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("TR_NATIONAL_ID", r"(?-u:\b)[1-9]\d{10}(?-u:\b)")
            .validate(tr_national_id)
            .score(0.5)
            .context(&[
                "tc kimlik",
                "t.c. kimlik",
                "kimlik no",
                "kimlik numarası",
                "tckn",
                "tc no",
                "nüfus cüzdanı",
                "national id",
                "turkish id",
                "türk kimlik",
            ])
            .not_after(&["sipariş", "fatura", "order", "invoice", "ref", "reference"]),
        // Province 01–81, one to three letters of the Turkish alphabet
        // without Q, W, X, two to four digits.
        Recognizer::new(
            "TR_LICENSE_PLATE",
            r"(?-u:\b)(?:0[1-9]|[1-7]\d|8[01])(?: ?[A-PR-VYZ]{1,3} ?\d{2,4}|-[A-PR-VYZ]{1,3}-\d{2,4})(?-u:\b)",
        )
        .validate(tr_license_plate)
        .score(0.1)
        .context(&[
            "plaka",
            "araç plakası",
            "plaka numarası",
            "kayıt plakası",
            "taşıt plakası",
            "tr plaka",
            "license plate",
            "licence plate",
            "number plate",
            "plate",
            "kayıt",
        ]),
    ]
}

/// Turkish identity number (TC Kimlik No): 11 digits, no leading 0, the
/// 10th digit `(7 · (d1+d3+d5+d7+d9) - (d2+d4+d6+d8)) mod 10` and the 11th
/// the sum of the first ten mod 10 (NVİ's rule).
fn tr_national_id(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || s.len() != 11 || d[0] == 0 {
        return false;
    }
    let odd: i64 = d.iter().step_by(2).take(5).map(|&x| i64::from(x)).sum();
    let even: i64 = d
        .iter()
        .skip(1)
        .step_by(2)
        .take(4)
        .map(|&x| i64::from(x))
        .sum();
    let tenth = (odd * 7 - even).rem_euclid(10);
    let eleventh: u32 = d.iter().take(10).sum::<u32>() % 10;
    d.get(9).is_some_and(|&x| i64::from(x) == tenth) && d.get(10) == Some(&eleventh)
}

static PLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:0[1-9]|[1-7]\d|8[01])(?: ?[A-PR-VYZ]{1,3} ?\d{2,4}|-[A-PR-VYZ]{1,3}-\d{2,4})$")
        .unwrap_or_else(|e| unreachable!("plate pattern compiles: {e}"))
});

/// Turkish licence plate: the whole candidate has the plate's shape and a
/// province code 01–81 (Karayolları Trafik Kanunu, art. 23).
fn tr_license_plate(s: &str) -> bool {
    PLATE.is_match(s)
        && s.get(..2)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| (1..=81).contains(&p))
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("TR_NATIONAL_ID", "TC Kimlik No: [28461935716]"),
    Case::Valid("TR_NATIONAL_ID", "TCKN [10000000146]"),
    Case::Invalid("TR_NATIONAL_ID", "TC Kimlik No: 28461935717"),
    Case::Invalid("TR_NATIONAL_ID", "TC Kimlik No: 08461935716"),
    Case::LookAlike("TR_NATIONAL_ID", "sipariş 28461935716 kargoda"),
    Case::Valid("TR_LICENSE_PLATE", "araç plakası [34 ABC 1234]"),
    Case::Valid("TR_LICENSE_PLATE", "plaka: [06-AB-123]"),
    Case::Valid("TR_LICENSE_PLATE", "license plate [35JK12]"),
    Case::Invalid("TR_LICENSE_PLATE", "plaka 82 ABC 123"),
    Case::Invalid("TR_LICENSE_PLATE", "plaka 34 QAB 123"),
    Case::LookAlike("TR_LICENSE_PLATE", "oda 34 ABC 1234 numaralı"),
];

#[cfg(test)]
mod tests {
    use super::{tr_license_plate, tr_national_id};

    #[test]
    fn national_id_checks() {
        assert!(tr_national_id("10000000146"));
        assert!(!tr_national_id("10000000147"), "11th digit");
        assert!(!tr_national_id("10000000156"), "10th digit");
        assert!(!tr_national_id("1000000014"));
    }

    #[test]
    fn plate_shapes() {
        assert!(tr_license_plate("34 ABC 1234"));
        assert!(tr_license_plate("06-AB-123"));
        assert!(!tr_license_plate("34 ABC"), "no digits");
        assert!(!tr_license_plate("00 AB 123"), "province 00");
    }
}
