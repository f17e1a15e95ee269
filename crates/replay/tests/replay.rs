//! Replay of logged decisions against the example policy: entries made as
//! the gateway makes them replay clean; every kind of lie or unlawful
//! release is flagged with what differs.

use entry::{Entry, Kind, PrincipalRef};
use policy::{Action, Bundle, DecisionRequest};
use pseudo::Transform;
use replay::{FindingKind, Replayer};

const TIME: &str = "2026-11-25T04:00:00Z";

fn bundle() -> Bundle {
    Bundle::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy"))
        .unwrap()
}

fn bundle_entry(b: &Bundle) -> Vec<u8> {
    let mut e = Entry::new(Kind::PolicyBundle, "eu-fr", b.hash(), TIME.into());
    e.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    e.to_canonical()
}

fn request(
    principal: &str,
    action: Action,
    fields: &[&str],
    purpose: &str,
    basis: Option<&str>,
) -> DecisionRequest {
    DecisionRequest {
        principal: principal.into(),
        action,
        region: "eu-fr".into(),
        fields: fields.iter().map(|f| f.parse().unwrap()).collect(),
        purpose: purpose.into(),
        destination: None,
        legal_basis: basis.map(str::to_owned),
        subject_count: 40,
    }
}

/// The entry the gateway logs for `req`, covering 40 subjects.
fn decided(b: &Bundle, req: &DecisionRequest) -> Entry {
    let d = policy::decide(b, req, time::macros::date!(2026 - 11 - 25)).unwrap();
    let location = b.principals.principals[&req.principal].location.clone();
    let who = PrincipalRef {
        id: req.principal.clone(),
        location,
    };
    let mut e = Entry::decided(b, TIME.into(), who, req, &d);
    let subjects: Vec<String> = (0..req.subject_count).map(|i| format!("t1.s{i}")).collect();
    e.cover(&subjects);
    e
}

fn reco(b: &Bundle) -> Entry {
    decided(
        b,
        &request(
            "svc-reco-us",
            Action::Transfer,
            &[
                "account.user_id",
                "device.language",
                "device.os_version",
                "social.contacts",
            ],
            "reco-training",
            Some("adequacy:eu-us-dpf"),
        ),
    )
}

fn beijing(b: &Bundle) -> Entry {
    decided(
        b,
        &request(
            "eng-beijing",
            Action::Transfer,
            &["profile.phone", "social.contacts"],
            "analytics",
            None,
        ),
    )
}

/// Replays the bundle, then `e`, returning the findings' messages by kind.
fn replay(b: &Bundle, e: &Entry) -> Vec<(FindingKind, String)> {
    let mut r = Replayer::new("eu-fr");
    assert!(r.replay(0, &bundle_entry(b)).findings.is_empty());
    let out = r.replay(1, &e.to_canonical());
    for f in &out.findings {
        assert_eq!((f.region.as_str(), f.index), ("eu-fr", Some(1)), "{f}");
    }
    out.findings
        .into_iter()
        .map(|f| (f.kind, f.message))
        .collect()
}

#[test]
fn entries_made_as_the_gateway_makes_them_replay_clean() {
    let b = bundle();
    let entries = [
        reco(&b),
        beijing(&b),
        decided(
            &b,
            &request(
                "eng-beijing",
                Action::Aggregate,
                &["device.os_version"],
                "analytics",
                None,
            ),
        ),
        decided(
            &b,
            &request(
                "support-dublin",
                Action::Read,
                &["profile.phone"],
                "support-ticket",
                None,
            ),
        ),
        decided(
            &b,
            &request(
                "eng-beijing",
                Action::Read,
                &["device.language"],
                "analytics",
                None,
            ),
        ),
        decided(
            &b,
            &request("dpo", Action::Export, &[], "subject-request", None),
        ),
        decided(
            &b,
            &request("dpo", Action::Erase, &[], "subject-request", None),
        ),
    ];
    assert_eq!(entries[1].decision, Some(entry::Outcome::Deny));
    assert_eq!(
        entries[4].action,
        Some(policy::Action::Transfer),
        "a read from China is a transfer"
    );
    for e in &entries {
        assert_eq!(
            replay(&b, e),
            vec![],
            "{}",
            String::from_utf8_lossy(&e.to_canonical())
        );
    }
    let mut r = Replayer::new("eu-fr");
    r.replay(0, &bundle_entry(&b));
    let a = r.replay(1, &reco(&b).to_canonical()).access.unwrap();
    assert!(a.legal_reference.unwrap().starts_with("C(2023) 4745"));
    assert_eq!(
        (a.origin_jurisdiction.as_str(), a.destination.as_str()),
        ("EEA", "US")
    );
    assert_eq!(a.subject_count, 40);
}

