//! A node's log entry (what a monitor reads from a log): never panics, and
//! whatever parses re-encodes canonically to something that parses to the
//! same entry, with one canonical form.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = entry::Entry::parse(data) {
        let canonical = entry.to_canonical();
        let again = entry::Entry::parse(&canonical).expect("canonical form parses");
        assert_eq!(again, entry);
        assert_eq!(again.to_canonical(), canonical);
    }
});
