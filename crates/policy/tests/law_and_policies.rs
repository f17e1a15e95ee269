//! Law-table edge cases (effective dates, scope attributes, expired
//! decisions), useful messages for broken configuration and policies, and
//! the property that no policy file can make a protected field leave in
//! clear toward a jurisdiction without adequacy.

mod common;

use common::{demo_dir, demo_sources};

use policy::law::{DEFAULT_LAW_TABLE, LawTable, Recipient};
use policy::{Action, Bundle, DecisionRequest, Error, decide};
use proptest::prelude::*;
use pseudo::Transform;
use time::macros::date;

fn law() -> LawTable {
    LawTable::from_toml("law.toml", DEFAULT_LAW_TABLE).unwrap()
}

fn recipient<'a>(
    certs: &'a [String],
    contracts: &'a [String],
    sector: Option<&'a str>,
) -> Recipient<'a> {
    Recipient {
        organisation: "Org",
        group: None,
        sector,
        certifications: certs,
        contracts,
    }
}

#[test]
fn adequacy_decisions_apply_only_between_their_dates() {
    let law = law();
    let dpf = vec!["EU-US DPF".to_string()];
    let r = recipient(&dpf, &[], Some("commercial"));
    assert!(
        law.check_basis("adequacy:eu-us-dpf", "US", &r, 100, date!(2023 - 07 - 10))
            .is_ok(),
        "first day"
    );
    let e = law
        .check_basis("adequacy:eu-us-dpf", "US", &r, 100, date!(2023 - 07 - 09))
        .unwrap_err();
    assert!(e.contains("not in force on 2023-07-09"), "{e}");
    // The Privacy Shield: valid in 2019, invalid from the Schrems II judgment on.
    let ps = vec!["EU-US Privacy Shield".to_string()];
    let r = recipient(&ps, &[], None);
    assert!(
        law.check_basis(
            "adequacy:eu-us-privacy-shield",
            "US",
            &r,
            1,
            date!(2019 - 01 - 01)
        )
        .is_ok()
    );
    assert!(
        law.check_basis(
            "adequacy:eu-us-privacy-shield",
            "US",
            &r,
            1,
            date!(2020 - 07 - 16)
        )
        .is_err(),
        "until is exclusive"
    );
    assert!(law.adequacy_for("US", &r, date!(2024 - 01 - 01)).is_none());
}

#[test]
fn adequacy_scope_attributes_are_checked() {
    let law = law();
    let none: Vec<String> = vec![];
    // DPF covers certified organisations only.
    let e = law
        .check_basis(
            "adequacy:eu-us-dpf",
            "US",
            &recipient(&none, &none, Some("commercial")),
            1,
            date!(2026 - 01 - 01),
        )
        .unwrap_err();
    assert!(
        e.contains("outside the scope") && e.contains("certified under EU-US DPF"),
        "{e}"
    );
    // Canada covers commercial organisations only.
    assert!(
        law.check_basis(
            "adequacy:canada",
            "CA",
            &recipient(&none, &none, Some("commercial")),
            1,
            date!(2026 - 01 - 01)
        )
        .is_ok()
    );
    let e = law
        .check_basis(
            "adequacy:canada",
            "CA",
            &recipient(&none, &none, Some("public")),
            1,
            date!(2026 - 01 - 01),
        )
        .unwrap_err();
    assert!(e.contains("commercial organisations"), "{e}");
    // A decision for another destination.
    let e = law
        .check_basis(
            "adequacy:japan",
            "US",
            &recipient(&none, &none, Some("private")),
            1,
            date!(2026 - 01 - 01),
        )
        .unwrap_err();
    assert!(e.contains("covers JP, not US"), "{e}");
}

