//! `fairplay-ksm`: a FairPlay Key Security Module elsewhere (a vendor's, or
//! the tenant's own) that holds the FPS private key: the SPC goes there in the
//! KSM's envelope, the CKC comes back.
//!
//! Settings besides the common ones: `envelope` (`raw` — default —, `form`
//! for `spc=<base64>`, `json` for `{"spc"}`) and `cert_hashes` (SHA-1 hex of
//! the certificates whose SPCs this KSM takes; empty = any). Answers read: the
//! raw CKC, base64 text, `<ckc>…</ckc>`, `{"ckc"}` or Apple's JSON; anything
//! else — a non-2xx status, a vendor error object, bytes that are no CKC — is
//! the upstream's refusal (7324).

use base64::Engine as _;
use keyward_store::{ContentKeyRecord, Drm, Upstream};
use serde::Deserialize;

use super::Kind;
use crate::backdoor::Licence;
use crate::codes;
use crate::entitlement::Entitlement;
use crate::refusal::Refusal;
use crate::resources::upstreams::{Answered, Outgoing, Route};

/// The kind.
pub struct FairPlayKsm;

/// How the KSM wants the SPC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpcEnvelope {
    /// The raw SPC, `application/octet-stream`.
    #[default]
    Raw,
    /// `spc=<url-encoded base64>`, `application/x-www-form-urlencoded`.
    Form,
    /// `{"spc": "<base64>"}`, `application/json`.
    Json,
}

/// The kind's own settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The SPC envelope.
    pub envelope: SpcEnvelope,
    /// Only SPCs for these certificates (SHA-1, hex); empty = any.
    pub cert_hashes: Vec<String>,
}

fn settings(route: &Route) -> Settings {
    serde_json::from_value(serde_json::Value::Object(route.settings.extra.clone()))
        .unwrap_or_default()
}

/// Does this route take SPCs for this certificate? Routes of other kinds
/// (`doverunner`, `axinom`, `drmtoday`: the service holds its certificates)
/// take any.
pub fn takes_cert(route: &Route, hash: &[u8; 20]) -> bool {
    if route.upstream.kind != FairPlayKsm.name() {
        return true;
    }
    let s = settings(route);
    s.cert_hashes.is_empty()
        || s.cert_hashes
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&hex::encode(hash)))
}

/// The SPC in an envelope.
pub fn spc_out(envelope: SpcEnvelope, spc: &[u8], asset_id: Option<&str>) -> Outgoing {
    let b64 = base64::engine::general_purpose::STANDARD.encode(spc);
    match envelope {
        SpcEnvelope::Raw => Outgoing::new(spc.to_vec(), "application/octet-stream"),
        SpcEnvelope::Form => {
            let mut body = format!(
                "spc={}",
                form_urlencoded::byte_serialize(b64.as_bytes()).collect::<String>()
            );
            if let Some(a) = asset_id {
                body.push_str("&assetId=");
                body.extend(form_urlencoded::byte_serialize(a.as_bytes()));
            }
            Outgoing::new(body.into_bytes(), "application/x-www-form-urlencoded")
        }
        SpcEnvelope::Json => {
            let mut v = serde_json::json!({ "spc": b64 });
            if let Some(a) = asset_id {
                v["assetId"] = serde_json::Value::String(a.to_owned());
            }
            Outgoing::new(v.to_string().into_bytes(), "application/json")
        }
    }
}

/// The CKC in a KSM's answer (see the module docs).
///
/// # Errors
/// 7324 with the reason.
pub fn ckc_in(route: &Route, a: Answered) -> Result<Vec<u8>, Refusal> {
    let refused = |why: String| {
        Refusal::with(codes::FAIRPLAY_UPSTREAM_REFUSED, why.clone())
            .log(format!("upstream {}: {why}", route.label()))
    };
    if !(200..300).contains(&a.status) {
        return Err(refused(format!(
            "The FairPlay upstream KSM answered HTTP {}",
            a.status
        )));
    }
    let is_ckc = |b: &[u8]| b.len() >= 28 && b.starts_with(&[0, 0, 0, 1]);
    if is_ckc(&a.body) {
        return Ok(a.body);
    }
    let text = String::from_utf8_lossy(a.body.trim_ascii());
    let decoded = |t: &str| {
        let cleaned: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .ok()
            .filter(|b| is_ckc(b))
    };
    let from_json = |v: &serde_json::Value| -> Option<String> {
        v.get("ckc")
            .or_else(|| {
                let r = v.get("fairplay-streaming-response")?;
                ["create-ckc", "streaming-keys"]
                    .iter()
                    .find_map(|l| r.get(*l)?.get(0)?.get("ckc"))
            })
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| refused("The FairPlay upstream KSM answered malformed JSON".into()))?;
        if let Some(ckc) = from_json(&v).and_then(|c| decoded(&c)) {
            return Ok(ckc);
        }
        let code = v.get("errorCode").map(|c| match c {
            serde_json::Value::String(s) => crate::json::bounded(s, 16).into_owned(),
            other => crate::json::bounded(&other.to_string(), 16).into_owned(),
        });
        return Err(refused(match code {
            Some(c) => format!("The FairPlay upstream KSM refused with its code {c}"),
            None => "The FairPlay upstream KSM answered JSON without a CKC".into(),
        }));
    }
    let inner = text
        .strip_prefix("<ckc>")
        .and_then(|t| t.strip_suffix("</ckc>"))
        .unwrap_or(&text);
    decoded(inner).ok_or_else(|| {
        refused("The FairPlay upstream KSM answered something that is not a CKC".into())
    })
}

impl Kind for FairPlayKsm {
    fn name(&self) -> &'static str {
        "fairplay-ksm"
    }

    fn serves(&self, drm: Drm) -> bool {
        drm == Drm::FairPlay
    }

    fn validate(
        &self,
        extra: &serde_json::Map<String, serde_json::Value>,
        _secret_names: &[&str],
    ) -> Result<(), String> {
        let s: Settings = serde_json::from_value(serde_json::Value::Object(extra.clone()))
            .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))?;
        for h in &s.cert_hashes {
            if h.len() != 40 || hex::decode(h).is_err() {
                return Err(
                    "settings.cert_hashes: SHA-1 certificate hashes, 40 hex digits each".into(),
                );
            }
        }
        Ok(())
    }

    /// `challenge` is the raw SPC (the FairPlay back door unwrapped the
    /// player's envelope).
    fn build(
        &self,
        route: &Route,
        _ent: &Entitlement,
        _stored: &[ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal> {
        Ok(spc_out(settings(route).envelope, challenge, None))
    }

    /// The raw CKC (the FairPlay back door wraps it for the player).
    fn judge(
        &self,
        route: &Route,
        _ent: &Entitlement,
        answer: Answered,
    ) -> Result<Licence, Refusal> {
        ckc_in(route, answer).map(Licence::octets)
    }

    /// An empty SPC in the KSM's envelope: any coded refusal shows the KSM
    /// is reachable, answers and checks its input.
    fn probe(&self, upstream: &Upstream) -> Outgoing {
        let envelope = upstream
            .settings
            .get("envelope")
            .and_then(|v| serde_json::from_value::<SpcEnvelope>(v.clone()).ok())
            .unwrap_or_default();
        spc_out(envelope, &[], None)
    }
}
