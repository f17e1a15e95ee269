//! Checkpoint text and signed checkpoint parsing: never panics; what parses
//! round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cp) = tlog::Checkpoint::parse(text)
    {
        assert_eq!(cp.to_text(), text);
    }
    let _ = tlog::SignedCheckpoint::parse_unverified(data);
});
