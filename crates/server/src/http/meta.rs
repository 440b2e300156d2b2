//! Health, readiness and server time.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use keyward_token::Timestamp;

use crate::codes;
use crate::json::JsonOut;
use crate::refusal::Refusal;
use crate::render::Refused;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the store answers.
pub async fn readyz(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(c) = s.cluster() {
        // Each backend by name: "ready (store ok, redis ok)", or a 503 naming
        // the one that does not answer.
        let states = c.states().await;
        let text: Vec<String> = states
            .iter()
            .map(|(name, r)| match r {
                Ok(()) => format!("{name} ok"),
                Err(_) => format!("{name} down"),
            })
            .collect();
        let text = text.join(", ");
        if states.iter().all(|(_, r)| r.is_ok()) {
            return format!("ready ({text})").into_response();
        }
        let detail: Vec<String> = states
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        return Refused::from(
            Refusal::with(codes::NOT_READY, format!("Not ready: {text}")).log(detail.join("; ")),
        )
        .into_response();
    }
    match s.stores().lifecycle.health().await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            let _ = &headers;
            Refused::from(
                Refusal::with(codes::NOT_READY, "The store is not answering").log(e.to_string()),
            )
            .into_response()
        }
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
