//! Detection of personal data in free text.
//!
//! Each recogniser finds candidates with a regular expression (or, for phone
//! numbers, libphonenumber's matcher) and keeps only those that pass its
//! validation (check digits, issuer ranges, calendar dates). Context words
//! near a finding ("tel", "IBAN", "né le", …) raise its score. Overlapping
//! findings resolve to the best one.
//!
//! A [`Finding`] has Presidio's shape — `entity_type`, `start`, `end`,
//! `score` — with offsets in Unicode characters (code points) as Presidio
//! counts them, and entity names follow Presidio's where it has one.

mod checksum;
mod recognizers;
mod redact;

use std::ops::Range;

use aho_corasick::AhoCorasick;
use regex_automata::Input;
use regex_automata::meta::Regex;

pub use recognizers::{Case, ENTITIES, cases};
pub(crate) use redact::redact_for;
pub use redact::{RedactionPlan, redact};

/// One piece of personal data found in a text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    /// Presidio's entity name, e.g. `EMAIL_ADDRESS`.
    pub entity_type: &'static str,
    /// First character (code point) of the finding.
    pub start: usize,
    /// One past its last character.
    pub end: usize,
    /// Confidence in `[0, 1]`.
    pub score: f64,
    /// The same span in bytes of the UTF-8 text.
    #[serde(skip)]
    pub bytes: Range<usize>,
}

/// A span found by a recogniser, in bytes, before resolution.
#[derive(Clone, Debug)]
struct Candidate {
    entity: &'static str,
    bytes: Range<usize>,
    score: f64,
    /// Whether its digits are kept from the phone-number matcher: a
    /// context word confirmed it, or its validation is strong (score ≥
    /// [`CLAIMS_DIGITS`]).
    claims: bool,
}

/// A finding scored this high without context keeps its digits from the
/// phone-number matcher (an IP address, a card, an IBAN).
const CLAIMS_DIGITS: f64 = 0.6;

/// The set of recognisers, compiled once; cheap to share between threads.
///
/// Recognisers that can report without context (their base score reaches
/// [`MIN_SCORE`]) run when a pass of their set of patterns over the text
/// says their pattern matches, or, for the few with a gate (an e-mail
/// address needs an `@`), when the text passes it. The others, most of
/// them (passport, licence and account numbers: shapes without a check),
/// can only report after one of their context words, so they run only
/// when one of those words occurs in the text: one Aho-Corasick pass finds
/// them all. Long texts are read only around the bytes an identifier holds.
#[derive(Debug)]
pub struct Analyzer {
    /// Multi-pattern automata over `strong`, in order, [`SET_SIZE`] each.
    sets: Vec<Regex>,
    /// Recognisers that report without context.
    strong: Vec<(recognizers::Recognizer, Regex)>,
    /// Recognisers that report without context and run alone, on text that
    /// passes their gate.
    gated: Vec<(recognizers::Recognizer, Regex)>,
    /// Recognisers that need a context word, and every such word.
    weak: Vec<(recognizers::Recognizer, Regex)>,
    context_words: AhoCorasick,
    /// What each pattern of `context_words` wakes.
    wakes: Vec<Woken>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

/// The analyzer with every recogniser, compiled on first use.
pub fn analyzer() -> &'static Analyzer {
    static ANALYZER: std::sync::LazyLock<Analyzer> = std::sync::LazyLock::new(Analyzer::new);
    &ANALYZER
}

/// Patterns per set (two sets today). One set over all of them needs more
/// automaton states than its cache holds (each pattern's counters multiply
/// the others') and keeps building states on new text; more, smaller sets
/// each cost a pass. On the dense corpus of `bench/pii.sh`: one set 108,000
/// records/s, two 153,000, four 133,000.
const SET_SIZE: usize = 27;
/// The lazy DFA cache of each set (per thread): at 4 MiB the sets rebuild
/// states again and again (112,000 records/s).
const SET_DFA_BYTES: usize = 16 << 20;

