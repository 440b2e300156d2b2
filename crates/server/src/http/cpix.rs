//! CPIX and SPEKE endpoints: a packager posts a CPIX document asking for keys and DRM
//! signalling, keyward answers the completed document (clear, or encrypted for the
//! request's recipients).
//!
//! | route | dialect | kids |
//! |---|---|---|
//! | `POST /v1/packager/cpix` | CPIX 2.x | the packager's (`?kids=keyward` for keyward's own) |
//! | `POST /v1/packager/speke` | SPEKE v2 with `X-Speke-Version: 2.0`, SPEKE v1 otherwise | the packager's |
//! | `GET /v1/packager/speke/heartbeat` | SPEKE v1 heartbeat | — |
//! | `POST /v1/cpix/pallycon/getKey/{enc-token}`, `/v2/…`, `/cpix/pallycon/getKey/{enc-token}` | PallyCon KMS CPIX | keyward's |
//! | `POST /cpix/getKey?enc-token=` | PallyCon KMS SPEKE | keyward's |
//!
//! Refusals are problem+json (any JSON body is an error, as PallyCon's CPIX clients
//! expect); SPEKE answers carry `Speke-User-Agent`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyward_drm::cpix::{self, CpixError, Delivery, FairPlayUri, Request, ResolvedKey, Signalling};
use keyward_drm::playready::WrmHeaderVersion;
use keyward_store::{Packager, TrackType};

use super::credential::query_param;
use super::packager::{audit, presented, request_id};
use crate::codes;
use crate::keyserver::{self, Presented, Slot};
use crate::refusal::Refusal;
use crate::render::Refused;
use crate::state::AppState;

/// `Speke-User-Agent`: who answered.
const SPEKE_USER_AGENT: &str = concat!("keyward/", env!("CARGO_PKG_VERSION"));

/// Who chooses the kids of new keys.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kids {
    /// The packager's kids are kept (pinned keys).
    Packager,
    /// keyward chooses (keys at their coordinates).
    Keyward,
}

/// A CPIX library failure as a refusal with its registered code.
fn cpix_refusal(e: &CpixError) -> Refusal {
    let code = codes::cpix(e.code());
    if e.is_client_error() {
        Refusal::with(code, e.to_string())
    } else {
        Refusal::new(code).log(e.to_string())
    }
}

/// Answers one CPIX request for an authenticated packager.
async fn answer(
    state: &AppState,
    packager: &Packager,
    body: &[u8],
    speke_v2: bool,
    kids: Kids,
    version: WrmHeaderVersion,
    rid: Option<String>,
) -> Result<Vec<u8>, Refusal> {
    let request = Request::parse(body).map_err(|e| cpix_refusal(&e))?;
    if speke_v2 {
        request.check_speke_v2().map_err(|e| cpix_refusal(&e))?;
    }
    let cid = request
        .content_id_or_id()
        .filter(|c| keyward_store::keys::validate_cid(c).is_ok())
        .ok_or_else(|| {
            Refusal::with(
                codes::CPIX_MALFORMED,
                "The CPIX document names no content id: set CPIX@contentId or CPIX@id \
                 (1 to 256 bytes, no control characters)",
            )
        })?
        .to_owned();
    keyserver::check_scope(packager, &cid)?;
    // Every recipient is checked before a key is made: a request keyward cannot
    // answer leaves nothing behind.
    for r in &request.delivery {
        cpix::check_recipient_certificate(&r.certificate_der).map_err(|e| cpix_refusal(&e))?;
    }
    let seed = keyserver::seed(state, &packager.site_id).await?;
    let via = format!("cpix {}", packager.name);
    let slots = request.key_slots();
    if kids == Kids::Keyward {
        // keyward keeps one key per (track type, period): two content keys asking for
        // the same one cannot both be answered.
        let mut seen = std::collections::BTreeSet::new();
        for s in &slots {
            if !seen.insert((s.track_type.unwrap_or(TrackType::All), s.period_index)) {
                return Err(Refusal::with(
                    codes::CPIX_DUPLICATE_KID,
                    "Two content keys ask for the same track type and key period; keyward \
                     chooses one key per track type and period here: give them distinct \
                     intendedTrackType values, or let the packager choose the kids \
                     (/v1/packager/cpix)",
                ));
            }
        }
    }
    let mut resolved = Vec::with_capacity(slots.len());
    for s in &slots {
        // A nil kid is a placeholder: keyward chooses.
        let pinned_kid =
            (kids == Kids::Packager && s.requested_kid.0 != [0u8; 16]).then_some(s.requested_kid);
        let slot = Slot {
            cid: cid.clone(),
            track: s.track_type.unwrap_or(TrackType::All),
            period: s.period_index,
            pinned_kid,
            iv: s.explicit_iv,
        };
        let rec = keyserver::key_for(state, &packager.site_id, seed.as_ref(), &slot, &via).await?;
        resolved.push(ResolvedKey {
            requested_kid: s.requested_kid,
            kid: rec.kid,
            key: rec.key.clone(),
            iv: rec.iv.or(s.explicit_iv),
        });
    }
    let base = state.config().public_base();
    let signalling = Signalling {
        playready_la_url: Some(format!("{base}/ri/licenseManager.do")),
        playready_header_version: version,
        widevine_provider: packager.name.clone(),
        fairplay_uri: FairPlayUri::SkdKid,
        hls_aes_key_uri: Some(format!(
            "{base}/v1/hls-key/{}/{{content_id}}",
            packager.site_id.as_str()
        )),
        clearkey_la_url: Some(format!("{base}/ri/clearkey/licenseManager.do")),
    };
    let xml = cpix::respond(
        &request,
        &resolved,
        &signalling,
        Delivery::requested_by(&request),
    )
    .map_err(|e| cpix_refusal(&e))?;
    audit(
        state,
        Some(&packager.site_id),
        Some(&cid),
        "ok",
        rid,
        serde_json::json!({
            "protocol": if speke_v2 { "speke-v2" } else { "cpix" },
            "packager": packager.name,
            "keys": resolved.len(),
            "encrypted": !request.delivery.is_empty(),
        }),
    )
    .await;
    Ok(xml)
}

