//! A region's request bodies as the HTTP edge parses them (a
//! `dataset.field` into a `policy::FieldRef`): never panics, and every
//! field reference parsed is two catalog names that print back as given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use node::region::{AggregateRequest, ReadRequest, ReidentifyRequest, TransferRequest};
use policy::FieldRef;

fn check(f: &FieldRef) {
    assert!(f.as_str().len() <= FieldRef::MAX_BYTES);
    assert!(policy::is_catalog_name(f.dataset()) && policy::is_catalog_name(f.field()));
    assert_eq!(format!("{}.{}", f.dataset(), f.field()), f.as_str());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(f) = text.parse::<FieldRef>() {
            check(&f);
            assert_eq!(f.as_str(), text);
        }
    }
    if let Ok(r) = serde_json::from_slice::<ReadRequest>(data) {
        r.fields.iter().for_each(check);
    }
    if let Ok(r) = serde_json::from_slice::<TransferRequest>(data) {
        r.fields.iter().for_each(check);
        r.filter.iter().flat_map(|f| f.keys()).for_each(check);
    }
    if let Ok(r) = serde_json::from_slice::<AggregateRequest>(data) {
        r.group_by.iter().for_each(check);
    }
    if let Ok(r) = serde_json::from_slice::<ReidentifyRequest>(data) {
        check(&r.field);
    }
});
