//! Redaction plans and transforms from untrusted JSON: never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(plan) = serde_json::from_slice::<pseudo::pii::RedactionPlan>(data) {
        let _ = plan.check();
    }
    if let Ok(t) = serde_json::from_slice::<pseudo::Transform>(data) {
        let keys = pseudo::Keys::derive(1, &[1; 32]);
        let _ = t.apply(&keys, "2024-03-01", pseudo::Context { subject: Some("s"), label: None });
        let _ = t.apply(&keys, "48.85,2.35", pseudo::Context::default());
    }
});
