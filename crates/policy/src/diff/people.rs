//! Principals and regions.

use super::{Changes, Effect, keys};
use crate::principals::{Principal, Principals, Region, Regions};

pub(super) fn principals(c: &mut Changes, old: &Principals, new: &Principals) {
    let (removed, added, both) = keys(&old.principals, &new.principals);
    for id in removed {
        c.push(Effect::Strengthens, format!("{id} removed"));
    }
    for id in added {
        let Some(p) = new.principals.get(id) else {
            continue;
        };
        c.push(
            Effect::Weakens,
            format!(
                "{id} added (location {}, roles {})",
                p.location,
                list(&p.roles)
            ),
        );
    }
    for (id, o, n) in both {
        principal(c, id, o, n);
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn principal(c: &mut Changes, id: &str, o: &Principal, n: &Principal) {
    if o.location != n.location {
        // Where the principal is decides what is a transfer.
        c.push(
            Effect::Weakens,
            format!("{id} location {} → {}", o.location, n.location),
        );
    }
    if o.organisation != n.organisation {
        c.push(
            Effect::Weakens,
            format!("{id} organisation {} → {}", o.organisation, n.organisation),
        );
    }
    // A group can bring the principal under binding corporate rules, a
    // sector under a sector-limited adequacy decision.
    c.option(
        id,
        "group",
        o.group.as_deref(),
        n.group.as_deref(),
        Effect::Weakens,
    );
    c.option(
        id,
        "sector",
        o.sector.as_deref(),
        n.sector.as_deref(),
        Effect::Weakens,
    );
    let (w, s) = (Effect::Weakens, Effect::Strengthens);
    c.set(id, "role", &o.roles, &n.roles, w, s);
    c.set(id, "purpose", &o.purposes, &n.purposes, w, s);
    c.set(
        id,
        "certification",
        &o.certifications,
        &n.certifications,
        w,
        s,
    );
    c.set(id, "contract", &o.contracts, &n.contracts, w, s);
    if o.credential != n.credential {
        // A reference, but never repeated.
        c.push(
            Effect::Neutral,
            format!("{id} credential reference changed"),
        );
    }
}

pub(super) fn regions(c: &mut Changes, old: &Regions, new: &Regions) {
    let (removed, added, both) = keys(&old.regions, &new.regions);
    for id in removed {
        c.push(Effect::Neutral, format!("{id} removed"));
    }
    for id in added {
        let Some(r) = new.regions.get(id) else {
            continue;
        };
        c.push(
            Effect::Weakens,
            format!(
                "{id} added (country {}, homes {})",
                r.country,
                list(&r.homes)
            ),
        );
    }
    for (id, o, n) in both {
        region(c, id, o, n);
    }
}

fn region(c: &mut Changes, id: &str, o: &Region, n: &Region) {
    if o.country != n.country {
        c.push(
            Effect::Weakens,
            format!("{id} country {} → {}", o.country, n.country),
        );
    }
    c.set(
        id,
        "home",
        &o.homes,
        &n.homes,
        Effect::Weakens,
        Effect::Neutral,
    );
}
