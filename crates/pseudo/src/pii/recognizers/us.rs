//! Recognisers for the United States (Presidio's `country_specific/us`, plus what it lacks).
//!
//! Many US identifiers are bare runs of digits with no check digit (bank
//! accounts, passports, claim numbers). Their base score is below the
//! reporting threshold, so a context word must precede them, and bare runs
//! are at least nine digits long: a shorter run is often the last group of a
//! spaced phone number (`030 12345678`). Types with a real check (SSN and
//! ITIN ranges, ABA checksum) keep theirs: with a context word they must win.

use super::{Case, Recognizer};
use crate::pii::checksum::{digits, luhn};

/// Context words match at a word start, so short ones carry the character
/// that ends them ("tin " but not "tiny").
const SSN_CONTEXT: &[&str] = &[
    "ssn",
    "ssns",
    "ss#",
    "ssid",
    "social security",
    "social sec",
];
const ITIN_CONTEXT: &[&str] = &[
    "itin",
    "individual taxpayer",
    "taxpayer",
    "tax id",
    "taxid",
    "tin ",
    "tin:",
    "tin#",
    "tax",
    "payer",
];
const ABA_CONTEXT: &[&str] = &[
    "aba ",
    "aba:",
    "aba#",
    "routing",
    "abarouting",
    "bankrouting",
    "rtn",
    "transit",
];
const NPI_CONTEXT: &[&str] = &["npi", "national provider", "provider", "taxonomy"];
const DL_CONTEXT: &[&str] = &[
    "driver",
    "driving",
    "license",
    "licence",
    "lic#",
    "lic ",
    "lic:",
    "lic.",
    "permit",
    "dl#",
    "dls",
    "cdl",
    "identification",
];
const MBI_CONTEXT: &[&str] = &[
    "medicare",
    "mbi",
    "beneficiary",
    "cms",
    "medicaid",
    "hicn",
    "hic ",
];
/// Words right before a code that say it is a product or order reference.
const REFERENCE_WORDS: &[&str] = &[
    "order",
    "invoice",
    "serial",
    "part",
    "sku",
    "model",
    "ref",
    "reference",
    "tracking",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        // SSN: 3-2-4 with one kind of separator is the usual form.
        Recognizer::new(
            "US_SSN",
            r"(?-u)\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b",
        )
        .validate(us_ssn)
        .score(0.5)
        .context(SSN_CONTEXT),
        // Dotted, unseparated, 5-4 and 3-6: only with a context word.
        Recognizer::new(
            "US_SSN",
            r"(?-u)\b(?:\d{3}\.\d{2}\.\d{4}|\d{9}|\d{5}-\d{4}|\d{3}-\d{6})\b",
        )
        .validate(us_ssn)
        .score(0.1)
        .context(SSN_CONTEXT),
        Recognizer::new(
            "US_ITIN",
            r"(?-u)\b(?:9\d{2}-\d{2}-\d{4}|9\d{2} \d{2} \d{4})\b",
        )
        .validate(us_itin)
        .score(0.5)
        .context(ITIN_CONTEXT),
        Recognizer::new(
            "US_ITIN",
            r"(?-u)\b(?:9\d{8}|9\d{2}[\- ]\d{6}|9\d{4}[\- ]\d{4})\b",
        )
        .validate(us_itin)
        .score(0.2)
        .context(ITIN_CONTEXT),
        Recognizer::new("ABA_ROUTING_NUMBER", r"(?-u)\b\d{4}-\d{4}-\d\b")
            .validate(aba_routing)
            .score(0.5)
            .context(ABA_CONTEXT),
        Recognizer::new("ABA_ROUTING_NUMBER", r"(?-u)\b\d{9}\b")
            .validate(aba_routing)
            .score(0.2)
            .context(ABA_CONTEXT),
        Recognizer::new(
            "MEDICAL_LICENSE",
            r"(?i-u)\b[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7}\b",
        )
        .validate(dea_number)
        .score(0.5)
        .context(&["dea ", "dea#", "dea:", "medical", "certificate", "prescriber"])
        .not_after(&["passport"]),
        Recognizer::new("US_BANK_NUMBER", r"(?-u)\b\d{9,17}\b")
            .validate(bare_digits)
            .score(0.1)
            .context(&[
                "account",
                "acct",
                "a/c",
                "bank",
                "checking",
                "savings",
                "debit",
            ]),
        // State formats (letters and digits), from NTSI's list as Presidio
        // gathers it; only with a context word.
        Recognizer::new(
            "US_DRIVER_LICENSE",
            r"(?-u)\b(?:[A-Z]\d{3,14}|[A-Z]\d{18}|[A-Z]{2}\d{3,7}|\d{2}[A-Z]{3}\d{5,6}|[A-Z]\d{6}R|\d{9}[A-Z]|[A-Z]{2}\d{6}[A-Z]|\d{8}[A-Z]{2}|\d{3}[A-Z]{2}\d{4}|[A-Z]\d[A-Z]\d[A-Z]|\d{7,8}[A-Z])\b",
        )
        .score(0.1)
        .context(DL_CONTEXT),
        Recognizer::new("US_DRIVER_LICENSE", r"(?-u)\b(?:\d{9,14}|\d{16})\b")
            .validate(bare_digits)
            .score(0.05)
            .context(DL_CONTEXT),
        Recognizer::new(
            "US_HEALTH_INSURANCE_MEMBER_ID",
            r"(?i-u)\b[A-Z]{1,5}(?:-[A-Z0-9]*\d[A-Z0-9]*|[A-Z]*\d[A-Z0-9]*)\b",
        )
        .validate(member_id)
        .score(0.1)
        .context(&["member", "subscriber", "insurance", "policy", "insured"]),
        Recognizer::new(
            "US_PRIOR_AUTHORIZATION_NUMBER",
            r"(?i-u)\b(?:PA-?\d{6,12}|\d{9,12})\b",
        )
        .validate(labelled_number)
        .score(0.1)
        .context(&[
            "prior authorization",
            "prior auth",
            "preauthorization",
            "pre-authorization",
            "pre-auth",
            "authorization",
            "auth",
            "approval",
        ]),
        Recognizer::new("US_CLAIM_NUMBER", r"(?i-u)\b(?:CLM-?\d{6,15}|\d{9,15})\b")
            .validate(labelled_number)
            .score(0.1)
            .context(&["claim", "billing"]),
        Recognizer::new(
            "US_PRESCRIPTION_NUMBER",
            r"(?i-u)\b(?:RX-?\d{6,12}|\d{9,12})\b",
        )
        .validate(labelled_number)
        .score(0.1)
        .context(&["rx", "prescription", "pharmacy", "medication", "refill"]),
        Recognizer::new(
            "US_REFERRAL_NUMBER",
            r"(?i-u)\b(?:(?:REF|INF)-?\d{6,12}|\d{9,12})\b",
        )
        .validate(labelled_number)
        .score(0.1)
        .context(&["referral", "infusion", "specialty", "referring"]),
        Recognizer::new("US_PROVIDER_TAX_ID", r"(?-u)\b\d{2}-\d{7}\b")
            .validate(ein)
            .score(0.1)
            .context(&[
                "tax id", "tin ", "tin:", "ein ", "ein:", "ein#", "billing", "provider", "employer",
            ]),
        Recognizer::new(
            "US_MBI",
            r"(?i-u)\b[1-9][AC-HJKMNP-RT-Y][0-9AC-HJKMNP-RT-Y]\d-[AC-HJKMNP-RT-Y][0-9AC-HJKMNP-RT-Y]\d-[AC-HJKMNP-RT-Y]{2}\d{2}\b",
        )
        .score(0.6)
        .context(MBI_CONTEXT)
        .not_after(REFERENCE_WORDS),
        Recognizer::new(
            "US_MBI",
            r"(?i-u)\b[1-9][AC-HJKMNP-RT-Y][0-9AC-HJKMNP-RT-Y]\d[AC-HJKMNP-RT-Y][0-9AC-HJKMNP-RT-Y]\d[AC-HJKMNP-RT-Y]{2}\d{2}\b",
        )
        .score(0.5)
        .context(MBI_CONTEXT)
        .not_after(REFERENCE_WORDS),
        Recognizer::new(
            "US_NPI",
            r"(?-u)\b(?:[12]\d{3}-\d{3}-\d{3}|[12]\d{3} \d{3} \d{3})\b",
        )
        .validate(npi)
        .score(0.5)
        .context(NPI_CONTEXT),
        Recognizer::new("US_NPI", r"(?-u)\b[12]\d{9}\b")
            .validate(npi)
            .score(0.2)
            .context(NPI_CONTEXT),
        Recognizer::new("US_PASSPORT", r"(?-u)\b(?:\d{9}|[A-Z]\d{8})\b")
            .validate(passport)
            .score(0.1)
            .context(&["passport", "us ", "u.s.", "usa", "united states", "american", "travel document", "travel doc"]),
    ]
}

