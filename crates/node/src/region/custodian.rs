//! Opening records sealed for the region's key custodian: after the entry
//! is logged, one request to the custodian per release carries the entry,
//! its inclusion proof to the checkpoint that sequenced it (and the
//! consistency proof from what the custodian last saw), the policy
//! bundle's entry until the custodian holds it, and per record key asked
//! the subject's opening and membership proof. The custodian's record keys
//! then open the rows, still only under the entry's `LoggedAccess`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::collections::HashMap;

use custody::protocol::{
    Base64, Consistency, HexHash, KeyRef, LoggedEntry, Membership, ReleaseAnswer, ReleaseRequest,
    Salt, SubjectKeys, Wrapped,
};
use entry::{SetProver, SubjectSet};
use store::custody::RecordKeys;
use store::{Backend, Record, Sealed};

use super::Region;
use super::entries::Logged;
use crate::Error;

/// The region's key custodian, as this node reaches it.
pub(super) struct CustodianLink {
    url: String,
    token: String,
    /// The size of the newest checkpoint the custodian is known to hold.
    seen: AtomicU64,
    /// The index of the policy bundle's entry in this run.
    bundle_index: AtomicU64,
    /// Whether the custodian has been sent the bundle's entry.
    bundle_sent: AtomicBool,
    /// The newest checkpoint the custodian accepted: an entry it covers is
    /// proven against it again, which the custodian vouches for without a
    /// write (a newer checkpoint costs it a durable one).
    accepted: std::sync::Mutex<Option<tlog::SignedCheckpoint>>,
}

impl CustodianLink {
    pub(super) fn new(url: String, token: String) -> Self {
        CustodianLink {
            url,
            token,
            seen: AtomicU64::new(0),
            bundle_index: AtomicU64::new(0),
            bundle_sent: AtomicBool::new(false),
            accepted: std::sync::Mutex::new(None),
        }
    }

    fn accepted(&self) -> std::sync::MutexGuard<'_, Option<tlog::SignedCheckpoint>> {
        self.accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The checkpoint the custodian accepted, if it covers entry `index`.
    fn accepted_covering(&self, index: u64) -> Option<tlog::SignedCheckpoint> {
        self.accepted()
            .as_ref()
            .filter(|cp| cp.checkpoint.size > index)
            .cloned()
    }

    fn accept(&self, cp: tlog::SignedCheckpoint) {
        let mut accepted = self.accepted();
        if accepted
            .as_ref()
            .is_none_or(|a| a.checkpoint.size < cp.checkpoint.size)
        {
            *accepted = Some(cp);
        }
    }

    pub(super) fn bundle_logged_at(&self, index: u64) {
        self.bundle_index.store(index, Ordering::Relaxed);
        self.bundle_sent.store(false, Ordering::Relaxed);
    }
}

fn unreachable(why: impl std::fmt::Display) -> Error {
    Error::Custodian {
        why: format!("is unreachable: {why}"),
        refused: false,
    }
}

/// How often a request is sent again when the custodian holds a newer
/// checkpoint or lacks the bundle.
const ATTEMPTS: usize = 8;

/// What the custodian answered with a refusal.
#[derive(serde::Deserialize)]
struct Problem {
    code: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    latest: Option<u64>,
}

