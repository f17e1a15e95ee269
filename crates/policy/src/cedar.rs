//! Cedar policies: loading them with file-and-line diagnostics, validating
//! them against residency's schema (`schema.cedarschema`), the entity store
//! built from the catalog, principals and regions, and authorization.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode,
    Validator,
};
use miette::Diagnostic;

use crate::Error;
use crate::catalog::Catalog;
use crate::law::LawTable;
use crate::principals::{Principals, Regions};

/// The Cedar schema policies are validated against.
pub const SCHEMA: &str = include_str!("schema.cedarschema");

/// The schemas of earlier builds, each a subset of [`SCHEMA`] (actions
/// were only added since): a bundle logged under one still rebuilds to
/// its hash and decides as it did, as adding an action changes no
/// decision about the others.
pub const EARLIER_SCHEMAS: &[&str] = &[
    // Before the `history` action (a person's access history).
    include_str!("schema-before-history.cedarschema"),
];

/// The actions of the schema.
pub const ACTIONS: &[&str] = &[
    "ingest",
    "read",
    "transfer",
    "aggregate",
    "reidentify",
    "export",
    "erase",
    "history",
    "admin",
];

/// A validated policy set, with where each policy came from.
#[derive(Debug)]
pub struct Policies {
    pub(crate) set: PolicySet,
    /// The policies that can apply to a principal: those scoped to it with
    /// `principal == …` plus every other one. Cedar evaluates every policy
    /// of a set; slicing by the principal scope skips those that cannot
    /// apply without changing any decision.
    by_principal: HashMap<String, PolicySet>,
    /// The policies without a `principal == …` scope.
    general: PolicySet,
    authorizer: Authorizer,
    schema: Schema,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `file:line:col: message` for each labelled span of a diagnostic.
fn render(file: &str, text: &str, d: &dyn Diagnostic, message: &str) -> String {
    let mut lines = Vec::new();
    if let Some(labels) = d.labels() {
        for l in labels {
            let (line, col) = line_col(text, l.offset());
            let label = l.label().map(|s| format!(" ({s})")).unwrap_or_default();
            lines.push(format!("{file}:{line}:{col}: {message}{label}"));
        }
    }
    if lines.is_empty() {
        lines.push(format!("{file}: {message}"));
    }
    if let Some(help) = d.help() {
        lines.push(format!("  help: {help}"));
    }
    lines.join("\n")
}

impl Policies {
    /// Parses policy files (name, text), gives each policy its `@id`
    /// annotation or `file#n` as id, and validates the set against the
    /// schema. Any error stops loading, reported as `file:line:col: …`.
    pub fn load(files: &[(String, String)]) -> Result<Self, Error> {
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA)
            .map_err(|e| Error::Policies(format!("built-in schema: {e}")))?;
        let mut set = PolicySet::new();
        // Policy id -> the file it came from, for diagnostics.
        let mut origin = BTreeMap::new();
        let mut errors = Vec::new();
        for (file, text) in files {
            let parsed = match PolicySet::from_str(text) {
                Ok(p) => p,
                Err(es) => {
                    for e in es.iter() {
                        errors.push(render(file, text, e, &e.to_string()));
                    }
                    continue;
                }
            };
            let mut policies: Vec<_> = parsed.policies().collect();
            policies.sort_by_key(|p| p.id().to_string());
            for (n, p) in policies.into_iter().enumerate() {
                let id = p
                    .annotation("id")
                    .map_or_else(|| format!("{file}#{n}"), str::to_owned);
                if let Some(prev) = origin.insert(id.clone(), file.clone()) {
                    errors.push(format!(
                        "{file}: policy id {id:?} is already used in {prev}"
                    ));
                    continue;
                }
                if let Err(e) = set.add(p.new_id(PolicyId::new(&id))) {
                    errors.push(format!("{file}: {e}"));
                }
            }
        }
        if errors.is_empty() {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                let file = origin.get(&id).cloned().unwrap_or_default();
                let text = files
                    .iter()
                    .find(|(f, _)| *f == file)
                    .map_or("", |(_, t)| t.as_str());
                errors.push(render(&file, text, e, &format!("policy {id}: {e}")));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Policies(errors.join("\n")));
        }
        let (by_principal, general) = slice_by_principal(&set)?;
        Ok(Policies {
            set,
            by_principal,
            general,
            authorizer: Authorizer::new(),
            schema,
        })
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.set.policies().count()
    }

    /// Whether there are no policies (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// Splits a policy set by `principal == …` scope (see [`Policies`]).
fn slice_by_principal(set: &PolicySet) -> Result<(HashMap<String, PolicySet>, PolicySet), Error> {
    let mut general = PolicySet::new();
    let mut scoped: HashMap<String, Vec<cedar_policy::Policy>> = HashMap::new();
    for p in set.policies() {
        match p.principal_constraint() {
            cedar_policy::PrincipalConstraint::Eq(uid) => scoped
                .entry(uid.id().unescaped().to_owned())
                .or_default()
                .push(p.clone()),
            _ => general
                .add(p.clone())
                .map_err(|e| Error::Policies(e.to_string()))?,
        }
    }
    let mut by_principal = HashMap::new();
    for (principal, policies) in scoped {
        let mut s = general.clone();
        for p in policies {
            s.add(p).map_err(|e| Error::Policies(e.to_string()))?;
        }
        by_principal.insert(principal, s);
    }
    Ok((by_principal, general))
}

pub(crate) fn uid(kind: &str, id: &str) -> EntityUid {
    let name = EntityTypeName::from_str(&format!("Residency::{kind}"))
        .unwrap_or_else(|e| unreachable!("type name {kind}: {e}"));
    EntityUid::from_type_name_and_id(name, EntityId::new(id))
}

