//! Opening records sealed for the region's key custodian: after the entry
//! is logged, one request to the custodian per release carries the entry,
//! its inclusion proof to the checkpoint that sequenced it (and the
//! consistency proof from what the custodian last saw), the policy
//! bundle's entry until the custodian holds it, and per record key asked
//! the subject's opening and membership proof. The custodian's record keys
//! then open the rows, still only under the entry's `LoggedAccess`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use custody::protocol::{
    Base64, Consistency, HexHash, KeyAsk, LoggedEntry, Membership, ReleaseAnswer, ReleaseRequest,
    Salt, Wrapped,
};
use entry::SubjectSet;
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
}

impl CustodianLink {
    pub(super) fn new(url: String, token: String) -> Self {
        CustodianLink {
            url,
            token,
            seen: AtomicU64::new(0),
            bundle_index: AtomicU64::new(0),
            bundle_sent: AtomicBool::new(false),
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
        // What to ask for: per subject, each (batch, dataset) of its rows.
        let set = SubjectSet::of(&logged.openings);
        let mut asks = Vec::new();
        let mut owners = Vec::new();
        for (n, s) in sealed.iter().enumerate() {
            let member = self.membership(logged, &set, s.subject())?;
            for need in self.store.record_keys_needed(s).await? {
                asks.push(KeyAsk {
                    member: member.clone(),
                    dataset: need.dataset.clone(),
                    wrapped: Wrapped(need.wrapped),
                });
                owners.push((n, need.batch, need.dataset));
            }
        }
        let mut keys: Vec<RecordKeys> = (0..sealed.len()).map(|_| RecordKeys::new()).collect();
        if !asks.is_empty() {
            let released = self.ask_custodian(link, logged, asks).await?;
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
        set: &SubjectSet,
        subject: &str,
    ) -> Result<Membership, Error> {
        let o = logged
            .openings
            .iter()
            .find(|o| o.subject == subject)
            .ok_or_else(|| Error::Internal("a subject without an opening in its entry".into()))?;
        let (position, proof) = set
            .prove(&o.leaf())
            .ok_or_else(|| Error::Internal("an opening not in its entry's set".into()))?;
        Ok(Membership {
            subject: subject.to_owned(),
            salt: Salt(o.salt),
            position,
            proof: proof.into_iter().map(HexHash).collect(),
        })
    }

    /// One release request; retried once with what the custodian said it
    /// lacks (a newer checkpoint, the bundle's entry).
    async fn ask_custodian(
        &self,
        link: &CustodianLink,
        logged: &Logged,
        keys: Vec<KeyAsk>,
    ) -> Result<Vec<custody::RecordKey>, Error> {
        let mut keys = Some(keys);
        for attempt in 0..3 {
            let cp = if attempt == 0 {
                logged.seq.checkpoint().as_ref().clone()
            } else {
                self.seq.checkpoint().as_ref().clone()
            };
            let size = cp.checkpoint.size;
            let index = logged.seq.index();
            let seen = link.seen.load(Ordering::Relaxed);
            let consistency = if seen < size {
                Some(Consistency {
                    old_size: seen,
                    proof: if seen == 0 {
                        Vec::new()
                    } else {
                        self.reader.consistency_proof(seen, size).await?
                    }
                    .into_iter()
                    .map(HexHash)
                    .collect(),
                })
            } else {
                None
            };
            let logged_entry = |i: u64, bytes: Vec<u8>, proof: Vec<tlog::Hash>| LoggedEntry {
                index: i,
                bytes: Base64(bytes),
                inclusion: proof.into_iter().map(HexHash).collect(),
            };
            let bundle = if link.bundle_sent.load(Ordering::Relaxed) {
                None
            } else {
                let b = link.bundle_index.load(Ordering::Relaxed);
                Some(logged_entry(
                    b,
                    self.reader.entry(b, size).await?,
                    self.reader.inclusion_proof(b, size).await?,
                ))
            };
            let req = ReleaseRequest {
                checkpoint: cp.to_text(),
                consistency,
                entry: logged_entry(
                    index,
                    logged.bytes.clone(),
                    self.reader.inclusion_proof(index, size).await?,
                ),
                bundle,
                keys: keys.take().unwrap_or_default(),
            };
            let answer = self
                .http
                .post(format!("{}/v1/release", link.url))
                .bearer_auth(&link.token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))?)
                .send()
                .await
                .map_err(|e| unreachable(e.without_url()))?;
            let status = answer.status();
            if status.is_success() {
                let body = answer
                    .bytes()
                    .await
                    .map_err(|e| unreachable(e.without_url()))?;
                let a: ReleaseAnswer = serde_json::from_slice(&body)
                    .map_err(|_| unreachable("answered something that is not a release"))?;
                link.seen.fetch_max(size, Ordering::Relaxed);
                link.bundle_sent.store(true, Ordering::Relaxed);
                return a.record_keys().map_err(|e| Error::Custodian {
                    why: e.to_string(),
                    refused: true,
                });
            }
            let problem: Option<Problem> = match answer.bytes().await {
                Ok(body) => serde_json::from_slice(&body).ok(),
                Err(_) => None,
            };
            keys = Some(req.keys);
            match problem {
                Some(p) if p.code == "stale_checkpoint" => {
                    link.seen.store(p.latest.unwrap_or(0), Ordering::Relaxed);
                }
                Some(p) if p.code == "unknown_bundle" => {
                    link.bundle_sent.store(false, Ordering::Relaxed);
                }
                Some(p) => {
                    tracing::warn!(region = %self.id, code = %p.code, "the key custodian refused a release");
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
}
