//! The custodian over HTTP: `POST /v1/release`, `/v1/releases`,
//! `/v1/erase`, `/v1/scan`, `/v1/rewrap`. Every route but `/v1/keys`, `/healthz` and
//! `/metrics` takes the region gateway's bearer token, checked before the
//! body is read; a refusal is an RFC 9457 problem
//! (`application/problem+json`) with the refusal's `code`, and for a stale
//! checkpoint the size the custodian holds (`latest`), for an unread
//! log how far it has read (`scanned`), for an erasure it was not told of
//! that entry's `index`. A body the custodian will not
//! read (over [`MAX_BODY`], or cut short) is a problem too, with code
//! `body`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use custody::protocol::{EntryKeys, ReleasesRequest};

use crate::gate::{Gate, Refusal};

/// Largest request body: a release of some 20,000 keys.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

/// What the custodian counts, for `/metrics` and the demo's summary.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Record keys released.
    pub keys_released: Counter,
    /// Record keys asked for in refused requests.
    pub keys_refused: Counter,
    requests_refused: Family<Code, Counter>,
    /// Erasures recorded.
    pub erasures: Counter,
    /// Releases decided in a request of several (`POST /v1/releases`).
    pub batched_releases: Counter,
    /// Requests of several releases answered.
    pub release_batches: Counter,
}

struct App {
    gate: Gate,
    metrics: Metrics,
    registry: Registry,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn problem(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = problem_body(status, r.code(), &r.to_string());
    match r {
        Refusal::Stale { latest } => body["latest"] = (*latest).into(),
        Refusal::Unscanned { scanned } => body["scanned"] = (*scanned).into(),
        Refusal::ErasureUnnotified(index) => body["index"] = (*index).into(),
        _ => {}
    }
    problem_response(status, &body)
}

fn problem_body(status: StatusCode, code: &str, detail: &str) -> serde_json::Value {
    serde_json::json!({
        "type": format!("https://residency.example/problems/custodian/{code}"),
        "title": status.canonical_reason().unwrap_or("refused"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    })
}

fn problem_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// A body that could not be read: too large, or cut short.
fn unread(e: &BytesRejection) -> Response {
    let status = e.status();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the request body is over {MAX_BODY} bytes")
    } else {
        "the request body could not be read".to_owned()
    };
    problem_response(status, &problem_body(status, "body", &detail))
}

fn caller<'a>(gate: &'a Gate, headers: &HeaderMap) -> Result<&'a str, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .ok_or_else(|| Refusal::Unauthenticated("no bearer token".into()))?;
    gate.authenticate(token)
        .ok_or_else(|| Refusal::Unauthenticated("unknown token".into()))
}

/// The region gateway a request comes from: the bearer token is checked
/// before the body is read (axum runs this extractor first).
struct Caller(String);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        caller(&app.gate, &parts.headers)
            .map(|c| Caller(c.to_owned()))
            .map_err(|r| app.refused("request", &r, 0))
    }
}

impl App {
    fn refused(&self, what: &'static str, r: &Refusal, keys: usize) -> Response {
        self.metrics
            .requests_refused
            .get_or_create(&Code {
                code: r.code().into(),
            })
            .inc();
        self.metrics.keys_refused.inc_by(keys as u64);
        tracing::info!(code = r.code(), keys, "{what} refused");
        problem(r)
    }
}

/// Reads and parses one request's body and has the gate decide it, on a
/// blocking thread: the answer, or the problem to send (counted, with the
/// record keys it asked for).
async fn decide<T, A>(
    app: &Arc<App>,
    what: &'static str,
    caller: String,
    body: Result<Bytes, BytesRejection>,
    keys_asked: fn(&T) -> usize,
    gate: fn(&Gate, &str, &T, u64) -> Result<A, Refusal>,
) -> Result<A, Response>
where
    T: serde::de::DeserializeOwned + 'static,
    A: Send + 'static,
{
    let body = body.map_err(|e| unread(&e))?;
    let a = app.clone();
    let out = tokio::task::spawn_blocking(move || {
        let req: T =
            custody::protocol::parse(&body).map_err(|e| (Refusal::Malformed(e.to_string()), 0))?;
        gate(&a.gate, &caller, &req, now()).map_err(|r| (r, keys_asked(&req)))
    })
    .await;
    match out {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err((r, n))) => Err(app.refused(what, &r, n)),
        Err(e) => Err(problem(&Refusal::Storage(e.to_string()))),
    }
}

