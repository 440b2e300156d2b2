//! `widevine-cloud`: Google's Widevine cloud licence service (the licence
//! proxy protocol, `POST …/cenc/getlicense/<provider>`), or any service that
//! speaks it.
//!
//! The request is the signed envelope
//! `{"request": b64(msg), "signature": b64(AES-256-CBC(key, iv, SHA-1(msg))), "signer": provider}`
//! (PKCS#7 padding; the service reads the first 20 bytes). `msg` is JSON: the
//! raw challenge (`payload`, base64), `provider`, `content_id`, and the
//! translation of the entitlement — `content_key_specs` (one per key, with
//! the track's security level and output protection, and `key_id` + `key`
//! when keyward holds the keys) or, when there is nothing per track to say,
//! `allowed_track_types`; `policy_overrides` from the timing; the optional
//! `policy_name` and `session_init` of the route's settings. A service
//! certificate request (`08 04`) is sent as `{"payload"}` alone, as the
//! reference proxies do.
//!
//! Settings besides the common ones: `provider` (required), `policy_name`,
//! `session_init` (an object, sent as is), `key_source` (`keyward` — default:
//! the keys come from the credential or the site's key store, and a content
//! without keys is refused with 7001 —, or `upstream`: the service holds the
//! keys, only keys the credential carries are sent) and `track_type_for_all`
//! (the Widevine track type of an `ALL` / `ALL_VIDEO` key: `SD` — default —,
//! `HD`, `UHD1`, `UHD2`). Secrets: `signing_key` (64 hex digits) and
//! `signing_iv` (32 hex digits); they sign the request and are never sent as
//! headers (any other secret is a header, as for every kind).
//!
//! Rules the protocol cannot carry are refused with 7114, never dropped: a
//! licence cipher, a security level outside 1–5, a start time in the future.
//! A key that covers several tracks (`ALL`, `ALL_VIDEO`) gets the strictest
//! rule of the tracks it covers. The answer: `status` `"OK"` → the decoded
//! `license` bytes; otherwise `internal_status` 127 → 7110 (revoked device),
//! 152 → 7112 (bad PSSH), anything else → 7103, the upstream's status in the
//! message and the log; an answer that is not the service's JSON → 7111.
//! See `docs/brokers.md` for the translation table.

use base64::Engine as _;
use keyward_drm::widevine::WidevineChallenge;
use keyward_drm::Kid;
use keyward_store::{ContentKeyRecord, Drm, Upstream};
use keyward_token::{AllowedTrackTypes, Timestamp, TrackType};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::{cannot, widevine_level, Kind};
use crate::backdoor::Licence;
use crate::codes;
use crate::entitlement::{Cgms, Entitlement, Hdcp, KeySource, WidevineOutput};
use crate::refusal::Refusal;
use crate::resources::upstreams::{Answered, Outgoing, Route};

/// The kind.
pub struct WidevineCloud;

/// The secret that is the AES-256 signing key (64 hex digits).
pub const SIGNING_KEY: &str = "signing_key";
/// The secret that is the signing IV (32 hex digits).
pub const SIGNING_IV: &str = "signing_iv";
/// The secrets this kind uses itself: never headers.
const WITHHELD: &[&str] = &[SIGNING_KEY, SIGNING_IV];

/// Where the content keys come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysFrom {
    /// keyward: the credential's keys, else the site's key store.
    #[default]
    Keyward,
    /// The upstream holds the keys (only keys the credential carries are sent).
    Upstream,
}

/// A Widevine track type (what `content_key_specs[].track_type` names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum WvTrack {
    /// SD video.
    #[default]
    #[serde(rename = "SD")]
    Sd,
    /// HD video.
    #[serde(rename = "HD")]
    Hd,
    /// UHD video, first tier.
    #[serde(rename = "UHD1")]
    Uhd1,
    /// UHD video, second tier.
    #[serde(rename = "UHD2")]
    Uhd2,
}

impl WvTrack {
    fn track(self) -> TrackType {
        match self {
            WvTrack::Sd => TrackType::Sd,
            WvTrack::Hd => TrackType::Hd,
            WvTrack::Uhd1 => TrackType::Uhd1,
            WvTrack::Uhd2 => TrackType::Uhd2,
        }
    }
}

