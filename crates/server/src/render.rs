//! The one rendering module: a [`Refusal`] becomes an HTTP answer here, in the
//! dialect of the route group it came through.
//!
//! * PallyCon-compatible paths: HTTP 200 with `{"errorCode":"7019","message":"…"}`
//!   as the vendor does (the site's `error_style` switches to real statuses);
//! * native paths: RFC 7807 `application/problem+json` with `code` and
//!   `request_id`, and a real status (or, for a refusal that carries one, an
//!   upstream's own answer relayed: a PlayReady SOAP fault);
//! * ExpressPlay paths: negative codes, `text/html` (default) or
//!   `application/json` (`errorFormat=json`), with the real status;
//! * the Studio token API: problem+json as native, plus `field` for
//!   validation refusals.
//!
//! Handlers return [`Refused`] (a refusal plus the hints only the request
//! knows: the site's error style, the ExpressPlay error format); the edge's
//! outermost middleware writes it with [`finish`], in the dialect
//! [`dialect_for`] gives the route group. Internal details
//! never reach the client; they are logged with the request id.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::json::JsonOut;
use crate::refusal::{Class, Refusal};

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id set by the middleware (or sent by the client).
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// How a route group writes refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// PallyCon `{"errorCode","message"}`.
    PallyCon,
    /// RFC 7807 problem+json.
    Native,
    /// ExpressPlay html or json with negative codes.
    ExpressPlay,
    /// Studio token API: problem+json with `field`.
    Studio,
}

/// What only the request knows about how to write its refusal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hints {
    /// PallyCon: the site answers refusals with real statuses.
    pub http_status: bool,
    /// ExpressPlay: `errorFormat=json`.
    pub json: bool,
}

/// A refusal on its way out: the handler's error type.
#[derive(Clone, Debug)]
pub struct Refused {
    /// The refusal.
    pub refusal: Refusal,
    /// Dialect hints.
    pub hints: Hints,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            hints: Hints::default(),
        }
    }
}

impl Refused {
    /// With hints.
    pub fn hinted(refusal: Refusal, hints: Hints) -> Self {
        Self { refusal, hints }
    }
}

impl IntoResponse for Refused {
    /// Carried to [`finish`] in an extension.
    fn into_response(self) -> Response {
        let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The HTTP status of a class.
pub fn status(class: Class) -> StatusCode {
    StatusCode::from_u16(class.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The dialect of a route group, by its path prefix: the one table of which
/// paths speak which dialect (the limits refusals use it too).
pub fn dialect_for(path: &str) -> Dialect {
    if path.starts_with("/ri/") {
        Dialect::PallyCon
    } else if path.starts_with("/hms/") {
        Dialect::ExpressPlay
    } else if path.starts_with("/v2/cpix/") {
        // PallyCon's KMS v2 CPIX path: the key server's native answers.
        Dialect::Native
    } else if path.starts_with("/v2/") || path.starts_with("/v1/admin/clients") {
        Dialect::Studio
    } else {
        Dialect::Native
    }
}

/// Writes the [`Refused`] a handler answered with, if any, in `dialect`;
/// other answers pass unchanged. Headers that layers inside (CORS) put on the
/// handler's answer are kept.
pub fn finish(mut resp: Response, dialect: Dialect, request_id: Option<&HeaderValue>) -> Response {
    let Some(r) = resp.extensions_mut().remove::<Refused>() else {
        return resp;
    };
    let rid = request_id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    let mut out = write(&r.refusal, dialect, r.hints, rid);
    let (parts, _) = resp.into_parts();
    for (name, value) in parts.headers.iter() {
        if !out.headers().contains_key(name) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// Writes a refusal in a dialect, and logs it.
pub fn write(r: &Refusal, dialect: Dialect, hints: Hints, request_id: &str) -> Response {
    let status = status(r.class);
    if let Some(d) = &r.log_detail {
        tracing::error!(request_id, code = r.code.wire, detail = %d, "internal error");
    } else {
        tracing::info!(request_id, code = r.code.wire, status = status.as_u16(), message = %r.message, "refused");
    }
    let code = r.code.wire;
    if let (Dialect::Native, Some(relayed)) = (dialect, &r.relay) {
        // An upstream's own refusal (a PlayReady SOAP fault), for the player's
        // DRM stack to read; the code is in the header.
        let mut resp = (
            StatusCode::from_u16(relayed.status).unwrap_or(status),
            relayed.body.clone(),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(relayed.content_type),
        );
        if let Ok(v) = HeaderValue::from_str(code) {
            h.insert("x-keyward-error-code", v);
        }
        return resp;
    }
    match dialect {
        Dialect::PallyCon => {
            let mut j = JsonOut::object();
            j.str("errorCode", code);
            j.str("message", &r.message);
            let status = if hints.http_status {
                status
            } else {
                StatusCode::OK
            };
            answer(status, j.finish(), "application/json", code)
        }
        Dialect::ExpressPlay => expressplay(r, status, hints.json, request_id),
        Dialect::Studio if r.field.is_some() => {
            // Same members as every native refusal, plus `field`.
            let body = serde_json::json!({
                "type": format!("https://keyward.dev/errors/{code}"),
                "title": status.canonical_reason().unwrap_or("Error"),
                "status": status.as_u16(),
                "detail": r.message,
                "code": code,
                "field": r.field,
                "request_id": request_id,
            });
            answer(status, body.to_string(), "application/problem+json", code)
        }
        Dialect::Native | Dialect::Studio => {
            let mut j = JsonOut::object();
            j.str("type", &format!("https://keyward.dev/errors/{code}"));
            j.str("title", status.canonical_reason().unwrap_or("Error"));
            j.int("status", i64::from(status.as_u16()));
            j.str("detail", &r.message);
            j.str("code", code);
            j.str("request_id", request_id);
            answer(status, j.finish(), "application/problem+json", code)
        }
    }
}

fn answer(status: StatusCode, body: String, content_type: &'static str, code: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(code) {
        h.insert("x-keyward-error-code", v);
    }
    resp
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// ExpressPlay: `application/json`
/// `{"errorCode":-2018,"errorMessage":"…","requestId":"…"}` or a small
/// `text/html` page carrying the same code and message.
fn expressplay(r: &Refusal, status: StatusCode, json: bool, request_id: &str) -> Response {
    let code = r.code.wire;
    if json {
        let mut j = JsonOut::object();
        match r.code.number() {
            Some(n) => j.int("errorCode", n),
            None => j.str("errorCode", code),
        }
        j.str("errorMessage", &r.message);
        j.str("requestId", request_id);
        answer(status, j.finish(), "application/json", code)
    } else {
        let c = escape_html(code);
        let msg = escape_html(&r.message);
        let body = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Error {c}</title></head>\
             <body><h1>Error {c}</h1><p class=\"error-code\">{c}</p>\
             <p class=\"error-message\">{msg}</p><p class=\"request-id\">{rid}</p></body></html>\n",
            rid = escape_html(request_id)
        );
        answer(status, body, "text/html; charset=utf-8", code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;

    #[test]
    fn every_class_has_its_status() {
        for c in codes::ALL {
            let s = status(c.class);
            assert!(s.is_client_error() || s.is_server_error(), "{}", c.wire);
        }
    }
}
