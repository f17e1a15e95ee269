//! Each kind of change, with its classification; and, on generated
//! bundles, a bundle against itself is no change and the diff is
//! deterministic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use pseudo::Transform;

use super::{Change, Effect, Part, diff};
use crate::catalog::{Catalog, Level};
use crate::law::{Adequacy, LawTable};
use crate::principals::{Principal, Principals, Regions};
use crate::{Bundle, Sources};

mod law_and_policies;
use law_and_policies::china;

/// A bundle's parts, as values to edit.
#[derive(Clone, Debug)]
struct Parts {
    catalog: Catalog,
    law: LawTable,
    principals: Principals,
    regions: Regions,
    policies: BTreeMap<String, String>,
}

fn example() -> Parts {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let b = Bundle::load(&dir).unwrap();
    Parts {
        catalog: b.catalog.clone(),
        law: b.law.clone(),
        principals: b.principals.clone(),
        regions: b.regions.clone(),
        policies: b.policy_texts().clone(),
    }
}

fn build(p: &Parts) -> Bundle {
    Bundle::from_sources(Sources {
        catalog: toml::to_string(&p.catalog).unwrap(),
        law: Some(toml::to_string(&p.law).unwrap()),
        principals: toml::to_string(&p.principals).unwrap(),
        regions: toml::to_string(&p.regions).unwrap(),
        policies: p
            .policies
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
    .unwrap()
}

/// The changes from the example to the example edited by `edit`, as
/// (words, effect).
fn changes(edit: impl FnOnce(&mut Parts)) -> Vec<(String, Effect)> {
    let old = example();
    let mut new = old.clone();
    edit(&mut new);
    diff(&build(&old), &build(&new))
        .into_iter()
        .map(|c| (c.to_string(), c.effect))
        .collect()
}

fn one(words: &str, effect: Effect) -> Vec<(String, Effect)> {
    vec![(words.to_owned(), effect)]
}

fn field<'a>(p: &'a mut Parts, dataset: &str, field: &str) -> &'a mut crate::catalog::Field {
    p.catalog
        .datasets
        .get_mut(dataset)
        .unwrap()
        .fields
        .get_mut(field)
        .unwrap()
}

fn principal<'a>(p: &'a mut Parts, id: &str) -> &'a mut Principal {
    p.principals.principals.get_mut(id).unwrap()
}

fn date(s: &str) -> time::Date {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

#[test]
fn the_same_bundle_has_no_changes() {
    let b = build(&example());
    assert_eq!(diff(&b, &b), vec![]);
    let again = build(&example());
    assert_eq!(diff(&b, &again), vec![]);
}

#[test]
fn a_level_lowered_weakens_and_raised_strengthens() {
    assert_eq!(
        changes(|p| field(p, "profile", "phone").level = Level::Personal),
        one(
            "catalog: profile.phone level protected → personal",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| field(p, "device", "language").level = Level::Protected),
        one(
            "catalog: device.language level personal → protected",
            Effect::Strengthens
        )
    );
}

#[test]
fn egress_widened_weakens_narrowed_strengthens_and_unordered_weakens() {
    assert_eq!(
        changes(|p| field(p, "profile", "phone").egress.other = Transform::Keep),
        one(
            "catalog: profile.phone egress.other drop → keep",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| field(p, "profile", "phone").egress.adequate = Transform::Drop),
        one(
            "catalog: profile.phone egress.adequate token domain=phone → drop",
            Effect::Strengthens
        )
    );
    // Another token domain can join tokens with another field's.
    assert_eq!(
        changes(|p| {
            field(p, "profile", "phone").egress.adequate = Transform::Token {
                domain: "people".into(),
            }
        }),
        one(
            "catalog: profile.phone egress.adequate token domain=phone → token domain=people",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| {
            field(p, "device", "os_version").egress.other = Transform::TruncateVersion { parts: 2 }
        }),
        one(
            "catalog: device.os_version egress.other truncate_version parts=1 → truncate_version parts=2",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| {
            field(p, "device", "os_version").egress.other = Transform::Bucket { width: 10 }
        }),
        one(
            "catalog: device.os_version egress.other truncate_version parts=1 → bucket width=10",
            Effect::Weakens
        )
    );
}

#[test]
fn a_category_changed_weakens_a_format_changed_is_neutral() {
    assert_eq!(
        changes(|p| field(p, "profile", "phone").category = crate::catalog::Category::Device),
        one(
            "catalog: profile.phone category contact → device",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| field(p, "profile", "phone").format = None),
        one(
            "catalog: profile.phone format phone → none",
            Effect::Neutral
        )
    );
}

#[test]
fn a_scrub_weakens_when_any_entity_type_lets_more_out() {
    let scrub = |p: &mut Parts| match &mut field(p, "profile", "about").egress.adequate {
        Transform::Scrub(plan) => plan.clone(),
        t => panic!("profile.about is scrubbed toward adequate, not {t:?}"),
    };
    // A phone number masked instead of tokenised keeps some digits.
    let c = changes(|p| {
        let mut plan = scrub(p);
        plan.entities.insert(
            "PHONE_NUMBER".into(),
            Transform::Mask {
                first: 3,
                last: 2,
                with: '*',
            },
        );
        field(p, "profile", "about").egress.adequate = Transform::Scrub(plan);
    });
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].1, Effect::Weakens, "{c:?}");
    // An IBAN tokenised instead of labelled.
    let c = changes(|p| {
        let mut plan = scrub(p);
        plan.entities.insert(
            "IBAN_CODE".into(),
            Transform::Token {
                domain: "iban".into(),
            },
        );
        field(p, "profile", "about").egress.adequate = Transform::Scrub(plan);
    });
    assert_eq!(c[0].1, Effect::Weakens, "{c:?}");
    // E-mail addresses labelled instead of tokenised: stronger.
    let c = changes(|p| {
        let mut plan = scrub(p);
        plan.entities.remove("EMAIL_ADDRESS");
        field(p, "profile", "about").egress.adequate = Transform::Scrub(plan);
    });
    assert_eq!(c[0].1, Effect::Strengthens, "{c:?}");
    // Scrubbing instead of dropping lets the text out.
    let c = changes(|p| {
        field(p, "profile", "about").egress.other = Transform::Drop;
    });
    assert_eq!(c[0].1, Effect::Strengthens, "{c:?}");
}

