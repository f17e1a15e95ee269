//! The release pipeline: reads and transfers. Every release runs the same
//! phases, in this order:
//!
//! 1. **select** the subjects — the users asked for by id (not looked up
//!    yet), or every subject holding records of the datasets; a filter
//!    over public fields (stored in clear) narrows either;
//! 2. **decide** by policy, on the count selected: a denial is logged
//!    naming the users asked for, known or not alike
//!    ([`Region::deny_asked`]);
//! 3. **read sealed** the records to release, still encrypted, so that
//!    the entry's payload digest commits to exactly what will be opened;
//! 4. **log** the entry, wait until it is durably sequenced, and note the
//!    access in the access index (before anything is opened, so an opened
//!    access is always noted);
//! 5. **open** the records with the proof of that entry (the store opens
//!    nothing without one);
//! 6. **transform** each field by the decision's plan; across a border,
//!    subjects and records are named by tokens of the purpose;
//! 7. answer with a **receipt** of the entry.

use std::collections::{BTreeMap, BTreeSet};

use entry::{Entry, Opening};
use policy::{Action, Decision, DecisionRequest, FieldRef};
use pseudo::Transform;
use store::Backend;

use super::entries::Logged;

use super::entries::openings;
use super::{Now, ReadRequest, Region, Release, ReleasedRecord, TransferRequest};
use crate::Error;
use crate::metrics::TransferLabels;

/// Phase 1 of a transfer: whom it is about.
enum Selection {
    /// Users asked for by id (each once), not looked up before the
    /// decision; `matching`: the subjects the filter selects, if any.
    Asked {
        ids: Vec<String>,
        matching: Option<BTreeSet<String>>,
    },
    /// Subjects held here, by pseudonym: every one with records of the
    /// datasets, as narrowed by the filter.
    Held(Vec<String>),
}

impl Selection {
    /// The subject count decided on: as asked, or as selected.
    fn count(&self) -> usize {
        match self {
            Selection::Asked { ids, .. } => ids.len(),
            Selection::Held(subjects) => subjects.len(),
        }
    }
}

/// Phase 3: what a release will open, still sealed — the openings of the
/// entry's subject set (by pseudonym, fillers included) and one sealed set
/// of records per subject that is not a filler, in the same order.
pub(super) struct Payload {
    pub(super) openings: Vec<Opening>,
    pub(super) sealed: Vec<store::Sealed>,
}

impl Payload {
    /// Of records read (one [`store::Sealed`] per subject), with `fillers`
    /// for users asked for whose records are not released.
    fn of(mut sealed: Vec<store::Sealed>, fillers: usize) -> Result<Self, Error> {
        sealed.sort_by(|a, b| a.subject().cmp(b.subject()));
        let mut openings = openings(sealed.iter().map(|s| s.subject().to_owned()), fillers)?;
        openings.sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(Payload { openings, sealed })
    }
}

/// How released records name their subject and themselves: in clear
/// in-region; across a border, as keyed tokens of the purpose, so that
/// recipients can join within a transfer but not across purposes.
pub(super) struct Naming<'a> {
    subject: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
    record: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
}

impl<'a> Naming<'a> {
    pub(super) fn clear() -> Self {
        Naming {
            subject: Box::new(str::to_owned),
            record: Box::new(str::to_owned),
        }
    }

    fn tokens(keys: &'a pseudo::Keys, purpose: &str) -> Self {
        let (subjects, records) = (format!("subject/{purpose}"), format!("record/{purpose}"));
        Naming {
            subject: Box::new(move |s| keys.token.token(&subjects, s)),
            record: Box::new(move |r| keys.token.token(&records, r)),
        }
    }
}

impl<B: Backend> Region<B> {
    /// A read of one subject by `principal`. Decided before the subject is
    /// looked up: a denial names a known and an unknown user alike.
    pub async fn read(&self, principal: &str, req: ReadRequest) -> Result<Release, Error> {
        let who = self.principal(principal)?;
        let now = Now::read();
        // 1. Select: one user, by id.
        let asked = std::slice::from_ref(&req.user_id);
        // 2. Decide.
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Read,
            region: self.id.clone(),
            fields: req.fields.clone(),
            purpose: req.purpose.clone(),
            destination: None,
            legal_basis: req.legal_basis.clone(),
            subject_count: 1,
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        if !d.allow {
            return Err(self.deny_asked(e, asked).await);
        }
        // 3. Read sealed: one look-up finds the user and their records.
        let sealed = match self.local_sealed(&req.user_id, &e.datasets).await {
            Ok(sealed) => sealed,
            Err(Error::NotFound(why)) => return Err(self.allowed_but_absent(e, why).await),
            Err(e) => return Err(e),
        };
        let payload = Payload::of(vec![sealed], 0)?;
        // 4–7.
        self.log_and_release(e, &d, &dreq.purpose, payload).await
    }

