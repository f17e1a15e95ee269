//! Policy bundles with one file replaced by arbitrary text (catalog, law
//! table, principals, regions or a Cedar policy file), and decision requests
//! from arbitrary JSON: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use policy::{Bundle, DecisionRequest, Sources, decide};

const CATALOG: &str = include_str!("../../examples/policy/catalog.toml");
const PRINCIPALS: &str = include_str!("../../examples/policy/principals.toml");
const REGIONS: &str = include_str!("../../examples/policy/regions.toml");
const ACCESS: &str = include_str!("../../examples/policy/policies/access.cedar");

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut src = Sources {
        catalog: CATALOG.into(),
        law: None,
        principals: PRINCIPALS.into(),
        regions: REGIONS.into(),
        policies: vec![("policies/access.cedar".into(), ACCESS.into())],
    };
    match which % 6 {
        0 => src.catalog = text.into(),
        1 => src.law = Some(text.into()),
        2 => src.principals = text.into(),
        3 => src.regions = text.into(),
        4 => src.policies.push(("policies/fuzz.cedar".into(), text.into())),
        _ => {
            static B: std::sync::OnceLock<Bundle> = std::sync::OnceLock::new();
            let b = B.get_or_init(|| Bundle::from_sources(src.clone()).unwrap());
            if let Ok(req) = serde_json::from_str::<DecisionRequest>(text) {
                let _ = decide(b, &req, time::macros::date!(2026 - 11 - 24));
            }
            return;
        }
    }
    let _ = Bundle::from_sources(src);
});
