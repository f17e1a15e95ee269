//! Recognisers for the United Kingdom (Presidio's `country_specific/uk`, plus what it lacks).

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "UK_NINO",
            r"(?-u)\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
        )
        .validate(uk_nino)
        .score(0.5)
        .context(&["national insurance", "nino", "ni number", "nin"]),
        Recognizer::new(
            "UK_NHS",
            r"(?-u)\b(?:\d{3} \d{3} \d{4}|\d{3}-\d{3}-\d{4}|\d{10})\b",
        )
        .validate(uk_nhs)
        .score(0.5)
        .context(&[
            "nhs",
            "national health service",
            "health service",
            "health authority",
            "health services authority",
            "chi number",
        ]),
        Recognizer::new(
            "UK_DRIVING_LICENCE",
            r"(?i-u)\b[A-Z][A-Z9]{4}\d(?:0[1-9]|1[0-2]|5[1-9]|6[0-2])(?:0[1-9]|[12]\d|3[01])\d[A-Z][A-Z9][A-Z0-9][A-Z]{2}\b",
        )
        .validate(uk_driving_licence)
        .score(0.6)
        .context(&[
            "driving licence",
            "driving license",
            "driver's licence",
            "driver's license",
            "dvla",
            "dl number",
            "licence number",
            "license number",
        ]),
        Recognizer::new("UK_PASSPORT", r"(?-u)\b[A-Z]{2}\d{7}\b")
            .score(0.2)
            .context(&[
                "passport",
                "travel document",
                "hm passport",
                "hmpo",
                "uk ",
                "british",
                "united kingdom",
                "his majesty",
                "her majesty",
            ]),
        // Outward code (area, district, optional sub-district letter), a
        // space or none, inward code (sector digit, unit letters); the
        // letters each position allows, after Royal Mail's rules.
        Recognizer::new(
            "UK_POSTCODE",
            r"(?-u)\b(?:GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW]?|\d{2}|[A-HK-Y]\d[ABEHMNPRVWXY]?|[A-HK-Y]\d{2}) ?\d[ABD-HJLNP-UW-Z]{2})\b",
        )
        .validate(uk_postcode)
        .score(0.1)
        .context(&[
            "postcode",
            "post code",
            "postal code",
            "zip",
            "address",
            "delivery",
            "deliver to",
            "mailing",
            "shipping",
            "correspondence",
        ]),
        Recognizer::new(
            "UK_VEHICLE_REGISTRATION",
            r"(?-u)\b[A-HJ-PR-Y]{2}\d{2}[ \-]?[A-HJ-PR-Z]{3}\b",
        )
        .validate(uk_vehicle_current)
        .score(0.25)
        .context(VEHICLE_CONTEXT),
        Recognizer::new(
            "UK_VEHICLE_REGISTRATION",
            r"(?-u)\b(?:[A-HJ-NPR-TV-Y]\d{1,3}[ \-]?[A-HJ-PR-Y][A-HJ-PR-Z]{2}|[A-HJ-PR-Z]{3}[ \-]?\d{1,3}[ \-]?[A-HJ-NPR-TV-Y])\b",
        )
        .validate(uk_vehicle_old)
        .score(0.15)
        .context(VEHICLE_CONTEXT),
    ]
}

/// Context words match at a word start, so short ones carry the character
/// that ends them ("car " but not "card", "reg:" but not "regards").
const VEHICLE_CONTEXT: &[&str] = &[
    "vehicle",
    "registration",
    "reg ",
    "reg:",
    "reg.",
    "reg no",
    "number plate",
    "licence plate",
    "license plate",
    "vrn",
    "dvla",
    "v5c",
    "logbook",
    "mot ",
    "car ",
    "car:",
];

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

/// NHS number: ten digits, the last a modulus-11 check over the first nine
/// weighted 10 to 2 (a remainder giving 10 is never issued)
/// (<https://www.datadictionary.nhs.uk/attributes/nhs_number.html>).
fn uk_nhs(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 10 || d.iter().all(|&x| Some(&x) == d.first()) {
        return false;
    }
    let sum: u32 = d.iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        c => c,
    };
    check != 10 && d.get(9) == Some(&check)
}

