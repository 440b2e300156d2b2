//! `http-forward`: a generic licence server (the tenant's own, typically) that
//! takes the raw challenge by HTTP POST and answers the licence bytes. Serves
//! Widevine and PlayReady (FairPlay has `fairplay-ksm`).
//!
//! The challenge goes as it came: `application/octet-stream` for Widevine;
//! `text/xml; charset=utf-8` with the AcquireLicense `SOAPAction` for
//! PlayReady. Besides the route's headers and secrets, keyward can vouch for
//! its decision with a short-lived JWT the tenant's server verifies:
//!
//! * `jwt: true` signs one per request, HS256, with the upstream's private
//!   secret `keyward-jwt-key` (at least 32 characters; its bytes as written
//!   are the HMAC key; secrets named `keyward-…` are never sent as headers);
//! * it travels in `Authorization: Bearer <jwt>`, or bare in the header
//!   `jwt_header` names;
//! * claims: `iss` `keyward`, `iat`, `exp` (60 s later), `jti` (a UUID), and
//!   the entitlement — `site`, `sub`, `cid`, `drm`, `origin`, `kids` (the key
//!   ids keyward releases, never keys), `tracks`, `key_source`, `timing`,
//!   `output` (the DRM's own rules per track), `stream_limit` — plus
//!   `challenge_sha256` (base64url) binding the token to this challenge
//!   ([`claims`]).
//!
//! Ed25519 signatures are not offered.
//!
//! Answers: 2xx with a body is the licence, relayed byte for byte with the
//! upstream's media type when it is one of a safe set ([`relayed_type`]),
//! else `application/octet-stream`; for PlayReady a SOAP fault is 7207 as for
//! kind `playready` (relayed on native paths); anything else is
//! `upstream_refused` with the status.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use keyward_drm::playready::LicenseAnswer;
use keyward_store::{Drm, Upstream};
use keyward_token::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::playready::{fault_refusal, soap_out};
use super::Kind;
use crate::backdoor::Licence;
use crate::codes;
use crate::entitlement::{
    Cgms, Entitlement, Hdcp, KeySource, Origin, PlayReadyOutput, WidevineOutput,
};
use crate::refusal::Refusal;
use crate::resources::upstreams::{header_name_ok, Answered, Outgoing, Route};

/// The kind.
pub struct HttpForward;

/// The private secret holding the HS256 key.
pub const JWT_KEY_SECRET: &str = "keyward-jwt-key";

/// Shortest HS256 key, bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_JWT_KEY: usize = 32;

/// How long a JWT is valid, seconds.
pub const JWT_LIFETIME: i64 = 60;

/// The kind's own settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Sign a JWT per request with the secret [`JWT_KEY_SECRET`].
    pub jwt: bool,
    /// The header that carries it (default `Authorization`, as `Bearer <jwt>`;
    /// another header carries the bare JWT).
    pub jwt_header: Option<String>,
}

fn settings(v: &serde_json::Map<String, Value>) -> Settings {
    serde_json::from_value(Value::Object(v.clone())).unwrap_or_default()
}

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::PallyConToken => "pallycon-token",
        Origin::Callback => "callback",
        Origin::CallbackFallback => "callback-fallback",
        Origin::ExpressPlay => "expressplay",
        Origin::Studio => "studio",
    }
}

fn hdcp(h: Hdcp) -> &'static str {
    match h {
        Hdcp::None => "none",
        Hdcp::V1 => "1",
        Hdcp::V2 => "2.0",
        Hdcp::V2_1 => "2.1",
        Hdcp::V2_2 => "2.2",
        Hdcp::V2_3 => "2.3",
        Hdcp::NoDigitalOutput => "no-digital-output",
    }
}

fn cgms(c: Cgms) -> &'static str {
    match c {
        Cgms::None => "none",
        Cgms::CopyFree => "copy-free",
        Cgms::CopyOnce => "copy-once",
        Cgms::CopyNever => "copy-never",
    }
}

fn playready_rule(r: &PlayReadyOutput) -> Value {
    json!({
        "security_level": r.security_level,
        "digital_video_opl": r.digital_video_opl,
        "analog_video_opl": r.analog_video_opl,
        "digital_audio_opl": r.digital_audio_opl,
        "hdcp_type1": r.hdcp_type1,
        "license_cipher": r.license_cipher,
    })
}

