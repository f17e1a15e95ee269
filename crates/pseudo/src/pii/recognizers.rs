//! The recognisers: one entry per entity, with its pattern, validation,
//! base score and context words.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use rlibphonenumber::Region;
use rlibphonenumber::phonenumber_matcher::FindNumberExt as _;

use super::{Candidate, boost, boundary_ok, checksum, preceded_by};

/// One regex-based recogniser.
#[derive(Debug)]
pub(super) struct Recognizer {
    pub(super) entity: &'static str,
    pub(super) pattern: &'static str,
    pub(super) validate: fn(&str) -> bool,
    pub(super) base_score: f64,
    pub(super) context: &'static [&'static str],
    /// Characters trimmed from the end of a match.
    pub(super) trim: &'static str,
    /// Words that, right before a match, say it is something else.
    pub(super) not_after: &'static [&'static str],
}

/// Every entity type the analyzer reports.
pub const ENTITIES: &[&str] = &[
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "URL",
    "US_SSN",
    "UK_NINO",
    "FR_NIR",
    "NO_FNR",
    "ES_NIF",
    "ES_NIE",
    "IT_FISCAL_CODE",
    "DE_TAX_ID",
    "CRYPTO",
    "DATE_TIME",
    "GPS_COORDINATES",
];

fn always(_: &str) -> bool {
    true
}

fn email(s: &str) -> bool {
    // The top-level domain is letters only, and no label is empty.
    s.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.starts_with('.')
            && !local.ends_with('.')
            && domain
                .split('.')
                .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
    })
}

fn ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

