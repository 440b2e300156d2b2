//! `axinom`: the Axinom DRM licence service (Widevine, PlayReady, FairPlay).
//!
//! keyward has decided the entitlement; it tells Axinom with a licence
//! service message, signed per request as an HS256 JWT and sent in the
//! `X-AxDRM-Message` header, with the player's challenge as the body (the raw
//! Widevine challenge, the PlayReady SOAP challenge, the raw SPC):
//!
//! * the message: `version` 1, `id` (a UUID), `com_key_id` (the setting
//!   `communication_key_id`), `begin_date` and `expiration_date` (now and
//!   60 s later), and `message`, an entitlement message v2;
//! * the JWT key: the private secret `keyward-communication-key`, base64 as
//!   Axinom hands it out, decoded (at least 32 bytes; never sent);
//! * the entitlement message ([`entitlement_message`]): `license` from the
//!   timing, `content_keys_source` (the key ids only, `inline` or `stored`,
//!   setting `keys_source`), and one `content_key_usage_policies` entry per
//!   distinct rule of the licence's DRM, named `Policy 1`, `Policy 2`, …
//!
//! Axinom holds the content keys: keys travel inline only encrypted with a
//! cipher (`encrypted_key`) that is not publicly documented, so keyward sends
//! key ids, never keys, and a route cannot ask for `key_source: keyward`.
//! Rules the message cannot express are refused with 7611, never dropped.
//! Answers: 2xx with a body is the licence, relayed byte for byte (for
//! FairPlay the CKC, raw or base64); anything else is 7612 with Axinom's
//! `X-AxDRM-ErrorMessage` (bounded) and the status. No header of Axinom's
//! answer reaches the player (its device and client information included).
//! See `docs/brokers.md` for the translation table.

use base64::Engine as _;
use keyward_drm::widevine::WidevineChallenge;
use keyward_store::{ContentKeyRecord, Drm, Upstream};
use keyward_token::{Timestamp, TrackType};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::fairplay_ksm::ckc_in;
use super::http_forward::{relayed_type, sign, HsAlg};
use super::playready::soap_out;
use super::{cannot, widevine_level, Kind};
use crate::backdoor::Licence;
use crate::codes::{self, Code};
use crate::entitlement::{
    Cgms, Entitlement, FairPlayOutput, Hdcp, KeySource, PlayReadyOutput, WidevineOutput,
};
use crate::refusal::Refusal;
use crate::resources::upstreams::{Answered, Outgoing, Route};

/// The kind.
pub struct Axinom;

/// The private secret holding the communication key (base64).
pub const COMMUNICATION_KEY: &str = "keyward-communication-key";

/// The header the signed message travels in.
pub const MESSAGE_HEADER: &str = "X-AxDRM-Message";

/// The header Axinom explains a refusal in.
pub const ERROR_HEADER: &str = "x-axdrm-errormessage";

/// How long a message is valid, seconds.
pub const MESSAGE_LIFETIME: i64 = 60;

/// Shortest communication key, bytes (HS256: the hash size).
pub const MIN_KEY: usize = 32;

/// Longest error text kept from an answer, characters.
const MAX_ERROR_TEXT: usize = 200;

/// Which content keys source carries the key ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysSource {
    /// `inline`: `[{id, usage_policy}]`, no key material.
    #[default]
    Inline,
    /// `stored`: keys Axinom's key service holds, by id.
    Stored,
}

/// The kind's own settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The communication key id (a UUID).
    pub communication_key_id: String,
    /// The content keys source.
    #[serde(default)]
    pub keys_source: KeysSource,
}

fn settings_of(extra: &Map<String, Value>) -> Result<Settings, String> {
    serde_json::from_value(Value::Object(extra.clone()))
        .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))
}

fn unsupported(what: String) -> Refusal {
    Refusal::with(
        codes::AXINOM_UNSUPPORTED,
        format!("{what}, which the Axinom licence service message cannot express: refused rather than dropped"),
    )
}

/// The concrete tracks, in the order policies are made.
const CONCRETE: [TrackType; 5] = [
    TrackType::Sd,
    TrackType::Hd,
    TrackType::Uhd1,
    TrackType::Uhd2,
    TrackType::Audio,
];

