//! Proof verification on arbitrary sizes and hashes: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlog::Hash;
use tlog::merkle::{verify_consistency, verify_inclusion};

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let a = u64::from_le_bytes(data[0..8].try_into().unwrap());
    let b = u64::from_le_bytes(data[8..16].try_into().unwrap());
    let hashes: Vec<Hash> = data[16..].chunks_exact(32).map(|c| Hash::from_slice(c).unwrap()).collect();
    let (first, rest) = match hashes.split_first() {
        Some((f, r)) => (*f, r),
        None => (Hash::default(), &[][..]),
    };
    let _ = verify_inclusion(&first, a, b, rest, &first);
    let _ = verify_consistency(a, b, rest, &first, &first);
});
