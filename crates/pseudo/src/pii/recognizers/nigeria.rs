//! Recognisers for Nigeria (Presidio's `country_specific/nigeria`).

use super::{Case, Recognizer};
use crate::pii::checksum::{compact, verhoeff};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("NG_NIN", r"(?-u:\b)[0-9]{11}(?-u:\b)")
            .validate(ng_nin)
            .score(0.5)
            .context(&[
                "nin",
                "nimc",
                "national identification number",
                "national identity",
                "nigeria id",
                "nigerian identification",
            ])
            .not_after(&[
                "order",
                "invoice",
                "tracking",
                "ticket",
                "ref",
                "reference",
                "account",
                "acct",
            ]),
        Recognizer::new(
            "NG_VEHICLE_REGISTRATION",
            r"(?-u:\b)[A-Z]{3}[- ]?[0-9]{3}[A-Z]{2}(?-u:\b)",
        )
        .validate(ng_vehicle_registration)
        .score(0.2)
        .context(&[
            "plate",
            "vehicle",
            "registration",
            "number plate",
            "licence plate",
            "license plate",
        ]),
    ]
}

/// National Identification Number (NIMC): 11 digits, the last a Verhoeff
/// check digit.
fn ng_nin(s: &str) -> bool {
    s.len() == 11 && verhoeff(s)
}

/// Plate since 2011 (ABC-123DE): LGA code, serial 001-999, two letters.
/// <https://en.wikipedia.org/wiki/Vehicle_registration_plates_of_Nigeria>
fn ng_vehicle_registration(s: &str) -> bool {
    let Some(c) = compact(s, " -") else {
        return false;
    };
    c.len() == 8 && c.get(3..6).is_some_and(|n| n != "000")
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("NG_NIN", "NIN: [12345678902]"),
    Case::Valid("NG_NIN", "NIMC slip [38574629103]"),
    Case::Invalid("NG_NIN", "NIN: 12345678903"),
    Case::Invalid("NG_NIN", "NIN: 1234567890"),
    Case::LookAlike("NG_NIN", "invoice 38574629103"),
    Case::Valid("NG_VEHICLE_REGISTRATION", "plate number [KSF-482GH]"),
    Case::Valid("NG_VEHICLE_REGISTRATION", "vehicle [ABJ 123KL] parked"),
    Case::Invalid("NG_VEHICLE_REGISTRATION", "plate number KSF-000GH"),
    Case::Invalid("NG_VEHICLE_REGISTRATION", "plate number KS-4821GH"),
    Case::LookAlike("NG_VEHICLE_REGISTRATION", "ref KSF-482GH"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nin_and_plates() {
        assert!(ng_nin("12345678902"));
        assert!(!ng_nin("12345678903"));
        assert!(ng_vehicle_registration("KSF-482GH"));
        assert!(!ng_vehicle_registration("KSF000GH"));
        assert!(!ng_vehicle_registration("GH"));
    }
}