fn ipv6(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

fn gps(s: &str) -> bool {
    crate::generalise::parse_coordinates(s).is_ok()
}

pub(super) fn all() -> Vec<Recognizer> {
    vec![
        Recognizer {
            entity: "EMAIL_ADDRESS",
            pattern: r"[\p{L}\p{N}._%+\-]+@(?:[\p{L}\p{N}\-]+\.)+\p{L}{2,24}",
            validate: email,
            base_score: 1.0,
            context: &[],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "URL",
            pattern: r"(?i)(?:https?://|www\.)[^\s<>]+",
            validate: always,
            base_score: 0.6,
            context: &[],
            trim: ".,;:!?)]}'\"",
            not_after: &[],
        },
        Recognizer {
            entity: "IP_ADDRESS",
            pattern: r"(?-u:\b)(?:\d{1,3}\.){3}\d{1,3}(?-u:\b)",
            validate: ipv4,
            base_score: 0.6,
            context: &["ip", "address", "adresse", "ipv4", "server", "host"],
            trim: "",
            not_after: &["build", "version", "ver", "v", "release", "firmware", "oid"],
        },
        Recognizer {
            entity: "IP_ADDRESS",
            pattern: r"(?i)(?:[0-9a-f]{1,4}:){1,7}(?:(?::[0-9a-f]{1,4}){1,7}|[0-9a-f]{1,4}|:)",
            validate: ipv6,
            base_score: 0.6,
            context: &["ip", "address", "adresse", "ipv6", "server", "host"],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "MAC_ADDRESS",
            pattern: r"(?i)(?-u:\b)(?:[0-9a-f]{2}:){5}[0-9a-f]{2}(?-u:\b)|(?-u:\b)(?:[0-9a-f]{2}-){5}[0-9a-f]{2}(?-u:\b)|(?-u:\b)[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?-u:\b)",
            validate: always,
            base_score: 0.6,
            context: &["mac", "wifi", "wi-fi", "bssid", "device", "ethernet"],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "CREDIT_CARD",
            // Grouped 4-4-4-4(-3), Amex 4-6-5, or ungrouped.
            pattern: r"(?-u:\b)(?:\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{4}(?:[ \-]\d{3})?|\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{12,19})(?-u:\b)",
            validate: checksum::credit_card,
            base_score: 1.0,
            context: &[],
            trim: "",
            not_after: &[
                "order",
                "invoice",
                "tracking",
                "ref",
                "reference",
                "commande",
                "facture",
                "rechnung",
            ],
        },
        Recognizer {
            entity: "IBAN_CODE",
            pattern: r"(?-u:\b)[A-Z]{2}\d{2} ?(?:[A-Z0-9]{4} ?){2,7}[A-Z0-9]{1,4}(?-u:\b)",
            validate: checksum::iban,
            base_score: 1.0,
            context: &[],
            trim: " ",
            not_after: &[],
        },
        Recognizer {
            entity: "US_SSN",
            pattern: r"(?-u:\b)\d{3}[ \-]?\d{2}[ \-]?\d{4}(?-u:\b)",
            validate: checksum::us_ssn,
            base_score: 0.4,
            context: &["ssn", "social security", "social sec", "ssa"],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "UK_NINO",
            pattern: r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?-u:\b)",
            validate: checksum::uk_nino,
            base_score: 0.5,
            context: &["national insurance", "nino", "ni number", "nin"],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "FR_NIR",
            pattern: r"(?i)(?-u:\b)[1234578] ?\d{2} ?\d{2} ?(?:\d{2}|2a|2b) ?\d{3} ?\d{3} ?\d{2}(?-u:\b)",
            validate: checksum::fr_nir,
            base_score: 0.9,
            context: &[
                "sécurité sociale",
                "securite sociale",
                "nir",
                "insee",
                "sécu",
                "secu",
            ],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "NO_FNR",
            pattern: r"(?-u:\b)\d{6} ?\d{5}(?-u:\b)",
            validate: checksum::no_fnr,
            base_score: 0.7,
            context: &[
                "fødselsnummer",
                "fodselsnummer",
                "fnr",
                "personnummer",
                "d-nummer",
            ],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "ES_NIF",
            pattern: r"(?i)(?-u:\b)\d{8}-?[A-Z](?-u:\b)",
            validate: checksum::es_nif,
            base_score: 0.9,
            context: &["nif", "dni", "documento"],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "ES_NIE",
            pattern: r"(?i)(?-u:\b)[XYZ]-?\d{7}-?[A-Z](?-u:\b)",
            validate: checksum::es_nie,
            base_score: 0.9,
            context: &["nie", "extranjero"],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "IT_FISCAL_CODE",
            pattern: r"(?i)(?-u:\b)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?-u:\b)",
            validate: checksum::it_fiscal_code,
            base_score: 1.0,
            context: &[],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "DE_TAX_ID",
            pattern: r"(?-u:\b)[1-9]\d ?\d{3} ?\d{3} ?\d{3}(?-u:\b)",
            validate: checksum::de_tax_id,
            base_score: 0.5,
            context: &[
                "steuer",
                "steuerliche",
                "identifikationsnummer",
                "idnr",
                "steuer-id",
                "tin",
                "tax id",
            ],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "CRYPTO",
            pattern: r"(?-u:\b)(?:[13][a-km-zA-HJ-NP-Z1-9]{25,34}|(?i:bc1)[a-zA-HJ-NP-Z0-9]{11,71})(?-u:\b)",
            validate: checksum::crypto_address,
            base_score: 1.0,
            context: &[],
            trim: "",
            not_after: &[],
        },
        Recognizer {
            entity: "GPS_COORDINATES",
            pattern: r"-?\d{1,2}\.\d{3,10}, ?-?\d{1,3}\.\d{3,10}",
            validate: gps,
            base_score: 0.7,
            context: &[
                "gps",
                "lat",
                "location",
                "position",
                "coordinates",
                "coords",
            ],
            trim: "",
            not_after: &[],
        },
    ]
}

const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "tél",
    "telephone",
    "téléphone",
    "mobile",
    "cell",
    "portable",
    "call",
    "telefon",
    "handy",
    "mobil",
    "fax",
];

/// Regions whose national formats are recognised without a `+` prefix.
const PHONE_REGIONS: [Region; 7] = [
    Region::FR,
    Region::NO,
    Region::DE,
    Region::GB,
    Region::IE,
    Region::US,
    Region::CN,
];

/// Words before a number that say it is not a phone number.
const PHONE_NEGATIVE: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "ticket",
    "ref",
    "reference",
    "build",
    "version",
    "commande",
    "facture",
    "bestellung",
    "rechnung",
    "ordre",
    "faktura",
];

/// Stretches of text that could hold a phone number: a fast DFA scan, so the
/// libphonenumber matcher only sees short candidates.
static PHONE_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\(\+?)?\d[\d \-.()]{4,22}\d")
        .unwrap_or_else(|e| unreachable!("phone pattern compiles: {e}"))
});

