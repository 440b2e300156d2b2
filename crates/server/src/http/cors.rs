//! CORS for the paths players call from browsers: the PallyCon and native
//! licence paths and ExpressPlay's rights paths (not its token API, which is
//! server to server). Answered by the edge's outermost middleware from static
//! header values: a per-route CORS layer was cloned, with its header lists,
//! on every request.
//!
//! Any origin may ask (the origin is mirrored); a site with a CORS list is
//! checked by the gatekeeper (7503). Preflights (`OPTIONS`) are answered here
//! without reaching a handler.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};

/// One path family's CORS answer.
pub struct Policy {
    allow_headers: HeaderValue,
}

static LICENCE: Policy = Policy {
    allow_headers: HeaderValue::from_static(
        "content-type,authorization,range,pallycon-customdata-v2,pallycon-customdata,x-vudrm-token,x-request-id",
    ),
};

static RIGHTS: Policy = Policy {
    allow_headers: HeaderValue::from_static("content-type,range,x-request-id"),
};

static METHODS: HeaderValue = HeaderValue::from_static("GET,POST,OPTIONS");
static EXPOSE: HeaderValue = HeaderValue::from_static("x-request-id,x-keyward-error-code");
static MAX_AGE: HeaderValue = HeaderValue::from_static("600");
static VARY: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);

/// The CORS policy of a path, if browsers may call it.
pub fn policy_for(path: &str) -> Option<&'static Policy> {
    if path.starts_with("/ri/")
        || path.starts_with("/v1/license/")
        || path.starts_with("/v1/hls-key/")
    {
        Some(&LICENCE)
    } else if path.starts_with("/hms/") && !path.ends_with("/token") {
        Some(&RIGHTS)
    } else {
        None
    }
}

/// Whether a request is a preflight.
pub fn is_preflight(method: &Method) -> bool {
    method == Method::OPTIONS
}

/// The answer to a preflight.
pub fn preflight(p: &Policy, origin: Option<&HeaderValue>) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        p.allow_headers.clone(),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE.clone());
    h.append(header::VARY, VARY.clone());
    r
}

/// Adds the CORS headers to an answer (the origin is mirrored when the
/// request named one).
pub fn decorate(r: &mut Response<Body>, origin: Option<&HeaderValue>) {
    let h = r.headers_mut();
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE.clone());
    h.append(header::VARY, VARY.clone());
}
