//! Every step of shared/design/SCENARIO.md against the demo's policy
//! directory (examples/policy): the decision and the plan.

use std::path::Path;

use policy::catalog::DestinationClass;
use policy::{Action, Bundle, Decision, DecisionRequest, Error, decide};
use pseudo::Transform;
use time::macros::date;

fn bundle() -> &'static Bundle {
    static B: std::sync::OnceLock<Bundle> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        Bundle::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy")).unwrap()
    })
}

fn req(
    principal: &str,
    action: Action,
    region: &str,
    fields: &[&str],
    purpose: &str,
    basis: Option<&str>,
) -> DecisionRequest {
    DecisionRequest {
        principal: principal.into(),
        action,
        region: region.into(),
        fields: fields.iter().map(|s| s.parse().unwrap()).collect(),
        purpose: purpose.into(),
        destination: None,
        legal_basis: basis.map(str::to_owned),
        subject_count: 1,
    }
}

fn run(r: &DecisionRequest) -> Decision {
    decide(bundle(), r, date!(2026 - 11 - 24)).unwrap()
}

fn plan(d: &Decision, field: &str) -> Transform {
    d.plan
        .get(field)
        .cloned()
        .unwrap_or_else(|| panic!("{field} not in plan {:?}", d.plan))
}

#[test]
fn step1_app_ingests_in_the_home_region() {
    let d = run(&req(
        "app",
        Action::Ingest,
        "eu-fr",
        &["device.language", "profile.phone"],
        "",
        None,
    ));
    assert!(d.allow, "{d:?}");
    assert!(!d.transfer);
    assert_eq!(d.policies, vec!["app-ingests"]);
    // Anyone else may not ingest.
    let d = run(&req(
        "svc-reco-us",
        Action::Ingest,
        "eu-fr",
        &["device.language"],
        "",
        None,
    ));
    assert!(!d.allow);
}

#[test]
fn step2_reco_training_transfer_under_the_dpf_adequacy_decision() {
    let fields = [
        "account.user_id",
        "device.language",
        "device.os_version",
        "network.wifi_ssid",
        "social.friends",
        "social.contacts",
    ];
    for region in ["eu-fr", "eu-no"] {
        let mut r = req(
            "svc-reco-us",
            Action::Transfer,
            region,
            &fields,
            "reco-training",
            Some("adequacy:eu-us-dpf"),
        );
        r.subject_count = 2000;
        let d = run(&r);
        assert!(d.allow, "{d:?}");
        assert!(d.transfer);
        assert_eq!(
            (d.data_jurisdiction.as_str(), d.destination.as_str()),
            ("EEA", "US")
        );
        assert_eq!(d.destination_class, DestinationClass::Adequate);
        assert!(
            d.legal_basis
                .as_deref()
                .is_some_and(|b| b.starts_with("adequacy:eu-us-dpf (C(2023) 4745"))
        );
        assert_eq!(
            plan(&d, "account.user_id"),
            Transform::Token {
                domain: "people".into()
            }
        );
        assert_eq!(
            plan(&d, "social.friends"),
            Transform::Token {
                domain: "people".into()
            }
        );
        assert_eq!(
            plan(&d, "device.os_version"),
            Transform::TruncateVersion { parts: 1 }
        );
        assert_eq!(plan(&d, "device.language"), Transform::Keep);
        assert_eq!(plan(&d, "social.contacts"), Transform::Drop);
        assert_eq!(plan(&d, "network.wifi_ssid"), Transform::Drop);
        assert_eq!(d.policies, vec!["reco-training-transfers"]);
    }
    // Without naming the tool: denied.
    let d = run(&req(
        "svc-reco-us",
        Action::Transfer,
        "eu-fr",
        &fields,
        "reco-training",
        None,
    ));
    assert!(
        !d.allow && d.reasons[0].contains("must name its transfer tool"),
        "{d:?}"
    );
    // Another purpose: an undeclared one is denied without being named;
    // a declared one the principal may not use, naming both ids.
    let d = run(&req(
        "svc-reco-us",
        Action::Transfer,
        "eu-fr",
        &fields,
        "ads",
        Some("adequacy:eu-us-dpf"),
    ));
    assert!(!d.allow && d.reasons[0].contains("not declared"), "{d:?}");
    assert!(!d.reasons[0].contains("ads"), "{d:?}");
    let d = run(&req(
        "svc-reco-us",
        Action::Transfer,
        "eu-fr",
        &fields,
        "analytics",
        Some("adequacy:eu-us-dpf"),
    ));
    assert_eq!(
        d.reasons,
        vec!["principal svc-reco-us may not use purpose analytics"]
    );
}

