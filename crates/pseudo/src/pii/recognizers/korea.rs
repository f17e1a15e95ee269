//! Recognisers for South Korea (Presidio's `country_specific/korea`).

use super::{Case, Recognizer};
use crate::pii::checksum::{compact, days_in_month};

/// Labels right before a number that say it is not a personal identifier.
const NOT_PII: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "ticket",
    "ref",
    "reference",
    "barcode",
    "주문번호",
    "송장번호",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("KR_BRN", r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{5}(?-u:\b)")
            .validate(kr_brn)
            .score(0.6)
            .context(BRN_CONTEXT)
            .not_after(NOT_PII),
        Recognizer::new("KR_BRN", r"(?-u:\b)[0-9]{10}(?-u:\b)")
            .validate(kr_brn)
            .score(0.5)
            .context(BRN_CONTEXT)
            .not_after(NOT_PII),
        Recognizer::new(
            "KR_DRIVER_LICENSE",
            r"(?-u:\b)[0-9]{2}[- ]?[0-9]{2}[- ]?[0-9]{6}[- ]?[0-9]{2}(?-u:\b)",
        )
        .validate(kr_driver_license)
        .score(0.1)
        .context(&[
            "운전면허",
            "면허번호",
            "면허",
            "korea",
            "driver license",
            "driver's license",
            "driving licence",
            "driving license",
        ]),
        Recognizer::new(
            "KR_FRN",
            r"(?-u:\b)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[- ]?[5-8][0-9]{6}(?-u:\b)",
        )
        .validate(kr_frn)
        .score(0.8)
        .context(&[
            "외국인등록번호",
            "외국인번호",
            "frn",
            "foreigner registration number",
            "alien registration",
        ])
        .not_after(NOT_PII),
        Recognizer::new(
            "KR_PASSPORT",
            r"(?i-u)(?-u:\b)[MSROD][0-9]{3}(?:[A-Z][0-9]{4}|[0-9]{5})(?-u:\b)",
        )
        .score(0.1)
        .context(&["여권", "passport", "korea", "대한민국"]),
        Recognizer::new(
            "KR_RRN",
            r"(?-u:\b)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[- ]?[1-4][0-9]{6}(?-u:\b)",
        )
        .validate(kr_rrn)
        .score(0.8)
        .context(&[
            "주민등록번호",
            "주민번호",
            "rrn",
            "resident registration number",
        ])
        .not_after(NOT_PII),
    ]
}

const BRN_CONTEXT: &[&str] = &[
    "사업자등록번호",
    "사업자번호",
    "사업자",
    "brn",
    "business registration number",
    "business number",
    "tax registration number",
];

/// Digits of `s` without `-` or spaces (used consistently).
fn kr_digits(s: &str) -> Option<Vec<u32>> {
    let c = compact(s, "- ")?;
    c.chars().map(|c| c.to_digit(10)).collect()
}

/// Business registration number: tax office (not starting with 0), business
/// type (not 00), serial and a weighted check digit (1,3,7,1,3,7,1,3,5, the
/// last product's tens added).
fn kr_brn(s: &str) -> bool {
    let Some(d) = kr_digits(s) else {
        return false;
    };
    if d.len() != 10 || d[0] == 0 || (d[3] == 0 && d[4] == 0) {
        return false;
    }
    let weights = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let mut sum: u32 = weights.iter().zip(&d).map(|(w, x)| w * x).sum();
    sum += d[8] * 5 / 10;
    (10 - sum % 10) % 10 == d[9]
}

/// Driver's licence: 12 digits starting with a regional code (11-26, 28).
/// The last two are a check number whose algorithm is not published.
fn kr_driver_license(s: &str) -> bool {
    let Some(d) = kr_digits(s) else {
        return false;
    };
    d.len() == 12 && matches!(d[0] * 10 + d[1], 11..=26 | 28)
}

/// The current year, from the system clock (birth dates cannot be later).
fn current_year() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + u32::try_from(secs / 31_556_952).unwrap_or(0)
}