/// The kind's own settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Widevine provider (the `signer`, and `provider` in the message).
    pub provider: String,
    /// A policy registered with the service.
    #[serde(default)]
    pub policy_name: Option<String>,
    /// Sent as `session_init`, as is.
    #[serde(default)]
    pub session_init: Option<Map<String, Value>>,
    /// Where the keys come from.
    #[serde(default)]
    pub key_source: KeysFrom,
    /// The Widevine track type of a key for every track (`ALL`, `ALL_VIDEO`).
    #[serde(default)]
    pub track_type_for_all: WvTrack,
}

fn settings_of(extra: &Map<String, Value>) -> Result<Settings, String> {
    serde_json::from_value(Value::Object(extra.clone()))
        .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The Widevine name of a concrete track type (`ALL` / `ALL_VIDEO` have none).
fn label(t: TrackType) -> Option<&'static str> {
    match t {
        TrackType::Sd => Some("SD"),
        TrackType::Hd => Some("HD"),
        TrackType::Uhd1 => Some("UHD1"),
        TrackType::Uhd2 => Some("UHD2"),
        TrackType::Audio => Some("AUDIO"),
        TrackType::All | TrackType::AllVideo => None,
    }
}

/// The tracks Widevine names, in its order.
const CONCRETE: [TrackType; 5] = [
    TrackType::Sd,
    TrackType::Hd,
    TrackType::Uhd1,
    TrackType::Uhd2,
    TrackType::Audio,
];

/// `allowed_track_types` in Widevine's words.
fn allowed_words(a: AllowedTrackTypes) -> &'static str {
    match a {
        AllowedTrackTypes::SdOnly => "SD_ONLY",
        AllowedTrackTypes::SdHd => "SD_HD",
        AllowedTrackTypes::SdUhd1 => "SD_UHD1",
        AllowedTrackTypes::SdUhd2 | AllowedTrackTypes::All => "SD_UHD2",
    }
}

/// The Widevine rule of one concrete track: the most specific entry with a
/// Widevine section — the track's own, then `ALL_VIDEO` (video tracks), then
/// `ALL` or the every-track entry.
fn track_rule(ent: &Entitlement, t: TrackType) -> Option<&WidevineOutput> {
    let entry = |want: Option<TrackType>| {
        ent.output
            .tracks
            .iter()
            .filter(|p| p.track == want)
            .find_map(|p| p.widevine.as_ref())
    };
    entry(Some(t))
        .or_else(|| {
            if t.is_video_tier() {
                entry(Some(TrackType::AllVideo))
            } else {
                None
            }
        })
        .or_else(|| entry(Some(TrackType::All)))
        .or_else(|| entry(None))
}

fn cgms_rank(c: Cgms) -> u8 {
    match c {
        Cgms::None => 0,
        Cgms::CopyFree => 1,
        Cgms::CopyOnce => 2,
        Cgms::CopyNever => 3,
    }
}

fn strictest_flag(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        _ => None,
    }
}

/// The strictest of two rules (for a key that covers several tracks).
fn strictest(a: WidevineOutput, b: &WidevineOutput) -> WidevineOutput {
    WidevineOutput {
        security_level: a.security_level.max(b.security_level),
        hdcp: a.hdcp.max(b.hdcp),
        cgms: match (a.cgms, b.cgms) {
            (Some(x), Some(y)) => Some(if cgms_rank(y) > cgms_rank(x) { y } else { x }),
            (x, y) => x.or(y),
        },
        disable_analog_output: strictest_flag(a.disable_analog_output, b.disable_analog_output),
        hdcp_srm_current: strictest_flag(a.hdcp_srm_current, b.hdcp_srm_current),
        license_cipher: strictest_flag(a.license_cipher, b.license_cipher),
        // Relaxations hold only when every covered track grants them; they
        // are not sent anyway (see `spec`).
        override_device_revocation: a
            .override_device_revocation
            .and(b.override_device_revocation),
        allow_test_device: a.allow_test_device.and(b.allow_test_device),
    }
}