/// Scores below this are not reported.
pub const MIN_SCORE: f64 = 0.3;

impl Analyzer {
    /// Compiles every recogniser.
    pub fn new() -> Self {
        let compile = |r: recognizers::Recognizer| {
            // A literal prefilter helps only where the literal is rare
            // (an `@`); most patterns' literals are a space or a dash,
            // and a search stopping at each of them is several times
            // slower than the automaton alone.
            let re = Regex::builder()
                .configure(Regex::config().auto_prefilter(r.gate.is_some()))
                .build(r.pattern)
                .unwrap_or_else(|e| unreachable!("built-in pattern compiles: {e}"));
            (r, re)
        };
        let (strong, weak): (Vec<_>, Vec<_>) = recognizers::all()
            .into_iter()
            .filter(|r| r.base_score >= MIN_SCORE || !r.context.is_empty())
            .partition(|r| r.base_score >= MIN_SCORE);
        let (gated, strong): (Vec<_>, Vec<_>) = strong.into_iter().partition(|r| r.gate.is_some());
        let sets = strong
            .chunks(SET_SIZE)
            .map(|group| {
                Regex::builder()
                    .configure(
                        Regex::config()
                            .match_kind(regex_automata::MatchKind::All)
                            .auto_prefilter(false)
                            .hybrid_cache_capacity(SET_DFA_BYTES),
                    )
                    .build_many(&group.iter().map(|r| r.pattern).collect::<Vec<_>>())
                    .unwrap_or_else(|e| unreachable!("built-in patterns compile: {e}"))
            })
            .collect();
        let mut words: Vec<&str> = Vec::new();
        let mut wakes: Vec<Vec<usize>> = Vec::new();
        for (i, r) in weak.iter().enumerate() {
            for w in r.context {
                let w = w.trim();
                match words.iter().position(|x| *x == w) {
                    Some(j) => wakes[j].push(i),
                    None => {
                        words.push(w);
                        wakes.push(vec![i]);
                    }
                }
            }
        }
        // Birth words (for dates of birth) are looked for in the same pass:
        // they wake no recogniser, only the date search.
        let birth = words.len();
        words.extend(recognizers::BIRTH_CONTEXT.iter().map(|w| w.trim()));
        let (variants, of_word): (Vec<String>, Vec<usize>) = words
            .iter()
            .enumerate()
            .flat_map(|(i, w)| case_variants(w).into_iter().map(move |v| (v, i)))
            .unzip();
        if weak.len() > Woken::MAX {
            unreachable!("more weak recognisers than a Woken holds");
        }
        let wakes = of_word
            .iter()
            .map(|&i| Woken {
                weak: wakes
                    .get(i)
                    .map_or(0, |rs| rs.iter().fold(0, |m, r| m | 1 << r)),
                birth: i >= birth,
            })
            .collect();
        let context_words = AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(&variants)
            .unwrap_or_else(|e| unreachable!("context words compile: {e}"));
        Analyzer {
            sets,
            strong: strong.into_iter().map(compile).collect(),
            gated: gated.into_iter().map(compile).collect(),
            weak: weak.into_iter().map(compile).collect(),
            context_words,
            wakes,
        }
    }

    /// Every finding in `text`, non-overlapping, in order of position.
    ///
    /// Text is read as people type it: no-break and thin spaces count as
    /// spaces, typographic dashes as hyphens, full-width forms as ASCII,
    /// and zero-width characters and soft hyphens as nothing; a finding
    /// covers the original characters.
    pub fn analyze(&self, text: &str) -> Vec<Finding> {
        let Some((plain, origin)) = normalise(text) else {
            return self.analyze_plain(text);
        };
        let index = CharIndex::new(text);
        let at = |i: usize| origin.get(i).copied().unwrap_or(text.len());
        self.analyze_plain(&plain)
            .into_iter()
            .map(|f| {
                let bytes = at(f.bytes.start)..at(f.bytes.end);
                Finding {
                    start: index.char_at(bytes.start),
                    end: index.char_at(bytes.end),
                    bytes,
                    ..f
                }
            })
            .collect()
    }