    /// A transfer of several subjects' data. Users asked for by id are
    /// counted and decided on as asked, before any is looked up: a denial
    /// names them all (unknown ones as fillers), and an allowed transfer
    /// releases those homed here that the filter selects.
    pub async fn transfer(&self, principal: &str, req: TransferRequest) -> Result<Release, Error> {
        let who = self.principal(principal)?;
        let now = Now::read();
        // 1. Select.
        let selection = self.select(&req).await?;
        // 2. Decide.
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Transfer,
            region: self.id.clone(),
            fields: req.fields.clone(),
            purpose: req.purpose.clone(),
            destination: req.destination.clone(),
            legal_basis: req.legal_basis.clone(),
            subject_count: selection.count().max(1),
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        // 3. Read sealed.
        let payload = match selection {
            Selection::Held(subjects) => {
                if !d.allow {
                    return Err(self.deny(e, &openings(subjects, 0)?).await);
                }
                self.read_sealed(subjects, &e.datasets).await?
            }
            Selection::Asked { ids, matching } => {
                if !d.allow {
                    return Err(self.deny_asked(e, &ids).await);
                }
                self.read_asked(&ids, matching.as_ref(), &e.datasets)
                    .await?
            }
        };
        // 4–7.
        self.log_and_release(e, &d, &dreq.purpose, payload).await
    }

    /// Phase 1 of a transfer. The filter is checked and run first (public
    /// fields only: selecting opens nothing); no caller-named user is
    /// looked up.
    async fn select(&self, req: &TransferRequest) -> Result<Selection, Error> {
        let matching = match &req.filter {
            Some(filter) => Some(self.subjects_matching(filter).await?),
            None => None,
        };
        if let Some(ids) = &req.user_ids {
            let ids: BTreeSet<&String> = ids.iter().collect();
            return Ok(Selection::Asked {
                ids: ids.into_iter().cloned().collect(),
                matching,
            });
        }
        let mut all = BTreeSet::new();
        for ds in datasets_of(&req.fields) {
            all.extend(self.store.subjects_with(&ds).await?);
        }
        Ok(Selection::Held(
            all.into_iter()
                .filter(|s| matching.as_ref().is_none_or(|m| m.contains(s)))
                .collect(),
        ))
    }

