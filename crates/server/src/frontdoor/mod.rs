//! Front doors: incoming credentials → a verified [`Entitlement`] or a coded
//! refusal. They never talk to a DRM.

pub mod callback;
pub mod pallycon;

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
                    return Ok(Some(Credential::CustomDataV2(t.trim().to_owned())));
                }
            }
        }
    }
    if let Some(v) = header_text(headers, CUSTOMDATA_V1)? {
        if !v.trim().is_empty() {
            return Ok(Some(Credential::CustomDataV1(v.to_owned())));
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
