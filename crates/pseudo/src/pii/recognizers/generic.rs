//! The generic recognisers (Presidio's `predefined_recognizers/generic`):
//! e-mail, URL, IP and MAC addresses, payment cards, IBAN, crypto wallets,
//! coordinates, phone numbers (libphonenumber) and dates of birth.

use std::ops::Range;
use std::sync::LazyLock;

use memchr::{memchr, memchr_iter, memmem};
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

/// An IPv4 address, with an optional CIDR prefix length.
fn ipv4(s: &str) -> bool {
    let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
    addr.parse::<std::net::Ipv4Addr>().is_ok()
        && prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= 32))
}

/// An IPv6 address in any RFC 4291 §2.2 text form (compressed, with an
/// embedded IPv4 tail), with an optional RFC 4007 zone id and prefix length.
fn ipv6(s: &str) -> bool {
    let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
    let addr = addr.split_once('%').map_or(addr, |(a, _zone)| a);
    addr.parse::<std::net::Ipv6Addr>().is_ok()
        && prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= 128))
}

/// A domain name whose top-level domain is delegated (a country code or a
/// common generic one). Country codes that are mostly file extensions in
/// text (`.md`, `.rs`, `.sh`, `.py`, `.ps`) are left out.
fn domain(s: &str) -> bool {
    let host = s.split(['/', '?', '#']).next().unwrap_or(s);
    let Some((_, tld)) = host.rsplit_once('.') else {
        return false;
    };
    TLDS.contains(tld.to_ascii_lowercase().as_str())
}

/// [`COUNTRY_CODES`] and [`GENERIC_TLDS`], for lookup.
static TLDS: LazyLock<std::collections::HashSet<&str>> = LazyLock::new(|| {
    COUNTRY_CODES
        .split(' ')
        .chain(GENERIC_TLDS.split(' '))
        .collect()
});

/// ISO 3166 country-code top-level domains in use (IANA root zone), less
/// the file extensions above.
const COUNTRY_CODES: &str = "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr pt pw qa re ro ru rw sa sb sc sd se sg si sk sl sm sn sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw";

/// The generic top-level domains most seen in text.
const GENERIC_TLDS: &str = "com org net edu gov mil int info biz name pro mobi aero coop museum app dev page blog shop store online site tech cloud xyz club live news email link top icu vip art design agency media network systems solutions company digital global world today space website fun one health bank insurance law legal travel jobs team work";

/// A UUID (RFC 9562 §4): versions 1–8, the RFC variant, not the nil UUID.
fn uuid(s: &str) -> bool {
    let b = s.as_bytes();
    let version = b.get(14).copied().unwrap_or(b'0');
    let variant = b.get(19).map(u8::to_ascii_lowercase).unwrap_or(b'0');
    (b'1'..=b'8').contains(&version) && matches!(variant, b'8' | b'9' | b'a' | b'b')
}

fn gps(s: &str) -> bool {
    crate::generalise::parse_coordinates(s).is_ok()
}

/// A URL's scheme separator or `www.`.
fn scheme(t: &[u8]) -> bool {
    memmem::find(t, b"://").is_some()
        || memchr_iter(b'.', t).any(|i| i >= 3 && t[i - 3..i].eq_ignore_ascii_case(b"www"))
}

/// A dot before a letter, as before a top-level domain.
fn dot_letter(t: &[u8]) -> bool {
    memchr_iter(b'.', t).any(|i| t.get(i + 1).is_some_and(u8::is_ascii_alphabetic))
}

/// Two of a MAC address's separators as far apart as they are in one:
/// `:` or `-` after two hex digits, `.` after four.
fn mac_separators(t: &[u8]) -> bool {
    let apart = |sep: u8, by: usize| memchr_iter(sep, t).any(|i| t.get(i + by) == Some(&sep));
    apart(b':', 3) || apart(b'-', 3) || apart(b'.', 5)
}