#[test]
fn other_tools_need_a_contract_a_group_or_a_single_subject() {
    let law = law();
    let none: Vec<String> = vec![];
    let signed = vec!["scc-2021-module-1".to_string()];
    assert!(
        law.check_basis(
            "scc-2021-module-1",
            "CN",
            &recipient(&none, &signed, None),
            500,
            date!(2026 - 01 - 01)
        )
        .is_ok()
    );
    let e = law
        .check_basis(
            "scc-2021-module-1",
            "CN",
            &recipient(&none, &none, None),
            500,
            date!(2026 - 01 - 01),
        )
        .unwrap_err();
    assert!(e.contains("has not signed"), "{e}");
    // The 2010 SCCs expired on 27 December 2022.
    let old = vec!["scc-2010".to_string()];
    assert!(
        law.check_basis(
            "scc-2010",
            "CN",
            &recipient(&none, &old, None),
            1,
            date!(2022 - 12 - 26)
        )
        .is_ok()
    );
    assert!(
        law.check_basis(
            "scc-2010",
            "CN",
            &recipient(&none, &old, None),
            1,
            date!(2022 - 12 - 27)
        )
        .is_err()
    );
    // Derogations are occasional: one subject.
    assert!(
        law.check_basis(
            "derogation-explicit-consent",
            "CN",
            &recipient(&none, &none, None),
            1,
            date!(2026 - 01 - 01)
        )
        .is_ok()
    );
    let e = law
        .check_basis(
            "derogation-explicit-consent",
            "CN",
            &recipient(&none, &none, None),
            2,
            date!(2026 - 01 - 01),
        )
        .unwrap_err();
    assert!(e.contains("one person"), "{e}");
    assert!(
        law.check_basis(
            "nonsense",
            "CN",
            &recipient(&none, &none, None),
            1,
            date!(2026 - 01 - 01)
        )
        .is_err()
    );
}

#[test]
fn broken_law_tables_are_refused_with_the_reason() {
    let e = LawTable::from_toml("law.toml", "[jurisdictions.A]\nname='a'\ncountries=['FR']\n[jurisdictions.B]\nname='b'\ncountries=['FR']\n").unwrap_err();
    assert!(e.to_string().contains("FR is in both A and B"), "{e}");
    let e = LawTable::from_toml("law.toml", "[jurisdictions.A]\nname='a'\ncountries=['FR']\n[adequacy.x]\nreference='r'\ndestination='Z'\nfrom='2020-01-01'\n").unwrap_err();
    assert!(e.to_string().contains("unknown jurisdiction Z"), "{e}");
    let e = LawTable::from_toml("law.toml", "[jurisdictions.A]\nname='a'\ncountries=['FR']\n[adequacy.x]\nreference='r'\ndestination='A'\nfrom='01/01/2020'\n").unwrap_err();
    assert!(e.to_string().contains("is not a date"), "{e}");
}

#[test]
fn invalid_policies_stop_loading_with_file_and_line() {
    let mut src = demo_sources();
    src.policies.push((
        "policies/typo.cedar".into(),
        "permit (principal, action, resource)\nwhen { principal.rols.contains(\"x\") };\n".into(),
    ));
    let e = Bundle::from_sources(src).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Policies(_)));
    assert!(msg.contains("policies/typo.cedar:2:"), "{msg}");
    assert!(msg.contains("rols"), "{msg}");

    let mut src = demo_sources();
    src.policies.push((
        "policies/syntax.cedar".into(),
        "permit (principal, action, resource)\n\nwhen { true ;\n".into(),
    ));
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(msg.contains("policies/syntax.cedar:3:"), "{msg}");

    let mut src = demo_sources();
    src.policies.push((
        "policies/action.cedar".into(),
        "permit (principal, action == Residency::Action::\"fly\", resource);\n".into(),
    ));
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(
        msg.contains("policies/action.cedar:1:") && msg.contains("fly"),
        "{msg}"
    );

    let mut src = demo_sources();
    src.policies.push((
        "policies/dup.cedar".into(),
        "@id(\"dpo\")\npermit (principal, action, resource);\n".into(),
    ));
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(
        msg.contains("\"dpo\" is already used in policies/access.cedar"),
        "{msg}"
    );
}

