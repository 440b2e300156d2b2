//! Key-server endpoints for packagers: extract → `keyserver` → answer, each in
//! its protocol's own dialect.
//!
//! | route | protocol | answers |
//! |---|---|---|
//! | `POST /cenc/getcontentkey/{signer}`, `POST /v1/packager/widevine/{signer}` | Widevine key API | HTTP 200, `{"response": b64(JSON)}` with `status` |
//! | `POST /v1/packager/playready` | PlayReady `AcquirePackagingData` | SOAP; faults with 4xx (the request) or 5xx (keyward) |
//!
//! CPIX and SPEKE routes are in [`super::cpix`].

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyward_drm::packaging::playready::{self as pr, PackagingError, PackagingRequest};
use keyward_drm::packaging::widevine::{self as wv, Envelope, KeyApiError, Status, TrackKey};
use keyward_drm::playready::{HeaderKey, PlayReadyHeader, WrmHeaderVersion};
use keyward_store::{AuditEvent, PackagerSecret, StoreError, TrackType};

use super::credential::query_param;
use crate::keyserver::{self, Presented, Slot};
use crate::refusal::Refusal;
use crate::state::AppState;

/// Request id of the request (set by the edge), for audit rows.
fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The API key a request presents, in any of the accepted places.
pub fn presented(headers: &HeaderMap, uri: &Uri) -> Option<Presented> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return Presented::from_authorization(auth);
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Presented::from_api_key(key);
    }
    if let Some(token) = query_param(uri.query(), "enc-token") {
        return Presented::from_enc_token(&token);
    }
    query_param(uri.query(), "api_key").and_then(|k| Presented::from_api_key(&k))
}

/// A content id from a packager: text keyward's content ids allow.
fn content_id(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    keyward_store::keys::validate_cid(text).ok()?;
    Some(text.to_owned())
}

async fn audit(
    state: &AppState,
    site: Option<&keyward_store::SiteId>,
    cid: Option<&str>,
    result: &str,
    request_id: Option<String>,
    detail: serde_json::Value,
) {
    let mut e = AuditEvent::new("packager_keys", result);
    e.site_id = site.cloned();
    e.cid = cid.map(str::to_owned);
    e.request_id = request_id;
    e.detail = detail;
    state.audit().record(e).await;
}

