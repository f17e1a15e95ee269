//! Recognisers for Spain (Presidio's `country_specific/spain`, plus what it lacks).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new("ES_NIF", r"(?i)(?-u:\b)\d{8}-?[A-Z](?-u:\b)")
            .validate(es_nif)
            .score(0.9)
            .context(&["nif", "dni", "documento"]),
        Recognizer::new("ES_NIE", r"(?i)(?-u:\b)[XYZ]-?\d{7}-?[A-Z](?-u:\b)")
            .validate(es_nie)
            .score(0.9)
            .context(&["nie", "extranjero"]),
        // Three letters and six digits; only a shape, so it needs a context word.
        Recognizer::new("ES_PASSPORT", r"(?i)(?-u:\b)[A-Z]{3}\d{6}(?-u:\b)")
            .score(0.1)
            .context(&[
                "pasaporte",
                "españ",
                "spanish",
                "spain",
                "passport",
                "número de pasaporte",
                "n.º de pasaporte",
            ]),
    ]
}

const NIF_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish NIF (DNI): 8 digits and the letter of their value mod 23.
fn es_nif(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    c.len() == 9
        && c[..8]
            .parse::<u32>()
            .is_ok_and(|n| NIF_LETTERS[(n % 23) as usize] == c.as_bytes()[8])
}

/// Spanish NIE: X, Y or Z (0, 1, 2), 7 digits and the NIF letter.
fn es_nie(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() != 9 {
        return false;
    }
    let lead = match c.as_bytes()[0] {
        b'X' => '0',
        b'Y' => '1',
        b'Z' => '2',
        _ => return false,
    };
    es_nif(&format!("{lead}{}", &c[1..]))
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("ES_NIF", "DNI [12345678Z]"),
    Case::Valid("ES_NIF", "mi NIF es [12345678-Z]."),
    Case::Invalid("ES_NIF", "DNI 12345678A"),
    Case::LookAlike("ES_NIF", "pedido 123456789 enviado"),
    Case::Valid("ES_NIE", "NIE [X1234567L]"),
    Case::Invalid("ES_NIE", "NIE X1234567T"),
    Case::LookAlike("ES_NIE", "modelo W1234567L"),
    Case::Valid("ES_PASSPORT", "pasaporte [PAA123456]"),
    Case::Valid("ES_PASSPORT", "número de pasaporte: [xdb654321]."),
    Case::Invalid("ES_PASSPORT", "pasaporte PA1234567"),
    Case::Invalid("ES_PASSPORT", "pasaporte PAA12345"),
    Case::LookAlike("ES_PASSPORT", "referencia del producto PAA123456"),
];
