//! The bounds of every caller-controlled input, checked at the HTTP edge
//! before anything is looked up, decided or logged. With them, the largest
//! entry a decision can produce stays below the log's entry limit, so a
//! decision that was made can always be logged (see the test below).
//!
//! A refusal names the field and its limit, never the value: values may be
//! personal data, and a purpose or legal basis that is not an id of the
//! policy bundle is free text that must not reach the public log.

use std::fmt::Display;

use policy::{Bundle, FieldRef};

use crate::Error;
use crate::region::{
    AggregateRequest, HistoryRequest, IncomingEvent, ReadRequest, ReidentifyRequest,
    SubjectRequest, TransferRequest,
};

/// Longest user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;
/// Most user ids in one transfer.
pub const MAX_USER_IDS: usize = 10_000;
/// Most fields (`fields`, `group_by`) in one request.
pub const MAX_FIELDS: usize = 64;
/// Longest `dataset.field` name, in bytes.
pub const MAX_FIELD_NAME_BYTES: usize = FieldRef::MAX_BYTES;
/// Most conditions in a transfer's filter.
pub const MAX_FILTER_CONDITIONS: usize = 16;
/// Longest value a filter condition compares with, in bytes.
pub const MAX_FILTER_VALUE_BYTES: usize = 1024;
/// Longest purpose, in bytes (it must also be a declared id).
pub const MAX_PURPOSE_BYTES: usize = policy::purpose::MAX_ID_BYTES;
/// Longest legal basis, in bytes (it must also be an id of the law table).
pub const MAX_LEGAL_BASIS_BYTES: usize = 128;
/// Longest reversible token: one of the largest value the store takes,
/// base64url with its 16-byte tag and a version prefix.
pub const MAX_TOKEN_BYTES: usize = (store::MAX_VALUE_LEN + 16).div_ceil(3) * 4 + 16;
/// Longest re-identification justification, in bytes.
pub const MAX_JUSTIFICATION_BYTES: usize = 1024;
/// Most accesses on one page of a person's history.
pub const MAX_HISTORY_PAGE: usize = 200;
/// Most events in one ingest.
pub const MAX_EVENTS: usize = 100_000;
/// Longest dataset name, record id and field name of an event, in bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 256;

/// A request whose inputs are checked against the bounds (and, for
/// purposes and legal bases, against the bundle) before it is handled.
pub trait Bounded {
    /// Ok, or a 400 naming the first field out of bounds.
    fn check(&self, bundle: &Bundle) -> Result<(), Error>;
}

fn bad(why: String) -> Error {
    Error::BadRequest(why)
}

fn length(field: impl Display, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(bad(format!("{field}: longer than {max} bytes")));
    }
    Ok(())
}

fn count<T>(field: impl Display, items: &[T], max: usize) -> Result<(), Error> {
    if items.len() > max {
        return Err(bad(format!("{field}: more than {max} items")));
    }
    Ok(())
}

fn user_id(field: impl Display + Copy, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(bad(format!("{field}: empty")));
    }
    length(field, value, MAX_USER_ID_BYTES)
}

fn name(field: impl Display + Copy, value: &str) -> Result<(), Error> {
    length(field, value, MAX_EVENT_NAME_BYTES)?;
    if !policy::is_catalog_name(value) {
        return Err(bad(format!(
            "{field}: not a catalog name (ASCII letters, digits, '_' and '-')"
        )));
    }
    Ok(())
}

fn field_names(field: &str, values: &[FieldRef]) -> Result<(), Error> {
    count(field, values, MAX_FIELDS)
}

/// An ISO 3166-1 alpha-2 code's shape: two ASCII uppercase letters.
fn country(field: impl Display, value: &str) -> Result<(), Error> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(());
    }
    Err(bad(format!(
        "{field}: not an ISO 3166-1 alpha-2 country code (two uppercase letters)"
    )))
}

/// A declared destination: a country of the law table. It is logged as
/// declared, and the public log takes no value a caller chose freely (two
/// letters of its own were a channel into it).
fn destination(bundle: &Bundle, value: &str) -> Result<(), Error> {
    country("destination", value)?;
    if bundle.law.jurisdiction_of(value).is_none() {
        return Err(bad("destination: not a country of the law table".into()));
    }
    Ok(())
}

fn purpose(bundle: &Bundle, value: &str) -> Result<(), Error> {
    length("purpose", value, MAX_PURPOSE_BYTES)?;
    if !bundle.declares_purpose(value) {
        return Err(bad(
            "purpose: not a purpose the policy bundle declares".into()
        ));
    }
    Ok(())
}

