//! Signed-note parsing: never panics; what parses re-serializes identically.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = tlog::Note::parse(data) {
        assert_eq!(note.to_text().as_bytes(), data);
        let _ = note.verify::<tlog::Verifier>(&[]);
    }
});
