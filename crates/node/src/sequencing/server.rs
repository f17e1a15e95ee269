//! The sequencer process of a region (`residency serve --role
//! sequencer`): the log's one writer, holding the log's lease (a standby
//! waits for it), pushing each checkpoint to the witnesses, and answering
//! the region's gateways — each batch with the signed checkpoint and an
//! inclusion proof per entry, so a gateway need not take its word.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use custody::protocol::HexHash;
use tlog::{CachedTiles, LogReader, Sequenced, Sequencer};
use tokio::sync::watch;

use super::wire::{
    MAX_BATCH, Proven, STATE_WAIT, SequenceAnswer, SequenceRequest, SequencerState, StateQuery,
};
use super::{Cosigned, open_local, push_to_witnesses};
use crate::Error;
use crate::auth::{Caller, Credentials};
use crate::config::{ClusterConfig, WitnessConfig};
use crate::http::Problem;
use crate::region::{LogStorage, Start};

/// Largest body of a sequence request: a full batch of the largest
/// entries, base64.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A running sequencer of a region.
pub struct SequencerNode {
    region: String,
    seq: Sequencer,
    writes: LogStorage,
    reader: LogReader<CachedTiles<LogStorage>>,
    cosigned: watch::Sender<Cosigned>,
    credentials: Credentials,
    /// The client of the witnesses.
    http: reqwest::Client,
}

impl std::fmt::Debug for SequencerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SequencerNode({})", self.region)
    }
}

impl SequencerNode {
    /// Opens region `id`'s log for writing (waiting for its lease as
    /// [`Start`] says) and starts its sequencer.
    pub async fn start(cluster: &ClusterConfig, id: &str, start: Start) -> Result<Self, Error> {
        let me = cluster.regions.get(id).ok_or_else(|| Error::Config {
            file: cluster.file.display().to_string(),
            field: "regions".into(),
            why: format!("no region {id:?}"),
        })?;
        // The region's gateways, by their token's hash: the sequencer
        // holds no secret it could present anywhere.
        let mut credentials = Credentials::default();
        credentials.add_hash(Caller::Region(id.to_owned()), me.token_sha256);
        let log = open_local(&cluster.file, me, start).await?;
        tracing::info!(region = %id, size = log.seq.checkpoint().checkpoint.size, "sequencing the log");
        Ok(SequencerNode {
            region: id.to_owned(),
            reader: LogReader::new(log.tiles)
                .remembering_subtrees(crate::region::SUBTREES_REMEMBERED),
            seq: log.seq,
            writes: log.writes,
            cosigned: watch::Sender::new(Cosigned::new(!cluster.witnesses.is_empty())),
            credentials,
            http: cluster.http_client(std::time::Duration::from_secs(30))?,
        })
    }

    /// Pushes every new checkpoint to the witnesses; runs until the log
    /// stops.
    pub async fn push_to_witnesses(&self, witnesses: &[WitnessConfig]) {
        push_to_witnesses(
            self.seq.subscribe(),
            &self.reader,
            &self.cosigned,
            witnesses,
            &self.http,
        )
        .await
    }

    /// Resolves once the log's writer has stopped for good (fenced out by
    /// another, or its storage failing): the process should exit, freeing
    /// the lease for a standby.
    pub async fn stopped(&self) {
        self.seq.stopped().await
    }

    /// Makes what the journal holds durable in the files (a bucket's
    /// writes already are). Call once requests have stopped.
    pub async fn settle_log(&self) -> Result<(), Error> {
        Ok(self.writes.settle().await?)
    }

    /// The routes: `POST /v1/sequence` and `GET /v1/sequencer/state` (the
    /// region's node token), `GET /healthz` and `GET /log/checkpoint`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/sequence", post(sequence))
            .route("/v1/sequencer/state", get(state))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/log/checkpoint", get(checkpoint))
            .fallback(|| async {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "no such route")
            })
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self)
    }

    /// Whether the request carries the region's own node token.
    fn authorised(&self, headers: &HeaderMap) -> Result<(), Problem> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        match token.and_then(|t| self.credentials.check(t)) {
            Some(Caller::Region(r)) if r == self.region => Ok(()),
            _ => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "only the region's gateways, with its node token, may use its sequencer",
            )),
        }
    }

    /// The state a gateway follows.
    fn state(&self) -> SequencerState {
        let c = self.cosigned.borrow();
        SequencerState {
            checkpoint: self.seq.checkpoint().to_text(),
            cosigned: c.latest.as_ref().map(tlog::SignedCheckpoint::to_text),
            tried: c.tried,
        }
    }
}

