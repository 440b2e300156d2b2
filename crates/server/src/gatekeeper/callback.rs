//! PallyCon callback integration: the player sends encrypted auth data instead
//! of a token, and keyward asks the site's own callback page whether the user
//! may play and with which rights (pallycon.md §5).
//!
//! The call: POST form `data=base64(AES(site key, {user_id, cid, oid, nonce,
//! drm_type}))` with a fresh random nonce; the answer is base64(AES(JSON)) with
//! `error_code` ("0000" = allow), `error_message`, optional `response_user_id`,
//! the v1 `playback_policy` / `security_policy` / `external_key`, and the echoed
//! `nonce`. The answer becomes an [`Entitlement`] exactly as a token's policy.
//!
//! What production needs around it: a timeout (site setting, default 3 s), a
//! bound on concurrent calls per site, a circuit breaker (after N consecutive
//! failures fail fast for T seconds, then let one probe through), an optional
//! short cache of positive answers, and a fallback decision while the callback
//! is down (default deny). Redirects are not followed; answers over 64 KiB are
//! refused. The URL comes from the site's configuration, never from a request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward_store::CallbackFallback;
use keyward_token::{AuthData, Policy, SdkCode, Timestamp};
use serde_json::{Map, Value};

use crate::codes;
use crate::entitlement::{Entitlement, Origin};
use crate::frontdoor::pallycon::translate;
use crate::refusal::Refusal;
use crate::resources::callbacks::{Callbacks, Gate};
use crate::resources::sites::SiteEntry;

/// Largest callback answer read, bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Whether a failure means "the callback is down" (breaker, fallback) rather
/// than a decision or a broken answer.
fn is_outage(e: &Refusal) -> bool {
    e.is(codes::CALLBACK_UNREACHABLE)
}

/// Decides a callback-mode request.
///
/// `http` is the application's one outbound client (no redirects followed),
/// shared with the session webhook.
pub async fn decide(
    callbacks: &Callbacks,
    http: Option<&reqwest::Client>,
    site: &SiteEntry,
    auth: &AuthData,
) -> Result<Entitlement, Refusal> {
    let settings = &site.settings.callback;
    let Some(url) = site.settings.callback_url.as_deref() else {
        return Err(Refusal::with(
            codes::CALLBACK_NOT_CONFIGURED,
            "Callback auth data received, but this site has no callback URL configured",
        ));
    };
    let site_id = auth.site_id.as_str();
    let sc = callbacks.site(site_id, settings);
    let cache_key = (
        auth.user_id.clone(),
        auth.cid.clone(),
        auth.drm_type.as_str().to_owned(),
    );
    if settings.cache_ttl_secs > 0 {
        let cache = sc.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, ent)) = cache.get(&cache_key) {
            if at.elapsed() < Duration::from_secs(u64::from(settings.cache_ttl_secs)) {
                tracing::debug!(site = site_id, "callback answer from cache");
                return Ok((**ent).clone());
            }
        }
    }
    let result = match sc.gate() {
        Gate::Open(left) => Err(Refusal::with(
            codes::CALLBACK_UNREACHABLE,
            format!(
                "Callback circuit open after repeated failures: failing fast for {} s more",
                left.as_secs().max(1)
            ),
        )),
        gate => {
            let timeout = Duration::from_millis(u64::from(settings.timeout_ms));
            let outcome = match tokio::time::timeout(timeout, sc.permits.acquire()).await {
                Err(_) | Ok(Err(_)) => Err(Refusal::with(
                    codes::CALLBACK_UNREACHABLE,
                    "Too many callbacks in flight for this site; none finished within the timeout",
                )),
                Ok(Ok(_permit)) => call(http, site, url, auth, timeout).await,
            };
            let healthy = match &outcome {
                Ok(_) => true,
                Err(e) => {
                    !is_outage(e)
                        && !e.is(codes::CALLBACK_BAD_ANSWER)
                        && !e.is(codes::CALLBACK_NONCE)
                }
            };
            sc.record(site_id, healthy, settings);
            if matches!(gate, Gate::Probe) {
                tracing::info!(site = site_id, ok = healthy, "callback circuit probe");
            }
            outcome
        }
    };
    match result {
        Ok(ent) => {
            if settings.cache_ttl_secs > 0 {
                let mut cache = sc.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() > 50_000 {
                    cache.clear();
                }
                cache.insert(cache_key, (Instant::now(), Arc::new(ent.clone())));
            }
            Ok(ent)
        }
        Err(e) if is_outage(&e) && settings.fallback == CallbackFallback::Allow => {
            tracing::warn!(site = site_id, reason = %e.message, "callback down: fallback allow");
            let policy = Policy::new().playback(
                keyward_token::PlaybackPolicy::default()
                    .persistent(false)
                    .license_duration(u64::from(settings.fallback_license_duration_secs)),
            );
            Ok(translate(
                Origin::CallbackFallback,
                site_id,
                &auth.user_id,
                &auth.cid,
                auth.drm_type,
                &policy,
            ))
        }
        Err(e) => Err(e),
    }
}

