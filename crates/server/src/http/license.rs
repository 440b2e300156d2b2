//! Licence endpoints: the PallyCon-compatible paths (drop-in for existing
//! players) and the native `/v1/…` paths. Handlers stay thin: find the
//! credential → verify (front door) → one back-door call → answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyward_drm::playready::PlayReadyChallenge;
use keyward_token::{DrmType, TrackType};

use super::{path_error, request_id};
use crate::backdoor::brokered::{self, WidevineAnswer};
use crate::backdoor::{clearkey, hls};
use crate::error::{codes, ApiError, Dialect};
use crate::frontdoor::pallycon::Expect;
use crate::frontdoor::{self, Credential};
use crate::gatekeeper::PeerAddr;
use crate::state::{AppState, SiteEntry};

type Refusal = (ApiError, Option<Arc<SiteEntry>>);

fn render(dialect_native: bool, r: Result<Response, Refusal>, headers: &HeaderMap) -> Response {
    match r {
        Ok(resp) => resp,
        Err((e, site)) => {
            let dialect = if dialect_native {
                Dialect::Native
            } else {
                let http_status = site.as_ref().is_some_and(|s| {
                    s.settings.error_style == keyward_store::ErrorStyle::HttpStatus
                });
                Dialect::PallyCon { http_status }
            };
            e.render(dialect, &request_id(headers))
        }
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            (
                ApiError::new(
                    codes::BODY_TOO_LARGE,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body is larger than the limit",
                ),
                None,
            )
        } else {
            (
                ApiError::new(
                    "9001",
                    StatusCode::BAD_REQUEST,
                    "Request body could not be read",
                ),
                None,
            )
        }
    })
}

/// A site with a CORS list refuses requests from other origins.
fn check_origin(site: &Arc<SiteEntry>, headers: &HeaderMap) -> Result<(), Refusal> {
    let list = &site.settings.cors_origins;
    if list.is_empty() {
        return Ok(());
    }
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(o) if !list.iter().any(|a| a == o || a == "*") => Err((
            ApiError::new(
                codes::ORIGIN_NOT_ALLOWED,
                StatusCode::FORBIDDEN,
                format!("Origin {o} is not allowed for this site"),
            ),
            Some(site.clone()),
        )),
        _ => Ok(()),
    }
}

async fn entitle(
    state: &AppState,
    cred: Option<Credential>,
    expect: Expect<'_>,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Result<(crate::entitlement::Entitlement, Arc<SiteEntry>), Refusal> {
    let cred = cred.ok_or_else(|| (frontdoor::missing(), None))?;
    let (ent, site) = frontdoor::verify(state, &cred, expect, peer, headers).await?;
    check_origin(&site, headers)?;
    tracing::info!(site = %ent.site_id, cid = %ent.cid, drm = %ent.drm, user = %ent.user_id, "entitled");
    Ok((ent, site))
}

fn json(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn octets(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body,
    )
        .into_response()
}

/// Studio entitlements: every licence outcome goes to the audit trail (stats).
async fn record_outcome(
    state: &AppState,
    ent: &crate::entitlement::Entitlement,
    result: std::borrow::Cow<'static, str>,
    headers: &HeaderMap,
) {
    if ent.studio.is_some() {
        frontdoor::studio::record(state, ent, &result, &request_id(headers)).await;
    }
}

/// The audit result of a licence outcome: `ok` or the refusal's code.
fn outcome<T>(out: &Result<T, ApiError>) -> std::borrow::Cow<'static, str> {
    match out {
        Ok(_) => "ok".into(),
        Err(e) => e.code.clone().into(),
    }
}

const CLEARKEY: &[DrmType] = &[DrmType::ClearKey];
const HLS_DRMS: &[DrmType] = &[DrmType::ClearKey, DrmType::Ncg];

/// `POST /ri/licenseManager.do`: the DRM is the token's `drm_type`.
pub async fn ri_license(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let body = body_bytes(body)?;
        let mut cred =
            frontdoor::credential(&headers, uri.query(), false).map_err(|e| (e, None))?;
        // PlayReady players may carry the token only in the challenge's
        // <CustomData> (pallycon.md §6.2), also on this generic URL.
        if cred.is_none() {
            if let Ok(c) = PlayReadyChallenge::parse(&body) {
                cred = c.custom_data.map(Credential::CustomDataV2);
            }
        }
        let all = &[
            DrmType::Widevine,
            DrmType::PlayReady,
            DrmType::FairPlay,
            DrmType::ClearKey,
            DrmType::Ncg,
            DrmType::Wiseplay,
        ];
        let (ent, site) = entitle(
            &state,
            cred,
            Expect {
                drms: all,
                cid: None,
                site: None,
            },
            &headers,
            peer,
        )
        .await?;
        answer_for(&state, &ent, &site, &body)
            .await
            .map_err(|e| (e, Some(site.clone())))
    }
    .await;
    render(false, r, &headers)
}

async fn answer_for(
    state: &AppState,
    ent: &crate::entitlement::Entitlement,
    site: &Arc<SiteEntry>,
    body: &[u8],
) -> Result<Response, ApiError> {
    match ent.drm {
        DrmType::ClearKey => Ok(json(clearkey::license(state, ent, body).await?)),
        DrmType::Widevine => match brokered::widevine(site, body)? {
            WidevineAnswer::ServiceCertificate(c) => Ok(octets(c)),
        },
        DrmType::PlayReady => {
            PlayReadyChallenge::parse(body)?;
            Err(brokered::playready())
        }
        DrmType::FairPlay => Err(brokered::fairplay(body)),
        DrmType::Ncg => Err(brokered::no_upstream("9999", "NCG")),
        _ => Err(brokered::no_upstream("9999", "WisePlay")),
    }
}

