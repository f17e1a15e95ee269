//! Verifier and signer key parsing: never panics; what parses round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = tlog::Verifier::parse(text) {
        assert_eq!(tlog::Verifier::parse(&v.to_vkey()).unwrap(), v);
    }
    if let Ok(s) = tlog::Signer::parse(text) {
        assert_eq!(tlog::Signer::parse(&s.to_skey()).unwrap().to_skey(), s.to_skey());
    }
});