/// The nine digits of an SSN-shaped string, if its separators are all the
/// same kind.
fn nine_digits(s: &str) -> Option<Vec<u32>> {
    let mut seps = s.chars().filter(|c| !c.is_ascii_digit());
    if let Some(first) = seps.next()
        && seps.any(|c| c != first)
    {
        return None;
    }
    let d = digits(s);
    (d.len() == 9).then_some(d)
}

fn number(d: &[u32]) -> u32 {
    d.iter().fold(0, |n, &x| n * 10 + x)
}

/// US Social Security number: area 001–899 except 666, group 01–99, serial
/// 0001–9999, not all one digit nor 123456789
/// (<https://www.ssa.gov/employer/randomization.html>).
fn us_ssn(s: &str) -> bool {
    let Some(d) = nine_digits(s) else {
        return false;
    };
    let (area, group, serial) = (
        number(d.get(..3).unwrap_or_default()),
        number(d.get(3..5).unwrap_or_default()),
        number(d.get(5..).unwrap_or_default()),
    );
    (1..900).contains(&area)
        && area != 666
        && group != 0
        && serial != 0
        && d.iter().any(|&x| Some(&x) != d.first())
        && number(&d) != 123_456_789
}

/// US ITIN: 9, two digits, a group in 50–65, 70–88, 90–92 or 94–99, and
/// four digits (<https://www.irs.gov/individuals/individual-taxpayer-identification-number>).
fn us_itin(s: &str) -> bool {
    let Some(d) = nine_digits(s) else {
        return false;
    };
    let group = number(d.get(3..5).unwrap_or_default());
    d.first() == Some(&9) && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// ABA routing transit number: a Federal Reserve routing symbol (00–12,
/// 21–32, 61–72, 80) and the 3-7-1 weighted checksum
/// (<https://www.frbservices.org/>, ABA Key to Routing Numbers).
fn aba_routing(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let prefix = number(d.get(..2).unwrap_or_default());
    let sum: u32 = d
        .iter()
        .zip([3, 7, 1].iter().cycle())
        .map(|(x, w)| x * w)
        .sum();
    matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80) && sum.is_multiple_of(10)
}

