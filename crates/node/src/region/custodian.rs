//! Opening records sealed for the region's key custodian: after the entry
//! is logged, a request to the custodian carries the entry,
//! its inclusion proof to the checkpoint that sequenced it (and the
//! consistency proof from what the custodian last saw), the policy
//! bundle's entry until the custodian holds it, and per record key asked
//! the subject's opening and membership proof — and the log's entries the
//! custodian has not read yet (it releases nothing until it has read every
//! entry of the checkpoints it vouched for, so no erasure is kept from
//! it). The custodian's record keys then open the rows, still only under
//! the entry's `LoggedAccess`. Small releases made at the same moment go
//! in one request (`POST /v1/releases`), one at a time: under load, the
//! releases of a group commit share its checkpoint, proofs, tail and
//! round trip, and the custodian decides each on its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::collections::HashMap;

use custody::protocol::{
    Base64, Consistency, EntryKeys, HexHash, KeyRef, LoggedEntry, MAX_RELEASES, Membership,
    ReleaseAnswer, ReleaseRequest, ReleasesAnswer, ReleasesRequest, Salt, ScanAnswer, ScanRequest,
    SubjectKeys, Tail, Wrapped,
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
    /// How many of the log's entries the custodian is known to have read
    /// ([`UNKNOWN`] until it says).
    scanned: AtomicU64,
    /// The index of the policy bundle's entry in this run.
    bundle_index: AtomicU64,
    /// Whether the custodian has been sent the bundle's entry.
    bundle_sent: AtomicBool,
    /// The newest checkpoint the custodian accepted: an entry it covers is
    /// proven against it again, which the custodian vouches for without a
    /// write (a newer checkpoint costs it a durable one).
    accepted: std::sync::Mutex<Option<tlog::SignedCheckpoint>>,
    /// Held by the one request that shows the custodian a checkpoint it
    /// has not accepted. Concurrent releases wait for it rather than each
    /// show a newer one: each new checkpoint costs the custodian a
    /// signature check, a durable write and the tail of entries up to it,
    /// and one overtaken by another is refused and sent again. The
    /// releases it then covers go out together. A large request does not
    /// take it ([`ADVANCING_SIZE`]), and none waits for it longer than
    /// [`ADVANCE_WAIT`] per attempt.
    advancing: tokio::sync::Mutex<()>,
    /// Small releases waiting to go to the custodian together
    /// ([`Region::ask_in_batch`]).
    queue: std::sync::Mutex<Vec<Queued>>,
    /// Held by the release that sends the queue, one request at a time:
    /// while it is out, the queue fills with the releases the next will
    /// carry.
    sending: tokio::sync::Mutex<()>,
}

/// A release queued to go to the custodian with others.
struct Queued {
    asked: Asked,
    reply: tokio::sync::oneshot::Sender<Batched>,
}

/// What one release asks the custodian: the logged entry (index and
/// bytes) and the keys under it.
struct Asked {
    index: u64,
    bytes: Vec<u8>,
    secrets: Vec<Wrapped>,
    subjects: Vec<SubjectKeys>,
}

/// What became of a queued release.
enum Batched {
    Keys(Vec<custody::RecordKey>),
    Refused(Error),
    /// Not decided in the batch (the request failed whole, or the
    /// custodian lacked something for it alone): asked again on its own.
    Alone,
}