/// Resident and foreigner registration numbers (YYMMDD-GSSSSSC): a real
/// birth date whose century the gender digit gives, and, for numbers
/// issued before the October 2020 reform (births before then), the region
/// code (00-95) and the check digit `(base - Σ wᵢdᵢ mod 11) mod 10`;
/// later numbers end in random digits.
/// <https://en.wikipedia.org/wiki/Resident_registration_number>
fn registration_number(s: &str, base: u32) -> bool {
    let Some(d) = kr_digits(s) else {
        return false;
    };
    if d.len() != 13 {
        return false;
    }
    let century = match d[6] {
        1 | 2 | 5 | 6 => 1900,
        3 | 4 | 7 | 8 => 2000,
        _ => return false,
    };
    let (year, month, day) = (
        century + d[0] * 10 + d[1],
        d[2] * 10 + d[3],
        d[4] * 10 + d[5],
    );
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || year > current_year()
    {
        return false;
    }
    if (year, month) >= (2020, 10) {
        return true;
    }
    let weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];
    let sum: u32 = weights.iter().zip(&d).map(|(w, x)| w * x).sum();
    d[7] * 10 + d[8] <= 95 && (base - sum % 11) % 10 == d[12]
}

/// Resident registration number (gender digit 1-4).
fn kr_rrn(s: &str) -> bool {
    registration_number(s, 11)
}

/// Foreigner registration number (gender digit 5-8).
fn kr_frn(s: &str) -> bool {
    registration_number(s, 13)
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("KR_BRN", "사업자등록번호 [123-45-67891]"),
    Case::Valid("KR_BRN", "BRN: [2208123455]"),
    Case::Invalid("KR_BRN", "사업자등록번호 123-45-67892"),
    Case::Invalid("KR_BRN", "사업자등록번호 123-00-67890"),
    Case::Invalid("KR_BRN", "사업자등록번호 012-34-56782"),
    Case::LookAlike("KR_BRN", "invoice 1234567891"),
    Case::Valid("KR_DRIVER_LICENSE", "운전면허번호: [11-12-345678-90]"),
    Case::Valid("KR_DRIVER_LICENSE", "Korean driver license [131234567890]"),
    Case::Invalid("KR_DRIVER_LICENSE", "운전면허번호: 27-12-345678-90"),
    Case::Invalid("KR_DRIVER_LICENSE", "운전면허번호: 11-12 345678-90"),
    Case::LookAlike("KR_DRIVER_LICENSE", "serial 11-12-345678-90"),
    Case::Valid("KR_FRN", "외국인등록번호 [850315-5123450]"),
    Case::Valid("KR_FRN", "FRN [9207046234562]"),
    Case::Valid("KR_FRN", "외국인등록번호 [211115-7123459]"),
    Case::Invalid("KR_FRN", "외국인등록번호 850315-5123451"),
    Case::Invalid("KR_FRN", "외국인등록번호 850315-1123450"),
    Case::LookAlike("KR_FRN", "order 850315-5123450"),
    Case::Valid("KR_PASSPORT", "여권번호 [M123A4567]"),
    Case::Valid("KR_PASSPORT", "passport [s12345678]"),
    Case::Invalid("KR_PASSPORT", "여권번호 X123A4567"),
    Case::Invalid("KR_PASSPORT", "여권번호 M123A45678"),
    Case::LookAlike("KR_PASSPORT", "model M123A4567"),
    Case::Valid("KR_RRN", "주민등록번호 [850315-1234566]"),
    Case::Valid("KR_RRN", "RRN: [9001011234568]"),
    Case::Valid("KR_RRN", "주민등록번호 [211115-4123459]"),
    Case::Invalid("KR_RRN", "주민등록번호 850315-1234567"),
    Case::Invalid("KR_RRN", "주민등록번호 850230-1234561"),
    Case::Invalid("KR_RRN", "주민등록번호 850315-1994568"),
    Case::LookAlike("KR_RRN", "barcode 8801234567893"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brn_check_digit() {
        assert!(kr_brn("123-45-67891"));
        assert!(kr_brn("2208123455"));
        assert!(!kr_brn("2208123456"));
        assert!(!kr_brn("123-45-6789"));
    }

    #[test]
    fn registration_numbers() {
        assert!(kr_rrn("850315-1234566"));
        assert!(!kr_rrn("850230-1234561"), "30 February");
        assert!(kr_rrn("211115-4123459"), "random digits after the reform");
        assert!(!kr_rrn("880123-4567893"), "born in 2088");
        assert!(kr_frn("850315-5123450"));
        assert!(!kr_frn("850315-1234566"), "gender digit of a citizen");
        assert!(!kr_rrn("850315 1234566-"));
    }
}