/// The rule for a key of track type `t`: its track's, or for a key that
/// covers several tracks the strictest of theirs.
fn key_rule(ent: &Entitlement, t: TrackType) -> Option<WidevineOutput> {
    let covered: &[TrackType] = match t {
        TrackType::All => &CONCRETE,
        TrackType::AllVideo => &CONCRETE[..4],
        _ => return track_rule(ent, t).cloned(),
    };
    covered
        .iter()
        .filter_map(|c| track_rule(ent, *c))
        .fold(None, |acc, r| {
            Some(match acc {
                None => r.clone(),
                Some(a) => strictest(a, r),
            })
        })
}

fn unsupported(what: String) -> Refusal {
    Refusal::with(
        codes::WIDEVINE_UPSTREAM_UNSUPPORTED,
        format!("{what}, which the Widevine upstream protocol cannot express: refused rather than dropped"),
    )
}

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

fn cgms_words(c: Cgms) -> &'static str {
    match c {
        Cgms::None => "CGMS_NONE",
        Cgms::CopyFree => "COPY_FREE",
        Cgms::CopyOnce => "COPY_ONCE",
        Cgms::CopyNever => "COPY_NEVER",
    }
}

/// One `content_key_specs` entry: the track type, its rule, and the key.
fn spec(
    ent: &Entitlement,
    track: &'static str,
    rule: Option<&WidevineOutput>,
    key: Option<(&[u8; 16], &[u8; 16])>,
) -> Result<Value, Refusal> {
    let mut s = Map::new();
    s.insert("track_type".into(), track.into());
    if let Some(r) = rule {
        if r.license_cipher == Some(true) {
            cannot(
                ent,
                unsupported(format!(
                    "The policy asks for the licence cipher (enable_license_cipher) on {track} tracks"
                )),
            )?;
        }
        if let Some(l) = r.security_level {
            if let Some(l) = widevine_level(ent, l, track, unsupported)? {
                s.insert("security_level".into(), l.into());
            }
        }
        let mut out = Map::new();
        if let Some(h) = r.hdcp {
            out.insert("hdcp".into(), hdcp_words(h).into());
        }
        if let Some(c) = r.cgms {
            out.insert("cgms_flags".into(), cgms_words(c).into());
        }
        if r.hdcp_srm_current == Some(true) {
            out.insert("hdcp_srm_rule".into(), "CURRENT_SRM".into());
        }
        if r.disable_analog_output == Some(true) {
            out.insert("disable_analog_output".into(), true.into());
        }
        if !out.is_empty() {
            s.insert("required_output_protection".into(), Value::Object(out));
        }
    }
    if let Some((kid, key)) = key {
        s.insert("key_id".into(), b64(kid).into());
        s.insert("key".into(), b64(key).into());
    }
    Ok(Value::Object(s))
}

/// `content_key_specs` or `allowed_track_types`, never both.
fn tracks(
    ent: &Entitlement,
    s: &Settings,
    stored: &[ContentKeyRecord],
    asked: &[Kid],
) -> Result<(&'static str, Value), Refusal> {
    // (track type, kid, key): the credential's keys, then the store's.
    let mut keys: Vec<(TrackType, [u8; 16], &[u8; 16])> = ent
        .keys
        .cenc
        .iter()
        .filter_map(|k| k.kid.map(|kid| (k.track_type, kid.0, k.key.expose())))
        .collect();
    if s.key_source == KeysFrom::Keyward && ent.keys.source == KeySource::CarriedThenStore {
        for r in stored {
            // A rotated content holds a key per period: only the periods the
            // challenge names go upstream (not every period's key).
            if r.period.is_some() && !asked.contains(&r.kid) {
                continue;
            }
            if !keys.iter().any(|(_, kid, _)| *kid == r.kid.0) {
                keys.push((r.track_type, r.kid.0, r.key.expose()));
            }
        }
    }
    let all_label = label(s.track_type_for_all.track()).unwrap_or("SD");
    if !keys.is_empty() {
        if !asked.is_empty()
            && !asked
                .iter()
                .any(|a| keys.iter().any(|(_, kid, _)| *kid == a.0))
        {
            return Err(Refusal::with(
                codes::KEY_NOT_FOUND,
                format!(
                    "The challenge names no key of content '{}'",
                    crate::json::bounded(&ent.content_id, 64)
                ),
            ));
        }
        let mut specs = Vec::new();
        for (t, kid, key) in &keys {
            if !ent.keys.tracks.permits(*t) {
                continue;
            }
            let rule = key_rule(ent, *t);
            specs.push(spec(
                ent,
                label(*t).unwrap_or(all_label),
                rule.as_ref(),
                Some((kid, key)),
            )?);
        }
        if specs.is_empty() {
            return Err(Refusal::with(
                codes::TRACK_NOT_ALLOWED,
                format!(
                    "allowed_track_types {} releases none of the content's keys",
                    ent.keys.tracks
                ),
            ));
        }
        return Ok(("content_key_specs", Value::Array(specs)));
    }
    if s.key_source == KeysFrom::Keyward {
        return Err(Refusal::with(
            codes::KEY_NOT_FOUND,
            format!(
                "No key for content '{}' to send the Widevine upstream (settings.key_source is keyward)",
                crate::json::bounded(&ent.content_id, 64)
            ),
        ));
    }
    // The upstream holds the keys: per-track rules go as specs without keys,
    // for every track the policy releases; no rule at all is just the tracks.
    if CONCRETE.iter().all(|t| track_rule(ent, *t).is_none()) {
        return Ok(("allowed_track_types", allowed_words(ent.keys.tracks).into()));
    }
    let mut specs = Vec::new();
    for t in CONCRETE {
        if ent.keys.tracks.permits(t) {
            if let Some(l) = label(t) {
                specs.push(spec(ent, l, track_rule(ent, t), None)?);
            }
        }
    }
    Ok(("content_key_specs", Value::Array(specs)))
}