impl CustodianLink {
    pub(super) fn new(url: String, token: String) -> Self {
        CustodianLink {
            url,
            token,
            seen: AtomicU64::new(0),
            scanned: AtomicU64::new(UNKNOWN),
            bundle_index: AtomicU64::new(0),
            bundle_sent: AtomicBool::new(false),
            accepted: std::sync::Mutex::new(None),
            advancing: tokio::sync::Mutex::new(()),
            queue: std::sync::Mutex::new(Vec::new()),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    fn accepted(&self) -> std::sync::MutexGuard<'_, Option<tlog::SignedCheckpoint>> {
        self.accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The right to show the custodian a checkpoint newer than it accepted,
    /// for entry `index`: waits while another request shows one (up to
    /// [`ADVANCE_WAIT`]), and returns `None` when that one covers `index`
    /// or the wait ran out.
    async fn advance_for(&self, index: u64) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        // Bounded: behind a custodian that does not answer, each request
        // would otherwise wait out the one before it in turn.
        let guard = tokio::time::timeout(ADVANCE_WAIT, self.advancing.lock())
            .await
            .ok()?;
        self.accepted_covering(index).is_none().then_some(guard)
    }

    /// The checkpoint the custodian accepted, if it covers entry `index`.
    fn accepted_covering(&self, index: u64) -> Option<tlog::SignedCheckpoint> {
        self.accepted()
            .as_ref()
            .filter(|cp| cp.checkpoint.size > index)
            .cloned()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
/// checkpoint, lacks the bundle or entries, or waits for an erasure.
const ATTEMPTS: u32 = 8;

/// The longest a release waits, per attempt, for another's new
/// checkpoint before it shows the custodian one itself; far above a round
/// trip (the witnesses' cosignature is waited for before, not under, the
/// lock).
const ADVANCE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The most record keys (or an erasure's subjects) a request may ask
/// about and still be the one that shows the custodian a new checkpoint
/// while others wait (a bulk release's answer takes long).
const ADVANCING_SIZE: usize = 16;

/// `scanned` before the custodian has said how far it has read.
const UNKNOWN: u64 = u64::MAX;

/// The most entries a release carries; more are sent first, a page of
/// [`SCAN_PAGE`] at a time, by `POST /v1/scan`.
const MAX_TAIL: u64 = 1024;

/// Entries per catch-up page.
const SCAN_PAGE: u64 = 4096;

/// What the custodian answered with a refusal.
#[derive(serde::Deserialize)]
struct Problem {
    code: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    latest: Option<u64>,
    #[serde(default)]
    scanned: Option<u64>,
    #[serde(default)]
    index: Option<u64>,
}

/// A logged entry to prove to the custodian.
#[derive(Clone, Copy)]
struct Proving<'a> {
    index: u64,
    bytes: &'a [u8],
}

impl<'a> From<&'a Logged> for Proving<'a> {
    fn from(l: &'a Logged) -> Self {
        Proving {
            index: l.seq.index(),
            bytes: &l.bytes,
        }
    }
}

/// A request ready to send: the checkpoint, the proofs and the tail.
struct Proven {
    checkpoint: tlog::SignedCheckpoint,
    consistency: Option<Consistency>,
    entry: LoggedEntry,
    tail: Option<Tail>,
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
        Self::member(o, prover)
    }

    fn member(o: &entry::Opening, prover: &SetProver<'_>) -> Result<Membership, Error> {
        let subject = &o.subject;
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
    /// last saw, the entry with its inclusion proof, and the entries the
    /// custodian has not read (caught up first by pages when many).
    async fn proven(&self, link: &CustodianLink, p: Proving<'_>) -> Result<Proven, Error> {
        let cp = match link.accepted_covering(p.index) {
            Some(cp) => cp,
            None => self.cosigned_covering(p.index).await,
        };
        let size = cp.checkpoint.size;
        let consistency = self.consistency(link, size).await?;
        let entry = LoggedEntry {
            index: p.index,
            bytes: Base64(p.bytes.to_vec()),
            inclusion: hashes(self.reader.inclusion_proof(p.index, size).await?),
        };
        let mut read = link.scanned.load(Ordering::Relaxed);
        if read != UNKNOWN && size - read.min(size) > MAX_TAIL {
            read = self.catch_up(link, &cp).await?;
        }
        let tail = if read < size {
            Some(Tail {
                from: read,
                entries: self.entries(read, size, size).await?,
                proof: Vec::new(),
            })
        } else {
            None
        };
        Ok(Proven {
            checkpoint: cp,
            consistency,
            entry,
            tail,
        })
    }

    /// The consistency proof from the checkpoint the custodian holds, as
    /// this node knows it, to `size`.
    async fn consistency(
        &self,
        link: &CustodianLink,
        size: u64,
    ) -> Result<Option<Consistency>, Error> {
        let seen = link.seen.load(Ordering::Relaxed);
        if seen >= size {
            return Ok(None);
        }
        let proof = if seen == 0 {
            Vec::new()
        } else {
            self.reader.consistency_proof(seen, size).await?
        };
        Ok(Some(Consistency {
            old_size: seen,
            proof: hashes(proof),
        }))
    }

    /// The log's entries `[from, to)` in a tree of `size`.
    async fn entries(&self, from: u64, to: u64, size: u64) -> Result<Vec<Base64>, Error> {
        let entries = self.reader.entries(from, to, size).await?;
        Ok(entries.into_iter().map(Base64).collect())
    }

    /// Sends the custodian the entries it has not read up to `cp`, a page
    /// at a time; returns how far it has read (short of `cp` when it
    /// stopped at an erasure it was not notified of).
    async fn catch_up(
        &self,
        link: &CustodianLink,
        cp: &tlog::SignedCheckpoint,
    ) -> Result<u64, Error> {
        let size = cp.checkpoint.size;
        let mut read = link.scanned.load(Ordering::Relaxed);
        while read < size {
            let end = size.min(read + SCAN_PAGE);
            let proof = if end < size {
                self.reader.consistency_proof(end, size).await?
            } else {
                Vec::new()
            };
            let req = ScanRequest {
                checkpoint: cp.to_text(),
                consistency: self.consistency(link, size).await?,
                tail: Tail {
                    from: read,
                    entries: self.entries(read, end, size).await?,
                    proof: hashes(proof),
                },
            };
            let body = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))?;
            let answer: ScanAnswer =
                self.post(link, "/v1/scan", body)
                    .await?
                    .map_err(|p| Error::Custodian {
                        why: format!("refused entries ({}): {}", p.code, p.detail),
                        refused: true,
                    })?;
            link.seen.fetch_max(size, Ordering::Relaxed);
            link.scanned.store(answer.scanned, Ordering::Relaxed);
            tracing::info!(region = %self.id, read = answer.scanned, size, "the key custodian read the log");
            if answer.scanned < end {
                break;
            }
            read = answer.scanned;
        }
        Ok(link.scanned.load(Ordering::Relaxed))
    }

