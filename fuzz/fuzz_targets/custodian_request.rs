//! Everything the custodian parses from a caller: release (alone and
//! several), erasure and scan bodies, wrapped secrets, custodian public keys. Never panics; a parsed
//! body serialises and parses back to itself; an error never echoes the
//! input.
#![no_main]
use custody::protocol::{EraseRequest, ReleaseRequest, ReleasesRequest, ScanRequest, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse::<ReleaseRequest>(data) {
        Ok(req) => {
            let again = serde_json::to_vec(&req).unwrap();
            assert_eq!(parse::<ReleaseRequest>(&again).unwrap(), req);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.len() < 200 || data.len() < 200, "an error as long as its input");
        }
    }
    if let Ok(req) = parse::<EraseRequest>(data) {
        let again = serde_json::to_vec(&req).unwrap();
        assert_eq!(parse::<EraseRequest>(&again).unwrap(), req);
    }
    if let Ok(req) = parse::<ReleasesRequest>(data) {
        let again = serde_json::to_vec(&req).unwrap();
        assert_eq!(parse::<ReleasesRequest>(&again).unwrap(), req);
    }
    if let Ok(req) = parse::<ScanRequest>(data) {
        let again = serde_json::to_vec(&req).unwrap();
        assert_eq!(parse::<ScanRequest>(&again).unwrap(), req);
    }
    if let Ok(w) = custody::WrappedSecret::from_bytes(data) {
        assert_eq!(w.to_bytes(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(k) = custody::CustodianPublicKey::parse(text) {
            assert_eq!(custody::CustodianPublicKey::parse(&k.to_text()).unwrap(), k);
        }
    }
});
