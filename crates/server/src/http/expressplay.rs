//! ExpressPlay-compatible endpoints (see `docs/expressplay.md`):
//!
//! * `GET|POST /hms/{wv,ck,fp}/token`: a customer's backend
//!   gets a licence URL carrying a sealed `ExpressPlayToken`;
//! * `POST /hms/ck/rights/?ExpressPlayToken=…`: a ClearKey licence for the
//!   token's key (the browser calls it: CORS applies) — through the same
//!   licence pipeline as every other licence path;
//! * `POST /hms/wv/rights/?ExpressPlayToken=…`: the token and the Widevine
//!   challenge are verified, then refused with -7011 until an upstream exists;
//! * `POST /hms/fp/rights/?ExpressPlayToken=…`: a FairPlay CKC for the token's
//!   key from keyward's KSM, with the customer's site's FairPlay credentials;
//! * `/v1/admin/customers…`: customer administration (admin bearer token).
//!
//! Every refusal on `/hms/…` is in the ExpressPlay dialect (`errorFormat`).

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use keyward_store::customers::{generate_authenticator, hash_authenticator, NewCustomer};
use keyward_store::{AuthEnv, CustomerSettings};
use keyward_token::expressplay::{codes, ErrorFormat, Params, TokenDrm};
use keyward_token::DrmType;
use serde::Deserialize;

use super::credential::client_info;
use super::license::licence_response;
use super::{admin, path_error, request_id};
use crate::backdoor::Challenge;
use crate::codes as registry;
use crate::frontdoor::{Credential, Expect};
use crate::pipeline::{self, LicenceRequest};
use crate::refusal::expressplay::refuse;
use crate::refusal::{Class, Refusal};
use crate::render::{Hints, Refused};
use crate::state::AppState;

/// Every ExpressPlay route plus the customer admin API.
pub fn routes(state: &AppState) -> Router<AppState> {
    let body_limit = state.config().limits.body_bytes;
    // The token API is server to server: no CORS (a browser page cannot call
    // it, so a customerAuthenticator never needs to sit in one).
    let tokens = Router::new()
        .route("/hms/wv/token", get(token_wv).post(token_wv))
        .route("/hms/ck/token", get(token_ck).post(token_ck))
        .route("/hms/fp/token", get(token_fp).post(token_fp))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    // The rights paths are called by players in browsers.
    let hms = Router::new()
        .route("/hms/wv/rights/", post(rights_wv))
        .route("/hms/wv/rights", post(rights_wv))
        .route("/hms/ck/rights/", post(rights_ck))
        .route("/hms/ck/rights", post(rights_ck))
        .route("/hms/fp/rights/", post(rights_fp))
        .route("/hms/fp/rights", post(rights_fp))
        .route("/hms/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    let admin = Router::new()
        .route(
            "/v1/admin/customers",
            get(list_customers).post(create_customer),
        )
        .route(
            "/v1/admin/customers/{id}",
            get(get_customer)
                .put(update_customer)
                .delete(delete_customer),
        )
        .route("/v1/admin/customers/{id}/rotate", post(rotate_customer))
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .route_layer(middleware::from_fn_with_state(state.clone(), admin::auth));
    tokens.merge(hms).merge(admin)
}

/// An answer, or its refusal in the requested error format (rendered by the
/// route group's ExpressPlay layer).
fn answer(r: Result<Response, Refusal>, format: ErrorFormat) -> Response {
    r.unwrap_or_else(|e| {
        Refused::hinted(
            e,
            Hints {
                http_status: false,
                json: format == ErrorFormat::Json,
            },
        )
        .into_response()
    })
}

/// The request's parameters (query, and for POST the form body), its error
/// format, and the peer address. A body that is not form-encoded → -2030.
struct Incoming {
    params: Params,
    format: ErrorFormat,
    headers: HeaderMap,
    peer: Option<IpAddr>,
    body: Bytes,
}

async fn read(req: Request, form_body: bool, limit: usize) -> (Incoming, Result<(), Refusal>) {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let mut params = Params::default();
    if let Some(q) = parts.uri.query() {
        params.extend_from_form(q.as_bytes());
    }
    let body = axum::body::to_bytes(body, limit).await;
    let mut check = Ok(());
    let body = match body {
        Ok(b) => b,
        Err(_) => {
            check = Err(refuse(
                codes::ADMIN,
                "the request body could not be read or is larger than the limit",
            ));
            Bytes::new()
        }
    };
    if form_body && check.is_ok() && !body.is_empty() {
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            check = Err(refuse(
                codes::ADMIN,
                "the body must be application/x-www-form-urlencoded",
            ));
        } else {
            params.extend_from_form(&body);
        }
    }
    let format = match ErrorFormat::from_params(&params) {
        Ok(f) => f,
        Err(e) => {
            if check.is_ok() {
                check = Err(crate::refusal::expressplay::refusal(&e));
            }
            ErrorFormat::Html
        }
    };
    if check.is_ok() && params.has_broken_name() {
        check = Err(refuse(
            codes::ADMIN,
            "a parameter name has broken percent-encoding",
        ));
    }
    (
        Incoming {
            params,
            format,
            headers: parts.headers,
            peer,
            body,
        },
        check,
    )
}

