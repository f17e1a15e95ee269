//! Conformance: RFC 4231 (HMAC-SHA-256), RFC 5297 (AES-SIV) and the NIST
//! SP 800-38G FF1 samples 1–9; then the behaviour of every transform.

use pseudo::fpe::{Alphabet, Ff1Key};
use pseudo::generalise::{self, DateUnit};
use pseudo::token::{SivKey, TokenKey, hmac_sha256, token_version};
use pseudo::{Context, Error, Keys, Transform};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rfc4231_hmac_sha256() {
    let long_key = vec![0xaa; 131];
    let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ((1..=25).collect(), vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (vec![0x0c; 20], b"Test With Truncation".to_vec(), "a3b6167473100ee06e0c796c2955552b"),
        (long_key.clone(), b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (long_key, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ];
    for (i, (key, data, want)) in cases.iter().enumerate() {
        let want = unhex(want);
        // Test case 5 is truncated to 128 bits.
        assert_eq!(
            &hmac_sha256(key, data)[..want.len()],
            &want[..],
            "RFC 4231 test case {}",
            i + 1
        );
    }
}

#[test]
fn rfc5297_aes_siv() {
    use aes_siv::KeyInit as _;
    use aes_siv::siv::Aes128Siv;
    // A.1 Deterministic Authenticated Encryption.
    let key = unhex("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
    let ad = unhex("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627");
    let pt = unhex("11223344 55667788 99aabbcc ddee");
    let mut siv = Aes128Siv::new_from_slice(&key).unwrap();
    let ct = siv.encrypt([&ad], &pt).unwrap();
    assert_eq!(
        ct,
        unhex("85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c")
    );
    assert_eq!(siv.decrypt([&ad], &ct).unwrap(), pt);
    // A.2 Nonce-Based Authenticated Encryption (nonce as the last header).
    let key = unhex("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f");
    let ad1 = unhex(
        "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100",
    );
    let ad2 = unhex("10203040 50607080 90a0");
    let nonce = unhex("09f91102 9d74e35b d84156c5 635688c0");
    let pt = unhex(
        "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553",
    );
    let mut siv = Aes128Siv::new_from_slice(&key).unwrap();
    let ct = siv.encrypt([&ad1[..], &ad2[..], &nonce[..]], &pt).unwrap();
    assert_eq!(
        ct,
        unhex(
            "7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d"
        )
    );
}

#[test]
fn nist_ff1_samples_1_to_9() {
    let k128 = "2B7E151628AED2A6ABF7158809CF4F3C";
    let k192 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F";
    let k256 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";
    let t0 = "";
    let t10 = "39383736353433323130";
    let t11 = "3737373770717273373737";
    let d = "0123456789";
    let a = "0123456789abcdefghi";
    let samples = [
        (k128, t0, 10, d, "2433477484"),
        (k128, t10, 10, d, "6124200773"),
        (k128, t11, 36, a, "a9tv40mll9kdu509eum"),
        (k192, t0, 10, d, "2830668132"),
        (k192, t10, 10, d, "2496655549"),
        (k192, t11, 36, a, "xbj3kv35jrawxv32ysr"),
        (k256, t0, 10, d, "6657667009"),
        (k256, t10, 10, d, "1001623463"),
        (k256, t11, 36, a, "xs8a0azh2avyalyzuwd"),
    ];
    for (i, (key, tweak, radix, pt, ct)) in samples.into_iter().enumerate() {
        let key = Ff1Key::from_slice(&unhex(key)).unwrap();
        let alphabet = if radix == 10 {
            Alphabet::digits()
        } else {
            Alphabet::base36_lower()
        };
        let tweak = unhex(tweak);
        assert_eq!(
            key.encrypt(&alphabet, &tweak, pt).unwrap(),
            ct,
            "FF1 sample {}",
            i + 1
        );
        assert_eq!(
            key.decrypt(&alphabet, &tweak, ct).unwrap(),
            pt,
            "FF1 sample {} decrypt",
            i + 1
        );
    }
}

fn keys() -> Keys {
    Keys::derive(3, &[7u8; 32])
}

#[test]
fn one_way_tokens_are_stable_versioned_and_domain_separated() {
    let k = TokenKey::new(3, [1; 32]);
    let t = k.token("reco-training", "user-42");
    assert!(t.starts_with("t3."), "{t}");
    assert_eq!(t.len(), 3 + 22);
    assert_eq!(t, k.token("reco-training", "user-42"));
    assert_ne!(t, k.token("support", "user-42"));
    assert_ne!(t, k.token("reco-training", "user-43"));
    assert_ne!(
        t,
        TokenKey::new(4, [2; 32]).token("reco-training", "user-42")
    );
    // The domain is length-prefixed: ("ab", "c") and ("a", "bc") differ.
    assert_ne!(k.token("ab", "c"), k.token("a", "bc"));
    assert_eq!(token_version(&t), Some(3));
}

#[test]
fn reversible_tokens_open_only_with_the_same_key_and_domain() {
    let k = SivKey::new(2, [9; 64]);
    let t = k.seal("reid", "+33 6 12 34 56 78").unwrap();
    assert!(t.starts_with("r2."));
    assert_eq!(
        t,
        k.seal("reid", "+33 6 12 34 56 78").unwrap(),
        "deterministic"
    );
    assert_eq!(k.open("reid", &t).unwrap(), "+33 6 12 34 56 78");
    assert_eq!(
        k.open("other", &t),
        Err(Error::Undecryptable("reversible token"))
    );
    assert_eq!(
        SivKey::new(2, [8; 64]).open("reid", &t),
        Err(Error::Undecryptable("reversible token"))
    );
    assert!(matches!(
        SivKey::new(5, [9; 64]).open("reid", &t),
        Err(Error::KeyVersion {
            expected: 5,
            found: 2
        })
    ));
    let mut tampered = t.clone();
    tampered.push('A');
    assert!(k.open("reid", &tampered).is_err());
    assert!(k.open("reid", "garbage").is_err());
}

#[test]
fn fpe_keeps_layout_and_refuses_too_short_values() {
    let k = keys();
    let phone = "+33 6 12 34 56 78";
    let out = k.ff1.encrypt(&Alphabet::digits(), b"phone", phone).unwrap();
    assert_eq!(out.len(), phone.len());
    assert_eq!(
        out.chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>(),
        "+     "
    );
    assert_ne!(out, phone);
    assert_eq!(
        k.ff1.decrypt(&Alphabet::digits(), b"phone", &out).unwrap(),
        phone
    );
    assert!(matches!(
        k.ff1.encrypt(&Alphabet::digits(), b"", "12345"),
        Err(Error::InvalidParameter(_))
    ));
    assert!(Alphabet::new("aa").is_err());
}

#[test]
fn generalisations() {
    assert_eq!(generalise::bucket("37", 10).unwrap(), "30-39");
    assert_eq!(generalise::bucket("-3", 10).unwrap(), "-10--1");
    assert!(generalise::bucket("x", 10).is_err());
    assert_eq!(
        generalise::truncate_date("1987-06-14", DateUnit::Year).unwrap(),
        "1987"
    );
    assert_eq!(
        generalise::truncate_date("1987-06-14T10:00:00Z", DateUnit::Month).unwrap(),
        "1987-06"
    );
    assert!(generalise::truncate_date("14/06/1987", DateUnit::Year).is_err());
    assert_eq!(
        generalise::truncate_ip("192.168.17.42").unwrap(),
        "192.168.17.0/24"
    );
    assert_eq!(
        generalise::truncate_ip("2001:db8:1234:5678::1").unwrap(),
        "2001:db8:1234::/48"
    );
    assert!(generalise::truncate_ip("300.1.1.1").is_err());
    assert_eq!(generalise::truncate_version("17.4.1", 1).unwrap(), "17");
    assert_eq!(generalise::truncate_version("17.4.1", 2).unwrap(), "17.4");
    assert_eq!(generalise::truncate_postcode("75011", 2).unwrap(), "75");
    assert_eq!(generalise::truncate_postcode("SW1A 1AA", 3).unwrap(), "SW1");
    assert_eq!(generalise::geohash(48.8566, 2.3522, 5).unwrap(), "u09tv");
    assert_eq!(
        generalise::coarsen_grid(48.8566, 2.3522, 0.5).unwrap(),
        (48.5, 2.0)
    );
    assert!(generalise::geohash(91.0, 0.0, 5).is_err());
}

#[test]
fn date_shift_is_keyed_per_subject_and_keeps_intervals() {
    let k = keys();
    let shift = Transform::ShiftDate { max_days: 30 };
    let a = |subject: &str, date: &str| -> String {
        shift
            .apply(
                &k,
                date,
                Context {
                    subject: Some(subject),
                    label: None,
                },
            )
            .unwrap()
            .unwrap()
    };
    let d1 = a("subject-1", "2024-03-01");
    let d2 = a("subject-1", "2024-03-11");
    let parse = |s: &str| {
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
    };
    assert_eq!(
        (parse(&d2) - parse(&d1)).whole_days(),
        10,
        "same subject: intervals survive"
    );
    let within = (parse(&d1) - parse("2024-03-01")).whole_days().abs();
    assert!(within <= 30);
    let others: std::collections::HashSet<String> =
        (0..20).map(|i| a(&format!("s{i}"), "2024-03-01")).collect();
    assert!(others.len() > 5, "different subjects shift differently");
    assert!(shift.apply(&k, "2024-03-01", Context::default()).is_err());
}

#[test]
fn transforms_parse_from_plans_and_apply() {
    let k = keys();
    let t: Transform = serde_json::from_str(r#"{"op":"token","domain":"reco"}"#).unwrap();
    assert_eq!(
        t.apply(&k, "v", Context::default()).unwrap(),
        Some(k.token.token("reco", "v"))
    );
    let t: Transform = serde_json::from_str(r#"{"op":"mask","first":2,"last":2}"#).unwrap();
    assert_eq!(
        t.apply(&k, "0612345678", Context::default())
            .unwrap()
            .unwrap(),
        "06******78"
    );
    let t: Transform = serde_json::from_str(r#"{"op":"redact"}"#).unwrap();
    assert_eq!(
        t.apply(
            &k,
            "x",
            Context {
                subject: None,
                label: Some("<EMAIL_ADDRESS>")
            }
        )
        .unwrap()
        .unwrap(),
        "<EMAIL_ADDRESS>"
    );
    assert_eq!(
        Transform::Drop.apply(&k, "x", Context::default()).unwrap(),
        None
    );
    assert!(serde_json::from_str::<Transform>(r#"{"op":"teleport"}"#).is_err());
    assert!(serde_json::from_str::<Transform>(r#"{"op":"token","domain":"x","extra":1}"#).is_err());
    let t: Transform = serde_json::from_str(r#"{"op":"geohash","precision":4}"#).unwrap();
    assert_eq!(
        t.apply(&k, "48.8566, 2.3522", Context::default())
            .unwrap()
            .unwrap(),
        "u09t"
    );
}
