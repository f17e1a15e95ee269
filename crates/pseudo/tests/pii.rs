//! Every recogniser: positive and negative cases (valid and invalid check
//! digits, separators, boundaries, non-ASCII text around matches), offsets in
//! characters, overlap resolution, context, and redaction.

use pseudo::pii::{Analyzer, Finding, RedactionPlan, redact};
use pseudo::{Keys, Transform};

fn analyzer() -> &'static Analyzer {
    static A: std::sync::OnceLock<Analyzer> = std::sync::OnceLock::new();
    A.get_or_init(Analyzer::new)
}

/// (entity, matched text) of every finding, the text cut by char offsets.
fn found(text: &str) -> Vec<(&'static str, String)> {
    analyzer()
        .analyze(text)
        .into_iter()
        .map(|f: Finding| {
            (
                f.entity_type,
                text.chars().skip(f.start).take(f.end - f.start).collect(),
            )
        })
        .collect()
}

fn assert_finds(entity: &str, text: &str, value: &str) {
    let f = found(text);
    assert!(
        f.iter().any(|(e, v)| *e == entity && v == value),
        "{entity} {value:?} not found in {text:?}: {f:?}"
    );
}

fn assert_not(entity: &str, text: &str) {
    let f = found(text);
    assert!(
        !f.iter().any(|(e, _)| *e == entity),
        "unexpected {entity} in {text:?}: {f:?}"
    );
}

#[test]
fn email_address() {
    assert_finds(
        "EMAIL_ADDRESS",
        "Écrivez à jean.dupont@exemple.fr dès que possible",
        "jean.dupont@exemple.fr",
    );
    assert_finds(
        "EMAIL_ADDRESS",
        "Åsa Ødegård <asa+test@sub.example.co.uk>.",
        "asa+test@sub.example.co.uk",
    );
    assert_not("EMAIL_ADDRESS", "user@localhost and a@b.c1 and @handle");
}

#[test]
fn phone_number_in_every_required_region() {
    for (text, value) in [
        ("appelez le +33 6 12 34 56 78 ce soir", "+33 6 12 34 56 78"),
        ("tél. 06 12 34 56 78", "06 12 34 56 78"),
        ("ring 22 33 44 55 i Oslo", "22 33 44 55"),
        ("+47 412 34 567", "+47 412 34 567"),
        ("Telefon 030 12345678", "030 12345678"),
        ("+49 30 12345678", "+49 30 12345678"),
        ("call 020 7946 0958", "020 7946 0958"),
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("Dublin (01) 234 5678", "(01) 234 5678"),
        ("+353 1 234 5678", "+353 1 234 5678"),
        ("cell (415) 555-2671", "(415) 555-2671"),
        ("+1 415-555-2671", "+1 415-555-2671"),
        ("电话 010-12345678", "010-12345678"),
        ("+86 138 0013 8000", "+86 138 0013 8000"),
    ] {
        assert_finds("PHONE_NUMBER", text, value);
    }
    assert_not("PHONE_NUMBER", "order 12345 shipped");
    assert_not("PHONE_NUMBER", "+33 1 23");
}

#[test]
fn credit_card() {
    assert_finds(
        "CREDIT_CARD",
        "carte 4111 1111 1111 1111 expirée",
        "4111 1111 1111 1111",
    );
    assert_finds("CREDIT_CARD", "amex 378282246310005.", "378282246310005");
    assert_finds(
        "CREDIT_CARD",
        "mc 5500-0000-0000-0004",
        "5500-0000-0000-0004",
    );
    assert_not("CREDIT_CARD", "carte 4111 1111 1111 1112");
    assert_not("CREDIT_CARD", "id 41111111111111110000");
    assert_not("CREDIT_CARD", "ref 9111111111111111");
}

#[test]
fn iban_code() {
    assert_finds(
        "IBAN_CODE",
        "IBAN FR76 3000 6000 0112 3456 7890 189, merci",
        "FR76 3000 6000 0112 3456 7890 189",
    );
    assert_finds("IBAN_CODE", "konto NO9386011117947", "NO9386011117947");
    assert_finds(
        "IBAN_CODE",
        "GB82WEST12345698765432",
        "GB82WEST12345698765432",
    );
    assert_not("IBAN_CODE", "GB82WEST12345698765433");
    assert_not("IBAN_CODE", "NO9386011117948");
}

