//! Recognisers for Singapore (Presidio's `country_specific/singapore`).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("SG_NRIC_FIN", r"(?i)(?-u:\b)[STFGM]\d{7}[A-Z](?-u:\b)")
            .validate(sg_nric_fin)
            .score(0.6)
            .context(&["nric", "fin", "identity card", "ic no", "ic number"])
            .not_after(&[
                "order",
                "invoice",
                "ref",
                "reference",
                "tracking",
                "model",
                "part",
            ]),
        // Format A (businesses, 8 digits), B (local companies, year and 5
        // digits), C (other entities: T/S/R, year, entity type, 4 digits),
        // each with a check letter.
        Recognizer::new(
            "SG_UEN",
            r"(?-u:\b)(?:\d{8,9}[A-Z]|[TSR]\d{2}[A-Z]{2}\d{4}[A-Z])(?-u:\b)",
        )
        .validate(sg_uen)
        .score(0.5)
        .context(&[
            "uen",
            "unique entity number",
            "business registration",
            "acra",
            "company registration",
            "registration no",
        ])
        .not_after(&[
            "order",
            "invoice",
            "ref",
            "reference",
            "tracking",
            "model",
            "part",
        ]),
    ]
}

/// Singapore NRIC/FIN: S/T/F/G/M, 7 digits and the check letter of
/// `Σ(2,7,6,5,4,3,2 · digits) + offset (T, G: 4; M: 3) mod 11` in the
/// prefix's table (ICA's published algorithm).
fn sg_nric_fin(s: &str) -> bool {
    let b = s.to_ascii_uppercase().into_bytes();
    let (Some(&prefix), Some(&check), Some(body)) = (b.first(), b.get(8), b.get(1..8)) else {
        return false;
    };
    if b.len() != 9 || !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    const WEIGHTS: [u32; 7] = [2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    let (offset, table): (u32, &[u8; 11]) = match prefix {
        b'S' => (0, b"JZIHGFEDCBA"),
        b'T' => (4, b"JZIHGFEDCBA"),
        b'F' => (0, b"XWUTRQPNMLK"),
        b'G' => (4, b"XWUTRQPNMLK"),
        b'M' => (3, b"XWUTRQPNJLK"),
        _ => return false,
    };
    table.get(((sum + offset) % 11) as usize) == Some(&check)
}

/// Entity types of format C UENs (ACRA's list, as Presidio has it).
const UEN_TYPES: &[&str] = &[
    "LP", "LL", "FC", "PF", "RF", "MQ", "MM", "NB", "CC", "CS", "MB", "FM", "GS", "DP", "CP", "NR",
    "CM", "CD", "MD", "HS", "VH", "CH", "MH", "CL", "XL", "CX", "HC", "RP", "TU", "TC", "FB", "FN",
    "PA", "PB", "SS", "MC", "SM", "GA", "GB",
];

/// Singapore UEN: format A (8 digits) and B (a registration year not in
/// the future and 5 digits) with a weighted mod-11 check letter; format C
/// (T/S/R for the 2000s/1900s/1800s, year, entity type, 4 digits) with the
/// check letter over the alphabet positions (the checksum Presidio uses).
fn sg_uen(s: &str) -> bool {
    let b = s.as_bytes();
    let weighted = |w: &[u32], v: &dyn Fn(u8) -> Option<u32>| -> Option<u32> {
        let body = b.get(..w.len())?;
        body.iter().zip(w).map(|(&c, &w)| Some(v(c)? * w)).sum()
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let check = b.last().copied();
    match b.len() {
        9 => weighted(&[10, 4, 9, 3, 8, 2, 7, 1], &digit)
            .is_some_and(|sum| b"XMKECAWLJDB".get((sum % 11) as usize).copied() == check),
        10 if b.first().is_some_and(u8::is_ascii_digit) => {
            let year = s.get(..4).and_then(|y| y.parse::<i32>().ok());
            year.is_some_and(|y| y <= time::OffsetDateTime::now_utc().year())
                && weighted(&[10, 8, 6, 4, 9, 7, 5, 3, 1], &digit)
                    .is_some_and(|sum| b"ZKCMDNERGWH".get((sum % 11) as usize).copied() == check)
        }
        10 => {
            const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWX0123456789";
            let pos = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
            matches!(b.first(), Some(b'T' | b'S' | b'R'))
                && s.get(3..5).is_some_and(|t| UEN_TYPES.contains(&t))
                && weighted(&[4, 3, 5, 3, 10, 2, 2, 5, 7], &pos).is_some_and(|sum| {
                    ALPHABET
                        .get((i64::from(sum) - 5).rem_euclid(11) as usize)
                        .copied()
                        == check
                })
        }
        _ => false,
    }
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("SG_NRIC_FIN", "NRIC [S1234567D]"),
    Case::Valid("SG_NRIC_FIN", "FIN no. [g3456789t]"),
    Case::Valid("SG_NRIC_FIN", "his FIN is [M1234567K]."),
    Case::Invalid("SG_NRIC_FIN", "NRIC S1234567A"),
    Case::Invalid("SG_NRIC_FIN", "NRIC A1234567D"),
    Case::LookAlike("SG_NRIC_FIN", "order S1234567D shipped"),
    Case::Valid("SG_UEN", "UEN [53123456L]"),
    Case::Valid("SG_UEN", "ACRA UEN: [201912345R]"),
    Case::Valid("SG_UEN", "UEN [T09LL0001D] (partnership)"),
    Case::Invalid("SG_UEN", "UEN 53123456M"),
    Case::Invalid("SG_UEN", "UEN T09ZZ0001D"),
    Case::LookAlike("SG_UEN", "invoice 53123456L paid"),
];

#[cfg(test)]
mod tests {
    use super::{sg_nric_fin, sg_uen};

    #[test]
    fn nric_checks() {
        for ok in [
            "S1234567D",
            "T0123456G",
            "F2345678T",
            "G3456789T",
            "M1234567K",
        ] {
            assert!(sg_nric_fin(ok), "{ok}");
        }
        assert!(!sg_nric_fin("S1234567A"));
        assert!(!sg_nric_fin("S123456D"));
        assert!(!sg_nric_fin(""));
    }

    #[test]
    fn uen_checks() {
        for ok in ["53123456L", "201912345R", "T09LL0001D", "S98FC1234B"] {
            assert!(sg_uen(ok), "{ok}");
        }
        assert!(!sg_uen("53123456M"), "format A check");
        assert!(!sg_uen("999912345R"), "future year");
        assert!(!sg_uen("T09LL0001E"), "format C check");
        assert!(!sg_uen("X09LL0001D"));
        assert!(!sg_uen("S1234567D"));
    }
}
