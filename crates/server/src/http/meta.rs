//! Health, readiness and server time.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_token::Timestamp;

use super::request_id;
use crate::error::{ApiError, Dialect};
use crate::json::JsonOut;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the store answers.
pub async fn readyz(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match s.store().recent(None, 1).await {
        Ok(_) => "ready".into_response(),
        Err(e) => ApiError::new(
            "not_ready",
            StatusCode::SERVICE_UNAVAILABLE,
            "The store is not answering",
        )
        .with_log(e.to_string())
        .render(Dialect::Native, &request_id(&headers)),
    }
}

/// `GET /v1/time`: the server clock, for diagnosing token clock skew.
pub async fn time() -> Response {
    let now = Timestamp::now();
    let mut j = JsonOut::object();
    j.str("now", &now.to_string());
    j.int("epoch", now.unix());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        j.finish(),
    )
        .into_response()
}

/// `GET /openapi.json`: the native and admin API description.
pub async fn openapi() -> Response {
    let body = serde_json::to_string_pretty(&crate::openapi::document()).unwrap_or_default();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
