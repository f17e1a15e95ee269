//! Recognisers for India (Presidio's `country_specific/india`).

use super::{Case, Recognizer};
use crate::pii::checksum::{compact, verhoeff};

/// Labels right before a number that say it is not a personal identifier.
const NOT_PII: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "ticket",
    "ref",
    "reference",
    "sku",
    "serial",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "IN_AADHAAR",
            r"(?-u:\b)[2-9][0-9]{3}(?:[0-9]{8}|[- :][0-9]{4}[- :][0-9]{4})(?-u:\b)",
        )
        .validate(in_aadhaar)
        .score(0.5)
        .context(&["aadhaar", "aadhar", "adhaar", "uidai", "uid"])
        .not_after(NOT_PII),
        Recognizer::new(
            "IN_GSTIN",
            r"(?i-u)(?-u:\b)[0-9]{2}[A-Z0-9]{5}[0-9]{4}[A-Z][0-9A-Z]Z[0-9A-Z](?-u:\b)",
        )
        .validate(in_gstin)
        .score(0.85)
        .context(&[
            "gstin",
            "gst",
            "goods and services tax",
            "tax identification",
        ]),
        Recognizer::new(
            "IN_PAN",
            r"(?i-u)(?-u:\b)[A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z](?-u:\b)",
        )
        .validate(in_pan)
        .score(0.2)
        .context(&["pan", "permanent account number", "income tax"]),
        Recognizer::new("IN_PASSPORT", r"(?-u:\b)[A-Z][1-9][0-9] ?[0-9]{4}[1-9](?-u:\b)")
            .score(0.1)
            .context(&["passport", "indian", "india", "bharat"]),
        // State and district (MH 12 AB 1234, DL 3C AB 1234).
        Recognizer::new(
            "IN_VEHICLE_REGISTRATION",
            r"(?-u:\b)[A-Z]{2}[ -]?[0-9]{1,2}[ -]?[A-Z]{1,2}(?:[ -]?[A-Z]{1,2})?[ -]?[0-9]{4}(?-u:\b)",
        )
        .validate(in_state_plate)
        .score(0.2)
        .context(VEHICLE_CONTEXT),
        // Bharat series, for vehicles that move between states (22 BH 1234 AA).
        Recognizer::new(
            "IN_VEHICLE_REGISTRATION",
            r"(?-u:\b)[0-9]{2}[ -]?BH[ -]?[0-9]{4}[ -]?[A-HJ-NP-Z]{2}(?-u:\b)",
        )
        .validate(in_bharat_plate)
        .score(0.5)
        .context(VEHICLE_CONTEXT),
        // Diplomatic plates: mission code, CD/CC/UN, serial (77 CD 12).
        Recognizer::new(
            "IN_VEHICLE_REGISTRATION",
            r"(?-u:\b)[0-9]{1,3}[ -]?(?:CD|CC|UN)[ -]?[1-9][0-9]{0,3}(?-u:\b)",
        )
        .validate(in_diplomatic_plate)
        .score(0.2)
        .context(VEHICLE_CONTEXT),
        // Armed forces: year, class letter, serial, check letter (15B123456K).
        Recognizer::new(
            "IN_VEHICLE_REGISTRATION",
            r"(?-u:\b)[0-9]{2}[ABCDEFHKPRX][0-9]{6}[A-Z](?-u:\b)",
        )
        .validate(in_military_plate)
        .score(0.2)
        .context(VEHICLE_CONTEXT),
        Recognizer::new("IN_VOTER", r"(?i-u)(?-u:\b)[A-Z]{3}[0-9]{7}(?-u:\b)")
            .validate(in_voter)
            .score(0.1)
            .context(&["voter", "epic", "elector", "election"]),
    ]
}

const VEHICLE_CONTEXT: &[&str] = &[
    "rto",
    "vehicle",
    "plate",
    "registration",
    "reg no",
    "car no",
    "bike no",
];

/// Aadhaar: 12 digits, not starting with 0 or 1, not a palindrome, with a
/// Verhoeff check digit. <https://uidai.gov.in/>
fn in_aadhaar(s: &str) -> bool {
    let Some(d) = compact(s, " -:") else {
        return false;
    };
    d.len() == 12
        && d.bytes().next().is_some_and(|b| b >= b'2')
        && !d.bytes().eq(d.bytes().rev())
        && verhoeff(&d)
}

/// Base-36 value of an ASCII digit or upper-case letter.
fn b36(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        _ => None,
    }
}

/// GSTIN: state code (01-38, 97 other territory, 99 centre), the holder's
/// PAN, entity number, `Z`, and a Luhn mod 36 check character.
fn in_gstin(s: &str) -> bool {
    let c = s.to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() != 15 || !c.is_ascii() {
        return false;
    }
    let state = c.get(..2).and_then(|x| x.parse::<u32>().ok());
    if !state.is_some_and(|st| (1..=38).contains(&st) || st == 97 || st == 99) {
        return false;
    }
    // A PAN (or a TAN-like id with digits among its first five) at 3-12.
    let letters = b[2..7].iter().filter(|x| x.is_ascii_alphabetic()).count();
    if letters < 3 || b[13] != b'Z' || b[12] == b'0' {
        return false;
    }
    let mut sum = 0;
    for (i, &ch) in b[..14].iter().enumerate() {
        let Some(v) = b36(ch) else {
            return false;
        };
        let p = v * if i % 2 == 0 { 1 } else { 2 };
        sum += p / 36 + p % 36;
    }
    b36(b[14]) == Some((36 - sum % 36) % 36)
}

