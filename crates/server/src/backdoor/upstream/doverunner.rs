//! `doverunner`: the DoveRunner (formerly PallyCon) cloud licence server,
//! `POST …/ri/licenseManager.do`, for Widevine, PlayReady and FairPlay.
//!
//! keyward mints a PallyCon/DoveRunner v2 licence token for the *upstream*
//! site (its id in the setting `site_id`, its site key and access key in the
//! private secrets `keyward-site-key` and `keyward-access-key`, 32 characters
//! each, never sent as headers) from the entitlement, and forwards the raw
//! challenge with the token in `pallycon-customdata-v2`:
//!
//! * `drm_type` the licence's DRM, `user_id` the entitlement's subject
//!   (`LICENSETOKEN` when it has none), `cid` its content id (the first carried
//!   key id, as 32 hex digits, when it names none), `timestamp` now;
//! * the policy ([`policy`]): `playback_policy` from the timing and the released
//!   tracks, `security_policy` per track type with the section of the
//!   licence's DRM, and `external_key` with keyward's keys (`key_source`
//!   `keyward`, the default: `mpeg_cenc` for Widevine and PlayReady, `hls_aes`
//!   for FairPlay) or only the keys the credential carries (`key_source`
//!   `upstream`: DoveRunner's KMS holds the keys). The policy is checked with
//!   the SDKs' own validation before it is encrypted.
//!
//! Body: the raw challenge as `application/octet-stream` (Widevine,
//! PlayReady); for FairPlay `spc=<url-encoded base64>`
//! (`application/x-www-form-urlencoded`). The player's `pallycon-client-meta`
//! is not passed through (the kind sees no request headers).
//!
//! What a token cannot carry is refused (7601) rather than dropped: a start
//! time in the future, a level outside the policy's values, FairPlay "no
//! digital output". Answers: `{"errorCode","message"}` (DoveRunner answers its
//! refusals with HTTP 200) → 7602 carrying the upstream's code; HTTP 429 or
//! 503 → 7603; another non-2xx → 7602 with the status; a 2xx otherwise → the
//! licence (Widevine bytes; PlayReady's SOAP XML, a SOAP fault being 7207 as
//! for kind `playready`; FairPlay's base64 CKC decoded to the raw CKC, which
//! the FairPlay back door wraps for the player); an empty or unreadable
//! licence → 7604.

use base64::Engine as _;
use keyward_drm::playready::LicenseAnswer;
use keyward_store::{ContentKeyRecord, Drm, Upstream};
use keyward_token::policy::{
    AnalogVideoProtection, Bytes16, CgmsFlags, DigitalAudioProtection, DigitalVideoProtection,
    FairPlayHdcp, HdcpSrmRule, HdcpVersion, PlayReadySecurityLevel, WidevineSecurityLevel,
};
use keyward_token::{
    AllowedTrackTypes, DrmType, ExternalKey, FairPlaySecurity, HlsAesKey, MpegCencKey,
    PlayReadySecurity, PlaybackPolicy, Policy, SecurityPolicy, SiteCredentials, Timestamp,
    TokenBuilder, WidevineSecurity,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::fairplay_ksm::{spc_out, SpcEnvelope};
use super::http_forward::relayed_type;
use super::playready::fault_refusal;
use super::{cannot, Kind};
use crate::backdoor::Licence;
use crate::codes;
use crate::entitlement::{
    Cgms, Entitlement, FairPlayOutput, Hdcp, KeySource, PlayReadyOutput, WidevineOutput,
};
use crate::refusal::Refusal;
use crate::resources::upstreams::{Answered, Outgoing, Route};

/// The kind.
pub struct DoveRunner;

/// The private secret holding the upstream site's site key (32 characters).
pub const SITE_KEY_SECRET: &str = "keyward-site-key";
/// The private secret holding the upstream site's access key (32 characters).
pub const ACCESS_KEY_SECRET: &str = "keyward-access-key";
/// The header the token travels in.
pub const TOKEN_HEADER: &str = "pallycon-customdata-v2";
/// `user_id` when the entitlement names no subject (the vendor's suggestion).
pub const NO_USER: &str = "LICENSETOKEN";

/// Where the content keys come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysFrom {
    /// keyward: the credential's keys, else the site's key store, sent as
    /// `external_key`.
    #[default]
    Keyward,
    /// DoveRunner's KMS holds the keys: only keys the credential carries are
    /// sent.
    Upstream,
}

