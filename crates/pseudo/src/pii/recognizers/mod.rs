//! The recognisers, one module per country as in Presidio's
//! `predefined_recognizers/country_specific`, plus the generic ones.
//!
//! Each module exports `recognizers()` (its patterns, validation, scores and
//! context words) and `CASES`, its own test cases: for every entity, at least
//! one valid identifier (found exactly), one with a wrong check digit or an
//! impossible field, and one look-alike in context (both not found). One
//! conformance test runs every module's cases through the whole analyzer.

use std::sync::LazyLock;

mod generic;

mod australia;
mod canada;
mod finland;
mod france;
mod germany;
mod india;
mod italy;
mod korea;
mod nigeria;
mod norway;
mod philippines;
mod poland;
mod singapore;
mod south_africa;
mod spain;
mod sweden;
mod thailand;
mod turkey;
mod uk;
mod us;

pub(super) use generic::{BIRTH_CONTEXT, dates_of_birth, phone_numbers};

/// One regex-based recogniser.
#[derive(Debug)]
pub(super) struct Recognizer {
    /// Presidio's entity name.
    pub(super) entity: &'static str,
    /// Candidates (the regex crate's syntax; linear time).
    pub(super) pattern: &'static str,
    /// Whether a candidate, separators included, is a valid identifier.
    pub(super) validate: fn(&str) -> bool,
    /// Score without context. Below [`super::MIN_SCORE`], a finding is
    /// reported only with a context word before it.
    pub(super) base_score: f64,
    /// Lower-case words that, shortly before a finding, raise its score.
    pub(super) context: &'static [&'static str],
    /// Characters trimmed from the end of a match.
    pub(super) trim: &'static str,
    /// Lower-case words that, right before a match, say it is something else.
    pub(super) not_after: &'static [&'static str],
    /// A failed match is not searched again from its second character:
    /// the pattern matches a whole run (an IPv6 address, a domain), and
    /// a valid piece of an invalid run must not be reported.
    pub(super) atomic: bool,
    /// Not reported when the next thing after it, past spaces, is a digit
    /// (a five-digit postcode is not the area code of a phone number).
    pub(super) not_before_digits: bool,
    /// A cheap test that any text holding a match passes (it has an `@`,
    /// for an e-mail address). A recogniser with one runs alone, on text
    /// that passes it, instead of in the analyzer's sets, whose automata
    /// its pattern would swell.
    pub(super) gate: Option<fn(&[u8]) -> bool>,
}

pub(super) fn always(_: &str) -> bool {
    true
}

impl Recognizer {
    /// A recogniser of `entity` with `pattern`, no validation, score 0.5,
    /// no context; the methods below set the rest.
    pub(super) const fn new(entity: &'static str, pattern: &'static str) -> Self {
        Recognizer {
            entity,
            pattern,
            validate: always,
            base_score: 0.5,
            context: &[],
            trim: "",
            not_after: &[],
            atomic: false,
            not_before_digits: false,
            gate: None,
        }
    }
    pub(super) const fn validate(mut self, f: fn(&str) -> bool) -> Self {
        self.validate = f;
        self
    }
    pub(super) const fn score(mut self, s: f64) -> Self {
        self.base_score = s;
        self
    }
    pub(super) const fn context(mut self, words: &'static [&'static str]) -> Self {
        self.context = words;
        self
    }
    pub(super) const fn trim(mut self, chars: &'static str) -> Self {
        self.trim = chars;
        self
    }
    pub(super) const fn not_before_digits(mut self) -> Self {
        self.not_before_digits = true;
        self
    }
    pub(super) const fn atomic(mut self) -> Self {
        self.atomic = true;
        self
    }
    pub(super) const fn gate(mut self, gate: fn(&[u8]) -> bool) -> Self {
        self.gate = Some(gate);
        self
    }
    pub(super) const fn not_after(mut self, words: &'static [&'static str]) -> Self {
        self.not_after = words;
        self
    }
}

