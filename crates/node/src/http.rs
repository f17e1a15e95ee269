//! The HTTP API: JSON in and out (NDJSON accepted for bulk ingest), errors
//! as RFC 9457 problem documents, the public log per C2SP tlog-tiles, and
//! the OpenAPI document (`openapi.json`, served at `/openapi.json`).
//!
//! Every route but `/healthz`, `/metrics`, `/openapi.json` and `/log/…`
//! needs `Authorization: Bearer <token>`; callers are rate limited by
//! identity. Tracing records route, status and caller id — never a body.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::Backend;
use tlog::Storage;

use crate::Error;
use crate::auth::Caller;
use crate::bounds::Bounded;
use crate::config::Limits;
use crate::metrics::RequestLabels;
use crate::region::{
    AggregateRequest, IncomingEvent, ReadRequest, Region, ReidentifyRequest, SubjectRequest,
    TransferRequest,
};

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Content type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What was wrong with this request.
    pub detail: String,
    /// For denials: the log entry recording it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// For denials: why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Problem {
    /// A problem of `status`, with a kind slug and details.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://residency.example/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            log_index: None,
            reasons: Vec::new(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let (status, slug) = match &e {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Error::Denied { .. } => (StatusCode::FORBIDDEN, "denied"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            Error::PeerUnavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "region-unavailable")
            }
            Error::NotLogged => (StatusCode::SERVICE_UNAVAILABLE, "not-logged"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut p = Problem::new(status, slug, e.to_string());
        if let Error::Denied { reasons, log_index } = e {
            p.reasons = reasons;
            p.log_index = log_index;
        }
        p
    }
}

struct App<B> {
    region: Arc<Region<B>>,
    limiter: DefaultKeyedRateLimiter<String>,
}

type Shared<B> = Arc<App<B>>;

/// The router of a region node.
pub fn router<B: Backend>(region: Arc<Region<B>>, limits: &Limits) -> Router {
    let per_second = NonZeroU32::new(limits.requests_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limits.burst).unwrap_or(per_second);
    let app = Arc::new(App {
        region,
        limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
    });
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::<B>))
        .route("/openapi.json", get(openapi))
        .route("/log/checkpoint", get(checkpoint::<B>))
        .route("/log/tile/{*path}", get(tile::<B>))
        .route("/v1/ingest", post(ingest::<B>))
        .route("/v1/read", post(read::<B>))
        .route("/v1/transfer", post(transfer::<B>))
        .route("/v1/aggregate", post(aggregate::<B>))
        .route("/v1/reidentify", post(reidentify::<B>))
        .route("/v1/subjects/export", post(export::<B>))
        .route("/v1/subjects/erase", post(erase::<B>))
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .layer(middleware::from_fn_with_state(app.clone(), count::<B>))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .with_state(app)
}

/// Counts and traces every request: route, status, nothing of the body.
async fn count<B: Backend>(State(app): State<Shared<B>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    app.region
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            route: route.clone(),
            status,
        })
        .inc();
    tracing::debug!(region = %app.region.id(), %route, status, "request");
    resp
}

async fn metrics<B: Backend>(State(app): State<Shared<B>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.region.metrics().render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn text(body: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn checkpoint<B: Backend>(State(app): State<Shared<B>>) -> Response {
    text(app.region.cosigned_checkpoint().to_text().into_bytes())
}

async fn tile<B: Backend>(State(app): State<Shared<B>>, Path(path): Path<String>) -> Response {
    let path = format!("tile/{path}");
    if let Err(e) = tlog::tile::TileId::parse_path(&path) {
        return Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string()).into_response();
    }
    match app.region.log().storage().read(&path).await {
        Ok(Some(bytes)) => {
            let mut r =
                ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
            // Tiles never change once written (partial ones are replaced by
            // new paths).
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=604800, immutable"),
            );
            r
        }
        Ok(None) => {
            Problem::new(StatusCode::NOT_FOUND, "not-found", "no such tile").into_response()
        }
        Err(e) => Problem::from(Error::Log(e)).into_response(),
    }
}

