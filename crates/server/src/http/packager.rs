//! Key-server endpoints for packagers: extract → `keyserver` → answer, each in
//! its protocol's own dialect.
//!
//! | route | protocol | answers |
//! |---|---|---|
//! | `POST /cenc/getcontentkey/{signer}`, `POST /v1/packager/widevine/{signer}` | Widevine key API | HTTP 200, `{"response": b64(JSON)}` with `status` |
//! | `POST /v1/packager/playready` | PlayReady `AcquirePackagingData` | SOAP; faults with 4xx (the request) or 5xx (keyward) |
//!
//! CPIX and SPEKE routes are in [`super::cpix`].

use std::time::Instant;

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
pub fn request_id(headers: &HeaderMap) -> Option<String> {
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

/// One audit row of kind `packager_keys` (every key-server request: CPIX and SPEKE too).
pub async fn audit(
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
    let started = Instant::now();
    let rid = request_id(&headers);
    let (answer, site, result) = match widevine_keys(&state, signer, body, rid.clone()).await {
        Ok((answer, site)) => (answer, Some(site), "OK"),
        Err((e, site)) => {
            tracing::info!(
                request_id = rid.as_deref().unwrap_or("-"),
                code = e.code(),
                reason = e.reason,
                "widevine key api refused"
            );
            (wv::refusal(&e), site, e.code())
        }
    };
    if let Some(m) = state.metrics() {
        let site = site.as_ref().map_or("", keyward_store::SiteId::as_str);
        m.packager("widevine-key-api", site, result, started.elapsed());
    }
    widevine_answer(answer)
}

type KeyApiResult =
    Result<(Vec<u8>, keyward_store::SiteId), (KeyApiError, Option<keyward_store::SiteId>)>;

/// The key API's work: the answer and the signer's site, or the refusal (with
/// the site once the signer is known).
async fn widevine_keys(
    state: &AppState,
    signer: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    rid: Option<String>,
) -> KeyApiResult {
    let early = |e: KeyApiError| (e, None);
    let Ok(Path(signer)) = signer else {
        return Err(early(KeyApiError::new(
            Status::MalformedRequest,
            "the URL does not name a signer",
        )));
    };
    let Ok(body) = body else {
        return Err(early(KeyApiError::new(
            Status::MalformedRequest,
            "request body unreadable or larger than 64 KiB",
        )));
    };
    let env = Envelope::parse(&body).map_err(early)?;
    if env.signer != signer {
        return Err(early(KeyApiError::new(
            Status::SignatureFailed,
            "the request's signer is not the one the URL names",
        )));
    }
    let unknown = KeyApiError::new(Status::SignatureFailed, "unknown signer or wrong signature");
    let packager = match state.stores().packagers.packager(&env.signer).await {
        Ok(p) => p,
        Err(StoreError::PackagerNotFound) => return Err(early(unknown)),
        Err(e) => {
            tracing::error!(
                code = e.code(),
                detail = e.detail().unwrap_or("-"),
                "packager look-up failed"
            );
            return Err(early(KeyApiError::new(
                Status::InternalError,
                "storage unavailable",
            )));
        }
    };
    let PackagerSecret::Widevine { aes_key, aes_iv } = &packager.secret else {
        return Err(early(unknown));
    };
    if env.verify(aes_key, aes_iv).is_err() {
        return Err(early(unknown));
    }
    // Authenticated from here: refusals count against the signer's site.
    let site = packager.site_id.clone();
    let refuse = |e: KeyApiError| (e, Some(site.clone()));
    let request = env.key_request().map_err(refuse)?;
    let Some(cid) = content_id(&request.content_id) else {
        return Err(refuse(KeyApiError::new(
            Status::MalformedRequest,
            "content_id must be 1 to 256 bytes of UTF-8 text without control characters",
        )));
    };
    if !packager.allows_cid(&cid) {
        audit(
            state,
            Some(&site),
            Some(&cid),
            "packager_forbidden",
            rid.clone(),
            serde_json::json!({"protocol": "widevine-key-api", "packager": packager.name}),
        )
        .await;
        return Err(refuse(KeyApiError::new(
            Status::AccessDenied,
            "this signer may not ask for keys of this content id",
        )));
    }
    let seed = keyserver::seed(state, &site).await.map_err(|_| {
        refuse(KeyApiError::new(
            Status::InternalError,
            "storage unavailable",
        ))
    })?;
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
            let rec = keyserver::key_for(state, &site, seed.as_ref(), &slot, &via)
                .await
                .map_err(|r| {
                    tracing::error!(code = r.code.wire, "key server could not make a key");
                    refuse(KeyApiError::new(
                        Status::InternalError,
                        "could not store a key",
                    ))
                })?;
            keys.push(TrackKey {
                track_type: *track,
                kid: rec.kid,
                key: rec.key.clone(),
                iv: rec.iv,
                period: *period,
            });
        }
    }
    let signalling = wv::Signalling {
        provider: packager.name.clone(),
        playready_la_url: Some(format!(
            "{}/ri/licenseManager.do",
            state.config().public_base()
        )),
    };
    let answer = wv::answer(&request, &keys, &signalling).map_err(refuse)?;
    audit(
        state,
        Some(&site),
        Some(&cid),
        "ok",
        rid,
        serde_json::json!({"protocol": "widevine-key-api", "packager": packager.name, "keys": keys.len()}),
    )
    .await;
    Ok((answer, site))
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
    let started = Instant::now();
    let (resp, site, result) = match playready_key(&state, &headers, &uri, body).await {
        Ok((xml, site)) => (soap(StatusCode::OK, xml), Some(site), "ok"),
        Err((resp, site, code)) => (resp, site, code),
    };
    if let Some(m) = state.metrics() {
        let site = site.as_ref().map_or("", keyward_store::SiteId::as_str);
        m.packager("playready-packaging", site, result, started.elapsed());
    }
    resp
}

