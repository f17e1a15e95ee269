//! Recognisers for Germany (Presidio's `country_specific/germany`).

use super::{Case, Recognizer};
use crate::pii::checksum::{digits, is_date};

/// Words right before a number that say it is an order, invoice or product
/// number rather than a personal one.
const NOT_AFTER: &[&str] = &[
    "bestellung",
    "bestellnummer",
    "auftrag",
    "auftragsnummer",
    "rechnung",
    "rechnungsnummer",
    "artikel",
    "artikelnummer",
    "kundennummer",
    "order",
    "invoice",
    "ref",
    "typ",
    "modell",
    "model",
    "serie",
];

const HEALTH_CONTEXT: &[&str] = &[
    "krankenversicherungsnummer",
    "krankenversichertennummer",
    "versichertennummer",
    "kvnr",
    "krankenkasse",
    "krankenversicherung",
    "gesundheitskarte",
    "egk",
    "elektronische gesundheitskarte",
    "gkv",
    "gesetzliche krankenversicherung",
    "versichertenausweis",
    "versichertenkarte",
    "aok",
    "tk ",
    "barmer",
    "dak",
];

/// Context shared by the identity card and the passport: their numbers
/// have the same shape, only the words around tell them apart.
const ID_CARD_CONTEXT: &[&str] = &[
    "personalausweis",
    "bundespersonalausweis",
    "ausweis",
    "ausweisnummer",
    "ausweisdokument",
    "dokumentennummer",
    "seriennummer",
    "npa",
    "identity card",
    "id card",
    "national id",
];
const PASSPORT_CONTEXT: &[&str] = &[
    "reisepass",
    "pass ",
    "pass:",
    "pass-nr",
    "passnummer",
    "passport",
    "dokumentennummer",
    "mrz",
    "deutsch",
    "german",
];

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("DE_TAX_ID", r"(?-u:\b)[1-9]\d ?\d{3} ?\d{3} ?\d{3}(?-u:\b)")
            .validate(de_tax_id)
            .score(0.5)
            .context(&[
                "steuer",
                "steuerliche",
                "identifikationsnummer",
                "idnr",
                "steuer-id",
                "tin",
                "tax id",
                "bzst",
            ]),
        Recognizer::new("DE_TAX_NUMBER", r"(?-u:\b)[1-9]\d{12}(?-u:\b)")
            .validate(de_tax_number_elster)
            .score(0.2)
            .context(TAX_NUMBER_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new(
            "DE_TAX_NUMBER",
            r"(?-u:\b)(?:\d{2,3}/\d{3,4}/\d{4,5}|\d{5}/\d{5})(?-u:\b)",
        )
        .validate(de_tax_number_slashed)
        .score(0.2)
        .context(TAX_NUMBER_CONTEXT)
        .not_after(NOT_AFTER),
        // Separated forms only with a capital "DE": "de 123 456 789" is
        // French or Spanish for "of 123 456 789".
        Recognizer::new(
            "DE_VAT_ID",
            r"(?-u:\b)(?:DE[ .\-]?\d{3}[ .\-]?\d{3}[ .\-]?\d{3}|[Dd][Ee]\d{9})(?-u:\b)",
        )
        .validate(de_vat_id)
        .score(0.8)
        .context(&[
            "umsatzsteuer",
            "ust-id",
            "ust-idnr",
            "ustid",
            "ust.-id",
            "mehrwertsteuer",
            "vat",
            "steueridentifikation",
            "bzst",
            "bundeszentralamt für steuern",
            "finanzamt",
            "invoice",
            "rechnung",
        ]),
        Recognizer::new(
            "DE_SOCIAL_SECURITY",
            r"(?-u:\b)\d{2} ?\d{6} ?[A-Za-z] ?\d{3}(?-u:\b)",
        )
        .validate(de_social_security)
        .score(0.8)
        .context(&[
            "rentenversicherungsnummer",
            "sozialversicherungsnummer",
            "versicherungsnummer",
            "rvnr",
            "svnr",
            "sv-nummer",
            "rentenversicherung",
            "deutsche rentenversicherung",
            "drv",
            "sozialversicherung",
            "sozialversicherungsausweis",
            "rentenausweis",
        ])
        .not_after(NOT_AFTER),
        Recognizer::new("DE_HEALTH_INSURANCE", r"(?-u:\b)[A-Z]\d{9}(?-u:\b)")
            .validate(de_health_insurance)
            .score(0.5)
            .context(HEALTH_CONTEXT)
            .not_after(NOT_AFTER),
        Recognizer::new("DE_LANR", r"(?-u:\b)\d{9}(?-u:\b)")
            .validate(de_lanr)
            .score(0.2)
            .context(&[
                "arztnummer",
                "lanr",
                "lebenslange arztnummer",
                "arzt-nr",
                "arzt nr",
                "arzt-nummer",
                "vertragsarzt",
                "kassenarzt",
                "niedergelassener arzt",
                "kbv",
                "kassenärztliche vereinigung",
                "rezept",
                "verschreibung",
                "behandelnder arzt",
                "hausarzt",
                "facharzt",
            ])
            .not_after(NOT_AFTER),
        Recognizer::new("DE_BSNR", r"(?-u:\b)\d{9}(?-u:\b)")
            .validate(de_bsnr)
            .score(0.1)
            .context(&[
                "betriebsstättennummer",
                "betriebsstätten-nummer",
                "bsnr",
                "betriebsstätte",
                "praxisnummer",
                "arztpraxis",
                "praxis",
                "kassenärztliche vereinigung",
                "kv-nummer",
                "kv nummer",
                "nebenbetriebsstätte",
                "hauptbetriebsstätte",
                "vertragsarztpraxis",
                "behandlungsort",
            ])
            .not_after(NOT_AFTER),
        Recognizer::new(
            "DE_ID_CARD",
            r"(?-u:\b)[CFGHJKLMNPRTVWXYZ][0-9CFGHJKLMNPRTVWXYZ]{8}(?-u:\b)",
        )
        .validate(de_document_number)
        .score(0.1)
        .context(ID_CARD_CONTEXT)
        .not_after(NOT_AFTER),
        Recognizer::new(
            "DE_PASSPORT",
            r"(?-u:\b)[CFGHJKLMNPRTVWXYZ][0-9CFGHJKLMNPRTVWXYZ]{8}(?-u:\b)",
        )
        .validate(de_document_number)
        .score(0.1)
        .context(PASSPORT_CONTEXT)
        .not_after(NOT_AFTER),
        Recognizer::new("DE_FUEHRERSCHEIN", r"(?-u:\b)[A-Z]{2}\d{8}[A-Z0-9](?-u:\b)")
            .score(0.1)
            .context(&[
                "führerschein",
                "fuehrerschein",
                "fahrerlaubnis",
                "kraftfahrt-bundesamt",
                "kba",
                "driving licence",
                "driving license",
                "driver's license",
                "licence number",
                "license number",
                "dokument nr",
                "dokument-nr",
                "feld 5",
            ])
            .not_after(NOT_AFTER),
        Recognizer::new("DE_HANDELSREGISTER", r"(?-u:\b)HR[AB][ \x{a0}]?\d{1,6}(?-u:\b)")
            .validate(de_handelsregister)
            .score(0.5)
            .context(&[
                "handelsregister",
                "amtsgericht",
                "registergericht",
                "registerauszug",
                "hr-nummer",
                "firma",
                "gesellschaft",
                "gmbh",
                "ohg",
                "einzelkauf",
            ])
            .not_after(NOT_AFTER),
        // A district code starting with an umlaut cannot use an ASCII word
        // boundary; the analyzer still rejects letters glued before it.
        Recognizer::new(
            "DE_KFZ",
            r"(?:(?-u:\b)[A-Z]|[ÄÖÜ])[A-ZÄÖÜ]{0,2}(?: [A-Z]{1,2} |-[A-Z]{1,2}[ \-])[1-9]\d{0,3}[EH]?(?-u:\b)",
        )
        .validate(de_kfz)
        .score(0.1)
        .context(&[
            "kennzeichen",
            "kfz",
            "kraftfahrzeug",
            "nummernschild",
            "fahrzeug",
            "pkw",
            "lkw",
            "zulassung",
            "zulassungsbescheinigung",
            "license plate",
            "licence plate",
        ]),
        // A postcode is never followed by more digits: "07071 123456" is
        // a phone number (Tübingen's area code), not a postcode.
        Recognizer::new("DE_PLZ", r"(?-u:\b)\d{5}(?-u:\b)")
            .validate(de_plz)
            .score(0.05)
            .not_before_digits()
            .context(&[
                "plz",
                "postleitzahl",
                "postanschrift",
                "anschrift",
                "adresse",
                "wohnort",
                "wohnanschrift",
                "lieferadresse",
                "rechnungsadresse",
                "straße",
                "strasse",
                "str.",
                "hausnummer",
                "postfach",
            ]),
    ]
}