/// `policy_overrides` from the timing; durations capped by the absolute end.
fn policy_overrides(ent: &Entitlement) -> Result<Value, Refusal> {
    let t = &ent.timing;
    let now = Timestamp::now().unix();
    if let Some(start) = t.start {
        if start.unix() > now {
            cannot(
                ent,
                unsupported(format!(
                    "The policy starts at {start} (a licence that is not valid yet)"
                )),
            )?;
        }
    }
    let remaining = t
        .expire_at
        .map(|e| u64::try_from(e.unix() - now).unwrap_or(0).max(1));
    let cap = |d: Option<u64>| match (d, remaining) {
        (Some(d), Some(r)) => Some(d.min(r)),
        (d, _) => d,
    };
    let mut p = Map::new();
    p.insert("can_play".into(), true.into());
    p.insert("can_persist".into(), t.persistent.into());
    p.insert("can_renew".into(), t.can_renew.into());
    if let Some(d) = cap(t.license_duration).or(remaining) {
        p.insert("license_duration_seconds".into(), d.into());
    }
    if let Some(d) = cap(t.rental_duration) {
        p.insert("rental_duration_seconds".into(), d.into());
    }
    if let Some(d) = cap(t.playback_duration) {
        p.insert("playback_duration_seconds".into(), d.into());
    }
    if t.can_renew {
        if let Some(d) = t.renewal_interval {
            p.insert("renewal_delay_seconds".into(), d.into());
        }
    }
    Ok(Value::Object(p))
}

/// The message (`msg`) for a challenge.
///
/// # Errors
/// What the protocol cannot express (7114), keys missing (7001) or not
/// released (7502).
pub fn message(
    route_settings: &Settings,
    ent: &Entitlement,
    stored: &[ContentKeyRecord],
    challenge: &[u8],
) -> Result<Value, Refusal> {
    let parsed = WidevineChallenge::parse(challenge)?;
    if parsed == WidevineChallenge::ServiceCertificateRequest {
        return Ok(json!({ "payload": b64(challenge) }));
    }
    let s = route_settings;
    let mut m = Map::new();
    m.insert("payload".into(), b64(challenge).into());
    m.insert("provider".into(), s.provider.clone().into());
    let (pssh_cid, asked) = match parsed {
        WidevineChallenge::LicenseRequest {
            content_id,
            key_ids,
            ..
        } => (content_id, key_ids),
        WidevineChallenge::ServiceCertificateRequest => (None, Vec::new()),
    };
    if !ent.content_id.is_empty() {
        m.insert("content_id".into(), b64(ent.content_id.as_bytes()).into());
    } else if let Some(c) = pssh_cid {
        m.insert("content_id".into(), b64(&c).into());
    }
    let (name, value) = tracks(ent, s, stored, &asked)?;
    m.insert(name.into(), value);
    m.insert("policy_overrides".into(), policy_overrides(ent)?);
    if let Some(p) = &s.policy_name {
        m.insert("policy_name".into(), p.clone().into());
    }
    if let Some(si) = &s.session_init {
        m.insert("session_init".into(), Value::Object(si.clone()));
    }
    Ok(Value::Object(m))
}