type PackagingResult = Result<
    (String, keyward_store::SiteId),
    (Response, Option<keyward_store::SiteId>, &'static str),
>;

/// The packaging method's work: the SOAP answer and the credential's site, or the
/// fault (with the site once the credential is known) and its code.
async fn playready_key(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> PackagingResult {
    let rid = request_id(headers);
    let packager = keyserver::authenticate(state, presented(headers, uri))
        .await
        .map_err(|r| (soap_refusal(&r), None, r.code.wire))?;
    let site = packager.site_id.clone();
    let client_fault = |e: PackagingError| {
        (
            soap(StatusCode::BAD_REQUEST, pr::fault(&e)),
            Some(site.clone()),
            e.code(),
        )
    };
    let refused = |r: Refusal| (soap_refusal(&r), Some(site.clone()), r.code.wire);
    let body = body.map_err(|_| {
        client_fault(PackagingError::client(
            "request body unreadable or larger than 64 KiB",
        ))
    })?;
    let request = PackagingRequest::parse(&body).map_err(client_fault)?;
    let cid = request.program_identifier.clone();
    if let Err(r) = keyserver::check_scope(&packager, &cid) {
        audit(
            state,
            Some(&site),
            Some(&cid),
            r.code.wire,
            rid,
            serde_json::json!({"protocol": "playready-packaging", "packager": packager.name}),
        )
        .await;
        return Err(refused(r));
    }
    let seed = keyserver::seed(state, &site).await.map_err(refused)?;
    let slot = Slot {
        cid: cid.clone(),
        track: TrackType::All,
        period: None,
        pinned_kid: None,
        iv: None,
    };
    let via = format!("playready-packaging {}", packager.name);
    let rec = keyserver::key_for(state, &site, seed.as_ref(), &slot, &via)
        .await
        .map_err(refused)?;
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
    let pro = header.to_pro().map_err(|_| {
        let e = PackagingError::server("could not build the PlayReady header");
        (
            soap(StatusCode::INTERNAL_SERVER_ERROR, pr::fault(&e)),
            Some(site.clone()),
            e.code(),
        )
    })?;
    audit(
        state,
        Some(&site),
        Some(&cid),
        "ok",
        rid,
        serde_json::json!({"protocol": "playready-packaging", "packager": packager.name, "keys": 1}),
    )
    .await;
    Ok((pr::answer(&request, &rec.kid, &rec.key, &pro), site))
}
