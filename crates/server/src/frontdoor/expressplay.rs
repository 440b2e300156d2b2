//! The ExpressPlay front door: `customerAuthenticator` + parameters → a sealed
//! `ExpressPlayToken` in a licence URL; and that token → an [`Entitlement`].
//!
//! The parameter rules and the token format live in
//! [`keyward_token::expressplay`]; this module adds what needs the server:
//! customers (store), the token sealing keys, `^name` key look-ups, quotas,
//! source-address checks, and the ExpressPlay error dialect (html or json).
//!
//! Token sealing keys: `KEYWARD_TOKEN_KEY` (64 hex digits) or
//! `KEYWARD_TOKEN_KEY_FILE`, else `<data dir>/token.key` (generated on first
//! use, mode 0600). `KEYWARD_TOKEN_KEY_PREVIOUS` (comma-separated hex keys)
//! keeps tokens sealed under earlier keys redeemable after a rotation. The
//! keys are loaded once per data directory and kept for the process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_store::customers::hash_authenticator;
use keyward_store::{AuthEnv, Customer, SiteId, StoreError};
use keyward_token::expressplay::{
    self as ep, codes, Environment, ExpressPlayError, KidSpec, Params, TokenDrm, TokenKey,
    TokenPayload, TokenRequest,
};
use keyward_token::{DrmType, Policy, Timestamp, TrackType};
use rand::RngCore as _;

use crate::entitlement::{CarriedKey, Entitlement, Source};
use crate::error::ApiError;
use crate::json::JsonOut;
use crate::state::AppState;

/// The sealing key file in the data directory.
pub const TOKEN_KEY_FILE: &str = "token.key";

/// The status for each code (Table 17: 400 invalid args, 401 auth failed,
/// 404 bad URL, 50x server error).
pub fn status_of(code: i32) -> StatusCode {
    match code {
        codes::AUTH_MISSING
        | codes::AUTH_INVALID
        | codes::ACCOUNT_DISABLED
        | codes::IP_ADDRESS
        | codes::NO_TOKENS
        | codes::INVALID_TOKEN => StatusCode::UNAUTHORIZED,
        codes::WIDEVINE_DISABLED => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A library refusal as an [`ApiError`] with the code's status.
pub fn refusal(e: &ExpressPlayError) -> ApiError {
    ApiError::new(e.code(), status_of(e.code()), e.to_string())
}

trait WithStatus {
    fn with_status(self, s: StatusCode) -> Self;
}

impl WithStatus for ApiError {
    fn with_status(mut self, s: StatusCode) -> Self {
        self.status = s;
        self
    }
}

/// A refusal from a code and details.
pub fn refuse(code: i32, detail: impl Into<String>) -> ApiError {
    refusal(&ExpressPlayError::new(code, detail))
}

/// An internal failure: -2030 with a 500 and a generic message; the detail is logged.
pub fn internal(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        codes::ADMIN,
        StatusCode::INTERNAL_SERVER_ERROR,
        "ExpressPlay Admin error: internal error; the request id identifies it in the server log",
    )
    .with_log(detail)
}

fn store_failure(e: &StoreError) -> ApiError {
    internal(format!("{e} ({})", e.detail().unwrap_or("-")))
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

/// Writes a refusal in the ExpressPlay dialect: `application/json`
/// `{"errorCode":-2018,"errorMessage":"…","requestId":"…"}` or a small
/// `text/html` page carrying the same code and message.
pub fn render_error(e: &ApiError, json: bool, request_id: &str) -> Response {
    let (body, ct) = if json {
        let mut j = JsonOut::object();
        match e.code.parse::<i64>() {
            Ok(n) => j.int("errorCode", n),
            Err(_) => j.str("errorCode", &e.code),
        }
        j.str("errorMessage", &e.message);
        j.str("requestId", request_id);
        (j.finish(), "application/json")
    } else {
        let code = escape_html(&e.code);
        let msg = escape_html(&e.message);
        (
            format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Error {code}</title></head>\
                 <body><h1>Error {code}</h1><p class=\"error-code\">{code}</p>\
                 <p class=\"error-message\">{msg}</p><p class=\"request-id\">{rid}</p></body></html>\n",
                rid = escape_html(request_id)
            ),
            "text/html; charset=utf-8",
        )
    };
    let mut r = (e.status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(&e.code) {
        r.headers_mut().insert("x-keyward-error-code", v);
    }
    r
}

// ---------------------------------------------------------------------------
// Sealing keys
// ---------------------------------------------------------------------------

/// The token sealing keys: the current one first, then previous ones.
#[derive(Debug)]
pub struct TokenKeys {
    keys: Vec<TokenKey>,
}

impl TokenKeys {
    /// Keys from explicit values (tests, tools).
    pub fn new(current: TokenKey, previous: Vec<TokenKey>) -> Self {
        let mut keys = vec![current];
        keys.extend(previous);
        Self { keys }
    }

    /// The sealing key.
    pub fn current(&self) -> &TokenKey {
        &self.keys[0]
    }

    /// Every key that may open a token.
    pub fn all(&self) -> &[TokenKey] {
        &self.keys
    }
}

fn env_text(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var(format!("{name}_FILE"))
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
        })
        .map(|s| s.trim().to_owned())
}

