//! Recognisers for Italy (Presidio's `country_specific/italy`, plus what it lacks).

use super::{Case, Recognizer};
use crate::pii::checksum::days_in_month;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "IT_FISCAL_CODE",
            r"(?i-u)(?-u:\b)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?-u:\b)",
        )
        .validate(it_fiscal_code)
        .score(1.0)
        .context(&["codice fiscale", "cf", "c.f."]),
        Recognizer::new(
            "IT_DRIVER_LICENSE",
            r"(?i-u)(?-u:\b)(?:[A-Z]{2}[0-9]{7}[A-Z]|U1[0-9BCDEFGHJKLMNPRSTUWXYZ]{7}[A-Z])(?-u:\b)",
        )
        .score(0.2)
        .context(&["patente", "licenza di guida", "driving licence", "driver license"]),
        // Paper card (AB 1234567), CIE 2.0 (1234567AB), CIE 3.0 (CA12345AB).
        Recognizer::new(
            "IT_IDENTITY_CARD",
            r"(?i-u)(?-u:\b)(?:[A-Z]{2} ?[0-9]{7}|[0-9]{7}[A-Z]{2}|[A-Z]{2}[0-9]{5}[A-Z]{2})(?-u:\b)",
        )
        .validate(it_identity_card)
        .score(0.1)
        .context(&[
            "carta d'identità",
            "carta di identità",
            "carta d'identita",
            "carta identità",
            "identità",
            "identita",
            "cie",
            "documento",
            "riconoscimento",
            "espatrio",
        ]),
        Recognizer::new("IT_PASSPORT", r"(?i-u)(?-u:\b)[A-Z]{2}[0-9]{7}(?-u:\b)")
            .validate(it_passport)
            .score(0.1)
            .context(&["passaporto", "itali", "viaggio", "estero", "dogana", "documento"]),
        Recognizer::new("IT_VAT_CODE", r"(?-u:\b)(?:IT ?)?[0-9]{11}(?-u:\b)")
            .validate(it_vat_code)
            .score(0.6)
            .context(&["partita iva", "p.iva", "p. iva", "piva", "iva", "vat"])
            .not_after(&[
                "ordine", "fattura", "order", "invoice", "ref", "rif", "tracking", "pratica",
            ]),
    ]
}

/// Values of a fiscal code's digit places, where homonyms (omocodia) have
/// digits replaced by `LMNPQRSTUV` for 0-9.
fn omocodia_digit(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        _ => b"LMNPQRSTUV"
            .iter()
            .position(|&x| x == b)
            .and_then(|p| u32::try_from(p).ok()),
    }
}

