//! The decision: allow or deny, why, on which legal basis, and what each
//! field becomes on its way out. Pure and deterministic given the bundle,
//! the request and the date, so that a monitor can replay it.

use std::collections::BTreeMap;

use pseudo::Transform;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::bundle::Bundle;
use crate::catalog::{DestinationClass, Level};
use crate::cedar::{self, CedarContext};
use crate::law::Recipient;
use crate::{Error, FieldRef};

/// The actions of the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The app sends data about a subject.
    Ingest,
    /// A principal reads records.
    Read,
    /// A principal takes data to another jurisdiction.
    Transfer,
    /// Counts grouped by fields, k-anonymous.
    Aggregate,
    /// Reversing a reversible token, in the home region only.
    Reidentify,
    /// A subject's export (Art. 15, 20).
    Export,
    /// A subject's erasure (Art. 17).
    Erase,
    /// The accesses to a subject's data, shown to the subject through the
    /// app: it releases no record and no personal value.
    History,
    /// Administration of the region.
    Admin,
}

impl Action {
    /// The action's name, as in policies and log entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ingest => "ingest",
            Action::Read => "read",
            Action::Transfer => "transfer",
            Action::Aggregate => "aggregate",
            Action::Reidentify => "reidentify",
            Action::Export => "export",
            Action::Erase => "erase",
            Action::History => "history",
            Action::Admin => "admin",
        }
    }
}

/// What is asked.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Principal id.
    pub principal: String,
    /// Action.
    pub action: Action,
    /// Region holding the data.
    pub region: String,
    /// Fields as `dataset.field` (for aggregates: the group-by fields).
    /// Empty for export and erase: all of the subject's data.
    #[serde(default)]
    pub fields: Vec<FieldRef>,
    /// Purpose, e.g. `reco-training`.
    #[serde(default)]
    pub purpose: String,
    /// Destination country; the principal's location when absent.
    #[serde(default)]
    pub destination: Option<String>,
    /// The transfer tool named: `adequacy:<id>` or a tool id of the law table.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// How many subjects the request covers.
    #[serde(default = "one")]
    pub subject_count: usize,
}

fn one() -> usize {
    1
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// Allowed or not.
    pub allow: bool,
    /// Why, in plain words: the failed check, or notes on the plan.
    pub reasons: Vec<String>,
    /// Ids of the Cedar policies that determined the outcome.
    pub policies: Vec<String>,
    /// The legal basis the transfer rests on, as checked.
    pub legal_basis: Option<String>,
    /// Whether the request moves data out of, or shows it outside, its jurisdiction.
    pub transfer: bool,
    /// The data's jurisdiction.
    pub data_jurisdiction: String,
    /// The destination's jurisdiction: the declared destination's, else
    /// the principal's.
    pub destination: String,
    /// Every jurisdiction the request reaches: the principal's (from its
    /// configured location, whatever it declares) and the declared
    /// destination's, sorted. The request is a transfer toward each one
    /// that is not the data's, and must be lawful toward each.
    pub destinations: Vec<String>,
    /// Same, adequate or other.
    pub destination_class: DestinationClass,
    /// For an allow: what each field becomes.
    pub plan: BTreeMap<String, Transform>,
    /// For an aggregate: the smallest group reported.
    pub k: Option<usize>,
}

impl Decision {
    fn deny(mut self, reason: impl Into<String>) -> Decision {
        self.allow = false;
        self.plan.clear();
        self.k = None;
        self.reasons.push(reason.into());
        self
    }
}

