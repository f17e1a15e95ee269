//! Catalog changes: datasets, fields (level, category, format, egress per
//! destination class), k, retention, purposes.

use pseudo::Transform;
use pseudo::generalise::DateUnit;
use pseudo::pii::RedactionPlan;

use super::{Changes, Effect, keys};
use crate::catalog::{Catalog, Dataset, DestinationClass, Field};

pub(super) fn diff(c: &mut Changes, old: &Catalog, new: &Catalog) {
    let (removed, added, both) = keys(&old.datasets, &new.datasets);
    for name in removed {
        c.push(Effect::Strengthens, format!("dataset {name} removed"));
    }
    for name in added {
        let fields = new
            .datasets
            .get(name)
            .map(|d| d.fields.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        c.push(
            Effect::Neutral,
            format!("dataset {name} added (fields {fields})"),
        );
    }
    for (name, o, n) in both {
        dataset(c, name, o, n);
    }

    let (removed, added, both) = keys(&old.purposes, &new.purposes);
    for id in removed {
        c.push(Effect::Strengthens, format!("purpose {id} removed"));
    }
    for id in added {
        c.push(Effect::Neutral, format!("purpose {id} added"));
    }
    for (id, o, n) in both {
        if o != n {
            c.push(Effect::Neutral, format!("purpose {id} description changed"));
        }
    }
    // A catalog without purposes leaves purposes to the policies.
    match (old.purposes.is_empty(), new.purposes.is_empty()) {
        (false, true) => c.push(
            Effect::Weakens,
            "no purpose declared any more: purposes are no longer checked".into(),
        ),
        (true, false) => c.push(
            Effect::Strengthens,
            "purposes declared: every request's purpose is now checked".into(),
        ),
        _ => {}
    }
}

fn dataset(c: &mut Changes, name: &str, o: &Dataset, n: &Dataset) {
    if o.min_group != n.min_group {
        let effect = if n.min_group < o.min_group {
            Effect::Weakens
        } else {
            Effect::Strengthens
        };
        c.push(
            effect,
            format!("dataset {name} min_group {} → {}", o.min_group, n.min_group),
        );
    }
    if o.retention_days != n.retention_days {
        // None keeps records until the subject is erased: the longest.
        let days = |d: Option<u32>| d.map_or(u64::MAX, u64::from);
        let effect = if days(n.retention_days) > days(o.retention_days) {
            Effect::Weakens
        } else {
            Effect::Strengthens
        };
        let show = |d: Option<u32>| d.map_or_else(|| "until erased".to_owned(), |d| d.to_string());
        c.push(
            effect,
            format!(
                "dataset {name} retention_days {} → {}",
                show(o.retention_days),
                show(n.retention_days)
            ),
        );
    }
    let (removed, added, both) = keys(&o.fields, &n.fields);
    for f in removed {
        c.push(Effect::Strengthens, format!("{name}.{f} removed"));
    }
    for f in added {
        let level = n.fields.get(f).map_or("", |f| f.level.as_str());
        c.push(Effect::Neutral, format!("{name}.{f} added (level {level})"));
    }
    for (f, o, n) in both {
        field(c, &format!("{name}.{f}"), o, n);
    }
}

fn field(c: &mut Changes, name: &str, o: &Field, n: &Field) {
    if o.level != n.level {
        // Levels are ordered: public < personal < protected.
        c.push(
            if n.level < o.level {
                Effect::Weakens
            } else {
                Effect::Strengthens
            },
            format!("{name} level {} → {}", o.level.as_str(), n.level.as_str()),
        );
    }
    if o.category != n.category {
        // Policies match on categories: another one can escape them.
        c.push(
            Effect::Weakens,
            format!(
                "{name} category {} → {}",
                o.category.as_str(),
                n.category.as_str()
            ),
        );
    }
    c.option(
        name,
        "format",
        o.format.as_deref(),
        n.format.as_deref(),
        Effect::Neutral,
    );
    for (class, label) in [
        (DestinationClass::Same, "same"),
        (DestinationClass::Adequate, "adequate"),
        (DestinationClass::Other, "other"),
    ] {
        let (a, b) = (o.egress.for_class(class), n.egress.for_class(class));
        if a != b {
            c.push(
                egress_effect(a, b),
                format!("{name} egress.{label} {} → {}", describe(a), describe(b)),
            );
        }
    }
}

/// How much of a value a transform lets out, coarsely: nothing, a label,
/// a one-way token, a generalisation, something reversible with a key,
/// the value itself.
fn rank(t: &Transform) -> u8 {
    match t {
        Transform::Drop => 0,
        Transform::Redact { .. } => 1,
        Transform::Token { .. } => 2,
        Transform::Mask { .. }
        | Transform::Bucket { .. }
        | Transform::TruncateDate { .. }
        | Transform::ShiftDate { .. }
        | Transform::TruncateIp
        | Transform::TruncateVersion { .. }
        | Transform::TruncatePostcode { .. }
        | Transform::Geohash { .. }
        | Transform::Grid { .. }
        | Transform::Scrub(_) => 3,
        Transform::Reversible { .. } | Transform::Fpe { .. } => 4,
        Transform::Keep => 5,
    }
}

fn date_unit(u: DateUnit) -> u8 {
    match u {
        DateUnit::Year => 0,
        DateUnit::Month => 1,
        DateUnit::Day => 2,
    }
}

/// Whether going from `a` to `b` lets more out. Transforms of one rank
/// that cannot be ordered (a bucket for a geohash, another token domain)
/// count as weakening.
fn egress_effect(a: &Transform, b: &Transform) -> Effect {
    use Transform as T;
    use std::cmp::Ordering::{Equal, Greater, Less};
    // Greater: `b` discloses more than `a`.
    let order = match (a, b) {
        _ if rank(a) != rank(b) => Some(rank(b).cmp(&rank(a))),
        (T::Redact { .. }, T::Redact { .. }) => Some(Equal),
        (
            T::Mask { first, last, .. },
            T::Mask {
                first: f, last: l, ..
            },
        ) => match (f.cmp(first), l.cmp(last)) {
            (Less | Equal, Less | Equal) if (f, l) != (first, last) => Some(Less),
            (Greater | Equal, Greater | Equal) if (f, l) != (first, last) => Some(Greater),
            (Equal, Equal) => Some(Equal),
            _ => None,
        },
        (T::Bucket { width: x }, T::Bucket { width: y }) => Some(x.cmp(y)),
        (T::TruncateDate { unit: x }, T::TruncateDate { unit: y }) => {
            Some(date_unit(*y).cmp(&date_unit(*x)))
        }
        (T::ShiftDate { max_days: x }, T::ShiftDate { max_days: y }) => Some(x.cmp(y)),
        (T::TruncateVersion { parts: x }, T::TruncateVersion { parts: y }) => Some(y.cmp(x)),
        (T::TruncatePostcode { keep: x }, T::TruncatePostcode { keep: y }) => Some(y.cmp(x)),
        (T::Geohash { precision: x }, T::Geohash { precision: y }) => Some(y.cmp(x)),
        (T::Grid { cell: x }, T::Grid { cell: y }) => x.partial_cmp(y),
        (T::Scrub(x), T::Scrub(y)) => scrub_order(x, y),
        _ => None,
    };
    match order {
        Some(Less) => Effect::Strengthens,
        Some(Equal) => Effect::Neutral,
        Some(Greater) | None => Effect::Weakens,
    }
}

/// Two scrubs compared entity type by entity type: the second lets more
/// out if it does so for any type the detector reports.
fn scrub_order(a: &RedactionPlan, b: &RedactionPlan) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let label = Transform::Redact { label: None };
    let mut order = Equal;
    for entity in pseudo::pii::ENTITIES.iter() {
        let x = a.transform_for(entity).unwrap_or(&label);
        let y = b.transform_for(entity).unwrap_or(&label);
        if x == y {
            continue;
        }
        match egress_effect(x, y) {
            Effect::Weakens => return Some(Greater),
            Effect::Strengthens => order = Less,
            Effect::Neutral => {}
        }
    }
    Some(order)
}

/// A transform in words: its op, then its parameters (`token domain=people`).
fn describe(t: &Transform) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::to_value(t) else {
        return "?".into();
    };
    let mut out = m
        .get("op")
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_owned();
    for (k, v) in &m {
        if k == "op" || v.is_null() {
            continue;
        }
        match v.as_str() {
            Some(s) => out.push_str(&format!(" {k}={s}")),
            None => out.push_str(&format!(" {k}={v}")),
        }
    }
    out
}