/// Two colons of an IPv6 address: each before a hex digit or a colon,
/// or after a colon (`::`).
fn ipv6_colons(t: &[u8]) -> bool {
    memchr_iter(b':', t)
        .filter(|&i| {
            t.get(i + 1)
                .is_some_and(|b| b.is_ascii_hexdigit() || *b == b':')
                || (i > 0 && t[i - 1] == b':')
        })
        .nth(1)
        .is_some()
}

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![
        Recognizer::new(
            "EMAIL_ADDRESS",
            r"[\p{L}\p{N}._%+\-]+@(?:[\p{L}\p{N}\-]+\.)+\p{L}{2,24}",
        )
        .validate(email)
        .score(1.0)
        .gate(|t| memchr(b'@', t).is_some()),
        Recognizer::new("URL", r"(?i)(?-u:\b)(?:https?|ftp)://[^\s<>]+|(?-u:\b)www\.[^\s<>]+")
            .score(0.6)
            .trim(".,;:!?)]}'\"")
            .gate(scheme),
        // A bare domain (`example.com`, `shop.example.co.uk/path`).
        Recognizer::new(
            "URL",
            r"(?i)(?-u:\b)(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,12}(?-u:\b)(?:[/?#][^\s<>]*)?",
        )
        .validate(domain)
        .score(0.5)
        .trim(".,;:!?)]}'\"")
        .atomic()
        .gate(dot_letter),
        Recognizer::new("IP_ADDRESS", r"(?-u:\b)(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?-u:\b)")
            .validate(ipv4)
            .score(0.6)
            .context(&["ip", "address", "adresse", "ipv4", "server", "host"])
            .not_after(&["build", "version", "ver", "v", "release", "firmware", "oid"]),
        // The whole run of hex digits, colons and dots (so that a valid
        // piece of an invalid form is not reported), then a zone and prefix.
        Recognizer::new(
            "IP_ADDRESS",
            r"(?i)[0-9a-f.:]*:[0-9a-f.:]*:[0-9a-f.:]*(?:%[0-9a-z]+)?(?:/\d{1,3})?",
        )
        .validate(ipv6)
        .score(0.6)
        .context(&["ip", "address", "adresse", "ipv6", "server", "host"])
        .trim(".")
        .atomic()
        .gate(ipv6_colons),
        Recognizer::new(
            "UUID",
            r"(?i)(?-u:\b)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?-u:\b)",
        )
        .validate(uuid)
        .score(0.5)
        .context(&["uuid", "guid", "unique identifier"])
        .gate(|t| memchr_iter(b'-', t).nth(3).is_some()),
        Recognizer::new(
            "MAC_ADDRESS",
            r"(?i)(?-u:\b)(?:[0-9a-f]{2}:){5}[0-9a-f]{2}(?-u:\b)|(?-u:\b)(?:[0-9a-f]{2}-){5}[0-9a-f]{2}(?-u:\b)|(?-u:\b)[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?-u:\b)",
        )
        .score(0.6)
        .context(&["mac", "wifi", "wi-fi", "bssid", "device", "ethernet"])
        .gate(mac_separators),
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
            r"(?i-u)\b[A-Z]{2}\d{2} ?(?:[A-Z0-9]{4} ?){2,7}[A-Z0-9]{1,4}\b",
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

/// The matches of `re` that start in `window` and end by its end (look-
/// behind, such as a word boundary, sees the text before it).
fn find_in<'t>(
    re: &Regex,
    text: &'t str,
    window: Range<usize>,
) -> impl Iterator<Item = regex::Match<'t>> {
    let hay = &text[..window.end];
    let mut at = window.start;
    std::iter::from_fn(move || {
        let m = re.find_at(hay, at).filter(|_| at < hay.len())?;
        at = m.end().max(m.start() + 1);
        Some(m)
    })
}