/// The key ids keyward knows (the credential's, then the store's), with
/// their track types.
fn key_ids(ent: &Entitlement, stored: &[ContentKeyRecord]) -> Vec<(TrackType, [u8; 16])> {
    let mut out: Vec<(TrackType, [u8; 16])> = Vec::new();
    let carried = ent
        .keys
        .cenc
        .iter()
        .chain(ent.keys.hls.iter())
        .filter_map(|k| k.kid.map(|kid| (k.track_type, kid.0)));
    // The store's keys in key id order (the message does not depend on the
    // store's order).
    let mut from_store: Vec<(TrackType, [u8; 16])> = stored
        .iter()
        .filter(|_| ent.keys.source == KeySource::CarriedThenStore)
        .map(|r| (r.track_type, r.kid.0))
        .collect();
    from_store.sort_by_key(|(_, kid)| *kid);
    for (t, kid) in carried.chain(from_store) {
        if !out.iter().any(|(_, k)| *k == kid) {
            out.push((t, kid));
        }
    }
    out
}

fn uuid(kid: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*kid).to_string()
}

fn security_level_words(l: u8) -> Option<&'static str> {
    Some(match l {
        1 => "SW_SECURE_CRYPTO",
        2 => "SW_SECURE_DECODE",
        3 => "HW_SECURE_CRYPTO",
        4 => "HW_SECURE_DECODE",
        5 => "HW_SECURE_ALL",
        _ => return None,
    })
}

fn hdcp_words(h: Hdcp) -> &'static str {
    match h {
        Hdcp::None => "NONE",
        Hdcp::V1 => "1.0",
        Hdcp::V2 => "2.0",
        Hdcp::V2_1 => "2.1",
        Hdcp::V2_2 => "2.2",
        Hdcp::V2_3 => "2.3",
        Hdcp::NoDigitalOutput => "NO_DIGITAL_OUTPUT",
    }
}

fn widevine_policy(
    ent: &Entitlement,
    r: &WidevineOutput,
    track: &str,
) -> Result<Map<String, Value>, Refusal> {
    let mut p = Map::new();
    if let Some(l) = r.security_level {
        if let Some(w) = widevine_level(ent, l, track, unsupported)?.and_then(security_level_words)
        {
            p.insert("device_security_level".into(), w.into());
        }
    }
    if let Some(h) = r.hdcp {
        p.insert("hdcp".into(), hdcp_words(h).into());
    }
    match r.cgms {
        None | Some(Cgms::None) => {}
        Some(Cgms::CopyFree) => {
            p.insert("cgms-a".into(), "free".into());
        }
        Some(Cgms::CopyOnce) => {
            p.insert("cgms-a".into(), "once".into());
        }
        Some(Cgms::CopyNever) => {
            p.insert("cgms-a".into(), "never".into());
        }
    }
    for (flag, what) in [
        (r.disable_analog_output, "disabled analog outputs"),
        (r.hdcp_srm_current, "a current HDCP SRM"),
        (r.license_cipher, "the licence cipher"),
    ] {
        if flag == Some(true) {
            cannot(
                ent,
                unsupported(format!("The policy asks for {what} on {track} tracks")),
            )?;
        }
    }
    Ok(p)
}

fn playready_policy(
    ent: &Entitlement,
    r: &PlayReadyOutput,
    track: &str,
) -> Result<Map<String, Value>, Refusal> {
    let mut p = Map::new();
    if let Some(l) = r.security_level {
        p.insert("min_device_security_level".into(), l.into());
    }
    for (v, name) in [
        (r.digital_video_opl, "uncompressed_digital_video_opl"),
        (r.analog_video_opl, "analog_video_opl"),
        (r.digital_audio_opl, "uncompressed_digital_audio_opl"),
    ] {
        if let Some(v) = v {
            p.insert(name.into(), v.into());
        }
    }
    if r.hdcp_type1 == Some(true) {
        cannot(
            ent,
            unsupported(format!(
                "The policy asks for HDCP type 1 on {track} tracks (its PlayReady output protection configuration data is not publicly documented)"
            )),
        )?;
    }
    if r.license_cipher == Some(true) {
        cannot(
            ent,
            unsupported(format!(
                "The policy asks for the licence cipher on {track} tracks"
            )),
        )?;
    }
    Ok(p)
}

