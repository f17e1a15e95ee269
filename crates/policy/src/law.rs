//! The law table: jurisdictions, the EU's adequacy decisions (GDPR Art. 45)
//! with their dates and scope, and the other transfer tools of Chapter V —
//! standard contractual clauses (Art. 46(2)(c)), binding corporate rules
//! (Art. 47) and the derogations of Art. 49.
//!
//! A default table ships with the project (`law.toml` beside this file);
//! an operator may replace it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::Error;

/// The law table shipped with residency.
pub const DEFAULT_LAW_TABLE: &str = include_str!("law.toml");

/// A jurisdiction: a set of countries under one data-protection regime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    /// Human name.
    pub name: String,
    /// ISO 3166-1 alpha-2 country codes.
    pub countries: Vec<String>,
}

/// Who an adequacy decision covers in the destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The recipient must hold this certification (e.g. `EU-US DPF`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<String>,
    /// The recipient must be of this kind of organisation (e.g. `commercial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
}

/// An adequacy decision of the European Commission (Art. 45).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adequacy {
    /// The decision's reference (e.g. `C(2023) 4745`).
    pub reference: String,
    /// The jurisdiction it covers.
    pub destination: String,
    /// First day it applies.
    #[serde(with = "iso_date")]
    pub from: Date,
    /// First day it no longer applies (invalidated, expired).
    #[serde(
        default,
        with = "iso_date_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<Date>,
    /// Who it covers; everyone if empty.
    #[serde(default)]
    pub scope: Scope,
}

/// Kinds of transfer tool other than adequacy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// Standard contractual clauses, Art. 46(2)(c): the recipient must have
    /// signed them.
    Scc,
    /// Binding corporate rules, Art. 47: the recipient must belong to the group.
    Bcr,
    /// A derogation of Art. 49: occasional, one subject at a time.
    Derogation,
}

/// A transfer tool (not an adequacy decision).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Kind.
    pub kind: ToolKind,
    /// Legal reference.
    pub reference: String,
    /// First day it can be used.
    #[serde(with = "iso_date")]
    pub from: Date,
    /// First day it can no longer be used.
    #[serde(
        default,
        with = "iso_date_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<Date>,
    /// For BCRs: the organisation group bound by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The law table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawTable {
    /// Jurisdictions by code (e.g. `EEA`, `US`).
    pub jurisdictions: BTreeMap<String, Jurisdiction>,
    /// Adequacy decisions by id (e.g. `eu-us-dpf`).
    #[serde(default)]
    pub adequacy: BTreeMap<String, Adequacy>,
    /// Other transfer tools by id (e.g. `scc-2021-module-1`).
    #[serde(default)]
    pub tools: BTreeMap<String, Tool>,
}

/// The recipient of a transfer, as the law checks see it.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    /// Organisation (for BCR groups).
    pub organisation: &'a str,
    /// Organisation group, if any.
    pub group: Option<&'a str>,
    /// Sector (e.g. `commercial`).
    pub sector: Option<&'a str>,
    /// Certifications held.
    pub certifications: &'a [String],
    /// Contracts signed (ids of SCC tools).
    pub contracts: &'a [String],
}

fn within(date: Date, from: Date, until: Option<Date>) -> bool {
    date >= from && until.is_none_or(|u| date < u)
}