impl<B: Backend> Region<B> {
    /// Opens each subject's sealed records under `logged`: with the key
    /// file's keys, or — under a custodian — with the record keys it
    /// releases for this entry, in one round trip.
    pub(super) async fn open_logged(
        &self,
        logged: &Logged,
        sealed: Vec<Sealed>,
    ) -> Result<Vec<(String, Vec<Record>)>, Error> {
        let access = logged.access()?;
        let Some(link) = &self.custodian else {
            let mut out = Vec::with_capacity(sealed.len());
            for s in sealed {
                let subject = s.subject().to_owned();
                out.push((subject, self.store.open(&access, s).await?));
            }
            return Ok(out);
        };
        // What to ask for: per subject, each (batch, dataset) of its rows;
        // each batch secret once.
        let set = SubjectSet::of(&logged.openings);
        let prover = set.prover();
        let mut secrets: Vec<Wrapped> = Vec::new();
        let mut secret_of: HashMap<u64, u32> = HashMap::new();
        let mut subjects = Vec::new();
        let mut owners = Vec::new();
        for (n, s) in sealed.iter().enumerate() {
            let needs = self.store.record_keys_needed(s).await?;
            if needs.is_empty() {
                continue;
            }
            let member = self.membership(logged, &prover, s.subject())?;
            let mut keys = Vec::with_capacity(needs.len());
            for need in needs {
                let secret = *secret_of.entry(need.batch).or_insert_with(|| {
                    secrets.push(Wrapped(need.wrapped.clone()));
                    u32::try_from(secrets.len() - 1).unwrap_or(u32::MAX)
                });
                keys.push(KeyRef {
                    secret,
                    dataset: need.dataset.clone(),
                });
                owners.push((n, need.batch, need.dataset));
            }
            subjects.push(SubjectKeys { member, keys });
        }
        let mut keys: Vec<RecordKeys> = (0..sealed.len()).map(|_| RecordKeys::new()).collect();
        if !owners.is_empty() {
            let released = self.ask_custodian(link, logged, secrets, subjects).await?;
            if released.len() != owners.len() {
                return Err(Error::Custodian {
                    why: format!(
                        "answered {} keys for {} asked",
                        released.len(),
                        owners.len()
                    ),
                    refused: true,
                });
            }
            for ((n, batch, dataset), k) in owners.into_iter().zip(released) {
                keys[n].insert((batch, dataset), k);
            }
        }
        let mut out = Vec::with_capacity(sealed.len());
        for (s, k) in sealed.into_iter().zip(keys) {
            let subject = s.subject().to_owned();
            out.push((subject, self.store.open_with(&access, s, &k).await?));
        }
        Ok(out)
    }

    fn membership(
        &self,
        logged: &Logged,
        prover: &SetProver<'_>,
        subject: &str,
    ) -> Result<Membership, Error> {
        let o = logged
            .openings
            .iter()
            .find(|o| o.subject == subject)
            .ok_or_else(|| Error::Internal("a subject without an opening in its entry".into()))?;
        let (position, proof) = prover
            .prove(&o.leaf())
            .ok_or_else(|| Error::Internal("an opening not in its entry's set".into()))?;
        Ok(Membership {
            subject: subject.to_owned(),
            salt: Salt(o.salt),
            position,
            proof: proof.into_iter().map(HexHash).collect(),
        })
    }

    /// The checkpoint to prove against — the newest the witnesses
    /// cosigned that covers the entry (a custodian may require their
    /// cosignatures, so that a fork shown to it alone opens nothing), else
    /// the log's newest — the consistency proof from what the custodian
    /// last saw, and the entry with its inclusion proof.
    async fn proven(
        &self,
        link: &CustodianLink,
        logged: &Logged,
    ) -> Result<(tlog::SignedCheckpoint, Option<Consistency>, LoggedEntry), Error> {
        let cp = match link.accepted_covering(logged.seq.index()) {
            Some(cp) => cp,
            None => self.cosigned_covering(logged.seq.index()).await,
        };
        let size = cp.checkpoint.size;
        let seen = link.seen.load(Ordering::Relaxed);
        let consistency = if seen < size {
            let proof = if seen == 0 {
                Vec::new()
            } else {
                self.reader.consistency_proof(seen, size).await?
            };
            Some(Consistency {
                old_size: seen,
                proof: proof.into_iter().map(HexHash).collect(),
            })
        } else {
            None
        };
        let index = logged.seq.index();
        let entry = LoggedEntry {
            index,
            bytes: Base64(logged.bytes.clone()),
            inclusion: hashes(self.reader.inclusion_proof(index, size).await?),
        };
        Ok((cp, consistency, entry))
    }

    /// Posts `body` for each attempt to `path`; an answer that says what
    /// the custodian lacks (a newer checkpoint, the bundle) is retried.
    async fn exchange<T: serde::de::DeserializeOwned>(
        &self,
        link: &CustodianLink,
        logged: &Logged,
        path: &str,
        mut body: impl AsyncBody,
    ) -> Result<T, Error> {
        // Concurrent releases overtake one another on their way to the
        // custodian; one whose checkpoint was overtaken is sent again with
        // the newer one.
        for _ in 0..ATTEMPTS {
            let (cp, consistency, entry) = self.proven(link, logged).await?;
            let size = cp.checkpoint.size;
            let sent = cp.clone();
            let bytes = body.make(self, link, cp, consistency, entry).await?;
            let answer = self
                .http
                .post(format!("{}{path}", link.url))
                .bearer_auth(&link.token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes)
                .send()
                .await
                .map_err(|e| unreachable(e.without_url()))?;
            let status = answer.status();
            let reply = answer
                .bytes()
                .await
                .map_err(|e| unreachable(e.without_url()))?;
            if status.is_success() {
                link.seen.fetch_max(size, Ordering::Relaxed);
                link.accept(sent);
                return serde_json::from_slice(&reply)
                    .map_err(|_| unreachable("answered something this node does not understand"));
            }
            match serde_json::from_slice::<Problem>(&reply).ok() {
                Some(p) if p.code == "stale_checkpoint" => {
                    link.seen.store(p.latest.unwrap_or(0), Ordering::Relaxed);
                    *link.accepted() = None;
                }
                Some(p) if p.code == "unknown_bundle" => {
                    link.bundle_sent.store(false, Ordering::Relaxed);
                }
                Some(p) => {
                    tracing::warn!(region = %self.id, code = %p.code, "the key custodian refused");
                    return Err(Error::Custodian {
                        why: format!("refused ({}): {}", p.code, p.detail),
                        refused: true,
                    });
                }
                None => return Err(unreachable(format!("answered {status}"))),
            }
        }
        Err(unreachable("kept asking for a newer checkpoint"))
    }