    fn analyze_plain(&self, text: &str) -> Vec<Finding> {
        let mut cands = Vec::with_capacity(16);
        let mut matched = regex_automata::PatternSet::new(SET_SIZE);
        if text.len() < WHOLE_BELOW {
            self.scan(text, 0..text.len(), &mut matched, &mut cands);
        } else {
            for w in windows(text) {
                self.scan(text, w, &mut matched, &mut cands);
            }
        }
        let kept = resolve(cands);
        let index = CharIndex::new(text);
        kept.into_iter()
            .filter(|c| c.score >= MIN_SCORE)
            .map(|c| Finding {
                entity_type: c.entity,
                start: index.char_at(c.bytes.start),
                end: index.char_at(c.bytes.end),
                score: (c.score * 100.0).round() / 100.0,
                bytes: c.bytes,
            })
            .collect()
    }

    /// Adds the candidates of every recogniser in window `w` of `text`
    /// (`matched`: room for one set's matches, reused).
    fn scan(
        &self,
        text: &str,
        w: Range<usize>,
        matched: &mut regex_automata::PatternSet,
        cands: &mut Vec<Candidate>,
    ) {
        // Matches may look before the window (word boundaries, context
        // words) but not after it.
        let hay = &text[..w.end];
        let mut first = 0;
        for set in &self.sets {
            matched.clear();
            set.which_overlapping_matches(&Input::new(hay).range(w.start..), matched);
            for i in matched.iter() {
                let (rec, re) = &self.strong[first + i.as_usize()];
                candidates(hay, w.start, rec, re, cands);
            }
            first += set.pattern_len();
        }
        let window = &hay.as_bytes()[w.clone()];
        for (rec, re) in &self.gated {
            if rec.gate.is_some_and(|pass| pass(window)) {
                candidates(hay, w.start, rec, re, cands);
            }
        }
        let woken = self.woken(&text[w.clone()]);
        for i in woken.weak() {
            let (rec, re) = &self.weak[i];
            candidates(hay, w.start, rec, re, cands);
        }
        // Phone numbers and dates come last: they do not take digits
        // another finding claims.
        let digits = window.iter().filter(|b| b.is_ascii_digit()).count();
        if digits >= 7 {
            recognizers::phone_numbers(text, w.clone(), cands);
        }
        if digits >= 5 && woken.birth {
            recognizers::dates_of_birth(text, w, cands);
        }
    }

    /// The weak recognisers one of whose context words occurs in `text`
    /// (in any case), and whether a birth word does.
    fn woken(&self, text: &str) -> Woken {
        self.context_words
            .find_overlapping_iter(text)
            .fold(Woken::default(), |w, m| {
                let more = self.wakes[m.pattern().as_usize()];
                Woken {
                    weak: w.weak | more.weak,
                    birth: w.birth || more.birth,
                }
            })
    }
}

/// What context words wake: weak recognisers (a bit each, by index) and
/// the date-of-birth search.
#[derive(Clone, Copy, Debug, Default)]
struct Woken {
    weak: u128,
    birth: bool,
}

impl Woken {
    /// Weak recognisers a `Woken` can hold.
    const MAX: usize = 128;

    /// The indices of the weak recognisers woken, in order.
    fn weak(self) -> impl Iterator<Item = usize> {
        let mut left = self.weak;
        std::iter::from_fn(move || {
            (left != 0).then(|| {
                let i = left.trailing_zeros() as usize;
                left &= left - 1;
                i
            })
        })
    }
}

