//! The monitor's HTTP interface: the dashboard and the JSON and CSV
//! reports.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::dashboard;
use crate::{Error, Monitor};

type Shared = Arc<Monitor>;

fn failed(e: Error) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// The monitor's HTTP interface: `/` (dashboard), `/api/summary`,
/// `/api/art30.json`, `/api/art30.csv`, `/api/entry/{region}/{index}`,
/// `/healthz`.
pub fn router(monitor: Arc<Monitor>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/", get(page))
        .route("/api/summary", get(summary))
        .route("/api/art30.json", get(art30_json))
        .route("/api/art30.csv", get(art30_csv))
        .route("/api/entry/{region}/{index}", get(entry))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(monitor)
}

async fn page(State(m): State<Shared>) -> Response {
    match m.summary() {
        Ok(s) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            dashboard(&s).into_string(),
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

async fn summary(State(m): State<Shared>) -> Response {
    match m.summary() {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => failed(e),
    }
}

async fn art30_json(State(m): State<Shared>) -> Response {
    match m.art30() {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => failed(e),
    }
}

async fn art30_csv(State(m): State<Shared>) -> Response {
    match m.art30_csv() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response(),
        Err(e) => failed(e),
    }
}

async fn entry(State(m): State<Shared>, Path((region, index)): Path<(String, u64)>) -> Response {
    match m.entry(&region, index).await {
        Ok(Some((entry, receipt))) => axum::Json(serde_json::json!({
            "region": region,
            "index": index,
            "entry": serde_json::from_str::<serde_json::Value>(&entry).unwrap_or(serde_json::Value::String(entry)),
            "receipt": receipt,
        }))
        .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such verified entry\n").into_response(),
        Err(e) => failed(e),
    }
}