fn widevine_rule(r: &WidevineOutput) -> Value {
    json!({
        "security_level": r.security_level,
        "hdcp": r.hdcp.map(hdcp),
        "cgms": r.cgms.map(cgms),
        "disable_analog_output": r.disable_analog_output,
        "hdcp_srm_current": r.hdcp_srm_current,
        "override_device_revocation": r.override_device_revocation,
        "license_cipher": r.license_cipher,
        "allow_test_device": r.allow_test_device,
    })
}

/// The JWT claims for one request (see the module docs). Times are Unix
/// seconds; absent limits are `null`.
pub fn claims(ent: &Entitlement, challenge: &[u8], now: Timestamp, jti: &str) -> Value {
    let kids: Vec<String> = ent
        .keys
        .cenc
        .iter()
        .chain(ent.keys.hls.iter())
        .filter(|k| ent.keys.tracks.permits(k.track_type))
        .filter_map(|k| k.kid.map(|kid| kid.to_uuid_string()))
        .fold(Vec::new(), |mut v, k| {
            if !v.contains(&k) {
                v.push(k);
            }
            v
        });
    let t = &ent.timing;
    let output: Vec<Value> = ent
        .output
        .tracks
        .iter()
        .filter_map(|p| {
            let rule = match ent.drm {
                Drm::PlayReady => p.playready.as_ref().map(playready_rule),
                Drm::Widevine => p.widevine.as_ref().map(widevine_rule),
                _ => None,
            }?;
            Some(json!({"track": p.track.map(|t| t.to_string()), "rule": rule}))
        })
        .collect();
    json!({
        "iss": "keyward",
        "iat": now.unix(),
        "exp": now.unix() + JWT_LIFETIME,
        "jti": jti,
        "site": ent.site_id,
        "sub": ent.subject,
        "cid": ent.content_id,
        "drm": ent.drm.as_str(),
        "origin": origin(ent.origin),
        "kids": kids,
        "tracks": ent.keys.tracks.to_string(),
        "key_source": match ent.keys.source {
            KeySource::CarriedThenStore => "carried-then-store",
            KeySource::CarriedOnly => "carried-only",
        },
        "timing": {
            "start": t.start.map(Timestamp::unix),
            "expire_at": t.expire_at.map(Timestamp::unix),
            "license_duration": t.license_duration,
            "rental_duration": t.rental_duration,
            "playback_duration": t.playback_duration,
            "persistent": t.persistent,
            "can_renew": t.can_renew,
            "renewal_interval": t.renewal_interval,
        },
        "output": output,
        "stream_limit": ent.stream_limit,
        "challenge_sha256": URL_SAFE_NO_PAD.encode(Sha256::digest(challenge)),
    })
}

/// A compact JWS, HS256.
///
/// # Errors
/// A key shorter than [`MIN_JWT_KEY`] bytes.
pub fn hs256(key: &[u8], claims: &Value) -> Result<String, String> {
    if key.len() < MIN_JWT_KEY {
        return Err(format!(
            "the {JWT_KEY_SECRET} secret is shorter than {MIN_JWT_KEY} bytes"
        ));
    }
    sign(
        HsAlg::Hs256,
        &json!({"alg": "HS256", "typ": "JWT"}),
        claims,
        key,
    )
}

/// An HMAC JWS algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum HsAlg {
    /// HMAC-SHA-256.
    #[default]
    #[serde(rename = "HS256")]
    Hs256,
    /// HMAC-SHA-384.
    #[serde(rename = "HS384")]
    Hs384,
    /// HMAC-SHA-512.
    #[serde(rename = "HS512")]
    Hs512,
}

impl HsAlg {
    /// Its `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            HsAlg::Hs256 => "HS256",
            HsAlg::Hs384 => "HS384",
            HsAlg::Hs512 => "HS512",
        }
    }
}

/// A compact JWS of any JOSE header (which must name `alg`) and claims,
/// signed with HMAC; no key-length rule (the caller's).
///
/// # Errors
/// An empty key.
pub fn sign(alg: HsAlg, header: &Value, claims: &Value, key: &[u8]) -> Result<String, String> {
    if key.is_empty() {
        return Err("the signing key is empty".into());
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let tag = match alg {
        HsAlg::Hs256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        HsAlg::Hs384 => {
            let mut mac = Hmac::<sha2::Sha384>::new_from_slice(key).map_err(|e| e.to_string())?;
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        HsAlg::Hs512 => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).map_err(|e| e.to_string())?;
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag)))
}