/// Stretches of `text` in `window` that could hold a phone number, so that
/// the libphonenumber matcher only sees short candidates: what the regex
/// `(?:\+|\(\+?)?\d[\d \-.()]{4,22}\d` finds, leftmost first and each as
/// long as it can be, in a byte loop (an automaton pass over the window
/// was ~40 % of the phone-number search).
fn phone_stretches(text: &str, window: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    let b = text.as_bytes();
    let mut i = window.start;
    std::iter::from_fn(move || {
        while let Some(d) = b[i..window.end].iter().position(u8::is_ascii_digit) {
            let d = i + d;
            // The last digit that ends a run of 6 to 24 bytes from `d`.
            let last = b[d..window.end.min(d + 24)]
                .iter()
                .take_while(|c| matches!(c, b'0'..=b'9' | b' ' | b'-' | b'.' | b'(' | b')'))
                .enumerate()
                .filter(|(k, c)| *k >= 5 && c.is_ascii_digit())
                .map(|(k, _)| d + k)
                .last();
            let Some(last) = last else {
                i = d + 1;
                continue;
            };
            let before = |k: usize, c: u8| d >= i + k && b[d - k] == c;
            let start = if before(1, b'+') && before(2, b'(') {
                d - 2
            } else if before(1, b'+') || before(1, b'(') {
                d - 1
            } else {
                d
            };
            i = last + 1;
            return Some(start..last + 1);
        }
        None
    })
}

/// Phone numbers: libphonenumber's matcher (valid numbers in the required
/// regions, or any region with a `+` prefix) run on each candidate stretch.
/// Runs after the other recognisers: digits one of them claims (an IP
/// address, an SSN after its context word) are not also a phone number;
/// a phone number overlapping a finding that claims nothing (an NHS number
/// without context, which has the shape of a US phone number) competes
/// with it in the resolution.
pub(in crate::pii) fn phone_numbers(text: &str, window: Range<usize>, out: &mut Vec<Candidate>) {
    let mut pieces = Vec::new();
    for cand in phone_stretches(text, window) {
        // The parts of the stretch that no finding claims.
        let mut claimed: Vec<Range<usize>> = out
            .iter()
            .filter(|c| c.claims && c.bytes.start < cand.end && cand.start < c.bytes.end)
            .map(|c| c.bytes.clone())
            .collect();
        claimed.sort_by_key(|r| r.start);
        let mut at = cand.start;
        for r in claimed.iter().chain(std::iter::once(&(cand.end..cand.end))) {
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
            let score = boost(text, &span, base, PHONE_CONTEXT);
            out.push(Candidate {
                entity: "PHONE_NUMBER",
                score,
                bytes: span,
                claims: true,
            });
        }
    }
}

/// Words that say a date near them is a date of birth.
pub(in crate::pii) const BIRTH_CONTEXT: &[&str] = &[
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
pub(in crate::pii) fn dates_of_birth(text: &str, window: Range<usize>, out: &mut Vec<Candidate>) {
    for m in find_in(&DATE, text, window) {
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
                claims: true,
            });
        }
    }
}