/// Adds `Speke-User-Agent`: every SPEKE answer names its key provider.
fn speke_agent(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "speke-user-agent",
        HeaderValue::from_static(SPEKE_USER_AGENT),
    );
    resp
}

/// The HTTP answer of a CPIX or SPEKE request: the completed document, or the
/// refusal (problem+json); `speke` adds `Speke-User-Agent` to either.
fn reply(result: Result<Vec<u8>, Refusal>, speke: bool) -> Response {
    let resp = match result {
        Ok(xml) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            xml,
        )
            .into_response(),
        Err(r) => Refused::from(r).into_response(),
    };
    if speke {
        speke_agent(resp)
    } else {
        resp
    }
}

fn header_version(uri: &Uri) -> WrmHeaderVersion {
    match query_param(uri.query(), "playready_header").as_deref() {
        Some("4.3") => WrmHeaderVersion::V4_3,
        _ => WrmHeaderVersion::V4_0,
    }
}

/// Authenticates, answers, and counts the request under `protocol` in the metrics.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per route, each spelled out"
)]
async fn serve_cpix(
    state: &AppState,
    protocol: &'static str,
    who: Option<Presented>,
    body: Result<Bytes, BytesRejection>,
    speke_v2: bool,
    kids: Kids,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Vec<u8>, Refusal> {
    let started = std::time::Instant::now();
    let mut site = None;
    let result = async {
        let packager = keyserver::authenticate(state, who).await?;
        site = Some(packager.site_id.clone());
        let body = body.map_err(|rej| super::body_error(&rej, codes::CPIX_MALFORMED))?;
        answer(
            state,
            &packager,
            &body,
            speke_v2,
            kids,
            header_version(uri),
            request_id(headers),
        )
        .await
    }
    .await;
    if let Some(m) = state.metrics() {
        let code = match &result {
            Ok(_) => "ok",
            Err(r) => r.code.wire,
        };
        let site = site.as_ref().map_or("", keyward_store::SiteId::as_str);
        m.packager(protocol, site, code, started.elapsed());
    }
    result
}

/// `POST /v1/packager/cpix[?kids=keyward][&playready_header=4.3]`.
pub async fn cpix(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let kids = match query_param(uri.query(), "kids").as_deref() {
        Some("keyward") => Kids::Keyward,
        _ => Kids::Packager,
    };
    reply(
        serve_cpix(
            &state,
            "cpix",
            presented(&headers, &uri),
            body,
            false,
            kids,
            &uri,
            &headers,
        )
        .await,
        false,
    )
}

/// `POST /v1/packager/speke`: SPEKE v2 when `X-Speke-Version` is 2.x, v1 otherwise.
pub async fn speke(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let v2 = match headers.get("x-speke-version").map(HeaderValue::to_str) {
        None => false,
        Some(Ok(v)) if v.trim().starts_with("2.") => true,
        Some(Ok(v)) if v.trim().starts_with("1.") => false,
        Some(_) => {
            return reply(
                Err(Refusal::with(
                    codes::CPIX_SPEKE_CONTRACT,
                    "X-Speke-Version must be 1.0 or 2.0",
                )),
                true,
            )
        }
    };
    reply(
        serve_cpix(
            &state,
            "speke",
            presented(&headers, &uri),
            body,
            v2,
            Kids::Packager,
            &uri,
            &headers,
        )
        .await,
        true,
    )
}

/// `GET /v1/packager/speke/heartbeat`: SPEKE v1's liveness check.
pub async fn speke_heartbeat() -> Response {
    speke_agent((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "OK").into_response())
}

/// `POST /v1/cpix/pallycon/getKey/{enc-token}` (and `/v2/…`, `/cpix/pallycon/…`): the
/// PallyCon KMS CPIX dialect — keyward chooses the kids.
pub async fn pallycon_cpix(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let who = token.ok().and_then(|Path(t)| Presented::from_enc_token(&t));
    reply(
        serve_cpix(
            &state,
            "pallycon-kms",
            who,
            body,
            false,
            Kids::Keyward,
            &uri,
            &headers,
        )
        .await,
        false,
    )
}

/// `POST /cpix/getKey?enc-token=`: the PallyCon KMS SPEKE URL (SPEKE v2 when the
/// request says so) — keyward chooses the kids.
pub async fn pallycon_speke(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let v2 = headers
        .get("x-speke-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("2."));
    let who = query_param(uri.query(), "enc-token").and_then(|t| Presented::from_enc_token(&t));
    reply(
        serve_cpix(
            &state,
            "pallycon-kms",
            who,
            body,
            v2,
            Kids::Keyward,
            &uri,
            &headers,
        )
        .await,
        true,
    )
}
