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