#[test]
fn broken_configuration_names_the_file_and_the_problem() {
    let mut src = demo_sources();
    src.catalog.push_str("\n[datasets.x]\nmin_group = 2\n[datasets.x.fields.a]\ncategory='device'\nlevel='personal'\negress = { same = { op = 'keep' }, adequate = { op = 'keep' }, other = { op = 'keep' } }\n");
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(
        msg.contains("catalog.toml") && msg.contains("min_group 2 is below 5"),
        "{msg}"
    );
    let mut src = demo_sources();
    src.catalog = src
        .catalog
        .replace("level = \"protected\"", "level = \"secret\"");
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(
        msg.contains("catalog.toml") && msg.contains("secret"),
        "{msg}"
    );
    let mut src = demo_sources();
    src.principals = src.principals.replace("env:RESIDENCY_TOKEN_DPO", "hunter2");
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(
        msg.contains("never the secret itself") && !msg.contains("hunter2"),
        "{msg}"
    );
    let mut src = demo_sources();
    src.principals = src
        .principals
        .replace("location = \"CN\"", "location = \"XX\"");
    let msg = Bundle::from_sources(src).unwrap_err().to_string();
    assert!(msg.contains("eng-beijing is located in XX"), "{msg}");
}

/// Any permit-everything policy, in any form, cannot get a protected field
/// out in clear toward a jurisdiction without adequacy.
fn permissive_policy() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "permit (principal, action, resource);",
        "permit (principal, action == Residency::Action::\"transfer\", resource);",
        "permit (principal, action, resource) when { context.is_transfer };",
        "permit (principal, action, resource) when { context.levels.contains(\"protected\") };",
        "permit (principal, action in [Residency::Action::\"read\", Residency::Action::\"transfer\"], resource) unless { false };",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_policy_sends_protected_fields_in_clear_without_adequacy(
        policy in permissive_policy(),
        all_keep: bool,
        action in prop::sample::select(vec![Action::Read, Action::Transfer, Action::Export]),
        principal in prop::sample::select(vec!["eng-beijing", "svc-reco-us", "support-dublin"]),
        dest in prop::sample::select(vec!["CN", "RU", "IN", "BR", "US"]),
        fields in prop::sample::subsequence(vec!["profile.phone", "profile.address", "social.contacts", "network.ip", "device.language"], 1..5),
    ) {
        let mut src = demo_sources();
        src.policies = vec![("policies/open.cedar".into(), policy)];
        if all_keep {
            // A catalog that would send everything in clear everywhere.
            src.catalog = src.catalog.replace("{ op = \"drop\" }", "{ op = \"keep\" }").replace("egress.adequate = { op = \"token\", domain = \"phone\" }", "egress.adequate = { op = \"keep\" }");
        }
        // Every principal holds every tool, so the legal check passes.
        src.principals = src.principals.replace("roles = [", "contracts = [\"scc-2021-module-1\"]\nroles = [");
        // Every principal may use the purpose asked for.
        src.principals = src.principals.replace("purposes = [", "purposes = [\"debugging\", ");
        let bundle = Bundle::from_sources(src).unwrap();
        let req = DecisionRequest {
            principal: principal.into(),
            action,
            region: "eu-fr".into(),
            fields: fields.iter().map(|s| s.parse().unwrap()).collect(),
            purpose: "debugging".into(),
            destination: Some(dest.into()),
            legal_basis: Some("scc-2021-module-1".into()),
            subject_count: 1,
        };
        let d = decide(&bundle, &req, date!(2026 - 11 - 24)).unwrap();
        for (field, t) in &d.plan {
            let protected = field != "device.language";
            let adequate = dest == "US" && principal == "svc-reco-us";
            if protected && !adequate {
                prop_assert_ne!(t, &Transform::Keep, "{} in clear toward {}", field, dest);
            }
        }
    }
}

