//! Recognisers for South Africa (Presidio's `country_specific/south_africa`).

use std::sync::LazyLock;

use regex::Regex;
use rlibphonenumber::phonenumber_matcher::FindNumberExt as _;
use rlibphonenumber::{PhoneNumber, PhoneNumberType, Region};

use super::{Case, Recognizer};
use crate::pii::checksum::{digits, luhn};

/// Phone numbers in international form (`+27`, `0027`, optional `(0)`).
const PHONE_INTL: &str =
    r"(?:\+27|(?-u:\b)0027)[ \-]?(?:\(0\)[ \-]?)?[1-9]\d[ \-]?\d{3}[ \-]?\d{4}(?-u:\b)";
/// Phone numbers in national form: `0AA NNN NNNN`, `(0AA) NNN NNNN`, or
/// `0AAA NNN NNN` (sharecall and other 4-digit prefixes).
const PHONE_NATIONAL: &str = r"(?:(?-u:\b)0[1-9]\d|\(0[1-9]\d\))[ \-]?\d{3}[ \-]?\d{4}(?-u:\b)|(?-u:\b)0[1-9]\d{2}[ \-]\d{3}[ \-]\d{3}(?-u:\b)";

/// Words (South African usage included) that say a number is a phone number.
const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "handset",
    "contact number",
    "landline",
    "home number",
    "work number",
    "office number",
    "sms",
    "whatsapp",
    "fax",
];

/// Words right before a number that say it is not a phone number.
const PHONE_NEGATIVE: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "ticket",
    "ref",
    "reference",
    "account",
    "tax",
    "vat",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        // YYMMDD SSSS C A Z, written plain or grouped 6-4-3.
        Recognizer::new("ZA_ID_NUMBER", r"(?-u:\b)\d{6} ?\d{4} ?[012][89]\d(?-u:\b)")
            .validate(za_id_number)
            .score(0.6)
            .context(&[
                "id",
                "identity",
                "id number",
                "identity number",
                "south african id",
                "rsa id",
                "smart id",
                "national id",
            ])
            .not_after(&["order", "invoice", "tracking", "ref", "reference", "account"]),
        // Any 13 digits that are not an ID number: needs a context word.
        Recognizer::new("ZA_TRAFFIC_REGISTER_NUMBER", r"(?-u:\b)\d{13}(?-u:\b)")
            .validate(za_traffic_register_number)
            .score(0.1)
            .context(&[
                "traffic register",
                "trn",
                "enatis",
                "natis",
                "vehicle register",
            ]),
        Recognizer::new(
            "ZA_COMPANY_REGISTRATION",
            r"(?-u:\b)(?:(?:19|20)\d{2}/\d{6}/\d{2}|(?:CK|NR|[KTWBMN])\d{4}/\d{6})(?-u:\b)",
        )
        .validate(za_company_registration)
        .score(0.5)
        .context(&[
            "cipc",
            "company registration",
            "registration number",
            "reg no",
            "reg. no",
            "close corporation",
            "company reg",
            "enterprise number",
        ])
        .not_after(&["order", "invoice", "tracking", "ref", "reference", "case", "file"]),
        Recognizer::new(
            "ZA_DRIVER_LICENSE",
            r"(?-u:\b)\d{6,10}[A-Z0-9]{2,5}(?-u:\b)",
        )
        .validate(za_driver_license)
        .score(0.1)
        .context(&[
            "licence",
            "license",
            "driving",
            "driver",
            "drivers",
            "enatis",
            "natis",
        ]),
        Recognizer::new(
            "ZA_INCOME_TAX_NUMBER",
            r"(?-u:\b)[01239](?:\d{9}|\d{3}/\d{3}/\d{2}/\d)(?-u:\b)",
        )
        .validate(za_income_tax_number)
        .score(0.1)
        .context(&[
            "sars",
            "tax reference",
            "tax ref",
            "income tax",
            "tax number",
            "tax no",
            "itr",
            "taxpayer",
            "tax registration",
        ]),
        Recognizer::new("ZA_VAT_NUMBER", r"(?-u:\b)4\d{9}(?-u:\b)")
            .validate(za_vat_number)
            .score(0.1)
            .context(&[
                "vat",
                "value added tax",
                "value-added tax",
                "tax invoice",
                "sars",
            ]),
        // A, D, M or T and eight digits: only a shape, so it needs a context word.
        Recognizer::new("ZA_PASSPORT", r"(?-u:\b)[ADMT]\d{8}(?-u:\b)")
            .score(0.1)
            .context(&[
                "passport",
                "travel document",
                "dha",
                "south african passport",
                "rsa passport",
                "south africa",
                "rsa ",
            ]),
        Recognizer::new(
            "ZA_LICENSE_PLATE",
            r"(?-u:\b)(?:[A-Z]{2} ?\d{2} ?[A-Z]{2} ?(?:GP|ZN|WP|EC|NC|FS|LP|MP|NW)|[A-Z]{2,4}\d{2,4}[A-Z]{0,4}(?:GP|ZN|WP|EC|NC|FS|LP|MP|NW)|[A-Z]{2,3} ?\d{2,3} ?(?:GP|ZN|WP|EC|NC|FS|LP|MP|NW)|\d{2,3} ?[A-Z]{2,3} ?EC)(?-u:\b)",
        )
        .validate(za_license_plate)
        .score(0.1)
        .context(&[
            "licence plate",
            "license plate",
            "number plate",
            "registration",
            "vehicle registration",
            "natis",
            "enatis",
            "plate number",
            "plate",
        ]),
        // A +27 number is South African whatever the words around it; so is
        // one in national form with South African grouping, with a little
        // less certainty (the same digits could be dialled elsewhere).
        Recognizer::new("ZA_MOBILE_NUMBER", PHONE_INTL)
            .validate(za_mobile_number)
            .score(0.75)
            .context(PHONE_CONTEXT)
            .not_after(PHONE_NEGATIVE),
        Recognizer::new("ZA_MOBILE_NUMBER", PHONE_NATIONAL)
            .validate(za_mobile_number)
            .score(0.4)
            .context(PHONE_CONTEXT)
            .not_after(PHONE_NEGATIVE),
        Recognizer::new("ZA_TELEPHONE_NUMBER", PHONE_INTL)
            .validate(za_telephone_number)
            .score(0.75)
            .context(PHONE_CONTEXT)
            .not_after(PHONE_NEGATIVE),
        Recognizer::new("ZA_TELEPHONE_NUMBER", PHONE_NATIONAL)
            .validate(za_telephone_number)
            .score(0.4)
            .context(PHONE_CONTEXT)
            .not_after(PHONE_NEGATIVE),
    ]
}