/// `word` (lower case) in each case its non-ASCII letters can be written
/// in, for a search that folds only ASCII letters: `født`, `fØdt`.
fn case_variants(word: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for c in word.chars() {
        let mut upper = c.to_uppercase();
        let other = match (upper.next(), upper.next()) {
            (Some(u), None) if !c.is_ascii() && u != c => Some(u),
            _ => None,
        };
        out = out
            .into_iter()
            .flat_map(|v| {
                let with = |x: char| {
                    let mut v = v.clone();
                    v.push(x);
                    v
                };
                std::iter::once(with(c)).chain(other.map(with))
            })
            .collect();
    }
    out
}

/// What a character is read as, if not itself (see [`Analyzer::analyze`]).
fn plain(c: char) -> Option<Option<char>> {
    Some(match c {
        '\u{a0}' | '\u{2007}' | '\u{2009}' | '\u{202f}' | '\u{3000}' => Some(' '),
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Some('-'),
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}' => None,
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xff01 + 0x21),
        _ => return None,
    })
}

/// `text` as the recognisers read it, with each of its bytes' offset in
/// `text`; `None` when it already is.
fn normalise(text: &str) -> Option<(String, Vec<usize>)> {
    // Every character `plain` changes starts with one of these bytes.
    let b = text.as_bytes();
    let changes = |i: usize| text.get(i..).and_then(|s| s.chars().next()).and_then(plain);
    if !memchr::memchr3_iter(0xC2, 0xE2, 0xEF, b).any(|i| changes(i).is_some())
        && !memchr::memchr_iter(0xE3, b).any(|i| changes(i).is_some())
    {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let r = match plain(c) {
            Some(r) => r,
            None => Some(c),
        };
        if let Some(r) = r {
            out.push(r);
            origin.extend(std::iter::repeat_n(i, r.len_utf8()));
        }
    }
    Some((out, origin))
}

/// Bytes every identifier holds one of (all the recognised kinds have a
/// digit, an `@`, a `:`, or a dot between letters, as a domain has).
fn is_trigger(text: &[u8], i: usize) -> bool {
    match text[i] {
        b'.' => text.get(i + 1).is_some_and(u8::is_ascii_alphanumeric),
        b => TRIGGER[b as usize],
    }
}

/// The bytes [`is_trigger`] looks at.
static TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = true;
        b += 1;
    }
    t[b'@' as usize] = true;
    t[b':' as usize] = true;
    t[b'.' as usize] = true;
    t
};

/// How far around a trigger an identifier and the context words before it
/// may reach, in bytes (then out to the next whitespace).
const REACH_BEFORE: usize = 64;
const REACH_AFTER: usize = 64;
/// Texts this short are analysed whole.
const WHOLE_BELOW: usize = 512;

/// The parts of `text` the recognisers look at: around every byte that
/// can be part of an identifier, merged; prose without such bytes is
/// skipped (the prefilter that makes PII-sparse text fast).
fn windows(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while let Some(at) = b[i..].iter().position(|&c| TRIGGER[c as usize]) {
        i += at;
        if !is_trigger(b, i) {
            i += 1;
            continue;
        }
        let mut lo = i.saturating_sub(REACH_BEFORE);
        while lo > 0 && !b[lo - 1].is_ascii_whitespace() {
            lo -= 1;
        }
        let mut hi = (i + REACH_AFTER).min(b.len());
        while hi < b.len() && !b[hi].is_ascii_whitespace() {
            hi += 1;
        }
        match out.last_mut() {
            Some(last) if lo <= last.end => last.end = last.end.max(hi),
            _ => out.push(lo..hi),
        }
        i += 1;
        // Triggers inside this window extend it only past its end.
        while i < b.len() && i + REACH_AFTER <= hi {
            i += 1;
        }
    }
    out
}

