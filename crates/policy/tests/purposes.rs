//! Purposes are ids declared in the bundle, and legal bases ids of the law
//! table: loading, hashing, and what decisions say about them.

mod common;

use common::{demo_dir, demo_sources};
use std::path::Path;

use policy::{Action, Bundle, DecisionRequest, decide};
use time::macros::date;

fn req(principal: &str, action: Action, purpose: &str) -> DecisionRequest {
    DecisionRequest {
        principal: principal.into(),
        action,
        region: "eu-fr".into(),
        fields: vec!["device.language".parse().unwrap()],
        purpose: purpose.into(),
        destination: None,
        legal_basis: None,
        subject_count: 1,
    }
}

#[test]
fn the_demo_declares_the_purposes_its_principals_use() {
    let b = Bundle::load(&demo_dir()).unwrap();
    for p in ["reco-training", "analytics", "debugging", "support-ticket"] {
        assert!(b.declares_purpose(p), "{p}");
    }
    assert!(!b.declares_purpose(policy::purpose::SUBJECT_REQUEST));
    assert_eq!(
        b.principals.principals["svc-reco-us"].purposes,
        vec!["reco-training"]
    );
    // They are part of the logged bundle, and come back from it.
    assert!(b.canonical().contains("\"purposes\""));
    let again = Bundle::from_canonical(b.canonical()).unwrap();
    assert_eq!(again.hash(), b.hash());
    assert_eq!(again.catalog.purposes, b.catalog.purposes);
}

#[test]
fn a_principal_naming_an_undeclared_purpose_fails_to_load_naming_file_and_principal() {
    let mut src = demo_sources();
    src.principals = src.principals.replace(
        "purposes = [\"support-ticket\"]\n\n[principals.dpo]",
        "purposes = [\"support-ticket\", \"marketing\"]\n\n[principals.dpo]",
    );
    let err = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(
        err.contains("principals.toml")
            && err.contains("principal support-dublin")
            && err.contains("marketing")
            && err.contains("catalog.toml"),
        "{err}"
    );
}

#[test]
fn a_purpose_id_that_is_built_in_or_not_an_id_fails_to_load_naming_it() {
    for (declared, says) in [
        ("subject-request", "built in"),
        ("\"Call Me\"", "not a purpose id"),
        (&"x".repeat(65), "not a purpose id"),
    ] {
        let mut src = demo_sources();
        src.catalog = format!(
            "[purposes.{declared}]\ndescription = \"x\"\n\n{}",
            src.catalog
        );
        let err = Bundle::from_sources(src).unwrap_err().to_string();
        assert!(err.contains("catalog.toml") && err.contains(says), "{err}");
    }
}

/// A bundle logged before purposes existed (the demo's, as it was) still
/// rebuilds to the hash it was logged with, so its log replays.
#[test]
fn a_bundle_logged_before_purposes_rebuilds_to_its_hash() {
    let old = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundle-before-purposes.json"),
    )
    .unwrap();
    let b = Bundle::from_canonical(&old).unwrap();
    assert_eq!(
        b.hash(),
        "22300ecd25c74f2fb28a89ec7aff34819f99b84b8e5619fc189c506c349ba762"
    );
    assert_eq!(b.canonical(), old);
    assert!(b.catalog.purposes.is_empty());
    // Its decisions do not check purposes, as they did not then.
    let d = decide(
        &b,
        &req("dpo", Action::Read, "anything at all"),
        date!(2026 - 11 - 24),
    )
    .unwrap();
    assert!(d.allow, "{d:?}");
}

#[test]
fn an_undeclared_purpose_is_denied_without_being_named() {
    let b = Bundle::load(&demo_dir()).unwrap();
    let secret = "call jane.roe@example.com";
    let d = decide(
        &b,
        &req("support-dublin", Action::Read, secret),
        date!(2026 - 11 - 24),
    )
    .unwrap();
    assert!(!d.allow);
    assert_eq!(
        d.reasons,
        vec!["the purpose is not declared in the bundle's catalog"]
    );
}

#[test]
fn a_declared_purpose_the_principal_may_not_use_is_denied_naming_both_ids() {
    let b = Bundle::load(&demo_dir()).unwrap();
    let d = decide(
        &b,
        &req("support-dublin", Action::Read, "reco-training"),
        date!(2026 - 11 - 24),
    )
    .unwrap();
    assert!(!d.allow);
    assert_eq!(
        d.reasons,
        vec!["principal support-dublin may not use purpose reco-training"]
    );
}

#[test]
fn built_in_purposes_serve_only_their_actions() {
    let b = Bundle::load(&demo_dir()).unwrap();
    let day = date!(2026 - 11 - 24);
    let mut export = req("dpo", Action::Export, policy::purpose::SUBJECT_REQUEST);
    export.fields.clear();
    assert!(decide(&b, &export, day).unwrap().allow);
    let reid = req("dpo", Action::Reidentify, policy::purpose::REIDENTIFICATION);
    assert!(decide(&b, &reid, day).unwrap().allow);
    let d = decide(
        &b,
        &req("dpo", Action::Read, policy::purpose::SUBJECT_REQUEST),
        day,
    )
    .unwrap();
    assert!(!d.allow && d.reasons[0].contains("built in"), "{d:?}");
}

#[test]
fn a_legal_basis_is_known_only_as_an_id_of_the_law_table_and_never_echoed() {
    let b = Bundle::load(&demo_dir()).unwrap();
    assert!(b.law.knows_basis("adequacy:eu-us-dpf"));
    assert!(b.law.knows_basis("scc-2021-module-1"));
    for unknown in [
        "adequacy:",
        "adequacy:jane.roe@example.com",
        "eu-us-dpf",
        "jane.roe@example.com",
        "",
    ] {
        assert!(!b.law.knows_basis(unknown), "{unknown}");
    }
    // Decided anyway (a replay, the CLI), the reason does not repeat it.
    for basis in ["adequacy:jane.roe@example.com", "jane.roe@example.com"] {
        let mut r = req("svc-reco-us", Action::Transfer, "reco-training");
        r.legal_basis = Some(basis.into());
        let d = decide(&b, &r, date!(2026 - 11 - 24)).unwrap();
        assert!(!d.allow);
        assert!(
            d.reasons.iter().all(|r| !r.contains("jane.roe")),
            "{:?}",
            d.reasons
        );
    }
}
