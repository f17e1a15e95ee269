//! Recognisers for Finland (Presidio's `country_specific/finland`).

use super::{Case, Recognizer};
use crate::pii::checksum::is_date;

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "FI_PERSONAL_IDENTITY_CODE",
            r"(?i)(?-u:\b)\d{6}[-+A-FU-Y]\d{3}[0-9A-FHJ-NPR-Y](?-u:\b)",
        )
        .validate(fi_hetu)
        .score(0.8)
        .context(&[
            "hetu",
            "henkilötunnus",
            "henkilotunnus",
            "personbeteckning",
            "personal identity code",
        ]),
    ]
}

/// Finnish personal identity code (henkilötunnus): `DDMMYY`, a century sign
/// (`+` 1800s; `-`, `U`–`Y` 1900s; `A`–`F` 2000s), an individual number
/// 002–899 (900–999 temporary), and the control character of the nine
/// digits modulo 31 (<https://dvv.fi/en/personal-identity-code>).
fn fi_hetu(s: &str) -> bool {
    const CONTROL: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let s = s.to_ascii_uppercase();
    let b = s.as_bytes();
    if b.len() != 11 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (Some(day), Some(month), Some(yy), Some(ind)) =
        (num(0..2), num(2..4), num(4..6), num(7..10))
    else {
        return false;
    };
    let century = match b[6] {
        b'+' => 1800,
        b'-' | b'U'..=b'Y' => 1900,
        b'A'..=b'F' => 2000,
        _ => return false,
    };
    let Some(n) = s
        .get(..6)
        .zip(s.get(7..10))
        .and_then(|(date, ind)| format!("{date}{ind}").parse::<u32>().ok())
    else {
        return false;
    };
    ind >= 2 && is_date(century + yy, month, day) && CONTROL[(n % 31) as usize] == b[10]
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("FI_PERSONAL_IDENTITY_CODE", "hetu [131052-308T]"),
    Case::Valid("FI_PERSONAL_IDENTITY_CODE", "Henkilötunnus: [010594Y987S]."),
    Case::Valid("FI_PERSONAL_IDENTITY_CODE", "syntynyt [150320A1237]"),
    Case::Valid("FI_PERSONAL_IDENTITY_CODE", "hetu [131052-308t]"),
    Case::Invalid("FI_PERSONAL_IDENTITY_CODE", "hetu 131052-308U"),
    Case::Invalid("FI_PERSONAL_IDENTITY_CODE", "hetu 310252-308Y"),
    Case::Invalid("FI_PERSONAL_IDENTITY_CODE", "hetu 290200+3088"),
    Case::Valid("FI_PERSONAL_IDENTITY_CODE", "hetu [290200A3088]"),
    Case::LookAlike("FI_PERSONAL_IDENTITY_CODE", "tilaus 131052-308G"),
    Case::LookAlike("FI_PERSONAL_IDENTITY_CODE", "sarja 131052Z308T"),
];

#[cfg(test)]
mod tests {
    use super::fi_hetu;

    #[test]
    fn hetu_dates_and_control_character() {
        assert!(fi_hetu("131052-308T"), "DVV's example");
        assert!(fi_hetu("131052-308t"));
        assert!(!fi_hetu("131052-308U"));
        assert!(!fi_hetu("131052-000T"), "individual number 000");
        assert!(!fi_hetu("310252-308T"), "31 February");
        assert!(!fi_hetu("290200+308T"), "1800 is not a leap year");
        assert!(!fi_hetu("131052Z308T"));
        assert!(!fi_hetu("1310"));
    }

    #[test]
    fn validators_take_any_text() {
        let validators: &[fn(&str) -> bool] = &[fi_hetu];
        for s in [
            "",
            "0",
            "é",
            "ééééé-éééé",
            "131052é308T",
            "99999999999999999999",
            "+",
        ] {
            for v in validators {
                let _ = v(s);
            }
        }
    }
}