/// Italian codice fiscale: 16 characters, a real birth date (day + 40 for
/// women, digits possibly replaced for homonyms) and its control letter.
/// <https://www.agenziaentrate.gov.it/portale/web/guest/schede/istanze/richiesta-ts_cf/informazioni-codificazione-pf>
fn it_fiscal_code(s: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let c = s.to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() != 16 || !c.is_ascii() {
        return false;
    }
    let num = |i: usize| -> Option<u32> {
        Some(omocodia_digit(*b.get(i)?)? * 10 + omocodia_digit(*b.get(i + 1)?)?)
    };
    let (Some(year), Some(mut day)) = (num(6), num(9)) else {
        return false;
    };
    let Some(month) = b"ABCDEHLMPRST".iter().position(|&x| x == b[8]) else {
        return false;
    };
    if day > 40 {
        day -= 40;
    }
    // The century is not in the code: allow 29 February in any year ≡ 0 mod 4.
    let leap_day = month == 1 && day == 29 && year.is_multiple_of(4);
    if day == 0 || (day > days_in_month(1900 + year, month as u32 + 1) && !leap_day) {
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
    b[15] == b'A' + (sum % 26) as u8
}

/// Italian identity card: a serial that is not all zeros.
fn it_identity_card(s: &str) -> bool {
    s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// Italian passport: a serial that is not all zeros.
fn it_passport(s: &str) -> bool {
    s.get(2..).is_some_and(|n| n != "0000000")
}

/// Partita IVA: 11 unbroken digits (optionally after `IT`), a provincial office code
/// (001-100, 120, 121, 888, 999) at places 8-10, and a Luhn check digit.
/// <https://it.wikipedia.org/wiki/Partita_IVA>
fn it_vat_code(s: &str) -> bool {
    let d: String = s
        .trim_start_matches("IT")
        .chars()
        .filter(|c| *c != ' ')
        .collect();
    if d.len() != 11 || !d.bytes().all(|b| b.is_ascii_digit()) || d == "00000000000" {
        return false;
    }
    let office = d.get(7..10).and_then(|x| x.parse::<u32>().ok());
    office.is_some_and(|o| (1..=100).contains(&o) || matches!(o, 120 | 121 | 888 | 999))
        && crate::pii::checksum::luhn(&d)
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("IT_FISCAL_CODE", "codice fiscale [RSSMRA85T10A562S]"),
    Case::Valid("IT_FISCAL_CODE", "CF: [VRDGNN80A41H501N]"),
    Case::Valid("IT_FISCAL_CODE", "omocodia [RSSMRA85T10A56NH]"),
    Case::Invalid("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A562T"),
    Case::Invalid("IT_FISCAL_CODE", "codice fiscale BNCLRA90B30F205H"),
    Case::Invalid("IT_FISCAL_CODE", "codice fiscale RSSMRA85T32A562Y"),
    Case::LookAlike("IT_FISCAL_CODE", "serial RSSMRA85X10A562S"),
    Case::Valid("IT_DRIVER_LICENSE", "patente di guida n. [RM1234567X]"),
    Case::Valid("IT_DRIVER_LICENSE", "patente [U1H12K34LP]"),
    Case::Invalid("IT_DRIVER_LICENSE", "patente U1A23456BC"),
    Case::Invalid("IT_DRIVER_LICENSE", "patente RM12345678"),
    Case::LookAlike("IT_DRIVER_LICENSE", "codice prodotto RM1234567X"),
    Case::Valid("IT_IDENTITY_CARD", "carta d'identità n. [AX 1234567]"),
    Case::Valid("IT_IDENTITY_CARD", "CIE [CA12345AB]"),
    Case::Valid("IT_IDENTITY_CARD", "CIE n. [1234567AB]"),
    Case::Invalid("IT_IDENTITY_CARD", "carta d'identità AX 123456"),
    Case::Invalid("IT_IDENTITY_CARD", "CIE CA00000AB"),
    Case::LookAlike("IT_IDENTITY_CARD", "codice AX1234567"),
    Case::Valid("IT_PASSPORT", "passaporto [YA1234567]"),
    Case::Invalid("IT_PASSPORT", "passaporto YA0000000"),
    Case::Invalid("IT_PASSPORT", "passaporto Y12345678"),
    Case::LookAlike("IT_PASSPORT", "volo YA1234567"),
    Case::Valid("IT_VAT_CODE", "P.IVA [12345670017]"),
    Case::Valid("IT_VAT_CODE", "partita IVA: [IT07942150124]"),
    Case::Invalid("IT_VAT_CODE", "P.IVA 12345670018"),
    Case::Invalid("IT_VAT_CODE", "P.IVA 12345672013"),
    Case::LookAlike("IT_VAT_CODE", "fattura 12345670017"),
    // A London number that passes the check: only an unbroken run counts.
    Case::LookAlike("IT_VAT_CODE", "call 020 7946 0958"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_code_dates() {
        assert!(it_fiscal_code("RSSMRA85T10A562S"));
        assert!(!it_fiscal_code("BNCLRA90B30F205H"), "30 February");
        assert!(!it_fiscal_code("RSSMRA85T10A562"));
    }

    #[test]
    fn vat_office_and_check_digit() {
        assert!(it_vat_code("12345670017"));
        assert!(it_vat_code("IT 12345670017"));
        assert!(!it_vat_code("12345672013"), "office 201");
        assert!(!it_vat_code("00000000000"));
        assert!(!it_vat_code("1234567001"));
    }
}
