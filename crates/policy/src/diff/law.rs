//! Law table changes: jurisdictions and their countries, adequacy
//! decisions, other transfer tools.

use std::collections::BTreeMap;

use time::Date;

use super::{Changes, Effect, keys};
use crate::law::{Adequacy, LawTable, Tool, ToolKind};

pub(super) fn diff(c: &mut Changes, old: &LawTable, new: &LawTable) {
    let (removed, added, both) = keys(&old.jurisdictions, &new.jurisdictions);
    for code in removed {
        c.push(Effect::Neutral, format!("jurisdiction {code} removed"));
    }
    for code in added {
        c.push(Effect::Neutral, format!("jurisdiction {code} added"));
    }
    for (code, o, n) in both {
        if o.name != n.name {
            c.push(Effect::Neutral, format!("jurisdiction {code} renamed"));
        }
    }
    // Countries one by one: where each is placed decides what a transfer is.
    let place = |t: &LawTable| -> BTreeMap<String, String> {
        t.jurisdictions
            .iter()
            .flat_map(|(code, j)| j.countries.iter().map(move |c| (c.clone(), code.clone())))
            .collect()
    };
    let (o, n) = (place(old), place(new));
    let (removed, added, both) = keys(&o, &n);
    for country in removed {
        let from = o.get(country).map_or("", String::as_str);
        c.push(
            Effect::Strengthens,
            format!("country {country} no longer in a jurisdiction (was {from})"),
        );
    }
    for country in added {
        let to = n.get(country).map_or("", String::as_str);
        c.push(Effect::Weakens, format!("country {country} placed in {to}"));
    }
    for (country, a, b) in both {
        if a != b {
            c.push(
                Effect::Weakens,
                format!("country {country} moved from {a} to {b}"),
            );
        }
    }

    let (removed, added, both) = keys(&old.adequacy, &new.adequacy);
    for id in removed {
        c.push(Effect::Strengthens, format!("adequacy {id} removed"));
    }
    for id in added {
        let dest = new.adequacy.get(id).map_or("", |a| a.destination.as_str());
        c.push(Effect::Weakens, format!("adequacy {id} added ({dest})"));
    }
    for (id, o, n) in both {
        adequacy(c, &format!("adequacy {id}"), o, n);
    }

    let (removed, added, both) = keys(&old.tools, &new.tools);
    for id in removed {
        c.push(Effect::Strengthens, format!("tool {id} removed"));
    }
    for id in added {
        let kind = new.tools.get(id).map_or("", |t| kind_name(t.kind));
        c.push(Effect::Weakens, format!("tool {id} added ({kind})"));
    }
    for (id, o, n) in both {
        tool(c, &format!("tool {id}"), o, n);
    }
}

fn kind_name(k: ToolKind) -> &'static str {
    match k {
        ToolKind::Scc => "scc",
        ToolKind::Bcr => "bcr",
        ToolKind::Derogation => "derogation",
    }
}

/// The dates a decision or tool applies: earlier `from` or later (or no)
/// `until` widen them.
fn dates(c: &mut Changes, name: &str, from: (Date, Date), until: (Option<Date>, Option<Date>)) {
    if from.0 != from.1 {
        let effect = if from.1 < from.0 {
            Effect::Weakens
        } else {
            Effect::Strengthens
        };
        c.push(effect, format!("{name} from {} → {}", from.0, from.1));
    }
    if until.0 != until.1 {
        let end = |d: Option<Date>| d.unwrap_or(Date::MAX);
        let effect = if end(until.1) > end(until.0) {
            Effect::Weakens
        } else {
            Effect::Strengthens
        };
        let show = |d: Option<Date>| d.map_or_else(|| "none".to_owned(), |d| d.to_string());
        c.push(
            effect,
            format!("{name} until {} → {}", show(until.0), show(until.1)),
        );
    }
}

/// A scope condition: removing one widens, adding one narrows, changing
/// one may widen.
fn condition(c: &mut Changes, name: &str, what: &str, o: Option<&str>, n: Option<&str>) {
    let effect = match (o, n) {
        (Some(_), None) => Effect::Weakens,
        (None, Some(_)) => Effect::Strengthens,
        _ => Effect::Weakens,
    };
    c.option(name, what, o, n, effect);
}

fn adequacy(c: &mut Changes, name: &str, o: &Adequacy, n: &Adequacy) {
    if o.destination != n.destination {
        c.push(
            Effect::Weakens,
            format!("{name} destination {} → {}", o.destination, n.destination),
        );
    }
    dates(c, name, (o.from, n.from), (o.until, n.until));
    condition(
        c,
        name,
        "scope certification",
        o.scope.certification.as_deref(),
        n.scope.certification.as_deref(),
    );
    condition(
        c,
        name,
        "scope sector",
        o.scope.sector.as_deref(),
        n.scope.sector.as_deref(),
    );
    if o.reference != n.reference {
        c.push(
            Effect::Neutral,
            format!("{name} reference {} → {}", o.reference, n.reference),
        );
    }
}

fn tool(c: &mut Changes, name: &str, o: &Tool, n: &Tool) {
    if o.kind != n.kind {
        c.push(
            Effect::Weakens,
            format!("{name} kind {} → {}", kind_name(o.kind), kind_name(n.kind)),
        );
    }
    dates(c, name, (o.from, n.from), (o.until, n.until));
    // A BCR's group is whom it binds: another one covers others.
    c.option(
        name,
        "group",
        o.group.as_deref(),
        n.group.as_deref(),
        Effect::Weakens,
    );
    if o.reference != n.reference {
        c.push(
            Effect::Neutral,
            format!("{name} reference {} → {}", o.reference, n.reference),
        );
    }
}