async fn call(
    http: Option<&reqwest::Client>,
    site: &SiteEntry,
    url: &str,
    auth: &AuthData,
    timeout: Duration,
) -> Result<Entitlement, Refusal> {
    let client = http.ok_or_else(|| Refusal::internal("the HTTP client could not be built"))?;
    let nonce = {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    };
    let mut req = Map::new();
    req.insert("user_id".into(), Value::String(auth.user_id.clone()));
    req.insert("cid".into(), Value::String(auth.cid.clone()));
    if let Some(oid) = &auth.oid {
        req.insert("oid".into(), Value::String(oid.clone()));
    }
    req.insert("nonce".into(), Value::String(nonce.clone()));
    req.insert(
        "drm_type".into(),
        Value::String(auth.drm_type.as_str().into()),
    );
    let data = site
        .creds
        .site_key
        .encrypt_b64(Value::Object(req).to_string().as_bytes());
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("data", &data)
        .finish();
    let down = |m: String| Refusal::with(codes::CALLBACK_UNREACHABLE, m);
    let send = client
        .post(url)
        .header(
            "user-agent",
            concat!("keyward/", env!("CARGO_PKG_VERSION"), " callback"),
        )
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(form)
        .timeout(timeout)
        .send();
    let mut resp = send.await.map_err(|e| {
        if e.is_timeout() {
            down(format!(
                "Callback did not answer within {} ms",
                timeout.as_millis()
            ))
        } else {
            down("Callback URL could not be reached".into())
        }
    })?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(down(format!(
            "Callback answered with a redirect (HTTP {}); redirects are not followed",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        return Err(down(format!("Callback answered HTTP {}", status.as_u16())));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(Refusal::with(
                        codes::CALLBACK_BAD_ANSWER,
                        format!("Callback answer is larger than {MAX_ANSWER_BYTES} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Err(down(format!(
                    "Callback did not finish within {} ms",
                    timeout.as_millis()
                )))
            }
            Err(_) => {
                return Err(down(
                    "Callback connection failed while reading the answer".into(),
                ))
            }
        }
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| Refusal::with(codes::CALLBACK_BAD_ANSWER, "Callback answer is not text"))?
        .trim();
    let plain = site.creds.site_key.decrypt_b64(text).ok_or_else(|| {
        Refusal::with(
            codes::CALLBACK_BAD_ANSWER,
            "Callback answer does not decrypt with the site key",
        )
    })?;
    let answer: Value = serde_json::from_slice(&plain)
        .map_err(|_| Refusal::with(codes::CALLBACK_BAD_ANSWER, "Callback answer is not JSON"))?;
    interpret(auth, &nonce, &answer)
}