    /// The subjects every condition of a transfer's filter selects. Only
    /// public fields can be named: they are stored in clear, so selecting
    /// opens nothing before the transfer is logged.
    async fn subjects_matching(
        &self,
        filter: &BTreeMap<FieldRef, serde_json::Value>,
    ) -> Result<BTreeSet<String>, Error> {
        if filter.is_empty() {
            return Err(Error::BadRequest(
                "filter: name at least one dataset.field".into(),
            ));
        }
        let mut by_dataset: BTreeMap<&str, Vec<(String, serde_json::Value)>> = BTreeMap::new();
        for (name, value) in filter {
            // A name is repeated in a message only once the catalog knows it.
            if self
                .bundle
                .catalog
                .field(name.dataset(), name.field())
                .is_none()
            {
                return Err(Error::BadRequest(
                    "filter: a condition names a field that is not in the catalog".into(),
                ));
            }
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                return Err(Error::BadRequest(format!(
                    "filter: the value for {name} must be a string, number or boolean"
                )));
            }
            by_dataset
                .entry(name.dataset())
                .or_default()
                .push((name.field().to_owned(), value.clone()));
        }
        let mut matching: Option<BTreeSet<String>> = None;
        for (ds, equal) in by_dataset {
            let found: BTreeSet<String> = self
                .store
                .subjects_where(ds, &equal)
                .await
                .map_err(|e| match e {
                    store::Error::Rejected(why) => Error::BadRequest(format!("filter: {why}")),
                    e => e.into(),
                })?
                .into_iter()
                .collect();
            matching = Some(match matching {
                None => found,
                Some(m) => m.intersection(&found).cloned().collect(),
            });
        }
        Ok(matching.unwrap_or_default())
    }

    /// Phase 3 for subjects held here (by pseudonym).
    pub(super) async fn read_sealed(
        &self,
        subjects: Vec<String>,
        datasets: &[String],
    ) -> Result<Payload, Error> {
        let mut sealed = Vec::with_capacity(subjects.len());
        for s in subjects {
            sealed.push(self.store.sealed(&s, datasets).await?);
        }
        Payload::of(sealed, 0)
    }

    /// Phase 3 for users asked for by id, now that the decision allows
    /// looking them up: those homed here (and selected by the filter) are
    /// read; the others stay in the subject set as fillers.
    async fn read_asked(
        &self,
        ids: &[String],
        matching: Option<&BTreeSet<String>>,
        datasets: &[String],
    ) -> Result<Payload, Error> {
        let mut found = BTreeMap::new();
        for id in ids {
            let subject = self.store.subject_ref(id);
            if matching.is_some_and(|m| !m.contains(&subject)) {
                continue;
            }
            match self.local_sealed(id, datasets).await {
                Ok(sealed) => {
                    found.insert(sealed.subject().to_owned(), sealed);
                }
                // Users not homed here are not part of the transfer.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let fillers = ids.len() - found.len();
        Payload::of(found.into_values().collect(), fillers)
    }

    /// Phases 4 to 7 of an allowed release: log (and note the access) →
    /// open → transform → receipt.
    async fn log_and_release(
        &self,
        e: Entry,
        d: &Decision,
        purpose: &str,
        payload: Payload,
    ) -> Result<Release, Error> {
        let logged = self
            .log_allowed(e, payload.openings, Some(&payload.sealed))
            .await?;
        let naming = if d.transfer {
            Naming::tokens(&self.egress, purpose)
        } else {
            Naming::clear()
        };
        let (records, withheld) = self
            .open_and_transform(&logged, payload.sealed, &d.plan, &naming)
            .await?;
        if d.transfer {
            self.metrics
                .transfers
                .get_or_create(&TransferLabels {
                    destination: d.destination.clone(),
                })
                .inc();
        }
        Ok(Release {
            log_index: logged.seq.index(),
            entry: logged.raw_entry()?,
            receipt: self.receipt(&logged.seq).await?,
            records,
            withheld,
        })
    }

    /// Phases 5 and 6: opens sealed records under `access` and applies the
    /// plan to each; returns them and the count of values withheld.
    pub(super) async fn open_and_transform(
        &self,
        logged: &Logged,
        sealed: Vec<store::Sealed>,
        plan: &BTreeMap<String, Transform>,
        name: &Naming<'_>,
    ) -> Result<(Vec<ReleasedRecord>, usize), Error> {
        let mut out = Vec::new();
        let mut withheld = 0;
        for (subject, records) in self.open_logged(logged, sealed).await? {
            for r in records {
                out.push(self.transform(plan, &subject, r, name, &mut withheld));
            }
        }
        Ok((out, withheld))
    }

    /// Phase 6 for one record: each field by its transform in the plan (a
    /// field without one is left out); a value its transform cannot take
    /// is withheld and counted.
    pub(super) fn transform(
        &self,
        plan: &BTreeMap<String, Transform>,
        subject: &str,
        record: store::Record,
        out: &Naming<'_>,
        withheld: &mut usize,
    ) -> ReleasedRecord {
        let mut fields = BTreeMap::new();
        for (name, value) in record.fields {
            let key = format!("{}.{name}", record.dataset);
            let Some(t) = plan.get(&key) else { continue };
            let cx = pseudo::transform::Context {
                subject: Some(subject),
                label: None,
            };
            match t.apply(&self.egress, &value, cx) {
                Ok(Some(v)) => {
                    fields.insert(name, v);
                }
                Ok(None) => {}
                Err(_) => *withheld += 1,
            }
        }
        ReleasedRecord {
            subject: (out.subject)(subject),
            record_id: (out.record)(&record.record_id),
            dataset: record.dataset,
            time: record.time,
            fields,
        }
    }
}

/// The datasets of fields, each once, sorted.
pub(super) fn datasets_of(fields: &[FieldRef]) -> Vec<String> {
    let set: BTreeSet<&str> = fields.iter().map(FieldRef::dataset).collect();
    set.into_iter().map(str::to_owned).collect()
}