/// The JWT header of an upstream, when it signs one: (name, value).
fn jwt_header(
    upstream: &Upstream,
    s: &Settings,
    claims: impl FnOnce() -> Value,
) -> Result<Option<(String, String)>, String> {
    if !s.jwt {
        return Ok(None);
    }
    let key = upstream
        .secrets
        .get(JWT_KEY_SECRET)
        .ok_or_else(|| format!("the {JWT_KEY_SECRET} secret is missing"))?;
    let jwt = hs256(key.expose().as_bytes(), &claims())?;
    Ok(Some(match s.jwt_header.as_deref() {
        None => ("Authorization".into(), format!("Bearer {jwt}")),
        Some(name) => (name.to_owned(), jwt),
    }))
}

/// The raw challenge of a DRM, with its media type (and PlayReady's
/// SOAPAction).
fn challenge_out(drm: Drm, challenge: &[u8]) -> Outgoing {
    match drm {
        Drm::PlayReady => soap_out(challenge.to_vec()),
        _ => Outgoing::new(challenge.to_vec(), "application/octet-stream"),
    }
}

/// The media type a licence is relayed with: the upstream's when it is one of
/// `application/octet-stream`, `application/json`, `application/xml`,
/// `text/xml` (UTF-8), `text/plain` (UTF-8); else `application/octet-stream`.
pub fn relayed_type(upstream: Option<&str>) -> &'static str {
    let Some(t) = upstream else {
        return "application/octet-stream";
    };
    let mut parts = t.split(';').map(|p| p.trim().to_ascii_lowercase());
    let essence = parts.next().unwrap_or_default();
    let utf8 = parts.all(|p| {
        !p.starts_with("charset=") || matches!(p.as_str(), "charset=utf-8" | "charset=\"utf-8\"")
    });
    match essence.as_str() {
        "application/json" => "application/json",
        "application/xml" => "application/xml",
        "text/xml" if utf8 => "text/xml; charset=utf-8",
        "text/plain" if utf8 => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Kind for HttpForward {
    fn name(&self) -> &'static str {
        "http-forward"
    }

    fn serves(&self, drm: Drm) -> bool {
        matches!(drm, Drm::Widevine | Drm::PlayReady)
    }

    fn validate(
        &self,
        extra: &serde_json::Map<String, Value>,
        secret_names: &[&str],
    ) -> Result<(), String> {
        let s: Settings = serde_json::from_value(Value::Object(extra.clone()))
            .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))?;
        let has_key = secret_names.contains(&JWT_KEY_SECRET);
        if s.jwt && !has_key {
            return Err(format!(
                "settings.jwt needs the secret {JWT_KEY_SECRET} (the HS256 key, at least {MIN_JWT_KEY} characters; never sent)"
            ));
        }
        if !s.jwt && (has_key || s.jwt_header.is_some()) {
            return Err(format!(
                "the secret {JWT_KEY_SECRET} and settings.jwt_header need settings.jwt: true"
            ));
        }
        if let Some(h) = &s.jwt_header {
            if !header_name_ok(h) {
                return Err("settings.jwt_header: a header name (A-Z a-z 0-9 - _)".into());
            }
        }
        let header = s.jwt_header.as_deref().unwrap_or("Authorization");
        if s.jwt && secret_names.iter().any(|n| n.eq_ignore_ascii_case(header)) {
            return Err(format!(
                "settings.jwt_header: the JWT goes in {header}, which a secret also names"
            ));
        }
        super::refuse_unused_private_secrets("http-forward", secret_names, &[JWT_KEY_SECRET])?;
        Ok(())
    }

    fn build(
        &self,
        route: &Route,
        ent: &Entitlement,
        _stored: &[keyward_store::ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal> {
        let mut out = challenge_out(ent.drm, challenge);
        let s = settings(&route.settings.extra);
        let header = jwt_header(&route.upstream, &s, || {
            claims(
                ent,
                challenge,
                Timestamp::now(),
                &uuid::Uuid::new_v4().to_string(),
            )
        })
        .map_err(|why| Refusal::internal(format!("upstream {}: {why}", route.label())))?;
        out.headers.extend(header);
        Ok(out)
    }

    fn judge(&self, route: &Route, ent: &Entitlement, a: Answered) -> Result<Licence, Refusal> {
        if ent.drm == Drm::PlayReady {
            if let Some(LicenseAnswer::Fault(f)) = LicenseAnswer::read(&a.body) {
                return Err(fault_refusal(route, a, &f));
            }
        }
        let refused = |why: String| {
            Refusal::with(codes::UPSTREAM_REFUSED, why.clone())
                .log(format!("upstream {}: {why}", route.label()))
        };
        if !(200..300).contains(&a.status) {
            return Err(refused(format!(
                "The licence upstream answered HTTP {}",
                a.status
            )));
        }
        if a.body.is_empty() {
            return Err(refused(format!(
                "The licence upstream answered HTTP {} without a licence",
                a.status
            )));
        }
        Ok(Licence::new(
            relayed_type(a.content_type.as_deref()),
            a.body,
        ))
    }

    /// An empty challenge of the upstream's DRM, with a JWT whose claims say
    /// `probe: true` (and name no subject, content or key) when it signs
    /// them: a refusal back shows it is reachable and checks its input.
    fn probe(&self, upstream: &Upstream) -> Outgoing {
        let mut out = challenge_out(upstream.drm, &[]);
        let s = upstream
            .settings
            .as_object()
            .map(settings)
            .unwrap_or_default();
        let now = Timestamp::now().unix();
        let header = jwt_header(upstream, &s, || {
            json!({
                "iss": "keyward", "iat": now, "exp": now + JWT_LIFETIME,
                "jti": uuid::Uuid::new_v4().to_string(),
                "site": upstream.site_id.as_str(), "drm": upstream.drm.as_str(), "probe": true,
            })
        });
        // A key that cannot sign: the probe goes without (the answer shows it).
        if let Ok(Some(h)) = header {
            out.headers.push(h);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn relayed_types_are_a_safe_set() {
        for (given, want) in [
            (None, "application/octet-stream"),
            (Some("application/octet-stream"), "application/octet-stream"),
            (Some("application/json; charset=utf-8"), "application/json"),
            (Some("Text/XML; charset=UTF-8"), "text/xml; charset=utf-8"),
            (Some("text/xml"), "text/xml; charset=utf-8"),
            (Some("text/xml; charset=utf-16"), "application/octet-stream"),
            (Some("text/plain"), "text/plain; charset=utf-8"),
            (Some("application/xml"), "application/xml"),
            (Some("text/html"), "application/octet-stream"),
            (Some("image/svg+xml"), "application/octet-stream"),
        ] {
            assert_eq!(relayed_type(given), want, "{given:?}");
        }
    }

    #[test]
    fn hs256_matches_rfc7515_shape_and_refuses_short_keys() {
        let key = [7u8; 32];
        let jwt = hs256(&key, &json!({"a": 1})).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[0]).unwrap(),
            br#"{"alg":"HS256","typ":"JWT"}"#
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .unwrap();
        assert!(hs256(&[7u8; 31], &json!({})).is_err());
    }

    #[test]
    fn settings_are_checked() {
        let k = HttpForward;
        let v = |j: Value| j.as_object().unwrap().clone();
        assert!(k.validate(&v(json!({})), &["Authorization"]).is_ok());
        assert!(k
            .validate(&v(json!({"jwt": true})), &[JWT_KEY_SECRET])
            .is_ok());
        assert!(k
            .validate(
                &v(json!({"jwt": true, "jwt_header": "X-Keyward-Jwt"})),
                &[JWT_KEY_SECRET, "Authorization"]
            )
            .is_ok());
        // The key is required, and only with jwt.
        assert!(k.validate(&v(json!({"jwt": true})), &[]).is_err());
        assert!(k.validate(&v(json!({})), &[JWT_KEY_SECRET]).is_err());
        assert!(k.validate(&v(json!({"jwt_header": "X-A"})), &[]).is_err());
        // The JWT's header is its own.
        assert!(k
            .validate(&v(json!({"jwt": true})), &[JWT_KEY_SECRET, "authorization"])
            .is_err());
        assert!(k
            .validate(
                &v(json!({"jwt": true, "jwt_header": "bad header"})),
                &[JWT_KEY_SECRET]
            )
            .is_err());
        assert!(k.validate(&v(json!({"other": 1})), &[]).is_err());
        assert!(k.validate(&v(json!({})), &["keyward-other"]).is_err());
        assert!(k.serves(Drm::Widevine) && k.serves(Drm::PlayReady) && !k.serves(Drm::FairPlay));
    }
}
