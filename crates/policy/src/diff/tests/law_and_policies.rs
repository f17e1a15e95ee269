//! Law table and Cedar policy changes.

use super::*;
use crate::law::{Scope, Tool, ToolKind};

pub(super) fn china() -> Adequacy {
    Adequacy {
        reference: "none really".into(),
        destination: "CN".into(),
        from: date("2026-01-01"),
        until: None,
        scope: Scope::default(),
    }
}

#[test]
fn adequacy_added_or_widened_weakens_removed_or_narrowed_strengthens() {
    assert_eq!(
        changes(|p| {
            p.law.adequacy.insert("china".into(), china());
        }),
        one("law: adequacy china added (CN)", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| {
            p.law.adequacy.remove("japan");
        }),
        one("law: adequacy japan removed", Effect::Strengthens)
    );
    fn a(p: &mut Parts) -> &mut Adequacy {
        p.law.adequacy.get_mut("eu-us-privacy-shield").unwrap()
    }
    let c = changes(|p| a(p).until = None);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].0
            .starts_with("law: adequacy eu-us-privacy-shield until 2020-07-16 → none"),
        "{c:?}"
    );
    assert_eq!(c[0].1, Effect::Weakens);
    let c = changes(|p| a(p).from = date("2000-01-01"));
    assert_eq!(c[0].1, Effect::Weakens, "{c:?}");
    let c = changes(|p| {
        let x = a(p);
        x.from = x.from.next_day().unwrap();
    });
    assert_eq!(c[0].1, Effect::Strengthens, "{c:?}");
    assert_eq!(
        changes(|p| p
            .law
            .adequacy
            .get_mut("eu-us-dpf")
            .unwrap()
            .scope
            .certification = None),
        one(
            "law: adequacy eu-us-dpf scope certification EU-US DPF → none",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| p.law.adequacy.get_mut("japan").unwrap().reference = "another".into())[0].1,
        Effect::Neutral
    );
}

#[test]
fn tools_added_or_widened_weaken_and_countries_moved_weaken() {
    let scc = Tool {
        kind: ToolKind::Scc,
        reference: "Decision 2021/914".into(),
        from: date("2021-06-27"),
        until: None,
        group: None,
    };
    let c = changes(|p| {
        p.law.tools.insert("scc-new".into(), scc.clone());
    });
    assert_eq!(c, one("law: tool scc-new added (scc)", Effect::Weakens));
    let mut with = example();
    with.law.tools.insert("scc-new".into(), scc.clone());
    let mut ended = with.clone();
    ended.law.tools.get_mut("scc-new").unwrap().until = Some(date("2027-01-01"));
    let d = diff(&build(&with), &build(&ended));
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].to_string(), d[0].effect),
        (
            "law: tool scc-new until none → 2027-01-01".to_owned(),
            Effect::Strengthens
        )
    );
    let d = diff(&build(&ended), &build(&with));
    assert!(d[0].weakens(), "{d:?}");
    let d = diff(&build(&with), &build(&example()));
    assert_eq!(d[0].effect, Effect::Strengthens);

    // China's country placed in the EEA: no longer a transfer.
    let c = changes(|p| {
        p.law.jurisdictions.remove("CN");
        p.law
            .jurisdictions
            .get_mut("EEA")
            .unwrap()
            .countries
            .push("CN".into());
    });
    assert!(
        c.contains(&(
            "law: country CN moved from CN to EEA".to_owned(),
            Effect::Weakens
        )),
        "{c:?}"
    );
    assert!(
        c.contains(&("law: jurisdiction CN removed".to_owned(), Effect::Neutral)),
        "{c:?}"
    );
}

#[test]
fn cedar_policies_added_or_changed_weaken_removing_a_forbid_weakens_removing_permits_strengthens() {
    let permit =
        "@id(\"extra\")\npermit (principal, action == Residency::Action::\"read\", resource);\n";
    let forbid = "@id(\"no-export\")\nforbid (principal, action == Residency::Action::\"export\", resource);\n";
    assert_eq!(
        changes(|p| {
            p.policies
                .insert("policies/extra.cedar".into(), permit.into());
        }),
        one("policies: policies/extra.cedar added", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| {
            p.policies
                .insert("policies/no-export.cedar".into(), forbid.into());
        }),
        one(
            "policies: policies/no-export.cedar added",
            Effect::Strengthens
        )
    );
    assert_eq!(
        changes(|p| {
            let t = p.policies.get_mut("policies/access.cedar").unwrap();
            t.push_str("// a comment\n");
        }),
        one("policies: policies/access.cedar changed", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| {
            p.policies.remove("policies/access.cedar");
        }),
        one(
            "policies: policies/access.cedar removed",
            Effect::Strengthens
        )
    );
    assert_eq!(
        changes(|p| {
            p.policies.remove("policies/guardrails.cedar");
        }),
        one(
            "policies: policies/guardrails.cedar removed",
            Effect::Weakens
        )
    );
}
