//! The admin API under `/v1/admin/…`: sites and content keys.
//!
//! Off unless an admin token is configured; every call needs
//! `Authorization: Bearer <admin token>` (compared in constant time). Listings
//! never show key material; a key is exported only with `?export=true`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use keyward_store::audit::{parse_time_ms, MAX_PAGE};
use keyward_store::{
    AuditQuery, ContentKey, Kid, NewContentKey, NewSite, SiteId, SiteSecret, SiteSettings,
    TrackType,
};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::credential::query_param;
use super::path_error;
use crate::codes;
use crate::refusal::Refusal;
use crate::render::Refused;
use crate::state::AppState;

type ApiResult = Result<Response, Refusal>;

fn native(r: ApiResult, headers: &HeaderMap) -> Response {
    let _ = headers;
    r.unwrap_or_else(|e| Refused::from(e).into_response())
}

/// Admin authentication middleware.
pub async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = state.config().admin_token.clone() else {
        return Refused::from(Refusal::new(codes::ADMIN_DISABLED)).into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = given.len() == token.expose().len()
        && bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()));
    if !ok {
        return Refused::from(Refusal::new(codes::UNAUTHORIZED)).into_response();
    }
    next.run(req).await
}

fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Refusal> {
    let body = body.map_err(|rej| super::body_error(&rej, codes::INVALID_BODY))?;
    serde_json::from_slice(&body).map_err(|e| {
        Refusal::with(
            codes::INVALID_BODY,
            format!("Invalid JSON body: {}", crate::json::serde_message(&e)),
        )
    })
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> ApiResult {
    let body = serde_json::to_string(v).map_err(|e| Refusal::internal(e.to_string()))?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn site_id(s: &str) -> Result<SiteId, Refusal> {
    SiteId::parse(s).map_err(Refusal::from)
}

fn secret(field: &str, v: Option<String>) -> Result<SiteSecret, Refusal> {
    match v {
        None => SiteSecret::generate().map_err(Refusal::from),
        Some(s) => SiteSecret::from_bytes(s.as_bytes()).map_err(|_| {
            Refusal::with(
                codes::INVALID_SECRET_LENGTH,
                format!("{field} must be exactly 32 bytes"),
            )
        }),
    }
}

/// `GET /v1/admin/sites`.
pub async fn list_sites(State(s): State<AppState>, headers: HeaderMap) -> Response {
    native(
        async { json(StatusCode::OK, &s.stores().sites.sites().await?) }.await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSite {
    site_id: String,
    site_key: Option<String>,
    access_key: Option<String>,
    #[serde(default)]
    settings: SiteSettings,
}

/// `POST /v1/admin/sites`: create; secrets are generated when not given and
/// returned once, in this answer.
pub async fn create_site(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let req: CreateSite = json_body(body)?;
            let id = site_id(&req.site_id)?;
            let site_key = secret("site_key", req.site_key)?;
            let access_key = secret("access_key", req.access_key)?;
            let printable = |k: &SiteSecret| String::from_utf8(k.expose().to_vec()).ok();
            let (sk, ak) = (printable(&site_key), printable(&access_key));
            let site = s
                .stores()
                .sites
                .create_site(NewSite {
                    site_id: id,
                    site_key,
                    access_key,
                    settings: req.settings,
                })
                .await?;
            s.invalidate(site.site_id.as_str());
            let mut v =
                serde_json::to_value(&site).map_err(|e| Refusal::internal(e.to_string()))?;
            // Generated secrets are random bytes; they are returned base64 so the
            // caller can store them (the token SDKs take the 32 bytes).
            let b64 = |k: &SiteSecret| base64::engine::general_purpose::STANDARD.encode(k.expose());
            v["site_key"] = serde_json::Value::String(sk.unwrap_or_else(|| b64(&site.site_key)));
            v["access_key"] =
                serde_json::Value::String(ak.unwrap_or_else(|| b64(&site.access_key)));
            json(StatusCode::CREATED, &v)
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/sites/{site}`.
pub async fn get_site(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            json(
                StatusCode::OK,
                &s.stores().sites.site(&site_id(&id)?).await?,
            )
        }
        .await,
        &headers,
    )
}

/// `PUT /v1/admin/sites/{site}`: replace the settings.
pub async fn update_site(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let sid = site_id(&id)?;
            let current = s.stores().sites.site(&sid).await?;
            let settings: SiteSettings =
                super::merged_settings(&current.settings, body, codes::INVALID_BODY)?;
            let site = s.stores().sites.update_site(&sid, settings).await?;
            s.invalidate(&id);
            json(StatusCode::OK, &site)
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/sites/{site}`.
pub async fn delete_site(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            s.stores().sites.delete_site(&site_id(&id)?).await?;
            s.invalidate(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/sites/{site}/keys[?cid=]`: metadata only.
pub async fn list_keys(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let cid = query_param(uri.query(), "cid");
            json(
                StatusCode::OK,
                &s.stores()
                    .keys
                    .list_keys(&site_id(&id)?, cid.as_deref())
                    .await?,
            )
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutKey {
    cid: String,
    kid: Option<String>,
    key: Option<String>,
    iv: Option<String>,
    track_type: Option<TrackType>,
    label: Option<String>,
    /// Key period of rotated content.
    period: Option<u64>,
    #[serde(default)]
    replace: bool,
}

/// `s` as exactly `N` bytes of hex; the refusal names `field`.
fn hex_n<const N: usize>(field: &str, s: &str) -> Result<[u8; N], Refusal> {
    let v = hex::decode(s)
        .map_err(|_| Refusal::with(codes::INVALID_INPUT, format!("{field} is not hex")))?;
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| {
        Refusal::with(
            codes::INVALID_INPUT,
            format!("{field} must be {N} bytes ({} hex digits)", N * 2),
        )
    })
}

fn key_json(
    rec: &keyward_store::ContentKeyRecord,
    export: bool,
) -> Result<serde_json::Value, Refusal> {
    let mut v = serde_json::to_value(rec.info()).map_err(|e| Refusal::internal(e.to_string()))?;
    if export {
        v["key"] = serde_json::Value::String(hex::encode(rec.key.expose()));
    }
    Ok(v)
}

/// `POST /v1/admin/sites/{site}/keys[?export=true]`: import `{cid, kid, key}`
/// or generate (`{cid}` only). The key is in the answer only with `export=true`.
pub async fn put_key(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let req: PutKey = json_body(body)?;
            let export = query_param(uri.query(), "export").as_deref() == Some("true");
            let sid = site_id(&id)?;
            let track = req.track_type.unwrap_or(TrackType::All);
            let rec = match (req.kid, req.key) {
                (Some(kid), Some(key)) => {
                    let nk = NewContentKey {
                        site_id: sid,
                        cid: req.cid,
                        track_type: track,
                        kid: Kid(hex_n::<16>("kid", &kid)?),
                        key: ContentKey::from_slice(&hex_n::<16>("key", &key)?)?,
                        iv: req
                            .iv
                            .as_deref()
                            .map(|v| hex_n::<16>("iv", v))
                            .transpose()?,
                        label: req.label,
                        period: req.period,
                    };
                    s.stores().keys.put_key(nk, req.replace).await?
                }
                (None, None) => {
                    let mut nk = NewContentKey::generate(sid, req.cid, track, req.label)?;
                    nk.period = req.period;
                    s.stores().keys.put_key(nk, false).await?
                }
                _ => {
                    return Err(Refusal::with(
                        codes::INVALID_INPUT,
                        "Give both kid and key to import, or neither to generate",
                    ))
                }
            };
            s.invalidate(&id);
            json(StatusCode::CREATED, &key_json(&rec, export)?)
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/sites/{site}/keys/{kid}[?export=true]`.
pub async fn get_key(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path((id, kid)) = path.map_err(|e| path_error(&e))?;
            let export = query_param(uri.query(), "export").as_deref() == Some("true");
            let rec = s
                .stores()
                .keys
                .key_by_kid(&site_id(&id)?, &Kid::from_hex(&kid)?)
                .await?;
            json(StatusCode::OK, &key_json(&rec, export)?)
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/sites/{site}/keys/{kid}`.
pub async fn delete_key(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path((id, kid)) = path.map_err(|e| path_error(&e))?;
            s.stores()
                .keys
                .delete_key(&site_id(&id)?, &Kid::from_hex(&kid)?)
                .await?;
            s.invalidate(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}

/// The query parameters of `GET /v1/admin/audit`.
const AUDIT_PARAMS: &[&str] = &[
    "site",
    "user",
    "cid",
    "code",
    "kind",
    "request_id",
    "since",
    "until",
    "limit",
    "before",
];

fn bad_param(name: &str, reason: &str) -> Refusal {
    Refusal::with(codes::INVALID_INPUT, format!("invalid {name}: {reason}"))
}

/// The audit search from the query string: every parameter at most once, an
/// empty value is as good as none, unknown ones are refused (a typo must not
/// widen the search to everything). Messages name the parameter, never echo
/// its value.
fn audit_query(query: Option<&str>) -> Result<AuditQuery, Refusal> {
    let mut given: Vec<(&'static str, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let Some(name) = AUDIT_PARAMS.iter().find(|p| **p == k) else {
            let shown = if k.len() <= 32
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                format!("unknown query parameter {k}")
            } else {
                "unknown query parameter".to_owned()
            };
            return Err(Refusal::with(
                codes::INVALID_INPUT,
                format!("{shown}; expected {}", AUDIT_PARAMS.join(", ")),
            ));
        };
        if given.iter().any(|(n, _)| n == name) {
            return Err(bad_param(name, "given more than once"));
        }
        if !v.is_empty() {
            given.push((name, v.into_owned()));
        }
    }
    let mut q = AuditQuery::default();
    for (name, v) in given {
        let time = |v: &str| {
            parse_time_ms(v).ok_or_else(|| {
                bad_param(
                    name,
                    "expected RFC 3339 (2024-05-01T12:00:00Z) or unix seconds",
                )
            })
        };
        match name {
            "site" => q.site = Some(site_id(&v)?),
            "user" => q.user = Some(v),
            "cid" => q.cid = Some(v),
            "code" => q.code = Some(v),
            "kind" => q.kind = Some(v),
            "request_id" => q.request_id = Some(v),
            "since" => q.since_ms = Some(time(&v)?),
            "until" => q.until_ms = Some(time(&v)?),
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| bad_param(name, "must be 1 to 1000"))?;
            }
            _ => {
                q.before =
                    Some(v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        bad_param(name, "must be the `next` of the previous page")
                    })?);
            }
        }
    }
    q.validate().map_err(Refusal::from_admin_store)?;
    Ok(q)
}

/// `GET /v1/admin/audit[?site=&user=&cid=&code=&kind=&request_id=&since=&until=&limit=&before=]`:
/// one page of the audit trail, newest first, with the cursor of the next.
pub async fn audit(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    native(
        async {
            let q = audit_query(uri.query())?;
            let page = s
                .stores()
                .audit
                .search(&q)
                .await
                .map_err(Refusal::from_admin_store)?;
            json(StatusCode::OK, &page)
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/sites/{site}/fairplay`: the site's FairPlay credentials
/// (certificate facts only, newest first).
pub async fn list_fairplay(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let infos = s
                .stores()
                .fairplay
                .fairplay_credential_infos(&site_id(&id)?)
                .await
                .map_err(Refusal::from_admin_store)?;
            let list: Vec<_> = infos
                .iter()
                .map(crate::resources::fairplay::credential_json)
                .collect();
            json(StatusCode::OK, &list)
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFairPlay {
    certificate: String,
    private_key: String,
    key_passphrase: Option<String>,
    ask: String,
    label: Option<String>,
}

/// PEM text as is; anything else is base64 of DER.
fn pem_or_base64(field: &str, v: &str) -> Result<Vec<u8>, Refusal> {
    if v.contains("-----BEGIN") {
        return Ok(v.as_bytes().to_vec());
    }
    let cleaned: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|_| {
            Refusal::with(
                codes::INVALID_INPUT,
                format!("{field} must be PEM text or base64 of DER"),
            )
        })
}

/// `POST /v1/admin/sites/{site}/fairplay`: add a credential
/// `{certificate, private_key, key_passphrase?, ask, label?}`.
pub async fn add_fairplay(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let req: AddFairPlay = json_body(body)?;
            let cert = pem_or_base64("certificate", &req.certificate)?;
            let key = zeroize::Zeroizing::new(pem_or_base64("private_key", &req.private_key)?);
            let (new, _) = crate::resources::fairplay::prepare_credential(
                site_id(&id)?,
                &cert,
                &key,
                req.key_passphrase.as_deref().map(str::as_bytes),
                req.ask.as_bytes(),
                req.label,
            )?;
            let info = s
                .stores()
                .fairplay
                .add_fairplay_credential(new)
                .await
                .map_err(Refusal::from_admin_store)?;
            s.invalidate(&id);
            json(
                StatusCode::CREATED,
                &crate::resources::fairplay::credential_json(&info),
            )
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/sites/{site}/fairplay/{cert_hash}`.
pub async fn remove_fairplay(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path((id, hash)) = path.map_err(|e| path_error(&e))?;
            let mut h = [0u8; 20];
            hex::decode_to_slice(&hash, &mut h).map_err(|_| {
                Refusal::with(
                    codes::INVALID_INPUT,
                    "cert_hash must be 40 hex digits (the SHA-1 of the certificate)",
                )
            })?;
            s.stores()
                .fairplay
                .remove_fairplay_credential(&site_id(&id)?, &h)
                .await
                .map_err(Refusal::from_admin_store)?;
            s.invalidate(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUpstream {
    name: String,
    drm: keyward_store::Drm,
    kind: String,
    url: String,
    #[serde(default = "empty_object")]
    settings: serde_json::Value,
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
    position: Option<u32>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// `GET /v1/admin/sites/{site}/upstreams[?drm=]`: the site's licence
/// upstreams, in order per DRM (secret names only, never values).
pub async fn list_upstreams(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let drm =
                match query_param(uri.query(), "drm") {
                    None => None,
                    Some(d) => Some(d.parse::<keyward_store::Drm>().map_err(|e| {
                        Refusal::from_admin_store(keyward_store::StoreError::from(e))
                    })?),
                };
            let infos = s
                .stores()
                .upstreams
                .upstream_infos(&site_id(&id)?, drm)
                .await
                .map_err(Refusal::from_admin_store)?;
            json(StatusCode::OK, &infos)
        }
        .await,
        &headers,
    )
}

/// `POST /v1/admin/sites/{site}/upstreams`: add an upstream
/// `{name, drm, kind, url, settings?, secrets?, position?}`.
pub async fn add_upstream(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let req: AddUpstream = json_body(body)?;
            let names: Vec<&str> = req.secrets.keys().map(String::as_str).collect();
            crate::backdoor::upstream::validate(&req.kind, req.drm, &req.settings, &names)?;
            let mut secrets = std::collections::BTreeMap::new();
            for (k, v) in req.secrets {
                secrets.insert(
                    k,
                    keyward_store::UpstreamSecret::new(v).map_err(Refusal::from_admin_store)?,
                );
            }
            let info = s
                .stores()
                .upstreams
                .add_upstream(keyward_store::NewUpstream {
                    site_id: site_id(&id)?,
                    drm: req.drm,
                    name: req.name,
                    kind: req.kind,
                    url: req.url,
                    settings: req.settings,
                    secrets,
                    position: req.position,
                })
                .await
                .map_err(Refusal::from_admin_store)?;
            s.invalidate(&id);
            json(StatusCode::CREATED, &info)
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/sites/{site}/upstreams/{name}`.
pub async fn get_upstream(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path((id, name)) = path.map_err(|e| path_error(&e))?;
            let u = s
                .stores()
                .upstreams
                .upstream(&site_id(&id)?, &name)
                .await
                .map_err(Refusal::from_admin_store)?;
            let mut v =
                serde_json::to_value(u.info()).map_err(|e| Refusal::internal(e.to_string()))?;
            let (failures, open) = s.upstreams().breaker_state(&id, &name);
            v["breaker"] = serde_json::json!({"consecutive_failures": failures, "open": open});
            json(StatusCode::OK, &v)
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/sites/{site}/upstreams/{name}`.
pub async fn remove_upstream(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path((id, name)) = path.map_err(|e| path_error(&e))?;
            s.stores()
                .upstreams
                .remove_upstream(&site_id(&id)?, &name)
                .await
                .map_err(Refusal::from_admin_store)?;
            s.invalidate(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPackager {
    name: String,
    kind: keyward_store::PackagerKind,
    cid_prefix: Option<String>,
    /// Widevine signer: AES-256 key, 64 hex digits.
    aes_key: Option<String>,
    /// Widevine signer: IV, 32 hex digits.
    aes_iv: Option<String>,
}

/// `GET /v1/admin/sites/{site}/packagers`: the site's packager credentials (no secrets).
pub async fn list_packagers(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let sid = site_id(&id)?;
            s.stores()
                .sites
                .site(&sid)
                .await
                .map_err(Refusal::from_admin_store)?;
            let infos = s
                .stores()
                .packagers
                .list_packagers(Some(&sid))
                .await
                .map_err(Refusal::from_admin_store)?;
            json(StatusCode::OK, &infos)
        }
        .await,
        &headers,
    )
}

/// `POST /v1/admin/sites/{site}/packagers`: add a credential
/// `{name, kind: "widevine"|"api-key", cid_prefix?, aes_key?, aes_iv?}`. An
/// API key is generated and shown once, in `api_key`.
pub async fn add_packager(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let req: AddPackager = json_body(body)?;
            let secret = match (req.kind, req.aes_key, req.aes_iv) {
                (keyward_store::PackagerKind::Widevine, Some(k), Some(iv)) => {
                    keyward_store::PackagerSecret::Widevine {
                        aes_key: zeroize::Zeroizing::new(hex_n::<32>("aes_key", &k)?),
                        aes_iv: hex_n::<16>("aes_iv", &iv)?,
                    }
                }
                (keyward_store::PackagerKind::Widevine, _, _) => return Err(Refusal::with(
                    codes::INVALID_INPUT,
                    "A widevine signer needs aes_key (64 hex digits) and aes_iv (32 hex digits)",
                )),
                (keyward_store::PackagerKind::ApiKey, None, None) => {
                    keyward_store::PackagerSecret::generate_api_key()?
                }
                (keyward_store::PackagerKind::ApiKey, _, _) => return Err(Refusal::with(
                    codes::INVALID_INPUT,
                    "An api-key credential takes no aes_key or aes_iv: keyward generates its key",
                )),
            };
            let api_key = secret.api_key_text(&req.name);
            let info = s
                .stores()
                .packagers
                .add_packager(keyward_store::NewPackager {
                    name: req.name,
                    site_id: site_id(&id)?,
                    cid_prefix: req.cid_prefix,
                    secret,
                })
                .await
                .map_err(Refusal::from_admin_store)?;
            let mut v =
                serde_json::to_value(&info).map_err(|e| Refusal::internal(e.to_string()))?;
            if let Some(k) = api_key {
                v["api_key"] = serde_json::Value::String(k);
            }
            json(StatusCode::CREATED, &v)
        }
        .await,
        &headers,
    )
}

/// `GET /v1/admin/packagers/{name}`.
pub async fn get_packager(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(name) = name.map_err(|e| path_error(&e))?;
            let p = s
                .stores()
                .packagers
                .packager(&name)
                .await
                .map_err(Refusal::from_admin_store)?;
            json(StatusCode::OK, &p.info())
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/packagers/{name}`: revoke a credential.
pub async fn remove_packager(
    State(s): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(name) = name.map_err(|e| path_error(&e))?;
            s.stores()
                .packagers
                .remove_packager(&name)
                .await
                .map_err(Refusal::from_admin_store)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetKeySeed {
    /// The seed, base64 (at least 30 bytes; the first 30 are used).
    key_seed: String,
}

/// `PUT /v1/admin/sites/{site}/key-seed` `{"key_seed": "<base64>"}`: new keys of
/// the site are derived from it (PlayReady key seed). Never shown back.
pub async fn set_key_seed(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            let req: SetKeySeed = json_body(body)?;
            let bytes = zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(req.key_seed.trim())
                    .map_err(|_| Refusal::with(codes::INVALID_INPUT, "key_seed is not base64"))?,
            );
            let seed =
                keyward_store::KeySeed::from_slice(&bytes).map_err(Refusal::from_admin_store)?;
            s.stores()
                .packagers
                .set_key_seed(&site_id(&id)?, Some(seed))
                .await
                .map_err(Refusal::from_admin_store)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}

/// `DELETE /v1/admin/sites/{site}/key-seed`: new keys are random again.
pub async fn clear_key_seed(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    native(
        async {
            let Path(id) = id.map_err(|e| path_error(&e))?;
            s.stores()
                .packagers
                .set_key_seed(&site_id(&id)?, None)
                .await
                .map_err(Refusal::from_admin_store)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
        &headers,
    )
}