    /// Posts `body` to `path`: the answer, or the custodian's problem.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        link: &CustodianLink,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Result<T, Problem>, Error> {
        let answer = self
            .http
            .post(format!("{}{path}", link.url))
            .bearer_auth(&link.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(e.without_url()))?;
        let status = answer.status();
        let reply = answer
            .bytes()
            .await
            .map_err(|e| unreachable(e.without_url()))?;
        if status.is_success() {
            return serde_json::from_slice(&reply)
                .map(Ok)
                .map_err(|_| unreachable("answered something this node does not understand"));
        }
        match serde_json::from_slice::<Problem>(&reply) {
            Ok(p) => Ok(Err(p)),
            Err(_) => Err(unreachable(format!("answered {status}"))),
        }
    }

    /// Posts `body` for each attempt to `path`; an answer that says what
    /// the custodian lacks (a newer checkpoint, the bundle, entries, an
    /// erasure notified) is retried.
    async fn exchange<T: serde::de::DeserializeOwned>(
        &self,
        link: &CustodianLink,
        p: Proving<'_>,
        path: &str,
        mut body: impl AsyncBody,
    ) -> Result<T, Error> {
        // Concurrent releases overtake one another on their way to the
        // custodian; one whose checkpoint was overtaken is sent again with
        // the newer one.
        for attempt in 0..ATTEMPTS {
            // Covered already, or large (others would wait out its long
            // answer): goes on its own.
            let advancing =
                if link.accepted_covering(p.index).is_some() || body.size() > ADVANCING_SIZE {
                    None
                } else {
                    // The witnesses' cosignature of a checkpoint covering the
                    // entry is waited for first: not while others wait.
                    let _ = self.cosigned_covering(p.index).await;
                    link.advance_for(p.index).await
                };
            let proven = self.proven(link, p).await?;
            let size = proven.checkpoint.checkpoint.size;
            let sent = proven.checkpoint.clone();
            let bytes = body.make(self, link, proven).await?;
            // What the answer says of the custodian is noted before the
            // waiters go on (`advancing` is dropped at the end of the
            // attempt, or before an erasure is notified again: an
            // exchange of its own).
            let answered = self.post(link, path, bytes).await?;
            // An answer, or a refusal that comes after the custodian vouched
            // for the checkpoint: it holds it now.
            let held = match &answered {
                Ok(_) => true,
                Err(problem) => matches!(
                    problem.code.as_str(),
                    "unknown_bundle" | "unscanned" | "erasure_unnotified"
                ),
            };
            if held {
                link.accept(sent);
                link.seen.fetch_max(size, Ordering::Relaxed);
            }
            let problem = match answered {
                Ok(answer) => {
                    if body.reads_all() {
                        // Released: the custodian has read all it vouched for.
                        let _ =
                            link.scanned
                                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                                    (r == UNKNOWN || r < size).then_some(size)
                                });
                    }
                    return Ok(answer);
                }
                Err(problem) => problem,
            };
            match problem.code.as_str() {
                "stale_checkpoint" => {
                    link.seen
                        .store(problem.latest.unwrap_or(0), Ordering::Relaxed);
                    *link.accepted() = None;
                }
                "unknown_bundle" => link.bundle_sent.store(false, Ordering::Relaxed),
                "unscanned" => link
                    .scanned
                    .store(problem.scanned.unwrap_or(0), Ordering::Relaxed),
                "erasure_unnotified" => {
                    drop(advancing);
                    // Usually this node's own notification, on its way; else
                    // one a crash kept from the custodian: sent again.
                    let index = problem.index.unwrap_or(0);
                    if let Err(e) = self.notify_erasure_again(link, index).await {
                        tracing::warn!(region = %self.id, index, error = %e, "could not notify the key custodian of a logged erasure");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
                }
                _ => {
                    tracing::warn!(region = %self.id, code = %problem.code, "the key custodian refused");
                    return Err(Error::Custodian {
                        why: format!("refused ({}): {}", problem.code, problem.detail),
                        refused: true,
                    });
                }
            }
        }
        Err(unreachable("kept answering that it lacks something"))
    }

    /// Notifies the custodian of the erasure logged as entry `index`, from
    /// the access index (which keeps the erased subject's opening until
    /// the erasure completes): for an erasure whose notification a crash
    /// cut off.
    async fn notify_erasure_again(&self, link: &CustodianLink, index: u64) -> Result<(), Error> {
        let mut openings = Vec::new();
        for subject in self.store.subjects_at(index).await? {
            let opening = self
                .store
                .accesses(&subject)
                .await?
                .into_iter()
                .find_map(|(i, o)| o.filter(|_| i == index));
            openings.extend(opening);
        }
        self.notify_logged_erasure(link, index, &openings).await
    }

    /// Notifies the custodian of entry `index`, an erasure of the subjects
    /// of `openings` — every leaf of its set, or the custodian refuses.
    async fn notify_logged_erasure(
        &self,
        link: &CustodianLink,
        index: u64,
        openings: &[entry::Opening],
    ) -> Result<(), Error> {
        let size = self.seq.checkpoint().checkpoint.size;
        let bytes = self.reader.entry(index, size).await?;
        let set = self.store.subject_set_at(index).await?;
        if set.len() != openings.len() {
            return Err(Error::Internal(format!(
                "the access index holds {} of the {} openings of erasure entry {index}",
                openings.len(),
                set.len()
            )));
        }
        let prover = set.prover();
        let members = openings
            .iter()
            .map(|o| Self::member(o, &prover))
            .collect::<Result<_, _>>()?;
        let p = Proving {
            index,
            bytes: &bytes,
        };
        let _: custody::protocol::EraseAnswer =
            Box::pin(self.exchange(link, p, "/v1/erase", EraseBody { members })).await?;
        Ok(())
    }

    /// The record keys for a release: a small one goes with the others
    /// waiting ([`Region::ask_in_batch`]), a large one — or one the batch
    /// did not decide — on its own.
    async fn ask_custodian(
        &self,
        link: &CustodianLink,
        logged: &Logged,
        secrets: Vec<Wrapped>,
        subjects: Vec<SubjectKeys>,
    ) -> Result<Vec<custody::RecordKey>, Error> {
        let size: usize = subjects.iter().map(|s| s.keys.len()).sum();
        if size <= ADVANCING_SIZE {
            match self
                .ask_in_batch(link, logged, secrets.clone(), subjects.clone())
                .await
            {
                Batched::Keys(keys) => return Ok(keys),
                Batched::Refused(e) => return Err(e),
                Batched::Alone => {}
            }
        }
        self.ask_alone(link, logged, secrets, subjects).await
    }

    /// Queues a release and waits for its outcome. Releases are sent one
    /// request at a time, each carrying every release queued when it goes
    /// (up to [`MAX_RELEASES`]): whoever takes the sending lock sends the
    /// queue, so under load a request carries the releases of one group
    /// commit — one checkpoint, one consistency proof, one tail and one
    /// round trip for all — and a lone release goes at once.
    async fn ask_in_batch(
        &self,
        link: &CustodianLink,
        logged: &Logged,
        secrets: Vec<Wrapped>,
        subjects: Vec<SubjectKeys>,
    ) -> Batched {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let index = logged.seq.index();
        link.queue().push(Queued {
            asked: Asked {
                index,
                bytes: logged.bytes.clone(),
                secrets,
                subjects,
            },
            reply,
        });
        // Behind a custodian that does not answer, a release still queued
        // after [`ADVANCE_WAIT`] leaves the queue and goes alone: none
        // waits out the requests before it in turn.
        let give_up = tokio::time::sleep(ADVANCE_WAIT);
        tokio::pin!(give_up);
        let mut queued = true;
        loop {
            tokio::select! {
                biased;
                // A sender dropped unanswered (the request that carried it
                // was cancelled): asked again alone.
                outcome = &mut answer => return outcome.unwrap_or(Batched::Alone),
                () = &mut give_up, if queued => {
                    let mut queue = link.queue();
                    match queue.iter().position(|q| q.asked.index == index) {
                        Some(at) => {
                            queue.remove(at);
                            return Batched::Alone;
                        }
                        // On its way: its answer is waited for.
                        None => queued = false,
                    }
                }
                sending = link.sending.lock() => {
                    let batch: Vec<Queued> = {
                        let mut queue = link.queue();
                        let n = queue.len().min(MAX_RELEASES);
                        queue.drain(..n).collect()
                    };
                    if !batch.is_empty() {
                        self.send_batch(link, batch).await;
                    }
                    drop(sending);
                }
            }
        }
    }

    /// Sends queued releases in one request and answers each.
    async fn send_batch(&self, link: &CustodianLink, batch: Vec<Queued>) {
        let (mut releases, mut replies) = (Vec::with_capacity(batch.len()), Vec::new());
        for q in batch {
            releases.push(q.asked);
            replies.push(q.reply);
        }
        // The newest entry decides the checkpoint: it covers them all.
        let Some(newest) = releases.iter().max_by_key(|r| r.index) else {
            return;
        };
        let (index, bytes) = (newest.index, newest.bytes.clone());
        let p = Proving {
            index,
            bytes: &bytes,
        };
        let body = BatchBody { releases };
        let answer: Result<ReleasesAnswer, Error> =
            self.exchange(link, p, "/v1/releases", body).await;
        let outcomes = match answer {
            Ok(a) if a.releases.len() == replies.len() => {
                // Held once a release passed its replay under it.
                if a.releases.iter().any(|r| r.keys.is_some()) {
                    link.bundle_sent.store(true, Ordering::Relaxed);
                }
                a.releases
            }
            Ok(a) => {
                let why = format!(
                    "answered {} releases for {} asked",
                    a.releases.len(),
                    replies.len()
                );
                for reply in replies {
                    let _ = reply.send(Batched::Refused(Error::Custodian {
                        why: why.clone(),
                        refused: true,
                    }));
                }
                return;
            }
            // Refused whole, or unreachable: each release would be too,
            // alone.
            Err(Error::Custodian { why, refused }) => {
                for reply in replies {
                    let _ = reply.send(Batched::Refused(Error::Custodian {
                        why: why.clone(),
                        refused,
                    }));
                }
                return;
            }
            // This node could not make the request (its log): each goes
            // alone.
            Err(_) => {
                for reply in replies {
                    let _ = reply.send(Batched::Alone);
                }
                return;
            }
        };
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let batched = match (outcome.keys, outcome.refused) {
                (Some(keys), None) => match custody::protocol::record_keys(&keys) {
                    Ok(keys) => Batched::Keys(keys),
                    Err(e) => Batched::Refused(Error::Custodian {
                        why: e.to_string(),
                        refused: true,
                    }),
                },
                // The bundle's entry went with a request that did not
                // land: it is sent again, with the release alone.
                (None, Some(r)) if r.code == "unknown_bundle" => {
                    link.bundle_sent.store(false, Ordering::Relaxed);
                    Batched::Alone
                }
                (None, Some(r)) => {
                    tracing::warn!(region = %self.id, code = %r.code, "the key custodian refused");
                    Batched::Refused(Error::Custodian {
                        why: format!("refused ({}): {}", r.code, r.detail),
                        refused: true,
                    })
                }
                _ => Batched::Refused(Error::Custodian {
                    why: "answered a release with neither keys nor a refusal".into(),
                    refused: true,
                }),
            };
            let _ = reply.send(batched);
        }
    }

    /// One release request for `keys`.
    async fn ask_alone(
        &self,
        link: &CustodianLink,
        logged: &Logged,
        secrets: Vec<Wrapped>,
        subjects: Vec<SubjectKeys>,
    ) -> Result<Vec<custody::RecordKey>, Error> {
        let answer: ReleaseAnswer = self
            .exchange(
                link,
                logged.into(),
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

    /// Tells the custodian of a logged erasure, before it is acknowledged
    /// (every leaf of its set opened, fillers too): from its answer on, no
    /// key of the subject is released again. Earlier erasures of `subject`
    /// whose notification failed (the custodian was down, the request was
    /// retried) are told too, while the access index still holds their
    /// openings: the custodian releases nothing while an erasure it read
    /// in the log is untold.
    pub(super) async fn notify_erasure(
        &self,
        logged: &Logged,
        subject: Option<&str>,
    ) -> Result<(), Error> {
        let Some(link) = &self.custodian else {
            return Ok(());
        };
        let set = SubjectSet::of(&logged.openings);
        let prover = set.prover();
        let members = logged
            .openings
            .iter()
            .map(|o| Self::member(o, &prover))
            .collect::<Result<_, _>>()?;
        let _: custody::protocol::EraseAnswer = self
            .exchange(link, logged.into(), "/v1/erase", EraseBody { members })
            .await?;
        let Some(subject) = subject else {
            return Ok(());
        };
        let size = self.seq.checkpoint().checkpoint.size;
        for (index, opening) in self.store.accesses(subject).await? {
            let Some(opening) = opening.filter(|_| index != logged.seq.index()) else {
                continue;
            };
            let e = entry::Entry::parse(&self.reader.entry(index, size).await?)
                .map_err(|e| Error::Internal(format!("log entry {index}: {e}")))?;
            if e.action == Some(policy::Action::Erase) && e.decision == Some(entry::Outcome::Allow)
            {
                self.notify_logged_erasure(link, index, &[opening]).await?;
            }
        }
        Ok(())
    }
}

fn hashes(proof: Vec<tlog::Hash>) -> Vec<HexHash> {
    proof.into_iter().map(HexHash).collect()
}

/// The policy bundle's entry, proven at `size`, until the custodian holds
/// it.
async fn bundle_entry<B: Backend>(
    region: &Region<B>,
    link: &CustodianLink,
    size: u64,
) -> Result<Option<LoggedEntry>, Error> {
    if link.bundle_sent.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let b = link.bundle_index.load(Ordering::Relaxed);
    Ok(Some(LoggedEntry {
        index: b,
        bytes: Base64(region.reader.entry(b, size).await?),
        inclusion: hashes(region.reader.inclusion_proof(b, size).await?),
    }))
}

/// A request body, made again for each attempt.
trait AsyncBody {
    async fn make<B: Backend>(
        &mut self,
        region: &Region<B>,
        link: &CustodianLink,
        proven: Proven,
    ) -> Result<Vec<u8>, Error>;

    /// Whether the custodian answers it only once it has read every entry
    /// it vouched for.
    fn reads_all(&self) -> bool;

    /// How many record keys or subjects it asks about: how long its
    /// answer takes.
    fn size(&self) -> usize;
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
        proven: Proven,
    ) -> Result<Vec<u8>, Error> {
        let size = proven.checkpoint.checkpoint.size;
        let bundle = bundle_entry(region, link, size).await?;
        let req = ReleaseRequest {
            checkpoint: proven.checkpoint.to_text(),
            consistency: proven.consistency,
            entry: proven.entry,
            bundle,
            tail: proven.tail,
            secrets: std::mem::take(&mut self.secrets),
            subjects: std::mem::take(&mut self.subjects),
        };
        let bytes = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()));
        self.secrets = req.secrets;
        self.subjects = req.subjects;
        bytes
    }

    fn reads_all(&self) -> bool {
        true
    }

    fn size(&self) -> usize {
        self.subjects.iter().map(|s| s.keys.len()).sum()
    }
}

