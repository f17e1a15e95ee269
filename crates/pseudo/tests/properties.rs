//! Property tests: tokens are stable, reversible tokens and FF1 round-trip,
//! FF1 keeps length and alphabet, findings lie on character boundaries.

use proptest::prelude::*;
use pseudo::Keys;
use pseudo::fpe::Alphabet;
use pseudo::pii::Analyzer;

fn keys() -> Keys {
    Keys::derive(1, &[42; 32])
}

fn analyzer() -> &'static Analyzer {
    static A: std::sync::OnceLock<Analyzer> = std::sync::OnceLock::new();
    A.get_or_init(Analyzer::new)
}

proptest! {
    #[test]
    fn tokens_are_stable_and_domain_bound(domain in "\\PC{0,20}", value in "\\PC{0,60}", other in "\\PC{0,20}") {
        let k = keys();
        let t = k.token.token(&domain, &value);
        prop_assert_eq!(&t, &k.token.token(&domain, &value));
        prop_assert_eq!(t.len(), 3 + 22);
        if other != domain {
            prop_assert_ne!(t, k.token.token(&other, &value));
        }
    }

    #[test]
    fn reversible_tokens_round_trip(domain in "\\PC{0,20}", value in "\\PC{0,200}") {
        let k = keys();
        let t = k.siv.seal(&domain, &value).unwrap();
        prop_assert_eq!(k.siv.open(&domain, &t).unwrap(), value);
    }

    #[test]
    fn ff1_round_trips_and_keeps_length_and_alphabet(digits in "[0-9]{6,40}", seps in prop::collection::vec(prop::sample::select(vec![' ', '-', '.']), 0..6), tweak in any::<Vec<u8>>()) {
        let k = keys();
        // Interleave separators into the digits.
        let mut value: String = digits.clone();
        for (i, s) in seps.iter().enumerate() {
            let at = (i * 3 + 1).min(value.len());
            value.insert(at, *s);
        }
        let a = Alphabet::digits();
        let ct = k.ff1.encrypt(&a, &tweak, &value).unwrap();
        prop_assert_eq!(ct.chars().count(), value.chars().count());
        for (x, y) in value.chars().zip(ct.chars()) {
            prop_assert_eq!(x.is_ascii_digit(), y.is_ascii_digit());
            if !x.is_ascii_digit() {
                prop_assert_eq!(x, y);
            }
        }
        prop_assert_eq!(k.ff1.decrypt(&a, &tweak, &ct).unwrap(), value);
    }

    #[test]
    fn ff1_over_other_alphabets(s in "[0-9A-Z]{5,30}") {
        let k = keys();
        let a = Alphabet::alphanumeric_upper();
        let ct = k.ff1.encrypt(&a, b"id", &s).unwrap();
        prop_assert!(ct.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        prop_assert_eq!(k.ff1.decrypt(&a, b"id", &ct).unwrap(), s);
    }

    #[test]
    fn findings_lie_on_character_boundaries(text in "(\\PC|[0-9 .:@+\\-]){0,120}", pii in prop::sample::select(vec![
        "jean@exemple.fr", "+33 6 12 34 56 78", "4111 1111 1111 1111", "192.168.0.1", "FR76 3000 6000 0112 3456 7890 189", "",
    ])) {
        let text = format!("{text} ; {pii} ; {text}");
        let findings = analyzer().analyze(&text);
        let n = text.chars().count();
        let mut last_end = 0;
        for f in &findings {
            prop_assert!(text.is_char_boundary(f.bytes.start) && text.is_char_boundary(f.bytes.end));
            prop_assert!(f.start < f.end && f.end <= n);
            prop_assert!(f.start >= last_end, "findings overlap");
            prop_assert_eq!(text[..f.bytes.start].chars().count(), f.start);
            prop_assert_eq!(text[f.bytes.clone()].chars().count(), f.end - f.start);
            prop_assert!((0.0..=1.0).contains(&f.score));
            last_end = f.end;
        }
        if !pii.is_empty() {
            prop_assert!(findings.iter().any(|f| text[f.bytes.clone()].contains(pii) || pii.contains(&text[f.bytes.clone()])), "{} not found in {:?}", pii, text);
        }
    }
}

/// Words of ordinary text around an identifier, in several scripts; none
/// is a context word that says a number is something else.
const WORDS: &[&str] = &[
    "the",
    "note",
    "with",
    "and",
    "please",
    "see",
    "thanks",
    "today",
    "merci",
    "über",
    "straße",
    "日本語",
    "ok",
    "yes",
    "hello",
    "world",
    "was",
    "here",
    "là",
    "año",
    "→",
    "(",
    ")",
    ",",
    ";",
];

fn prose() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..8).prop_map(|w| w.join(" "))
}

