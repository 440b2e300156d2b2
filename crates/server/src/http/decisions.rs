//! The decision debugger's admin API: `GET /v1/admin/decisions[?limit=&outcome=]`
//! (newest first) and `GET /v1/admin/decisions/{request_id}` — why a licence request
//! was granted or refused, from the ring of recent decisions, or (for sites in
//! `decisions_audit_sites`) from the audit store: decisions of other nodes, and
//! from before a restart.

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
    if let Some(d) = s.decisions().get(&rid) {
        return json(&*d);
    }
    let audited = !s.config().decisions_audit_sites.is_empty();
    if audited && !rid.is_empty() && rid.len() <= keyward_store::audit::MAX_FIELD_LEN {
        let q = keyward_store::AuditQuery {
            kind: Some("decision".into()),
            request_id: Some(rid),
            limit: 1,
            ..keyward_store::AuditQuery::default()
        };
        match s.stores().audit.search(&q).await {
            Ok(page) => {
                if let Some(r) = page.records.into_iter().next() {
                    return json(&r.event.detail);
                }
            }
            Err(e) => return Refused::from(Refusal::from_admin_store(e)).into_response(),
        }
    }
    let refusal = if s.decisions().enabled() || audited {
        Refusal::new(codes::DECISION_NOT_FOUND)
    } else {
        Refusal::with(
            codes::DECISION_NOT_FOUND,
            "The decision debugger is off (decisions_ring = 0)",
        )
    };
    Refused::from(refusal).into_response()
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRunRequest {
    /// The credential text a player would send.
    credential: String,
    /// Where the player sends it: `pallycon-customdata-v2` (default), `x-vudrm-token`, …
    header: Option<String>,
    /// The endpoint's DRM: `clearkey`, `widevine`, `playready`, `fairplay` (default:
    /// whatever the credential names).
    drm: Option<String>,
    /// A content id the request would name (`?cid=`).
    cid: Option<String>,
}

const ALL_DRMS: &[keyward_token::DrmType] = &keyward_token::DrmType::ALL;

/// `POST /v1/admin/explain` `{credential, header?, drm?, cid?}`: a dry run of a pasted
/// credential — the front door verifies it and the gatekeeper's checks that need only
/// the claim run; nothing is used up, nobody is called, no key is released. Answers
/// which rule would refuse it and why, or that it passes every check a dry run can make.
pub async fn dry_run(
    State(s): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let req: DryRunRequest = match body
        .map_err(|rej| super::body_error(&rej, codes::INVALID_BODY))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| {
                Refusal::with(
                    codes::INVALID_BODY,
                    format!("Invalid JSON body: {}", crate::json::serde_message(&e)),
                )
            })
        }) {
        Ok(r) => r,
        Err(r) => return Refused::from(r).into_response(),
    };
    let header = req
        .header
        .unwrap_or_else(|| "pallycon-customdata-v2".to_owned());
    let mut headers = axum::http::HeaderMap::new();
    let (Ok(name), Ok(value)) = (
        axum::http::HeaderName::from_bytes(header.as_bytes()),
        axum::http::HeaderValue::from_str(req.credential.trim()),
    ) else {
        return Refused::from(Refusal::with(
            codes::INVALID_INPUT,
            "header must be a header name and credential printable text",
        ))
        .into_response();
    };
    headers.insert(name, value);
    let drms: &[keyward_token::DrmType] = match req.drm.as_deref() {
        None => ALL_DRMS,
        Some("clearkey") => &[keyward_token::DrmType::ClearKey],
        Some("widevine") => &[keyward_token::DrmType::Widevine],
        Some("playready") => &[keyward_token::DrmType::PlayReady],
        Some("fairplay") => &[keyward_token::DrmType::FairPlay],
        Some(_) => {
            return Refused::from(Refusal::with(
                codes::INVALID_INPUT,
                "drm must be clearkey, widevine, playready or fairplay",
            ))
            .into_response()
        }
    };
    let cred = match super::credential::credential(&headers, None, true) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Refused::from(Refusal::with(
                codes::INVALID_INPUT,
                "no credential in that header: use pallycon-customdata-v2, pallycon-customdata, x-vudrm-token or authorization (Bearer)",
            ))
            .into_response()
        }
        Err(r) => return Refused::from(r).into_response(),
    };
    let expect = crate::frontdoor::Expect {
        drms,
        cid: req.cid.as_deref(),
        site: None,
    };
    let (door, raw) = crate::frontdoor::door(&cred);
    let verdict = match door.verify(&s, raw, &expect).await {
        Err(d) => serde_json::json!({
            "verdict": "refused",
            "refused_at": "front_door",
            "code": d.refusal.code.wire,
            "message": crate::json::bounded(&d.refusal.message, 300),
            "checks": [],
        }),
        Ok(mut claim) => {
            let (checks, r) = crate::gatekeeper::dry_run(&mut claim, &expect);
            let facts = crate::decisions::Facts::of(&claim.entitlement);
            match r {
                Err(r) => serde_json::json!({
                    "verdict": "refused",
                    "refused_at": "gatekeeper",
                    "code": r.code.wire,
                    "message": crate::json::bounded(&r.message, 300),
                    "credential": facts,
                    "checks": checks,
                }),
                Ok(()) => serde_json::json!({
                    "verdict": "passes_dry_run",
                    "note": "the credential verifies and passes every check a dry run can make; the checks marked not_run depend on the player or on state, and the back door (keys, upstreams) was not run",
                    "credential": facts,
                    "checks": checks,
                }),
            }
        }
    };
    json(&verdict)
}