/// The property above is not vacuous: with a permit-all policy and signed
/// SCCs, the transfer to China is allowed, and the protected fields that the
/// catalog would keep are dropped by the built-in rule.
#[test]
fn permit_all_with_sccs_allows_but_drops_protected_fields_in_clear() {
    let mut src = demo_sources();
    src.policies = vec![(
        "policies/open.cedar".into(),
        "permit (principal, action, resource);".into(),
    )];
    src.catalog = src
        .catalog
        .replace("{ op = \"drop\" }", "{ op = \"keep\" }");
    src.principals = src.principals.replace(
        "roles = [\"engineering\"]",
        "contracts = [\"scc-2021-module-1\"]\nroles = [\"engineering\"]",
    );
    let bundle = Bundle::from_sources(src).unwrap();
    let req = DecisionRequest {
        principal: "eng-beijing".into(),
        action: Action::Transfer,
        region: "eu-fr".into(),
        fields: vec![
            "profile.address".parse().unwrap(),
            "device.language".parse().unwrap(),
        ],
        purpose: "debugging".into(),
        destination: None,
        legal_basis: Some("scc-2021-module-1".into()),
        subject_count: 10,
    };
    let d = decide(&bundle, &req, date!(2026 - 11 - 24)).unwrap();
    assert!(d.allow, "{d:?}");
    assert_eq!(d.plan["profile.address"], Transform::Drop);
    assert_eq!(d.plan["device.language"], Transform::Keep);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("profile.address is protected"))
    );
}

/// Regression for the per-principal slicing of the policy set: a policy
/// scoped to one principal applies to it, and only to it; unscoped policies
/// apply to everyone.
#[test]
fn principal_scoped_policies_apply_to_their_principal_only() {
    let mut src = demo_sources();
    src.policies.push((
        "policies/freeze.cedar".into(),
        "@id(\"freeze-reco\")\nforbid (principal == Residency::Principal::\"svc-reco-us\", action, resource);\n".into(),
    ));
    let bundle = Bundle::from_sources(src).unwrap();
    let mut req = DecisionRequest {
        principal: "svc-reco-us".into(),
        action: Action::Transfer,
        region: "eu-fr".into(),
        fields: vec!["device.language".parse().unwrap()],
        purpose: "reco-training".into(),
        destination: None,
        legal_basis: Some("adequacy:eu-us-dpf".into()),
        subject_count: 1,
    };
    let d = decide(&bundle, &req, date!(2026 - 11 - 24)).unwrap();
    assert!(!d.allow);
    assert_eq!(d.reasons, vec!["forbidden by freeze-reco"]);
    req.principal = "support-dublin".into();
    req.action = Action::Read;
    req.purpose = "support-ticket".into();
    assert!(decide(&bundle, &req, date!(2026 - 11 - 24)).unwrap().allow);
}

#[test]
fn a_logged_bundle_rebuilds_to_the_same_hash() {
    let b = Bundle::load(&demo_dir()).unwrap();
    let again = Bundle::from_canonical(b.canonical()).unwrap();
    assert_eq!(again.hash(), b.hash());
    assert_eq!(again.canonical(), b.canonical());
    assert_eq!(again.policies.len(), b.policies.len());
}

/// A schema change (an action added) must not strand the logs written
/// before it: a bundle logged under an earlier schema rebuilds to the hash
/// it was logged with.
#[test]
fn a_bundle_logged_under_an_earlier_schema_rebuilds_to_its_hash() {
    let b = Bundle::load(&demo_dir()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(b.canonical()).unwrap();
    v["schema"] = policy::cedar::EARLIER_SCHEMAS[0].into();
    let logged = serde_json::to_string(&v).unwrap();
    let rebuilt = Bundle::from_canonical(&logged).unwrap();
    assert_eq!(rebuilt.canonical(), logged);
    assert_ne!(rebuilt.hash(), b.hash());
}

#[test]
fn a_logged_bundle_that_is_not_a_bundle_is_refused_with_the_reason() {
    let b = Bundle::load(&demo_dir()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(b.canonical()).unwrap();
    v["schema"] = "entity Other;".into();
    let err = Bundle::from_canonical(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("another Cedar schema"), "{err}");
    let err = Bundle::from_canonical("{\"catalog\": 1}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("logged bundle: invalid type"), "{err}");
}