#[test]
fn datasets_and_fields_added_are_neutral_removed_strengthen() {
    let c = changes(|p| {
        let d = p.catalog.datasets.get("profile").unwrap().clone();
        p.catalog.datasets.insert("profile2".into(), d);
        p.catalog
            .datasets
            .get_mut("device")
            .unwrap()
            .fields
            .remove("language");
    });
    assert_eq!(
        c,
        vec![
            (
                "catalog: dataset profile2 added (fields about, address, phone)".to_owned(),
                Effect::Neutral
            ),
            (
                "catalog: device.language removed".to_owned(),
                Effect::Strengthens
            ),
        ]
    );
    let c = changes(|p| {
        p.catalog.datasets.remove("network");
    });
    assert_eq!(
        c,
        one("catalog: dataset network removed", Effect::Strengthens)
    );
}

#[test]
fn k_lowered_and_retention_lengthened_weaken() {
    assert_eq!(
        changes(|p| p.catalog.datasets.get_mut("profile").unwrap().min_group = 5),
        one("catalog: dataset profile min_group 10 → 5", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| p.catalog.datasets.get_mut("profile").unwrap().min_group = 20),
        one(
            "catalog: dataset profile min_group 10 → 20",
            Effect::Strengthens
        )
    );
    let mut short = example();
    short
        .catalog
        .datasets
        .get_mut("profile")
        .unwrap()
        .retention_days = Some(30);
    let (a, b) = (build(&example()), build(&short));
    let words = |v: Vec<Change>| -> Vec<(String, Effect)> {
        v.into_iter().map(|c| (c.to_string(), c.effect)).collect()
    };
    assert_eq!(
        words(diff(&a, &b)),
        one(
            "catalog: dataset profile retention_days until erased → 30",
            Effect::Strengthens
        )
    );
    assert_eq!(
        words(diff(&b, &a)),
        one(
            "catalog: dataset profile retention_days 30 → until erased",
            Effect::Weakens
        )
    );
}

#[test]
fn purposes_removed_strengthen_unless_none_is_left() {
    assert_eq!(
        changes(|p| {
            p.catalog.purposes.remove("debugging");
            principal(p, "eng-beijing")
                .purposes
                .retain(|x| x != "debugging");
        }),
        vec![
            (
                "catalog: purpose debugging removed".to_owned(),
                Effect::Strengthens
            ),
            (
                "principals: eng-beijing purpose debugging removed".to_owned(),
                Effect::Strengthens
            ),
        ]
    );
    let c = changes(|p| {
        p.catalog.purposes.clear();
        for pr in p.principals.principals.values_mut() {
            pr.purposes.clear();
        }
    });
    assert!(
        c.contains(&(
            "catalog: no purpose declared any more: purposes are no longer checked".to_owned(),
            Effect::Weakens
        )),
        "{c:?}"
    );
}

#[test]
fn principals_relocated_or_given_more_weaken_and_removed_strengthen() {
    assert_eq!(
        changes(|p| principal(p, "eng-beijing").location = "IE".into()),
        one("principals: eng-beijing location CN → IE", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| principal(p, "eng-beijing").roles.push("dpo".into())),
        one("principals: eng-beijing role dpo added", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| principal(p, "support-dublin")
            .purposes
            .push("analytics".into())),
        one(
            "principals: support-dublin purpose analytics added",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| principal(p, "eng-beijing")
            .certifications
            .push("EU-US DPF".into())),
        one(
            "principals: eng-beijing certification EU-US DPF added",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| principal(p, "eng-beijing").group = Some("example-group".into())),
        one(
            "principals: eng-beijing group none → example-group",
            Effect::Weakens
        )
    );
    assert_eq!(
        changes(|p| principal(p, "eng-beijing").roles.clear()),
        one(
            "principals: eng-beijing role engineering removed",
            Effect::Strengthens
        )
    );
    assert_eq!(
        changes(|p| {
            p.principals.principals.remove("eng-beijing");
        }),
        one("principals: eng-beijing removed", Effect::Strengthens)
    );
    assert_eq!(
        changes(|p| {
            let mut x = p.principals.principals["support-dublin"].clone();
            x.location = "US".into();
            p.principals.principals.insert("contractor".into(), x);
        }),
        one(
            "principals: contractor added (location US, roles support)",
            Effect::Weakens
        )
    );
}

