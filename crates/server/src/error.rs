//! The one place where library errors become HTTP answers.
//!
//! Every refusal carries a stable code (the vendor's number where one exists)
//! and is answered in the dialect of the front door the request came through:
//! * PallyCon-compatible paths: HTTP 200 with `{"errorCode":"7019","message":"…"}`
//!   as the vendor does (a site setting switches to real statuses);
//! * native paths: RFC 7807 `application/problem+json` with `code` and
//!   `request_id`, and a real status.
//!
//! Internal errors never show their text to clients; they are logged with the
//! request id.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_drm::DrmError;
use keyward_store::StoreError;
use keyward_token::{AuthDataError, CustomDataError, VerifyError};

use crate::json::JsonOut;

/// How a refusal is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// PallyCon: `{"errorCode","message"}`; `http_status` false = always 200.
    PallyCon {
        /// Answer with the real status instead of 200.
        http_status: bool,
    },
    /// RFC 7807 problem+json.
    Native,
    /// ExpressPlay: negative codes; `text/html` (default) or `application/json`
    /// (`errorFormat=json`), with the real status.
    ExpressPlay {
        /// `errorFormat=json`.
        json: bool,
    },
}

/// A coded refusal.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Stable code: a vendor number (`"7019"`) or a keyword (`"admin_disabled"`).
    pub code: String,
    /// The status for native answers.
    pub status: StatusCode,
    /// A message safe to show the client.
    pub message: String,
    /// Extra detail for the log only.
    pub log_detail: Option<String>,
}

impl ApiError {
    /// A refusal with a code, status and client-safe message.
    pub fn new(code: impl ToString, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            status,
            message: message.into(),
            log_detail: None,
        }
    }

    /// An internal failure: generic message to the client, detail to the log.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            code: "2001".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "Internal storage error; the request id identifies it in the server log"
                .into(),
            log_detail: Some(detail.into()),
        }
    }

    /// Adds log-only detail.
    pub fn with_log(mut self, detail: impl Into<String>) -> Self {
        self.log_detail = Some(detail.into());
        self
    }

    /// Writes the refusal in a dialect.
    pub fn render(&self, dialect: Dialect, request_id: &str) -> Response {
        if let Some(d) = &self.log_detail {
            tracing::error!(request_id, code = %self.code, detail = %d, "internal error");
        } else {
            tracing::info!(request_id, code = %self.code, status = self.status.as_u16(), message = %self.message, "refused");
        }
        match dialect {
            Dialect::PallyCon { http_status } => {
                let mut j = JsonOut::object();
                j.str("errorCode", &self.code);
                j.str("message", &self.message);
                let status = if http_status {
                    self.status
                } else {
                    StatusCode::OK
                };
                let mut r = (status, j.finish()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r.headers_mut()
                    .insert("x-keyward-error-code", header_value(&self.code));
                r
            }
            Dialect::ExpressPlay { json } => {
                crate::frontdoor::expressplay::render_error(self, json, request_id)
            }
            Dialect::Native => {
                let mut j = JsonOut::object();
                j.str("type", &format!("https://keyward.dev/errors/{}", self.code));
                j.str("title", self.status.canonical_reason().unwrap_or("Error"));
                j.int("status", i64::from(self.status.as_u16()));
                j.str("detail", &self.message);
                j.str("code", &self.code);
                j.str("request_id", request_id);
                let mut r = (self.status, j.finish()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                r.headers_mut()
                    .insert("x-keyward-error-code", header_value(&self.code));
                r
            }
        }
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// keyward's own codes where the vendor defines none (75xx: gateway policy).
pub mod codes {
    /// `persistent-license` asked but the policy is not persistent.
    pub const PERSISTENT_NOT_ALLOWED: &str = "7501";
    /// A requested key's track type is not permitted by `allowed_track_types`.
    pub const TRACK_NOT_ALLOWED: &str = "7502";
    /// The request's Origin is not in the site's CORS list.
    pub const ORIGIN_NOT_ALLOWED: &str = "7503";
    /// Request body larger than the limit.
    pub const BODY_TOO_LARGE: &str = "7505";
    /// Too many requests in flight.
    pub const OVERLOADED: &str = "7506";
    /// The request took longer than the timeout.
    pub const TIMEOUT: &str = "7507";
    /// Request headers larger than the limit.
    pub const HEADERS_TOO_LARGE: &str = "7508";
    /// A header that must be text is not.
    pub const BAD_HEADER: &str = "7509";
    /// The licence expired per the policy's `expire_date`.
    pub const LICENSE_EXPIRED: &str = "7510";
    /// No route.
    pub const NOT_FOUND: &str = "not_found";
    /// The route exists but not for this method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        let status = match e {
            VerifyError::Parse(_) | VerifyError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            VerifyError::DrmType(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(e.code(), status, e.to_string())
    }
}

impl From<AuthDataError> for ApiError {
    fn from(e: AuthDataError) -> Self {
        let status = match e {
            AuthDataError::Decrypt(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(e.code(), status, e.to_string())
    }
}

impl From<CustomDataError> for ApiError {
    fn from(e: CustomDataError) -> Self {
        match e {
            CustomDataError::Token(e) => e.into(),
            CustomDataError::AuthData(e) => e.into(),
            other => ApiError::new(other.code(), StatusCode::BAD_REQUEST, other.to_string()),
        }
    }
}

impl From<DrmError> for ApiError {
    fn from(e: DrmError) -> Self {
        let status = if e.code() == 7406 {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(e.code(), status, e.to_string())
    }
}

impl From<keyward_store::ParseError> for ApiError {
    /// A value that does not parse, answered as the store has always answered it.
    fn from(e: keyward_store::ParseError) -> Self {
        StoreError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.code() {
            "site_not_found" => ApiError::new("1003", StatusCode::NOT_FOUND, "Site ID not found"),
            "key_not_found" => {
                ApiError::new("7001", StatusCode::NOT_FOUND, "No key for this content")
            }
            "site_exists" | "key_conflict" => {
                ApiError::new(e.code(), StatusCode::CONFLICT, e.to_string())
            }
            _ if e.is_invalid_input() => {
                ApiError::new(e.code(), StatusCode::BAD_REQUEST, e.to_string())
            }
            "store_locked" => ApiError::new(
                e.code(),
                StatusCode::SERVICE_UNAVAILABLE,
                "Single-use tokens are decided by another keyward process on this database",
            ),
            _ => ApiError::internal(format!("{e} ({})", e.detail().unwrap_or("-"))),
        }
    }
}
