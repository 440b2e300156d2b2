//! The router and its middleware: request ids, limits with coded answers,
//! CORS for licence paths, tracing.

pub mod admin;
pub mod certs;
pub mod demo;
pub mod expressplay;
pub mod license;
pub mod meta;
pub mod studio;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::error::{codes, ApiError, Dialect};
use crate::state::AppState;

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

fn dialect_for(path: &str) -> Dialect {
    if path.starts_with("/ri/") {
        Dialect::PallyCon { http_status: false }
    } else if path.starts_with("/hms/") {
        Dialect::ExpressPlay { json: false }
    } else {
        Dialect::Native
    }
}

#[derive(Clone)]
struct Guard {
    permits: Arc<Semaphore>,
    timeout: Duration,
    header_bytes: usize,
    body_bytes: usize,
}

/// The largest body any route reads: axum's default limit, which applies
/// where a route sets none (the admin API allows 1 MiB, licence paths
/// `limits.body_bytes`).
const LARGEST_BODY: usize = 2 * 1024 * 1024;

/// Header size, concurrency and timeout limits, each answered with a code.
async fn limits(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let dialect = dialect_for(req.uri().path());
    let rid = request_id(req.headers());
    // These refusals are written outside the CORS layer: a browser can read
    // their codes only if they carry the CORS headers themselves.
    let cors_origin = is_licence_path(req.uri().path())
        .then(|| req.headers().get(header::ORIGIN).cloned())
        .flatten();
    let refuse = |code: &str, status: StatusCode, msg: &str| -> Response {
        let mut r = ApiError::new(code, status, msg).render(dialect, &rid);
        if let Some(o) = &cors_origin {
            r.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            r.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-request-id,x-keyward-error-code"),
            );
        }
        r
    };
    let header_size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    // The listener counts the headers as the client sent them (the request
    // id is one more by now).
    let too_many = req
        .extensions()
        .get::<crate::listener::TooManyHeaders>()
        .is_some();
    if header_size > g.header_bytes || too_many {
        return refuse(
            codes::HEADERS_TOO_LARGE,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            if too_many {
                "More request headers than the limit"
            } else {
                "Request headers are larger than the limit"
            },
        );
    }
    // A declared length over the limit is refused before any of the body is
    // waited for (the limit itself is applied while the body is read).
    let body_limit = if is_licence_path(req.uri().path()) {
        g.body_bytes
    } else {
        g.body_bytes.max(LARGEST_BODY)
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(body_limit).unwrap_or(u64::MAX)) {
        return refuse(
            codes::BODY_TOO_LARGE,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is larger than the limit",
        );
    }
    if req
        .extensions()
        .get::<crate::listener::OverShare>()
        .is_some()
    {
        return refuse(
            codes::OVERLOADED,
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many requests in flight from this client address; retry shortly",
        );
    }
    let Ok(_permit) = g.permits.clone().try_acquire_owned() else {
        return refuse(
            codes::OVERLOADED,
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many requests in flight; retry shortly",
        );
    };
    match tokio::time::timeout(g.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => refuse(
            codes::TIMEOUT,
            StatusCode::SERVICE_UNAVAILABLE,
            "The request took longer than the timeout",
        ),
    }
}

fn is_licence_path(p: &str) -> bool {
    p.starts_with("/ri/")
        || p.starts_with("/v1/license/")
        || p.starts_with("/v1/hls-key/")
        || p.starts_with("/hms/")
}

async fn not_found(headers: HeaderMap, req: Request) -> Response {
    ApiError::new(
        codes::NOT_FOUND,
        StatusCode::NOT_FOUND,
        format!("No such endpoint: {}", req.uri().path()),
    )
    .render(Dialect::Native, &request_id(&headers))
}

async fn method_not_allowed(headers: HeaderMap, req: Request) -> Response {
    ApiError::new(
        codes::METHOD_NOT_ALLOWED,
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not served on {}", req.method(), req.uri().path()),
    )
    .render(Dialect::Native, &request_id(&headers))
}

