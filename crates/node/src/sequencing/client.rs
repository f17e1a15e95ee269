//! A gateway's side of a sequencer over the network: entries appended
//! concurrently are gathered into batches (a few requests in flight at
//! once), each answer is proven against the log's key before any caller is
//! told its entry is sequenced, a sequencer that does not answer is
//! replaced by the next one listed (the standby that took the lease), and
//! a saturated one's `503` comes back as [`tlog::Error::Busy`].
//!
//! An entry is sent again only when its request never reached a
//! sequencer (the connection was refused): one that was sent and not
//! answered may be in the log, and is reported as not logged rather than
//! logged twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use custody::protocol::Base64;
use reqwest::StatusCode;
use tlog::{Hash, Sequenced, SignedCheckpoint, Verifier};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use super::Cosigned;
use super::wire::{MAX_BATCH, STATE_WAIT, SequenceAnswer, SequenceRequest, SequencerState};

/// Requests to the sequencer in flight at once, per gateway.
const IN_FLIGHT: usize = 4;

/// Entries waiting for a request before `add` waits for room.
const QUEUE: usize = 65_536;

struct Request {
    entry: Vec<u8>,
    reply: oneshot::Sender<Result<Sequenced, tlog::Error>>,
}

/// What the batching task and the handle share.
struct Link {
    /// The sequencers' base URLs, the active one first.
    urls: Vec<String>,
    /// Index (modulo `urls.len()`) of the one tried first.
    active: AtomicUsize,
    token: String,
    http: reqwest::Client,
    key: Verifier,
    /// How long to keep trying when no sequencer accepts a connection
    /// (the standby's takeover).
    failover: Duration,
    latest: watch::Sender<Arc<SignedCheckpoint>>,
}

/// The region's sequencer, as a gateway reaches it.
pub struct RemoteLog {
    tx: mpsc::Sender<Request>,
    link: Arc<Link>,
}

impl RemoteLog {
    /// A link to the sequencers at `urls` (tried in order), presenting
    /// `token`, whose answers must verify with the log's `key`; `latest`
    /// is the newest checkpoint the gateway knows (read from the log's
    /// storage and verified). Spawns its batching task: call it within a
    /// Tokio runtime.
    pub fn new(
        urls: Vec<String>,
        token: String,
        http: reqwest::Client,
        key: Verifier,
        latest: SignedCheckpoint,
        failover: Duration,
    ) -> Self {
        let link = Arc::new(Link {
            urls,
            active: AtomicUsize::new(0),
            token,
            http,
            key,
            failover,
            latest: watch::Sender::new(Arc::new(latest)),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, link.clone()));
        RemoteLog { tx, link }
    }

    /// Appends an entry: resolves once the sequencer answered and its
    /// answer proved the entry is in a checkpoint signed by the log's key.
    pub async fn add(&self, entry: Vec<u8>) -> Result<Sequenced, tlog::Error> {
        if entry.len() > tlog::tile::MAX_ENTRY_LEN {
            return Err(tlog::Error::EntryTooLarge(entry.len()));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { entry, reply })
            .await
            .map_err(|_| tlog::Error::Sequencer("the gateway's link stopped".into()))?;
        rx.await
            .map_err(|_| tlog::Error::Sequencer("the gateway's link stopped".into()))?
    }

