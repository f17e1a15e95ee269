//! Subject requests, made on a subject's behalf: the export (all its data,
//! and every logged access to it with a receipt and a proof that the entry
//! names it) and the erasure (crypto-shredding), each logged first; and
//! the history (the accesses alone, a page at a time), which releases no
//! record and no personal value and is decided but not logged.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;

use entry::{Entry, Opening};
use policy::{Action, DecisionRequest};
use pseudo::Transform;
use store::Backend;

use super::entries::{Logged, openings};
use super::release::Naming;
use super::{
    AccessRecord, Erased, Export, History, HistoryRequest, Now, Region, SubjectProof,
    SubjectRequest,
};
use crate::Error;
use crate::auth::Caller;

/// Accesses on a page of a person's history unless the app asks for fewer
/// or more (at most [`crate::bounds::MAX_HISTORY_PAGE`]).
const DEFAULT_HISTORY_PAGE: usize = 50;
/// Access records of a page built at once.
const RECORDS_AT_ONCE: usize = 8;

impl<B: Backend> Region<B> {
    /// A request on one subject's behalf: about all its data, for the
    /// built-in purpose `subject-request`.
    fn subject_request(&self, principal: &str, action: Action) -> DecisionRequest {
        DecisionRequest {
            principal: principal.to_owned(),
            action,
            region: self.id.clone(),
            fields: Vec::new(),
            purpose: policy::purpose::SUBJECT_REQUEST.into(),
            destination: None,
            legal_basis: None,
            subject_count: 1,
        }
    }

    /// Decides and logs a subject request (export, erasure) for a subject
    /// homed here; returns the subject's pseudonym, the logged entry and,
    /// for an export, the sealed records it commits to.
    async fn logged_subject_request(
        &self,
        principal: &str,
        user_id: &str,
        action: Action,
    ) -> Result<(String, Logged, Vec<store::Sealed>), Error> {
        let who = self.principal(principal)?;
        let now = Now::read();
        let dreq = self.subject_request(principal, action);
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        if !d.allow {
            return Err(self.deny_asked(e, &[user_id.to_owned()]).await);
        }
        let subject = match self.local_subject(user_id).await {
            Ok(subject) => subject,
            Err(Error::NotFound(why)) => return Err(self.allowed_but_absent(e, why).await),
            Err(e) => return Err(e),
        };
        // An export releases everything the subject has.
        if action == Action::Export {
            let payload = self.read_sealed(vec![subject.clone()], &e.datasets).await?;
            let logged = self
                .log_allowed(e, payload.openings, Some(&payload.sealed))
                .await?;
            return Ok((subject, logged, payload.sealed));
        }
        let logged = self
            .log_allowed(e, openings([subject.clone()], 0)?, None)
            .await?;
        Ok((subject, logged, Vec::new()))
    }

    /// A subject's export: all its data, and every logged access to it
    /// with a receipt.
    pub async fn export(&self, principal: &str, req: SubjectRequest) -> Result<Export, Error> {
        let (subject, logged, sealed) = self
            .logged_subject_request(principal, &req.user_id, Action::Export)
            .await?;
        let all_fields: BTreeMap<String, Transform> = self
            .bundle
            .catalog
            .datasets
            .iter()
            .flat_map(|(ds, d)| {
                d.fields
                    .keys()
                    .map(move |f| (format!("{ds}.{f}"), Transform::Keep))
            })
            .collect();
        let (records, _) = self
            .open_and_transform(&logged, sealed, &all_fields, &Naming::clear())
            .await?;
        let cp = self.seq.checkpoint();
        // The export's own entry is the newest: once a cosigned checkpoint
        // covers it, it covers every access below.
        let (own_receipt, receipt_cosigned) = self.cosigned_receipt(logged.seq.index()).await?;
        let mut accesses = Vec::new();
        for (index, opening) in self.store.accesses(&subject).await? {
            accesses.push(
                self.access_record(&subject, index, opening, cp.checkpoint.size)
                    .await?,
            );
        }
        Ok(Export {
            log_index: logged.seq.index(),
            receipt: own_receipt,
            receipt_cosigned,
            records,
            accesses,
        })
    }