pub(super) const CASES: &[Case] = &[
    Case::Valid("EMAIL_ADDRESS", "write to [jean.dupont@example.fr] today"),
    Case::Invalid("EMAIL_ADDRESS", "write to jean.dupont@example.f4"),
    Case::LookAlike("EMAIL_ADDRESS", "the @example handle"),
    Case::Valid("PHONE_NUMBER", "tel [+33 6 12 34 56 78]"),
    Case::Valid(
        "PHONE_NUMBER",
        "mon portable : [06\u{a0}12\u{a0}34\u{a0}56\u{a0}78]",
    ),
    Case::Valid(
        "PHONE_NUMBER",
        "mon portable : [06\u{202f}12\u{202f}34\u{202f}56\u{202f}78].",
    ),
    Case::Valid("PHONE_NUMBER", "tél. [06–12–34–56–78]"),
    Case::Valid("PHONE_NUMBER", "電話 [＋３３ ６ １２ ３４ ５６ ７８]"),
    Case::Invalid("PHONE_NUMBER", "tel +33 0 00 00"),
    Case::LookAlike("PHONE_NUMBER", "order 0612345678 shipped"),
    Case::Valid("CREDIT_CARD", "card [4111 1111 1111 1111]"),
    Case::Invalid("CREDIT_CARD", "card 4111 1111 1111 1112"),
    Case::LookAlike("CREDIT_CARD", "invoice 4111111111111111"),
    Case::Valid("IBAN_CODE", "IBAN [FR76 3000 6000 0112 3456 7890 189]"),
    Case::Valid("IBAN_CODE", "iban [fr76 3000 6000 0112 3456 7890 189]"),
    Case::Valid(
        "IBAN_CODE",
        "IBAN [FR76\u{a0}3000\u{a0}6000\u{a0}0112\u{a0}3456\u{a0}7890\u{a0}189]",
    ),
    Case::Valid(
        "IBAN_CODE",
        "IBAN [FR76\u{200b}3000600001123456\u{200b}7890189] ok",
    ),
    Case::Invalid("IBAN_CODE", "IBAN GB82WEST12345698765433"),
    Case::LookAlike("IBAN_CODE", "part AB12 CDEF GHIJ KLMN"),
    Case::Valid("IP_ADDRESS", "from [192.0.2.1] at noon"),
    Case::Valid("IP_ADDRESS", "subnet [192.0.2.0/24]"),
    Case::Valid("IP_ADDRESS", "loopback [::1] only"),
    Case::Valid("IP_ADDRESS", "bound to [::] by default"),
    Case::Valid("IP_ADDRESS", "mapped [::ffff:192.0.2.1] here"),
    Case::Valid("IP_ADDRESS", "NAT64 [64:ff9b::198.51.100.1]."),
    Case::Valid("IP_ADDRESS", "link [fe80::1%eth0] up"),
    Case::Valid("IP_ADDRESS", "host [2001:db8:85a3::8a2e:370:7334] down"),
    Case::Valid("IP_ADDRESS", "prefix [2001:db8::/32]"),
    Case::Valid(
        "IP_ADDRESS",
        "full [2001:0db8:0000:0000:0000:ff00:0042:8329]",
    ),
    Case::Invalid("IP_ADDRESS", "from 192.0.2.256 at noon"),
    Case::Invalid("IP_ADDRESS", "two gaps 2001::db8::1"),
    Case::Invalid("IP_ADDRESS", "group too long 12345:db8::1"),
    Case::Invalid("IP_ADDRESS", "subnet 192.0.2.0/33"),
    Case::LookAlike("IP_ADDRESS", "version 1.2.3.4 released"),
    Case::LookAlike("IP_ADDRESS", "at 12:30:45 today"),
    Case::LookAlike("IP_ADDRESS", "call std::vec::Vec"),
    Case::Valid("UUID", "request [123e4567-e89b-42d3-a456-426614174000]"),
    Case::Invalid("UUID", "request 123e4567-e89b-92d3-a456-426614174000"),
    Case::LookAlike("UUID", "nil 00000000-0000-0000-0000-000000000000"),
    Case::Valid("MAC_ADDRESS", "mac [00:1a:2b:3c:4d:5e]"),
    Case::Invalid("MAC_ADDRESS", "mac 00:1a:2b:3c:4d"),
    Case::LookAlike("MAC_ADDRESS", "at 12:30:45 today"),
    Case::Valid("URL", "see [https://example.com/a?b=c]."),
    Case::Valid("URL", "go to [microsoft.com] now"),
    Case::Valid("URL", "at [shop.example.co.uk/basket?id=7], then"),
    Case::Valid("URL", "on [http://[2001:db8::1]/status]"),
    Case::Valid("URL", "on [http://[2001:db8::1]]."),
    Case::Valid(
        "URL",
        "(see [https://en.wikipedia.org/wiki/Rust_(language)])",
    ),
    Case::Invalid("URL", "see https:/example"),
    Case::Invalid("URL", "see example.qqq"),
    Case::LookAlike("URL", "end of sentence.Then more"),
    Case::LookAlike("URL", "edit src/main.rs and README.md"),
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The byte loop finds exactly what the regex it stands for finds.
        #[test]
        fn phone_stretches_are_the_regex_matches(
            text in "([0-9 \\-.()+]{0,40}[aé]?){0,4}",
            cut in 0usize..80,
        ) {
            let re = Regex::new(r"(?:\+|\(\+?)?\d[\d \-.()]{4,22}\d").unwrap();
            let mut start = cut.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let expected: Vec<Range<usize>> =
                find_in(&re, &text, start..text.len()).map(|m| m.range()).collect();
            prop_assert_eq!(phone_stretches(&text, start..text.len()).collect::<Vec<_>>(), expected);
        }
    }
}
