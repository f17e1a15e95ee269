//! Entry bundle and tile parsing: never panics; bundles round-trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlog::tile::{TileId, TileKind, parse_bundle, parse_hashes, push_entry};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_bundle(data) {
        let mut again = Vec::new();
        for e in &entries {
            push_entry(&mut again, e).unwrap();
        }
        assert_eq!(again, data);
    }
    let width = (data.len() / 32).clamp(1, 256) as u16;
    let id = TileId { kind: TileKind::Hashes(0), index: 0, width };
    let _ = parse_hashes(&id, data);
});
