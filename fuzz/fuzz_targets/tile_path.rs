//! Tile and entry-bundle path parsing: never panics; what parses is the
//! canonical spelling.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data)
        && let Ok(id) = tlog::tile::TileId::parse_path(path)
    {
        assert_eq!(id.path(), path);
    }
});
