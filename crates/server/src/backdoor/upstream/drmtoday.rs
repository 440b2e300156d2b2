//! `drmtoday`: castLabs DRMtoday (Widevine, PlayReady, FairPlay) with
//! upfront token authorization.
//!
//! keyward has decided the entitlement; it tells DRMtoday with an upfront
//! auth token minted per request and sent as `x-dt-auth-token`, alongside
//! `x-dt-custom-data` (base64 of the JSON `{userId, sessionId, merchant}`):
//!
//! * the token: a JWT, HS256 (default), HS384 or HS512 (setting `jwt_alg`),
//!   whose header names the shared secret's id as `kid` (setting `key_id`),
//!   signed with the private secret `keyward-shared-secret` (hex as castLabs
//!   hands it out, decoded; `secret_encoding` `base64` or `text` otherwise;
//!   never sent);
//! * its claims: `jti` (a UUID), `iat`, `optData` (the JSON *string*
//!   `{"merchant", "userId", "sessionId"}`) and `crt` (the JSON *string* of an
//!   array holding one customer rights token, [`crt`]);
//! * the CRT: `assetId` (the content id; setting `asset_id_from`),
//!   `profile` (`{"purchase": {}}`, or `{"rental": {…}}` when the timing limits
//!   the licence), `storeLicense`, `outputProtection` and, per track, the
//!   licence DRM's rules in `op.config`.
//!
//! Bodies: Widevine the raw challenge (`?specConform=true` is added to the
//! route's URL, so the answer is the raw licence); PlayReady the SOAP
//! challenge; FairPlay `spc=<base64>&assetId=…` (form), answered with the
//! CKC in base64 (decoded here). Rules the token cannot express are refused
//! with 7621, never dropped. Errors: a non-2xx status or an empty answer is
//! 7622 with DRMtoday's `x-dt-resp-code` (bounded). See `docs/brokers.md`.

use base64::Engine as _;
use keyward_drm::widevine::WidevineChallenge;
use keyward_store::{ContentKeyRecord, Drm, Upstream};
use keyward_token::{Timestamp, TrackType};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::fairplay_ksm::{ckc_in, spc_out, SpcEnvelope};
use super::http_forward::{relayed_type, sign, HsAlg};
use super::playready::soap_out;
use super::{cannot, widevine_level, Kind};
use crate::backdoor::Licence;
use crate::codes::{self, Code};
use crate::entitlement::{Cgms, Entitlement, Hdcp};
use crate::refusal::Refusal;
use crate::resources::upstreams::{Answered, Outgoing, Route};

/// The kind.
pub struct DrmToday;

/// The private secret: the upfront token's shared secret.
pub const SHARED_SECRET: &str = "keyward-shared-secret";

/// Shortest shared secret, bytes.
pub const MIN_SECRET: usize = 16;

/// The token header.
pub const AUTH_HEADER: &str = "x-dt-auth-token";
/// The custom data header.
pub const CUSTOM_DATA_HEADER: &str = "x-dt-custom-data";
/// The header DRMtoday answers its result code in.
pub const RESP_CODE_HEADER: &str = "x-dt-resp-code";

/// How the shared secret is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretEncoding {
    /// Hex digits (as castLabs hands it out).
    #[default]
    Hex,
    /// Base64.
    Base64,
    /// The bytes as written.
    Text,
}

/// Where the CRT's `assetId` comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetIdFrom {
    /// The entitlement's content id.
    #[default]
    ContentId,
    /// None: the CRT names no asset.
    None,
}

/// The kind's own settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The DRMtoday merchant.
    pub merchant: String,
    /// The token's algorithm.
    #[serde(default)]
    pub jwt_alg: HsAlg,
    /// The shared secret's id (`kid`).
    pub key_id: String,
    /// How the shared secret is written.
    #[serde(default)]
    pub secret_encoding: SecretEncoding,
    /// Where `assetId` comes from.
    #[serde(default)]
    pub asset_id_from: AssetIdFrom,
}

fn settings_of(extra: &Map<String, Value>) -> Result<Settings, String> {
    serde_json::from_value(Value::Object(extra.clone()))
        .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))
}

fn unsupported(what: String) -> Refusal {
    Refusal::with(
        codes::DRMTODAY_UNSUPPORTED,
        format!(
            "{what}, which the DRMtoday upfront token cannot express: refused rather than dropped"
        ),
    )
}

