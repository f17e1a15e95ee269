//! Recognisers for Poland (Presidio's `country_specific/poland`).

use super::{Case, Recognizer};
use crate::pii::checksum::digits;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        // YYMMDD with the century in the month (+20 for the 2000s, …), then
        // four serial digits and the check digit.
        Recognizer::new(
            "PL_PESEL",
            r"(?-u:\b)\d{2}(?:[02468][1-9]|[13579][012])(?:0[1-9]|[12]\d|3[01])\d{5}(?-u:\b)",
        )
        .validate(pl_pesel)
        .score(0.6)
        .context(&["pesel"])
        .not_after(&[
            "zamówienie",
            "zamówienia",
            "faktura",
            "faktury",
            "order",
            "invoice",
        ]),
    ]
}

/// Polish PESEL: a real, past birth date (century coded in the month) and
/// the weighted check digit (weights 1-3-7-9, `(10 - sum mod 10) mod 10`);
/// <https://www.gov.pl/web/gov/czym-jest-numer-pesel>.
fn pl_pesel(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || s.len() != 11 {
        return false;
    }
    const WEIGHTS: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = WEIGHTS.iter().zip(&d).map(|(w, x)| w * x).sum();
    if d.get(10) != Some(&((10 - sum % 10) % 10)) {
        return false;
    }
    let yy = (d[0] * 10 + d[1]) as i32;
    let mm = d[2] * 10 + d[3];
    let dd = d[4] * 10 + d[5];
    let century = match mm / 20 {
        0 => 1900,
        1 => 2000,
        2 => 2100,
        3 => 2200,
        _ => 1800,
    };
    let Ok(month) = time::Month::try_from((mm % 20) as u8) else {
        return false;
    };
    time::Date::from_calendar_date(century + yy, month, dd as u8)
        .is_ok_and(|born| born <= time::OffsetDateTime::now_utc().date())
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("PL_PESEL", "PESEL: [44051401359]"),
    Case::Valid("PL_PESEL", "numer PESEL [02270803624] (urodzona 2002)"),
    Case::Invalid("PL_PESEL", "PESEL: 44051401358"),
    Case::Invalid("PL_PESEL", "PESEL: 44023101353"),
    Case::LookAlike("PL_PESEL", "zamówienie 44051401359 wysłane"),
];

#[cfg(test)]
mod tests {
    use super::pl_pesel;

    #[test]
    fn pesel_checks() {
        assert!(pl_pesel("44051401359"));
        assert!(!pl_pesel("44051401358"), "check digit");
        assert!(!pl_pesel("4405140135"), "length");
        assert!(!pl_pesel(""));
    }
}