/// The kind's own settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The upstream site id (4 uppercase letters or digits, as the console shows it).
    pub site_id: String,
    /// Where the keys come from.
    #[serde(default)]
    pub key_source: KeysFrom,
}

fn settings_of(extra: &Map<String, Value>) -> Result<Settings, String> {
    serde_json::from_value(Value::Object(extra.clone()))
        .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))
}

fn unsupported(what: String) -> Refusal {
    Refusal::with(
        codes::DOVERUNNER_UNSUPPORTED,
        format!(
            "{what}, which a DoveRunner licence token cannot carry: refused rather than dropped"
        ),
    )
}

/// The upstream site's credentials from the route's settings and secrets.
fn credentials(u: &Upstream, site_id: &str) -> Result<SiteCredentials, String> {
    let secret = |n: &str| {
        u.secrets
            .get(n)
            .map(|s| s.expose().as_bytes().to_vec())
            .ok_or_else(|| format!("the secret {n} is missing"))
    };
    SiteCredentials::new(
        site_id,
        &secret(SITE_KEY_SECRET)?,
        &secret(ACCESS_KEY_SECRET)?,
    )
    .map_err(|e| {
        format!(
            "the upstream site credentials are unusable ({}; {SITE_KEY_SECRET} and {ACCESS_KEY_SECRET} are 32 characters each)",
            e.code().as_u16()
        )
    })
}

fn hdcp_version(h: Hdcp) -> HdcpVersion {
    match h {
        Hdcp::None => HdcpVersion::None,
        Hdcp::V1 => HdcpVersion::V1,
        Hdcp::V2 => HdcpVersion::V2,
        Hdcp::V2_1 => HdcpVersion::V2_1,
        Hdcp::V2_2 => HdcpVersion::V2_2,
        Hdcp::V2_3 => HdcpVersion::V2_3,
        Hdcp::NoDigitalOutput => HdcpVersion::NoDigitalOutput,
    }
}

fn cgms_flags(c: Cgms) -> CgmsFlags {
    match c {
        Cgms::None => CgmsFlags::None,
        Cgms::CopyFree => CgmsFlags::CopyFree,
        Cgms::CopyOnce => CgmsFlags::CopyOnce,
        Cgms::CopyNever => CgmsFlags::CopyNever,
    }
}

fn widevine(ent: &Entitlement, r: &WidevineOutput, on: &str) -> Result<WidevineSecurity, Refusal> {
    let security_level = match r.security_level {
        None => None,
        Some(l) => match WidevineSecurityLevel::from_i64(i64::from(l)) {
            Some(v) => Some(v),
            None => {
                cannot(
                    ent,
                    unsupported(format!(
                        "The policy asks for Widevine security level {l} on {on}"
                    )),
                )?;
                None
            }
        },
    };
    Ok(WidevineSecurity {
        security_level,
        required_hdcp_version: r.hdcp.map(hdcp_version),
        required_cgms_flags: r.cgms.map(cgms_flags),
        disable_analog_output: r.disable_analog_output,
        hdcp_srm_rule: r.hdcp_srm_current.map(|c| {
            if c {
                HdcpSrmRule::CurrentSrm
            } else {
                HdcpSrmRule::None
            }
        }),
        override_device_revocation: r.override_device_revocation,
        enable_license_cipher: r.license_cipher,
        allow_test_device: r.allow_test_device,
    })
}

