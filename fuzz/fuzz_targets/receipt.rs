//! tlog-proof receipt parsing: never panics; what parses round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = tlog::Receipt::parse(text)
    {
        assert_eq!(tlog::Receipt::parse(&r.to_text()).unwrap(), r);
    }
});