async fn release(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = decide(
        &app,
        "release",
        caller,
        body,
        custody::ReleaseRequest::key_count,
        Gate::release,
    )
    .await;
    match answer {
        Ok(answer) => {
            app.metrics.keys_released.inc_by(answer.keys.len() as u64);
            axum::Json(answer).into_response()
        }
        Err(problem) => problem,
    }
}

/// Several releases: each refused one is counted and traced as a
/// refused `/v1/release` would be.
async fn releases(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The keys each release asked for, to count those refused.
    let batch = |g: &Gate, caller: &str, req: &ReleasesRequest, now: u64| {
        let asked: Vec<usize> = req.releases.iter().map(EntryKeys::key_count).collect();
        g.release_batch(caller, req, now).map(|a| (a, asked))
    };
    let answer = decide(
        &app,
        "release batch",
        caller,
        body,
        ReleasesRequest::key_count,
        batch,
    )
    .await;
    match answer {
        Ok((answer, asked)) => {
            app.metrics.release_batches.inc();
            app.metrics
                .batched_releases
                .inc_by(answer.releases.len() as u64);
            for (r, keys) in answer.releases.iter().zip(asked) {
                match (&r.keys, &r.refused) {
                    (Some(released), _) => {
                        app.metrics.keys_released.inc_by(released.len() as u64);
                    }
                    (None, Some(refused)) => {
                        app.metrics
                            .requests_refused
                            .get_or_create(&Code {
                                code: refused.code.clone(),
                            })
                            .inc();
                        app.metrics.keys_refused.inc_by(keys as u64);
                        tracing::info!(code = %refused.code, keys, "release refused");
                    }
                    (None, None) => {}
                }
            }
            axum::Json(answer).into_response()
        }
        Err(problem) => problem,
    }
}

async fn erase(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match decide(&app, "erasure", caller, body, |_| 0, Gate::erase).await {
        Ok(answer) => {
            app.metrics.erasures.inc();
            axum::Json(answer).into_response()
        }
        Err(problem) => problem,
    }
}

async fn scan(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match decide(&app, "scan", caller, body, |_| 0, Gate::scan).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(problem) => problem,
    }
}

async fn rewrap(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rewrap = |g: &Gate, caller: &str, req: &custody::protocol::RewrapRequest, _now: u64| {
        g.rewrap(caller, req)
    };
    match decide(&app, "rewrap", caller, body, |_| 0, rewrap).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(problem) => problem,
    }
}

async fn keys(State(app): State<Arc<App>>) -> Response {
    let mut text = String::new();
    for k in app.gate.keys().public_keys() {
        text.push_str(&format!("kem {}\n", k.to_text()));
    }
    text.push_str(&format!(
        "cosigner {}\n",
        app.gate.witness().verifier().to_vkey()
    ));
    text.into_response()
}

async fn serve_metrics(State(app): State<Arc<App>>) -> Response {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &app.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The custodian's router over `gate`.
pub fn router(gate: Gate) -> axum::Router {
    let metrics = Metrics::default();
    let mut registry = Registry::with_prefix("custodian");
    registry.register(
        "keys_released",
        "Record keys released",
        metrics.keys_released.clone(),
    );
    registry.register(
        "keys_refused",
        "Record keys asked for in refused requests",
        metrics.keys_refused.clone(),
    );
    registry.register(
        "requests_refused",
        "Requests refused, by code",
        metrics.requests_refused.clone(),
    );
    registry.register("erasures", "Erasures recorded", metrics.erasures.clone());
    registry.register(
        "batched_releases",
        "Releases decided in a request of several",
        metrics.batched_releases.clone(),
    );
    registry.register(
        "release_batches",
        "Requests of several releases answered",
        metrics.release_batches.clone(),
    );
    let app = Arc::new(App {
        gate,
        metrics,
        registry,
    });
    axum::Router::new()
        .route("/v1/release", axum::routing::post(release))
        .route("/v1/releases", axum::routing::post(releases))
        .route("/v1/erase", axum::routing::post(erase))
        .route("/v1/scan", axum::routing::post(scan))
        .route("/v1/rewrap", axum::routing::post(rewrap))
        .route("/v1/keys", axum::routing::get(keys))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/metrics", axum::routing::get(serve_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}