fn generate_key_file(path: &Path) -> Result<(TokenKey, bool), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return TokenKey::from_hex(&text)
                .map(|k| (k, false))
                .ok_or_else(|| format!("{} is not 64 hex digits", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let text = format!("{}\n", hex::encode(raw));
    // Whole or absent after a crash, 0600, never replacing another's key.
    match keyward_store::write_new_private_file(path, text.as_bytes()) {
        Ok(()) => Ok((TokenKey::new(raw), true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => generate_key_file(path),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// Loads the sealing keys for a data directory (see the module docs).
pub fn load_keys(data_dir: &Path) -> Result<TokenKeys, String> {
    let current = match env_text("KEYWARD_TOKEN_KEY") {
        Some(t) => TokenKey::from_hex(&t).ok_or("KEYWARD_TOKEN_KEY must be 64 hex digits")?,
        None => {
            keyward_store::create_private_dir(data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            let (k, generated) = generate_key_file(&data_dir.join(TOKEN_KEY_FILE))?;
            if generated {
                tracing::warn!(
                    path = %data_dir.join(TOKEN_KEY_FILE).display(),
                    "no KEYWARD_TOKEN_KEY given: generated the ExpressPlay token sealing key into the data directory (mode 0600); every server redeeming these tokens needs the same key"
                );
            }
            k
        }
    };
    let mut previous = Vec::new();
    if let Some(list) = env_text("KEYWARD_TOKEN_KEY_PREVIOUS") {
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            previous.push(
                TokenKey::from_hex(part).ok_or(
                    "KEYWARD_TOKEN_KEY_PREVIOUS must be comma-separated 64-hex-digit keys",
                )?,
            );
        }
    }
    Ok(TokenKeys::new(current, previous))
}

type KeyCache = Mutex<HashMap<PathBuf, Arc<TokenKeys>>>;

/// The sealing keys of the state's data directory, loaded once per process.
pub fn keys(state: &AppState) -> Result<Arc<TokenKeys>, ApiError> {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    let dir = state.config().data_dir.clone();
    let cache = CACHE.get_or_init(KeyCache::default);
    let mut map = cache
        .lock()
        .map_err(|_| internal("token key cache poisoned"))?;
    if let Some(k) = map.get(&dir) {
        return Ok(k.clone());
    }
    let k = Arc::new(load_keys(&dir).map_err(internal)?);
    map.insert(dir, k.clone());
    Ok(k)
}

// ---------------------------------------------------------------------------
// Minting
// ---------------------------------------------------------------------------

/// A content key resolved from the key store for a `^name` kid.
pub struct NamedKey {
    /// Key id.
    pub kid: [u8; 16],
    /// Key.
    pub key: [u8; 16],
}

/// Resolves a `^name` kid in the customer's site: the key whose label is
/// `name`, else the key of content `name` (its ALL key, or its only key).
/// Anything else → -4019.
pub async fn resolve_name(
    state: &AppState,
    site: Option<&SiteId>,
    name: &str,
) -> Result<NamedKey, ApiError> {
    let not_found = |why: &str| refuse(codes::KEY_STORAGE, why.to_owned());
    let site = site.ok_or_else(|| not_found("the customer has no key store (site) linked"))?;
    let store = state.store();
    let listed = match store.list_keys(site, None).await {
        Ok(l) => l,
        Err(e) if e.code() == "site_not_found" => {
            return Err(not_found("the customer's site does not exist"))
        }
        Err(e) => return Err(store_failure(&e)),
    };
    let by_label: Vec<_> = listed
        .iter()
        .filter(|k| k.label.as_deref() == Some(name))
        .collect();
    let info = if by_label.len() == 1 {
        by_label[0]
    } else {
        let by_cid: Vec<_> = listed.iter().filter(|k| k.cid == name).collect();
        match by_cid.as_slice() {
            [one] => *one,
            many => many
                .iter()
                .find(|k| k.track_type == keyward_store::TrackType::All)
                .copied()
                .ok_or_else(|| not_found(&format!("no key named '{name}'")))?,
        }
    };
    let rec = store.key_by_kid(site, &info.kid).await.map_err(|e| {
        if e.code() == "key_not_found" {
            not_found(&format!("no key named '{name}'"))
        } else {
            store_failure(&e)
        }
    })?;
    Ok(NamedKey {
        kid: *rec.kid.as_bytes(),
        key: *rec.key.expose(),
    })
}

/// Everything a token request yields: the licence URL, for the handler to answer.
pub async fn mint(
    state: &AppState,
    drm: TokenDrm,
    params: &Params,
    peer: Option<IpAddr>,
) -> Result<String, ApiError> {
    let auth = ep::authenticator(params).map_err(|e| refusal(&e))?;
    let hash = hash_authenticator(auth);
    let (customer, env) = state
        .store()
        .customer_by_authenticator(&hash)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| refuse(codes::AUTH_INVALID, "unknown customerAuthenticator"))?;
    check_customer(&customer, peer)?;
    let now = Timestamp::now().unix();
    let req = TokenRequest::from_params(params, now).map_err(|e| refusal(&e))?;
    if let KidSpec::Name(name) = &req.kid {
        resolve_name(state, customer.settings.site_id.as_ref(), name).await?;
    }
    let keys = keys(state)?;
    // Only a customer with a quota pays for the counter (a database write per
    // token); without one, minting touches the store read-only.
    if customer.settings.token_quota.is_some()
        && !state
            .store()
            .take_customer_token(&customer.customer_id)
            .await
            .map_err(|e| store_failure(&e))?
    {
        return Err(refuse(
            codes::NO_TOKENS,
            format!(
                "the token quota ({}) is used up",
                customer.settings.token_quota.unwrap_or(0)
            ),
        ));
    }
    let env = match env {
        AuthEnv::Test => Environment::Test,
        AuthEnv::Production => Environment::Production,
    };
    let payload = TokenPayload::new(&customer.customer_id, env, drm, &req, now);
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let token = ep::seal(keys.current(), nonce, &payload);
    tracing::info!(
        customer = %customer.customer_id,
        env = env_name(env),
        drm = drm.segment(),
        kid = payload.kid.as_deref().or(payload.key_name.as_deref()).unwrap_or("-"),
        expires_at = payload.expires_at,
        cookie = payload.cookie.as_deref().unwrap_or("-"),
        "expressplay token issued"
    );
    Ok(format!(
        "{}/hms/{}/rights/?ExpressPlayToken={token}",
        state.config().public_base(),
        drm.segment()
    ))
}

fn env_name(env: Environment) -> &'static str {
    match env {
        Environment::Test => "test",
        Environment::Production => "production",
    }
}

fn check_customer(c: &Customer, peer: Option<IpAddr>) -> Result<(), ApiError> {
    if c.settings.disabled {
        return Err(refuse(codes::ACCOUNT_DISABLED, String::new()));
    }
    if !c.settings.allows_ip(peer) {
        return Err(refuse(
            codes::IP_ADDRESS,
            format!(
                "{} may not call the token API",
                peer.map_or_else(|| "an unknown address".to_owned(), |p| p.to_string())
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Redemption
// ---------------------------------------------------------------------------

/// A verified, unexpired token, as the back doors need it.
pub struct Redeemed {
    /// The payload.
    pub payload: TokenPayload,
    /// The entitlement (the same type every front door produces).
    pub entitlement: Entitlement,
    /// The kid and key to release.
    pub kid: [u8; 16],
    /// The key.
    pub key: [u8; 16],
}

/// Opens the token (-4010), checks it was minted for this DRM (-4010) and
/// has not expired (-2002), resolves a `^name` key (-4019), and builds the
/// entitlement. Logs the cookie.
pub async fn redeem(state: &AppState, drm: TokenDrm, token: &str) -> Result<Redeemed, ApiError> {
    let keys = keys(state)?;
    let payload = ep::open(keys.all(), token).map_err(|e| refusal(&e))?;
    tracing::info!(
        customer = %payload.customer,
        drm = drm.segment(),
        kid = payload.kid.as_deref().or(payload.key_name.as_deref()).unwrap_or("-"),
        content_id = payload.content_id.as_deref().unwrap_or("-"),
        cookie = payload.cookie.as_deref().unwrap_or("-"),
        "expressplay redemption"
    );
    if payload.drm != drm {
        return Err(refuse(
            codes::INVALID_TOKEN,
            format!(
                "the token was issued for /hms/{}/rights/",
                payload.drm.segment()
            ),
        ));
    }
    // An expired token is an authentication failure here (401); a bad
    // expirationTime at minting is a bad argument (400).
    payload
        .check_expiry(Timestamp::now().unix())
        .map_err(|e| refusal(&e).with_status(StatusCode::UNAUTHORIZED))?;
    let (kid, key, site) = match (payload.carried_key(), &payload.key_name) {
        (Some((kid, key)), _) => (kid, key, None),
        (None, Some(name)) => {
            let customer = match state.store().customer(&payload.customer).await {
                Ok(c) => c,
                Err(e) if e.code() == "customer_not_found" => {
                    return Err(refuse(codes::KEY_STORAGE, "the customer no longer exists"))
                }
                Err(e) => return Err(store_failure(&e)),
            };
            let site = customer.settings.site_id.clone();
            let k = resolve_name(state, site.as_ref(), name).await?;
            (k.kid, k.key, site)
        }
        (None, None) => return Err(refuse(codes::INVALID_TOKEN, "the token carries no key")),
    };
    let entitlement = entitlement(&payload, site.as_ref(), kid, key);
    Ok(Redeemed {
        payload,
        entitlement,
        kid,
        key,
    })
}

/// The entitlement of a token: no user (the customer stands in), the token's
/// content id, one carried key for all tracks, the licence duration, the
/// rental windows, and the token's expiry as the absolute end.
pub fn entitlement(
    p: &TokenPayload,
    site: Option<&SiteId>,
    kid: [u8; 16],
    key: [u8; 16],
) -> Entitlement {
    let drm = match p.drm {
        TokenDrm::Widevine => DrmType::Widevine,
        TokenDrm::ClearKey => DrmType::ClearKey,
    };
    let mut e = Entitlement::from_policy(
        Source::ExpressPlay,
        site.map_or("", SiteId::as_str),
        &p.customer,
        p.content_id.as_deref().unwrap_or(""),
        drm,
        &Policy::new(),
    );
    e.persistent = false;
    e.license_duration = p.license_duration.filter(|d| *d > 0);
    if let Some(r) = p.rental {
        e.rental_duration = u64::try_from(r.period_end - p.issued_at).ok();
        e.playback_duration = Some(r.play_duration);
    }
    e.cenc_keys = vec![CarriedKey {
        track_type: TrackType::All,
        kid: Some(kid),
        key,
        iv: None,
    }];
    e
}