fn playready(
    ent: &Entitlement,
    r: &PlayReadyOutput,
    on: &str,
) -> Result<PlayReadySecurity, Refusal> {
    fn level<T>(
        ent: &Entitlement,
        v: Option<u16>,
        parse: fn(i64) -> Option<T>,
        name: &str,
        on: &str,
    ) -> Result<Option<T>, Refusal> {
        match v {
            None => Ok(None),
            Some(l) => match parse(i64::from(l)) {
                Some(v) => Ok(Some(v)),
                None => cannot(
                    ent,
                    unsupported(format!("The policy asks for PlayReady {name} {l} on {on}")),
                )
                .map(|()| None),
            },
        }
    }
    Ok(PlayReadySecurity {
        security_level: level(
            ent,
            r.security_level,
            PlayReadySecurityLevel::from_i64,
            "security_level",
            on,
        )?,
        digital_video_protection_level: level(
            ent,
            r.digital_video_opl,
            DigitalVideoProtection::from_i64,
            "digital_video_protection_level",
            on,
        )?,
        analog_video_protection_level: level(
            ent,
            r.analog_video_opl,
            AnalogVideoProtection::from_i64,
            "analog_video_protection_level",
            on,
        )?,
        digital_audio_protection_level: level(
            ent,
            r.digital_audio_opl,
            DigitalAudioProtection::from_i64,
            "digital_audio_protection_level",
            on,
        )?,
        require_hdcp_type_1: r.hdcp_type1,
        enable_license_cipher: r.license_cipher,
    })
}

/// FairPlay's HDCP: type 1 (HDCP 2.2+) when the rule asks for type 1 or for
/// HDCP 2.x (never weaker than asked), type 0 for HDCP 1.x, -1 for none.
fn fairplay(ent: &Entitlement, r: &FairPlayOutput, on: &str) -> Result<FairPlaySecurity, Refusal> {
    let hdcp_enforcement = match (r.hdcp, r.hdcp_type1) {
        (_, true) => Some(FairPlayHdcp::Type1),
        (None, false) => None,
        (Some(Hdcp::None), false) => Some(FairPlayHdcp::None),
        (Some(Hdcp::V1), false) => Some(FairPlayHdcp::Type0),
        (Some(Hdcp::V2 | Hdcp::V2_1 | Hdcp::V2_2 | Hdcp::V2_3), false) => Some(FairPlayHdcp::Type1),
        (Some(Hdcp::NoDigitalOutput), false) => {
            cannot(
                ent,
                unsupported(format!(
                    "The policy forbids FairPlay digital output on {on}"
                )),
            )?;
            None
        }
    };
    Ok(FairPlaySecurity {
        hdcp_enforcement,
        allow_airplay: r.allow_airplay,
        allow_av_adapter: r.allow_av_adapter,
    })
}