/// PAN: holder-type letter at the 4th place (checked by the pattern) and a
/// serial 0001-9999. Its last letter is a check character whose algorithm
/// is not published.
fn in_pan(s: &str) -> bool {
    s.get(5..9).is_some_and(|n| n != "0000")
}

/// State and district codes of Indian registration plates, and the range
/// of district (RTO) numbers each has issued.
const STATE_DISTRICTS: &[(&str, u32, u32)] = &[
    ("AN", 1, 2),
    ("AP", 1, 40),
    ("AR", 1, 22),
    ("AS", 1, 34),
    ("BR", 1, 57),
    ("CG", 1, 30),
    ("CH", 1, 4),
    ("DD", 1, 3),
    ("DL", 1, 13),
    ("DN", 9, 9),
    ("GA", 1, 12),
    ("GJ", 1, 39),
    ("HP", 1, 99),
    ("HR", 1, 99),
    ("JH", 1, 24),
    ("JK", 1, 22),
    ("KA", 1, 71),
    ("KL", 1, 99),
    ("LA", 1, 2),
    ("LD", 1, 9),
    ("MH", 1, 51),
    ("ML", 1, 10),
    ("MN", 1, 7),
    ("MP", 1, 71),
    ("MZ", 1, 8),
    ("NL", 1, 10),
    ("OD", 1, 35),
    ("OR", 1, 31),
    ("PB", 1, 99),
    ("PY", 1, 5),
    ("RJ", 1, 58),
    ("SK", 1, 8),
    ("TG", 1, 38),
    ("TN", 1, 99),
    ("TR", 1, 8),
    ("TS", 1, 38),
    ("UK", 1, 20),
    ("UP", 11, 96),
    ("WB", 1, 98),
];

/// Indian plate: a state code, one of its district numbers, 1-3 series
/// letters and a number 0001-9999.
/// <https://en.wikipedia.org/wiki/Vehicle_registration_plates_of_India>
fn in_state_plate(s: &str) -> bool {
    let Some(c) = compact(s, " -") else {
        return false;
    };
    let b = c.as_bytes();
    let n_district = b.iter().skip(2).take_while(|x| x.is_ascii_digit()).count();
    let n_series = b
        .iter()
        .skip(2 + n_district)
        .take_while(|x| x.is_ascii_uppercase())
        .count();
    let (Some(state), Some(district), Some(number)) = (
        c.get(..2),
        c.get(2..2 + n_district).and_then(|x| x.parse::<u32>().ok()),
        c.get(2 + n_district + n_series..),
    ) else {
        return false;
    };
    (1..=2).contains(&n_district)
        && (1..=3).contains(&n_series)
        && number.len() == 4
        && number.bytes().all(|x| x.is_ascii_digit())
        && number != "0000"
        && STATE_DISTRICTS
            .iter()
            .any(|&(st, lo, hi)| st == state && (lo..=hi).contains(&district))
}

/// Bharat series: registration year from 2021 (the scheme's start), `BH`,
/// a number 0001-9999 and two letters.
fn in_bharat_plate(s: &str) -> bool {
    let Some(c) = compact(s, " -") else {
        return false;
    };
    c.len() == 10
        && c.get(..2)
            .and_then(|y| y.parse::<u32>().ok())
            .is_some_and(|y| y >= 21)
        && c.get(2..4) == Some("BH")
        && c.get(4..8)
            .is_some_and(|n| n != "0000" && n.bytes().all(|x| x.is_ascii_digit()))
        && c.get(8..)
            .is_some_and(|l| l.bytes().all(|x| x.is_ascii_uppercase()))
}

/// Diplomatic plate: a mission code (1-160), CD, CC or UN, and a serial.
fn in_diplomatic_plate(s: &str) -> bool {
    let Some(c) = compact(s, " -") else {
        return false;
    };
    let n = c.bytes().take_while(u8::is_ascii_digit).count();
    let mission = c.get(..n).and_then(|x| x.parse::<u32>().ok());
    let serial = c.get(n + 2..).and_then(|x| x.parse::<u32>().ok());
    mission.is_some_and(|m| (1..=160).contains(&m))
        && c.get(n..n + 2)
            .is_some_and(|k| matches!(k, "CD" | "CC" | "UN"))
        && serial.is_some_and(|x| (1..=9999).contains(&x))
}

/// Armed forces plate: year not 00, serial not 000000.
fn in_military_plate(s: &str) -> bool {
    s.get(..2).is_some_and(|y| y != "00") && s.get(3..9).is_some_and(|n| n != "000000")
}