/// DVLA driving licence number: five surname characters (letters, then 9s
/// as padding), the decade, the month (plus 50 for women), the day and the
/// year's last digit of a real birth date, two initials (9 for none), a
/// digit and two check characters
/// (<https://en.wikipedia.org/wiki/Driving_licence_in_the_United_Kingdom>).
fn uk_driving_licence(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(surname) = b.get(..5) else {
        return false;
    };
    let letters = surname
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    if letters == 0 || surname.iter().skip(letters).any(|&c| c != b'9') {
        return false;
    }
    let d = digits(s.get(5..11).unwrap_or_default());
    let [decade, m1, m2, d1, d2, year] = d[..] else {
        return false;
    };
    let month = (m1 * 10 + m2) % 50;
    let day = d1 * 10 + d2;
    // The century is not encoded: 29 February only in years ending 0, 4, 8
    // (1900 and 2100 are outside any holder's life).
    let yy = decade * 10 + year;
    let max = match month {
        2 if yy % 4 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => 0,
    };
    (1..=max).contains(&day)
}

/// The postcode areas in use (Royal Mail), with the Crown Dependencies',
/// BFPO's and the non-geographic BX.
const POSTCODE_AREAS: &[&str] = &[
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX", "CA", "CB",
    "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT",
    "DY", "E", "EC", "EH", "EN", "EX", "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP",
    "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA", "KT", "KW", "KY", "L", "LA", "LD",
    "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG", "NN", "NP", "NR", "NW",
    "OL", "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG", "SK",
    "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR",
    "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
];

/// UK postcode: the shape (in the pattern) and a postcode area in use.
fn uk_postcode(s: &str) -> bool {
    // The whole code, not an outward code alone (the analyzer retries
    // prefixes of a failed match).
    let b = s.as_bytes();
    if b.len() < 5 || !b.get(b.len() - 3).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    if s.starts_with("GIR") {
        return true;
    }
    let area_len = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    s.get(..area_len)
        .is_some_and(|area| POSTCODE_AREAS.contains(&area))
}

/// Current-format registration (2001 on): area letters, an age identifier
/// of 02–29 (March) or 51–79 (September), three letters
/// (<https://www.gov.uk/displaying-number-plates>).
fn uk_vehicle_current(s: &str) -> bool {
    let d = digits(s);
    let age = d.iter().fold(0, |n, &x| n * 10 + x);
    let len = s.bytes().filter(u8::is_ascii_alphanumeric).count();
    len == 7 && d.len() == 2 && matches!(age, 2..=29 | 51..=79)
}

