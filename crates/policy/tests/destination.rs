//! Where the caller is decides; a declared destination only adds
//! restrictions. Regression tests for a principal in Beijing that read
//! French users' phone numbers in clear by declaring `"destination": "FR"`,
//! and a property over principals × declared destinations × fields.

mod common;

use common::demo_sources;

use policy::catalog::Level;
use policy::law::Recipient;
use policy::{Action, Bundle, DecisionRequest, decide};
use proptest::prelude::*;
use pseudo::Transform;
use time::macros::date;

/// The demo's bundle with a permit-all policy and every principal holding
/// SCCs: only the built-in rules stand between a request and a release.
fn open_bundle() -> Bundle {
    let mut src = demo_sources();
    src.policies = vec![(
        "policies/open.cedar".into(),
        "permit (principal, action, resource);".into(),
    )];
    // Every principal holds SCCs and may use every purpose the demo declares.
    let every_purpose =
        "purposes = [\"analytics\", \"debugging\", \"reco-training\", \"support-ticket\"]";
    src.principals = src
        .principals
        .lines()
        .map(|l| {
            if l.starts_with("purposes =") {
                every_purpose
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "roles = [",
            "contracts = [\"scc-2021-module-1\"]\nroles = [",
        );
    Bundle::from_sources(src).unwrap()
}

fn request(principal: &str, destination: Option<&str>, fields: &[&str]) -> DecisionRequest {
    DecisionRequest {
        principal: principal.into(),
        action: Action::Transfer,
        region: "eu-fr".into(),
        fields: fields.iter().map(|f| f.parse().unwrap()).collect(),
        purpose: "debugging".into(),
        destination: destination.map(str::to_owned),
        legal_basis: None,
        subject_count: 1,
    }
}

#[test]
fn a_principal_in_beijing_declaring_france_is_still_a_transfer_to_china() {
    let bundle = Bundle::from_sources(demo_sources()).unwrap();
    for action in [Action::Transfer, Action::Read] {
        let mut req = request(
            "eng-beijing",
            Some("FR"),
            &["profile.phone", "profile.address"],
        );
        req.action = action;
        let d = decide(&bundle, &req, date!(2026 - 11 - 24)).unwrap();
        assert!(!d.allow, "{action:?}: {d:?}");
        assert!(d.transfer);
        assert_eq!(d.destinations, vec!["CN", "EEA"]);
    }
}

#[test]
fn a_declared_destination_adds_its_own_transfer_rules() {
    let bundle = open_bundle();
    // Dublin (in the EEA) declaring China: a transfer to China, whose
    // protected fields never leave in clear.
    let d = decide(
        &bundle,
        &DecisionRequest {
            legal_basis: Some("scc-2021-module-1".into()),
            ..request("support-dublin", Some("CN"), &["profile.phone"])
        },
        date!(2026 - 11 - 24),
    )
    .unwrap();
    assert!(d.allow && d.transfer, "{d:?}");
    assert_ne!(d.plan["profile.phone"], Transform::Keep);
    // The US recipient under DPF declaring China needs a tool valid for
    // China too: the DPF alone does not do.
    let d = decide(
        &bundle,
        &DecisionRequest {
            legal_basis: Some("adequacy:eu-us-dpf".into()),
            ..request("svc-reco-us", Some("CN"), &["device.language"])
        },
        date!(2026 - 11 - 24),
    )
    .unwrap();
    assert!(!d.allow, "{d:?}");
    assert_eq!(d.destinations, vec!["CN", "US"]);
}

#[test]
fn an_unknown_declared_destination_is_denied_without_echoing_it() {
    let bundle = open_bundle();
    for declared in ["ZZ", "fr", "EEA", "", "France"] {
        let d = decide(
            &bundle,
            &request("support-dublin", Some(declared), &["device.language"]),
            date!(2026 - 11 - 24),
        )
        .unwrap();
        assert!(!d.allow, "{declared:?}");
        if !declared.is_empty() {
            assert!(
                d.reasons.iter().all(|r| !r.contains(declared)),
                "{:?}",
                d.reasons
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// For every principal and every declared destination: nothing personal
    /// crosses toward the principal's own jurisdiction without a tool valid
    /// there, and nothing protected leaves in clear toward a jurisdiction
    /// without adequacy for the recipient — judged from the configuration
    /// (the principal's location, the law table), never from the claim.
    #[test]
    fn a_declared_destination_never_removes_a_restriction(
        principal in prop::sample::select(vec!["app", "svc-reco-us", "eng-beijing", "support-dublin", "dpo"]),
        declared in prop::option::of(prop::sample::select(vec!["FR", "DE", "IE", "NO", "US", "CN", "GB", "JP", "ZZ", "fr", "EEA", ""])),
        basis in prop::option::of(prop::sample::select(vec!["scc-2021-module-1", "adequacy:eu-us-dpf", "adequacy:japan"])),
        action in prop::sample::select(vec![Action::Read, Action::Transfer, Action::Export, Action::Aggregate]),
        fields in prop::sample::subsequence(vec!["profile.phone", "profile.address", "social.contacts", "network.ip", "device.language", "account.user_id"], 1..6),
        open: bool,
    ) {
        let bundle = if open { open_bundle() } else { Bundle::from_sources(demo_sources()).unwrap() };
        let date = date!(2026 - 11 - 24);
        let req = DecisionRequest {
            action,
            legal_basis: basis.map(str::to_owned),
            ..request(principal, declared, &fields)
        };
        let d = decide(&bundle, &req, date).unwrap();
        let p = &bundle.principals.principals[principal];
        let truth = bundle.law.jurisdiction_of(&p.location).unwrap();
        let r = Recipient {
            organisation: &p.organisation,
            group: p.group.as_deref(),
            sector: p.sector.as_deref(),
            certifications: &p.certifications,
            contracts: &p.contracts,
        };
        let mut reached = vec![truth];
        if let Some(j) = declared.and_then(|c| bundle.law.jurisdiction_of(c)) {
            reached.push(j);
        }
        if d.allow {
            prop_assert!(declared.is_none_or(|c| bundle.law.jurisdiction_of(c).is_some()));
            for j in reached.into_iter().filter(|j| *j != "EEA") {
                prop_assert!(d.transfer, "toward {} but not a transfer", j);
                let personal = fields.iter().any(|f| {
                    let (ds, n) = f.split_once('.').unwrap();
                    bundle.catalog.field(ds, n).unwrap().level >= Level::Personal
                });
                if personal && action != Action::Aggregate {
                    let b = basis.expect("a transfer of personal data without a tool");
                    prop_assert!(bundle.law.check_basis(b, j, &r, 1, date).is_ok(), "{} not valid toward {}", b, j);
                }
                if bundle.law.adequacy_for(j, &r, date).is_none() {
                    for (f, t) in &d.plan {
                        let (ds, n) = f.split_once('.').unwrap();
                        if bundle.catalog.field(ds, n).unwrap().level == Level::Protected {
                            prop_assert_ne!(t, &Transform::Keep, "{} in clear toward {}", f, j);
                        }
                    }
                }
            }
        }
    }
}