fn legal_basis(bundle: &Bundle, value: Option<&str>) -> Result<(), Error> {
    let Some(value) = value else { return Ok(()) };
    length("legal_basis", value, MAX_LEGAL_BASIS_BYTES)?;
    if !bundle.law.knows_basis(value) {
        return Err(bad(
            "legal_basis: not an adequacy decision (adequacy:<id>) or transfer tool of the law table"
                .into(),
        ));
    }
    Ok(())
}

impl Bounded for ReadRequest {
    fn check(&self, bundle: &Bundle) -> Result<(), Error> {
        user_id("user_id", &self.user_id)?;
        field_names("fields", &self.fields)?;
        purpose(bundle, &self.purpose)?;
        legal_basis(bundle, self.legal_basis.as_deref())
    }
}

impl Bounded for TransferRequest {
    fn check(&self, bundle: &Bundle) -> Result<(), Error> {
        if let Some(ids) = &self.user_ids {
            count("user_ids", ids, MAX_USER_IDS)?;
            for (i, id) in ids.iter().enumerate() {
                user_id(format_args!("user_ids[{i}]"), id)?;
            }
        }
        if let Some(filter) = &self.filter {
            if filter.len() > MAX_FILTER_CONDITIONS {
                return Err(bad(format!(
                    "filter: more than {MAX_FILTER_CONDITIONS} conditions"
                )));
            }
            for value in filter.values() {
                if let Some(s) = value.as_str() {
                    length("filter: a value", s, MAX_FILTER_VALUE_BYTES)?;
                }
            }
        }
        field_names("fields", &self.fields)?;
        purpose(bundle, &self.purpose)?;
        if let Some(d) = &self.destination {
            destination(bundle, d)?;
        }
        legal_basis(bundle, self.legal_basis.as_deref())
    }
}

impl Bounded for AggregateRequest {
    fn check(&self, bundle: &Bundle) -> Result<(), Error> {
        field_names("group_by", &self.group_by)?;
        purpose(bundle, &self.purpose)
    }
}

impl Bounded for ReidentifyRequest {
    fn check(&self, _: &Bundle) -> Result<(), Error> {
        length("token", &self.token, MAX_TOKEN_BYTES)?;
        length(
            "justification",
            &self.justification,
            MAX_JUSTIFICATION_BYTES,
        )
    }
}

impl Bounded for HistoryRequest {
    fn check(&self, _: &Bundle) -> Result<(), Error> {
        user_id("user_id", &self.user_id)?;
        if let Some(c) = &self.country {
            country("country", c)?;
        }
        match self.limit {
            Some(n) if n == 0 || n > MAX_HISTORY_PAGE => Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_HISTORY_PAGE}"
            ))),
            _ => Ok(()),
        }
    }
}

impl Bounded for SubjectRequest {
    fn check(&self, _: &Bundle) -> Result<(), Error> {
        user_id("user_id", &self.user_id)
    }
}

