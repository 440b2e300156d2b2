//! The Studio token API (seed 002): `POST /v2/token` (alias `/v2/generate`)
//! and `GET /v2/stats`, authenticated with `x-api-key`; and the client
//! administration under `/v1/admin/clients` (admin bearer token).
//!
//! Refusals are RFC 7807 problem+json with a stable `code`; validation
//! refusals also carry `field`, the JSON path of the offending value.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyward_store::{ClientSettings, NewClient, SiteId, SiteSecret, StatsQuery};
use keyward_token::studio::{api_key_hash, merge_under, mint, StudioPolicy, StudioSecret};
use keyward_token::Timestamp;
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::credential::query_param;
use super::path_error;
use crate::codes::{self, Code};
use crate::refusal::Refusal;
use crate::render::Refused;
use crate::state::AppState;

/// Studio errors on the admin paths: clients, API keys and sites in their
/// own keywords, the rest as on the licence path.
fn store_error(e: keyward_store::StoreError) -> Refusal {
    use keyward_store::StoreError as E;
    match e {
        E::ClientNotFound | E::ClientExists | E::ApiKeyNotFound | E::SiteNotFound => {
            Refusal::from_admin_store(e)
        }
        other => other.into(),
    }
}

/// An answer or its refusal (rendered by the Studio layer, with `field`).
fn problem(r: Refusal, _headers: &HeaderMap) -> Response {
    Refused::from(r).into_response()
}

fn field_error(code: Code, field: &str, message: String) -> Refusal {
    Refusal::with(code, message).field(field)
}

fn body_json(body: Result<Bytes, BytesRejection>) -> Result<Value, Refusal> {
    let body = body.map_err(|rej| super::body_error(&rej, codes::STUDIO_INVALID_BODY))?;
    serde_json::from_slice(&body).map_err(|e| {
        Refusal::with(
            codes::STUDIO_INVALID_BODY,
            format!("The body is not JSON: {}", crate::json::serde_message(&e)),
        )
    })
}

/// The client an `x-api-key` belongs to (401 otherwise).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<crate::resources::clients::ClientEntry>, Refusal> {
    let unauthorized =
        || Refusal::with(codes::STUDIO_API_KEY_INVALID, "Missing or wrong x-api-key");
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .ok_or_else(unauthorized)?;
    // The hash is the lookup key: no comparison of secrets in variable time.
    state
        .clients()
        .by_api_key(&api_key_hash(key))
        .await?
        .ok_or_else(unauthorized)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

/// `POST /v2/token` and `/v2/generate`: mints a Studio token.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let entry = authenticate(&state, &headers).await?;
        let client = &entry.client;
        let v = body_json(body)?;
        let obj = v.as_object().ok_or_else(|| {
            field_error(
                codes::STUDIO_WRONG_TYPE,
                "",
                "The body must be a JSON object".into(),
            )
        })?;
        for k in obj.keys() {
            if k != "clientName" && k != "policy" {
                let name = crate::json::name_for_message(k);
                return Err(field_error(
                    codes::STUDIO_UNKNOWN_FIELD,
                    &name,
                    format!("{name}: unknown field (expected clientName and policy)"),
                ));
            }
        }
        let name = match obj.get("clientName") {
            None => {
                return Err(field_error(
                    codes::STUDIO_MISSING_FIELD,
                    "clientName",
                    "clientName: required field missing".into(),
                ))
            }
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(field_error(
                    codes::STUDIO_WRONG_TYPE,
                    "clientName",
                    "clientName: wrong type, expected string".into(),
                ))
            }
        };
        if name != client.name {
            return Err(Refusal::with(
                codes::STUDIO_CLIENT_MISMATCH,
                "clientName does not match the client of this API key",
            ));
        }
        if client.settings.disabled {
            return Err(Refusal::with(
                codes::STUDIO_CLIENT_DISABLED,
                "This client is disabled",
            ));
        }
        let req_policy = match obj.get("policy") {
            None => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => {
                return Err(field_error(
                    codes::STUDIO_WRONG_TYPE,
                    "policy",
                    "policy: wrong type, expected object".into(),
                ))
            }
        };
        let merged = match &client.settings.default_policy {
            Some(d) => merge_under(d, &req_policy),
            None => req_policy,
        };
        let policy = StudioPolicy::from_value(&merged)?;
        let prefixes = &client.settings.content_prefixes;
        if !prefixes.is_empty() {
            let ok = policy
                .content_id
                .as_deref()
                .is_some_and(|c| prefixes.iter().any(|p| c.starts_with(p.as_str())));
            if !ok {
                return Err(Refusal::with(
                    codes::STUDIO_CONTENT_NOT_ALLOWED,
                    "policy.content_id is missing or outside the content this client may mint for",
                )
                .field("policy.content_id"));
            }
        }
        // Newest first; its keys were derived when the client was cached.
        let secret = entry
            .secrets
            .first()
            .ok_or_else(|| Refusal::internal("client has no token secret"))?;
        let token = mint(&client.name, secret, &merged.to_string(), Timestamp::now())
            .map_err(Refusal::from)?;
        tracing::info!(client = %client.name, cid = ?policy.content_id, "studio token minted");
        Ok(if wants_json(&headers) {
            (
                [(header::CONTENT_TYPE, "application/json")],
                json!({ "token": token }).to_string(),
            )
                .into_response()
        } else {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response()
        })
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