#[test]
fn a_credential_reference_changed_is_neutral_and_never_repeated() {
    let c = changes(|p| principal(p, "dpo").credential = "file:/run/secret-dpo".into());
    assert_eq!(
        c,
        one(
            "principals: dpo credential reference changed",
            Effect::Neutral
        )
    );
    assert!(!format!("{c:?}").contains("secret-dpo"));
    assert!(!format!("{c:?}").contains("RESIDENCY_TOKEN"));
}

#[test]
fn regions_moved_or_homing_more_weaken() {
    assert_eq!(
        changes(|p| p.regions.regions.get_mut("eu-fr").unwrap().country = "US".into()),
        one("regions: eu-fr country FR → US", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| p
            .regions
            .regions
            .get_mut("us-tx")
            .unwrap()
            .homes
            .push("FR".into())),
        one("regions: us-tx home FR added", Effect::Weakens)
    );
    assert_eq!(
        changes(|p| {
            let mut r = p.regions.regions["us-tx"].clone();
            r.country = "CN".into();
            r.homes = vec!["CN".into()];
            p.regions.regions.insert("cn-bj".into(), r);
        }),
        one(
            "regions: cn-bj added (country CN, homes CN)",
            Effect::Weakens
        )
    );
}

#[test]
fn changes_come_part_by_part_and_each_names_its_part() {
    let old = build(&example());
    let mut p = example();
    p.policies.insert(
        "policies/extra.cedar".into(),
        "permit (principal, action == Residency::Action::\"read\", resource);".into(),
    );
    p.law.adequacy.insert("china".into(), china());
    principal(&mut p, "eng-beijing").location = "IE".into();
    field(&mut p, "profile", "phone").level = Level::Personal;
    let d = diff(&old, &build(&p));
    let parts: Vec<Part> = d.iter().map(|c| c.part).collect();
    assert_eq!(
        parts,
        vec![Part::Catalog, Part::Principals, Part::Law, Part::Policies]
    );
    assert!(d.iter().all(Change::weakens));
}

/// Generated bundles: a few choices on each part of the example.
fn parts() -> impl Strategy<Value = Parts> {
    (
        prop::sample::select(vec![Level::Public, Level::Personal, Level::Protected]),
        prop::sample::select(vec![
            Transform::Drop,
            Transform::Keep,
            Transform::Token {
                domain: "phone".into(),
            },
            Transform::Mask {
                first: 0,
                last: 2,
                with: '*',
            },
        ]),
        5usize..12,
        prop::sample::select(vec!["CN", "IE", "US"]),
        prop::sample::subsequence(vec!["engineering", "support", "dpo"], 0..=3),
        prop::option::of(prop::sample::select(vec![
            "2026-01-01",
            "2027-06-30",
            "2030-01-01",
        ])),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(level, egress, k, location, roles, china_until, extra, guardrails)| {
                let mut p = example();
                let f = field(&mut p, "profile", "phone");
                f.level = level;
                f.egress.other = egress;
                p.catalog.datasets.get_mut("profile").unwrap().min_group = k;
                let b = principal(&mut p, "eng-beijing");
                b.location = location.into();
                b.roles = roles.into_iter().map(str::to_owned).collect();
                if let Some(until) = china_until {
                    let mut a = china();
                    a.until = Some(date(until));
                    p.law.adequacy.insert("china".into(), a);
                }
                if extra {
                    p.policies.insert(
                        "policies/extra.cedar".into(),
                        "permit (principal, action == Residency::Action::\"read\", resource);"
                            .into(),
                    );
                }
                if !guardrails {
                    p.policies.remove("policies/guardrails.cedar");
                }
                p
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A bundle against itself is no change; the diff is deterministic;
    /// and bundles of different hashes (nothing reordered here) always
    /// show a change.
    #[test]
    fn a_bundle_against_itself_is_no_change_and_the_diff_is_deterministic(
        a in parts(),
        b in parts(),
    ) {
        let (a, b) = (build(&a), build(&b));
        prop_assert!(diff(&a, &a).is_empty());
        prop_assert!(diff(&b, &b).is_empty());
        let once = diff(&a, &b);
        prop_assert_eq!(&once, &diff(&a, &b));
        prop_assert_eq!(once.is_empty(), a.hash() == b.hash());
        // Each change is shown the other way too.
        prop_assert_eq!(once.len(), diff(&b, &a).len());
    }
}