/// The valid identifiers of every recogniser's own cases, each with the
/// words its case puts before it.
fn case_identifier() -> impl Strategy<Value = (String, std::ops::Range<usize>)> {
    let valid: Vec<&'static str> = pseudo::pii::cases()
        .filter_map(|c| match c {
            pseudo::pii::Case::Valid(_, marked) => Some(*marked),
            _ => None,
        })
        .collect();
    prop::sample::select(valid).prop_map(|marked| {
        let start = marked.find('[').unwrap_or(0);
        let end = marked.rfind(']').unwrap_or(marked.len());
        let text = format!(
            "{}{}{}",
            &marked[..start],
            &marked[start + 1..end],
            &marked[end + 1..]
        );
        (text, start..end - 1)
    })
}

/// An IP address in one of its text forms.
fn ip_identifier() -> impl Strategy<Value = String> {
    (any::<[u16; 8]>(), any::<[u8; 4]>(), 0..7u8, 0..129u8).prop_map(|(v6, v4, form, len)| {
        let a6 = std::net::Ipv6Addr::from(v6);
        let a4 = std::net::Ipv4Addr::from(v4);
        match form {
            0 => a6.to_string(),
            1 => v6
                .iter()
                .map(|g| format!("{g:04x}"))
                .collect::<Vec<_>>()
                .join(":"),
            2 => format!("::ffff:{a4}"),
            3 => format!("64:ff9b::{a4}"),
            4 => format!("fe80::{:x}%eth0", v6[7].max(1)),
            5 => format!("{a6}/{len}"),
            _ => a4.to_string(),
        }
    })
}

/// A payment card number with its Luhn digit, grouped or not.
fn card_identifier() -> impl Strategy<Value = String> {
    ("4[0-9]{14}", any::<bool>()).prop_map(|(body, grouped)| {
        let sum: u32 = body
            .chars()
            .rev()
            .enumerate()
            .map(|(i, c)| {
                let d = c.to_digit(10).unwrap_or(0);
                if i % 2 == 0 {
                    if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
                } else {
                    d
                }
            })
            .sum();
        let n = format!("{body}{}", (10 - sum % 10) % 10);
        if grouped {
            n.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            n
        }
    })
}

/// Whether the findings cover every byte of `span`.
fn covered(findings: &[pseudo::pii::Finding], span: &std::ops::Range<usize>) -> bool {
    let mut at = span.start;
    for f in findings {
        if f.bytes.start <= at && f.bytes.end > at {
            at = f.bytes.end;
        }
    }
    at >= span.end
}

fn check_redacted(before: &str, id: &str, after: &str) -> Result<(), TestCaseError> {
    let text = format!("{before} {id} {after}");
    let start = before.len() + 1;
    let span = start..start + id.len();
    let found = analyzer().analyze(&text);
    prop_assert!(
        covered(&found, &span),
        "{id:?} not wholly found in {text:?}: {found:?}"
    );
    let out = pseudo::pii::redact(&text, &found, &Default::default(), &keys());
    prop_assert!(!out.contains(id), "{id:?} left in {out:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Regression for partial findings (an IPv6 address whose IPv4 tail
    /// alone was found left its network prefix in clear): every
    /// recogniser's valid identifiers, with the words of their cases, in
    /// random text.
    #[test]
    fn redact_leaves_nothing_of_a_case_identifier(before in prose(), (case, span) in case_identifier(), after in prose()) {
        let id = &case[span.clone()];
        let text = format!("{before}. {case} {after}");
        let shift = before.len() + 2;
        let span = span.start + shift..span.end + shift;
        let found = analyzer().analyze(&text);
        prop_assert!(covered(&found, &span), "{id:?} not wholly found in {text:?}: {found:?}");
        let out = pseudo::pii::redact(&text, &found, &Default::default(), &keys());
        prop_assert!(!out.contains(id), "{id:?} left in {out:?}");
    }

    #[test]
    fn redact_leaves_nothing_of_an_ip_address(before in prose(), ip in ip_identifier(), after in prose()) {
        check_redacted(&format!("{before} server"), &ip, &after)?;
    }

    #[test]
    fn redact_leaves_nothing_of_a_card_number(before in prose(), card in card_identifier(), after in prose()) {
        check_redacted(&before, &card, &after)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Long texts are analysed only around bytes an identifier holds: a
    /// case's identifier deep inside kilobytes of prose is still found
    /// whole, with its context words.
    #[test]
    fn identifiers_deep_in_long_prose_are_found_whole(
        before in prop::collection::vec(prose(), 20..120),
        (case, span) in case_identifier(),
        after in prop::collection::vec(prose(), 20..120),
    ) {
        let before = before.join(". ");
        let id = &case[span.clone()];
        let text = format!("{before}. {case} {}", after.join(". "));
        let shift = before.len() + 2;
        let span = span.start + shift..span.end + shift;
        let found = analyzer().analyze(&text);
        prop_assert!(covered(&found, &span), "{id:?} not wholly found after {} bytes: {found:?}", shift);
        let alone = analyzer().analyze(&case);
        prop_assert_eq!(
            found.iter().filter(|f| f.bytes.start >= shift && f.bytes.end <= shift + case.len()).count(),
            alone.len(),
            "{:?}", case
        );
    }
}
