//! Recognisers for Sweden (Presidio's `country_specific/sweden`).

use super::{Case, Recognizer};
use crate::pii::checksum::{digits, luhn};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        // YYMMDD or YYYYMMDD, `-` (or `+` from the 100th year), 4 digits.
        Recognizer::new(
            "SE_PERSONNUMMER",
            r"(?-u:\b)(?:\d{2})?\d{6}[\-+]?\d{4}(?-u:\b)",
        )
        .validate(se_personnummer)
        .score(0.7)
        .context(&[
            "personnummer",
            "personnr",
            "pnr",
            "svensk id",
            "ssn",
            "personal identity number",
            "samordningsnummer",
        ])
        .not_after(&[
            "order",
            "ordernummer",
            "faktura",
            "fakturanummer",
            "invoice",
        ]),
        Recognizer::new("SE_ORGANISATIONSNUMMER", r"(?-u:\b)\d{6}-?\d{4}(?-u:\b)")
            .validate(se_organisationsnummer)
            .score(0.5)
            .context(&[
                "organisationsnummer",
                "org.nr",
                "orgnr",
                "org nr",
                "org. nr",
                "företagsnummer",
                "momsregistreringsnummer",
            ])
            .not_after(&[
                "order",
                "ordernummer",
                "faktura",
                "fakturanummer",
                "invoice",
            ]),
    ]
}

/// Swedish personnummer (and samordningsnummer, day + 60): a real date and
/// the Luhn digit over the 10-digit form; with a 6-digit date the century
/// is unknown, so the date must exist in one of the possible centuries
/// (`+` marks the 100th year); <https://www.skatteverket.se>, SKV 704.
fn se_personnummer(s: &str) -> bool {
    let d = digits(s);
    let plus = s.contains('+');
    let (centuries, rest): (&[i32], &[u32]) = match d.len() {
        12 if !plus => match d[0] * 10 + d[1] {
            c @ 18..=20 => (&[c as i32 * 100][..], &d[2..]),
            _ => return false,
        },
        10 if plus => (&[1800, 1900][..], &d[..]),
        10 => (&[1900, 2000][..], &d[..]),
        _ => return false,
    };
    let yy = (rest[0] * 10 + rest[1]) as i32;
    let mut day = rest[4] * 10 + rest[5];
    if day > 60 {
        day -= 60; // samordningsnummer
    }
    let Ok(month) = time::Month::try_from((rest[2] * 10 + rest[3]) as u8) else {
        return false;
    };
    let today = time::OffsetDateTime::now_utc().date();
    let dated = centuries.iter().any(|c| {
        time::Date::from_calendar_date(c + yy, month, day as u8).is_ok_and(|born| born <= today)
    });
    let tail: String = rest
        .iter()
        .filter_map(|&x| char::from_digit(x, 10))
        .collect();
    dated && luhn(&tail)
}

/// Swedish organisationsnummer: 10 digits, a group digit that exists (not 0
/// or 4), a third digit of at least 2 (never a month) and the Luhn digit;
/// <https://www.bolagsverket.se> (SFS 1974:174).
fn se_organisationsnummer(s: &str) -> bool {
    let d = digits(s);
    d.len() == 10 && !s.contains('+') && d[0] != 0 && d[0] != 4 && d[2] >= 2 && luhn(s)
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("SE_PERSONNUMMER", "personnummer [811218-9876]"),
    Case::Valid("SE_PERSONNUMMER", "Personnummer: [19811218-9876]"),
    Case::Valid("SE_PERSONNUMMER", "samordningsnummer [8112789873]"),
    Case::Invalid("SE_PERSONNUMMER", "personnummer 811218-9875"),
    Case::Invalid("SE_PERSONNUMMER", "personnummer 811318-9875"),
    Case::LookAlike("SE_PERSONNUMMER", "ordernummer 811218-9876 skickad"),
    Case::Valid("SE_ORGANISATIONSNUMMER", "org.nr [802479-1652]"),
    Case::Valid("SE_ORGANISATIONSNUMMER", "organisationsnummer [8024791652]"),
    Case::Invalid("SE_ORGANISATIONSNUMMER", "org.nr 802479-1653"),
    Case::Invalid("SE_ORGANISATIONSNUMMER", "org.nr 401234-5676"),
    Case::LookAlike("SE_ORGANISATIONSNUMMER", "faktura 802479-1652 betald"),
];

#[cfg(test)]
mod tests {
    use super::{se_organisationsnummer, se_personnummer};

    #[test]
    fn personnummer_checks() {
        assert!(se_personnummer("811218-9876"));
        assert!(se_personnummer("198112189876"));
        assert!(se_personnummer("811278-9873"), "samordningsnummer");
        assert!(!se_personnummer("811218-9875"), "Luhn");
        assert!(!se_personnummer("811232-9878"), "day 32");
        assert!(!se_personnummer("178112189876"), "century 17");
        assert!(!se_personnummer("81121898"));
    }

    #[test]
    fn organisationsnummer_checks() {
        assert!(se_organisationsnummer("802479-1652"));
        assert!(!se_organisationsnummer("811218-9876"), "a personnummer");
        assert!(!se_organisationsnummer("802479-1653"), "Luhn");
    }
}