/// Every valid finding of `rec` in `text` from `from` that could be reported.
fn candidates(
    text: &str,
    from: usize,
    rec: &recognizers::Recognizer,
    re: &Regex,
    out: &mut Vec<Candidate>,
) {
    let mut at = from;
    while let Some(m) = re.search(&Input::new(text).range(at..)) {
        match validated(text, trim(text, m.range(), rec.trim), rec) {
            Some(span) => {
                at = span.end.max(m.start() + 1);
                let score = boost(text, &span, rec.base_score, rec.context);
                // Below the threshold it would never be reported, and must
                // not claim digits a phone number needs.
                if score >= MIN_SCORE {
                    out.push(Candidate {
                        entity: rec.entity,
                        bytes: span,
                        claims: score > rec.base_score || score >= CLAIMS_DIGITS,
                        score,
                    });
                }
            }
            None if rec.atomic => at = m.end().max(m.start() + 1),
            // A failed match must not hide a valid one that starts inside
            // it: search again from the next character.
            None => at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8),
        }
        if at >= text.len() {
            break;
        }
    }
}

/// The span if it is a valid finding for `rec`; otherwise the longest valid
/// prefix that ends at a separator (a greedy pattern may have swallowed the
/// next group of digits), if any.
fn validated(
    text: &str,
    span: Range<usize>,
    rec: &recognizers::Recognizer,
) -> Option<Range<usize>> {
    let ok = |span: &Range<usize>| {
        boundary_ok(text, span)
            && (rec.validate)(&text[span.clone()])
            && !(rec.not_before_digits
                && text[span.end..]
                    .trim_start_matches([' ', '\t'])
                    .starts_with(|c: char| c.is_ascii_digit()))
            && !preceded_by(text, span.start, rec.not_after)
    };
    if ok(&span) {
        return Some(span);
    }
    let s = &text[span.clone()];
    s.char_indices()
        .rev()
        .filter(|&(i, c)| i > 0 && (c == ' ' || c == '-'))
        .map(|(i, _)| span.start..span.start + i)
        .find(ok)
}

/// Trims punctuation a pattern may swallow at the end (URLs); a closing
/// bracket only when the span does not open it (`http://[2001:db8::1]`).
fn trim(text: &str, mut span: Range<usize>, chars: &str) -> Range<usize> {
    while span.end > span.start {
        let s = &text[span.clone()];
        match s.chars().next_back() {
            Some(c) if chars.contains(c) => {
                let open = match c {
                    ')' => Some('('),
                    ']' => Some('['),
                    '}' => Some('{'),
                    _ => None,
                };
                if open.is_some_and(|o| s.matches(o).count() >= s.matches(c).count()) {
                    break;
                }
                span.end -= c.len_utf8();
            }
            _ => break,
        }
    }
    span
}

/// Rejects matches glued to letters or digits (`\b` in the regex crate is
/// Unicode-aware, but identifiers inside longer alphanumeric runs, e.g. a card
/// number inside a longer digit string, must not count).
fn boundary_ok(text: &str, span: &Range<usize>) -> bool {
    let mut before = text[..span.start].chars().rev();
    let mut after = text[span.end..].chars();
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let (b1, b2) = (before.next(), before.next());
    let (a1, a2) = (after.next(), after.next());
    // A dot or slash between alphanumerics continues the token
    // (`1.2.3.4.5`, the last group of `181/815/08155`).
    let dotted = |c: Option<char>, next: Option<char>| matches!(c, Some('.' | '/')) && alnum(next);
    !alnum(b1) && !alnum(a1) && !dotted(b1, b2) && !dotted(a1, a2)
}

/// How far before a finding context words are looked for, in bytes.
const CONTEXT_WINDOW: usize = 48;
/// What a context word adds to the score (as in Presidio).
const CONTEXT_BOOST: f64 = 0.35;

/// What each further context word, at another place, adds: "Philippine
/// passport" says more than "passport", and tells one country's passport
/// numbers from another's of the same shape.
const CONTEXT_MORE: f64 = 0.2;

