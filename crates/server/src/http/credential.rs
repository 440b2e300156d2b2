//! Extraction at the edge: the credential, the client and the query
//! parameters a licence request carries, turned into the pipeline's
//! HTTP-free types.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName};

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

/// The one non-empty value of a header: `None` if absent or blank, an error
/// if it is not text or is given more than once.
fn one_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    place: &'static str,
) -> Result<Option<&'h str>, Refusal> {
    let mut found = None;
    for v in headers.get_all(name) {
        let text = v.to_str().map_err(|_| {
            Refusal::with(
                codes::BAD_HEADER,
                format!("The {name} header is not printable ASCII text"),
            )
        })?;
        if text.trim().is_empty() {
            continue;
        }
        if found.is_some() {
            return Err(ambiguous(format!("{place} is given more than once")));
        }
        found = Some(text);
    }
    Ok(found)
}

/// The one non-empty value of a query parameter (decoded).
fn one_query(
    query: Option<&str>,
    name: &str,
    place: &'static str,
) -> Result<Option<String>, Refusal> {
    let Some(q) = query else {
        return Ok(None);
    };
    let mut found = None;
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if k != name || v.trim().is_empty() {
            continue;
        }
        if found.is_some() {
            return Err(ambiguous(format!("{place} is given more than once")));
        }
        found = Some(v.into_owned());
    }
    Ok(found)
}

fn ambiguous(why: String) -> Refusal {
    Refusal::with(
        codes::CREDENTIAL_AMBIGUOUS,
        format!("The request carries more than one credential: {why}"),
    )
}

/// A query parameter's decoded value (the first, if repeated).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

static VUDRM: HeaderName = HeaderName::from_static(VUDRM_TOKEN);
static CD_V2: HeaderName = HeaderName::from_static(CUSTOMDATA_V2);
static CD_V1: HeaderName = HeaderName::from_static(CUSTOMDATA_V1);

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
    let mut first: Option<(&'static str, Credential)> = None;
    let mut offer = |place: &'static str, c: Credential| -> Result<(), Refusal> {
        match &first {
            None => first = Some((place, c)),
            Some((p, f)) if *f != c => {
                return Err(ambiguous(format!("{p} and {place} differ")));
            }
            Some(_) => {}
        }
        Ok(())
    };
    if let Some(v) = one_header(headers, &VUDRM, "the x-vudrm-token header")? {
        offer(
            "the x-vudrm-token header",
            Credential::Studio(v.trim().to_owned()),
        )?;
    }
    if let Some(v) = one_header(headers, &CD_V2, "the pallycon-customdata-v2 header")? {
        offer(
            "the pallycon-customdata-v2 header",
            Credential::CustomDataV2(v.to_owned()),
        )?;
    }
    let place = "the pallycon-customdata-v2 query parameter";
    if let Some(v) = one_query(query, CUSTOMDATA_V2, place)? {
        offer(place, Credential::CustomDataV2(v))?;
    }
    if bearer {
        let place = "Authorization: Bearer";
        if let Some(v) = one_header(headers, &header::AUTHORIZATION, place)? {
            let v = v.trim();
            if let Some(t) = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                let c = if keyward_token::studio::looks_like_studio_token(t) {
                    Credential::Studio(t.to_owned())
                } else {
                    Credential::CustomDataV2(t.to_owned())
                };
                offer(place, c)?;
            }
        }
    }
    if let Some(v) = one_header(headers, &CD_V1, "the pallycon-customdata header")? {
        offer(
            "the pallycon-customdata header",
            Credential::CustomDataV1(v.to_owned()),
        )?;
    }
    let place = "the token query parameter";
    if let Some(v) = one_query(query, "token", place)? {
        offer(place, Credential::Studio(v.trim().to_owned()))?;
    }
    Ok(first.map(|(_, c)| c))
}