#[test]
fn ip_and_mac_addresses() {
    assert_finds("IP_ADDRESS", "from 192.168.1.20:", "192.168.1.20");
    assert_finds("IP_ADDRESS", "v6 2001:db8::1 ok", "2001:db8::1");
    assert_not("IP_ADDRESS", "version 1.2.3.4.5 and 999.1.1.1 at 10:30:00");
    assert_finds(
        "MAC_ADDRESS",
        "bssid 00:1A:2B:3C:4D:5E",
        "00:1A:2B:3C:4D:5E",
    );
    assert_finds("MAC_ADDRESS", "mac 00-1a-2b-3c-4d-5e", "00-1a-2b-3c-4d-5e");
    assert_finds("MAC_ADDRESS", "cisco 001a.2b3c.4d5e", "001a.2b3c.4d5e");
    assert_not("MAC_ADDRESS", "00:1A:2B:3C:4D");
}

#[test]
fn url() {
    assert_finds(
        "URL",
        "voir https://exemple.fr/profil?id=42.",
        "https://exemple.fr/profil?id=42",
    );
    assert_finds("URL", "(www.example.com)", "www.example.com");
    assert_not("URL", "no url here, just example dot com");
}

#[test]
fn us_ssn() {
    assert_finds("US_SSN", "SSN: 078-05-1120", "078-05-1120");
    assert_not("US_SSN", "SSN: 666-05-1120");
    assert_not("US_SSN", "SSN: 078-05 1120");
    assert_not("US_SSN", "SSN: 111-11-1111");
}

#[test]
fn uk_nino() {
    assert_finds("UK_NINO", "NI number AB 12 34 56 C", "AB 12 34 56 C");
    assert_finds("UK_NINO", "nino: AB123456C", "AB123456C");
    assert_not("UK_NINO", "GB123456C");
    assert_not("UK_NINO", "AB123456E");
}

#[test]
fn fr_nir() {
    assert_finds(
        "FR_NIR",
        "n° de sécurité sociale : 1 85 05 78 006 084 91",
        "1 85 05 78 006 084 91",
    );
    assert_finds("FR_NIR", "NIR 269052A12345688", "269052A12345688");
    assert_not("FR_NIR", "1 85 05 78 006 084 92");
}

#[test]
fn no_fnr() {
    assert_finds("NO_FNR", "fødselsnummer 15076500565.", "15076500565");
    assert_not("NO_FNR", "fødselsnummer 15076500566");
    assert_not("NO_FNR", "32076500565");
}

#[test]
fn es_nif_and_nie() {
    assert_finds("ES_NIF", "DNI 12345678Z", "12345678Z");
    assert_finds("ES_NIF", "nif: 12345678-Z", "12345678-Z");
    assert_not("ES_NIF", "DNI 12345678A");
    assert_finds("ES_NIE", "NIE X1234567L", "X1234567L");
    assert_not("ES_NIE", "NIE X1234567T");
}

#[test]
fn it_fiscal_code() {
    assert_finds(
        "IT_FISCAL_CODE",
        "codice fiscale: RSSMRA85T10A562S",
        "RSSMRA85T10A562S",
    );
    assert_not("IT_FISCAL_CODE", "RSSMRA85T10A562T");
}

#[test]
fn de_tax_id() {
    assert_finds("DE_TAX_ID", "Steuer-ID 86095742719", "86095742719");
    assert_not("DE_TAX_ID", "Steuer-ID 86095742718");
    assert_not("DE_TAX_ID", "Steuer-ID 12345678901");
}

#[test]
fn crypto() {
    assert_finds(
        "CRYPTO",
        "send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT now",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    );
    assert_finds(
        "CRYPTO",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    );
    assert_not("CRYPTO", "1BoatSLRHtKNngkdXEeobR76b53LETtpyU");
}

#[test]
fn dates_of_birth_need_context() {
    assert_finds("DATE_TIME", "Marie, née le 14/06/1987 à Lyon", "14/06/1987");
    assert_finds("DATE_TIME", "date of birth: 1987-06-14", "1987-06-14");
    assert_finds("DATE_TIME", "geboren am 14. Juni 1987", "14. Juni 1987");
    assert_finds("DATE_TIME", "født 3 mars 1990", "3 mars 1990");
    assert_not("DATE_TIME", "livraison le 14/06/1987");
    assert_not("DATE_TIME", "born 32/13/1987");
}

/// Regression: birth words are looked for without lower-casing the text
/// first, so their accented capitals must still count.
#[test]
fn dates_of_birth_after_capitalised_accented_birth_words() {
    assert_finds("DATE_TIME", "MARIE, NÉE LE 14/06/1987 À LYON", "14/06/1987");
    assert_finds("DATE_TIME", "Født 3 mars 1990", "3 mars 1990");
    assert_finds("DATE_TIME", "FØDT 3 mars 1990", "3 mars 1990");
}