/// Decides a request on `date`. Errors are for requests that cannot be
/// decided at all (unknown region or fields); everything else is a decision.
pub fn decide(bundle: &Bundle, req: &DecisionRequest, date: Date) -> Result<Decision, Error> {
    let region = bundle
        .regions
        .regions
        .get(&req.region)
        .ok_or_else(|| Error::InvalidRequest(format!("unknown region {:?}", req.region)))?;
    let data_j = bundle
        .law
        .jurisdiction_of(&region.country)
        .unwrap_or("unknown")
        .to_owned();

    // Fields, checked against the catalog; export, erasure and history
    // cover everything.
    let mut fields: Vec<(&str, &str)> = req
        .fields
        .iter()
        .map(|f| (f.dataset(), f.field()))
        .collect();
    bundle.catalog.check_fields(fields.iter().copied())?;
    if fields.is_empty() {
        if matches!(
            req.action,
            Action::Export | Action::Erase | Action::History | Action::Ingest
        ) {
            fields = bundle
                .catalog
                .datasets
                .iter()
                .flat_map(|(d, ds)| ds.fields.keys().map(move |f| (d.as_str(), f.as_str())))
                .collect();
        } else if req.action != Action::Admin {
            return Err(Error::InvalidRequest(format!(
                "{} needs at least one field",
                req.action.as_str()
            )));
        }
    }

    let mut decision = Decision {
        allow: false,
        reasons: Vec::new(),
        policies: Vec::new(),
        legal_basis: None,
        transfer: false,
        data_jurisdiction: data_j.clone(),
        destination: String::new(),
        destinations: Vec::new(),
        destination_class: DestinationClass::Same,
        plan: BTreeMap::new(),
        k: None,
    };

    let Some(principal) = bundle.principals.principals.get(&req.principal) else {
        return Ok(decision.deny(format!("unknown principal {:?}", req.principal)));
    };
    if let Err(why) =
        crate::purpose::check(bundle, &req.principal, principal, req.action, &req.purpose)
    {
        return Ok(decision.deny(why));
    }
    // Where the principal is (the configuration's truth) always counts; a
    // declared destination can only add a jurisdiction, never replace it.
    let Some(located_j) = bundle.law.jurisdiction_of(&principal.location) else {
        return Ok(decision.deny(format!(
            "the location of principal {} is not in the law table",
            req.principal
        )));
    };
    let declared_j = match req.destination.as_deref() {
        None => None,
        Some(country) => match bundle.law.jurisdiction_of(country) {
            Some(j) => Some(j),
            None => {
                return Ok(
                    decision.deny("the declared destination is not a country of the law table")
                );
            }
        },
    };
    decision.destination = declared_j.unwrap_or(located_j).to_owned();
    decision.destinations = [Some(located_j), declared_j]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Built-in: the request is a transfer toward every one of those
    // jurisdictions that is not the data's; remote viewing is a transfer.
    // Ingest brings data in; erase destroys it.
    let moves = !matches!(req.action, Action::Ingest | Action::Erase);
    let targets: Vec<String> = decision
        .destinations
        .iter()
        .filter(|j| moves && **j != data_j)
        .cloned()
        .collect();
    decision.transfer = !targets.is_empty();

    let recipient = Recipient {
        organisation: &principal.organisation,
        group: principal.group.as_deref(),
        sector: principal.sector.as_deref(),
        certifications: &principal.certifications,
        contracts: &principal.contracts,
    };
    // The class of the least protected destination decides the transforms.
    decision.destination_class = if !decision.transfer {
        DestinationClass::Same
    } else if targets
        .iter()
        .all(|j| bundle.law.adequacy_for(j, &recipient, date).is_some())
    {
        DestinationClass::Adequate
    } else {
        DestinationClass::Other
    };

    if req.action == Action::Reidentify && decision.transfer {
        return Ok(
            decision.deny("re-identification happens only inside the home region's jurisdiction")
        );
    }

    // Cedar: one authorization per jurisdiction the request reaches (one or
    // two); every one must permit, so a declared destination only adds
    // policies that can forbid.
    let field_defs: Vec<_> = fields
        .iter()
        .filter_map(|(d, f)| bundle.catalog.field(d, f))
        .collect();
    let mut datasets: Vec<String> = fields.iter().map(|(d, _)| (*d).to_owned()).collect();
    datasets.sort();
    datasets.dedup();
    let evaluated: Vec<String> = decision.destinations.clone();
    for dest_j in &evaluated {
        let cx = CedarContext {
            region: &req.region,
            data_jurisdiction: &data_j,
            destination: dest_j,
            is_transfer: moves && *dest_j != data_j,
            purpose: &req.purpose,
            legal_basis: req.legal_basis.as_deref().unwrap_or(""),
            datasets: datasets.clone(),
            fields: fields.iter().map(|(d, f)| format!("{d}.{f}")).collect(),
            levels: field_defs
                .iter()
                .map(|f| f.level.as_str().to_owned())
                .collect(),
            categories: field_defs
                .iter()
                .map(|f| f.category.as_str().to_owned())
                .collect(),
            subject_count: i64::try_from(req.subject_count).unwrap_or(i64::MAX),
        };
        let a = cedar::authorize(
            &bundle.policies,
            &bundle.entities,
            &req.principal,
            req.action.as_str(),
            cedar::uid("Region", &req.region),
            cx,
        )?;
        if !a.allow {
            decision.policies = a.policies;
            let why = if !a.errors.is_empty() {
                format!("policy evaluation failed: {}", a.errors.join("; "))
            } else if decision.policies.is_empty() {
                format!(
                    "no policy permits {} on {} for {}",
                    req.action.as_str(),
                    req.region,
                    req.principal
                )
            } else {
                format!("forbidden by {}", decision.policies.join(", "))
            };
            return Ok(decision.deny(why));
        }
        decision.policies.extend(a.policies);
    }
    decision.policies.sort();
    decision.policies.dedup();

    // Built-in: a transfer of personal or protected data names a valid tool.
    // (k-anonymous aggregates are not personal data.)
    let personal = fields
        .iter()
        .filter_map(|(d, f)| bundle.catalog.field(d, f))
        .any(|f| f.level >= Level::Personal);
    if decision.transfer && personal && req.action != Action::Aggregate {
        let Some(basis) = req.legal_basis.as_deref() else {
            return Ok(decision.deny(format!(
                "a transfer of personal data from {data_j} to {} must name its transfer tool (adequacy decision, SCC, BCR or Art. 49 derogation)",
                targets.join(" and ")
            )));
        };
        // One named tool must hold for every jurisdiction reached.
        for dest_j in &targets {
            match bundle
                .law
                .check_basis(basis, dest_j, &recipient, req.subject_count, date)
            {
                Ok(checked) => decision.legal_basis = Some(checked),
                Err(why) => {
                    decision.legal_basis = None;
                    return Ok(decision.deny(format!("no valid transfer tool for {dest_j}: {why}")));
                }
            }
        }
    }

    // The plan, with the built-in floor for protected fields.
    for &(d, f) in &fields {
        let Some(field) = bundle.catalog.field(d, f) else {
            continue;
        };
        let mut t = field.egress.for_class(decision.destination_class).clone();
        if field.level == Level::Protected
            && decision.destination_class == DestinationClass::Other
            && t == Transform::Keep
        {
            decision.reasons.push(format!(
                "{d}.{f} is protected and {} has no adequacy decision: dropped instead of sent in clear",
                targets.join(" and ")
            ));
            t = Transform::Drop;
        }
        decision.plan.insert(format!("{d}.{f}"), t);
    }
    if req.action == Action::Aggregate {
        let k = fields
            .iter()
            .filter_map(|(d, _)| bundle.catalog.datasets.get(*d))
            .map(|ds| ds.min_group)
            .max()
            .unwrap_or(10)
            .max(pseudo::kanon::MIN_K);
        decision.k = Some(k);
    }
    decision.allow = true;
    Ok(decision)
}