fn fairplay_policy(
    ent: &Entitlement,
    r: &FairPlayOutput,
    track: &str,
) -> Result<Map<String, Value>, Refusal> {
    let mut p = Map::new();
    match (r.hdcp, r.hdcp_type1) {
        (Some(Hdcp::NoDigitalOutput), _) => cannot(
            ent,
            unsupported(format!(
                "The policy asks for no digital output on {track} tracks (FairPlay)"
            )),
        )?,
        (_, true) => {
            p.insert("hdcp".into(), "TYPE1".into());
        }
        (None | Some(Hdcp::None), false) => {}
        (Some(_), false) => {
            p.insert("hdcp".into(), "TYPE0".into());
        }
    }
    if let Some(a) = r.allow_airplay {
        p.insert("allow_airplay".into(), a.into());
    }
    if let Some(a) = r.allow_av_adapter {
        p.insert("allow_av_adapter".into(), a.into());
    }
    Ok(p)
}

fn track_words(t: TrackType) -> &'static str {
    match t {
        TrackType::Sd => "SD",
        TrackType::Hd => "HD",
        TrackType::Uhd1 => "UHD1",
        TrackType::Uhd2 => "UHD2",
        TrackType::Audio => "AUDIO",
        TrackType::All => "ALL",
        TrackType::AllVideo => "ALL_VIDEO",
    }
}

/// The licence's DRM section of one track's rule (empty: no rule).
fn drm_policy(ent: &Entitlement, t: TrackType) -> Result<Map<String, Value>, Refusal> {
    let Some(p) = ent.output.for_track(t) else {
        return Ok(Map::new());
    };
    let track = track_words(t);
    match ent.drm {
        Drm::Widevine => p
            .widevine
            .as_ref()
            .map_or(Ok(Map::new()), |r| widevine_policy(ent, r, track)),
        Drm::PlayReady => p
            .playready
            .as_ref()
            .map_or(Ok(Map::new()), |r| playready_policy(ent, r, track)),
        Drm::FairPlay => p
            .fairplay
            .as_ref()
            .map_or(Ok(Map::new()), |r| fairplay_policy(ent, r, track)),
        _ => Ok(Map::new()),
    }
}

/// The rule of a key: its track's; a key that covers several tracks (`ALL`,
/// `ALL_VIDEO`) must have one rule for all of them (else refused: Axinom
/// applies one policy per key).
fn key_policy(ent: &Entitlement, t: TrackType) -> Result<Map<String, Value>, Refusal> {
    let covered: &[TrackType] = match t {
        TrackType::All => &CONCRETE,
        TrackType::AllVideo => &CONCRETE[..4],
        _ => return drm_policy(ent, t),
    };
    let mut rules = covered.iter().map(|c| drm_policy(ent, *c));
    let first = rules.next().unwrap_or_else(|| Ok(Map::new()))?;
    for r in rules {
        if r? != first {
            // Best effort: the first track's rule for the whole key.
            cannot(
                ent,
                unsupported(format!(
                    "The policy sets different output rules per track for a key that covers {} tracks",
                    track_words(t)
                )),
            )?;
            break;
        }
    }
    Ok(first)
}

fn drm_section(drm: Drm) -> &'static str {
    match drm {
        Drm::PlayReady => "playready",
        Drm::FairPlay => "fairplay",
        _ => "widevine",
    }
}

/// The `license` section from the timing.
fn license(ent: &Entitlement) -> Result<Value, Refusal> {
    let t = &ent.timing;
    let mut l = Map::new();
    if let Some(s) = t.start {
        l.insert("start_datetime".into(), s.to_string().into());
    }
    if let Some(e) = t.expire_at {
        l.insert("expiration_datetime".into(), e.to_string().into());
    }
    let duration = match (t.license_duration, t.rental_duration) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(d) = duration {
        l.insert("duration".into(), d.into());
    }
    l.insert("allow_persistence".into(), t.persistent.into());
    let mut own = Map::new();
    if let Some(p) = t.playback_duration {
        own.insert("playback_duration".into(), p.into());
    }
    if ent.drm == Drm::Widevine {
        own.insert("allow_renewal".into(), t.can_renew.into());
        if t.can_renew {
            if let Some(d) = t.renewal_interval {
                own.insert("renewal_delay".into(), d.into());
            }
        }
    }
    if !own.is_empty() {
        l.insert(drm_section(ent.drm).into(), Value::Object(own));
    }
    Ok(Value::Object(l))
}

