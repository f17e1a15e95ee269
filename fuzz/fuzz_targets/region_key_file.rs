//! A region's key file (`residency keys init`): never panics; what parses
//! has at least one KEK, each id once, and errors never quote a key.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match store::keys::FileKeyProvider::parse(std::path::Path::new("fuzz.keys"), text) {
        Ok(keys) => {
            let ids = keys.kek_ids();
            assert!(!ids.is_empty());
            let mut unique = ids.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), ids.len());
        }
        Err(e) => {
            let msg = e.to_string();
            for word in text.split_whitespace().filter(|w| w.len() >= 32) {
                assert!(!msg.contains(word), "an error quoted the file");
            }
        }
    }
});
