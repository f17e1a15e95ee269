//! What changed from one policy bundle to the next, in plain words, and
//! whether each change weakens protection.
//!
//! [`diff`] compares two bundles part by part — catalog, principals,
//! regions, law table, Cedar policy texts — and returns one [`Change`] per
//! difference, in a fixed order (part, then name). Each says whether it
//! [weakens](Effect::Weakens) protection: something that was refused or
//! protected before may be released or less protected after it. Where a
//! change cannot be ordered (a transform swapped for an unrelated one, a
//! Cedar policy edited) it counts as weakening: a reader decides, the diff
//! does not guess.
//!
//! Weakening, by part:
//!
//! - catalog: a field's level lowered, its category changed, its egress
//!   widened for a destination class (a transform that discloses more, or
//!   an unrelated one); a dataset's `min_group` lowered or retention
//!   lengthened; every declared purpose removed (purposes are then left to
//!   the policies). A field or dataset added is neutral (it protects
//!   nothing less than before); removed, strengthening.
//! - principals: one added, relocated, given a role, purpose,
//!   certification or contract, or moved to another organisation, group or
//!   sector. A changed credential reference is neutral and never shown.
//! - regions: one added, its country changed, or a country of residence
//!   homed in it.
//! - law: an adequacy decision or transfer tool added, its dates widened,
//!   its scope, destination, kind or group changed; a country placed in a
//!   jurisdiction or moved to another.
//! - policies: a Cedar file added or changed; removed only if it held a
//!   `forbid` (Cedar denies by default, so removing permits strengthens,
//!   removing prohibitions weakens). A file of `forbid`s only, added, is
//!   strengthening.
//!
//! Pure: no I/O. The words name ids, countries, levels, transforms and
//! dates from the bundles, which carry no personal data; credential
//! references are never repeated.

mod catalog;
mod law;
mod people;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{Effect as CedarEffect, PolicySet};
use serde::{Deserialize, Serialize};

use crate::Bundle;

/// Which part of the bundle a change is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// `catalog.toml`: datasets, fields, purposes.
    Catalog,
    /// `principals.toml`.
    Principals,
    /// `regions.toml`.
    Regions,
    /// The law table.
    Law,
    /// `policies/*.cedar`.
    Policies,
}

impl Part {
    /// The part's name, as changes are written.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Catalog => "catalog",
            Part::Principals => "principals",
            Part::Regions => "regions",
            Part::Law => "law",
            Part::Policies => "policies",
        }
    }
}

/// What a change does to protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Something may be released, or released less protected, that could
    /// not before (or the change cannot be ordered).
    Weakens,
    /// Something released before may no longer be, or only more protected.
    Strengthens,
    /// Neither (a reference's wording, a new field).
    Neutral,
}

impl Effect {
    /// The effect's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Weakens => "weakens",
            Effect::Strengthens => "strengthens",
            Effect::Neutral => "neutral",
        }
    }
}

/// One difference between two bundles.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Change {
    /// The part of the bundle.
    pub part: Part,
    /// What changed, in plain words (`profile.phone level protected →
    /// personal`), without the part.
    pub what: String,
    /// What it does to protection.
    pub effect: Effect,
}

impl Change {
    /// Whether it weakens protection.
    pub fn weakens(&self) -> bool {
        self.effect == Effect::Weakens
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part.as_str(), self.what)
    }
}

/// Collects the changes of one part.
pub(crate) struct Changes {
    part: Part,
    out: Vec<Change>,
}