/// The signing key and IV of an upstream's secrets.
fn signing(u: &Upstream) -> Option<(Zeroizing<[u8; 32]>, [u8; 16])> {
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(u.secrets.get(SIGNING_KEY)?.expose().trim(), &mut key[..]).ok()?;
    let mut iv = [0u8; 16];
    hex::decode_to_slice(u.secrets.get(SIGNING_IV)?.expose().trim(), &mut iv).ok()?;
    Some((key, iv))
}

/// `AES-256-CBC(key, iv, PKCS#7(SHA-1(msg)))`: the Widevine signature, the same
/// the key API's packagers make.
pub fn signature(key: &[u8; 32], iv: &[u8; 16], msg: &[u8]) -> Vec<u8> {
    keyward_drm::packaging::widevine::sign(msg, key, iv).to_vec()
}

/// The signed envelope around a message (an empty signature without usable
/// signing secrets: the service refuses it, which `upstream test` shows).
fn envelope(u: &Upstream, provider: &str, msg: &Value) -> Outgoing {
    let bytes = msg.to_string().into_bytes();
    let sig = signing(u).map_or_else(Vec::new, |(k, iv)| signature(&k, &iv, &bytes));
    Outgoing {
        body: json!({"request": b64(&bytes), "signature": b64(&sig), "signer": provider})
            .to_string()
            .into_bytes(),
        content_type: "application/json",
        withhold: WITHHELD,
        ..Outgoing::default()
    }
}

/// The upstream's answer read: the licence, or its refusal in keyward's codes.
///
/// # Errors
/// 7103, 7110, 7111, 7112 (see the module docs).
pub fn read_answer(route: &Route, a: &Answered) -> Result<Vec<u8>, Refusal> {
    let label = route.label();
    let Ok(v) = serde_json::from_slice::<Value>(&a.body) else {
        if (200..300).contains(&a.status) {
            return Err(Refusal::with(
                codes::WIDEVINE_UPSTREAM_PARSE,
                "The Widevine upstream answered something that is not its JSON",
            )
            .log(format!(
                "upstream {label}: HTTP {} answer is not JSON",
                a.status
            )));
        }
        return Err(Refusal::with(
            codes::WIDEVINE_UPSTREAM_REFUSED,
            format!("The Widevine upstream answered HTTP {}", a.status),
        )
        .log(format!("upstream {label}: HTTP {}", a.status)));
    };
    let Some(status) = v.get("status").and_then(Value::as_str) else {
        return Err(Refusal::with(
            codes::WIDEVINE_UPSTREAM_PARSE,
            "The Widevine upstream answered JSON without a status",
        )
        .log(format!(
            "upstream {label}: HTTP {}, JSON without status",
            a.status
        )));
    };
    let status = crate::json::bounded(status, 64);
    if status == "OK" {
        let licence = v
            .get("license")
            .and_then(Value::as_str)
            .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
            .filter(|l| !l.is_empty());
        return licence.ok_or_else(|| {
            Refusal::with(
                codes::WIDEVINE_UPSTREAM_PARSE,
                "The Widevine upstream answered OK without a licence",
            )
            .log(format!("upstream {label}: status OK, no readable license"))
        });
    }
    let internal = v.get("internal_status").and_then(Value::as_i64);
    let code = match internal {
        Some(127) => codes::WIDEVINE_DEVICE_REVOKED,
        Some(152) => codes::PSSH_MALFORMED,
        _ => codes::WIDEVINE_UPSTREAM_REFUSED,
    };
    let internal_text = internal
        .map(|i| format!(", internal status {i}"))
        .unwrap_or_default();
    Err(Refusal::with(
        code,
        format!("The Widevine upstream refused: status {status}{internal_text}"),
    )
    .log(format!(
        "upstream {label}: HTTP {} status {status}{internal_text}",
        a.status
    )))
}