fn day_ms(field: &str, s: &str) -> Result<i64, Refusal> {
    Timestamp::parse(&format!("{s}T00:00:00Z"))
        .map(|t| t.unix() * 1000)
        .map_err(|_| {
            field_error(
                codes::STUDIO_INVALID_VALUE,
                field,
                format!("{field}: must be a date YYYY-MM-DD"),
            )
        })
}

/// `GET /v2/stats?from=&to=&client_data_key=&client_data_value=`: licence
/// counts per day, DRM and result for the API key's client.
pub async fn stats(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let r = async {
        let entry = authenticate(&state, &headers).await?;
        let client = &entry.client;
        let q = uri.query();
        let since_ms = query_param(q, "from")
            .map(|s| day_ms("from", &s))
            .transpose()?;
        let until_ms = query_param(q, "to")
            .map(|s| day_ms("to", &s).map(|ms| ms + 86_400_000))
            .transpose()?;
        let key = query_param(q, "client_data_key");
        let value = query_param(q, "client_data_value");
        let client_data = match (key, value) {
            (Some(k), Some(v)) => {
                if k.is_empty()
                    || k.len() > 64
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                {
                    return Err(field_error(
                        codes::STUDIO_INVALID_VALUE,
                        "client_data_key",
                        "client_data_key: 1 to 64 characters of A-Z a-z 0-9 _ - .".into(),
                    ));
                }
                Some((k, v))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(field_error(
                    codes::STUDIO_MISSING_FIELD,
                    "client_data_value",
                    "client_data_value: required with client_data_key".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(field_error(
                    codes::STUDIO_MISSING_FIELD,
                    "client_data_key",
                    "client_data_key: required with client_data_value".into(),
                ))
            }
        };
        let rows = state
            .stores()
            .stats
            .license_stats(&StatsQuery {
                client: client.name.clone(),
                since_ms,
                until_ms,
                client_data: client_data.clone(),
            })
            .await
            .map_err(store_error)?;
        let total: u64 = rows
            .iter()
            .filter(|r| r.result == "ok")
            .map(|r| r.count)
            .sum();
        let body = json!({
            "client": client.name,
            "filter": client_data.map(|(k, v)| json!({"key": k, "value": v})),
            "issued": total,
            "counts": rows,
        });
        Ok::<_, Refusal>(
            (
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response(),
        )
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

// --- admin ----------------------------------------------------------------

/// A fresh API key: `kwk_` and 40 alphanumerics (about 238 bits).
pub fn generate_api_key() -> String {
    format!(
        "kwk_{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 40)
    )
}

fn admin_json(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn admin_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Refusal> {
    let v = body_json(body)?;
    serde_json::from_value(v).map_err(|e| {
        Refusal::with(
            codes::INVALID_BODY,
            format!("Invalid JSON body: {}", crate::json::serde_message(&e)),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateClient {
    name: String,
    site_id: String,
    #[serde(default)]
    settings: ClientSettings,
    #[serde(default)]
    label: Option<String>,
}

/// Validates a default policy the way a request policy is validated.
fn check_default_policy(s: &ClientSettings) -> Result<(), Refusal> {
    if let Some(p) = &s.default_policy {
        StudioPolicy::from_value(p).map_err(|e| {
            let mut r = Refusal::from(e);
            r.field = r
                .field
                .map(|f| format!("settings.default_{f}").into_boxed_str());
            r.message = format!("settings.default_{}", r.message).into();
            r
        })?;
    }
    Ok(())
}

/// `GET /v1/admin/clients`.
pub async fn list_clients(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match s.stores().clients.clients().await {
        Ok(c) => admin_json(StatusCode::OK, &json!(c)),
        Err(e) => problem(store_error(e), &headers),
    }
}

/// `POST /v1/admin/clients`: creates a client; the API key is shown once.
pub async fn create_client(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let req: CreateClient = admin_body(body)?;
        check_default_policy(&req.settings)?;
        let site_id = SiteId::parse(&req.site_id).map_err(Refusal::from)?;
        let api_key = generate_api_key();
        let client = s
            .stores()
            .clients
            .create_client(NewClient {
                name: req.name,
                site_id,
                settings: req.settings,
                secret: SiteSecret::generate().map_err(Refusal::from)?,
                api_key: (
                    req.label.unwrap_or_else(|| "default".into()),
                    api_key_hash(&api_key),
                ),
            })
            .await
            .map_err(store_error)?;
        Ok::<_, Refusal>(admin_json(
            StatusCode::CREATED,
            &json!({"client": client, "api_key": api_key}),
        ))
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

fn name_of(p: Result<Path<String>, PathRejection>) -> Result<String, Refusal> {
    p.map(|Path(n)| n).map_err(|e| path_error(&e))
}

/// `GET /v1/admin/clients/{name}`.
pub async fn get_client(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let name = name_of(name)?;
        let c = s
            .stores()
            .clients
            .client(&name)
            .await
            .map_err(store_error)?;
        Ok::<_, Refusal>(admin_json(StatusCode::OK, &json!(c)))
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

/// `PUT /v1/admin/clients/{name}`: replaces the settings (body: settings).
pub async fn update_client(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let name = name_of(name)?;
        let current = s
            .stores()
            .clients
            .client(&name)
            .await
            .map_err(store_error)?;
        let settings: ClientSettings =
            super::merged_settings(&current.settings, body, codes::INVALID_BODY)?;
        check_default_policy(&settings)?;
        let c = s
            .stores()
            .clients
            .update_client(&name, settings)
            .await
            .map_err(store_error)?;
        s.client_changed(&name);
        Ok::<_, Refusal>(admin_json(StatusCode::OK, &json!(c)))
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

/// `DELETE /v1/admin/clients/{name}`.
pub async fn delete_client(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let name = name_of(name)?;
        s.stores()
            .clients
            .delete_client(&name)
            .await
            .map_err(store_error)?;
        s.client_changed(&name);
        Ok::<_, Refusal>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddKey {
    label: String,
}

/// `POST /v1/admin/clients/{name}/api-keys`: adds a key, shown once.
pub async fn add_api_key(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let name = name_of(name)?;
        let req: AddKey = admin_body(body)?;
        let api_key = generate_api_key();
        let info = s
            .stores().clients
            .add_api_key(&name, &req.label, api_key_hash(&api_key))
            .await
            .map_err(store_error)?;
        Ok::<_, Refusal>(admin_json(
            StatusCode::CREATED,
            &json!({"id": info.id, "label": info.label, "created_at": info.created_at, "api_key": api_key}),
        ))
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

/// `DELETE /v1/admin/clients/{name}/api-keys/{id}`.
pub async fn remove_api_key(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let Path((name, id)) = path.map_err(|e| path_error(&e))?;
        s.stores()
            .clients
            .remove_api_key(&name, &id)
            .await
            .map_err(store_error)?;
        // The key stops working now, not when its cache entry ages out.
        s.client_changed(&name);
        Ok::<_, Refusal>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}

/// `POST /v1/admin/clients/{name}/secret`: a new token secret; tokens minted
/// under the previous one keep verifying (key id) until it is dropped.
pub async fn rotate_secret(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let name = name_of(name)?;
        let c = s
            .stores()
            .clients
            .add_client_secret(&name, SiteSecret::generate().map_err(Refusal::from)?)
            .await
            .map_err(store_error)?;
        s.client_changed(&name);
        let kids: Vec<String> = c
            .secrets
            .iter()
            .filter_map(|x| StudioSecret::new(x.expose()).ok())
            .map(|x| x.kid_hex())
            .collect();
        Ok::<_, Refusal>(admin_json(
            StatusCode::OK,
            &json!({"name": c.name, "kids": kids}),
        ))
    }
    .await;
    r.unwrap_or_else(|e| problem(e, &headers))
}