async fn token(state: AppState, req: Request, drm: TokenDrm) -> Response {
    let post = req.method() == Method::POST;
    let (inc, check) = read(req, post, state.config().limits.body_bytes).await;
    let r = async {
        check?;
        let url = crate::mint::expressplay::mint(&state, drm, &inc.params, inc.peer).await?;
        Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/uri-list"),
            )],
            url,
        )
            .into_response())
    }
    .await;
    answer(r, inc.format)
}

/// `GET|POST /hms/wv/token`.
pub async fn token_wv(State(state): State<AppState>, req: Request) -> Response {
    token(state, req, TokenDrm::Widevine).await
}

/// `GET|POST /hms/ck/token`.
pub async fn token_ck(State(state): State<AppState>, req: Request) -> Response {
    token(state, req, TokenDrm::ClearKey).await
}

/// `GET|POST /hms/fp/token`.
pub async fn token_fp(State(state): State<AppState>, req: Request) -> Response {
    token(state, req, TokenDrm::FairPlay).await
}

fn the_token(p: &Params) -> Result<&str, Refusal> {
    p.single("ExpressPlayToken", codes::INVALID_TOKEN)
        .map_err(|e| refuse(codes::INVALID_TOKEN, e.detail().to_owned()))?
        .ok_or_else(|| refuse(codes::INVALID_TOKEN, "ExpressPlayToken is missing"))
}

/// `POST /hms/{ck,wv}/rights/?ExpressPlayToken=…`: the licence pipeline with
/// the ExpressPlay front door.
async fn rights(state: AppState, req: Request, drm: &'static [DrmType]) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (inc, check) = read(req, false, state.config().limits.body_bytes).await;
    let r = async {
        check?;
        let token = the_token(&inc.params)?.to_owned();
        let client = client_info(peer, &inc.headers);
        let rid = request_id(&inc.headers);
        let req = LicenceRequest {
            credential: Some(Credential::ExpressPlay(token)),
            expect: Expect {
                drms: drm,
                cid: None,
                site: None,
            },
            challenge: Challenge::Message(&inc.body),
            client: &client,
            request_id: &rid,
            ckc_format: keyward_drm::fairplay::CkcFormat::Auto,
            client_meta: None,
            trace: crate::otlp::parent_of(&inc.headers),
        };
        pipeline::licence(&state, req)
            .await
            .map(licence_response)
            .map_err(|d| d.refusal)
    }
    .await;
    answer(r, inc.format)
}

/// `POST /hms/ck/rights/?ExpressPlayToken=…` with the ClearKey CDM message.
pub async fn rights_ck(State(state): State<AppState>, req: Request) -> Response {
    rights(state, req, &[DrmType::ClearKey]).await
}

/// `POST /hms/fp/rights/?ExpressPlayToken=…` with a FairPlay SPC (raw, `spc=`
/// form or JSON); the CKC comes back in the request's envelope.
pub async fn rights_fp(State(state): State<AppState>, req: Request) -> Response {
    rights(state, req, &[DrmType::FairPlay]).await
}

/// `POST /hms/wv/rights/?ExpressPlayToken=…` with a Widevine challenge.
pub async fn rights_wv(State(state): State<AppState>, req: Request) -> Response {
    rights(state, req, &[DrmType::Widevine]).await
}

async fn not_found(req: Request) -> Response {
    let (inc, _) = read(req, false, 0).await;
    answer(
        Err(Refusal::with(
            registry::EP_ADMIN,
            "ExpressPlay Admin error: no such endpoint",
        )
        .class(Class::NotFound)),
        inc.format,
    )
}