    /// One release request for `keys`.
    async fn ask_custodian(
        &self,
        link: &CustodianLink,
        logged: &Logged,
        secrets: Vec<Wrapped>,
        subjects: Vec<SubjectKeys>,
    ) -> Result<Vec<custody::RecordKey>, Error> {
        let answer: ReleaseAnswer = self
            .exchange(
                link,
                logged,
                "/v1/release",
                ReleaseBody { secrets, subjects },
            )
            .await?;
        link.bundle_sent.store(true, Ordering::Relaxed);
        answer.record_keys().map_err(|e| Error::Custodian {
            why: e.to_string(),
            refused: true,
        })
    }

    /// Tells the custodian of a logged erasure, before it is acknowledged:
    /// from its answer on, no key of the subject is released again.
    pub(super) async fn notify_erasure(&self, logged: &Logged, subject: &str) -> Result<(), Error> {
        let Some(link) = &self.custodian else {
            return Ok(());
        };
        let set = SubjectSet::of(&logged.openings);
        let member = self.membership(logged, &set.prover(), subject)?;
        let _: custody::protocol::EraseAnswer = self
            .exchange(link, logged, "/v1/erase", EraseBody { member })
            .await?;
        Ok(())
    }
}

fn hashes(proof: Vec<tlog::Hash>) -> Vec<HexHash> {
    proof.into_iter().map(HexHash).collect()
}

/// A request body, made again for each attempt.
trait AsyncBody {
    async fn make<B: Backend>(
        &mut self,
        region: &Region<B>,
        link: &CustodianLink,
        checkpoint: tlog::SignedCheckpoint,
        consistency: Option<Consistency>,
        entry: LoggedEntry,
    ) -> Result<Vec<u8>, Error>;
}

struct ReleaseBody {
    secrets: Vec<Wrapped>,
    subjects: Vec<SubjectKeys>,
}

impl AsyncBody for ReleaseBody {
    async fn make<B: Backend>(
        &mut self,
        region: &Region<B>,
        link: &CustodianLink,
        checkpoint: tlog::SignedCheckpoint,
        consistency: Option<Consistency>,
        entry: LoggedEntry,
    ) -> Result<Vec<u8>, Error> {
        let size = checkpoint.checkpoint.size;
        let bundle = if link.bundle_sent.load(Ordering::Relaxed) {
            None
        } else {
            let b = link.bundle_index.load(Ordering::Relaxed);
            Some(LoggedEntry {
                index: b,
                bytes: Base64(region.reader.entry(b, size).await?),
                inclusion: hashes(region.reader.inclusion_proof(b, size).await?),
            })
        };
        let req = ReleaseRequest {
            checkpoint: checkpoint.to_text(),
            consistency,
            entry,
            bundle,
            secrets: std::mem::take(&mut self.secrets),
            subjects: std::mem::take(&mut self.subjects),
        };
        let bytes = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()));
        self.secrets = req.secrets;
        self.subjects = req.subjects;
        bytes
    }
}

struct EraseBody {
    member: Membership,
}

impl AsyncBody for EraseBody {
    async fn make<B: Backend>(
        &mut self,
        _: &Region<B>,
        _: &CustodianLink,
        checkpoint: tlog::SignedCheckpoint,
        consistency: Option<Consistency>,
        entry: LoggedEntry,
    ) -> Result<Vec<u8>, Error> {
        let req = custody::EraseRequest {
            checkpoint: checkpoint.to_text(),
            consistency,
            entry,
            member: self.member.clone(),
        };
        serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))
    }
}