    /// The newest checkpoint this gateway has seen proven.
    pub(crate) fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        self.link.latest.borrow().clone()
    }

    /// Follows the sequencer's log and its witnesses' cosignatures into
    /// `cosigned`, for ever (each state verified with the log's key).
    pub(crate) async fn follow(&self, cosigned: &watch::Sender<Cosigned>) {
        let link = &self.link;
        loop {
            let (size, tried) = (
                link.latest.borrow().checkpoint.size,
                cosigned.borrow().tried,
            );
            match link.state(size, tried).await {
                Ok((cp, latest, tried)) => {
                    link.saw(cp);
                    cosigned.send_modify(|c| {
                        c.tried = tried;
                        if latest.is_some() {
                            c.latest = latest;
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("following the region's sequencer: {e}");
                    link.next_after(link.active.load(Ordering::Relaxed));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Gathers queued entries into requests, [`IN_FLIGHT`] at most at once.
async fn run(mut rx: mpsc::Receiver<Request>, link: Arc<Link>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let link = link.clone();
        tokio::spawn(async move {
            let (entries, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|r| (r.entry, r.reply)).unzip();
            match link.sequence(&entries).await {
                Ok(done) => {
                    for (reply, s) in replies.into_iter().zip(done) {
                        let _ = reply.send(Ok(s));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(copy(&e)));
                    }
                }
            }
            drop(permit);
        });
    }
}

/// The same error for every entry of a failed request.
fn copy(e: &tlog::Error) -> tlog::Error {
    match e {
        tlog::Error::Busy(n) => tlog::Error::Busy(*n),
        other => tlog::Error::Sequencer(other.to_string()),
    }
}

impl Link {
    /// Moves on from sequencer `i` to the next one listed (unless another
    /// request already did).
    fn next_after(&self, i: usize) {
        let _ = self.active.compare_exchange(
            i,
            i.wrapping_add(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Keeps `cp` as the newest checkpoint if it is newer.
    fn saw(&self, cp: Arc<SignedCheckpoint>) {
        self.latest.send_if_modified(|l| {
            let newer = cp.checkpoint.size > l.checkpoint.size;
            if newer {
                *l = cp;
            }
            newer
        });
    }

    /// Sends one request of `path` to the active sequencer, moving on to
    /// the next when none accepts a connection, for [`Link::failover`] at
    /// most.
    async fn send(
        &self,
        request: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, tlog::Error> {
        let deadline = tokio::time::Instant::now() + self.failover;
        loop {
            let i = self.active.load(Ordering::Relaxed);
            let base = &self.urls[i % self.urls.len()];
            match request(base).bearer_auth(&self.token).send().await {
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_connect() && tokio::time::Instant::now() < deadline => {
                    self.next_after(i);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) if e.is_connect() => {
                    return Err(tlog::Error::Sequencer(format!(
                        "no sequencer of the region accepted a connection within {} s",
                        self.failover.as_secs()
                    )));
                }
                Err(e) => {
                    return Err(tlog::Error::Sequencer(format!(
                        "{base} did not answer: {}",
                        e.without_url()
                    )));
                }
            }
        }
    }

    /// Sequences `entries` and proves each answer.
    async fn sequence(&self, entries: &[Vec<u8>]) -> Result<Vec<Sequenced>, tlog::Error> {
        let body = serde_json::to_vec(&SequenceRequest {
            entries: entries.iter().map(|e| Base64(e.clone())).collect(),
        })
        .map_err(|e| tlog::Error::Sequencer(format!("encoding a request: {e}")))?;
        let resp = self
            .send(|base| {
                self.http
                    .post(format!("{base}/v1/sequence"))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => return Err(tlog::Error::Busy(entries.len())),
            status => {
                return Err(tlog::Error::Sequencer(format!(
                    "the sequencer answered HTTP {status}"
                )));
            }
        }
        let bytes = resp.bytes().await.map_err(|e| {
            tlog::Error::Sequencer(format!("reading its answer: {}", e.without_url()))
        })?;
        let answer: SequenceAnswer = serde_json::from_slice(&bytes)
            .map_err(|_| tlog::Error::Sequencer("its answer is not a sequence answer".into()))?;
        if answer.sequenced.len() != entries.len() {
            return Err(tlog::Error::Sequencer(format!(
                "it answered for {} entries of {}",
                answer.sequenced.len(),
                entries.len()
            )));
        }
        let proofs: Vec<Vec<Hash>> = answer
            .sequenced
            .iter()
            .map(|p| p.proof.iter().map(|h| h.0).collect())
            .collect();
        let proven = Sequenced::prove_all(
            answer.checkpoint.as_bytes(),
            &self.key,
            entries
                .iter()
                .zip(&answer.sequenced)
                .zip(&proofs)
                .map(|((e, p), proof)| (e.as_slice(), p.index, proof.as_slice())),
        )
        .inspect_err(|e| {
            tracing::error!(
                "the sequencer's acknowledgement does not verify; nothing released: {e}"
            )
        })?;
        if let Some(s) = proven.first() {
            self.saw(s.checkpoint().clone());
        }
        Ok(proven)
    }

    /// The sequencer's state once it is past `size` or `tried`, verified.
    async fn state(
        &self,
        size: u64,
        tried: u64,
    ) -> Result<(Arc<SignedCheckpoint>, Option<SignedCheckpoint>, u64), tlog::Error> {
        let resp = self
            .send(|base| {
                self.http
                    .get(format!(
                        "{base}/v1/sequencer/state?size={size}&tried={tried}"
                    ))
                    .timeout(STATE_WAIT + Duration::from_secs(5))
            })
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(tlog::Error::Sequencer(format!(
                "its state: HTTP {}",
                resp.status()
            )));
        }
        let bytes = resp.bytes().await.map_err(|e| {
            tlog::Error::Sequencer(format!("reading its state: {}", e.without_url()))
        })?;
        let state: SequencerState = serde_json::from_slice(&bytes)
            .map_err(|_| tlog::Error::Sequencer("its state is not a sequencer state".into()))?;
        let cp = SignedCheckpoint::open(state.checkpoint.as_bytes(), &self.key, &[])?;
        let cosigned = match state.cosigned {
            Some(text) => Some(SignedCheckpoint::open(text.as_bytes(), &self.key, &[])?),
            None => None,
        };
        Ok((Arc::new(cp), cosigned, state.tried))
    }
}