/// The authenticated, rate-limited caller.
fn caller<B: Backend>(app: &App<B>, headers: &HeaderMap) -> Result<Caller, Problem> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this endpoint needs `Authorization: Bearer <token>`",
            )
        })?;
    let caller = app
        .region
        .credentials()
        .check(token.trim())
        .ok_or_else(|| {
            Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", "unknown token")
        })?;
    let key = match &caller {
        Caller::Principal(p) => format!("principal:{p}"),
        Caller::Region(r) => format!("region:{r}"),
    };
    if app.limiter.check_key(&key).is_err() {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many requests from this caller; retry shortly",
        ));
    }
    Ok(caller)
}

fn principal(caller: &Caller) -> Result<&str, Problem> {
    match caller {
        Caller::Principal(p) => Ok(p),
        Caller::Region(r) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "denied",
            format!("region {r}'s node credential may only forward ingests"),
        )),
    }
}

/// The body, or a problem naming what was wrong with it.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    body.map_err(|r| {
        let status = r.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the body is larger than this node accepts".to_owned()
        } else {
            r.body_text()
        };
        Problem::new(status, "bad-body", detail)
    })
}

/// Parses JSON; the message names the place and the problem, never a value.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed", json_error(&e)))
}

fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    // serde quotes offending values in "invalid type/value" messages, and
    // the caller's own key in "unknown field" ones.
    if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        format!(
            "a value has the wrong type or form at line {} column {}",
            e.line(),
            e.column()
        )
    } else if msg.starts_with("unknown field") {
        format!(
            "a field this request does not take at line {} column {}",
            e.line(),
            e.column()
        )
    } else {
        msg
    }
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            .into_response(),
    }
}

fn answer<T: Serialize>(r: Result<T, Error>, ok: StatusCode) -> Response {
    match r {
        Ok(v) => json(ok, &v),
        Err(e) => Problem::from(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestBody {
    events: Vec<IncomingEvent>,
}

async fn ingest<B: Backend>(
    State(app): State<Shared<B>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let caller = caller(&app, &headers)?;
        let bytes = body(raw)?;
        let ndjson = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-ndjson"));
        let events = if ndjson {
            let mut events = Vec::new();
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                events.push(serde_json::from_slice(line).map_err(|e| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "malformed",
                        format!("line {}: {}", i + 1, json_error(&e)),
                    )
                })?);
            }
            events
        } else {
            parse::<IngestBody>(&bytes)?.events
        };
        events.check(app.region.bundle()).map_err(Problem::from)?;
        Ok::<_, Problem>(app.region.ingest(&caller, events).await)
    };
    match run.await {
        Ok(r) => answer(r, StatusCode::ACCEPTED),
        Err(p) => p.into_response(),
    }
}

/// A handler of a principal's JSON request.
async fn principal_call<B, Req, Resp, F, Fut>(
    app: Shared<B>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
    f: F,
) -> Response
where
    B: Backend,
    Req: DeserializeOwned + Bounded,
    Resp: Serialize,
    F: FnOnce(Arc<Region<B>>, String, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, Error>>,
{
    let run = async {
        let caller = caller(&app, &headers)?;
        let who = principal(&caller)?.to_owned();
        let req: Req = parse(&body(raw)?)?;
        // Bounded, and ids of the bundle, before anything is decided.
        req.check(app.region.bundle()).map_err(Problem::from)?;
        Ok::<_, Problem>(f(app.region.clone(), who, req).await)
    };
    match run.await {
        Ok(r) => answer(r, StatusCode::OK),
        Err(p) => p.into_response(),
    }
}

/// A route taking a principal's JSON request to a `Region` method.
macro_rules! principal_route {
    ($($name:ident: $req:ty;)*) => {$(
        async fn $name<B: Backend>(
            State(app): State<Shared<B>>,
            headers: HeaderMap,
            raw: Result<Bytes, BytesRejection>,
        ) -> Response {
            principal_call(app, headers, raw, |r, who, req: $req| async move {
                r.$name(&who, req).await
            })
            .await
        }
    )*};
}

principal_route! {
    read: ReadRequest;
    transfer: TransferRequest;
    aggregate: AggregateRequest;
    reidentify: ReidentifyRequest;
    export: SubjectRequest;
    erase: SubjectRequest;
}
