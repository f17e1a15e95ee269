//! The witness over HTTP: C2SP tlog-witness's `add-checkpoint`, and this
//! witness's extensions for monitors.

use std::sync::Arc;

use crate::{Refusal, Witness};

/// The witness's HTTP endpoints: `POST <prefix>/add-checkpoint`
/// ([`c2sp_router`]); and our extensions, `GET <prefix>/latest?origin=…`,
/// the latest checkpoint it cosigned for a log (signed by the log), so that
/// monitors can compare what witnesses were shown, and `GET
/// <prefix>/evidence`, every split view it refused (JSON), for monitors to
/// alert on.
pub fn router(witness: Arc<Witness>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    #[derive(serde::Deserialize)]
    struct Origin {
        origin: String,
    }
    let w = witness.clone();
    let latest = axum::routing::get(move |q: axum::extract::Query<Origin>| {
        let witness = w.clone();
        async move {
            match tokio::task::spawn_blocking(move || witness.latest(&q.origin)).await {
                Ok(Ok(Some(text))) => (StatusCode::OK, text).into_response(),
                Ok(Ok(None)) => (
                    StatusCode::NOT_FOUND,
                    "no checkpoint cosigned for this log\n",
                )
                    .into_response(),
                Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
            }
        }
    });
    let w = witness.clone();
    let evidence = axum::routing::get(move || {
        let witness = w.clone();
        async move {
            match tokio::task::spawn_blocking(move || witness.evidence()).await {
                Ok(Ok(list)) => axum::Json(list).into_response(),
                Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
            }
        }
    });
    c2sp_router(witness)
        .route("/latest", latest)
        .route("/evidence", evidence)
}

/// Only what C2SP tlog-witness specifies, `POST <prefix>/add-checkpoint`:
/// a witness as a third party runs it, for testing monitors against one
/// (`residency witness --c2sp-only`).
pub fn c2sp_router(witness: Arc<Witness>) -> axum::Router {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move |body: axum::body::Bytes| {
            let witness = witness.clone();
            async move {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let result =
                    tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await;
                match result {
                    Ok(Ok(sig)) => (StatusCode::OK, sig.to_line()).into_response(),
                    Ok(Err(r)) => {
                        let status = StatusCode::from_u16(r.status())
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                        match r {
                            Refusal::Conflict { latest }
                            | Refusal::SplitView {
                                same_size: true,
                                latest,
                                ..
                            } => (
                                status,
                                [(header::CONTENT_TYPE, tlog::witness::SIZE_CONTENT_TYPE)],
                                format!("{latest}\n"),
                            )
                                .into_response(),
                            other => (status, format!("{other}\n")).into_response(),
                        }
                    }
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
                }
            }
        }),
    )
}