/// Phone numbers: libphonenumber's matcher (valid numbers in the required
/// regions, or any region with a `+` prefix) run on each candidate stretch.
/// Runs after the other recognisers: a number one of them validated (an IP
/// address, an SSN) is not also a phone number.
pub(super) fn phone_numbers(text: &str, out: &mut Vec<Candidate>) {
    let mut pieces = Vec::new();
    for cand in PHONE_CANDIDATE.find_iter(text) {
        // The parts of the stretch that no validated finding claims.
        let mut claimed: Vec<Range<usize>> = out
            .iter()
            .filter(|c| c.bytes.start < cand.end() && cand.start() < c.bytes.end)
            .map(|c| c.bytes.clone())
            .collect();
        claimed.sort_by_key(|r| r.start);
        let mut at = cand.start();
        for r in claimed
            .iter()
            .chain(std::iter::once(&(cand.end()..cand.end())))
        {
            if r.start > at {
                pieces.push(at..r.start);
            }
            at = at.max(r.end);
        }
    }
    for piece in pieces {
        let s = &text[piece.clone()];
        if !(7..=17).contains(&s.bytes().filter(u8::is_ascii_digit).count())
            || preceded_by(text, piece.start, PHONE_NEGATIVE)
        {
            continue;
        }
        for m in s.find_phone_numbers_with_regions(PHONE_REGIONS) {
            let span = piece.start + m.start..piece.start + m.end();
            if !text.is_char_boundary(span.start)
                || !text.is_char_boundary(span.end)
                || !boundary_ok(text, &span)
            {
                continue;
            }
            if preceded_by(text, span.start, PHONE_NEGATIVE) {
                continue;
            }
            let base = if m.raw_string.starts_with('+') || m.raw_string.starts_with("00") {
                0.7
            } else {
                0.5
            };
            out.push(Candidate {
                entity: "PHONE_NUMBER",
                score: boost(text, &span, base, PHONE_CONTEXT),
                bytes: span,
            });
        }
    }
}

const BIRTH_CONTEXT: &[&str] = &[
    "born",
    "birth",
    "dob",
    "d.o.b",
    "birthday",
    "né le",
    "née le",
    "né ",
    "née ",
    "naissance",
    "geboren",
    "geb.",
    "geburtsdatum",
    "født",
    "fødselsdato",
    "nato il",
    "nata il",
    "nacimiento",
    "nacido",
    "nacida",
];

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:(?P<d1>\d{1,2})[./\-](?P<m1>\d{1,2})[./\-](?P<y1>(?:19|20)\d{2})|(?P<y2>(?:19|20)\d{2})-(?P<m2>\d{2})-(?P<d2>\d{2})|(?P<d3>\d{1,2})\.? (?P<mn>jan(?:uary|vier|uar)?|feb(?:ruary|ruar)?|févr(?:ier)?|fevr(?:ier)?|mar(?:ch|s|z)?|mär(?:z)?|apr(?:il)?|avr(?:il)?|may|mai|june?|juin|juni|july?|juil(?:let)?|juli|aug(?:ust)?|août|aout|sep(?:t(?:ember|embre)?)?|oct(?:ober|obre)?|okt(?:ober)?|nov(?:ember|embre)?|dec(?:ember)?|déc(?:embre)?|dez(?:ember)?|des(?:ember)?) (?P<y3>(?:19|20)\d{2}))(?-u:\b)",
    )
    .unwrap_or_else(|e| unreachable!("date pattern compiles: {e}"))
});

/// Dates, reported as `DATE_TIME` only when a birth context word is near:
/// a date of birth identifies, a date alone rarely does.
pub(super) fn dates_of_birth(text: &str, out: &mut Vec<Candidate>) {
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return;
    }
    for m in DATE.find_iter(text) {
        // The context check is cheap; the capture groups are not.
        let span = m.range();
        if boost(text, &span, 0.0, BIRTH_CONTEXT) == 0.0 {
            continue;
        }
        let Some(c) = DATE.captures(m.as_str()) else {
            continue;
        };
        let num = |a: &str, b: &str| {
            c.name(a)
                .or_else(|| c.name(b))
                .and_then(|x| x.as_str().parse::<u32>().ok())
        };
        let day = num("d1", "d2").or_else(|| c.name("d3").and_then(|x| x.as_str().parse().ok()));
        let month = num("m1", "m2").or(if c.name("mn").is_some() {
            Some(1)
        } else {
            None
        });
        if day.is_some_and(|d| (1..=31).contains(&d))
            && month.is_some_and(|m| (1..=12).contains(&m))
        {
            out.push(Candidate {
                entity: "DATE_TIME",
                bytes: span,
                score: 0.85,
            });
        }
    }
}