/// The concrete tracks and their `op.config` names.
const TRACKS: [(TrackType, &str); 5] = [
    (TrackType::Sd, "SD"),
    (TrackType::Hd, "HD"),
    (TrackType::Uhd1, "UHD1"),
    (TrackType::Uhd2, "UHD2"),
    (TrackType::Audio, "AUDIO"),
];

fn hdcp_words(h: Hdcp) -> &'static str {
    match h {
        Hdcp::None => "HDCP_NONE",
        Hdcp::V1 => "HDCP_V1",
        Hdcp::V2 => "HDCP_V2",
        Hdcp::V2_1 => "HDCP_V2_1",
        Hdcp::V2_2 => "HDCP_V2_2",
        Hdcp::V2_3 => "HDCP_V2_3",
        Hdcp::NoDigitalOutput => "HDCP_NO_DIGITAL_OUTPUT",
    }
}

/// What the output rules add up to: `op.config`, and whether any track
/// asks for digital (HDCP) or analogue (CGMS-A) protection.
struct Output {
    config: Map<String, Value>,
    digital: bool,
    analogue: bool,
}

fn output(ent: &Entitlement) -> Result<Output, Refusal> {
    let mut o = Output {
        config: Map::new(),
        digital: false,
        analogue: false,
    };
    for (t, name) in TRACKS {
        if !ent.keys.tracks.permits(t) {
            continue;
        }
        let Some(p) = ent.output.for_track(t) else {
            continue;
        };
        let mut m = Map::new();
        match ent.drm {
            Drm::Widevine => {
                if let Some(r) = &p.widevine {
                    if let Some(l) = r.security_level {
                        if let Some(l) = widevine_level(ent, l, name, unsupported)? {
                            m.insert("minSL".into(), l.into());
                        }
                    }
                    if let Some(h) = r.hdcp {
                        m.insert("requireHDCP".into(), hdcp_words(h).into());
                        o.digital |= h != Hdcp::None;
                    }
                    o.analogue |= matches!(r.cgms, Some(Cgms::CopyOnce | Cgms::CopyNever));
                    if r.cgms == Some(Cgms::CopyFree) {
                        cannot(
                            ent,
                            unsupported(format!(
                                "The policy asks for CGMS-A copy-free marking on {name} tracks"
                            )),
                        )?;
                    }
                    for (flag, what) in [
                        (r.disable_analog_output, "disabled analog outputs"),
                        (r.hdcp_srm_current, "a current HDCP SRM"),
                        (r.license_cipher, "the licence cipher"),
                    ] {
                        if flag == Some(true) {
                            cannot(
                                ent,
                                unsupported(format!("The policy asks for {what} on {name} tracks")),
                            )?;
                        }
                    }
                    if !m.is_empty() {
                        o.config
                            .insert(name.into(), json!({ "WidevineM": Value::Object(m) }));
                    }
                }
            }
            Drm::PlayReady => {
                if let Some(r) = &p.playready {
                    if let Some(l) = r.security_level {
                        m.insert("minSL".into(), l.into());
                    }
                    for (v, key) in [
                        (r.digital_video_opl, "uncompressedDigitalVideoOpl"),
                        (r.analog_video_opl, "analogVideoOpl"),
                        (r.digital_audio_opl, "uncompressedDigitalAudioOpl"),
                    ] {
                        if let Some(v) = v {
                            m.insert(key.into(), v.into());
                        }
                    }
                    o.digital |= r.digital_video_opl.is_some_and(|v| v > 100);
                    o.analogue |= r.analog_video_opl.is_some_and(|v| v > 100);
                    for (flag, what) in [
                        (r.hdcp_type1, "HDCP type 1"),
                        (r.license_cipher, "the licence cipher"),
                    ] {
                        if flag == Some(true) {
                            cannot(
                                ent,
                                unsupported(format!("The policy asks for {what} on {name} tracks")),
                            )?;
                        }
                    }
                    if !m.is_empty() {
                        o.config
                            .insert(name.into(), json!({ "PlayReadyM": Value::Object(m) }));
                    }
                }
            }
            Drm::FairPlay => {
                if let Some(r) = &p.fairplay {
                    if r.hdcp_type1 || r.hdcp == Some(Hdcp::NoDigitalOutput) {
                        cannot(
                            ent,
                            unsupported(format!(
                                "The policy asks for HDCP type 1 or no digital output on {name} tracks (FairPlay)"
                            )),
                        )?;
                    }
                    if r.allow_airplay == Some(false) || r.allow_av_adapter == Some(false) {
                        cannot(
                            ent,
                            unsupported(format!(
                                "The policy forbids AirPlay or the AV adapter on {name} tracks"
                            )),
                        )?;
                    }
                    o.digital |= r.hdcp.is_some_and(|h| h != Hdcp::None);
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

fn iso_seconds(s: u64) -> String {
    format!("PT{s}S")
}

/// The customer rights token for an entitlement.
///
/// # Errors
/// 7621 for what it cannot express.
pub fn crt(s: &Settings, ent: &Entitlement) -> Result<Value, Refusal> {
    let t = &ent.timing;
    // A stream limit is enforced by keyward's own gatekeeper before any
    // upstream is asked (docs/streams.md): nothing to send.
    if let Some(start) = t.start {
        if start.unix() > Timestamp::now().unix() {
            cannot(
                ent,
                unsupported(format!(
                    "The policy starts at {start} (a licence that is not valid yet)"
                )),
            )?;
        }
    }
    if t.can_renew {
        cannot(
            ent,
            unsupported("The policy allows licence renewals".into()),
        )?;
    }
    let mut c = Map::new();
    match s.asset_id_from {
        AssetIdFrom::ContentId => {
            if ent.content_id.is_empty() {
                return Err(unsupported(
                    "The credential names no content id to send as assetId".into(),
                ));
            }
            c.insert("assetId".into(), ent.content_id.clone().into());
        }
        AssetIdFrom::None => {}
    }
    let relative = match (t.license_duration, t.rental_duration) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let profile = if relative.is_none() && t.expire_at.is_none() {
        if t.playback_duration.is_some() {
            cannot(
                ent,
                unsupported(
                    "The policy limits playback without limiting the licence (a rental needs an expiry)"
                        .into(),
                ),
            )?;
        }
        json!({"purchase": {}})
    } else {
        let mut r = Map::new();
        if let Some(d) = relative {
            r.insert("relativeExpiration".into(), iso_seconds(d).into());
        }
        if let Some(e) = t.expire_at {
            r.insert("absoluteExpiration".into(), e.to_string().into());
        }
        if let Some(p) = t.playback_duration {
            r.insert("playDuration".into(), p.saturating_mul(1000).into());
        }
        json!({ "rental": r })
    };
    c.insert("profile".into(), profile);
    c.insert("storeLicense".into(), t.persistent.into());
    let o = output(ent)?;
    if o.digital || o.analogue {
        c.insert(
            "outputProtection".into(),
            json!({"digital": o.digital, "analogue": o.analogue, "enforce": true}),
        );
    }
    if !o.config.is_empty() {
        c.insert("op".into(), json!({ "config": o.config }));
    }
    Ok(Value::Object(c))
}

/// The shared secret's bytes.
fn secret(u: &Upstream, enc: SecretEncoding) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let text = u
        .secrets
        .get(SHARED_SECRET)
        .ok_or_else(|| format!("the {SHARED_SECRET} secret is missing"))?;
    let t = text.expose().trim();
    let bytes = match enc {
        SecretEncoding::Hex => {
            hex::decode(t).map_err(|_| format!("the {SHARED_SECRET} secret is not hex"))?
        }
        SecretEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|_| format!("the {SHARED_SECRET} secret is not base64"))?,
        SecretEncoding::Text => t.as_bytes().to_vec(),
    };
    if bytes.len() < MIN_SECRET {
        return Err(format!(
            "the {SHARED_SECRET} secret is shorter than {MIN_SECRET} bytes"
        ));
    }
    Ok(zeroize::Zeroizing::new(bytes))
}

/// The upfront token and the custom data for one request.
///
/// # Errors
/// A message when the secret cannot sign.
pub fn auth(
    u: &Upstream,
    s: &Settings,
    user: &str,
    crt: Option<&Value>,
    now: Timestamp,
) -> Result<(String, String), String> {
    let session = uuid::Uuid::new_v4().to_string();
    let opt = json!({"merchant": s.merchant, "userId": user, "sessionId": session});
    let mut claims = json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now.unix(),
        "optData": opt.to_string(),
    });
    if let Some(c) = crt {
        claims["crt"] = Value::String(Value::Array(vec![c.clone()]).to_string());
    }
    let header = json!({"alg": s.jwt_alg.name(), "typ": "JWT", "kid": s.key_id});
    let key = secret(u, s.secret_encoding)?;
    let token = sign(s.jwt_alg, &header, &claims, &key)?;
    let custom = base64::engine::general_purpose::STANDARD
        .encode(json!({"userId": user, "sessionId": session, "merchant": s.merchant}).to_string());
    Ok((token, custom))
}

/// The challenge as DRMtoday takes it.
fn body(drm: Drm, challenge: &[u8], asset: Option<&str>) -> Outgoing {
    let mut out = match drm {
        Drm::PlayReady => soap_out(challenge.to_vec()),
        Drm::FairPlay => spc_out(SpcEnvelope::Form, challenge, asset),
        _ => {
            let mut o = Outgoing::new(challenge.to_vec(), "application/octet-stream");
            o.query = Some("specConform=true".into());
            o
        }
    };
    out.withhold = &[SHARED_SECRET];
    out
}

fn refused(route: &Route, a: &Answered, why: &str) -> Refusal {
    let code = a
        .header(RESP_CODE_HEADER)
        .map(|c| {
            let c: String = c.chars().filter(|c| !c.is_control()).collect();
            format!(", x-dt-resp-code {}", crate::json::bounded(c.trim(), 16))
        })
        .unwrap_or_default();
    let msg = format!("The DRMtoday upstream {why} (HTTP {}{code})", a.status);
    Refusal::with(codes::DRMTODAY_REFUSED, msg.clone())
        .log(format!("upstream {}: {msg}", route.label()))
}

impl Kind for DrmToday {
    fn name(&self) -> &'static str {
        "drmtoday"
    }

    fn serves(&self, drm: Drm) -> bool {
        matches!(drm, Drm::Widevine | Drm::PlayReady | Drm::FairPlay)
    }

    fn validate(&self, extra: &Map<String, Value>, secret_names: &[&str]) -> Result<(), String> {
        for (field, allowed) in [
            ("jwt_alg", &["HS256", "HS384", "HS512"][..]),
            ("secret_encoding", &["hex", "base64", "text"][..]),
            ("asset_id_from", &["content_id", "none"][..]),
        ] {
            if let Some(v) = extra.get(field) {
                if !v.as_str().is_some_and(|t| allowed.contains(&t)) {
                    return Err(format!("settings.{field}: one of {}", allowed.join(", ")));
                }
            }
        }
        let s = settings_of(extra)?;
        let ok = |t: &str| {
            !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
        };
        if !ok(&s.merchant) {
            return Err(
                "settings.merchant: the DRMtoday merchant (A-Z a-z 0-9 . _ - :, at most 128)"
                    .into(),
            );
        }
        if !ok(&s.key_id) {
            return Err("settings.key_id: the shared secret's id, the token's kid (A-Z a-z 0-9 . _ - :, at most 128)".into());
        }
        if !secret_names.contains(&SHARED_SECRET) {
            return Err(format!(
                "secrets: kind drmtoday signs with the secret {SHARED_SECRET} (the upfront token's shared secret; never sent)"
            ));
        }
        super::refuse_unused_private_secrets("drmtoday", secret_names, &[SHARED_SECRET])?;
        Ok(())
    }

    fn build(
        &self,
        route: &Route,
        ent: &Entitlement,
        _stored: &[ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal> {
        let internal = |m: String| Refusal::internal(format!("upstream {}: {m}", route.label()));
        let s = settings_of(&route.settings.extra).map_err(internal)?;
        let cert_request = ent.drm == Drm::Widevine
            && WidevineChallenge::parse(challenge).ok()
                == Some(WidevineChallenge::ServiceCertificateRequest);
        let asset = (s.asset_id_from == AssetIdFrom::ContentId && !ent.content_id.is_empty())
            .then_some(ent.content_id.as_str());
        let mut out = body(ent.drm, challenge, asset);
        let c = if cert_request {
            None
        } else {
            Some(crt(&s, ent)?)
        };
        let (token, custom) = auth(
            &route.upstream,
            &s,
            &ent.subject,
            c.as_ref(),
            Timestamp::now(),
        )
        .map_err(internal)?;
        out.headers.push((AUTH_HEADER.into(), token));
        out.headers.push((CUSTOM_DATA_HEADER.into(), custom));
        Ok(out)
    }

    fn judge(&self, route: &Route, ent: &Entitlement, a: Answered) -> Result<Licence, Refusal> {
        if !(200..300).contains(&a.status) {
            return Err(refused(route, &a, "refused"));
        }
        if a.body.is_empty() {
            return Err(refused(route, &a, "answered without a licence"));
        }
        if ent.drm == Drm::FairPlay {
            let failed = refused(route, &a, "answered something that is not a CKC");
            return ckc_in(route, a).map(Licence::octets).map_err(|_| failed);
        }
        Ok(Licence::new(
            relayed_type(a.content_type.as_deref()),
            a.body,
        ))
    }

    /// An empty challenge of the upstream's DRM (Widevine: the service
    /// certificate request) with a token that entitles nothing: DRMtoday's
    /// `x-dt-resp-code` shows whether it took the token.
    fn probe(&self, upstream: &Upstream) -> Outgoing {
        let challenge: &[u8] = if upstream.drm == Drm::Widevine {
            super::widevine_cloud::SERVICE_CERTIFICATE_REQUEST
        } else {
            &[]
        };
        let mut out = body(upstream.drm, challenge, None);
        if let Some(s) = upstream
            .settings
            .as_object()
            .and_then(|m| settings_of(m).ok())
        {
            if let Ok((token, custom)) = auth(upstream, &s, "keyward-probe", None, Timestamp::now())
            {
                out.headers.push((AUTH_HEADER.into(), token));
                out.headers.push((CUSTOM_DATA_HEADER.into(), custom));
            }
        }
        out
    }

    fn unavailable(&self) -> Option<Code> {
        Some(codes::DRMTODAY_UNAVAILABLE)
    }

    fn carries_output_rules(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::{Origin, TrackProtection, WidevineOutput};
    use keyward_token::DrmType;

    fn settings() -> Settings {
        Settings {
            merchant: "client_dev".into(),
            jwt_alg: HsAlg::Hs512,
            key_id: "kid-1".into(),
            secret_encoding: SecretEncoding::Hex,
            asset_id_from: AssetIdFrom::ContentId,
        }
    }

    #[test]
    fn purchase_and_rental_profiles() {
        let mut e = Entitlement::new(
            Origin::PallyConToken,
            "TEST",
            "u",
            "movie",
            DrmType::Widevine,
        );
        e.timing.persistent = true;
        assert_eq!(
            crt(&settings(), &e).unwrap(),
            json!({"assetId": "movie", "profile": {"purchase": {}}, "storeLicense": true})
        );
        e.timing.license_duration = Some(7200);
        e.timing.rental_duration = Some(3600);
        e.timing.playback_duration = Some(600);
        e.output.tracks = vec![TrackProtection {
            track: Some(TrackType::Hd),
            widevine: Some(WidevineOutput {
                security_level: Some(5),
                hdcp: Some(Hdcp::V2_2),
                ..Default::default()
            }),
            ..Default::default()
        }];
        let c = crt(&settings(), &e).unwrap();
        assert_eq!(
            c["profile"],
            json!({"rental": {"relativeExpiration": "PT3600S", "playDuration": 600_000}})
        );
        assert_eq!(
            c["op"],
            json!({"config": {"HD": {"WidevineM": {"minSL": 5, "requireHDCP": "HDCP_V2_2"}}}})
        );
        assert_eq!(
            c["outputProtection"],
            json!({"digital": true, "analogue": false, "enforce": true})
        );
        // A stream limit is keyward's own gatekeeper's: nothing to refuse.
        e.stream_limit = Some(1);
        assert!(crt(&settings(), &e).is_ok());
        // Renewals cannot be expressed: refused, or dropped for a site that
        // opted into best effort (the rest of the token unchanged).
        e.timing.can_renew = true;
        e.timing.renewal_interval = Some(60);
        assert!(crt(&settings(), &e)
            .unwrap_err()
            .is(codes::DRMTODAY_UNSUPPORTED));
        e.best_effort = true;
        let c = crt(&settings(), &e).unwrap();
        assert_eq!(
            c["profile"],
            json!({"rental": {"relativeExpiration": "PT3600S", "playDuration": 600_000}})
        );
    }
}