#[test]
fn a_more_permissive_log_is_a_violation_and_other_differences_are_mismatches_naming_them() {
    let b = bundle();
    // Released what the replay refuses: a violation, not a mismatch.
    let mut e = beijing(&b);
    e.decision = Some(entry::Outcome::Allow);
    let f = replay(&b, &e);
    assert!(
        f.iter().any(|(k, m)| *k == FindingKind::Violation
            && m.starts_with("logged allow, the replay decides deny (")),
        "{f:?}"
    );
    // Refused what the replay allows: a mismatch.
    let mut e = reco(&b);
    e.decision = Some(entry::Outcome::Deny);
    let f = replay(&b, &e);
    assert!(
        f.iter().any(|(k, m)| *k == FindingKind::Mismatch
            && m.starts_with("logged deny, the replay decides allow")),
        "{f:?}"
    );
    // A denial the replay denies too, for other reasons: a mismatch.
    let mut e = beijing(&b);
    e.reasons = vec!["another reason".into()];
    let f = replay(&b, &e);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, FindingKind::Mismatch);

    // A field released in clear where the replay drops it.
    let mut e = reco(&b);
    e.fields
        .insert("social.contacts".into(), Some(Transform::Keep));
    let f = replay(&b, &e);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        f[0],
        (
            FindingKind::Violation,
            r#"social.contacts logged as {"op":"keep"}, the replay gives {"op":"drop"}"#.to_owned()
        )
    );
    // Dropped where the replay would send a token: less released, a mismatch.
    let mut e = reco(&b);
    e.fields
        .insert("account.user_id".into(), Some(Transform::Drop));
    let f = replay(&b, &e);
    assert!(
        f.iter().all(|(k, _)| *k == FindingKind::Mismatch) && !f.is_empty(),
        "{f:?}"
    );

    let mut e = reco(&b);
    e.policies = vec!["made-up".into()];
    let f = replay(&b, &e);
    assert!(
        f[0].1
            .starts_with(r#"policies logged ["made-up"], the replay gives ["#),
        "{f:?}"
    );

    let mut e = reco(&b);
    e.destination = Some("CN".into());
    let f = replay(&b, &e);
    assert!(f.iter().any(|(k, _)| *k == FindingKind::Mismatch), "{f:?}");
}

/// Decisions are remembered per request: a forged entry that repeats an
/// honest request is still compared with the decision, and flagged.
#[test]
fn a_forged_repeat_of_a_replayed_request_is_still_flagged() {
    let b = bundle();
    let mut r = Replayer::new("eu-fr");
    assert!(r.replay(0, &bundle_entry(&b)).findings.is_empty());
    let honest = beijing(&b);
    for i in 1..=3 {
        let out = r.replay(i, &honest.to_canonical());
        assert!(out.findings.is_empty(), "{:?}", out.findings);
    }
    let mut forged = honest.clone();
    forged.decision = Some(entry::Outcome::Allow);
    let out = r.replay(4, &forged.to_canonical());
    assert!(
        out.findings.iter().any(|f| f.kind == FindingKind::Violation
            && f.index == Some(4)
            && f.message
                .starts_with("logged allow, the replay decides deny")),
        "{:?}",
        out.findings
    );
    // And the honest request still replays clean after it.
    assert!(r.replay(5, &honest.to_canonical()).findings.is_empty());
}