fn strings<'a>(xs: impl IntoIterator<Item = &'a String>) -> RestrictedExpression {
    RestrictedExpression::new_set(
        xs.into_iter()
            .map(|s| RestrictedExpression::new_string(s.clone())),
    )
}

/// The entity store: principals, regions, datasets and fields.
pub(crate) fn entities(
    catalog: &Catalog,
    principals: &Principals,
    regions: &Regions,
    law: &LawTable,
    schema: &Schema,
) -> Result<Entities, Error> {
    let mut out = Vec::new();
    let attr = |e: Result<Entity, _>| e.map_err(|e| Error::Inconsistent(format!("{e}")));
    for (id, p) in &principals.principals {
        let j = law.jurisdiction_of(&p.location).unwrap_or("unknown");
        let attrs = HashMap::from([
            (
                "location".to_owned(),
                RestrictedExpression::new_string(p.location.clone()),
            ),
            (
                "jurisdiction".to_owned(),
                RestrictedExpression::new_string(j.to_owned()),
            ),
            (
                "organisation".to_owned(),
                RestrictedExpression::new_string(p.organisation.clone()),
            ),
            ("roles".to_owned(), strings(&p.roles)),
            ("certifications".to_owned(), strings(&p.certifications)),
        ]);
        out.push(attr(Entity::new(
            uid("Principal", id),
            attrs,
            HashSet::new(),
        ))?);
    }
    for (id, r) in &regions.regions {
        let j = law.jurisdiction_of(&r.country).unwrap_or("unknown");
        let attrs = HashMap::from([
            (
                "jurisdiction".to_owned(),
                RestrictedExpression::new_string(j.to_owned()),
            ),
            (
                "country".to_owned(),
                RestrictedExpression::new_string(r.country.clone()),
            ),
        ]);
        out.push(attr(Entity::new(uid("Region", id), attrs, HashSet::new()))?);
    }
    for (name, d) in &catalog.datasets {
        let attrs = HashMap::from([(
            "name".to_owned(),
            RestrictedExpression::new_string(name.clone()),
        )]);
        out.push(attr(Entity::new(
            uid("Dataset", name),
            attrs,
            HashSet::new(),
        ))?);
        for (fname, f) in &d.fields {
            let attrs = HashMap::from([
                (
                    "category".to_owned(),
                    RestrictedExpression::new_string(f.category.as_str().to_owned()),
                ),
                (
                    "level".to_owned(),
                    RestrictedExpression::new_string(f.level.as_str().to_owned()),
                ),
            ]);
            let parents = HashSet::from([uid("Dataset", name)]);
            out.push(attr(Entity::new(
                uid("Field", &format!("{name}.{fname}")),
                attrs,
                parents,
            ))?);
        }
    }
    Entities::from_entities(out, Some(schema))
        .map_err(|e| Error::Inconsistent(format!("entities: {e}")))
}

/// The context of one authorization.
pub(crate) struct CedarContext<'a> {
    pub(crate) region: &'a str,
    pub(crate) data_jurisdiction: &'a str,
    pub(crate) destination: &'a str,
    pub(crate) is_transfer: bool,
    pub(crate) purpose: &'a str,
    pub(crate) legal_basis: &'a str,
    pub(crate) datasets: Vec<String>,
    pub(crate) fields: Vec<String>,
    pub(crate) levels: Vec<String>,
    pub(crate) categories: Vec<String>,
    pub(crate) subject_count: i64,
}

/// Result of one authorization: allowed, and the determining policy ids.
pub(crate) struct Authorized {
    pub(crate) allow: bool,
    pub(crate) policies: Vec<String>,
    pub(crate) errors: Vec<String>,
}

pub(crate) fn authorize(
    policies: &Policies,
    entities: &Entities,
    principal: &str,
    action: &str,
    resource: EntityUid,
    cx: CedarContext<'_>,
) -> Result<Authorized, Error> {
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    let context = Context::from_pairs([
        ("region".to_owned(), s(cx.region)),
        ("data_jurisdiction".to_owned(), s(cx.data_jurisdiction)),
        ("destination".to_owned(), s(cx.destination)),
        (
            "is_transfer".to_owned(),
            RestrictedExpression::new_bool(cx.is_transfer),
        ),
        ("purpose".to_owned(), s(cx.purpose)),
        ("legal_basis".to_owned(), s(cx.legal_basis)),
        ("datasets".to_owned(), strings(&cx.datasets)),
        ("fields".to_owned(), strings(&cx.fields)),
        ("levels".to_owned(), strings(&cx.levels)),
        ("categories".to_owned(), strings(&cx.categories)),
        (
            "subject_count".to_owned(),
            RestrictedExpression::new_long(cx.subject_count),
        ),
    ])
    .map_err(|e| Error::InvalidRequest(format!("context: {e}")))?;
    let action = EntityUid::from_type_name_and_id(
        EntityTypeName::from_str("Residency::Action")
            .unwrap_or_else(|e| unreachable!("action type: {e}")),
        EntityId::new(action),
    );
    let request = Request::new(uid("Principal", principal), action, resource, context, None)
        .map_err(|e| Error::InvalidRequest(format!("{e}")))?;
    let set = policies
        .by_principal
        .get(principal)
        .unwrap_or(&policies.general);
    let response = policies.authorizer.is_authorized(&request, set, entities);
    let mut ids: Vec<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    ids.sort();
    Ok(Authorized {
        allow: response.decision() == CedarDecision::Allow,
        policies: ids,
        errors: response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect(),
    })
}