const TAX_NUMBER_CONTEXT: &[&str] = &[
    "steuernummer",
    "steuer-nr",
    "steuer nr",
    "st.-nr",
    "st-nr",
    "stnr",
    "finanzamt",
    "umsatzsteuer",
    "einkommensteuer",
    "körperschaftsteuer",
    "gewerbesteuer",
    "steuerbescheid",
    "steuerveranlagung",
];

/// The value of an ASCII letter in the social and health insurance numbers
/// (A = 1 … Z = 26).
fn letter_value(c: u8) -> Option<u32> {
    c.is_ascii_uppercase().then(|| u32::from(c - b'A') + 1)
}

/// Sum of the digit sums ("Quersumme") of the products of `d` by `w`.
fn cross_sum(d: &[u32], w: &[u32]) -> u32 {
    d.iter()
        .zip(w)
        .map(|(x, y)| {
            let p = x * y;
            p / 10 + p % 10
        })
        .sum()
}

/// The candidate without separators, upper case.
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '\u{a0}'))
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Steuerliche Identifikationsnummer: 11 digits, no leading zero,
/// exactly one digit repeated (twice, or three times but not three in a
/// row) in the first ten, and an ISO 7064 MOD 11,10 check digit.
fn de_tax_id(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || repeated[0] > 3 {
        return false;
    }
    if repeated[0] == 3 && d[..10].windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    mod_11_10(&d[..10]) == d[10]
}