/// South African identity number (`YYMMDD SSSS C A Z`): a real birth date
/// not in the future (`YY` above this year's is the 1900s), citizenship 0–2,
/// 8 or 9 in the 12th place, and the Luhn digit;
/// <https://www.dha.gov.za> (Identification Act 68 of 1997).
fn za_id_number(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 13 || !s.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
        return false;
    }
    let today = time::OffsetDateTime::now_utc().date();
    let yy = (d[0] * 10 + d[1]) as i32;
    let year = if yy > today.year() % 100 {
        1900 + yy
    } else {
        2000 + yy
    };
    let Ok(month) = time::Month::try_from((d[2] * 10 + d[3]) as u8) else {
        return false;
    };
    time::Date::from_calendar_date(year, month, (d[4] * 10 + d[5]) as u8)
        .is_ok_and(|born| born <= today)
        && d[10] <= 2
        && (d[11] == 8 || d[11] == 9)
        && luhn(s)
}

/// eNaTIS traffic register number: 13 digits that are not a valid identity
/// number (foreigners and organisations get one instead) nor a phone number.
fn za_traffic_register_number(s: &str) -> bool {
    s.len() == 13
        && s.bytes().all(|b| b.is_ascii_digit())
        && !za_id_number(s)
        && !phone_elsewhere(s)
}