/// The entitlement message v2 for an entitlement.
///
/// # Errors
/// 7611 for what it cannot express; 7001 when keyward knows no key id of
/// the content.
pub fn entitlement_message(
    s: &Settings,
    ent: &Entitlement,
    stored: &[ContentKeyRecord],
) -> Result<Value, Refusal> {
    // A stream limit is enforced by keyward's own gatekeeper before any
    // upstream is asked (docs/streams.md): nothing to send.
    let known = key_ids(ent, stored);
    let ids: Vec<(TrackType, [u8; 16])> = known
        .iter()
        .copied()
        .filter(|(t, _)| ent.keys.tracks.permits(*t))
        .collect();
    if ids.is_empty() && !known.is_empty() {
        return Err(Refusal::with(
            codes::TRACK_NOT_ALLOWED,
            format!(
                "allowed_track_types {} releases none of the content's keys",
                ent.keys.tracks
            ),
        ));
    }
    if ids.is_empty() {
        return Err(Refusal::with(
            codes::KEY_NOT_FOUND,
            format!(
                "No key id of content '{}' to name to the Axinom upstream (keyward sends key ids; Axinom holds the keys)",
                crate::json::bounded(&ent.content_id, 64)
            ),
        ));
    }
    let mut policies: Vec<Map<String, Value>> = Vec::new();
    let mut keys = Vec::new();
    for (t, kid) in &ids {
        let rule = key_policy(ent, *t)?;
        let mut k = Map::new();
        k.insert("id".into(), uuid(kid).into());
        if !rule.is_empty() {
            let n = match policies.iter().position(|p| *p == rule) {
                Some(i) => i,
                None => {
                    policies.push(rule);
                    policies.len() - 1
                }
            };
            k.insert("usage_policy".into(), format!("Policy {}", n + 1).into());
        }
        keys.push(Value::Object(k));
    }
    let source = match s.keys_source {
        KeysSource::Inline => "inline",
        KeysSource::Stored => "stored",
    };
    let section = drm_section(ent.drm);
    let policies: Vec<Value> = policies
        .into_iter()
        .enumerate()
        .map(|(i, p)| json!({"name": format!("Policy {}", i + 1), section: p}))
        .collect();
    let mut m = Map::new();
    m.insert("type".into(), "entitlement_message".into());
    m.insert("version".into(), 2.into());
    m.insert("license".into(), license(ent)?);
    m.insert("content_keys_source".into(), json!({ source: keys }));
    if !policies.is_empty() {
        m.insert("content_key_usage_policies".into(), Value::Array(policies));
    }
    Ok(Value::Object(m))
}

/// The licence service message around an entitlement message.
pub fn service_message(com_key_id: &str, message: Value, now: Timestamp) -> Value {
    let later = Timestamp::from_unix(now.unix() + MESSAGE_LIFETIME).unwrap_or(now);
    json!({
        "version": 1,
        "id": uuid::Uuid::new_v4().to_string(),
        "com_key_id": com_key_id,
        "begin_date": now.to_string(),
        "expiration_date": later.to_string(),
        "message": message,
    })
}

/// The communication key of an upstream (base64-decoded).
fn communication_key(u: &Upstream) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let text = u
        .secrets
        .get(COMMUNICATION_KEY)
        .ok_or_else(|| format!("the {COMMUNICATION_KEY} secret is missing"))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.expose().trim())
        .map_err(|_| format!("the {COMMUNICATION_KEY} secret is not base64"))?;
    if key.len() < MIN_KEY {
        return Err(format!(
            "the {COMMUNICATION_KEY} secret decodes to fewer than {MIN_KEY} bytes"
        ));
    }
    Ok(zeroize::Zeroizing::new(key))
}

/// The signed message: the `X-AxDRM-Message` value.
fn signed(u: &Upstream, message: &Value) -> Result<String, String> {
    let key = communication_key(u)?;
    sign(
        HsAlg::Hs256,
        &json!({"alg": "HS256", "typ": "JWT"}),
        message,
        &key,
    )
}