#[test]
fn unlawful_releases_are_violations_whatever_the_policy_said() {
    let b = bundle();
    // Phones to China in clear, with no legal basis.
    let mut e = beijing(&b);
    e.decision = Some(entry::Outcome::Allow);
    e.reasons.clear();
    e.fields
        .insert("profile.phone".into(), Some(Transform::Keep));
    let f = replay(&b, &e);
    let violations: Vec<&String> = f
        .iter()
        .filter(|(k, _)| *k == FindingKind::Violation)
        .map(|(_, m)| m)
        .collect();
    assert!(
        violations.iter().any(|m| m.contains("with no legal basis")),
        "{f:?}"
    );
    assert!(
        violations
            .iter()
            .any(|m| m.contains("protected field profile.phone left in clear for CN")),
        "{f:?}"
    );

    // A legal basis that does not cover a declared destination.
    let mut e = reco(&b);
    e.destination = Some("CN".into());
    e.declared_destination = Some("CN".into());
    e.destinations = vec!["CN".into(), "US".into()];
    let f = replay(&b, &e);
    assert!(
        f.iter().any(|(k, m)| *k == FindingKind::Violation
            && m.contains("legal basis adequacy:eu-us-dpf does not hold")),
        "{f:?}"
    );

    // A re-identification without its justification.
    let mut e = decided(
        &b,
        &request(
            "support-dublin",
            Action::Reidentify,
            &["account.user_id"],
            "reidentification",
            None,
        ),
    );
    e.justification_digest = Some("ab".repeat(32));
    let allowed = e.decision == Some(entry::Outcome::Allow);
    assert_eq!(replay(&b, &e), vec![]);
    e.justification_digest = None;
    let f = replay(&b, &e);
    assert_eq!(
        f.iter().any(|(k, m)| *k == FindingKind::Violation
            && m == "a re-identification without a justification"),
        allowed,
        "{f:?}"
    );
}

#[test]
fn a_bundle_never_logged_or_not_matching_its_hash_is_flagged() {
    let b = bundle();
    let mut r = Replayer::new("eu-fr");
    let f = r.replay(0, &reco(&b).to_canonical()).findings;
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::Violation);
    assert!(
        f[0].message.contains("which was never logged before"),
        "{}",
        f[0]
    );

    let mut e = Entry::new(Kind::PolicyBundle, "eu-fr", &"0".repeat(64), TIME.into());
    e.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    let f = r.replay(1, &e.to_canonical()).findings;
    assert_eq!(f[0].kind, FindingKind::Inconsistency);
    assert!(
        f[0].message.contains("the bundle content hashes to"),
        "{}",
        f[0]
    );
    assert!(!r.knows(&"0".repeat(64)) && !r.knows(b.hash()));
}

#[test]
fn garbage_and_other_regions_entries_are_inconsistencies_not_panics() {
    let b = bundle();
    let mut r = Replayer::new("eu-fr");
    for bytes in [&b""[..], b"{", b"null", b"{\"v\":1}", &[0xff, 0xfe]] {
        let f = r.replay(3, bytes).findings;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::Inconsistency);
        assert!(f[0].message.starts_with("not a log entry"), "{}", f[0]);
    }
    let mut e = reco(&b);
    e.region = "us-tx".into();
    let f = r.replay(4, &e.to_canonical()).findings;
    assert!(
        f.iter()
            .any(|x| x.message == "the entry names region \"us-tx\""),
        "{f:?}"
    );
}