/// Turns a decrypted callback answer into an entitlement or the vendor's code.
pub fn interpret(auth: &AuthData, nonce: &str, answer: &Value) -> Result<Entitlement, Refusal> {
    let bad = |m: &str| {
        Refusal::with(
            codes::CALLBACK_BAD_ANSWER,
            format!("Invalid callback answer: {m}"),
        )
    };
    let Value::Object(a) = answer else {
        return Err(bad("not a JSON object"));
    };
    let code = match a.get("error_code") {
        Some(Value::String(c)) => c.as_str(),
        Some(_) => return Err(bad("error_code is not a string")),
        None => return Err(bad("error_code is missing")),
    };
    let message = match a.get("error_message") {
        None | Some(Value::Null) => "",
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return Err(bad("error_message is not a string")),
    };
    if code != "0000" {
        let mut j = crate::json::JsonOut::object();
        j.str("ERROR", code);
        j.str("MESSAGE", message);
        return Err(Refusal::with(codes::CALLBACK_DENIED, j.finish()));
    }
    match a.get("nonce") {
        Some(Value::String(n)) if n == nonce => {}
        _ => {
            return Err(Refusal::with(
                codes::CALLBACK_NONCE,
                "Callback answer has a missing or wrong nonce",
            ))
        }
    }
    let user_id = match a.get("response_user_id") {
        None | Some(Value::Null) => auth.user_id.clone(),
        Some(Value::String(u)) if !u.is_empty() && u.len() <= 1024 => u.clone(),
        Some(_) => return Err(bad("response_user_id is not a non-empty string")),
    };
    let Some(pb) = a.get("playback_policy") else {
        return Err(bad("playback_policy is missing"));
    };
    let Value::Object(pbo) = pb else {
        return Err(Refusal::with(
            codes::CALLBACK_PERIOD,
            "Invalid playback period: playback_policy is not an object",
        ));
    };
    const V2_ONLY: [&str; 6] = [
        "license_duration",
        "rental_duration",
        "playback_duration",
        "allowed_track_types",
        "max_stream_per_user",
        "renewal_duration",
    ];
    if a.contains_key("policy_version") || V2_ONLY.iter().any(|k| pbo.contains_key(*k)) {
        return Err(Refusal::with(codes::CALLBACK_PERIOD, "Invalid playback period: the callback answered a v2 policy where the v1 shape (limit, persistent, duration, expire_date) is expected"));
    }
    // The three policy members in the v1 shape: read by the same parser as a
    // legacy token policy, so both become the same Entitlement.
    let mut v1 = Map::new();
    for k in ["playback_policy", "security_policy", "external_key"] {
        if let Some(v) = a.get(k).filter(|v| !v.is_null()) {
            v1.insert(k.into(), v.clone());
        }
    }
    let policy =
        Policy::from_received_json(Value::Object(v1).to_string().as_bytes()).map_err(|e| {
            let (code, prefix) = match e.code() {
                SdkCode::ExpireDate => (
                    codes::CALLBACK_PERIOD_FORMAT,
                    "Invalid playback period format",
                ),
                SdkCode::LicenseDuration | SdkCode::Persistent | SdkCode::PlaybackPolicyType => {
                    (codes::CALLBACK_PERIOD, "Invalid playback period")
                }
                SdkCode::NcgControlHdcp => (codes::CALLBACK_HDCP, "Invalid HDCP value"),
                _ => (codes::CALLBACK_BAD_ANSWER, "Invalid callback answer"),
            };
            Refusal::with(code, format!("{prefix}: {}", e.message()))
        })?;
    if let Some(exp) = policy.playback.as_ref().and_then(|p| p.expire_date) {
        if Timestamp::now() > exp {
            return Err(Refusal::with(
                codes::CALLBACK_PERIOD_OVER,
                format!("Playback period is over: expire_date {exp} has passed"),
            ));
        }
    }
    Ok(translate(
        Origin::Callback,
        auth.site_id.as_str(),
        &user_id,
        &auth.cid,
        auth.drm_type,
        &policy,
    ))
}