/// Every regex-based recogniser.
pub(super) fn all() -> Vec<Recognizer> {
    [
        generic::recognizers(),
        australia::recognizers(),
        canada::recognizers(),
        finland::recognizers(),
        france::recognizers(),
        germany::recognizers(),
        india::recognizers(),
        italy::recognizers(),
        korea::recognizers(),
        nigeria::recognizers(),
        norway::recognizers(),
        philippines::recognizers(),
        poland::recognizers(),
        singapore::recognizers(),
        south_africa::recognizers(),
        spain::recognizers(),
        sweden::recognizers(),
        thailand::recognizers(),
        turkey::recognizers(),
        uk::recognizers(),
        us::recognizers(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every entity type the analyzer reports, in the order first recognised.
pub static ENTITIES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = Vec::new();
    let others = ["PHONE_NUMBER", "DATE_TIME"];
    for e in all().iter().map(|r| r.entity).chain(others) {
        if !names.contains(&e) {
            names.push(e);
        }
    }
    names
});

/// A recogniser's own test case (see [`cases`]).
#[derive(Clone, Copy, Debug)]
pub enum Case {
    /// Text with the identifier between `[` and `]`: found exactly, as the entity.
    Valid(&'static str, &'static str),
    /// The identifier with a wrong check digit or an impossible field: not
    /// found as the entity.
    Invalid(&'static str, &'static str),
    /// Something of the same shape that is not the identifier (a look-alike
    /// in context): not found as the entity.
    LookAlike(&'static str, &'static str),
}

/// Every recogniser's test cases: for conformance tests, property tests
/// and fuzzing seeds.
pub fn cases() -> impl Iterator<Item = &'static Case> {
    [
        generic::CASES,
        australia::CASES,
        canada::CASES,
        finland::CASES,
        france::CASES,
        germany::CASES,
        india::CASES,
        italy::CASES,
        korea::CASES,
        nigeria::CASES,
        norway::CASES,
        philippines::CASES,
        poland::CASES,
        singapore::CASES,
        south_africa::CASES,
        spain::CASES,
        sweden::CASES,
        thailand::CASES,
        turkey::CASES,
        uk::CASES,
        us::CASES,
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod conformance {
    use super::{Case, ENTITIES, cases};
    use crate::pii::Analyzer;

    fn analyzer() -> &'static Analyzer {
        static A: std::sync::OnceLock<Analyzer> = std::sync::OnceLock::new();
        A.get_or_init(Analyzer::new)
    }

    /// The text without the marks, and the marked byte range: from the
    /// first `[` to the last `]` (an identifier may hold brackets).
    fn unmark(marked: &str) -> (String, std::ops::Range<usize>) {
        let start = marked.find('[').expect("a valid case marks its identifier");
        let end = marked
            .rfind(']')
            .expect("a valid case marks its identifier");
        let text = format!(
            "{}{}{}",
            &marked[..start],
            &marked[start + 1..end],
            &marked[end + 1..]
        );
        (text, start..end - 1)
    }

    #[test]
    fn every_recognizer_passes_its_cases() {
        let mut failures = Vec::new();
        for case in cases() {
            match *case {
                Case::Valid(entity, marked) => {
                    let (text, span) = unmark(marked);
                    let found = analyzer().analyze(&text);
                    if !found
                        .iter()
                        .any(|f| f.entity_type == entity && f.bytes == span)
                    {
                        let got: Vec<_> = found
                            .iter()
                            .map(|f| (f.entity_type, &text[f.bytes.clone()], f.score))
                            .collect();
                        failures.push(format!(
                            "{entity}: not found exactly in {marked:?}; found {got:?}"
                        ));
                    }
                }
                Case::Invalid(entity, text) | Case::LookAlike(entity, text) => {
                    let found = analyzer().analyze(text);
                    if let Some(f) = found.iter().find(|f| f.entity_type == entity) {
                        failures.push(format!(
                            "{entity}: reported {:?} in {text:?}",
                            &text[f.bytes.clone()]
                        ));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn every_entity_has_valid_invalid_and_look_alike_cases() {
        let cases: Vec<&Case> = cases().collect();
        let mut missing = Vec::new();
        for entity in ENTITIES.iter() {
            let has =
                |want: fn(&Case) -> Option<&str>| cases.iter().any(|c| want(c) == Some(entity));
            for (kind, ok) in [
                (
                    "valid",
                    has(|c| match c {
                        Case::Valid(e, _) => Some(e),
                        _ => None,
                    }),
                ),
                (
                    "invalid",
                    has(|c| match c {
                        Case::Invalid(e, _) => Some(e),
                        _ => None,
                    }),
                ),
                (
                    "look-alike",
                    has(|c| match c {
                        Case::LookAlike(e, _) => Some(e),
                        _ => None,
                    }),
                ),
            ] {
                if !ok {
                    missing.push(format!("{entity} has no {kind} case"));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
