//! Licence endpoints: the PallyCon-compatible paths (drop-in for existing
//! players) and the native `/v1/…` paths. Each handler is extract →
//! [`pipeline::licence`] → answer; refusals are rendered by the route group's
//! dialect layer.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use keyward_drm::fairplay::CkcFormat;
use keyward_drm::playready::PlayReadyChallenge;
use keyward_token::{DrmType, TrackType};

use super::credential::{client_info, credential, query_param, PeerAddr};
use super::{body_error, path_error};
use crate::backdoor::{Challenge, Licence};
use crate::codes;
use crate::frontdoor::{Credential, Denied, Expect};
use crate::pipeline::{self, LicenceRequest};
use crate::refusal::Refusal;
use crate::render::{Hints, Refused};
use crate::state::AppState;

type Answer = Result<Response, Refused>;

const ALL_DRMS: &[DrmType] = &[
    DrmType::Widevine,
    DrmType::PlayReady,
    DrmType::FairPlay,
    DrmType::ClearKey,
    DrmType::Ncg,
    DrmType::Wiseplay,
];
const CLEARKEY: &[DrmType] = &[DrmType::ClearKey];
const PLAYREADY: &[DrmType] = &[DrmType::PlayReady];
const HLS_DRMS: &[DrmType] = &[DrmType::ClearKey, DrmType::Ncg];

/// A refusal with the site's error style (PallyCon paths answer 200 unless the
/// site asks for real statuses).
pub fn refused(d: Denied) -> Refused {
    let http_status = d
        .site
        .as_ref()
        .is_some_and(|s| s.settings.error_style == keyward_store::ErrorStyle::HttpStatus);
    Refused::hinted(
        d.refusal,
        Hints {
            http_status,
            json: false,
        },
    )
}

/// A licence as the HTTP answer.
pub fn licence_response(l: Licence) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(l.content_type),
        )],
        l.body,
    )
        .into_response()
}

/// The `ckc_format` query parameter (FairPlay answers).
pub fn ckc_format(query: Option<&str>) -> Result<CkcFormat, Refusal> {
    match query_param(query, "ckc_format") {
        None => Ok(CkcFormat::Auto),
        Some(v) => CkcFormat::parse(&v).ok_or_else(|| {
            Refusal::with(
                codes::BAD_REQUEST,
                "ckc_format must be auto, raw, base64, xml or json",
            )
        }),
    }
}

async fn run(
    state: &AppState,
    credential: Option<Credential>,
    expect: Expect<'_>,
    challenge: Challenge<'_>,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Answer {
    let ckc_format = ckc_format(query)?;
    // Device info from the PallyCon/DoveRunner client SDKs, passed to
    // upstreams that take it: printable, at most 4 KiB, else ignored.
    let client_meta = headers
        .get("pallycon-client-meta")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 4096 && !v.is_empty());
    let client = client_info(peer, headers);
    let rid = headers
        .get(super::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let req = LicenceRequest {
        credential,
        expect,
        challenge,
        client: &client,
        request_id: rid,
        ckc_format,
        client_meta,
        trace: crate::otlp::parent_of(headers),
    };
    pipeline::licence(state, req)
        .await
        .map(licence_response)
        .map_err(refused)
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    b.map_err(|r| body_error(&r, codes::BAD_REQUEST))
}

/// `POST /ri/licenseManager.do`: the DRM is the token's `drm_type`.
pub async fn ri_license(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    uri: Uri,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let b = body(b)?;
    let mut cred = credential(&headers, uri.query(), false)?;
    // PlayReady players may carry the token only in the challenge's
    // <CustomData> (pallycon.md §6.2), also on this generic URL.
    if cred.is_none() {
        if let Ok(c) = PlayReadyChallenge::parse(&b) {
            cred = c.custom_data.map(Credential::CustomDataV2);
        }
    }
    let expect = Expect {
        drms: ALL_DRMS,
        cid: None,
        site: None,
    };
    run(
        &state,
        cred,
        expect,
        Challenge::Message(&b),
        peer,
        &headers,
        uri.query(),
    )
    .await
}