    /// The accesses to a person's data, newest first, a page at a time,
    /// for the app showing them to that person. Decided (the policy's
    /// `history` action) but not logged: it releases no record and no
    /// personal value — the entries are the public log's — and logging it
    /// would add an entry to the very history on every look. A person
    /// homed elsewhere (by `country`) is answered by their home region,
    /// which decides the same principal's request under its own policy
    /// (this region decides nothing of it: no data of its own is asked).
    pub async fn history(
        self: &Arc<Self>,
        caller: &Caller,
        on_behalf_of: Option<&str>,
        req: HistoryRequest,
    ) -> Result<History, Error> {
        let principal = self.acting_principal(caller, on_behalf_of)?;
        let home = match &req.country {
            Some(c) => self
                .home_of(c)
                .ok_or_else(|| Error::BadRequest("country is homed by no region".into()))?,
            None => &self.id,
        };
        if home != self.id {
            if let Caller::Region(from) = caller {
                return Err(Error::BadRequest(format!(
                    "region {from} forwarded a request for a person homed in {home}, not here"
                )));
            }
            // The home decides: the request is about its data, under its
            // policy and its law.
            return self.history_from(home, principal, &req).await;
        }
        self.decide_unlogged(&self.subject_request(principal, Action::History))?;
        let subject = self.local_subject(&req.user_id).await?;
        let limit = req.limit.unwrap_or(DEFAULT_HISTORY_PAGE).max(1);
        let cp = self.seq.checkpoint();
        // A page counts down from the cursor, so entries logged meanwhile
        // never shift it; one more than the page says whether another
        // follows.
        let below = req.before.unwrap_or(u64::MAX).min(cp.checkpoint.size);
        let mut page = self
            .store
            .accesses_below(&subject, below, limit.saturating_add(1))
            .await?;
        let next_before = (page.len() > limit).then(|| page[limit - 1].0);
        page.truncate(limit);
        // Each record is a few tile reads, a proof and a store read: built
        // side by side on every core, a few at a time (a whole page at once
        // starts a blocking thread for each), in the page's order.
        let size = cp.checkpoint.size;
        let mut building = futures::stream::iter(page)
            .map(|(index, opening)| {
                let (region, subject) = (Arc::clone(self), subject.clone());
                tokio::spawn(
                    async move { region.access_record(&subject, index, opening, size).await },
                )
            })
            .buffered(RECORDS_AT_ONCE);
        let mut accesses = Vec::new();
        while let Some(record) = building.next().await {
            accesses.push(
                record
                    .map_err(|e| Error::Internal(format!("building an access record: {e}")))??,
            );
        }
        drop(building);
        Ok(History {
            subject,
            accesses,
            next_before,
        })
    }

    /// A person's history from their home region, asked on behalf of
    /// `principal`.
    async fn history_from(
        &self,
        home: &str,
        principal: &str,
        req: &HistoryRequest,
    ) -> Result<History, Error> {
        let (status, body) = self
            .post_home(home, "/v1/subjects/accesses", principal, req)
            .await?;
        let detail = || super::ingest::problem_detail(&body);
        match status.as_u16() {
            200 => serde_json::from_slice(&body).map_err(|e| Error::PeerUnavailable {
                region: home.to_owned(),
                why: format!("answered a history that does not parse: {e}"),
            }),
            400 => Err(Error::BadRequest(format!(
                "region {home} refused the request: {}",
                detail()
            ))),
            403 => Err(Error::Denied {
                reasons: vec![format!(
                    "region {home}, the person's home, does not let this principal see a person's accesses"
                )],
                log_index: None,
            }),
            404 => Err(Error::NotFound(format!("region {home} homes no such user"))),
            s => Err(Error::PeerUnavailable {
                region: home.to_owned(),
                why: format!("answered {s}: {}", detail()),
            }),
        }
    }