/// Several releases.
struct BatchBody {
    releases: Vec<Asked>,
}

impl AsyncBody for BatchBody {
    async fn make<B: Backend>(
        &mut self,
        region: &Region<B>,
        link: &CustodianLink,
        proven: Proven,
    ) -> Result<Vec<u8>, Error> {
        let size = proven.checkpoint.checkpoint.size;
        let bundle = bundle_entry(region, link, size).await?;
        let mut releases = Vec::with_capacity(self.releases.len());
        for r in &self.releases {
            let inclusion = if r.index == proven.entry.index {
                proven.entry.inclusion.clone()
            } else {
                hashes(region.reader.inclusion_proof(r.index, size).await?)
            };
            releases.push(EntryKeys {
                entry: LoggedEntry {
                    index: r.index,
                    bytes: Base64(r.bytes.clone()),
                    inclusion,
                },
                secrets: r.secrets.clone(),
                subjects: r.subjects.clone(),
            });
        }
        let req = ReleasesRequest {
            checkpoint: proven.checkpoint.to_text(),
            consistency: proven.consistency,
            bundle,
            tail: proven.tail,
            releases,
        };
        serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))
    }

    fn reads_all(&self) -> bool {
        true
    }

    /// The largest release's: a batch is of small releases, one request
    /// out at a time, and shows a new checkpoint under the same lock as a
    /// lone small release.
    fn size(&self) -> usize {
        self.releases
            .iter()
            .map(|r| r.subjects.iter().map(|s| s.keys.len()).sum())
            .max()
            .unwrap_or(0)
    }
}

struct EraseBody {
    members: Vec<Membership>,
}

impl AsyncBody for EraseBody {
    async fn make<B: Backend>(
        &mut self,
        _: &Region<B>,
        _: &CustodianLink,
        proven: Proven,
    ) -> Result<Vec<u8>, Error> {
        let req = custody::EraseRequest {
            checkpoint: proven.checkpoint.to_text(),
            consistency: proven.consistency,
            entry: proven.entry,
            members: self.members.clone(),
            tail: proven.tail,
        };
        serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))
    }

    fn reads_all(&self) -> bool {
        false
    }

    fn size(&self) -> usize {
        self.members.len()
    }
}