/// CIPC company registration number: `YYYY/NNNNNN/NN`, or a legacy prefix
/// (`CK`, `K`, `T`, …) with `YYYY/NNNNNN`; the year 1800 to this year.
fn za_company_registration(s: &str) -> bool {
    let head = s.split('/').next().unwrap_or_default();
    let year = head.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let parts = s.split('/').count();
    let shape = if year.len() == head.len() {
        parts == 3
    } else {
        parts == 2
    };
    shape
        && year.len() == 4
        && year
            .parse::<i32>()
            .is_ok_and(|y| (1800..=time::OffsetDateTime::now_utc().year()).contains(&y))
}

/// eNaTIS driving licence number: 10–14 characters, digits then letters or
/// digits, with at least one letter.
fn za_driver_license(s: &str) -> bool {
    let lead = s.bytes().take_while(u8::is_ascii_digit).count();
    (10..=14).contains(&s.len())
        && lead >= 6
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && s.bytes().any(|b| b.is_ascii_uppercase())
}

/// SARS income tax reference number: 10 digits starting 0, 1, 2, 3 or 9 and
/// the Luhn digit (SARS, per the OECD's TIN sheet for South Africa); not
/// one that is also a valid phone number (see [`phone_elsewhere`]).
fn za_income_tax_number(s: &str) -> bool {
    let d = digits(s);
    d.len() == 10
        && matches!(d.first(), Some(0 | 1 | 2 | 3 | 9))
        && (!s.contains('/') || s.len() == 13)
        && luhn(s)
        && !phone_elsewhere(s)
}

/// SARS VAT vendor number: 10 digits starting with 4 and the Luhn digit; not
/// one that is also a valid phone number (see [`phone_elsewhere`]).
fn za_vat_number(s: &str) -> bool {
    s.len() == 10
        && s.starts_with('4')
        && s.bytes().all(|b| b.is_ascii_digit())
        && luhn(s)
        && !phone_elsewhere(s)
}

static PLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Z]{2} ?\d{2} ?[A-Z]{2} ?(?:GP|ZN|WP|EC|NC|FS|LP|MP|NW)|[A-Z]{2,4}\d{2,4}[A-Z]{0,4}(?:GP|ZN|WP|EC|NC|FS|LP|MP|NW)|[A-Z]{2,3} ?\d{2,3} ?(?:GP|ZN|WP|EC|NC|FS|LP|MP|NW)|\d{2,3} ?[A-Z]{2,3} ?EC)$",
    )
    .unwrap_or_else(|e| unreachable!("plate pattern compiles: {e}"))
});

/// South African licence plate: one of the provincial layouts, ending in a
/// province code (GP, ZN, WP, EC, NC, FS, LP, MP, NW).
fn za_license_plate(s: &str) -> bool {
    PLATE.is_match(s)
}

/// Regions whose national numbers the generic phone recogniser finds
/// without a `+` (see `generic::PHONE_REGIONS`).
const OTHER_REGIONS: [Region; 7] = [
    Region::FR,
    Region::NO,
    Region::DE,
    Region::GB,
    Region::IE,
    Region::US,
    Region::CN,
];

/// Whether `s` is bare digits that the generic phone recogniser finds as a
/// phone number of one of [`OTHER_REGIONS`]. A validated candidate hides its
/// digits from the phone recogniser even when its score is too low to be
/// reported, so the types that need a context word leave these to it.
fn phone_elsewhere(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
        && s.find_phone_numbers_with_regions(OTHER_REGIONS)
            .any(|m| m.start == 0 && m.end() == s.len())
}

/// Whether `s` is a valid South African number, and a mobile one.
fn za_phone(s: &str) -> Option<bool> {
    let n = PhoneNumber::parse(s, Some(Region::ZA)).ok()?;
    if n.get_region_code() != Some(Region::ZA) || !n.is_valid() {
        return None;
    }
    // Ten bare digits written nationally say nothing of the country: one
    // that is also valid where the generic recogniser looks (0612345678 in
    // France) is left to it; South Africa groups its digits 3-3-4.
    if !s.starts_with("00") && phone_elsewhere(s) {
        return None;
    }
    match n.get_type() {
        PhoneNumberType::Mobile | PhoneNumberType::FixedLineOrMobile => Some(true),
        PhoneNumberType::FixedLine
        | PhoneNumberType::TollFree
        | PhoneNumberType::PremiumRate
        | PhoneNumberType::SharedCost
        | PhoneNumberType::VoIP
        | PhoneNumberType::PersonalNumber
        | PhoneNumberType::UAN
        | PhoneNumberType::Pager => Some(false),
        PhoneNumberType::VoiceMail | PhoneNumberType::Unknown => None,
    }
}