/// Prefix (1983–2001) and suffix (1963–1983) registrations: letters at both
/// ends, one to three digits not starting with 0, separators of one kind.
fn uk_vehicle_old(s: &str) -> bool {
    let b = s.as_bytes();
    if !(b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.last().is_some_and(u8::is_ascii_alphabetic))
    {
        return false;
    }
    let seps: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_alphanumeric()).collect();
    let first_digit = s.bytes().find(u8::is_ascii_digit);
    seps.windows(2).all(|w| w[0] == w[1]) && first_digit.is_some_and(|d| d != b'0')
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("UK_NINO", "NI number [AB 12 34 56 C]"),
    Case::Invalid("UK_NINO", "NI number GB 12 34 56 C"),
    Case::Invalid("UK_NINO", "NI number DA 12 34 56 C"),
    Case::LookAlike("UK_NINO", "part AB 12 34 56 E"),
    Case::Valid("UK_NHS", "NHS number [401 023 4563]"),
    Case::Valid("UK_NHS", "patient [401-023-4563] seen"),
    Case::Valid("UK_NHS", "nhs no: [4010234563]"),
    Case::Invalid("UK_NHS", "NHS number 401 023 4564"),
    Case::Invalid("UK_NHS", "NHS number 401 023-4563"),
    Case::LookAlike("UK_NHS", "NHS number 401 023 45630"),
    Case::Valid("UK_DRIVING_LICENCE", "driving licence [SMITH710155JD9AB]"),
    Case::Valid("UK_DRIVING_LICENCE", "DVLA: [LEE99762245A99XY]"),
    Case::Invalid("UK_DRIVING_LICENCE", "driving licence SMITH711315JD9AB"),
    Case::Invalid("UK_DRIVING_LICENCE", "driving licence SMITH702295JD9AB"),
    Case::LookAlike("UK_DRIVING_LICENCE", "order ref SM9TH710155JD9AB"),
    Case::LookAlike("UK_DRIVING_LICENCE", "driving licence 99999710155JD9AB"),
    Case::Valid("UK_PASSPORT", "UK passport number [GC4829173]"),
    Case::Invalid("UK_PASSPORT", "UK passport number G4829173"),
    Case::LookAlike("UK_PASSPORT", "product GC4829173 in stock"),
    Case::Valid("UK_POSTCODE", "postcode [SW1A 1AA]"),
    Case::Valid(
        "UK_POSTCODE",
        "delivery address: 10 Downing Street, London [SW1A2AA]",
    ),
    Case::Valid("UK_POSTCODE", "address: Leeds [LS6 3DP]"),
    Case::Invalid("UK_POSTCODE", "postcode QX1 1AA"),
    Case::Invalid("UK_POSTCODE", "postcode SW1A 1AI"),
    Case::Invalid("UK_POSTCODE", "postcode XX1 1AA"),
    Case::Invalid("UK_POSTCODE", "postcode AA1 1AA"),
    Case::LookAlike("UK_POSTCODE", "code SW1A 1AA sent"),
    Case::LookAlike("UK_POSTCODE", "address the DELIVERY TEAM"),
    Case::Valid("UK_VEHICLE_REGISTRATION", "car registration [AB51 ABC]"),
    Case::Valid("UK_VEHICLE_REGISTRATION", "vehicle [A123 BCD]"),
    Case::Valid("UK_VEHICLE_REGISTRATION", "reg [ABC 123D]"),
    Case::Invalid("UK_VEHICLE_REGISTRATION", "reg ABC-123 D"),
    Case::Invalid("UK_VEHICLE_REGISTRATION", "reg A012 BCD"),
    Case::Invalid("UK_VEHICLE_REGISTRATION", "car registration AB31 ABC"),
    Case::Invalid("UK_VEHICLE_REGISTRATION", "car registration AB01 ABC"),
    Case::LookAlike("UK_VEHICLE_REGISTRATION", "part AB51 ABC in stock"),
    Case::LookAlike("UK_VEHICLE_REGISTRATION", "Kind regards, AB51 ABC"),
    Case::LookAlike("UK_VEHICLE_REGISTRATION", "card AB51 ABC"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_not_flagged() {
        let text = "Kind regards from the M25 and the A1; flight BA2490 left gate B12 at 10:45. \
            Order 123456 shipped to the delivery team on 12/03/2024. The CHAPTER 11 and \
            COVID-19 rules, ISO 27001, Windows 11, iPhone 15 and PS5 are discussed in \
            section 4.2 of the report by Dr SMITH, page 1234, item AB12.";
        let found = crate::pii::Analyzer::new().analyze(text);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn validators() {
        assert!(uk_nhs("401 023 4563"));
        assert!(!uk_nhs("401 023 4564"));
        assert!(uk_driving_licence("SMITH710155JD9AB"));
        assert!(
            uk_driving_licence("LEE99762245A99XY"),
            "padded, born 24 December 1975"
        );
        assert!(!uk_driving_licence("SMITH711315JD9AB"), "31 November");
        assert!(!uk_driving_licence("SMITH702295JD9AB"), "29 February 1975");
        assert!(uk_driving_licence("SMITH802298JD9AB"), "29 February 1988");
        assert!(!uk_driving_licence("SM9TH710155JD9AB"));
        assert!(uk_postcode("SW1A 1AA"));
        assert!(!uk_postcode("XX1 1AA"));
        assert!(!uk_postcode("SW1A"), "outward code alone");
        assert!(uk_vehicle_current("AB51 ABC"));
        assert!(!uk_vehicle_current("AB31 ABC"));
        for s in ["", "A", "99999", "SMITH7", "GIR"] {
            let _ = (
                uk_nhs(s),
                uk_driving_licence(s),
                uk_postcode(s),
                uk_vehicle_old(s),
            );
        }
    }
}