/// The challenge as Axinom takes it.
fn body(drm: Drm, challenge: &[u8]) -> Outgoing {
    let mut out = match drm {
        Drm::PlayReady => soap_out(challenge.to_vec()),
        _ => Outgoing::new(challenge.to_vec(), "application/octet-stream"),
    };
    out.withhold = &[COMMUNICATION_KEY];
    out
}

fn refused(route: &Route, a: &Answered, why: &str) -> Refusal {
    let text = a
        .header(ERROR_HEADER)
        .map(|t| {
            let t: String = t
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!(": {}", crate::json::bounded(t.trim(), MAX_ERROR_TEXT))
        })
        .unwrap_or_default();
    let msg = format!("The Axinom upstream {why} (HTTP {}){text}", a.status);
    Refusal::with(codes::AXINOM_REFUSED, msg.clone())
        .log(format!("upstream {}: {msg}", route.label()))
}

impl Kind for Axinom {
    fn name(&self) -> &'static str {
        "axinom"
    }

    fn serves(&self, drm: Drm) -> bool {
        matches!(drm, Drm::Widevine | Drm::PlayReady | Drm::FairPlay)
    }

    fn validate(&self, extra: &Map<String, Value>, secret_names: &[&str]) -> Result<(), String> {
        if let Some(v) = extra.get("key_source") {
            return Err(format!(
                "settings.key_source ({}): kind axinom takes no keys from keyward — Axinom holds the content keys and keyward sends their ids; inline keys need Axinom's encrypted_key cipher, which is not publicly documented",
                crate::json::bounded(&v.to_string(), 32)
            ));
        }
        if let Some(v) = extra.get("keys_source") {
            if !v
                .as_str()
                .is_some_and(|t| ["inline", "stored"].contains(&t))
            {
                return Err("settings.keys_source: one of inline, stored".into());
            }
        }
        let s = settings_of(extra)?;
        if uuid::Uuid::parse_str(&s.communication_key_id).is_err() {
            return Err("settings.communication_key_id: the communication key id, a UUID".into());
        }
        if !secret_names.contains(&COMMUNICATION_KEY) {
            return Err(format!(
                "secrets: kind axinom signs with the secret {COMMUNICATION_KEY} (the communication key, base64 as Axinom gives it; never sent)"
            ));
        }
        super::refuse_unused_private_secrets("axinom", secret_names, &[COMMUNICATION_KEY])?;
        Ok(())
    }

    fn build(
        &self,
        route: &Route,
        ent: &Entitlement,
        stored: &[ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal> {
        let internal = |m: String| Refusal::internal(format!("upstream {}: {m}", route.label()));
        let s = settings_of(&route.settings.extra).map_err(internal)?;
        let mut out = body(ent.drm, challenge);
        // The service certificate request needs no entitlement.
        if ent.drm == Drm::Widevine
            && WidevineChallenge::parse(challenge).ok()
                == Some(WidevineChallenge::ServiceCertificateRequest)
        {
            return Ok(out);
        }
        let em = entitlement_message(&s, ent, stored)?;
        let msg = service_message(&s.communication_key_id, em, Timestamp::now());
        let jwt = signed(&route.upstream, &msg).map_err(internal)?;
        out.headers.push((MESSAGE_HEADER.into(), jwt));
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

    /// Widevine: the service certificate request. Others: an empty challenge
    /// with a signed message entitling no key (Axinom checks the signature
    /// first: its error message says whether the key is right).
    fn probe(&self, upstream: &Upstream) -> Outgoing {
        if upstream.drm == Drm::Widevine {
            return body(
                Drm::Widevine,
                super::widevine_cloud::SERVICE_CERTIFICATE_REQUEST,
            );
        }
        let mut out = body(upstream.drm, &[]);
        let id = upstream
            .settings
            .get("communication_key_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let em = json!({"type": "entitlement_message", "version": 2, "content_keys_source": {"inline": []}});
        if let Ok(jwt) = signed(upstream, &service_message(id, em, Timestamp::now())) {
            out.headers.push((MESSAGE_HEADER.into(), jwt));
        }
        out
    }

    fn unavailable(&self) -> Option<Code> {
        Some(codes::AXINOM_UNAVAILABLE)
    }

    fn carries_output_rules(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::{CarriedKey, Origin, TrackProtection};
    use keyward_drm::{ContentKey, Kid};
    use keyward_token::DrmType;

    fn ent(drm: DrmType) -> Entitlement {
        let mut e = Entitlement::new(Origin::PallyConToken, "TEST", "u", "c", drm);
        for (t, b) in [
            (TrackType::Sd, 1u8),
            (TrackType::Hd, 2),
            (TrackType::Audio, 3),
        ] {
            e.keys.cenc.push(CarriedKey {
                track_type: t,
                kid: Some(Kid::new([b; 16])),
                key: ContentKey::new([0xee; 16]),
                iv: None,
            });
        }
        e
    }

    fn settings() -> Settings {
        Settings {
            communication_key_id: "cc36e85d-2fdf-462c-b395-030907447afc".into(),
            keys_source: KeysSource::Inline,
        }
    }

    #[test]
    fn rules_become_named_policies_per_distinct_rule() {
        let mut e = ent(DrmType::Widevine);
        e.output.tracks = vec![
            TrackProtection {
                track: Some(TrackType::Hd),
                widevine: Some(WidevineOutput {
                    security_level: Some(5),
                    hdcp: Some(Hdcp::V2_2),
                    ..Default::default()
                }),
                ..Default::default()
            },
            TrackProtection {
                track: None,
                widevine: Some(WidevineOutput {
                    security_level: Some(1),
                    cgms: Some(Cgms::CopyNever),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        let m = entitlement_message(&settings(), &e, &[]).unwrap();
        let keys = m["content_keys_source"]["inline"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0]["id"], "01010101-0101-0101-0101-010101010101");
        assert_eq!(keys[0]["usage_policy"], "Policy 1");
        assert_eq!(keys[1]["usage_policy"], "Policy 2");
        assert_eq!(keys[2]["usage_policy"], "Policy 1");
        assert!(keys.iter().all(|k| k.get("encrypted_key").is_none()));
        let p = &m["content_key_usage_policies"];
        assert_eq!(
            p[0],
            json!({"name": "Policy 1", "widevine": {"device_security_level": "SW_SECURE_CRYPTO", "cgms-a": "never"}})
        );
        assert_eq!(
            p[1],
            json!({"name": "Policy 2", "widevine": {"device_security_level": "HW_SECURE_ALL", "hdcp": "2.2"}})
        );
    }

    #[test]
    fn what_cannot_be_expressed_is_refused() {
        let mut e = ent(DrmType::PlayReady);
        e.output.tracks = vec![TrackProtection {
            track: None,
            playready: Some(PlayReadyOutput {
                hdcp_type1: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }];
        assert!(entitlement_message(&settings(), &e, &[])
            .unwrap_err()
            .is(codes::AXINOM_UNSUPPORTED));
        // Best effort (the site opted in): the rule is dropped, the rest sent.
        e.best_effort = true;
        // (the rule had nothing else: no usage policy at all).
        let m = entitlement_message(&settings(), &e, &[]).unwrap();
        assert!(m.get("content_key_usage_policies").is_none(), "{m}");
        assert_eq!(
            m["content_keys_source"]["inline"].as_array().unwrap().len(),
            3
        );
        assert!(m["content_keys_source"]["inline"][0]
            .get("usage_policy")
            .is_none());
        // A stream limit is keyward's own gatekeeper's: nothing to refuse.
        let mut e = ent(DrmType::Widevine);
        e.stream_limit = Some(2);
        assert!(entitlement_message(&settings(), &e, &[]).is_ok());
        let mut e = ent(DrmType::Widevine);
        e.keys.cenc.clear();
        assert!(entitlement_message(&settings(), &e, &[])
            .unwrap_err()
            .is(codes::KEY_NOT_FOUND));
    }

    #[test]
    fn the_key_source_setting_is_refused_with_the_reason() {
        let mut m = Map::new();
        m.insert(
            "communication_key_id".into(),
            json!("cc36e85d-2fdf-462c-b395-030907447afc"),
        );
        assert!(Axinom.validate(&m, &[COMMUNICATION_KEY]).is_ok());
        assert!(Axinom.validate(&m, &[]).is_err());
        m.insert("key_source".into(), json!("keyward"));
        let e = Axinom.validate(&m, &[COMMUNICATION_KEY]).unwrap_err();
        assert!(e.contains("not publicly documented"), "{e}");
    }
}