/// A path parameter that is not valid percent-encoded UTF-8: a coded refusal
/// (9001) instead of axum's plain-text rejection.
pub fn path_error(rej: &PathRejection) -> ApiError {
    ApiError::new(
        "9001",
        StatusCode::BAD_REQUEST,
        format!("Bad path parameter: {}", rej.body_text()),
    )
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let limits_cfg = state.config().limits.clone();
    let guard = Guard {
        permits: Arc::new(Semaphore::new(limits_cfg.max_concurrency)),
        timeout: Duration::from_millis(limits_cfg.request_timeout_ms),
        header_bytes: limits_cfg.header_bytes,
        body_bytes: limits_cfg.body_bytes,
    };
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::RANGE,
            HeaderName::from_static("pallycon-customdata-v2"),
            HeaderName::from_static("pallycon-customdata"),
            HeaderName::from_static("x-vudrm-token"),
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID),
            HeaderName::from_static("x-keyward-error-code"),
        ])
        .max_age(Duration::from_secs(600));

    let licence = Router::new()
        .route("/ri/licenseManager.do", post(license::ri_license))
        .route(
            "/ri/playready/licenseManager.do",
            post(license::ri_playready),
        )
        .route(
            "/ri/clearkey/licenseManager.do",
            get(license::ri_clearkey).post(license::ri_clearkey),
        )
        .route("/ri/fpsKeyManager.do", get(certs::fps_key_manager))
        .route("/ri/fpsCert.do", get(certs::fps_cert))
        .route("/ri/widevineCert.do", get(certs::widevine_cert))
        .route("/v1/license/{drm}", post(license::v1_license))
        .route("/v1/hls-key/{site}/{cid}", get(license::v1_hls_key))
        .route(
            "/v1/hls-key/{site}/{cid}/{track}",
            get(license::v1_hls_key_track),
        )
        // Before the layers, so that CORS still answers preflights.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits_cfg.body_bytes))
        .layer(cors);

    let admin = Router::new()
        .route(
            "/v1/admin/sites",
            get(admin::list_sites).post(admin::create_site),
        )
        .route(
            "/v1/admin/sites/{site}",
            get(admin::get_site)
                .put(admin::update_site)
                .delete(admin::delete_site),
        )
        .route(
            "/v1/admin/sites/{site}/keys",
            get(admin::list_keys).post(admin::put_key),
        )
        .route(
            "/v1/admin/sites/{site}/keys/{kid}",
            get(admin::get_key).delete(admin::delete_key),
        )
        .route("/v1/admin/audit", get(admin::audit))
        .route(
            "/v1/admin/clients",
            get(studio::list_clients).post(studio::create_client),
        )
        .route(
            "/v1/admin/clients/{name}",
            get(studio::get_client)
                .put(studio::update_client)
                .delete(studio::delete_client),
        )
        .route(
            "/v1/admin/clients/{name}/api-keys",
            post(studio::add_api_key),
        )
        .route(
            "/v1/admin/clients/{name}/api-keys/{id}",
            axum::routing::delete(studio::remove_api_key),
        )
        .route(
            "/v1/admin/clients/{name}/secret",
            post(studio::rotate_secret),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .route_layer(middleware::from_fn_with_state(state.clone(), admin::auth));

    let mut app = Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/v1/time", get(meta::time))
        .route("/openapi.json", get(meta::openapi))
        .route("/v2/token", post(studio::token))
        .route("/v2/generate", post(studio::token))
        .route("/v2/stats", get(studio::stats))
        .method_not_allowed_fallback(method_not_allowed)
        .merge(licence)
        .merge(admin)
        .merge(expressplay::routes(&state));
    if state.demo().is_some() {
        app = app
            .route("/demo", get(demo::redirect))
            .route("/demo/", get(demo::index))
            .route("/demo/token", get(demo::token))
            .route("/demo/{*path}", get(demo::asset));
    }
    app.fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(guard, limits))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static(
            REQUEST_ID,
        )))
        .layer(SetRequestIdLayer::new(
            HeaderName::from_static(REQUEST_ID),
            MakeRequestUuid,
        ))
        .layer(middleware::from_fn(sanitize_request_id))
}

/// A client-sent request id is kept only when short and printable.
async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(REQUEST_ID)
        .map(|v| v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic()))
        .unwrap_or(true);
    if !ok {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}
