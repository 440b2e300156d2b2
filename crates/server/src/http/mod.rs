//! The router and its middleware: request ids, limits with coded answers,
//! CORS for licence paths, tracing.

pub mod admin;
pub mod certs;
pub mod cors;
pub mod cpix;
pub mod credential;
pub mod decisions;
pub mod demo;
pub mod expressplay;
pub mod license;
pub mod meta;
pub mod packager;
pub mod studio;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::codes;
use crate::refusal::Refusal;
use crate::render::{self, Dialect, Hints};
use crate::state::AppState;

pub use crate::render::{request_id, REQUEST_ID};

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
    let dialect = render::dialect_for(req.uri().path());
    // Kept as the header value (a reference count), made text only to refuse.
    let rid = req.headers().get(REQUEST_ID).cloned();
    // Paths browsers call answer CORS here, refusals included.
    let cors = cors::policy_for(req.uri().path());
    let origin = cors.and_then(|_| req.headers().get(header::ORIGIN).cloned());
    let refuse = |refusal: Refusal| -> Response {
        let rid = rid.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
        let mut r = render::write(&refusal, dialect, Hints::default(), rid);
        if cors.is_some() {
            cors::decorate(&mut r, origin.as_ref());
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
        return refuse(if too_many {
            Refusal::with(
                codes::HEADERS_TOO_LARGE,
                "More request headers than the limit",
            )
        } else {
            Refusal::new(codes::HEADERS_TOO_LARGE)
        });
    }
    // A declared length over the limit is refused before any of the body is
    // waited for (the limit itself is applied while the body is read).
    // Paths browsers call are the licence paths: the licence body limit.
    let body_limit = if cors.is_some() {
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
        return refuse(Refusal::new(codes::BODY_TOO_LARGE));
    }
    if req
        .extensions()
        .get::<crate::listener::OverShare>()
        .is_some()
    {
        return refuse(Refusal::with(
            codes::OVERLOADED,
            "Too many requests in flight from this client address; retry shortly",
        ));
    }
    let Ok(_permit) = g.permits.clone().try_acquire_owned() else {
        return refuse(Refusal::new(codes::OVERLOADED));
    };
    if let Some(p) = cors {
        if cors::is_preflight(req.method()) {
            return cors::preflight(p, origin.as_ref());
        }
    }
    match tokio::time::timeout(g.timeout, next.run(req)).await {
        // A handler's refusal is written here, once, in its route group's
        // dialect.
        Ok(r) => {
            let mut r = render::finish(r, dialect, rid.as_ref());
            if cors.is_some() {
                cors::decorate(&mut r, origin.as_ref());
            }
            r
        }
        Err(_) => refuse(Refusal::new(codes::TIMEOUT)),
    }
}

/// No route: a router-level answer, native on every path.
async fn not_found(req: Request) -> Response {
    let r = Refusal::with(
        codes::NOT_FOUND,
        format!(
            "No such endpoint: {}",
            crate::json::bounded(req.uri().path(), 256)
        ),
    );
    render::write(
        &r,
        Dialect::Native,
        Hints::default(),
        &request_id(req.headers()),
    )
}

/// A route without this method: a router-level answer, native on every path.
async fn method_not_allowed(req: Request) -> Response {
    let r = Refusal::with(
        codes::METHOD_NOT_ALLOWED,
        format!(
            "{} is not served on {}",
            req.method(),
            crate::json::bounded(req.uri().path(), 256)
        ),
    );
    render::write(
        &r,
        Dialect::Native,
        Hints::default(),
        &request_id(req.headers()),
    )
}

/// A path parameter that is not valid percent-encoded UTF-8: a coded refusal
/// (9001) instead of axum's plain-text rejection.
pub fn path_error(rej: &PathRejection) -> Refusal {
    Refusal::with(
        codes::BAD_REQUEST,
        format!("Bad path parameter: {}", rej.body_text()),
    )
}

/// An update body merged over the current settings (`PUT` on the admin
/// API): the body must be a JSON object; the fields it names replace
/// the current ones (nested objects field by field), the others keep their
/// values, and `null` resets an optional field. Nothing is ever cleared by a
/// field the body does not name.
pub fn merged_settings<T>(
    current: &T,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    invalid: codes::Code,
) -> Result<T, Refusal>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let body = body.map_err(|rej| body_error(&rej, invalid))?;
    let patch: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Refusal::with(
            invalid,
            format!("Invalid JSON body: {}", crate::json::serde_message(&e)),
        )
    })?;
    let serde_json::Value::Object(patch) = patch else {
        return Err(Refusal::with(
            invalid,
            "The body must be a JSON object naming the settings to change",
        ));
    };
    let mut merged = serde_json::to_value(current)
        .map_err(|e| Refusal::internal(format!("settings do not serialize: {e}")))?;
    merge(&mut merged, patch);
    serde_json::from_value(merged).map_err(|e| {
        Refusal::with(
            invalid,
            format!("Invalid JSON body: {}", crate::json::serde_message(&e)),
        )
    })
}

fn merge(into: &mut serde_json::Value, patch: serde_json::Map<String, serde_json::Value>) {
    let serde_json::Value::Object(target) = into else {
        *into = serde_json::Value::Object(patch);
        return;
    };
    for (k, v) in patch {
        match (target.get_mut(&k), v) {
            (Some(t @ serde_json::Value::Object(_)), serde_json::Value::Object(p)) => merge(t, p),
            (_, v) => {
                target.insert(k, v);
            }
        }
    }
}

