//! The HTTP API: JSON in and out (NDJSON accepted for bulk ingest), errors
//! as RFC 9457 problem documents, the public log per C2SP tlog-tiles, and
//! the OpenAPI document (`openapi.json`, served at `/openapi.json`).
//!
//! Every route but `/healthz`, `/metrics`, `/openapi.json` and `/log/…`
//! needs `Authorization: Bearer <token>` (the scheme in any case), checked
//! before the body is read; principals are rate limited by identity (a 429
//! says when to retry). Request targets and header sections above this
//! node's bounds get 414 and 431 problems, an unsupported method 405.
//! Tracing records route, status and caller id — never a body.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::Backend;

use crate::Error;
use crate::auth::Caller;
use crate::bounds::Bounded;
use crate::config::Limits;
use crate::metrics::RequestLabels;
use crate::region::{
    AggregateRequest, HistoryRequest, IncomingEvent, IngestOutcome, ReadRequest, Region,
    ReidentifyRequest, SubjectRequest, TransferRequest,
};

pub(crate) mod body;
mod problem;

pub use problem::{PROBLEM_JSON, Problem};

use body::{body, json_error, parse};
use problem::{answer, json};

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Longest request target (path and query) answered; longer ones get 414.
/// (The HTTP library's own limit, 64 KiB, is far above it.)
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// Most header fields answered; more get 431 (the HTTP library's own
/// limit is 100).
pub const MAX_HEADERS: usize = 64;
/// Largest header section answered (names and values); larger get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

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
        .route("/v1/ingest", post(ingest::<B>))
        .route("/v1/read", post(read::<B>))
        .route("/v1/transfer", post(transfer::<B>))
        .route("/v1/aggregate", post(aggregate::<B>))
        .route("/v1/reidentify", post(reidentify::<B>))
        .route("/v1/subjects/export", post(export::<B>))
        .route("/v1/subjects/erase", post(erase::<B>))
        .route("/v1/subjects/accesses", post(history::<B>))
        .method_not_allowed_fallback(method_not_allowed)
        // Only the routes above; their bodies are read after this.
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            authenticate::<B>,
        ))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::<B>))
        .route("/openapi.json", get(openapi))
        .route("/log/checkpoint", get(checkpoint::<B>))
        .route("/log/tile/{*path}", get(tile::<B>))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .layer(middleware::from_fn_with_state(app.clone(), count::<B>))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn(bounded))
        .with_state(app)
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not take this method (see the Allow header)",
    )
}

/// Refuses request targets and header sections above this node's bounds,
/// as problem documents.
async fn bounded(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Problem::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the request target is longer than {MAX_TARGET_BYTES} bytes"),
        )
        .into_response();
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header-fields-too-large",
            format!(
                "the request has more than {MAX_HEADERS} header fields or more than {MAX_HEADER_BYTES} bytes of them"
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Authenticates and rate-limits the caller of a `/v1/…` route before its
/// body is read; the handler finds the caller in the request's extensions.
async fn authenticate<B: Backend>(
    State(app): State<Shared<B>>,
    mut req: Request,
    next: Next,
) -> Response {
    match caller(&app, req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(refused) => *refused,
    }
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
    let id = match tlog::tile::TileId::parse_path(&path) {
        Ok(id) => id,
        Err(e) => {
            return Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string()).into_response();
        }
    };
    // A partial tile may be served from a wider version: the log keeps
    // only some widths (see `tlog::LogReader::read_tile`).
    match app
        .region
        .log()
        .read_tile(id)
        .await
        .map(Some)
        .or_else(|e| match e {
            tlog::Error::NotFound(_) => Ok(None),
            e => Err(e),
        }) {
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

/// The token of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The authenticated, rate-limited caller, or the answer refusing it.
fn caller<B: Backend>(app: &App<B>, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    let token = bearer(headers).ok_or_else(|| {
        Box::new(
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this endpoint needs `Authorization: Bearer <token>`",
            )
            .into_response(),
        )
    })?;
    let caller = app.region.credentials().check(token).ok_or_else(|| {
        Box::new(
            Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", "unknown token")
                .into_response(),
        )
    })?;
    // A peer is limited as one caller: it forwards only ingests, which
    // its own edge limited per principal, so this binds only a peer that
    // floods.
    let key = match &caller {
        Caller::Principal(p) => format!("principal:{p}"),
        Caller::Region(r) => format!("region:{r}"),
    };
    if let Err(not_until) = app.limiter.check_key(&key) {
        let wait = not_until.wait_time_from(app.limiter.clock().now());
        // Whole seconds (RFC 9110 §10.2.3), rounded up, at least one.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut refused = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many requests from this caller; retry after the time in Retry-After",
        )
        .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return Err(Box::new(refused));
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestBody {
    events: Vec<IncomingEvent>,
}

async fn ingest<B: Backend>(
    State(app): State<Shared<B>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
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
        Ok::<_, Problem>(
            app.region
                .ingest(&caller, on_behalf_of(&headers), events)
                .await,
        )
    };
    match run.await {
        Ok(Ok(outcome)) if outcome.not_stored.is_empty() => json(StatusCode::ACCEPTED, &outcome),
        Ok(Ok(outcome)) => incomplete(outcome),
        Ok(Err(e)) => Problem::from(e).into_response(),
        Err(p) => p.into_response(),
    }
}

/// The principal a forwarding region names. A principal id is an
/// identifier of the bundle: a longer or non-text header is no principal
/// (and is not repeated).
fn on_behalf_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(crate::region::ON_BEHALF_OF)
        .map(|v| v.to_str().ok().filter(|p| p.len() <= 128).unwrap_or(""))
}

