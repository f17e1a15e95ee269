//! Journal segment decoding: never panics; whole records re-encode to the
//! bytes they came from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlog::storage::journal::{Record, Segment};

fuzz_target!(|data: &[u8]| {
    if let Ok(segment) = Segment::decode(data) {
        let mut again = Vec::new();
        for r in &segment.records {
            Record::encode(&r.parts(), &mut again).unwrap();
        }
        assert_eq!(again, data[..data.len() - segment.torn_tail]);
    }
});