/// DEA registration number: registrant letter, surname initial (or 9), six
/// digits and a check digit, the last digit of (d1 + d3 + d5) + 2 × (d2 + d4 + d6).
fn dea_number(s: &str) -> bool {
    let d = digits(s.get(2..).unwrap_or_default());
    if d.len() != 7 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let odd = d[0] + d[2] + d[4];
    let even = d[1] + d[3] + d[5];
    (odd + 2 * even) % 10 == d[6]
}

/// A bare digit run of a type with no check: not one digit repeated.
fn bare_digits(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(|&x| Some(&x) != b.first())
}

/// A payer's number (authorisation, claim, prescription, referral),
/// optionally after its letter prefix: not one digit repeated.
fn labelled_number(s: &str) -> bool {
    let start = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
    let num = s.get(start..).unwrap_or_default();
    if num.is_empty() {
        return false;
    }
    if start > 0 {
        let b = num.as_bytes();
        return b.iter().any(|&x| Some(&x) != b.first());
    }
    bare_digits(num)
}

/// Health insurance member ID: 1–5 letters, an optional dash, 5–14 letters
/// or digits (at least one digit), 6–20 characters in all.
fn member_id(s: &str) -> bool {
    if !s.bytes().any(|b| b.is_ascii_digit()) || !(6..=20).contains(&s.len()) {
        return false;
    }
    if let Some((head, rest)) = s.split_once('-') {
        return (1..=5).contains(&head.len()) && (5..=14).contains(&rest.len());
    }
    let letters = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    // Some split into 1–5 leading letters and 5–14 characters.
    (1..=letters.min(5)).any(|k| (5..=14).contains(&(s.len() - k)))
}