/// Voter id (EPIC): three letters and a serial that is not all zeros.
fn in_voter(s: &str) -> bool {
    s.get(3..).is_some_and(|n| n != "0000000")
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("IN_AADHAAR", "Aadhaar: [2345 6789 0124]"),
    Case::Valid("IN_AADHAAR", "UIDAI no. [491873620154]."),
    Case::Valid("IN_AADHAAR", "aadhaar [4918-7362-0154]"),
    Case::Invalid("IN_AADHAAR", "Aadhaar: 2345 6789 0125"),
    Case::Invalid("IN_AADHAAR", "Aadhaar: 1234 5678 9012"),
    Case::Invalid("IN_AADHAAR", "Aadhaar: 2345 6789-0124"),
    Case::LookAlike("IN_AADHAAR", "invoice 234567890124 paid"),
    Case::Valid("IN_GSTIN", "GSTIN: [29ABCPE1234F1Z7]"),
    Case::Valid("IN_GSTIN", "supplier [07PQRST6789K2ZX] Delhi"),
    Case::Invalid("IN_GSTIN", "GSTIN: 29ABCPE1234F1Z8"),
    Case::Invalid("IN_GSTIN", "GSTIN: 45ABCPE1234F1ZD"),
    Case::LookAlike("IN_GSTIN", "part 29ABCPE1234F1Y7"),
    Case::Valid("IN_PAN", "PAN: [ABCPE1234F]"),
    Case::Valid("IN_PAN", "permanent account number [aafhr4821q]"),
    Case::Invalid("IN_PAN", "PAN: ABCDE1234F"),
    Case::Invalid("IN_PAN", "PAN: ABCPE0000F"),
    Case::LookAlike("IN_PAN", "model ABCPE1234F in stock"),
    Case::Valid("IN_PASSPORT", "passport no. [J8369854]"),
    Case::Valid("IN_PASSPORT", "Indian passport [K40 21379]"),
    Case::Invalid("IN_PASSPORT", "passport no. J0369854"),
    Case::LookAlike("IN_PASSPORT", "seat J8369854 booked"),
    Case::Valid("IN_VEHICLE_REGISTRATION", "vehicle no. [MH 12 AB 1234]"),
    Case::Valid("IN_VEHICLE_REGISTRATION", "RTO registration [KA01AB1234]"),
    Case::Valid("IN_VEHICLE_REGISTRATION", "car plate [DL-3C-AB-1234]"),
    Case::Valid("IN_VEHICLE_REGISTRATION", "new plate [22 BH 1234 AA]"),
    Case::Valid("IN_VEHICLE_REGISTRATION", "embassy vehicle [77 CD 12]"),
    Case::Valid("IN_VEHICLE_REGISTRATION", "army vehicle [15B123456K]"),
    Case::Invalid("IN_VEHICLE_REGISTRATION", "vehicle no. MH 99 AB 1234"),
    Case::Invalid("IN_VEHICLE_REGISTRATION", "vehicle no. ZZ 12 AB 1234"),
    Case::Invalid("IN_VEHICLE_REGISTRATION", "vehicle no. MH 12 AB 0000"),
    Case::Invalid("IN_VEHICLE_REGISTRATION", "new plate 19 BH 1234 AA"),
    Case::LookAlike("IN_VEHICLE_REGISTRATION", "part number KA01AB1234"),
    Case::Valid("IN_VOTER", "voter id [ABC1234567]"),
    Case::Valid("IN_VOTER", "EPIC no: [xyz7654321]"),
    Case::Invalid("IN_VOTER", "voter id AB12345678"),
    Case::Invalid("IN_VOTER", "voter id ABC0000000"),
    Case::LookAlike("IN_VOTER", "sku ABC1234567"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_check() {
        assert!(verhoeff("2363"));
        assert!(!verhoeff("2364"));
        assert!(verhoeff("234567890124"));
        assert!(!verhoeff(""));
        assert!(!verhoeff("12a4"));
    }

    #[test]
    fn aadhaar_rules() {
        assert!(in_aadhaar("2345 6789 0124"));
        assert!(!in_aadhaar("2345 6789-0124"), "mixed separators");
        assert!(!in_aadhaar("2345678901"), "short");
    }

    #[test]
    fn gstin_check_character() {
        // Published examples.
        assert!(in_gstin("27AAPFU0939F1ZV"));
        assert!(in_gstin("29AAGCB7383J1Z4"));
        assert!(!in_gstin("27AAPFU0939F1ZW"));
        assert!(!in_gstin("27AAPFU0939F1Z"));
        assert!(!in_gstin("é7AAPFU0939F1Z"));
    }

    #[test]
    fn plates() {
        assert!(in_state_plate("DL 3C AB 1234"));
        assert!(in_state_plate("UP 32 AB 1234"));
        assert!(!in_state_plate("UP 10 AB 1234"), "UP starts at 11");
        assert!(!in_state_plate("MH"));
        assert!(!in_state_plate("MH 12 AB"), "no number");
        assert!(!in_diplomatic_plate("0 CD 12"));
        assert!(!in_diplomatic_plate("77 CD"), "no serial");
        assert!(!in_bharat_plate("22 BH 1234"), "no letters");
        assert!(in_diplomatic_plate("150CD1"));
    }
}
