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

/// Every value of a header, as text (a repeated header gives several).
fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> Result<Vec<&'h str>, Refusal> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str().map_err(|_| {
                Refusal::with(
                    codes::BAD_HEADER,
                    format!("The {name} header is not printable ASCII text"),
                )
            })
        })
        .collect()
}

/// A query parameter's decoded value (the first, if repeated).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn query_values(query: Option<&str>, name: &str) -> Vec<String> {
    query.map_or_else(Vec::new, |q| {
        form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect()
    })
}

/// Finds the credential: `x-vudrm-token`, then `pallycon-customdata-v2`
/// (header, then query parameter), then (native paths) `Authorization:
/// Bearer`, then the legacy `pallycon-customdata` header, then `?token=`.
///
/// A request must carry one credential: a repeated credential header, or two
/// places carrying different values, is refused (7511) rather than letting the
/// first one win. The same value in a header and the query is one credential.
pub fn credential(
    headers: &HeaderMap,
    query: Option<&str>,
    bearer: bool,
) -> Result<Option<Credential>, Refusal> {
    let mut found: Vec<(&'static str, Credential)> = Vec::new();
    let ambiguous = |why: String| Err(Refusal::with(codes::CREDENTIAL_AMBIGUOUS, why));
    let mut take = |place: &'static str, values: Vec<String>, make: fn(String) -> Credential| {
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| !v.trim().is_empty())
            .collect();
        if values.len() > 1 {
            return Err(format!("{place} is given {} times", values.len()));
        }
        if let Some(v) = values.into_iter().next() {
            found.push((place, make(v)));
        }
        Ok(())
    };
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let trimmed = |v: Vec<&str>| {
        v.into_iter()
            .map(|s| s.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let mut steps: Vec<Result<(), String>> = Vec::new();
    steps.push(take(
        "the x-vudrm-token header",
        trimmed(header_values(headers, VUDRM_TOKEN)?),
        Credential::Studio,
    ));
    steps.push(take(
        "the pallycon-customdata-v2 header",
        owned(header_values(headers, CUSTOMDATA_V2)?),
        Credential::CustomDataV2,
    ));
    steps.push(take(
        "the pallycon-customdata-v2 query parameter",
        query_values(query, CUSTOMDATA_V2),
        Credential::CustomDataV2,
    ));
    if bearer {
        let bearers: Vec<String> = header_values(headers, "authorization")?
            .into_iter()
            .filter_map(|v| {
                let v = v.trim();
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
                    .map(|t| t.trim().to_owned())
            })
            .collect();
        steps.push(take("Authorization: Bearer", bearers, |t| {
            if keyward_token::studio::looks_like_studio_token(&t) {
                Credential::Studio(t)
            } else {
                Credential::CustomDataV2(t)
            }
        }));
    }
    steps.push(take(
        "the pallycon-customdata header",
        owned(header_values(headers, CUSTOMDATA_V1)?),
        Credential::CustomDataV1,
    ));
    steps.push(take(
        "the token query parameter",
        trimmed(
            query_values(query, "token")
                .iter()
                .map(String::as_str)
                .collect(),
        ),
        Credential::Studio,
    ));
    if let Some(Err(why)) = steps.into_iter().find(Result::is_err) {
        return ambiguous(format!(
            "The request carries more than one credential: {why}"
        ));
    }
    let mut found = found.into_iter();
    let Some((first_place, first)) = found.next() else {
        return Ok(None);
    };
    if let Some((place, _)) = found.find(|(_, c)| *c != first) {
        return ambiguous(format!(
            "The request carries more than one credential: {first_place} and {place} differ"
        ));
    }
    Ok(Some(first))
}