/// A person's history: asked by a principal, or forwarded by a peer
/// region on a principal's behalf.
async fn history<B: Backend>(
    State(app): State<Shared<B>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let on_behalf_of = on_behalf_of(&headers).map(str::to_owned);
    checked_call(app, raw, |r, req: HistoryRequest| async move {
        r.history(&caller, on_behalf_of.as_deref(), req).await
    })
    .await
}

/// The answer to an ingest a home region did not take its part of: 400
/// when a region refused its events, 503 when one could not take them; a
/// problem document whose `ingest` member says what was stored where.
fn incomplete(outcome: IngestOutcome) -> Response {
    #[derive(Serialize)]
    struct Incomplete {
        #[serde(flatten)]
        problem: Problem,
        ingest: IngestOutcome,
    }
    let refused = outcome.not_stored.values().any(|n| n.outcome == "refused");
    let status = if refused {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let stored: Vec<String> = outcome
        .regions
        .iter()
        .map(|(r, n)| format!("{r} stored {n}"))
        .collect();
    let not: Vec<String> = outcome
        .not_stored
        .iter()
        .map(|(r, n)| format!("{r} {} {} ({})", n.outcome, n.events, n.detail))
        .collect();
    let stored = if stored.is_empty() {
        "nothing stored".to_owned()
    } else {
        stored.join(", ")
    };
    let problem = Problem::new(
        status,
        "ingest-incomplete",
        format!("events by home region: {stored}; {}", not.join("; ")),
    );
    let body = serde_json::to_vec(&Incomplete {
        problem,
        ingest: outcome,
    })
    .unwrap_or_default();
    (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
}

/// A handler of a principal's JSON request.
async fn principal_call<B, Req, Resp, F, Fut>(
    app: Shared<B>,
    caller: Caller,
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
    let who = match principal(&caller) {
        Ok(who) => who.to_owned(),
        Err(p) => return p.into_response(),
    };
    checked_call(app, raw, |r, req| f(r, who, req)).await
}

/// A handler of a JSON request: the body parsed, bounded and its ids
/// checked against the bundle before `f` decides anything.
async fn checked_call<B, Req, Resp, F, Fut>(
    app: Shared<B>,
    raw: Result<Bytes, BytesRejection>,
    f: F,
) -> Response
where
    B: Backend,
    Req: DeserializeOwned + Bounded,
    Resp: Serialize,
    F: FnOnce(Arc<Region<B>>, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, Error>>,
{
    let run = async {
        let req: Req = parse(&body(raw)?)?;
        // Bounded, and ids of the bundle, before anything is decided.
        req.check(app.region.bundle()).map_err(Problem::from)?;
        Ok::<_, Problem>(f(app.region.clone(), req).await)
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
            Extension(caller): Extension<Caller>,
            raw: Result<Bytes, BytesRejection>,
        ) -> Response {
            principal_call(app, caller, raw, |r, who, req: $req| async move {
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
