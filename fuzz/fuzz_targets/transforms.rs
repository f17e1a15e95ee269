//! Every transform on arbitrary values, and token opening on arbitrary
//! tokens: never panic; reversible tokens and FF1 round-trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pseudo::fpe::Alphabet;
use pseudo::generalise::{self, DateUnit};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let keys = pseudo::Keys::derive(1, &[1; 32]);
    let _ = keys.siv.open("d", value);
    let sealed = keys.siv.seal("d", value).unwrap();
    assert_eq!(keys.siv.open("d", &sealed).unwrap(), value);
    if let Ok(ct) = keys.ff1.encrypt(&Alphabet::digits(), b"t", value) {
        assert_eq!(keys.ff1.decrypt(&Alphabet::digits(), b"t", &ct).unwrap(), value);
    }
    let _ = generalise::bucket(value, 10);
    let _ = generalise::truncate_date(value, DateUnit::Month);
    let _ = generalise::shift_date(&[0; 32], "s", value, 365);
    let _ = generalise::truncate_ip(value);
    let _ = generalise::truncate_version(value, 1);
    let _ = generalise::truncate_postcode(value, 3);
    let _ = generalise::parse_coordinates(value);
    let _ = pseudo::mask::mask(value, 2, 2, '*');
});