#[test]
fn gps_coordinates() {
    assert_finds(
        "GPS_COORDINATES",
        "position 48.8566, 2.3522 (Paris)",
        "48.8566, 2.3522",
    );
    assert_finds(
        "GPS_COORDINATES",
        "lat/lon -33.8688,151.2093",
        "-33.8688,151.2093",
    );
    assert_not("GPS_COORDINATES", "ratio 98.1234, 200.5678");
}

#[test]
fn offsets_count_characters_like_presidio() {
    let text = "Ça: žžž 🎉 jean@exemple.fr";
    let f = analyzer().analyze(text);
    assert_eq!(f.len(), 1);
    // 'Ç','a',':',' ','ž','ž','ž',' ','🎉',' ' = 10 characters before.
    assert_eq!((f[0].start, f[0].end), (10, 25));
    assert_eq!(&text[f[0].bytes.clone()], "jean@exemple.fr");
}

#[test]
fn context_raises_scores() {
    let plain = analyzer().analyze("ref 078-05-1120");
    let ctx = analyzer().analyze("SSN 078-05-1120");
    assert!(ctx[0].score > plain[0].score, "{ctx:?} vs {plain:?}");
}

#[test]
fn overlaps_resolve_to_the_best_finding() {
    // A URL containing an email-like part and an IP: one finding each span.
    let f = analyzer().analyze("mailto jean@exemple.fr via http://10.0.0.1/x");
    for w in f.windows(2) {
        assert!(w[0].end <= w[1].start, "overlap: {f:?}");
    }
    assert!(f.iter().any(|x| x.entity_type == "EMAIL_ADDRESS"));
}

#[test]
fn redaction_applies_the_plan_and_leaves_nothing_in_clear() {
    let keys = Keys::derive(1, &[3; 32]);
    let plan: RedactionPlan = serde_json::from_str(
        r#"{"default":{"op":"redact"},"entities":{"EMAIL_ADDRESS":{"op":"token","domain":"support"},"PHONE_NUMBER":{"op":"mask","last":2}}}"#,
    )
    .unwrap();
    plan.check().unwrap();
    let text = "Écrivez à jean@exemple.fr ou au +33 6 12 34 56 78 (IBAN FR76 3000 6000 0112 3456 7890 189).";
    let out = redact(text, &analyzer().analyze(text), &plan, &keys);
    assert_eq!(
        out,
        format!(
            "Écrivez à {} ou au ***************78 (IBAN <IBAN_CODE>).",
            keys.token.token("support", "jean@exemple.fr")
        )
    );
    let bad: RedactionPlan =
        serde_json::from_str(r#"{"entities":{"EMAIL":{"op":"drop"}}}"#).unwrap();
    assert!(bad.check().is_err());
    // A transform that cannot take the value falls back to the label.
    let fpe = RedactionPlan {
        default: Some(Box::new(Transform::Fpe {
            alphabet: None,
            tweak: String::new(),
        })),
        ..Default::default()
    };
    let out = redact(
        "mail a@exemple.fr",
        &analyzer().analyze("mail a@exemple.fr"),
        &fpe,
        &keys,
    );
    assert_eq!(out, "mail <EMAIL_ADDRESS>");
}

/// Regression: a failed greedy match ("78 4111 … 1111 192", bad Luhn) used to
/// consume the valid card inside it, and a phone candidate stretching into
/// the card hid the phone number.
#[test]
fn adjacent_numbers_do_not_hide_each_other() {
    let text = "+33 6 12 34 56 78 4111 1111 1111 1111 192.168.1.20";
    assert_finds("PHONE_NUMBER", text, "+33 6 12 34 56 78");
    assert_finds("CREDIT_CARD", text, "4111 1111 1111 1111");
    assert_finds("IP_ADDRESS", text, "192.168.1.20");
    assert_finds(
        "IBAN_CODE",
        "IBAN FR76 3000 6000 0112 3456 7890 189 1234 merci",
        "FR76 3000 6000 0112 3456 7890 189",
    );
}

/// Regression: "order 1234567890" is a valid US number for libphonenumber,
/// but the word before it says it is an order number.
#[test]
fn numbers_labelled_as_something_else_are_not_phone_numbers() {
    assert_not("PHONE_NUMBER", "order 4155552671 shipped");
    assert_finds(
        "PHONE_NUMBER",
        "call 415-555-2671 about order 12",
        "415-555-2671",
    );
    assert_not("IP_ADDRESS", "build 1.4.3.1 installed");
}