impl Changes {
    fn new(part: Part) -> Self {
        Changes {
            part,
            out: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, effect: Effect, what: String) {
        self.out.push(Change {
            part: self.part,
            what,
            effect,
        });
    }

    /// Elements added to (`added`) and removed from (`removed`) a list,
    /// each named `what` (`role`, `purpose`): compared as sets.
    pub(crate) fn set(
        &mut self,
        prefix: &str,
        what: &str,
        old: &[String],
        new: &[String],
        added: Effect,
        removed: Effect,
    ) {
        let (o, n): (BTreeSet<&String>, BTreeSet<&String>) =
            (old.iter().collect(), new.iter().collect());
        for x in n.difference(&o) {
            self.push(added, format!("{prefix} {what} {x} added"));
        }
        for x in o.difference(&n) {
            self.push(removed, format!("{prefix} {what} {x} removed"));
        }
    }

    /// An optional attribute changed: `none` where absent.
    pub(crate) fn option(
        &mut self,
        prefix: &str,
        what: &str,
        old: Option<&str>,
        new: Option<&str>,
        effect: Effect,
    ) {
        if old != new {
            self.push(
                effect,
                format!(
                    "{prefix} {what} {} → {}",
                    old.unwrap_or("none"),
                    new.unwrap_or("none")
                ),
            );
        }
    }
}

/// The keys only in the old map, those only in the new, and those in both
/// with their two values.
pub(crate) type Keys<'a, V> = (
    Vec<&'a String>,
    Vec<&'a String>,
    Vec<(&'a String, &'a V, &'a V)>,
);

/// The keys of two maps: only in the old, only in the new, in both.
pub(crate) fn keys<'a, V>(
    old: &'a BTreeMap<String, V>,
    new: &'a BTreeMap<String, V>,
) -> Keys<'a, V> {
    let removed = old.keys().filter(|k| !new.contains_key(*k)).collect();
    let added = new.keys().filter(|k| !old.contains_key(*k)).collect();
    let both = old
        .iter()
        .filter_map(|(k, o)| new.get(k).map(|n| (k, o, n)))
        .collect();
    (removed, added, both)
}

/// Everything that changed from `old` to `new`, in a fixed order: catalog,
/// principals, regions, law, policies; within each, by name. Empty when
/// the two are the same bundle.
pub fn diff(old: &Bundle, new: &Bundle) -> Vec<Change> {
    let mut out = Vec::new();
    let mut c = Changes::new(Part::Catalog);
    catalog::diff(&mut c, &old.catalog, &new.catalog);
    out.append(&mut c.out);
    let mut c = Changes::new(Part::Principals);
    people::principals(&mut c, &old.principals, &new.principals);
    out.append(&mut c.out);
    let mut c = Changes::new(Part::Regions);
    people::regions(&mut c, &old.regions, &new.regions);
    out.append(&mut c.out);
    let mut c = Changes::new(Part::Law);
    law::diff(&mut c, &old.law, &new.law);
    out.append(&mut c.out);
    let mut c = Changes::new(Part::Policies);
    policies(&mut c, old.policy_texts(), new.policy_texts());
    out.append(&mut c.out);
    out
}

/// The Cedar effects of a policy file's policies; `None` if it does not
/// parse (it did when its bundle was loaded).
fn effects(text: &str) -> Option<BTreeSet<CedarEffect>> {
    let set = PolicySet::from_str(text).ok()?;
    let mut out = BTreeSet::new();
    for p in set.policies() {
        out.insert(p.effect());
    }
    Some(out)
}

fn policies(c: &mut Changes, old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) {
    let (removed, added, both) = keys(old, new);
    for name in removed {
        // Removing a permit refuses more; removing a forbid allows more.
        let forbids = old
            .get(name)
            .and_then(|t| effects(t))
            .is_none_or(|e| e.contains(&CedarEffect::Forbid));
        let effect = if forbids {
            Effect::Weakens
        } else {
            Effect::Strengthens
        };
        c.push(effect, format!("{name} removed"));
    }
    for name in added {
        let only_forbids = new
            .get(name)
            .and_then(|t| effects(t))
            .is_some_and(|e| !e.is_empty() && !e.contains(&CedarEffect::Permit));
        let effect = if only_forbids {
            Effect::Strengthens
        } else {
            Effect::Weakens
        };
        c.push(effect, format!("{name} added"));
    }
    for (name, o, n) in both {
        if o != n {
            c.push(Effect::Weakens, format!("{name} changed"));
        }
    }
}