/// Raises `score` for the context `words` that start, at a word start,
/// within the window before the span (like Presidio, only words before
/// count): [`CONTEXT_BOOST`] for the first, [`CONTEXT_MORE`] for each
/// other place a word starts.
fn boost(text: &str, span: &Range<usize>, score: f64, words: &[&str]) -> f64 {
    if words.is_empty() {
        return score;
    }
    let mut lo = span.start.saturating_sub(CONTEXT_WINDOW);
    while !text.is_char_boundary(lo) {
        lo -= 1;
    }
    let before = &text[lo..span.start];
    let mut ascii = [0u8; CONTEXT_WINDOW];
    let lower;
    let window: &str = if before.len() <= CONTEXT_WINDOW && before.is_ascii() {
        let w = &mut ascii[..before.len()];
        w.copy_from_slice(before.as_bytes());
        w.make_ascii_lowercase();
        std::str::from_utf8(w).unwrap_or_default()
    } else {
        lower = before.to_lowercase();
        &lower
    };
    // The places where a word starts with one of `words`.
    let mut n = 0;
    let mut in_word = false;
    for (i, c) in window.char_indices() {
        if !in_word && words.iter().any(|w| window[i..].starts_with(w)) {
            n += 1;
        }
        in_word = c.is_alphanumeric();
    }
    match n {
        0 => score,
        n => (score + CONTEXT_BOOST + CONTEXT_MORE * (n - 1) as f64).min(1.0),
    }
}

/// Whether the word right before `start` (skipping spaces and `:#.`) is one
/// of `words`: "order 1234567890" is an order number, not a phone number.
fn preceded_by(text: &str, start: usize, words: &[&str]) -> bool {
    if words.is_empty() {
        return false;
    }
    let head = text[..start].trim_end_matches(|c: char| c.is_whitespace() || ":#.°".contains(c));
    // No word of these lists is longer: looking further back would make
    // a long run of digits and dashes quadratic.
    let mut from = head.len().saturating_sub(LONGEST_WORD);
    while !head.is_char_boundary(from) {
        from += 1;
    }
    let tail = &head[from..];
    let word_start = tail
        .char_indices()
        .rev()
        .find(|&(_, c)| !c.is_alphanumeric() && c != '-')
        .map_or(0, |(i, c)| i + c.len_utf8());
    if word_start == 0 && from > 0 {
        return false; // a word longer than any in the lists
    }
    let word = &tail[word_start..];
    !word.is_empty()
        && if word.is_ascii() {
            words.iter().any(|w| w.eq_ignore_ascii_case(word))
        } else {
            words.contains(&word.to_lowercase().as_str())
        }
}

/// Longer than any word a `not_after` list holds, in bytes.
const LONGEST_WORD: usize = 32;

/// Keeps the best of overlapping candidates: highest score, then longest,
/// then first.
fn resolve(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    cands.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.bytes.end - b.bytes.start).cmp(&(a.bytes.end - a.bytes.start)))
            .then(a.bytes.start.cmp(&b.bytes.start))
    });
    let mut kept: Vec<Candidate> = Vec::with_capacity(cands.len());
    for c in cands {
        if kept
            .iter()
            .all(|k| c.bytes.end <= k.bytes.start || c.bytes.start >= k.bytes.end)
        {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| c.bytes.start);
    kept
}

/// Byte offset to character offset; counts on from the last offset asked
/// for, as findings come in order.
struct CharIndex<'a> {
    text: &'a str,
    ascii: bool,
    last: std::cell::Cell<(usize, usize)>,
}

impl<'a> CharIndex<'a> {
    fn new(text: &'a str) -> Self {
        CharIndex {
            text,
            ascii: text.is_ascii(),
            last: std::cell::Cell::new((0, 0)),
        }
    }

    fn char_at(&self, byte: usize) -> usize {
        if self.ascii {
            return byte;
        }
        let (mut from, mut chars) = self.last.get();
        if byte < from {
            (from, chars) = (0, 0);
        }
        let at = chars + self.text[from..byte].chars().count();
        self.last.set((byte, at));
        at
    }
}