/// South African mobile number (06x, 07x, cellular 08x), by libphonenumber's
/// metadata for ZA.
fn za_mobile_number(s: &str) -> bool {
    za_phone(s) == Some(true)
}

/// South African telephone number: geographic (01x–05x) or non-mobile
/// service lines (toll-free 080, sharecall 086, VoIP 087), by
/// libphonenumber's metadata for ZA.
fn za_telephone_number(s: &str) -> bool {
    za_phone(s) == Some(false)
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("ZA_ID_NUMBER", "ID number [8001015009087]"),
    Case::Valid("ZA_ID_NUMBER", "RSA ID: [921231 0123 080]"),
    Case::Invalid("ZA_ID_NUMBER", "ID number 8001015009088"),
    Case::Invalid("ZA_ID_NUMBER", "ID number 0502295100189"),
    Case::LookAlike("ZA_ID_NUMBER", "order 8001015009087 shipped"),
    Case::Valid(
        "ZA_TRAFFIC_REGISTER_NUMBER",
        "traffic register number [1012345678901]",
    ),
    Case::Invalid(
        "ZA_TRAFFIC_REGISTER_NUMBER",
        "traffic register number 8001015009087",
    ),
    Case::Invalid("ZA_TRAFFIC_REGISTER_NUMBER", "TRN 001234567890"),
    Case::LookAlike("ZA_TRAFFIC_REGISTER_NUMBER", "batch 1012345678901 packed"),
    Case::Valid(
        "ZA_COMPANY_REGISTRATION",
        "CIPC registration number [2019/123456/07]",
    ),
    Case::Valid(
        "ZA_COMPANY_REGISTRATION",
        "close corporation [CK1994/012345]",
    ),
    Case::Invalid(
        "ZA_COMPANY_REGISTRATION",
        "company registration 2099/123456/07",
    ),
    Case::Invalid("ZA_COMPANY_REGISTRATION", "close corporation CK2099/012345"),
    Case::LookAlike("ZA_COMPANY_REGISTRATION", "invoice 2019/123456/07 paid"),
    Case::Valid("ZA_DRIVER_LICENSE", "driver's licence no. [1025000123CC]"),
    Case::Invalid("ZA_DRIVER_LICENSE", "driver's licence no. 1025000123"),
    Case::Invalid("ZA_DRIVER_LICENSE", "driver's licence no. 10250AB"),
    Case::LookAlike("ZA_DRIVER_LICENSE", "part 1025000123CC in stock"),
    Case::Valid("ZA_INCOME_TAX_NUMBER", "SARS tax reference [0001339050]"),
    Case::Valid("ZA_INCOME_TAX_NUMBER", "income tax number: [0843/089/84/8]"),
    Case::Invalid("ZA_INCOME_TAX_NUMBER", "SARS tax reference 0001339051"),
    Case::Invalid("ZA_INCOME_TAX_NUMBER", "SARS tax reference 5001339058"),
    Case::LookAlike("ZA_INCOME_TAX_NUMBER", "batch 0001339050 packed"),
    Case::Valid("ZA_VAT_NUMBER", "VAT no. [4220119988]"),
    Case::Invalid("ZA_VAT_NUMBER", "VAT no. 4220119989"),
    Case::Invalid("ZA_VAT_NUMBER", "VAT no. 5220119987"),
    Case::LookAlike("ZA_VAT_NUMBER", "batch 4220119988 packed"),
    Case::Valid("ZA_PASSPORT", "passport number [A12345678]"),
    Case::Valid("ZA_PASSPORT", "RSA passport: [M00112233]."),
    Case::Invalid("ZA_PASSPORT", "passport number B12345678"),
    Case::Invalid("ZA_PASSPORT", "passport number A1234567"),
    Case::LookAlike("ZA_PASSPORT", "flight A12345678 boarding"),
    Case::Valid("ZA_LICENSE_PLATE", "number plate [DK 28 LF GP]"),
    Case::Valid("ZA_LICENSE_PLATE", "licence plate [KD93GKGP]"),
    Case::Valid("ZA_LICENSE_PLATE", "vehicle registration [GET 103 WP]"),
    Case::Valid("ZA_LICENSE_PLATE", "number plate [123 ABC EC]"),
    Case::Invalid("ZA_LICENSE_PLATE", "number plate DK 28 LF XY"),
    Case::LookAlike("ZA_LICENSE_PLATE", "seat DK 28 LF GP"),
    Case::Valid("ZA_MOBILE_NUMBER", "cell [082 123 4567]"),
    Case::Valid("ZA_MOBILE_NUMBER", "WhatsApp me on [+27 82 123 4567]"),
    Case::Valid("ZA_MOBILE_NUMBER", "[+27(0)60-123-4567]"),
    Case::Invalid("ZA_MOBILE_NUMBER", "cell 011 123 4567"),
    Case::Invalid("ZA_MOBILE_NUMBER", "cell +27 82 123 456"),
    Case::LookAlike("ZA_MOBILE_NUMBER", "order 0821234567 shipped"),
    Case::LookAlike("ZA_MOBILE_NUMBER", "appelez le 0612345678"),
    Case::Valid("ZA_TELEPHONE_NUMBER", "landline [011 123 4567]"),
    Case::Valid("ZA_TELEPHONE_NUMBER", "tel [+27 21 123 4567]"),
    Case::Valid("ZA_TELEPHONE_NUMBER", "tel. sharecall [0861 123 456]"),
    Case::Invalid("ZA_TELEPHONE_NUMBER", "tel 082 123 4567"),
    Case::Invalid("ZA_TELEPHONE_NUMBER", "tel 011 123 456"),
    Case::LookAlike("ZA_TELEPHONE_NUMBER", "invoice 0111234567 due"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_number_checks() {
        assert!(za_id_number("8001015009087"));
        assert!(za_id_number("800101 5009 087"));
        assert!(!za_id_number("8001015009088"), "Luhn");
        assert!(!za_id_number("8013015009084"), "month 13");
        assert!(!za_id_number("8001015003087"), "citizenship 3");
        assert!(!za_traffic_register_number("8001015009087"));
        assert!(za_traffic_register_number("1012345678901"));
    }

    #[test]
    fn tax_numbers() {
        assert!(za_income_tax_number("0001339050"));
        assert!(za_income_tax_number("0843/089/84/8"));
        assert!(!za_income_tax_number("2449/494/16/0"), "Luhn");
        assert!(za_vat_number("4220119988"));
        assert!(!za_vat_number("4220119989"));
        assert!(
            !za_income_tax_number("0612345678"),
            "a French mobile number"
        );
    }

    #[test]
    fn other_shapes() {
        assert!(za_company_registration("2019/123456/07"));
        assert!(za_company_registration("NR1994/012345"));
        assert!(!za_company_registration("1799/123456/07"));
        assert!(za_driver_license("1025000123CC"));
        assert!(!za_driver_license("1025000123"));
        assert!(za_license_plate("CA 12 AB WP"));
        assert!(!za_license_plate("DK 28 LF"));
    }

    #[test]
    fn phone_kinds() {
        assert!(za_mobile_number("082 123 4567"));
        assert!(za_mobile_number("+27 (0)82 123 4567"));
        assert!(za_telephone_number("011 123 4567"));
        assert!(za_telephone_number("0861 123 456"));
        assert!(!za_mobile_number("011 123 4567"));
        assert!(!za_telephone_number("+33 1 23 45 67 89"));
        assert!(!za_mobile_number("0612345678"), "a French number too");
        assert!(za_mobile_number("061 234 5678"));
        assert!(za_mobile_number("0027821234567"));
    }
}
