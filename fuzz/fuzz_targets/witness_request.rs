//! tlog-witness add-checkpoint request and response parsing: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlog::witness::{AddCheckpoint, parse_cosignatures};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = AddCheckpoint::parse(data) {
        assert_eq!(AddCheckpoint::parse(req.to_body().as_bytes()).unwrap(), req);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_cosignatures(text);
    }
});
