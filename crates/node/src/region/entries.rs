//! Where log entries are made: the entry of a decision, appended and
//! durably sequenced, then noted in the access index so that each subject
//! it names finds it in their export. A denial is logged the same way.
//!
//! An entry names its subjects only by a salted commitment
//! ([`SubjectSet`]): the openings (pseudonym and salt) stay in the region's
//! access index. Users asked for but not homed here are committed to as
//! fillers, so an entry has the same shape whoever exists.

use std::collections::BTreeSet;
use std::time::Instant;

use entry::{Entry, Kind, Opening, PrincipalRef, SubjectSet};
use policy::{Decision, DecisionRequest};
use store::{Backend, LoggedAccess};
use tlog::Sequenced;

use super::{Now, Region};
use crate::Error;
use crate::metrics::DecisionLabels;

/// An allowed decision, durably logged and noted in the access index.
pub(super) struct Logged {
    pub(super) seq: Sequenced,
    /// The entry's bytes, as logged.
    pub(super) bytes: Vec<u8>,
    /// The openings of the subject set the entry commits to, by pseudonym.
    pub(super) openings: Vec<Opening>,
}

impl Logged {
    /// The entry as logged, for an answer to carry as it is (canonical
    /// JSON, so never re-encoded).
    pub(super) fn raw_entry(&self) -> Result<Box<serde_json::value::RawValue>, Error> {
        let text = String::from_utf8(self.bytes.clone())
            .map_err(|_| Error::Internal("a logged entry is not UTF-8".into()))?;
        serde_json::value::RawValue::from_string(text)
            .map_err(|e| Error::Internal(format!("a logged entry is not JSON: {e}")))
    }

    /// The proof the store opens records with.
    pub(super) fn access(&self) -> Result<LoggedAccess, Error> {
        Ok(LoggedAccess::with_openings(
            &self.seq,
            &self.bytes,
            &self.openings,
        )?)
    }
}

/// The openings of a salted subject set: one per subject (pseudonyms),
/// plus `fillers` that stand for subjects asked for but not known here, so
/// that an entry has the same shape whoever exists. Salts are fresh.
pub(super) fn openings(
    subjects: impl IntoIterator<Item = String>,
    fillers: usize,
) -> Result<Vec<Opening>, Error> {
    let salt = || {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        Ok::<_, Error>(salt)
    };
    let mut out = Vec::new();
    for subject in subjects {
        out.push(Opening {
            subject,
            salt: salt()?,
        });
    }
    for _ in 0..fillers {
        out.push(Opening {
            subject: String::new(),
            salt: salt()?,
        });
    }
    Ok(out)
}

impl<B: Backend> Region<B> {
    /// Logs the policy bundle in force (at start).
    pub(super) async fn log_bundle(&self) -> Result<(), Error> {
        let mut e = Entry::new(
            Kind::PolicyBundle,
            &self.id,
            self.bundle.hash(),
            Now::read().time,
        );
        e.bundle_content = Some(
            serde_json::from_str(self.bundle.canonical())
                .map_err(|e| Error::Internal(format!("bundle is not JSON: {e}")))?,
        );
        let (s, _) = self.append(&e).await?;
        if let Some(link) = &self.custodian {
            link.bundle_logged_at(s.index());
        }
        tracing::info!(region = %self.id, index = s.index(), bundle = %self.bundle.hash(), "policy bundle logged");
        Ok(())
    }

    /// Appends an entry and waits until it is durably sequenced. A failure
    /// is counted and traced (kind, action and the log's error: sizes and
    /// paths, nothing of the entry), and answered as [`Error::NotLogged`].
    async fn append(&self, e: &Entry) -> Result<(Sequenced, Vec<u8>), Error> {
        let bytes = e.to_canonical();
        let start = Instant::now();
        let s = self.seq.add(bytes.clone()).await.map_err(|err| {
            self.metrics.log_append_failures.inc();
            if let tlog::Error::Busy(_) = err {
                tracing::warn!(region = %self.id, "the region's sequencer is saturated; nothing released");
                return Error::LogBusy;
            }
            tracing::error!(
                region = %self.id,
                kind = ?e.kind,
                action = e.action.map_or("", policy::Action::as_str),
                "a decided entry could not be logged; nothing released: {err}"
            );
            Error::NotLogged
        })?;
        self.metrics
            .sequencing
            .observe(start.elapsed().as_secs_f64());
        self.metrics
            .log_size
            .set(i64::try_from(s.checkpoint().checkpoint.size).unwrap_or(i64::MAX));
        Ok((s, bytes))
    }

    /// A receipt (C2SP tlog-proof) of a sequenced entry, against the
    /// checkpoint that sequenced it.
    pub(super) async fn receipt(&self, s: &Sequenced) -> Result<String, Error> {
        Ok(self
            .reader
            .receipt(s.index(), s.checkpoint())
            .await?
            .to_text())
    }

    /// The entry for a decided request, before subjects are named; counts
    /// the decision.
    pub(super) fn access_entry(
        &self,
        principal: &PrincipalRef,
        req: &DecisionRequest,
        d: &Decision,
        now: &Now,
    ) -> Entry {
        let e = Entry::decided(&self.bundle, now.time.clone(), principal.clone(), req, d);
        self.metrics
            .decisions
            .get_or_create(&DecisionLabels {
                action: e.action.map_or("", policy::Action::as_str).into(),
                outcome: e.decision.map_or("", entry::Outcome::as_str).into(),
            })
            .inc();
        e
    }