/// `POST /ri/playready/licenseManager.do`: the token may also sit in the
/// challenge's `<CustomData>`.
pub async fn ri_playready(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    uri: Uri,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let b = body(b)?;
    let challenge = PlayReadyChallenge::parse(&b).map_err(Refusal::from)?;
    let cred = match credential(&headers, uri.query(), false)? {
        Some(c) => c,
        None => Credential::CustomDataV2(
            challenge
                .require_custom_data()
                .map_err(Refusal::from)?
                .to_owned(),
        ),
    };
    let expect = Expect {
        drms: PLAYREADY,
        cid: None,
        site: None,
    };
    run(
        &state,
        Some(cred),
        expect,
        Challenge::Message(&b),
        peer,
        &headers,
        uri.query(),
    )
    .await
}

/// `GET|POST /ri/clearkey/licenseManager.do`: POST with the CDM message, or GET
/// `?siteId=&cid=` for every key the policy releases.
pub async fn ri_clearkey(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let b = body(b)?;
    let cred = credential(&headers, uri.query(), false)?;
    let cid = query_param(uri.query(), "cid");
    let site = query_param(uri.query(), "siteId");
    let expect = Expect {
        drms: CLEARKEY,
        cid: cid.as_deref(),
        site: site.as_deref(),
    };
    let challenge = if method == Method::GET && b.is_empty() {
        Challenge::AllKeys
    } else {
        Challenge::Message(&b)
    };
    run(&state, cred, expect, challenge, peer, &headers, uri.query()).await
}

/// `POST /v1/license/{drm}[?cid=]`: native path.
pub async fn v1_license(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    drm: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let Path(drm) = drm.map_err(|e| path_error(&e))?;
    let drm_type: &'static [DrmType] = match drm.as_str() {
        "clearkey" => CLEARKEY,
        "widevine" => &[DrmType::Widevine],
        "playready" => PLAYREADY,
        "fairplay" => &[DrmType::FairPlay],
        _ => {
            return Err(Refusal::with(
                codes::NOT_FOUND,
                "Unknown DRM: use clearkey, widevine, playready or fairplay",
            )
            .into())
        }
    };
    let b = body(b)?;
    let mut cred = credential(&headers, uri.query(), true)?;
    if cred.is_none() && drm_type == PLAYREADY {
        if let Ok(c) = PlayReadyChallenge::parse(&b) {
            cred = c.custom_data.map(Credential::CustomDataV2);
        }
    }
    // A content id in the query is checked against the credential's, as on
    // the PallyCon ClearKey path.
    let cid = query_param(uri.query(), "cid");
    let expect = Expect {
        drms: drm_type,
        cid: cid.as_deref(),
        site: None,
    };
    run(
        &state,
        cred,
        expect,
        Challenge::Message(&b),
        peer,
        &headers,
        uri.query(),
    )
    .await
}

/// `GET /v1/hls-key/{site}/{cid}`: the 16-byte identity key.
pub async fn v1_hls_key(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let Path((site, cid)) = path.map_err(|e| path_error(&e))?;
    hls_key(state, site, cid, None, uri, headers, peer).await
}

/// `GET /v1/hls-key/{site}/{cid}/{track}`: the key of one track type.
pub async fn v1_hls_key_track(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let Path((site, cid, track)) = path.map_err(|e| path_error(&e))?;
    hls_key(state, site, cid, Some(track), uri, headers, peer).await
}

async fn hls_key(
    state: AppState,
    site: String,
    cid: String,
    track: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Answer {
    let track = match track {
        None => None,
        Some(t) => Some(
            TrackType::parse(&t.to_ascii_uppercase())
                .map_err(|_| Refusal::new(codes::TRACK_TYPE_INVALID))?,
        ),
    };
    let cred = credential(&headers, uri.query(), true)?;
    let expect = Expect {
        drms: HLS_DRMS,
        cid: Some(&cid),
        site: Some(&site),
    };
    run(
        &state,
        cred,
        expect,
        Challenge::HlsKey(track),
        peer,
        &headers,
        uri.query(),
    )
    .await
}
