//! Every refusal as an RFC 9457 problem document, and answers as JSON.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Error;

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
        let mut resp = (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
        // Whatever was unavailable (the log, a peer, the custodian) is
        // worth asking again soon, not at once.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
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
            Error::LogBusy => (StatusCode::SERVICE_UNAVAILABLE, "log-saturated"),
            Error::Custodian { refused: false, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "custodian-unavailable")
            }
            Error::Custodian { refused: true, .. } => (StatusCode::FORBIDDEN, "custodian-refused"),
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

/// A JSON answer.
pub(super) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            .into_response(),
    }
}

/// A region method's result: its value as JSON, or its problem.
pub(super) fn answer<T: Serialize>(r: Result<T, Error>, ok: StatusCode) -> Response {
    match r {
        Ok(v) => json(ok, &v),
        Err(e) => Problem::from(e).into_response(),
    }
}