    /// Logs an allowed decision committing to the subjects of `openings`
    /// and notes it in the access index, before anything is opened. A
    /// release passes the records it will open, still sealed (in the order
    /// of the openings' subjects, one per subject that is not a filler):
    /// the entry's payload digest commits to exactly them.
    pub(super) async fn log_allowed(
        &self,
        mut e: Entry,
        mut openings: Vec<Opening>,
        release: Option<&[store::Sealed]>,
    ) -> Result<Logged, Error> {
        let set = SubjectSet::of(&openings);
        e.commit_to(&set);
        // Release order: by pseudonym (fillers first, and not released).
        openings.sort_by(|a, b| a.subject.cmp(&b.subject));
        if let Some(sealed) = release {
            let leaves: Vec<tlog::Hash> = openings
                .iter()
                .filter(|o| !o.subject.is_empty())
                .map(Opening::leaf)
                .collect();
            e.payload_digest = Some(payload_digest(&set.root(), &leaves, sealed));
        }
        let (seq, bytes) = self.append(&e).await?;
        self.store.note_access(seq.index(), &openings).await?;
        Ok(Logged {
            seq,
            bytes,
            openings,
        })
    }

    /// Logs a denial, notes it for the subjects it names (their export
    /// lists it), and returns the error that carries it.
    pub(super) async fn deny(&self, mut e: Entry, openings: &[Opening]) -> Error {
        e.commit_to(&SubjectSet::of(openings));
        let reasons = e.reasons.clone();
        let logged = match self.append(&e).await {
            Ok((s, _)) => s,
            Err(err) => return err,
        };
        tracing::info!(region = %self.id, index = logged.index(), "denial logged");
        if let Err(err) = self.store.note_access(logged.index(), openings).await {
            return err.into();
        }
        Error::Denied {
            reasons,
            log_index: Some(logged.index()),
        }
    }

    /// Logs the denial of a request about users asked for by id: those
    /// homed here by pseudonym, the others as fillers, so that a denial
    /// looks the same whoever exists.
    pub(super) async fn deny_asked(&self, e: Entry, user_ids: &[String]) -> Error {
        match self.asked_openings(user_ids).await {
            Ok(asked) => self.deny(e, &asked).await,
            Err(err) => err,
        }
    }

    /// Logs an allowed decision about a user not homed here — every
    /// decision is logged — committing to a filler, as for anyone unknown;
    /// nothing is released. Returns the 404 to answer.
    pub(super) async fn allowed_but_absent(&self, e: Entry, why: String) -> Error {
        let filler = match openings(Vec::new(), 1) {
            Ok(o) => o,
            Err(err) => return err,
        };
        let erasure = e.action == Some(policy::Action::Erase);
        let logged = match self.log_allowed(e, filler, None).await {
            Ok(logged) => logged,
            Err(err) => return err,
        };
        // An allowed erasure, even of no one: the custodian reads it in the
        // log and releases nothing until it is told.
        if erasure && let Err(err) = self.notify_erasure(&logged, None).await {
            return err;
        }
        Error::NotFound(why)
    }

    /// Openings for the users asked for: the subjects homed here and a
    /// filler for each of the others.
    async fn asked_openings(&self, user_ids: &[String]) -> Result<Vec<Opening>, Error> {
        let mut known = BTreeSet::new();
        let mut unknown = 0;
        for id in user_ids {
            match self.local_subject(id).await {
                Ok(s) => {
                    known.insert(s);
                }
                Err(Error::NotFound(_)) => unknown += 1,
                Err(e) => return Err(e),
            }
        }
        openings(known, unknown)
    }
}

/// The payload digest of sealed records (`payload_digest` in
/// `docs/log-entries.md`): SHA-256 over the entry's salted subject-set
/// root, then, for each record in release order, its subject's salted leaf
/// in this entry, dataset, record id, time (decimal), public fields (JSON)
/// and sealed bytes, each preceded by its length as a 4-byte big-endian
/// integer. The salts make it differ from entry to entry, so it neither
/// links two accesses to the same records nor tells an empty release (no
/// such subject) from another.
/// `leaves[i]` is the salted leaf of `sealed[i]`'s subject.
pub fn payload_digest(
    root: &tlog::Hash,
    leaves: &[tlog::Hash],
    sealed: &[store::Sealed],
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(root.0);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u32).to_be_bytes());
        h.update(bytes);
    };
    for (leaf, s) in leaves.iter().zip(sealed) {
        for r in s.rows() {
            field(&leaf.0);
            field(r.dataset.as_bytes());
            field(r.record_id.as_bytes());
            field(r.time.to_string().as_bytes());
            field(r.public.as_bytes());
            field(&r.sealed);
        }
    }
    tlog::Hash(h.finalize().into()).to_hex()
}

/// The keyed digest of a re-identification's justification
/// (`justification_digest` in `docs/log-entries.md`): HMAC-SHA-256 under the
/// region's justification key, hex.
pub fn justification_digest(key: &[u8; 32], justification: &str) -> String {
    tlog::Hash(pseudo::token::hmac_sha256(key, justification.as_bytes())).to_hex()
}