#[test]
fn step3_beijing_is_denied_phone_numbers_and_contacts() {
    let fields = ["profile.phone", "social.contacts"];
    let d = run(&req(
        "eng-beijing",
        Action::Transfer,
        "eu-fr",
        &fields,
        "debugging",
        None,
    ));
    assert!(!d.allow);
    assert_eq!(d.destination, "CN");
    assert!(
        d.reasons[0].contains("must name its transfer tool"),
        "{d:?}"
    );
    assert!(d.plan.is_empty());
    // Naming a tool does not help: no adequacy, no signed SCCs, no BCRs.
    for basis in [
        "adequacy:eu-us-dpf",
        "scc-2021-module-1",
        "bcr-example",
        "derogation-explicit-consent",
    ] {
        let mut r = req(
            "eng-beijing",
            Action::Transfer,
            "eu-fr",
            &fields,
            "debugging",
            Some(basis),
        );
        r.subject_count = 500;
        let d = run(&r);
        assert!(!d.allow, "{basis}: {d:?}");
        assert!(
            d.reasons[0].starts_with("no valid transfer tool for CN"),
            "{d:?}"
        );
    }
}

#[test]
fn step4_beijing_gets_a_k_anonymous_aggregate() {
    let d = run(&req(
        "eng-beijing",
        Action::Aggregate,
        "eu-fr",
        &["device.os_version"],
        "analytics",
        None,
    ));
    assert!(d.allow, "{d:?}");
    assert!(d.transfer);
    assert_eq!(d.k, Some(10));
    assert_eq!(
        plan(&d, "device.os_version"),
        Transform::TruncateVersion { parts: 1 }
    );
    assert_eq!(
        d.legal_basis, None,
        "k-anonymous counts are not personal data"
    );
}

#[test]
fn step5_remote_view_is_a_transfer() {
    let fields = ["profile.address", "profile.phone"];
    let d = run(&req(
        "eng-beijing",
        Action::Read,
        "eu-fr",
        &fields,
        "support-ticket",
        None,
    ));
    assert!(!d.allow);
    assert!(d.transfer, "a read from China is a transfer");
    let d = run(&req(
        "support-dublin",
        Action::Read,
        "eu-fr",
        &fields,
        "support-ticket",
        None,
    ));
    assert!(d.allow, "{d:?}");
    assert!(!d.transfer, "Ireland is in the EEA");
    assert_eq!(plan(&d, "profile.phone"), Transform::Keep);
    assert_eq!(d.policies, vec!["support-reads-one-subject"]);
    // Support cannot bulk-read.
    let mut r = req(
        "support-dublin",
        Action::Read,
        "eu-fr",
        &fields,
        "support-ticket",
        None,
    );
    r.subject_count = 50;
    assert!(!run(&r).allow);
}

#[test]
fn steps7_and_8_export_and_erasure_by_the_dpo() {
    let d = run(&req(
        "dpo",
        Action::Export,
        "eu-fr",
        &[],
        "subject-request",
        None,
    ));
    assert!(d.allow, "{d:?}");
    assert_eq!(d.plan.len(), 10, "export covers every field");
    let d = run(&req(
        "dpo",
        Action::Erase,
        "eu-fr",
        &[],
        "subject-request",
        None,
    ));
    assert!(d.allow, "{d:?}");
    assert!(
        !run(&req(
            "support-dublin",
            Action::Erase,
            "eu-fr",
            &[],
            "subject-request",
            None
        ))
        .allow
    );
}

#[test]
fn reidentification_stays_in_the_home_jurisdiction() {
    let mut r = req(
        "dpo",
        Action::Reidentify,
        "eu-fr",
        &["account.user_id"],
        "reidentification",
        None,
    );
    assert!(run(&r).allow);
    r.destination = Some("US".into());
    let d = run(&r);
    assert!(
        !d.allow && d.reasons[0].contains("only inside the home region"),
        "{d:?}"
    );
}

#[test]
fn unknown_fields_and_regions_are_errors_placing_them_without_repeating_them() {
    let r = req(
        "dpo",
        Action::Read,
        "eu-fr",
        &["profile.phone", "profile.shoe_size", "health.pulse"],
        "x",
        None,
    );
    match decide(bundle(), &r, date!(2026 - 11 - 24)) {
        Err(Error::UnknownFields(p)) => {
            assert_eq!(p, [1, 2]);
            let said = Error::UnknownFields(p).to_string();
            assert!(said.contains("position(s) 1, 2"), "{said}");
            assert!(
                !said.contains("shoe_size"),
                "the caller's name repeated: {said}"
            );
        }
        other => panic!("{other:?}"),
    }
    let r = req("dpo", Action::Read, "mars-1", &["profile.phone"], "x", None);
    assert!(matches!(
        decide(bundle(), &r, date!(2026 - 11 - 24)),
        Err(Error::InvalidRequest(_))
    ));
    let d = run(&req(
        "mallory",
        Action::Read,
        "eu-fr",
        &["profile.phone"],
        "x",
        None,
    ));
    assert!(!d.allow && d.reasons[0].contains("unknown principal"));
}

#[test]
fn the_bundle_hash_is_stable_and_changes_with_any_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let again = Bundle::load(&dir).unwrap();
    assert_eq!(again.hash(), bundle().hash());
    assert_eq!(bundle().hash().len(), 64);
    assert!(bundle().law_is_default());
    assert!(bundle().canonical().contains("\"eu-us-dpf\""));
    assert!(!bundle().canonical().contains("RESIDENCY_TOKEN_X"));
}