fn widevine_answer(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `POST /cenc/getcontentkey/{signer}` (and `/v1/packager/widevine/{signer}`):
/// the Widevine key API.
pub async fn widevine(
    State(state): State<AppState>,
    signer: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id(&headers);
    let refuse = |e: KeyApiError| {
        tracing::info!(
            request_id = rid.as_deref().unwrap_or("-"),
            code = e.code(),
            reason = e.reason,
            "widevine key api refused"
        );
        widevine_answer(wv::refusal(&e))
    };
    let Ok(Path(signer)) = signer else {
        return refuse(KeyApiError::new(
            Status::MalformedRequest,
            "the URL does not name a signer",
        ));
    };
    let Ok(body) = body else {
        return refuse(KeyApiError::new(
            Status::MalformedRequest,
            "request body unreadable or larger than 64 KiB",
        ));
    };
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return refuse(e),
    };
    if env.signer != signer {
        return refuse(KeyApiError::new(
            Status::SignatureFailed,
            "the request's signer is not the one the URL names",
        ));
    }
    let unknown = KeyApiError::new(Status::SignatureFailed, "unknown signer or wrong signature");
    let packager = match state.stores().packagers.packager(&env.signer).await {
        Ok(p) => p,
        Err(StoreError::PackagerNotFound) => return refuse(unknown),
        Err(e) => {
            tracing::error!(
                code = e.code(),
                detail = e.detail().unwrap_or("-"),
                "packager look-up failed"
            );
            return refuse(KeyApiError::new(
                Status::InternalError,
                "storage unavailable",
            ));
        }
    };
    let PackagerSecret::Widevine { aes_key, aes_iv } = &packager.secret else {
        return refuse(unknown);
    };
    if env.verify(aes_key, aes_iv).is_err() {
        return refuse(unknown);
    }
    let request = match env.key_request() {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    let Some(cid) = content_id(&request.content_id) else {
        return refuse(KeyApiError::new(
            Status::MalformedRequest,
            "content_id must be 1 to 256 bytes of UTF-8 text without control characters",
        ));
    };
    if !packager.allows_cid(&cid) {
        audit(
            &state,
            Some(&packager.site_id),
            Some(&cid),
            "packager_forbidden",
            rid.clone(),
            serde_json::json!({"protocol": "widevine-key-api", "packager": packager.name}),
        )
        .await;
        return refuse(KeyApiError::new(
            Status::AccessDenied,
            "this signer may not ask for keys of this content id",
        ));
    }
    let seed = match keyserver::seed(&state, &packager.site_id).await {
        Ok(s) => s,
        Err(_) => {
            return refuse(KeyApiError::new(
                Status::InternalError,
                "storage unavailable",
            ))
        }
    };
    let periods: Vec<Option<u32>> = match request.rotation {
        Some(r) => r.periods().map(Some).collect(),
        None => vec![None],
    };
    let via = format!("widevine-key-api {}", packager.name);
    let mut keys = Vec::with_capacity(periods.len() * request.tracks.len());
    for period in &periods {
        for track in &request.tracks {
            let slot = Slot {
                cid: cid.clone(),
                track: *track,
                period: period.map(u64::from),
                pinned_kid: None,
                iv: None,
            };
            match keyserver::key_for(&state, &packager.site_id, seed.as_ref(), &slot, &via).await {
                Ok(rec) => keys.push(TrackKey {
                    track_type: *track,
                    kid: rec.kid,
                    key: rec.key.clone(),
                    iv: rec.iv,
                    period: *period,
                }),
                Err(r) => {
                    tracing::error!(code = r.code.wire, "key server could not make a key");
                    return refuse(KeyApiError::new(
                        Status::InternalError,
                        "could not store a key",
                    ));
                }
            }
        }
    }
    let signalling = wv::Signalling {
        provider: packager.name.clone(),
        playready_la_url: Some(format!(
            "{}/ri/licenseManager.do",
            state.config().public_base()
        )),
    };
    match wv::answer(&request, &keys, &signalling) {
        Ok(body) => {
            audit(&state, Some(&packager.site_id), Some(&cid), "ok", rid,
                serde_json::json!({"protocol": "widevine-key-api", "packager": packager.name, "keys": keys.len()})).await;
            widevine_answer(body)
        }
        Err(e) => refuse(e),
    }
}

fn soap(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn soap_refusal(r: &Refusal) -> Response {
    let status = crate::render::status(r.class);
    let client = status.is_client_error();
    // The fault string is the registered message of the code: static text.
    let reason: &'static str = r.code.message;
    let fault = if client {
        PackagingError::client(reason)
    } else {
        PackagingError::server(reason)
    };
    soap(status, pr::fault(&fault))
}

/// `POST /v1/packager/playready`: PlayReady `AcquirePackagingData`.
pub async fn playready(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id(&headers);
    let packager = match keyserver::authenticate(&state, presented(&headers, &uri)).await {
        Ok(p) => p,
        Err(r) => return soap_refusal(&r),
    };
    let Ok(body) = body else {
        return soap(
            StatusCode::BAD_REQUEST,
            pr::fault(&PackagingError::client(
                "request body unreadable or larger than 64 KiB",
            )),
        );
    };
    let request = match PackagingRequest::parse(&body) {
        Ok(r) => r,
        Err(e) => return soap(StatusCode::BAD_REQUEST, pr::fault(&e)),
    };
    let cid = request.program_identifier.clone();
    if let Err(r) = keyserver::check_scope(&packager, &cid) {
        audit(
            &state,
            Some(&packager.site_id),
            Some(&cid),
            r.code.wire,
            rid,
            serde_json::json!({"protocol": "playready-packaging", "packager": packager.name}),
        )
        .await;
        return soap_refusal(&r);
    }
    let seed = match keyserver::seed(&state, &packager.site_id).await {
        Ok(s) => s,
        Err(r) => return soap_refusal(&r),
    };
    let slot = Slot {
        cid: cid.clone(),
        track: TrackType::All,
        period: None,
        pinned_kid: None,
        iv: None,
    };
    let via = format!("playready-packaging {}", packager.name);
    let rec = match keyserver::key_for(&state, &packager.site_id, seed.as_ref(), &slot, &via).await
    {
        Ok(r) => r,
        Err(r) => return soap_refusal(&r),
    };
    let version = match query_param(uri.query(), "header_version").as_deref() {
        Some("4.3") => WrmHeaderVersion::V4_3,
        _ => WrmHeaderVersion::V4_0,
    };
    let header = PlayReadyHeader {
        version,
        keys: vec![HeaderKey::aes_ctr(rec.kid, &rec.key)],
        la_url: Some(format!(
            "{}/ri/licenseManager.do",
            state.config().public_base()
        )),
        custom_attributes: Vec::new(),
    };
    let pro = match header.to_pro() {
        Ok(p) => p,
        Err(_) => {
            return soap(
                StatusCode::INTERNAL_SERVER_ERROR,
                pr::fault(&PackagingError::server(
                    "could not build the PlayReady header",
                )),
            )
        }
    };
    audit(&state, Some(&packager.site_id), Some(&cid), "ok", rid,
        serde_json::json!({"protocol": "playready-packaging", "packager": packager.name, "keys": 1})).await;
    soap(
        StatusCode::OK,
        pr::answer(&request, &rec.kid, &rec.key, &pro),
    )
}
