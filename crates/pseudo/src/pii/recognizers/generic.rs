//! The generic recognisers (Presidio's `predefined_recognizers/generic`):
//! e-mail, URL, IP and MAC addresses, payment cards, IBAN, crypto wallets,
//! coordinates, phone numbers (libphonenumber) and dates of birth.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use rlibphonenumber::Region;
use rlibphonenumber::phonenumber_matcher::FindNumberExt as _;

use super::{Case, Recognizer};
use crate::pii::{Candidate, boost, boundary_ok, checksum, preceded_by};

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

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "EMAIL_ADDRESS",
            r"[\p{L}\p{N}._%+\-]+@(?:[\p{L}\p{N}\-]+\.)+\p{L}{2,24}",
        )
        .validate(email)
        .score(1.0),
        Recognizer::new("URL", r"(?i)(?:https?://|www\.)[^\s<>]+")
            .score(0.6)
            .trim(".,;:!?)]}'\""),
        Recognizer::new("IP_ADDRESS", r"(?-u:\b)(?:\d{1,3}\.){3}\d{1,3}(?-u:\b)")
            .validate(ipv4)
            .score(0.6)
            .context(&["ip", "address", "adresse", "ipv4", "server", "host"])
            .not_after(&["build", "version", "ver", "v", "release", "firmware", "oid"]),
        Recognizer::new(
            "IP_ADDRESS",
            r"(?i)(?:[0-9a-f]{1,4}:){1,7}(?:(?::[0-9a-f]{1,4}){1,7}|[0-9a-f]{1,4}|:)",
        )
        .validate(ipv6)
        .score(0.6)
        .context(&["ip", "address", "adresse", "ipv6", "server", "host"]),
        Recognizer::new(
            "MAC_ADDRESS",
            r"(?i)(?-u:\b)(?:[0-9a-f]{2}:){5}[0-9a-f]{2}(?-u:\b)|(?-u:\b)(?:[0-9a-f]{2}-){5}[0-9a-f]{2}(?-u:\b)|(?-u:\b)[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?-u:\b)",
        )
        .score(0.6)
        .context(&["mac", "wifi", "wi-fi", "bssid", "device", "ethernet"]),
        // Grouped 4-4-4-4(-3), Amex 4-6-5, or ungrouped.
        Recognizer::new(
            "CREDIT_CARD",
            r"(?-u:\b)(?:\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{4}(?:[ \-]\d{3})?|\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{12,19})(?-u:\b)",
        )
        .validate(checksum::credit_card)
        .score(1.0)
        .not_after(&[
            "order", "invoice", "tracking", "ref", "reference", "commande", "facture", "rechnung",
        ]),
        Recognizer::new(
            "IBAN_CODE",
            r"(?-u:\b)[A-Z]{2}\d{2} ?(?:[A-Z0-9]{4} ?){2,7}[A-Z0-9]{1,4}(?-u:\b)",
        )
        .validate(checksum::iban)
        .score(1.0)
        .trim(" "),
        Recognizer::new(
            "CRYPTO",
            r"(?-u:\b)(?:[13][a-km-zA-HJ-NP-Z1-9]{25,34}|(?i:bc1)[a-zA-HJ-NP-Z0-9]{11,71})(?-u:\b)",
        )
        .validate(checksum::crypto_address)
        .score(1.0),
        Recognizer::new("GPS_COORDINATES", r"-?\d{1,2}\.\d{3,10}, ?-?\d{1,3}\.\d{3,10}")
            .validate(gps)
            .score(0.7)
            .context(&["gps", "lat", "location", "position", "coordinates", "coords"]),
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
pub(in crate::pii) fn phone_numbers(text: &str, out: &mut Vec<Candidate>) {
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
pub(in crate::pii) fn dates_of_birth(text: &str, out: &mut Vec<Candidate>) {
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

pub(super) const CASES: &[Case] = &[
    Case::Valid("EMAIL_ADDRESS", "write to [jean.dupont@example.fr] today"),
    Case::Invalid("EMAIL_ADDRESS", "write to jean.dupont@example.f4"),
    Case::LookAlike("EMAIL_ADDRESS", "the @example handle"),
    Case::Valid("PHONE_NUMBER", "tel [+33 6 12 34 56 78]"),
    Case::Invalid("PHONE_NUMBER", "tel +33 0 00 00"),
    Case::LookAlike("PHONE_NUMBER", "order 0612345678 shipped"),
    Case::Valid("CREDIT_CARD", "card [4111 1111 1111 1111]"),
    Case::Invalid("CREDIT_CARD", "card 4111 1111 1111 1112"),
    Case::LookAlike("CREDIT_CARD", "invoice 4111111111111111"),
    Case::Valid("IBAN_CODE", "IBAN [FR76 3000 6000 0112 3456 7890 189]"),
    Case::Invalid("IBAN_CODE", "IBAN GB82WEST12345698765433"),
    Case::LookAlike("IBAN_CODE", "part AB12 CDEF GHIJ KLMN"),
    Case::Valid("IP_ADDRESS", "from [192.0.2.1] at noon"),
    Case::Invalid("IP_ADDRESS", "from 192.0.2.256 at noon"),
    Case::LookAlike("IP_ADDRESS", "version 1.2.3.4 released"),
    Case::Valid("MAC_ADDRESS", "mac [00:1a:2b:3c:4d:5e]"),
    Case::Invalid("MAC_ADDRESS", "mac 00:1a:2b:3c:4d"),
    Case::LookAlike("MAC_ADDRESS", "at 12:30:45 today"),
    Case::Valid("URL", "see [https://example.com/a?b=c]."),
    Case::Invalid("URL", "see https:/example"),
    Case::LookAlike("URL", "end of sentence.Then more"),
    Case::Valid("CRYPTO", "btc [1BoatSLRHtKNngkdXEeobR76b53LETtpyT]"),
    Case::Invalid("CRYPTO", "btc 1BoatSLRHtKNngkdXEeobR76b53LETtpyU"),
    Case::LookAlike("CRYPTO", "btc bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"),
    Case::Valid("GPS_COORDINATES", "gps [48.8566, 2.3522]"),
    Case::Invalid("GPS_COORDINATES", "gps 98.8566, 2.3522"),
    Case::LookAlike("GPS_COORDINATES", "price 48.8566"),
    Case::Valid("DATE_TIME", "born [12/03/1985]"),
    Case::Invalid("DATE_TIME", "born 32/03/1985"),
    Case::LookAlike("DATE_TIME", "meeting 12/03/1985"),
];