/// `POST /ri/playready/licenseManager.do`: the token may also sit in the
/// challenge's `<CustomData>`.
pub async fn ri_playready(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let body = body_bytes(body)?;
        let challenge = PlayReadyChallenge::parse(&body).map_err(|e| (e.into(), None))?;
        let cred =
            match frontdoor::credential(&headers, uri.query(), false).map_err(|e| (e, None))? {
                Some(c) => c,
                None => Credential::CustomDataV2(
                    challenge
                        .require_custom_data()
                        .map_err(|e| (e.into(), None))?
                        .to_owned(),
                ),
            };
        let (_ent, site) = entitle(
            &state,
            Some(cred),
            Expect {
                drms: &[DrmType::PlayReady],
                cid: None,
                site: None,
            },
            &headers,
            peer,
        )
        .await?;
        Err::<Response, _>((brokered::playready(), Some(site)))
    }
    .await;
    render(false, r, &headers)
}

/// `GET|POST /ri/clearkey/licenseManager.do`: POST with the CDM message, or GET
/// `?siteId=&cid=` for every key the policy releases.
pub async fn ri_clearkey(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let body = body_bytes(body)?;
        let cred = frontdoor::credential(&headers, uri.query(), false).map_err(|e| (e, None))?;
        let cid = frontdoor::query_param(uri.query(), "cid");
        let site_q = frontdoor::query_param(uri.query(), "siteId");
        let expect = Expect {
            drms: CLEARKEY,
            cid: cid.as_deref(),
            site: site_q.as_deref(),
        };
        let (ent, site) = entitle(&state, cred, expect, &headers, peer).await?;
        let out = if method == Method::GET && body.is_empty() {
            clearkey::all_keys(&state, &ent).await
        } else {
            clearkey::license(&state, &ent, &body).await
        };
        record_outcome(&state, &ent, outcome(&out), &headers).await;
        out.map(json).map_err(|e| (e, Some(site)))
    }
    .await;
    render(false, r, &headers)
}

/// `POST /v1/license/{drm}`: native path, problem+json refusals.
pub async fn v1_license(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    drm: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let Path(drm) = drm.map_err(|e| (path_error(&e), None))?;
        let drm_type = match drm.as_str() {
            "clearkey" => DrmType::ClearKey,
            "widevine" => DrmType::Widevine,
            "playready" => DrmType::PlayReady,
            "fairplay" => DrmType::FairPlay,
            _ => {
                return Err((
                    ApiError::new(
                        codes::NOT_FOUND,
                        StatusCode::NOT_FOUND,
                        "Unknown DRM: use clearkey, widevine, playready or fairplay",
                    ),
                    None,
                ))
            }
        };
        let body = body_bytes(body)?;
        let mut cred = frontdoor::credential(&headers, uri.query(), true).map_err(|e| (e, None))?;
        if cred.is_none() && drm_type == DrmType::PlayReady {
            if let Ok(c) = PlayReadyChallenge::parse(&body) {
                cred = c.custom_data.map(Credential::CustomDataV2);
            }
        }
        let (ent, site) = entitle(
            &state,
            cred,
            Expect {
                drms: &[drm_type],
                cid: None,
                site: None,
            },
            &headers,
            peer,
        )
        .await?;
        let out = answer_for(&state, &ent, &site, &body).await;
        record_outcome(&state, &ent, outcome(&out), &headers).await;
        out.map_err(|e| (e, Some(site)))
    }
    .await;
    render(true, r, &headers)
}

/// `GET /v1/hls-key/{site}/{cid}`: the 16-byte identity key.
pub async fn v1_hls_key(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match path {
        Ok(Path((site, cid))) => hls_key_inner(state, site, cid, None, uri, headers, peer).await,
        Err(e) => path_error(&e).render(Dialect::Native, &request_id(&headers)),
    }
}

/// `GET /v1/hls-key/{site}/{cid}/{track}`: the key of one track type.
pub async fn v1_hls_key_track(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match path {
        Ok(Path((site, cid, track))) => {
            hls_key_inner(state, site, cid, Some(track), uri, headers, peer).await
        }
        Err(e) => path_error(&e).render(Dialect::Native, &request_id(&headers)),
    }
}

async fn hls_key_inner(
    state: AppState,
    site: String,
    cid: String,
    track: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Response {
    let r = async {
        let track = match track {
            None => None,
            Some(t) => Some(TrackType::parse(&t.to_ascii_uppercase()).map_err(|_| {
                (
                    ApiError::new(
                        "1013",
                        StatusCode::BAD_REQUEST,
                        "Track type must be one of ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2",
                    ),
                    None,
                )
            })?),
        };
        let cred = frontdoor::credential(&headers, uri.query(), true).map_err(|e| (e, None))?;
        let expect = Expect {
            drms: HLS_DRMS,
            cid: Some(&cid),
            site: Some(&site),
        };
        let (ent, site) = entitle(&state, cred, expect, &headers, peer).await?;
        let key = hls::key(&state, &ent, track).await;
        record_outcome(&state, &ent, outcome(&key), &headers).await;
        let key = key.map_err(|e| (e, Some(site)))?;
        Ok(octets(key.to_vec()))
    }
    .await;
    render(true, r, &headers)
}
