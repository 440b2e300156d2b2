//! The decision debugger's admin API: `GET /v1/admin/decisions[?limit=&outcome=]`
//! (newest first) and `GET /v1/admin/decisions/{request_id}` — why a licence request
//! was granted or refused, from the ring of recent decisions.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::credential::query_param;
use super::path_error;
use crate::codes;
use crate::refusal::Refusal;
use crate::render::Refused;
use crate::state::AppState;

fn json<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_string(v) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => Refused::from(Refusal::internal(e.to_string())).into_response(),
    }
}

/// `GET /v1/admin/decisions/{request_id}`.
pub async fn get(State(s): State<AppState>, rid: Result<Path<String>, PathRejection>) -> Response {
    let Path(rid) = match rid {
        Ok(p) => p,
        Err(e) => return Refused::from(path_error(&e)).into_response(),
    };
    if !s.decisions().enabled() {
        return Refused::from(Refusal::with(
            codes::DECISION_NOT_FOUND,
            "The decision debugger is off (decisions_ring = 0)",
        ))
        .into_response();
    }
    match s.decisions().get(&rid) {
        Some(d) => json(&*d),
        None => Refused::from(Refusal::new(codes::DECISION_NOT_FOUND)).into_response(),
    }
}

/// `GET /v1/admin/decisions[?limit=100&outcome=refused|granted]`.
pub async fn list(State(s): State<AppState>, uri: Uri) -> Response {
    let limit = match query_param(uri.query(), "limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Refused::from(Refusal::with(
                    codes::INVALID_INPUT,
                    "limit must be a number from 1 to 1000",
                ))
                .into_response()
            }
        },
    };
    let outcome = match query_param(uri.query(), "outcome").as_deref() {
        None => None,
        Some("granted") => Some("granted"),
        Some("refused") => Some("refused"),
        Some(_) => {
            return Refused::from(Refusal::with(
                codes::INVALID_INPUT,
                "outcome must be granted or refused",
            ))
            .into_response()
        }
    };
    let list: Vec<_> = s
        .decisions()
        .recent(limit, outcome)
        .iter()
        .map(|d| (**d).clone())
        .collect();
    json(&list)
}
