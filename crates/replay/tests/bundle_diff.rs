//! A log whose policy bundle changes: every change that weakens protection
//! is a finding at the new bundle's entry, naming the change; changes that
//! do not weaken are kept for display, not found; the first bundle, and a
//! bundle logged again unchanged, have nothing to show.

use entry::{Entry, Kind};
use policy::diff::Effect;
use policy::{Bundle, Sources};
use replay::{FindingKind, Replayer};

const TIME: &str = "2026-11-25T04:00:00Z";

fn read(f: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/policy")
            .join(f),
    )
    .unwrap()
}

fn sources() -> Sources {
    Sources {
        catalog: read("catalog.toml"),
        law: Some(policy::law::DEFAULT_LAW_TABLE.to_owned()),
        principals: read("principals.toml"),
        regions: read("regions.toml"),
        policies: ["access", "guardrails"]
            .iter()
            .map(|p| {
                let name = format!("policies/{p}.cedar");
                (name.clone(), read(&name))
            })
            .collect(),
    }
}

/// Replaces `from` (which must occur once) by `to`.
fn edit(text: &mut String, from: &str, to: &str) {
    assert_eq!(text.matches(from).count(), 1, "{from}");
    *text = text.replace(from, to);
}

/// The example, with profile.phone lowered to personal, Beijing's engineer
/// relocated to Ireland and an adequacy decision for China.
fn weakened() -> Sources {
    let mut s = sources();
    edit(
        &mut s.catalog,
        "level = \"protected\"\nformat = \"phone\"",
        "level = \"personal\"\nformat = \"phone\"",
    );
    edit(&mut s.principals, "location = \"CN\"", "location = \"IE\"");
    if let Some(law) = &mut s.law {
        law.push_str(
            "\n[adequacy.china]\nreference = \"none\"\ndestination = \"CN\"\nfrom = \"2026-01-01\"\n",
        );
    }
    s
}

fn bundle_entry(b: &Bundle) -> Vec<u8> {
    let mut e = Entry::new(Kind::PolicyBundle, "eu-fr", b.hash(), TIME.into());
    e.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    e.to_canonical()
}

#[test]
fn a_bundle_that_weakens_protection_is_a_finding_per_change_at_its_index() {
    let first = Bundle::from_sources(sources()).unwrap();
    let second = Bundle::from_sources(weakened()).unwrap();
    let mut r = Replayer::new("eu-fr");

    let out = r.replay(0, &bundle_entry(&first));
    assert!(out.findings.is_empty() && out.changes.is_empty() && out.previous.is_none());
    // Logged again unchanged (each start logs it): nothing.
    let out = r.replay(1, &bundle_entry(&first));
    assert!(out.findings.is_empty() && out.changes.is_empty());

    let out = r.replay(2, &bundle_entry(&second));
    assert_eq!(out.bundle.as_deref(), Some(second.hash()));
    assert_eq!(out.previous.as_deref(), Some(first.hash()));
    let found: Vec<(String, Option<u64>, FindingKind, String)> = out
        .findings
        .iter()
        .map(|f| (f.region.clone(), f.index, f.kind, f.message.clone()))
        .collect();
    let at = |m: &str| {
        (
            "eu-fr".to_owned(),
            Some(2),
            FindingKind::Weakening,
            m.to_owned(),
        )
    };
    assert_eq!(
        found,
        vec![
            at("catalog: profile.phone level protected → personal"),
            at("principals: eng-beijing location CN → IE"),
            at("law: adequacy china added (CN)"),
        ]
    );
    assert_eq!(
        out.findings[0].to_string(),
        "eu-fr #2: weakening: catalog: profile.phone level protected → personal"
    );
    assert_eq!(out.changes.len(), 3);
    assert!(out.changes.iter().all(|c| c.effect == Effect::Weakens));

    // The same bundle but for a principal removed: a strengthening change,
    // kept for display and not found.
    let mut s = weakened();
    let at = s.principals.find("[principals.support-dublin]").unwrap();
    let end = s.principals[at..].find("\n\n").unwrap() + at;
    s.principals.replace_range(at..end, "");
    let third = Bundle::from_sources(s).unwrap();
    let out = r.replay(3, &bundle_entry(&third));
    assert_eq!(out.findings, vec![]);
    assert_eq!(out.changes.len(), 1);
    assert_eq!(
        out.changes[0].to_string(),
        "principals: support-dublin removed"
    );
    assert_eq!(out.changes[0].effect, Effect::Strengthens);

    // Going back to the first bundle weakens again (the principal is back),
    // and strengthens the rest.
    let out = r.replay(4, &bundle_entry(&first));
    let messages: Vec<String> = out.findings.iter().map(|f| f.message.clone()).collect();
    assert_eq!(
        messages,
        vec![
            "principals: support-dublin added (location IE, roles support)".to_owned(),
            "principals: eng-beijing location IE → CN".to_owned(),
        ]
    );
}

#[test]
fn a_resumed_replayer_compares_with_the_bundle_logged_last() {
    let first = Bundle::from_sources(sources()).unwrap();
    let second = Bundle::from_sources(weakened()).unwrap();
    // The log held first, second, then first again: resumed with its
    // bundles in the order they were first logged, and the latest named.
    let mut r = Replayer::new("eu-fr");
    r.add_bundle(first.hash(), first.canonical()).unwrap();
    r.add_bundle(second.hash(), second.canonical()).unwrap();
    r.resume_after(first.hash()).unwrap();
    assert!(r.resume_after("0000").is_err());
    let out = r.replay(9, &bundle_entry(&second));
    assert_eq!(out.findings.len(), 3, "{:?}", out.findings);
    assert!(out.findings.iter().all(|f| f.index == Some(9)));
    // A bundle entry that does not hold together is no new baseline.
    let mut bad = Entry::new(Kind::PolicyBundle, "eu-fr", first.hash(), TIME.into());
    bad.bundle_content = Some(serde_json::from_str(second.canonical()).unwrap());
    let out = r.replay(10, &bad.to_canonical());
    assert_eq!(out.findings[0].kind, FindingKind::Inconsistency);
    let out = r.replay(11, &bundle_entry(&second));
    assert!(out.findings.is_empty() && out.changes.is_empty());
}