impl Bounded for [IncomingEvent] {
    fn check(&self, _: &Bundle) -> Result<(), Error> {
        count("events", self, MAX_EVENTS)?;
        // A place is formatted only for a refusal: a batch of many
        // thousand events is checked on every ingest.
        for (i, e) in self.iter().enumerate() {
            user_id(format_args!("events[{i}].user_id"), &e.user_id)?;
            country(format_args!("events[{i}].country"), &e.country)?;
            name(format_args!("events[{i}].dataset"), &e.dataset)?;
            length(
                format_args!("events[{i}].record_id"),
                &e.record_id,
                MAX_EVENT_NAME_BYTES,
            )?;
            if e.fields.len() > MAX_FIELDS {
                return Err(bad(format!(
                    "events[{i}].fields: more than {MAX_FIELDS} fields"
                )));
            }
            for (field, value) in &e.fields {
                name(format_args!("events[{i}].fields: a name"), field)?;
                length(
                    format_args!("events[{i}].fields: a value"),
                    value,
                    store::MAX_VALUE_LEN,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entry::{Entry, PrincipalRef};
    use policy::{Action, DecisionRequest, Sources};

    fn example(file: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
        std::fs::read_to_string(dir.join(file)).unwrap()
    }

    /// The example bundle grown to what the bounds let a request name:
    /// [`MAX_FIELDS`] protected fields whose names are
    /// [`MAX_FIELD_NAME_BYTES`] long, each in a dataset of its own, a
    /// purpose of [`MAX_PURPOSE_BYTES`], a transfer tool whose id is
    /// [`MAX_LEGAL_BASIS_BYTES`] long that every principal signed, and a
    /// policy that permits everything (so that every field is in the plan
    /// with a reason of its own).
    fn largest_bundle() -> (Bundle, String, String, Vec<FieldRef>) {
        let purpose = "p".repeat(MAX_PURPOSE_BYTES);
        let tool = "t".repeat(MAX_LEGAL_BASIS_BYTES);
        let mut catalog = format!("[purposes.{purpose}]\ndescription = \"the longest\"\n");
        let mut fields = Vec::new();
        for i in 0..MAX_FIELDS {
            let ds = format!("d{i:0>62}");
            let f = "f".repeat(MAX_FIELD_NAME_BYTES - ds.len() - 1);
            catalog.push_str(&format!(
                "[datasets.{ds}.fields.{f}]\ncategory = \"contact\"\nlevel = \"protected\"\n\
                 egress.same = {{ op = \"keep\" }}\negress.adequate = {{ op = \"keep\" }}\n\
                 egress.other = {{ op = \"keep\" }}\n"
            ));
            fields.push(FieldRef::new(&ds, &f).unwrap());
        }
        let principals = example("principals.toml")
            .lines()
            .filter(|l| !l.starts_with("purposes ="))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                "roles = [",
                &format!("purposes = [\"{purpose}\"]\ncontracts = [\"{tool}\"]\nroles = ["),
            );
        let law = format!(
            "{}\n[tools.{tool}]\nkind = \"scc\"\nreference = \"the longest\"\nfrom = \"2000-01-01\"\n",
            policy::law::DEFAULT_LAW_TABLE
        );
        let bundle = Bundle::from_sources(Sources {
            catalog,
            law: Some(law),
            principals,
            regions: example("regions.toml"),
            policies: vec![(
                "policies/all.cedar".into(),
                "permit (principal, action, resource);".into(),
            )],
        })
        .unwrap();
        (bundle, purpose, tool, fields)
    }

    /// A decision that could not be logged is a 503 saying so, not a bare
    /// 500, and repeats nothing of the log's error.
    #[test]
    fn a_decision_that_could_not_be_logged_answers_503() {
        let p = crate::http::Problem::from(Error::NotLogged);
        assert_eq!(p.status, 503);
        assert!(p.kind.ends_with("/not-logged"), "{}", p.kind);
        assert!(p.detail.contains("could not be logged"), "{}", p.detail);
    }

    /// Every decision at the maximum of every bound makes an entry the log
    /// can hold, with room to spare: a decided request is always logged.
    #[test]
    fn the_largest_entry_a_bounded_request_can_make_fits_in_the_log() {
        let (bundle, purpose, tool, fields) = largest_bundle();
        let subjects: Vec<String> = (0..entry::MAX_LISTED_SUBJECTS)
            .map(|i| format!("{i:0>64}"))
            .collect();
        let mut largest = 0;
        for (id, p) in &bundle.principals.principals {
            for action in [
                Action::Read,
                Action::Transfer,
                Action::Aggregate,
                Action::Reidentify,
                Action::Export,
                Action::Erase,
            ] {
                for destination in [None, Some("CN"), Some("US"), Some("FR"), Some("ZZ")] {
                    for basis in [None, Some(tool.as_str())] {
                        let all = matches!(action, Action::Export | Action::Erase);
                        let req = DecisionRequest {
                            principal: id.clone(),
                            action,
                            region: "eu-fr".into(),
                            fields: if all { Vec::new() } else { fields.clone() },
                            purpose: purpose.clone(),
                            destination: destination.map(str::to_owned),
                            legal_basis: basis.map(str::to_owned),
                            subject_count: MAX_USER_IDS,
                        };
                        let day = time::Date::from_calendar_date(2026, time::Month::November, 24)
                            .unwrap();
                        let d = policy::decide(&bundle, &req, day).unwrap();
                        let who = PrincipalRef {
                            id: id.clone(),
                            location: p.location.clone(),
                        };
                        let mut e =
                            Entry::decided(&bundle, "2026-11-24T23:59:59Z".into(), who, &req, &d);
                        e.cover(&subjects);
                        e.payload_digest = Some("f".repeat(64));
                        e.justification_digest = Some("f".repeat(64));
                        largest = largest.max(e.to_canonical().len());
                    }
                }
            }
        }
        eprintln!("the largest entry: {largest} bytes");
        // A margin for what the bundle's own names add (ids of principals,
        // regions, policies) beyond the example's.
        assert!(
            largest < tlog::tile::MAX_ENTRY_LEN / 2,
            "the largest entry is {largest} bytes"
        );
        assert!(largest > 16_000, "the bounds were not reached: {largest}");
    }
}