impl LawTable {
    /// Parses and checks a law table: every adequacy destination is a known
    /// jurisdiction and no country is in two jurisdictions.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, Error> {
        let t: LawTable = crate::parse_toml(file, text)?;
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (code, j) in &t.jurisdictions {
            for c in &j.countries {
                if let Some(other) = seen.insert(c, code) {
                    return Err(Error::Config {
                        file: file.into(),
                        message: format!("country {c} is in both {other} and {code}"),
                    });
                }
            }
        }
        for (id, a) in &t.adequacy {
            if !t.jurisdictions.contains_key(&a.destination) {
                return Err(Error::Config {
                    file: file.into(),
                    message: format!(
                        "adequacy decision {id}: unknown jurisdiction {}",
                        a.destination
                    ),
                });
            }
        }
        Ok(t)
    }

    /// The jurisdiction of a country.
    pub fn jurisdiction_of(&self, country: &str) -> Option<&str> {
        self.jurisdictions
            .iter()
            .find(|(_, j)| j.countries.iter().any(|c| c == country))
            .map(|(code, _)| code.as_str())
    }

    /// The adequacy decision in force on `date` that covers `recipient` in
    /// `destination`, if any.
    pub fn adequacy_for(
        &self,
        destination: &str,
        recipient: &Recipient<'_>,
        date: Date,
    ) -> Option<(&str, &Adequacy)> {
        self.adequacy
            .iter()
            .find(|(_, a)| {
                a.destination == destination
                    && within(date, a.from, a.until)
                    && scope_covers(&a.scope, recipient)
            })
            .map(|(id, a)| (id.as_str(), a))
    }

    /// Whether `basis` names an entry of this table: `adequacy:<id>` of an
    /// adequacy decision, or the id of a tool. Anything else is not a legal
    /// basis at all, and is refused before a request is decided.
    pub fn knows_basis(&self, basis: &str) -> bool {
        match basis.strip_prefix("adequacy:") {
            Some(id) => self.adequacy.contains_key(id),
            None => self.tools.contains_key(basis),
        }
    }

    /// Checks a named legal basis (`adequacy:<id>` or `<tool id>`) for a
    /// transfer to `destination`; on success returns the basis as logged.
    /// The error names the basis only once it is known to be an id of this
    /// table (it becomes a denial's reason, in the public log).
    pub fn check_basis(
        &self,
        basis: &str,
        destination: &str,
        recipient: &Recipient<'_>,
        subject_count: usize,
        date: Date,
    ) -> Result<String, String> {
        if let Some(id) = basis.strip_prefix("adequacy:") {
            let a = self
                .adequacy
                .get(id)
                .ok_or_else(|| "the adequacy decision named is not in the law table".to_owned())?;
            if a.destination != destination {
                return Err(format!(
                    "adequacy decision {id} covers {}, not {destination}",
                    a.destination
                ));
            }
            if !within(date, a.from, a.until) {
                return Err(format!(
                    "adequacy decision {id} ({}) is not in force on {date}",
                    a.reference
                ));
            }
            if !scope_covers(&a.scope, recipient) {
                return Err(format!(
                    "the recipient is outside the scope of adequacy decision {id} ({})",
                    scope_text(&a.scope)
                ));
            }
            return Ok(format!("adequacy:{id} ({})", a.reference));
        }
        let t = self
            .tools
            .get(basis)
            // The caller's text is not repeated: it goes into the log.
            .ok_or_else(|| "the transfer tool named is not in the law table".to_owned())?;
        if !within(date, t.from, t.until) {
            return Err(format!(
                "transfer tool {basis} ({}) is not usable on {date}",
                t.reference
            ));
        }
        match t.kind {
            ToolKind::Scc if !recipient.contracts.iter().any(|c| c == basis) => Err(format!(
                "the recipient has not signed {basis} ({})",
                t.reference
            )),
            ToolKind::Bcr if t.group.as_deref() != recipient.group => Err(format!(
                "the recipient is not bound by the binding corporate rules {basis}"
            )),
            ToolKind::Derogation if subject_count != 1 => Err(format!(
                "derogation {basis} ({}) covers occasional transfers about one person, not {subject_count}",
                t.reference
            )),
            _ => Ok(format!("{basis} ({})", t.reference)),
        }
    }
}

fn scope_covers(scope: &Scope, r: &Recipient<'_>) -> bool {
    scope
        .certification
        .as_ref()
        .is_none_or(|c| r.certifications.iter().any(|x| x == c))
        && scope
            .sector
            .as_ref()
            .is_none_or(|s| r.sector == Some(s.as_str()))
}

fn scope_text(scope: &Scope) -> String {
    match (&scope.certification, &scope.sector) {
        (Some(c), _) => format!("certified under {c}"),
        (None, Some(s)) => format!("{s} organisations"),
        (None, None) => "everyone".into(),
    }
}

/// `YYYY-MM-DD` dates in TOML, required or optional.
mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    const FMT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]");

    pub(crate) fn parse<E: serde::de::Error>(s: &str) -> Result<Date, E> {
        Date::parse(s, FMT).map_err(|_| E::custom(format!("{s:?} is not a date (YYYY-MM-DD)")))
    }

    pub(crate) fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format(FMT).map_err(serde::ser::Error::custom)?)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        parse(&String::deserialize(d)?)
    }
}

mod iso_date_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::iso_date::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::iso_date::parse(&s))
            .transpose()
    }
}