/// `security_policy`: one entry per output rule of the entitlement that has a
/// section for the licence's DRM (the others say nothing about this licence).
fn security(ent: &Entitlement) -> Result<Option<Vec<SecurityPolicy>>, Refusal> {
    let mut out = Vec::new();
    for p in &ent.output.tracks {
        let on = p
            .track
            .map_or_else(|| "every track".to_owned(), |t| format!("{t} tracks"));
        let mut s = SecurityPolicy {
            track_type: p.track,
            ..SecurityPolicy::default()
        };
        match ent.drm {
            DrmType::Widevine => match &p.widevine {
                Some(w) => s.widevine = Some(widevine(ent, w, &on)?),
                None => continue,
            },
            DrmType::PlayReady => match &p.playready {
                Some(r) => s.playready = Some(playready(ent, r, &on)?),
                None => continue,
            },
            DrmType::FairPlay => match &p.fairplay {
                Some(f) => s.fairplay = Some(fairplay(ent, f, &on)?),
                None => continue,
            },
            _ => continue,
        }
        out.push(s);
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `playback_policy` from the timing: durations capped by the absolute end;
/// the absolute end as `expire_date` when no licence duration is given (a
/// duration wins over a date in DoveRunner's rules).
fn playback(ent: &Entitlement, now: i64) -> Result<PlaybackPolicy, Refusal> {
    let t = &ent.timing;
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
    let mut p = PlaybackPolicy::default().persistent(t.persistent);
    match (cap(t.license_duration), t.expire_at) {
        (Some(d), _) => p = p.license_duration(d),
        (None, Some(end)) => p = p.expire_date(end),
        (None, None) => {}
    }
    if ent.keys.tracks != AllowedTrackTypes::All {
        p = p.allowed_track_types(ent.keys.tracks);
    }
    if let Some(d) = cap(t.rental_duration) {
        p = p.rental_duration(d);
    }
    if let Some(d) = cap(t.playback_duration) {
        p = p.playback_duration(d);
    }
    if t.can_renew {
        if let Some(d) = t.renewal_interval.filter(|d| *d > 0) {
            p = p.renewal_duration(d);
        }
    }
    Ok(p)
}

/// (track type, kid, key, iv) of every key to send: the credential's, then
/// (with `key_source` `keyward` and a credential that allows the store) the
/// store's, without duplicates, only tracks the policy releases.
type KeyRow = (
    keyward_token::TrackType,
    Option<[u8; 16]>,
    [u8; 16],
    Option<[u8; 16]>,
);

fn keys(ent: &Entitlement, from: KeysFrom, stored: &[ContentKeyRecord]) -> Vec<KeyRow> {
    let carried = match ent.drm {
        DrmType::FairPlay => ent.keys.hls.iter().chain(ent.keys.cenc.iter()).collect(),
        _ => ent.keys.cenc.iter().collect::<Vec<_>>(),
    };
    let mut out: Vec<KeyRow> = carried
        .into_iter()
        .map(|k| (k.track_type, k.kid.map(|k| k.0), *k.key.expose(), k.iv))
        .collect();
    if from == KeysFrom::Keyward && ent.keys.source == KeySource::CarriedThenStore {
        for r in stored {
            if !out.iter().any(|(_, kid, _, _)| *kid == Some(r.kid.0)) {
                out.push((r.track_type, Some(r.kid.0), *r.key.expose(), r.iv));
            }
        }
    }
    out.retain(|(t, _, _, _)| ent.keys.tracks.permits(*t));
    out
}

fn external_key(drm: DrmType, rows: &[KeyRow]) -> Option<ExternalKey> {
    let mut e = ExternalKey::default();
    for (t, kid, key, iv) in rows {
        match drm {
            DrmType::FairPlay => {
                e = e.hls_aes(HlsAesKey {
                    track_type: *t,
                    key_id: kid.map(keyward_token::Kid),
                    key: keyward_token::ContentKey::new(*key),
                    // FairPlay needs an IV; keyward's own KSM uses zeros too.
                    iv: Bytes16(iv.unwrap_or([0; 16])),
                });
            }
            _ => {
                let Some(kid) = kid else { continue };
                e = e.mpeg_cenc(MpegCencKey {
                    track_type: *t,
                    key_id: keyward_token::Kid(*kid),
                    key: keyward_token::ContentKey::new(*key),
                    iv: iv.map(Bytes16),
                });
            }
        }
    }
    (!e.is_empty()).then_some(e)
}

/// The policy of the token for one licence request (`certificate`: a
/// Widevine service-certificate request, which needs no key).
///
/// # Errors
/// 7601 for what a token cannot carry; 7001 when `key_source` is `keyward`
/// and there is no key to send; 7502 when the policy releases none of them.
pub fn policy(
    s: &Settings,
    ent: &Entitlement,
    stored: &[ContentKeyRecord],
    certificate: bool,
    now: i64,
) -> Result<Policy, Refusal> {
    let mut p = Policy::new().playback(playback(ent, now)?);
    p.security = security(ent)?;
    if certificate {
        return Ok(p);
    }
    let rows = keys(ent, s.key_source, stored);
    p.external_key = external_key(ent.drm, &rows);
    if p.external_key.is_none() && s.key_source == KeysFrom::Keyward {
        let any = !keys(
            &Entitlement {
                keys: crate::entitlement::Keys {
                    tracks: AllowedTrackTypes::All,
                    ..ent.keys.clone()
                },
                ..ent.clone()
            },
            s.key_source,
            stored,
        )
        .is_empty();
        if any {
            return Err(Refusal::with(
                codes::TRACK_NOT_ALLOWED,
                format!(
                    "allowed_track_types {} releases none of the content's keys",
                    ent.keys.tracks
                ),
            ));
        }
        return Err(Refusal::with(
            codes::KEY_NOT_FOUND,
            format!(
                "No key for content '{}' to send DoveRunner (settings.key_source is keyward)",
                crate::json::bounded(&ent.content_id, 64)
            ),
        ));
    }
    Ok(p)
}

/// The token for one request.
///
/// # Errors
/// 7601 when the policy or an id does not pass the SDKs' validation.
pub fn token(
    creds: &SiteCredentials,
    ent: &Entitlement,
    policy: &Policy,
    now: Timestamp,
) -> Result<String, Refusal> {
    let cid = if ent.content_id.is_empty() {
        ent.keys
            .cenc
            .iter()
            .chain(ent.keys.hls.iter())
            .find_map(|k| k.kid)
            .map(|k| hex::encode(k.0))
            .ok_or_else(|| unsupported("The credential names no content id and no key id".into()))?
    } else {
        ent.content_id.clone()
    };
    let user = if ent.subject.is_empty() {
        NO_USER
    } else {
        ent.subject.as_str()
    };
    let minted = TokenBuilder::new()
        .drm_type(ent.drm)
        .user_id(user)
        .cid(cid)
        .policy_json(&policy.to_json())
        .and_then(|b| b.timestamp(now).mint(creds))
        .map_err(|e| {
            unsupported(format!(
                "The licence token does not pass the SDK's validation ({}: {})",
                e.code().as_u16(),
                crate::json::bounded(e.message(), 120)
            ))
        })?;
    Ok(minted.token)
}

/// The challenge in DoveRunner's body for the DRM.
fn body(drm: DrmType, challenge: &[u8]) -> Outgoing {
    match drm {
        DrmType::FairPlay => spc_out(SpcEnvelope::Form, challenge, None),
        _ => Outgoing::new(challenge.to_vec(), "application/octet-stream"),
    }
}

fn is_ckc(b: &[u8]) -> bool {
    b.len() >= 28 && b.starts_with(&[0, 0, 0, 1])
}

/// The answer read: the licence, or DoveRunner's refusal in keyward's codes.
///
/// # Errors
/// 7602, 7603, 7604; 7207 for a PlayReady SOAP fault.
pub fn read_answer(route: &Route, drm: DrmType, a: Answered) -> Result<Licence, Refusal> {
    let label = route.label();
    let trimmed = a.body.trim_ascii();
    if trimmed.starts_with(b"{") {
        if let Ok(v) = serde_json::from_slice::<Value>(trimmed) {
            if let Some(code) = v.get("errorCode") {
                let code = match code {
                    Value::String(s) => crate::json::bounded(s, 16).into_owned(),
                    other => crate::json::bounded(&other.to_string(), 16).into_owned(),
                };
                let message = v
                    .get("message")
                    .and_then(Value::as_str)
                    .map(|m| {
                        let m: String = m
                            .chars()
                            .map(|c| if c.is_control() { ' ' } else { c })
                            .collect();
                        format!(": {}", crate::json::bounded(&m, 200))
                    })
                    .unwrap_or_default();
                let why = format!("DoveRunner refused with its errorCode {code}{message}");
                return Err(Refusal::with(codes::DOVERUNNER_REFUSED, why.clone())
                    .log(format!("upstream {label}: HTTP {} {why}", a.status)));
            }
        }
    }
    if drm == DrmType::PlayReady {
        if let Some(LicenseAnswer::Fault(f)) = LicenseAnswer::read(&a.body) {
            return Err(fault_refusal(route, a, &f));
        }
    }
    if !(200..300).contains(&a.status) {
        let why = format!("DoveRunner answered HTTP {}", a.status);
        let code = if matches!(a.status, 429 | 503) {
            codes::DOVERUNNER_UNAVAILABLE
        } else {
            codes::DOVERUNNER_REFUSED
        };
        return Err(Refusal::with(code, why.clone()).log(format!("upstream {label}: {why}")));
    }
    let unreadable = |why: &str| {
        Refusal::with(
            codes::DOVERUNNER_ANSWER,
            format!("DoveRunner answered {why}"),
        )
        .log(format!("upstream {label}: HTTP {} {why}", a.status))
    };
    if a.body.is_empty() {
        return Err(unreadable("no licence"));
    }
    match drm {
        DrmType::FairPlay => {
            if is_ckc(&a.body) {
                return Ok(Licence::octets(a.body));
            }
            let text = String::from_utf8_lossy(trimmed);
            let inner = text
                .strip_prefix("<ckc>")
                .and_then(|t| t.strip_suffix("</ckc>"))
                .unwrap_or(&text);
            let cleaned: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .ok()
                .filter(|b| is_ckc(b))
                .map(Licence::octets)
                .ok_or_else(|| unreadable("something that is not a CKC"))
        }
        DrmType::PlayReady => {
            let mut content_type = relayed_type(a.content_type.as_deref());
            if content_type == "application/octet-stream" && trimmed.starts_with(b"<") {
                content_type = "text/xml; charset=utf-8";
            }
            Ok(Licence::new(content_type, a.body))
        }
        _ => Ok(Licence::octets(a.body)),
    }
}

/// The Widevine service certificate request (`08 04`).
const CERTIFICATE_REQUEST: &[u8] = &[0x08, 0x04];

impl Kind for DoveRunner {
    /// DoveRunner reads the client SDKs' device info.
    fn passes_client_meta(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "doverunner"
    }

    fn serves(&self, drm: Drm) -> bool {
        matches!(drm, Drm::Widevine | Drm::PlayReady | Drm::FairPlay)
    }

    fn validate(&self, extra: &Map<String, Value>, secret_names: &[&str]) -> Result<(), String> {
        if let Some(v) = extra.get("key_source") {
            if !v
                .as_str()
                .is_some_and(|t| ["keyward", "upstream"].contains(&t))
            {
                return Err("settings.key_source: one of keyward, upstream".into());
            }
        }
        let s = settings_of(extra)?;
        if keyward_token::parse_site_id(&s.site_id).is_err() {
            return Err(
                "settings.site_id: the DoveRunner site id (4 uppercase letters or digits)".into(),
            );
        }
        for want in [SITE_KEY_SECRET, ACCESS_KEY_SECRET] {
            if !secret_names.contains(&want) {
                return Err(format!(
                    "secrets: doverunner mints tokens with the secrets {SITE_KEY_SECRET} and {ACCESS_KEY_SECRET} (the upstream site's keys, 32 characters each; never sent); {want} is missing"
                ));
            }
        }
        super::refuse_unused_private_secrets(
            "doverunner",
            secret_names,
            &[SITE_KEY_SECRET, ACCESS_KEY_SECRET],
        )?;
        if let Some(n) = secret_names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(TOKEN_HEADER))
        {
            return Err(format!(
                "secrets: {} is the header the token travels in",
                crate::json::bounded(n, 64)
            ));
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
        let creds = credentials(&route.upstream, &s.site_id)
            .map_err(|m| Refusal::internal(format!("upstream {}: {m}", route.label())))?;
        let now = Timestamp::now();
        let certificate = ent.drm == DrmType::Widevine && challenge == CERTIFICATE_REQUEST;
        let p = policy(&s, ent, stored, certificate, now.unix())?;
        let tok = token(&creds, ent, &p, now)?;
        let mut out = body(ent.drm, challenge);
        out.headers.push((TOKEN_HEADER.into(), tok));
        Ok(out)
    }

    fn judge(
        &self,
        route: &Route,
        ent: &Entitlement,
        answer: Answered,
    ) -> Result<Licence, Refusal> {
        read_answer(route, ent.drm, answer)
    }

    /// The token's `security_policy` carries them.
    fn carries_output_rules(&self) -> bool {
        true
    }

    /// An empty challenge of the upstream's DRM with a token for the content
    /// `keyward-probe` and the user `keyward-probe` (no keys): DoveRunner's
    /// `{"errorCode"}` shows it is reachable and checks tokens (a token error
    /// code means the site credentials are wrong).
    fn probe(&self, upstream: &Upstream) -> Outgoing {
        let mut out = body(upstream.drm, &[]);
        let site = upstream
            .settings
            .get("site_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Ok(creds) = credentials(upstream, site) {
            let minted = TokenBuilder::new()
                .drm_type(upstream.drm)
                .user_id("keyward-probe")
                .cid("keyward-probe")
                .policy(&Policy::new().playback(PlaybackPolicy::default().persistent(false)))
                .mint(&creds);
            if let Ok(m) = minted {
                out.headers.push((TOKEN_HEADER.into(), m.token));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::{CarriedKey, Origin, TrackProtection};
    use keyward_token::TrackType;
    use serde_json::json;

    fn settings(key_source: KeysFrom) -> Settings {
        Settings {
            site_id: "DOVE".into(),
            key_source,
        }
    }

    fn carried(t: TrackType, kid: u8, key: u8) -> CarriedKey {
        CarriedKey {
            track_type: t,
            kid: Some(keyward_drm::Kid([kid; 16])),
            key: keyward_drm::ContentKey::new([key; 16]),
            iv: None,
        }
    }

    #[test]
    fn timing_becomes_the_playback_policy() {
        let now = 1_700_000_000;
        let mut e = Entitlement::new(Origin::PallyConToken, "TEST", "u", "c", DrmType::Widevine);
        e.keys.cenc.push(carried(TrackType::Hd, 1, 2));
        e.timing.persistent = true;
        e.timing.license_duration = Some(86_400);
        e.timing.rental_duration = Some(7200);
        e.timing.playback_duration = Some(600);
        e.timing.can_renew = true;
        e.timing.renewal_interval = Some(60);
        e.keys.tracks = AllowedTrackTypes::SdHd;
        let p = policy(&settings(KeysFrom::Keyward), &e, &[], false, now).unwrap();
        let v: Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(
            v["playback_policy"],
            json!({"persistent": true, "license_duration": 86_400, "allowed_track_types": "SD_HD",
                "rental_duration": 7200, "playback_duration": 600, "renewal_duration": 60})
        );
        // An absolute end caps the durations, and is the date without one.
        e.timing.expire_at = Timestamp::from_unix(now + 100);
        let pb = playback(&e, now).unwrap();
        assert_eq!(
            (pb.license_duration, pb.rental_duration, pb.expire_date),
            (Some(100), Some(100), None)
        );
        e.timing.license_duration = None;
        let pb = playback(&e, now).unwrap();
        assert_eq!(pb.expire_date, Timestamp::from_unix(now + 100));
        e.timing.start = Timestamp::from_unix(now + 10);
        assert!(playback(&e, now)
            .unwrap_err()
            .is(codes::DOVERUNNER_UNSUPPORTED));
    }

    #[test]
    fn security_rules_of_the_licence_drm_only() {
        let mut e = Entitlement::new(Origin::Studio, "TEST", "u", "c", DrmType::FairPlay);
        e.output.tracks = vec![
            TrackProtection {
                track: Some(TrackType::Hd),
                widevine: Some(WidevineOutput {
                    security_level: Some(9),
                    ..WidevineOutput::default()
                }),
                ..TrackProtection::default()
            },
            TrackProtection {
                track: None,
                fairplay: Some(FairPlayOutput {
                    hdcp: Some(Hdcp::V2_2),
                    hdcp_type1: false,
                    allow_airplay: Some(false),
                    allow_av_adapter: None,
                }),
                ..TrackProtection::default()
            },
        ];
        // The Widevine level 9 says nothing about a FairPlay licence.
        let s = security(&e).unwrap().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].track_type, None);
        assert_eq!(
            s[0].fairplay.as_ref().unwrap().hdcp_enforcement,
            Some(FairPlayHdcp::Type1)
        );
        e.drm = DrmType::Widevine;
        assert!(security(&e).unwrap_err().is(codes::DOVERUNNER_UNSUPPORTED));
        e.drm = DrmType::FairPlay;
        e.output.tracks[1].fairplay.as_mut().unwrap().hdcp = Some(Hdcp::NoDigitalOutput);
        assert!(security(&e).unwrap_err().is(codes::DOVERUNNER_UNSUPPORTED));
        e.drm = DrmType::PlayReady;
        assert_eq!(security(&e).unwrap(), None);
    }

    #[test]
    fn keys_follow_the_key_source_and_the_tracks() {
        let mut e = Entitlement::new(Origin::PallyConToken, "TEST", "u", "c", DrmType::Widevine);
        let s = settings(KeysFrom::Keyward);
        assert!(policy(&s, &e, &[], false, 0)
            .unwrap_err()
            .is(codes::KEY_NOT_FOUND));
        // The certificate request needs none.
        assert!(policy(&s, &e, &[], true, 0).unwrap().external_key.is_none());
        // Upstream keys: nothing to send is fine.
        let up = settings(KeysFrom::Upstream);
        assert!(policy(&up, &e, &[], false, 0)
            .unwrap()
            .external_key
            .is_none());
        e.keys.cenc.push(carried(TrackType::Hd, 1, 2));
        e.keys.tracks = AllowedTrackTypes::SdOnly;
        assert!(policy(&s, &e, &[], false, 0)
            .unwrap_err()
            .is(codes::TRACK_NOT_ALLOWED));
        e.keys.tracks = AllowedTrackTypes::All;
        let k = policy(&up, &e, &[], false, 0)
            .unwrap()
            .external_key
            .unwrap();
        assert_eq!(
            k.mpeg_cenc.unwrap().len(),
            1,
            "carried keys go with upstream keys too"
        );
        e.drm = DrmType::FairPlay;
        let k = policy(&s, &e, &[], false, 0).unwrap().external_key.unwrap();
        let h = &k.hls_aes.unwrap()[0];
        assert_eq!(
            (h.iv, h.key_id),
            (Bytes16([0; 16]), Some(keyward_token::Kid([1; 16])))
        );
    }

    #[test]
    fn settings_are_checked() {
        let k = DoveRunner;
        let v = |j: Value| j.as_object().unwrap().clone();
        let both = [SITE_KEY_SECRET, ACCESS_KEY_SECRET];
        assert!(k.validate(&v(json!({"site_id": "DOVE"})), &both).is_ok());
        assert!(k
            .validate(
                &v(json!({"site_id": "DOVE", "key_source": "upstream"})),
                &both
            )
            .is_ok());
        assert!(k.validate(&v(json!({})), &both).is_err());
        assert!(k.validate(&v(json!({"site_id": "dove"})), &both).is_err());
        assert!(k.validate(&v(json!({"site_id": "DOVER"})), &both).is_err());
        assert!(k
            .validate(&v(json!({"site_id": "DOVE", "key_source": "kms"})), &both)
            .is_err());
        assert!(k
            .validate(&v(json!({"site_id": "DOVE", "other": 1})), &both)
            .is_err());
        assert!(k
            .validate(&v(json!({"site_id": "DOVE"})), &[SITE_KEY_SECRET])
            .is_err());
        assert!(k
            .validate(
                &v(json!({"site_id": "DOVE"})),
                &[SITE_KEY_SECRET, ACCESS_KEY_SECRET, "keyward-jwt-key"]
            )
            .is_err());
        assert!(k
            .validate(
                &v(json!({"site_id": "DOVE"})),
                &[SITE_KEY_SECRET, ACCESS_KEY_SECRET, "Pallycon-Customdata-V2"]
            )
            .is_err());
        assert!(k.serves(Drm::Widevine) && k.serves(Drm::PlayReady) && k.serves(Drm::FairPlay));
        assert!(!k.serves(Drm::ClearKey));
    }
}