async fn method_not_allowed(req: Request) -> Response {
    let (inc, _) = read(req, false, 0).await;
    answer(
        Err(Refusal::with(
            registry::EP_ADMIN,
            "ExpressPlay Admin error: method not allowed on this endpoint",
        )
        .class(Class::MethodNotAllowed)),
        inc.format,
    )
}

// ---------------------------------------------------------------------------
// Admin API
// ---------------------------------------------------------------------------

/// An answer or its refusal (rendered natively by the admin group's layer).
fn native(r: Result<Response, Refusal>, _headers: &HeaderMap) -> Response {
    r.unwrap_or_else(|e| Refused::from(e).into_response())
}

/// Customer errors in their own keywords; the rest as on the licence path.
fn store_err(e: keyward_store::StoreError) -> Refusal {
    use keyward_store::StoreError as E;
    match e {
        E::CustomerNotFound | E::CustomerExists => Refusal::from_admin_store(e),
        other => other.into(),
    }
}

fn body_json<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Refusal> {
    let body =
        body.map_err(|_| Refusal::with(registry::INVALID_BODY, "Request body could not be read"))?;
    let body = if body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        body
    };
    serde_json::from_slice(&body).map_err(|e| {
        Refusal::with(
            registry::INVALID_BODY,
            format!("Invalid JSON body: {}", crate::json::serde_message(&e)),
        )
    })
}

fn ok_json(status: StatusCode, v: &serde_json::Value) -> Result<Response, Refusal> {
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response())
}

/// `GET /v1/admin/customers`.
pub async fn list_customers(State(s): State<AppState>, headers: HeaderMap) -> Response {
    native(
        async {
            let all = s.stores().customers.customers().await.map_err(store_err)?;
            ok_json(
                StatusCode::OK,
                &serde_json::to_value(all).map_err(|e| Refusal::internal(e.to_string()))?,
            )
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCustomer {
    customer_id: String,
    #[serde(default)]
    settings: CustomerSettings,
}

/// `POST /v1/admin/customers`: creates a customer; both authenticators are
/// generated and returned once, in this answer.
pub async fn create_customer(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let req: CreateCustomer = body_json(body)?;
            let test = generate_authenticator().map_err(Refusal::from)?;
            let prod = generate_authenticator().map_err(Refusal::from)?;
            let c = s
                .stores()
                .customers
                .create_customer(NewCustomer {
                    customer_id: req.customer_id,
                    test_hash: hash_authenticator(&test),
                    production_hash: hash_authenticator(&prod),
                    settings: req.settings,
                })
                .await
                .map_err(store_err)?;
            let mut v = serde_json::to_value(c).map_err(|e| Refusal::internal(e.to_string()))?;
            v["test_authenticator"] = test.into();
            v["production_authenticator"] = prod.into();
            ok_json(StatusCode::CREATED, &v)
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/customers/{id}`.
pub async fn get_customer(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let c = s
                .stores()
                .customers
                .customer(&id)
                .await
                .map_err(store_err)?;
            ok_json(
                StatusCode::OK,
                &serde_json::to_value(c).map_err(|e| Refusal::internal(e.to_string()))?,
            )
        }
        .await,
        &headers,
    )
}

/// `PUT /v1/admin/customers/{id}`: replaces the settings.
pub async fn update_customer(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let current = s
                .stores()
                .customers
                .customer(&id)
                .await
                .map_err(store_err)?;
            let settings: CustomerSettings =
                super::merged_settings(&current.settings, body, registry::INVALID_BODY)?;
            let c = s
                .stores()
                .customers
                .update_customer(&id, settings)
                .await
                .map_err(store_err)?;
            ok_json(
                StatusCode::OK,
                &serde_json::to_value(c).map_err(|e| Refusal::internal(e.to_string()))?,
            )
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    env: AuthEnv,
}

/// `POST /v1/admin/customers/{id}/rotate` `{"env":"test"|"production"}`: a new
/// authenticator for that environment, returned once; the old one stops working.
pub async fn rotate_customer(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let req: Rotate = body_json(body)?;
            let fresh = generate_authenticator().map_err(Refusal::from)?;
            s.stores()
                .customers
                .rotate_customer_authenticator(&id, req.env, hash_authenticator(&fresh))
                .await
                .map_err(store_err)?;
            ok_json(
                StatusCode::OK,
                &serde_json::json!({"customer_id": id, "env": req.env, "authenticator": fresh}),
            )
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/customers/{id}`.
pub async fn delete_customer(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            s.stores()
                .customers
                .delete_customer(&id)
                .await
                .map_err(store_err)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}
