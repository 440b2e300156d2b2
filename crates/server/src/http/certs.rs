//! Certificate endpoints (public material, looked up by site id).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::credential::query_param;
use crate::codes;
use crate::refusal::Refusal;
use crate::render::Refused;
use crate::state::AppState;

/// The site's FairPlay certificate: its newest credential's, else the one in
/// its settings (`fairplay_cert`).
async fn fairplay_cert(state: &AppState, site_id: &str) -> Result<Vec<u8>, Refusal> {
    let site = state.site(site_id).await?;
    let creds = state.fairplay().for_site(site_id).await?;
    if let Some(c) = creds.first() {
        return Ok(c.fps.certificate.der.clone());
    }
    site.settings.fairplay_cert.clone().ok_or_else(|| {
        Refusal::with(
            codes::FAIRPLAY_NO_CERT,
            "No FairPlay certificate is configured for this site",
        )
    })
}

async fn cert(state: &AppState, uri: &Uri, fairplay: bool) -> Result<Vec<u8>, Refusal> {
    let q = uri.query();
    let site_id = query_param(q, "siteId")
        .or_else(|| query_param(q, "siteid"))
        .ok_or_else(|| Refusal::with(codes::BAD_REQUEST, "Missing request parameter siteId"))?;
    if fairplay {
        return fairplay_cert(state, &site_id).await;
    }
    let site = state.site(&site_id).await?;
    let c = if fairplay {
        &site.settings.fairplay_cert
    } else {
        &site.settings.widevine_service_cert
    };
    c.clone().ok_or_else(|| {
        if fairplay {
            Refusal::with(
                codes::FAIRPLAY_NO_CERT,
                "No FairPlay certificate is configured for this site",
            )
        } else {
            Refusal::with(
                codes::WIDEVINE_NO_CERT,
                "No Widevine service certificate is configured for this site",
            )
        }
    })
}

/// A refusal for the PallyCon group's layer (always HTTP 200 there, as the
/// vendor answers certificate requests).
fn pallycon(e: Refusal, _headers: &HeaderMap) -> Response {
    Refused::from(e).into_response()
}

/// `GET /ri/fpsKeyManager.do?siteId=`: the FairPlay certificate, base64.
pub async fn fps_key_manager(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    match cert(&s, &uri, true).await {
        Ok(der) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            base64::engine::general_purpose::STANDARD.encode(der),
        )
            .into_response(),
        Err(e) => pallycon(e, &headers),
    }
}

/// `GET /ri/fpsCert.do?siteId=`: the FairPlay certificate, DER.
pub async fn fps_cert(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    match cert(&s, &uri, true).await {
        Ok(der) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-x509-ca-cert"),
            )],
            der,
        )
            .into_response(),
        Err(e) => pallycon(e, &headers),
    }
}

/// `GET /ri/widevineCert.do?siteId=`: the Widevine service certificate.
pub async fn widevine_cert(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    match cert(&s, &uri, false).await {
        Ok(c) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            c,
        )
            .into_response(),
        Err(e) => pallycon(e, &headers),
    }
}

/// `GET /v1/fairplay/cert/{site}`: the site's FairPlay certificate, DER (for
/// players' `serverCertificateUrl` / `certificateUri`).
pub async fn v1_fairplay_cert(
    State(s): State<AppState>,
    site: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, Refused> {
    let axum::extract::Path(site) = site.map_err(|e| super::path_error(&e))?;
    let der = fairplay_cert(&s, &site).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pkix-cert"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        der,
    )
        .into_response())
}