/// The ISO 7064 MOD 11,10 check digit of `d`.
fn mod_11_10(d: &[u32]) -> u32 {
    let mut product = 10;
    for &x in d {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    match 11 - product {
        10 => 0,
        c => c,
    }
}

/// Steuernummer in the nationwide 13-digit ELSTER form: a Finanzamt number
/// whose first two digits name a Land (Saarland 10, Berlin 11, 21–28 the
/// north and west, 30–32 and 40–41 the east, 5x NRW, 9x Bayern), then 0,
/// then the district number, personal number and check digit.
fn de_tax_number_elster(s: &str) -> bool {
    const LAND: &[u32] = &[
        10, 11, 21, 22, 23, 24, 26, 27, 28, 30, 31, 32, 40, 41, 51, 52, 53, 54, 55, 56, 91, 92, 93,
    ];
    let d = digits(s);
    d.len() == 13
        && d.get(4) == Some(&0)
        && d.get(..2)
            .is_some_and(|p| LAND.contains(&(p[0] * 10 + p[1])))
}

/// Steuernummer as the Länder print it (e.g. 181/815/08155 in Bayern,
/// 133/8150/8159 in NRW, 21/815/08150 in Berlin, 93815/08152 in
/// Baden-Württemberg): 10 or 11 digits in all.
fn de_tax_number_slashed(s: &str) -> bool {
    let n = digits(s).len();
    (10..=11).contains(&n) && !digits(s).iter().all(|&x| x == 0)
}

/// Umsatzsteuer-Identifikationsnummer: `DE`, 9 digits not starting with 0,
/// the last an ISO 7064 MOD 11,10 check digit over the first eight (the
/// rule python-stdnum and VIES-side validators use).
fn de_vat_id(s: &str) -> bool {
    let c = compact(s);
    let Some(rest) = c.strip_prefix("DE") else {
        return false;
    };
    let d = digits(rest);
    d.len() == 9
        && rest.len() == 9
        && d.first().is_some_and(|&x| x != 0)
        && mod_11_10(&d[..8]) == d[8]
}

/// Rentenversicherungsnummer: area number, birth date `DDMMYY` (day + 50
/// for a second holder of the same date), initial of the birth name, serial
/// and a check digit: the cross sums of the digits (the letter as its two-
/// digit position) weighted 2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1, modulo 10
/// (§ 2 VKVV).
fn de_social_security(s: &str) -> bool {
    let c = compact(s);
    let b = c.as_bytes();
    if b.len() != 12 || !c.is_ascii() {
        return false;
    }
    let num = |r: std::ops::Range<usize>| c.get(r).and_then(|x| x.parse::<u32>().ok());
    let (Some(area), Some(day), Some(month), Some(yy), Some(letter)) = (
        num(0..2),
        num(2..4),
        num(4..6),
        num(6..8),
        letter_value(b[8]),
    ) else {
        return false;
    };
    let day = if day > 50 { day - 50 } else { day };
    // The century is not in the number: 29 February passes in any year
    // divisible by four (1900 is not leap, but 2000 is).
    if area == 0 || !is_date(2000 + yy, month, day) {
        return false;
    }
    let d: Vec<u32> = c
        .get(..8)
        .map(digits)
        .unwrap_or_default()
        .into_iter()
        .chain([letter / 10, letter % 10])
        .chain(c.get(9..11).map(digits).unwrap_or_default())
        .collect();
    let Some(check) = b[11].is_ascii_digit().then(|| u32::from(b[11] - b'0')) else {
        return false;
    };
    d.len() == 12 && cross_sum(&d, &[2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1]) % 10 == check
}

/// Krankenversichertennummer (eGK): a letter and 9 digits; the letter as its
/// two-digit position and the next 8 digits, weighted 1, 2, 1, 2, …, cross
/// summed, give the last digit modulo 10 (§ 290 SGB V, Anlage 1).
fn de_health_insurance(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(letter) = b.first().and_then(|&c| letter_value(c)) else {
        return false;
    };
    let d = digits(s);
    if b.len() != 10 || d.len() != 9 {
        return false;
    }
    let body: Vec<u32> = [letter / 10, letter % 10]
        .into_iter()
        .chain(d[..8].iter().copied())
        .collect();
    cross_sum(&body, &[1, 2, 1, 2, 1, 2, 1, 2, 1, 2]) % 10 == d[8]
}

/// Lebenslange Arztnummer: a 6-digit physician number, its check digit (the
/// complement to 10 of the digits weighted 4, 9, 4, 9, 4, 9) and a 2-digit
/// specialty group (KBV Arztnummern-Richtlinie). The placeholder 999999…
/// is not a physician.
fn de_lanr(s: &str) -> bool {
    let d = digits(s);
    let (Some(body), Some(&check)) = (d.get(..6), d.get(6)) else {
        return false;
    };
    let sum: u32 = body
        .iter()
        .zip([4, 9, 4, 9, 4, 9])
        .map(|(x, w)| x * w)
        .sum();
    d.len() == 9
        && !body.iter().all(|&x| x == 0)
        && !body.iter().all(|&x| x == 9)
        && (10 - sum % 10) % 10 == check
}

/// Betriebsstättennummer: 9 digits (regional KV code and a serial); there is
/// no published check digit, so anything but all zeros.
fn de_bsnr(s: &str) -> bool {
    let d = digits(s);
    d.len() == 9 && d.iter().any(|&x| x != 0)
}

/// Identity card and passport number: 9 characters from the ICAO set
/// without the letters that look like digits (no A, B, D, E, I, O, Q, S,
/// U), starting with a letter, with at least one digit. The MRZ carries a
/// 7-3-1 check digit after the number, not in it, so there is no check here.
fn de_document_number(s: &str) -> bool {
    s.len() == 9 && s.bytes().any(|b| b.is_ascii_digit())
}

/// Handelsregisternummer: `HRA` or `HRB` and a number of up to six digits,
/// not zero.
fn de_handelsregister(s: &str) -> bool {
    digits(s).iter().any(|&x| x != 0)
}

/// Kfz-Kennzeichen: district code (1–3 letters), 1–2 letters and a number
/// without a leading zero, with at most 8 characters in all (§ 8 FZV), an
/// `E` (electric) or `H` (historic) suffix not counted.
fn de_kfz(s: &str) -> bool {
    let body = s.strip_suffix(['E', 'H']).unwrap_or(s);
    let n = body.chars().filter(|c| c.is_alphanumeric()).count();
    body.ends_with(|c: char| c.is_ascii_digit()) && n <= 8
}

/// Postleitzahl: 5 digits from 01001 to 99998.
fn de_plz(s: &str) -> bool {
    s.parse::<u32>().is_ok_and(|n| (1001..=99998).contains(&n))
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("DE_TAX_ID", "Steuer-ID [86095742719]"),
    Case::Invalid("DE_TAX_ID", "Steuer-ID 86095742718"),
    Case::Invalid("DE_TAX_ID", "Steuer-ID 01234567890"),
    Case::LookAlike("DE_TAX_ID", "Bestellung 11111111116"),
    // Steuernummer
    Case::Valid("DE_TAX_NUMBER", "Steuernummer: [181/815/08155]"),
    Case::Valid(
        "DE_TAX_NUMBER",
        "Finanzamt Köln-Mitte, St.-Nr. [133/8150/8159]",
    ),
    Case::Valid("DE_TAX_NUMBER", "Steuernummer [9181081508155]"),
    Case::Valid("DE_TAX_NUMBER", "Steuernummer [93815/08152]"),
    Case::Invalid("DE_TAX_NUMBER", "Steuernummer 9181181508155"),
    Case::Invalid("DE_TAX_NUMBER", "Steuernummer 8181081508155"),
    Case::Invalid("DE_TAX_NUMBER", "Steuernummer 18/81/0815"),
    Case::LookAlike("DE_TAX_NUMBER", "Lieferschein 181/815/08155"),
    Case::LookAlike("DE_TAX_NUMBER", "Bestellung 9181081508155"),
    // USt-IdNr.
    Case::Valid("DE_VAT_ID", "USt-IdNr.: [DE136695976]"),
    Case::Valid("DE_VAT_ID", "VAT [DE 812 345 673]"),
    Case::Valid("DE_VAT_ID", "[de271809454]"),
    Case::Invalid("DE_VAT_ID", "USt-IdNr.: DE136695977"),
    Case::Invalid("DE_VAT_ID", "USt-IdNr.: DE036695976"),
    Case::LookAlike("DE_VAT_ID", "un montant de 812 345 673 euros"),
    Case::LookAlike("DE_VAT_ID", "Artikel DX136695976"),
    // Rentenversicherungsnummer
    Case::Valid("DE_SOCIAL_SECURITY", "Versicherungsnummer [15070649C103]"),
    Case::Valid("DE_SOCIAL_SECURITY", "SV-Nummer: [65 170839 J 003]"),
    Case::Valid("DE_SOCIAL_SECURITY", "RVNR [53270292K126]"),
    Case::Invalid("DE_SOCIAL_SECURITY", "Versicherungsnummer 15070649C104"),
    Case::Invalid("DE_SOCIAL_SECURITY", "Versicherungsnummer 12300285M544"),
    Case::Invalid("DE_SOCIAL_SECURITY", "Versicherungsnummer 65290201J006"),
    Case::LookAlike("DE_SOCIAL_SECURITY", "Artikelnummer 15070649C103"),
    Case::LookAlike("DE_SOCIAL_SECURITY", "Artikel 15070649C10 3 Stück"),
    // Krankenversichertennummer
    Case::Valid("DE_HEALTH_INSURANCE", "Versichertennummer [A000500015]"),
    Case::Valid("DE_HEALTH_INSURANCE", "KVNR: [M730145920] (AOK)"),
    Case::Invalid("DE_HEALTH_INSURANCE", "Versichertennummer A000500016"),
    Case::Invalid("DE_HEALTH_INSURANCE", "Versichertennummer a000500015"),
    Case::LookAlike("DE_HEALTH_INSURANCE", "Artikelnummer X123456788"),
    // LANR
    Case::Valid("DE_LANR", "LANR [123456601]"),
    Case::Valid("DE_LANR", "Arztnummer: [765432234]"),
    Case::Invalid("DE_LANR", "LANR 123456701"),
    Case::Invalid("DE_LANR", "LANR 999999901"),
    Case::LookAlike("DE_LANR", "Charge 123456601 geliefert"),
    // BSNR
    Case::Valid("DE_BSNR", "BSNR [021234568]"),
    Case::Valid("DE_BSNR", "Betriebsstättennummer: [381789045]"),
    Case::Invalid("DE_BSNR", "BSNR 000000000"),
    Case::Invalid("DE_BSNR", "BSNR 02123456"),
    Case::LookAlike("DE_BSNR", "Charge 021234568 geliefert"),
    // Personalausweis and Reisepass (the specimens' numbers)
    Case::Valid("DE_ID_CARD", "Personalausweis [L01X00T47]"),
    Case::Valid("DE_ID_CARD", "Ausweisnummer: [T22000129]"),
    Case::Invalid("DE_ID_CARD", "Personalausweis L01X00TA7"),
    Case::Invalid("DE_ID_CARD", "Personalausweis 101X00T47"),
    Case::LookAlike("DE_ID_CARD", "Seite L01X00T47 im Katalog"),
    Case::Valid("DE_PASSPORT", "Reisepass [C01X00T47]"),
    Case::Valid("DE_PASSPORT", "passport number [CFGHJKL12]"),
    Case::Invalid("DE_PASSPORT", "Reisepass C01X00T4"),
    Case::Invalid("DE_PASSPORT", "Reisepass CFGHJKLMN"),
    Case::LookAlike("DE_PASSPORT", "Seite C01X00T47 im Katalog"),
    // Führerschein
    Case::Valid("DE_FUEHRERSCHEIN", "Führerscheinnummer [MU34567812C]"),
    Case::Valid("DE_FUEHRERSCHEIN", "Fahrerlaubnis: [HH98765432X]"),
    Case::Invalid("DE_FUEHRERSCHEIN", "Führerscheinnummer MU3456781C"),
    Case::Invalid("DE_FUEHRERSCHEIN", "Führerscheinnummer M1345678123"),
    Case::LookAlike("DE_FUEHRERSCHEIN", "Seriennummer MU34567812C"),
    // Handelsregister
    Case::Valid("DE_HANDELSREGISTER", "Amtsgericht München [HRB 123456]"),
    Case::Valid("DE_HANDELSREGISTER", "eingetragen unter [HRA12345]."),
    Case::Invalid("DE_HANDELSREGISTER", "Amtsgericht München HRC 123456"),
    Case::Invalid("DE_HANDELSREGISTER", "Amtsgericht München HRB 1234567"),
    Case::Invalid("DE_HANDELSREGISTER", "Amtsgericht München HRB 000"),
    Case::LookAlike("DE_HANDELSREGISTER", "Ersatzteil Typ HRB 600 lieferbar"),
    // Kfz-Kennzeichen
    Case::Valid("DE_KFZ", "Kennzeichen [B AB 1234]"),
    Case::Valid("DE_KFZ", "Kfz-Kennzeichen: [M-XY 99E]"),
    Case::Valid("DE_KFZ", "das Fahrzeug [ÖHR-K-12H] parkte"),
    Case::Invalid("DE_KFZ", "Kennzeichen B AB 0123"),
    Case::Invalid("DE_KFZ", "Kennzeichen MIL EK 1234"),
    Case::LookAlike("DE_KFZ", "Raum B AB 12 im Erdgeschoss"),
    // Postleitzahl
    Case::Valid("DE_PLZ", "PLZ [10115] Berlin"),
    Case::Valid("DE_PLZ", "Anschrift: Hauptstr. 5, [80331] München"),
    Case::Invalid("DE_PLZ", "PLZ 00000"),
    Case::Invalid("DE_PLZ", "PLZ 99999"),
    Case::Invalid("DE_PLZ", "PLZ 01000"),
    Case::Valid("DE_PLZ", "Postleitzahl: [01067]"),
    Case::Valid("DE_PLZ", "PLZ [10115], Berlin"),
    Case::LookAlike("DE_PLZ", "Bestellung 10115 versandt"),
    Case::LookAlike("DE_PLZ", "Adresse siehe oben, Tel. 07071 123456"),
    Case::Invalid("DE_PLZ", "PLZ 10115Berlin"),
    // The phone number is not hidden by a postcode candidate in it.
    Case::Valid("PHONE_NUMBER", "Adresse siehe oben, Tel. [07071 123456]"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn social_security_and_health_insurance() {
        assert!(de_social_security("15070649C103"));
        assert!(de_social_security("65 170839 J 003"));
        assert!(!de_social_security("15070649C104"));
        assert!(!de_social_security("15071349C103"), "month 13");
        assert!(!de_social_security("15070649é03"));
        assert!(!de_social_security(""));
        assert!(de_health_insurance("A000500015"));
        assert!(!de_health_insurance("A000500016"));
        assert!(!de_health_insurance("é00050001"));
    }

    #[test]
    fn tax_and_vat_numbers() {
        assert!(de_tax_id("86095742719"));
        assert!(de_vat_id("DE136695976"));
        assert!(de_vat_id("DE-136-695-976"));
        assert!(!de_vat_id("DE136695977"));
        assert!(!de_vat_id("DE"));
        assert!(de_tax_number_elster("9181081508155"));
        assert!(!de_tax_number_elster("9181181508155"));
        assert!(de_tax_number_slashed("21/815/08150"));
        assert!(!de_tax_number_slashed("21/815/0815"));
    }

    #[test]
    fn physician_numbers_and_plates() {
        assert!(de_lanr("123456601"));
        assert!(!de_lanr("123456701"));
        assert!(!de_lanr("000000001"));
        assert!(de_bsnr("021234568"));
        assert!(de_kfz("B AB 1234"));
        assert!(de_kfz("KA EF 1H"));
        assert!(!de_kfz("MIL EK 1234"));
        assert!(!de_kfz("B AB"));
        assert!(de_plz("01001"));
        assert!(!de_plz("99999"));
    }

    #[test]
    fn validators_take_any_text() {
        let validators: &[fn(&str) -> bool] = &[
            de_tax_id,
            de_tax_number_elster,
            de_tax_number_slashed,
            de_vat_id,
            de_social_security,
            de_health_insurance,
            de_lanr,
            de_bsnr,
            de_document_number,
            de_handelsregister,
            de_kfz,
            de_plz,
        ];
        for s in [
            "",
            "0",
            "é",
            "DE",
            "DEé12345678",
            "ÄÖÜ-K-1H",
            "12 345678 é 123",
            "Ä000500015",
            "99999999999999999999",
            "\u{a0}",
            "E",
            "H",
        ] {
            for v in validators {
                let _ = v(s);
            }
        }
    }
}
