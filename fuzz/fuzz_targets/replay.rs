//! What a monitor reads from a log it does not trust: arbitrary entries
//! replayed after the example bundle, and arbitrary logged bundles. Findings
//! or errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use monitor::replay::Replayer;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            let _ = policy::Bundle::from_canonical(text);
        }
        return;
    }
    static BUNDLE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (hash, content) = BUNDLE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy");
        let b = policy::Bundle::load(&dir).unwrap();
        (b.hash().to_owned(), b.canonical().to_owned())
    });
    let mut r = Replayer::new("eu-fr");
    r.add_bundle(hash, content).unwrap();
    let out = r.replay(7, rest);
    for f in &out.findings {
        assert_eq!(f.index, Some(7));
        assert!(!f.message.is_empty());
    }
});