/// Employer identification number: a prefix the IRS assigns (not 00, 07–09,
/// 17–19, 28–29, 49, 69–70, 78–79, 89, 96–97)
/// (<https://www.irs.gov/businesses/small-businesses-self-employed/valid-eins>).
fn ein(s: &str) -> bool {
    let d = digits(s);
    let prefix = number(d.get(..2).unwrap_or_default());
    d.len() == 9
        && !matches!(
            prefix,
            0 | 7..=9 | 17..=19 | 28 | 29 | 49 | 69 | 70 | 78 | 79 | 89 | 96 | 97
        )
}

/// National Provider Identifier: 10 digits starting 1 or 2, Luhn over
/// `80840` and the number (CMS, NPI check digit), consistent separators,
/// not one digit repeated.
fn npi(s: &str) -> bool {
    let mut seps = s.chars().filter(|c| !c.is_ascii_digit());
    if let Some(first) = seps.next()
        && seps.any(|c| c != first)
    {
        return false;
    }
    let d = digits(s);
    d.len() == 10
        && d.get(..9)
            .is_some_and(|b| b.iter().any(|&x| Some(&x) != b.first()))
        && luhn(&format!("80840{}", s.replace([' ', '-'], "")))
}

/// US passport: nine digits (older books) or a letter and eight digits
/// (Next Generation); no check digit.
fn passport(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b) if b.is_ascii_digit() => bare_digits(s),
        Some(_) => true,
        None => false,
    }
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("US_SSN", "SSN [078-05-1120]"),
    Case::Valid("US_SSN", "social security number: [219 09 9999]"),
    Case::Valid("US_SSN", "ssn [078.05.1120]"),
    Case::Valid("US_SSN", "SSN: [078051120]"),
    Case::Valid("US_SSN", "my [536-90-4399] social"),
    Case::Invalid("US_SSN", "SSN 666-05-1120"),
    Case::Invalid("US_SSN", "SSN 000-12-3456"),
    Case::Invalid("US_SSN", "SSN 078-00-1120"),
    Case::Invalid("US_SSN", "SSN 123456789"),
    Case::LookAlike("US_SSN", "SSN 078-05 1120"),
    Case::LookAlike("US_SSN", "SSN 078-05.1120"),
    Case::LookAlike("US_SSN", "SSN ٠٧٨-٠٥-١١٢٠"),
    Case::LookAlike("US_SSN", "batch 078051120 shipped"),
    Case::LookAlike("US_SSN", "version 078.05.1120 released"),
    Case::Valid("US_ITIN", "ITIN [912-70-1234]"),
    Case::Valid("US_ITIN", "individual taxpayer id [912 94 1234]"),
    Case::Valid("US_ITIN", "taxpayer [912701234]"),
    Case::Invalid("US_ITIN", "ITIN 912-93-1234"),
    Case::Invalid("US_ITIN", "ITIN 912-40-1234"),
    Case::LookAlike("US_ITIN", "batch 912701234 shipped"),
    Case::Valid("ABA_ROUTING_NUMBER", "routing number [011000015]"),
    Case::Valid("ABA_ROUTING_NUMBER", "wire to [0110-0001-5]"),
    Case::Invalid("ABA_ROUTING_NUMBER", "routing number 011000016"),
    Case::Invalid("ABA_ROUTING_NUMBER", "routing number 131000018"),
    Case::LookAlike("ABA_ROUTING_NUMBER", "batch 011000015 shipped"),
    Case::Valid("MEDICAL_LICENSE", "DEA number [AB1234563]"),
    Case::Valid("MEDICAL_LICENSE", "prescriber [F91234563]"),
    Case::Invalid("MEDICAL_LICENSE", "DEA number AB1234564"),
    Case::LookAlike("MEDICAL_LICENSE", "DEA number ZB1234563"),
    Case::LookAlike("MEDICAL_LICENSE", "passport AB1234563"),
    Case::Valid("US_BANK_NUMBER", "checking account [000123456789]"),
    Case::Valid("US_BANK_NUMBER", "acct# [876543210]"),
    Case::Invalid("US_BANK_NUMBER", "checking account 0001234567890123456789"),
    Case::Invalid("US_BANK_NUMBER", "bank account 1111111111"),
    Case::LookAlike("US_BANK_NUMBER", "batch 000123456789 shipped"),
    Case::Valid("US_DRIVER_LICENSE", "driver's license [D1234567]"),
    Case::Valid("US_DRIVER_LICENSE", "DL: lic [123AB4567]"),
    Case::Valid("US_DRIVER_LICENSE", "driver license [S12345678901]"),
    Case::Invalid("US_DRIVER_LICENSE", "driver's license D12"),
    Case::LookAlike("US_DRIVER_LICENSE", "the A380 and F1234567 models"),
    Case::Valid(
        "US_HEALTH_INSURANCE_MEMBER_ID",
        "insurance member ID [XJH123456789]",
    ),
    Case::Valid("US_HEALTH_INSURANCE_MEMBER_ID", "subscriber [ABC-98765X]"),
    Case::Invalid("US_HEALTH_INSURANCE_MEMBER_ID", "member id ABCDEF-12345"),
    Case::Invalid("US_HEALTH_INSURANCE_MEMBER_ID", "member id XJHABCDEFGH"),
    Case::LookAlike(
        "US_HEALTH_INSURANCE_MEMBER_ID",
        "ticket XJH123456789 closed",
    ),
    Case::Valid(
        "US_PRIOR_AUTHORIZATION_NUMBER",
        "prior authorization # [PA-987654321]",
    ),
    Case::Valid("US_PRIOR_AUTHORIZATION_NUMBER", "prior auth: [582133774]"),
    Case::Invalid("US_PRIOR_AUTHORIZATION_NUMBER", "prior auth PA-12345"),
    Case::LookAlike(
        "US_PRIOR_AUTHORIZATION_NUMBER",
        "batch PA-987654321 shipped",
    ),
    Case::Valid("US_CLAIM_NUMBER", "claim no. [CLM-20240518]"),
    Case::Valid("US_CLAIM_NUMBER", "medical claim [482001993217]"),
    Case::Invalid("US_CLAIM_NUMBER", "claim CLM-12345"),
    Case::LookAlike("US_CLAIM_NUMBER", "batch CLM-20240518 shipped"),
    Case::Valid("US_PRESCRIPTION_NUMBER", "pharmacy [RX-4820193]"),
    Case::Valid("US_PRESCRIPTION_NUMBER", "Rx # [663402117]"),
    Case::Invalid("US_PRESCRIPTION_NUMBER", "Rx # 66340"),
    Case::LookAlike("US_PRESCRIPTION_NUMBER", "batch RX-4820193 shipped"),
    Case::Valid("US_REFERRAL_NUMBER", "referral # [REF-5501234]"),
    Case::Valid("US_REFERRAL_NUMBER", "infusion referral [INF7712345]"),
    Case::Invalid("US_REFERRAL_NUMBER", "referral REF-55012"),
    Case::LookAlike("US_REFERRAL_NUMBER", "batch REF-5501234 shipped"),
    Case::Valid("US_PROVIDER_TAX_ID", "billing provider EIN [12-3456789]"),
    Case::Invalid("US_PROVIDER_TAX_ID", "billing provider EIN 07-3456789"),
    Case::LookAlike("US_PROVIDER_TAX_ID", "batch 12-3456789 shipped"),
    Case::Valid("US_MBI", "Medicare [2CD7-FG8-HJ45]"),
    Case::Valid("US_MBI", "card [2CD7FG8HJ45]"),
    Case::Valid("US_MBI", "mbi [2cd7-fg8-hj45]"),
    Case::Invalid("US_MBI", "Medicare 2SD7-FG8-HJ45"),
    Case::Invalid("US_MBI", "Medicare 0CD7-FG8-HJ45"),
    Case::LookAlike("US_MBI", "serial 2CD7FG8HJ45"),
    Case::Valid("US_NPI", "NPI [1234567893]"),
    Case::Valid("US_NPI", "rendering [1234-567-893]"),
    Case::Invalid("US_NPI", "NPI 1234567894"),
    Case::Invalid("US_NPI", "NPI 1111111112"),
    Case::LookAlike("US_NPI", "batch 1234567893 shipped"),
    Case::Valid("US_PASSPORT", "US passport [A12345678]"),
    Case::Valid("US_PASSPORT", "passport no. [340020013]"),
    Case::Invalid("US_PASSPORT", "passport 1111111111"),
    Case::Invalid("US_PASSPORT", "passport AB12345678"),
    Case::LookAlike("US_PASSPORT", "model A12345678 in stock"),
    // Bare digit runs of weak types must not hide phone numbers.
    Case::Valid("PHONE_NUMBER", "call [0612345678] today"),
    Case::Valid("PHONE_NUMBER", "call [2025550123] today"),
    Case::Valid("PHONE_NUMBER", "Telefon [030 12345678]"),
    Case::Valid("PHONE_NUMBER", "tel [010-12345678]"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators() {
        assert!(us_ssn("078-05-1120"));
        assert!(!us_ssn("078-05.1120"));
        assert!(!us_ssn("900-05-1120"));
        assert!(us_itin("912-70-1234"));
        assert!(!us_itin("912-69-1234"));
        assert!(aba_routing("011000015"));
        assert!(aba_routing("0110-0001-5"));
        assert!(!aba_routing("011000016"));
        assert!(!aba_routing("131000018"), "routing symbol 13");
        assert!(dea_number("AB1234563"));
        assert!(!dea_number("AB1234564"));
        assert!(npi("1234567893"), "CMS example NPI");
        assert!(!npi("1234567894"));
        assert!(!npi("1234-567 893"), "mixed separators");
        assert!(member_id("XJH123456789"));
        assert!(member_id("ABC-98765X"));
        assert!(!member_id("ABCDEF-12345"));
        assert!(ein("12-3456789"));
        assert!(!ein("07-3456789"));
    }

    #[test]
    fn validators_never_panic() {
        for s in [
            "",
            "-",
            "9",
            "A",
            "AB",
            "PA-",
            "1-2",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ-1",
        ] {
            let _ = (
                us_ssn(s),
                us_itin(s),
                aba_routing(s),
                dea_number(s),
                bare_digits(s),
                labelled_number(s),
                member_id(s),
                ein(s),
                npi(s),
                passport(s),
            );
        }
    }
}