impl Kind for WidevineCloud {
    fn name(&self) -> &'static str {
        "widevine-cloud"
    }

    fn serves(&self, drm: Drm) -> bool {
        drm == Drm::Widevine
    }

    fn validate(&self, extra: &Map<String, Value>, secret_names: &[&str]) -> Result<(), String> {
        for (field, allowed) in [
            ("key_source", &["keyward", "upstream"][..]),
            ("track_type_for_all", &["SD", "HD", "UHD1", "UHD2"][..]),
        ] {
            if let Some(v) = extra.get(field) {
                if !v.as_str().is_some_and(|t| allowed.contains(&t)) {
                    return Err(format!("settings.{field}: one of {}", allowed.join(", ")));
                }
            }
        }
        let s = settings_of(extra)?;
        let name_ok = |t: &str| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !name_ok(&s.provider) {
            return Err(
                "settings.provider: the Widevine provider name (A-Z a-z 0-9 . _ -, at most 64)"
                    .into(),
            );
        }
        if let Some(p) = &s.policy_name {
            if !name_ok(p) {
                return Err("settings.policy_name: A-Z a-z 0-9 . _ -, at most 64".into());
            }
        }
        if let Some(si) = &s.session_init {
            if Value::Object(si.clone()).to_string().len() > 4096 {
                return Err("settings.session_init: at most 4096 bytes of JSON".into());
            }
        }
        for want in WITHHELD {
            if !secret_names.contains(want) {
                return Err(format!(
                    "secrets: widevine-cloud signs with the secrets {SIGNING_KEY} (64 hex digits) and {SIGNING_IV} (32 hex digits); {want} is missing"
                ));
            }
        }
        Ok(())
    }

    fn build(
        &self,
        route: &Route,
        ent: &Entitlement,
        stored: &[ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal> {
        let s = settings_of(&route.settings.extra)
            .map_err(|m| Refusal::internal(format!("upstream {}: {m}", route.label())))?;
        if signing(&route.upstream).is_none() {
            return Err(Refusal::internal(format!(
                "upstream {}: the secrets {SIGNING_KEY} (64 hex digits) and {SIGNING_IV} (32 hex digits) are missing or malformed",
                route.label()
            )));
        }
        let msg = message(&s, ent, stored, challenge)?;
        Ok(envelope(&route.upstream, &s.provider, &msg))
    }

    fn judge(
        &self,
        route: &Route,
        _ent: &Entitlement,
        answer: Answered,
    ) -> Result<Licence, Refusal> {
        read_answer(route, &answer).map(Licence::octets)
    }

    /// The service certificate request (`08 04`), signed: the certificate
    /// shows the service is reachable and takes the signature.
    fn probe(&self, upstream: &Upstream) -> Outgoing {
        let provider = upstream
            .settings
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or_default();
        envelope(
            upstream,
            provider,
            &json!({ "payload": b64(SERVICE_CERTIFICATE_REQUEST) }),
        )
    }
}

/// The service certificate request, `SignedMessage{type: 4}`.
pub const SERVICE_CERTIFICATE_REQUEST: &[u8] = &[0x08, 0x04];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::{Origin, TrackProtection};
    use keyward_token::DrmType;

    fn wv(level: u8, hdcp: Hdcp) -> Option<WidevineOutput> {
        Some(WidevineOutput {
            security_level: Some(level),
            hdcp: Some(hdcp),
            ..WidevineOutput::default()
        })
    }

    fn ent(rules: Vec<(Option<TrackType>, Option<WidevineOutput>)>) -> Entitlement {
        let mut e = Entitlement::new(Origin::PallyConToken, "TEST", "u", "c", DrmType::Widevine);
        e.output.tracks = rules
            .into_iter()
            .map(|(track, widevine)| TrackProtection {
                track,
                widevine,
                ..TrackProtection::default()
            })
            .collect();
        e
    }

    #[test]
    fn the_most_specific_rule_applies_to_a_track() {
        let e = ent(vec![
            (Some(TrackType::All), wv(1, Hdcp::None)),
            (Some(TrackType::AllVideo), wv(3, Hdcp::V1)),
            (Some(TrackType::Hd), wv(5, Hdcp::V2_2)),
        ]);
        assert_eq!(
            track_rule(&e, TrackType::Hd).unwrap().security_level,
            Some(5)
        );
        assert_eq!(
            track_rule(&e, TrackType::Sd).unwrap().security_level,
            Some(3)
        );
        assert_eq!(
            track_rule(&e, TrackType::Audio).unwrap().security_level,
            Some(1)
        );
        // A single key for every track gets the strictest of them.
        let all = key_rule(&e, TrackType::All).unwrap();
        assert_eq!((all.security_level, all.hdcp), (Some(5), Some(Hdcp::V2_2)));
        // An entry without a Widevine section does not hide the ALL rule.
        let e = ent(vec![(Some(TrackType::Sd), None), (None, wv(2, Hdcp::V1))]);
        assert_eq!(
            track_rule(&e, TrackType::Sd).unwrap().security_level,
            Some(2)
        );
    }

    #[test]
    fn strictest_never_relaxes() {
        let a = WidevineOutput {
            security_level: Some(1),
            hdcp: Some(Hdcp::NoDigitalOutput),
            cgms: Some(Cgms::CopyOnce),
            disable_analog_output: Some(false),
            override_device_revocation: Some(true),
            ..WidevineOutput::default()
        };
        let b = WidevineOutput {
            security_level: Some(4),
            hdcp: Some(Hdcp::V2_3),
            cgms: Some(Cgms::CopyFree),
            disable_analog_output: Some(true),
            override_device_revocation: None,
            ..WidevineOutput::default()
        };
        let s = strictest(a, &b);
        assert_eq!(s.security_level, Some(4));
        assert_eq!(s.hdcp, Some(Hdcp::NoDigitalOutput));
        assert_eq!(s.cgms, Some(Cgms::CopyOnce));
        assert_eq!(s.disable_analog_output, Some(true));
        assert_eq!(s.override_device_revocation, None);
    }

    #[test]
    fn signature_is_aes_cbc_of_the_sha1() {
        use sha1::Digest as _;
        // The public widevine_test credentials (shaka-packager docs).
        let key: [u8; 32] =
            hex::decode("1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9")
                .unwrap()
                .try_into()
                .unwrap();
        let iv: [u8; 16] = hex::decode("d58ce954203b7c9a9a9d467f59839249")
            .unwrap()
            .try_into()
            .unwrap();
        let sig = signature(&key, &iv, b"{}");
        assert_eq!(sig.len(), 32);
        let mut block = aes::cipher::generic_array::GenericArray::clone_from_slice(&sig[..16]);
        use aes::cipher::{BlockDecrypt as _, KeyInit as _};
        aes::Aes256::new(&key.into()).decrypt_block(&mut block);
        let hash = sha1::Sha1::digest(b"{}");
        let first: Vec<u8> = block.iter().zip(iv).map(|(b, v)| b ^ v).collect();
        assert_eq!(first, hash[..16]);
    }

    #[test]
    fn policy_overrides_follow_the_timing() {
        let mut e = ent(vec![]);
        e.timing.persistent = true;
        e.timing.can_renew = true;
        e.timing.renewal_interval = Some(60);
        e.timing.license_duration = Some(86_400);
        e.timing.rental_duration = Some(7200);
        e.timing.playback_duration = Some(3600);
        let p = policy_overrides(&e).unwrap();
        assert_eq!(
            p,
            json!({"can_play": true, "can_persist": true, "can_renew": true,
                "license_duration_seconds": 86_400, "rental_duration_seconds": 7200,
                "playback_duration_seconds": 3600, "renewal_delay_seconds": 60})
        );
        e.timing.expire_at = Timestamp::from_unix(Timestamp::now().unix() + 100);
        let p = policy_overrides(&e).unwrap();
        let l = p["license_duration_seconds"].as_u64().unwrap();
        assert!((99..=100).contains(&l), "{p}");
        assert_eq!(
            p["playback_duration_seconds"],
            p["license_duration_seconds"]
        );
        e.timing.start = Timestamp::from_unix(Timestamp::now().unix() + 1000);
        assert!(policy_overrides(&e)
            .unwrap_err()
            .is(codes::WIDEVINE_UPSTREAM_UNSUPPORTED));
    }
}