/// Regression: a principal in Beijing declared "FR" and the old gateway
/// released phones and addresses in clear, logging `"destination":"EEA"`
/// (schema 1). The monitor called it a mismatch and the Art. 30 record an
/// EEA→EEA transfer. The law is judged on where the principal is.
#[test]
fn a_release_to_beijing_logged_as_toward_the_eea_is_a_violation_toward_china() {
    let b = bundle();
    let mut e: serde_json::Value = serde_json::from_str(include_str!(
        "../../residency/tests/fixtures/beijing-declares-fr.json"
    ))
    .unwrap();
    e["bundle"] = b.hash().into();
    let e = Entry::parse(&entry::canonical(&e)).unwrap();
    let f = replay(&b, &e);
    let violations: Vec<&String> = f
        .iter()
        .filter(|(k, _)| *k == FindingKind::Violation)
        .map(|(_, m)| m)
        .collect();
    assert!(
        violations
            .iter()
            .any(|m| m.starts_with("logged allow, the replay decides deny")),
        "{f:?}"
    );
    assert!(
        violations
            .iter()
            .any(|m| m == &"a transfer of personal data from EEA to CN with no legal basis"),
        "{f:?}"
    );
    assert!(
        violations
            .iter()
            .any(|m| m.contains("protected field profile.phone left in clear for CN")),
        "{f:?}"
    );
    let mut r = Replayer::new("eu-fr");
    r.replay(0, &bundle_entry(&b));
    let a = r.replay(1, &e.to_canonical()).access.unwrap();
    assert_eq!(
        (a.origin_jurisdiction.as_str(), a.destination.as_str()),
        ("EEA", "CN")
    );
}

/// The operator's bundle carries a law table of its own making — here an
/// "adequacy decision" for China. A transfer that only this table allows
/// replays as logged, but the monitor judges the law by its own reference
/// table and reports it.
#[test]
fn a_release_only_a_doctored_law_table_allows_is_a_violation() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let mut sources = policy::Sources {
        catalog: std::fs::read_to_string(dir.join("catalog.toml")).unwrap(),
        law: Some(format!(
            "{}\n[adequacy.china]\nreference = \"the operator's own\"\ndestination = \"CN\"\nfrom = \"2000-01-01\"\n",
            policy::law::DEFAULT_LAW_TABLE
        )),
        principals: std::fs::read_to_string(dir.join("principals.toml")).unwrap(),
        regions: std::fs::read_to_string(dir.join("regions.toml")).unwrap(),
        policies: Vec::new(),
    };
    for f in ["access.cedar", "guardrails.cedar"] {
        let text = std::fs::read_to_string(dir.join("policies").join(f)).unwrap();
        sources.policies.push((format!("policies/{f}"), text));
    }
    let doctored = Bundle::from_sources(sources).unwrap();
    let e = decided(
        &doctored,
        &request(
            "eng-beijing",
            Action::Transfer,
            &["profile.phone"],
            "debugging",
            Some("adequacy:china"),
        ),
    );
    assert_eq!(
        e.decision,
        Some(entry::Outcome::Allow),
        "the doctored bundle allows it"
    );

    let findings = replay(&doctored, &e);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].0, FindingKind::Violation);
    assert!(
        findings[0]
            .1
            .starts_with("legal basis adequacy:china does not hold for CN"),
        "{findings:?}"
    );

    // Judged by the operator's own table, it would have passed.
    let mut r = Replayer::new("eu-fr").judging_by(std::sync::Arc::new(doctored.law.clone()));
    r.replay(0, &bundle_entry(&doctored));
    assert!(r.replay(1, &e.to_canonical()).findings.is_empty());
}

/// An entry's datasets are what a custodian opens for it: more than its
/// fields' under an allow is a violation (the red team widened an
/// aggregate's to every dataset and got the keys), fewer a mismatch; a
/// name outside the catalog is counted, not repeated.
#[test]
fn datasets_an_entry_names_beyond_its_fields_are_a_violation() {
    let b = bundle();
    let mut e = reco(&b);
    e.datasets.push("profile".into());
    e.datasets.push("+33 6 12 34 56 78".into());
    e.datasets.sort();
    let found = replay(&b, &e);
    assert!(
        found.iter().any(|(k, m)| *k == FindingKind::Violation
            && m.contains("names datasets its fields do not: profile and 1 not in the catalog")),
        "{found:?}"
    );
    assert!(found.iter().all(|(_, m)| !m.contains("+33")), "{found:?}");
    let mut e = reco(&b);
    e.datasets.retain(|d| d != "social");
    let found = replay(&b, &e);
    assert!(
        found.iter().any(|(k, m)| *k == FindingKind::Mismatch
            && m.contains("omits datasets of its fields: social")),
        "{found:?}"
    );
}
