//! Extraction at the edge: the credential, the client and the query
//! parameters a licence request carries, turned into the pipeline's
//! HTTP-free types.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::codes;
use crate::frontdoor::{Credential, CUSTOMDATA_V1, CUSTOMDATA_V2, VUDRM_TOKEN};
use crate::gatekeeper::ClientInfo;
use crate::refusal::Refusal;

/// The socket peer, when the server was started with connect info (tests
/// driving the router with `oneshot` may insert `ConnectInfo` themselves).
#[derive(Clone, Copy, Debug, Default)]
pub struct PeerAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// What the gatekeeper needs of the client: the peer, `X-Forwarded-For`
/// (believed only from trusted proxies) and `Origin`.
pub fn client_info(peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        peer,
        forwarded_for: headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect(),
        origin: headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned),
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            Refusal::with(
                codes::BAD_HEADER,
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
) -> Result<Option<Credential>, Refusal> {
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
