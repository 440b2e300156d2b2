//! Front doors: incoming credentials → a verified [`Entitlement`] or a coded
//! refusal. They never talk to a DRM.

pub mod callback;
pub mod expressplay;
pub mod pallycon;
pub mod studio;

use axum::http::{HeaderMap, StatusCode};

use crate::error::{codes, ApiError};

/// The PallyCon header carrying a token or callback auth data.
pub const CUSTOMDATA_V2: &str = "pallycon-customdata-v2";
/// The legacy v1 auth-data header.
pub const CUSTOMDATA_V1: &str = "pallycon-customdata";

/// Where a credential came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `pallycon-customdata-v2` (header, query parameter or PlayReady CustomData).
    CustomDataV2(String),
    /// The legacy `pallycon-customdata` header.
    CustomDataV1(String),
    /// A Studio-DRM-style v2 token (`x-vudrm-token`, `?token=`, or a bearer
    /// with five `|`-separated parts).
    Studio(String),
}

/// The Studio token header.
pub const VUDRM_TOKEN: &str = "x-vudrm-token";

/// Verifies any credential: Studio tokens through their front door (which
/// needs the peer address and headers for geo rules), the rest through the
/// PallyCon one.
pub async fn verify(
    state: &crate::state::AppState,
    cred: &Credential,
    expect: pallycon::Expect<'_>,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
) -> Result<
    (
        crate::entitlement::Entitlement,
        std::sync::Arc<crate::state::SiteEntry>,
    ),
    (ApiError, Option<std::sync::Arc<crate::state::SiteEntry>>),
> {
    match cred {
        Credential::Studio(t) => studio::verify(state, t, expect, peer, headers).await,
        other => pallycon::verify(state, other, expect).await,
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            ApiError::new(
                codes::BAD_HEADER,
                StatusCode::BAD_REQUEST,
                format!("The {name} header is not printable ASCII text"),
            )
        }),
    }
}

/// A query parameter's decoded value.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Finds the credential: header, then query parameter, then (native paths)
/// `Authorization: Bearer`.
pub fn credential(
    headers: &HeaderMap,
    query: Option<&str>,
    bearer: bool,
) -> Result<Option<Credential>, ApiError> {
    if let Some(v) = header_text(headers, VUDRM_TOKEN)? {
        if !v.trim().is_empty() {
            return Ok(Some(Credential::Studio(v.trim().to_owned())));
        }
    }
    if let Some(v) = header_text(headers, CUSTOMDATA_V2)? {
        if !v.trim().is_empty() {
            return Ok(Some(Credential::CustomDataV2(v.to_owned())));
        }
    }
    if let Some(v) = query_param(query, CUSTOMDATA_V2) {
        if !v.trim().is_empty() {
            return Ok(Some(Credential::CustomDataV2(v)));
        }
    }
    if bearer {
        if let Some(v) = header_text(headers, "authorization")? {
            let v = v.trim();
            if let Some(t) = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
            {
                if !t.trim().is_empty() {
                    let t = t.trim().to_owned();
                    if keyward_token::studio::looks_like_studio_token(&t) {
                        return Ok(Some(Credential::Studio(t)));
                    }
                    return Ok(Some(Credential::CustomDataV2(t)));
                }
            }
        }
    }
    if let Some(v) = header_text(headers, CUSTOMDATA_V1)? {
        if !v.trim().is_empty() {
            return Ok(Some(Credential::CustomDataV1(v.to_owned())));
        }
    }
    if let Some(v) = query_param(query, "token") {
        if !v.trim().is_empty() {
            return Ok(Some(Credential::Studio(v.trim().to_owned())));
        }
    }
    Ok(None)
}

/// The refusal for a request that carries no credential at all (7010).
pub fn missing() -> ApiError {
    ApiError::new(
        "7010",
        StatusCode::UNAUTHORIZED,
        "Token data not found: send the license token in the pallycon-customdata-v2 header or query parameter",
    )
}