/// A body that could not be read: 7505 when over the limit, else `other`.
pub fn body_error(rej: &axum::extract::rejection::BytesRejection, other: codes::Code) -> Refusal {
    if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::new(codes::BODY_TOO_LARGE)
    } else {
        Refusal::with(other, "Request body could not be read")
    }
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
    // PallyCon-compatible licence paths: `{"errorCode","message"}`.
    let pallycon = Router::new()
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
        .route("/ri/widevineCert.do", get(certs::widevine_cert));
    // Native licence paths: problem+json.
    let native_licence = Router::new()
        .route("/v1/license/{drm}", post(license::v1_license))
        .route("/v1/hls-key/{site}/{cid}", get(license::v1_hls_key))
        .route("/v1/fairplay/cert/{site}", get(certs::v1_fairplay_cert))
        .route(
            "/v1/hls-key/{site}/{cid}/{track}",
            get(license::v1_hls_key_track),
        );
    let licence = pallycon
        .merge(native_licence)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits_cfg.body_bytes));

    // Key server for packagers: each route answers in its protocol's dialect.
    let packager_routes = Router::new()
        .route("/cenc/getcontentkey/{signer}", post(packager::widevine))
        .route("/v1/packager/widevine/{signer}", post(packager::widevine))
        .route("/v1/packager/playready", post(packager::playready))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(64 * 1024));
    // CPIX and SPEKE: documents up to 1 MiB.
    let cpix_routes = Router::new()
        .route("/v1/packager/cpix", post(cpix::cpix))
        .route("/v1/packager/speke", post(cpix::speke))
        .route("/v1/packager/speke/heartbeat", get(cpix::speke_heartbeat))
        .route(
            "/v1/cpix/pallycon/getKey/{token}",
            post(cpix::pallycon_cpix),
        )
        .route(
            "/v2/cpix/pallycon/getKey/{token}",
            post(cpix::pallycon_cpix),
        )
        .route("/cpix/pallycon/getKey/{token}", post(cpix::pallycon_cpix))
        .route("/cpix/getKey", post(cpix::pallycon_speke))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(keyward_drm::cpix::MAX_DOCUMENT_LEN));

    let admin = Router::new()
        .route("/v1/admin/decisions", get(decisions::list))
        .route("/v1/admin/decisions/{request_id}", get(decisions::get))
        .route("/v1/admin/explain", post(decisions::dry_run))
        .route(
            "/v1/admin/sites/{site}/packagers",
            get(admin::list_packagers).post(admin::add_packager),
        )
        .route(
            "/v1/admin/packagers/{name}",
            get(admin::get_packager).delete(admin::remove_packager),
        )
        .route(
            "/v1/admin/sites/{site}/key-seed",
            put(admin::set_key_seed).delete(admin::clear_key_seed),
        )
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
        .route(
            "/v1/admin/sites/{site}/fairplay",
            get(admin::list_fairplay).post(admin::add_fairplay),
        )
        .route(
            "/v1/admin/sites/{site}/fairplay/{cert_hash}",
            delete(admin::remove_fairplay),
        )
        .route(
            "/v1/admin/sites/{site}/upstreams",
            get(admin::list_upstreams).post(admin::add_upstream),
        )
        .route(
            "/v1/admin/sites/{site}/upstreams/{name}",
            get(admin::get_upstream).delete(admin::remove_upstream),
        )
        .route("/v1/admin/audit", get(admin::audit))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .route_layer(middleware::from_fn_with_state(state.clone(), admin::auth));
    // Client administration answers like the Studio API (problem+json with
    // `field` for policy errors).
    let admin_clients = Router::new()
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

    let studio_api = Router::new()
        .route("/v2/token", post(studio::token))
        .route("/v2/generate", post(studio::token))
        .route("/v2/stats", get(studio::stats));
    let mut app = Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/v1/time", get(meta::time))
        .route("/openapi.json", get(meta::openapi))
        .merge(studio_api)
        .method_not_allowed_fallback(method_not_allowed)
        .merge(licence)
        .merge(packager_routes)
        .merge(cpix_routes)
        .merge(admin)
        .merge(admin_clients)
        .merge(expressplay::routes(&state));
    if state.config().metrics.on_main_listener() {
        app = app.route("/metrics", get(crate::metrics::scrape::<AppState>));
    }
    if state.demo().is_some() {
        app = app
            .route("/demo", get(demo::redirect))
            .route("/demo/", get(demo::index))
            .route("/demo/token", get(demo::token))
            .route("/demo/{*path}", get(demo::asset));
    }
    app.fallback(not_found)
        // Everything not in a route group answers natively.
        .with_state(state)
        .layer(middleware::from_fn_with_state(guard, limits))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static(
            REQUEST_ID,
        )))
        .layer(SetRequestIdLayer::new(
            HeaderName::from_static(REQUEST_ID),
            TimeOrderedRequestId,
        ))
        .layer(middleware::from_fn(sanitize_request_id))
}

/// Request ids keyward makes: UUIDv7 (RFC 9562), whose text sorts by time.
/// The audit trail indexes request ids; ids that arrive in order are added at
/// the end of that index instead of on a random page of it, which makes an
/// audit row about four times cheaper to write (see BENCHMARKS.md, broker).
#[derive(Clone, Copy, Default)]
struct TimeOrderedRequestId;

impl MakeRequestId for TimeOrderedRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
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