type Node = State<Arc<SequencerNode>>;

/// The pushback of a saturated sequencer (`Retry-After: 1`).
fn busy(why: String) -> Response {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "log-saturated", why).into_response()
}

/// Whether `bytes` are a log entry (the schema, no field beyond it) in
/// the canonical encoding gateways write.
fn is_log_entry(bytes: &[u8]) -> bool {
    entry::Entry::parse(bytes).is_ok()
        && serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| entry::canonical(&v) == bytes)
}

async fn sequence(State(node): Node, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(p) = node.authorised(&headers) {
        return p.into_response();
    }
    let req: SequenceRequest = match crate::http::body::parse(&body) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    if req.entries.len() > MAX_BATCH {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            format!("a request may hold {MAX_BATCH} entries at most"),
        )
        .into_response();
    }
    let entries: Vec<Vec<u8>> = req.entries.into_iter().map(|e| e.0).collect();
    // Only log entries, as gateways write them: the token is a peer's
    // credential too, and the log is public and never forgets.
    if let Some(i) = entries.iter().position(|e| !is_log_entry(e)) {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "not-a-log-entry",
            format!("entry {i} of the batch is not a log entry in its canonical encoding"),
        )
        .into_response();
    }
    let pending = match node.seq.try_submit_all(entries) {
        Ok(p) => p,
        Err(e @ tlog::Error::Busy(_)) => return busy(e.to_string()),
        Err(e @ tlog::Error::EntryTooLarge(_)) => {
            return Problem::new(StatusCode::BAD_REQUEST, "entry-too-large", e.to_string())
                .into_response();
        }
        Err(e) => return busy(e.to_string()),
    };
    let mut done: Vec<Sequenced> = Vec::with_capacity(pending.len());
    for p in pending {
        match p.wait().await {
            Ok(s) => done.push(s),
            Err(e) => {
                tracing::error!(region = %node.region, "a batch could not be sequenced: {e}");
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "not-sequenced",
                    "the batch could not be made durable",
                )
                .into_response();
            }
        }
    }
    // Every entry is in the newest of their checkpoints: prove them all
    // against it.
    let Some(cp) = done
        .iter()
        .map(|s| s.checkpoint().clone())
        .max_by_key(|c| c.checkpoint.size)
    else {
        return Json(SequenceAnswer {
            checkpoint: node.seq.checkpoint().to_text(),
            sequenced: Vec::new(),
        })
        .into_response();
    };
    let mut sequenced = Vec::with_capacity(done.len());
    for s in &done {
        match node
            .reader
            .inclusion_proof(s.index(), cp.checkpoint.size)
            .await
        {
            Ok(proof) => sequenced.push(Proven {
                index: s.index(),
                proof: proof.into_iter().map(HexHash).collect(),
            }),
            Err(e) => {
                tracing::error!(region = %node.region, "proving a sequenced entry: {e}");
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "not-proven",
                    "a sequenced entry could not be proven",
                )
                .into_response();
            }
        }
    }
    Json(SequenceAnswer {
        checkpoint: cp.to_text(),
        sequenced,
    })
    .into_response()
}

async fn state(
    State(node): Node,
    headers: HeaderMap,
    query: Result<Query<StateQuery>, QueryRejection>,
) -> Response {
    if let Err(p) = node.authorised(&headers) {
        return p.into_response();
    }
    let Ok(Query(q)) = query else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "the query must be size=<n>&tried=<n>",
        )
        .into_response();
    };
    let mut log = node.seq.subscribe();
    let mut cosigned = node.cosigned.subscribe();
    let news = async {
        tokio::select! {
            _ = log.wait_for(|cp| cp.checkpoint.size > q.size) => {}
            _ = cosigned.wait_for(|c| c.tried != u64::MAX && c.tried > q.tried) => {}
        }
    };
    let _ = tokio::time::timeout(STATE_WAIT, news).await;
    Json(node.state()).into_response()
}

async fn checkpoint(State(node): Node) -> Response {
    let cp = node.seq.checkpoint();
    let served = match &node.cosigned.borrow().latest {
        Some(c) if c.checkpoint == cp.checkpoint => c.to_text(),
        _ => cp.to_text(),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        served,
    )
        .into_response()
}

/// A JSON answer.
struct Json<T>(T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}