    /// Entry `index`, which touched `subject`, as its export and history
    /// show it: with its receipt (cosigned when a witness cosigned in
    /// time) and, for an entry naming its subjects by a root, the proof
    /// that `subject` is in the set.
    async fn access_record(
        &self,
        subject: &str,
        index: u64,
        opening: Option<Opening>,
        size: u64,
    ) -> Result<AccessRecord, Error> {
        let entry = self.reader.entry(index, size).await?;
        let (receipt, cosigned) = self.cosigned_receipt(index).await?;
        let entry = Entry::parse(&entry)
            .map_err(|e| Error::Internal(format!("log entry {index} does not parse: {e}")))?;
        let subject_proof = match (&entry.subjects_root, opening) {
            (Some(root), Some(opening)) => {
                Some(self.salted_subject_proof(&opening, index, root).await?)
            }
            (Some(root), None) => Some(self.subject_proof(subject, index, root).await?),
            (None, _) => None,
        };
        Ok(AccessRecord {
            log_index: index,
            entry: serde_json::to_value(&entry).unwrap_or_default(),
            receipt,
            cosigned,
            subject_proof,
        })
    }

    /// Proves the subject of `opening` is in the salted set entry `index`
    /// commits to by `root`, from the leaves the access index keeps.
    async fn salted_subject_proof(
        &self,
        opening: &Opening,
        index: u64,
        root: &str,
    ) -> Result<SubjectProof, Error> {
        let set = self.store.subject_set_at(index).await?;
        if set.root().to_hex() != root {
            return Err(Error::Internal(format!(
                "the access index does not reproduce the subject set of log entry {index}"
            )));
        }
        let (position, proof) = set.prove(&opening.leaf()).ok_or_else(|| {
            Error::Internal(format!("log entry {index} does not cover the subject"))
        })?;
        Ok(SubjectProof {
            subject: opening.subject.clone(),
            salt: Some(tlog::Hash(opening.salt).to_hex()),
            index: position,
            size: set.len() as u64,
            proof: proof.iter().map(tlog::Hash::to_base64).collect(),
        })
    }

    /// Version 1 entries: proves `subject` is in the unsalted set entry
    /// `index` commits to by `root`, from the access index (which keeps
    /// every subject an entry touched).
    async fn subject_proof(
        &self,
        subject: &str,
        index: u64,
        root: &str,
    ) -> Result<SubjectProof, Error> {
        let set = self.store.subjects_at(index).await?;
        let (set, computed) = store::subject_set_root(&set);
        if computed.to_hex() != root {
            return Err(Error::Internal(format!(
                "the access index does not reproduce the subjects of log entry {index}"
            )));
        }
        let position = set
            .binary_search_by(|s| s.as_str().cmp(subject))
            .map_err(|_| Error::Internal(format!("log entry {index} does not cover the subject")))?
            as u64;
        let mut tree = tlog::merkle::MemoryTree::new();
        for s in &set {
            tree.push(tlog::leaf_hash(s.as_bytes()));
        }
        let size = set.len() as u64;
        let proof = tree.run(&tlog::merkle::ProofPlan::inclusion(position, size)?)?;
        Ok(SubjectProof {
            subject: subject.to_owned(),
            salt: None,
            index: position,
            size,
            proof: proof.iter().map(tlog::Hash::to_base64).collect(),
        })
    }

    /// Erases a subject (crypto-shredding), logged first.
    pub async fn erase(&self, principal: &str, req: SubjectRequest) -> Result<Erased, Error> {
        let (subject, logged, _) = self
            .logged_subject_request(principal, &req.user_id, Action::Erase)
            .await?;
        // The custodian first: once it knows, no key of the subject is
        // released again, whatever copy of the records survives.
        self.notify_erasure(&logged, Some(&subject)).await?;
        let existed = self.store.erase(&subject).await?;
        Ok(Erased {
            log_index: logged.seq.index(),
            receipt: self.receipt(&logged.seq).await?,
            existed,
        })
    }
}
