//! `playready`: a PlayReady licence server — the tenant's PlayReady Server SDK
//! deployment, or a server that takes the Microsoft test server's `cfg=` query
//! (protocols §3.3–3.5). The player's SOAP challenge goes there as it came
//! (`text/xml; charset=utf-8`), the `AcquireLicenseResponse` comes back and is
//! relayed byte for byte.
//!
//! Settings besides the common ones:
//! * `custom_data`: `keep` (default) passes the challenge's `CustomData`
//!   through; any other text replaces it (the element is added when absent).
//!   `LA` — which holds `CustomData` — is what the client signs, so a server
//!   that verifies the challenge signature (the Server SDK does) refuses a
//!   rewritten challenge: replace only for a server that reads `CustomData`
//!   without verifying.
//! * `test_server_cfg` (default false): append `?cfg=(kid:…,contentkey:…,…)`
//!   built from the entitlement, one group per key id of the challenge's
//!   header ([`test_server_cfg`]). What the syntax cannot say is refused
//!   (7209), never dropped. Without it nothing of the entitlement travels but
//!   `CustomData`: the upstream applies its own policy.
//!
//! Every request carries
//! `SOAPAction: "http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense"`
//! (a kind builds from the challenge bytes only, not the player's headers;
//! challenges are always that action).
//!
//! Answers: an `AcquireLicenseResponse` envelope with a 2xx status is the
//! licence; a SOAP fault (HTTP 500, unsigned) is 7207 with its `StatusCode`
//! and `faultstring` in the message — native paths relay the fault itself for
//! the player's PlayReady stack; anything else is 7207 too.

use base64::Engine as _;
use keyward_drm::playready::{with_custom_data, LicenseAnswer, PlayReadyChallenge, SoapFault};
use keyward_drm::Kid;
use keyward_store::{Drm, Upstream};
use keyward_token::Timestamp;
use serde::Deserialize;

use super::{cannot, Kind};
use crate::backdoor::{check_track, Licence};
use crate::codes;
use crate::entitlement::{CarriedKey, Entitlement, KeySource};
use crate::refusal::{Refusal, Relayed};
use crate::resources::upstreams::{Answered, Outgoing, Route};

/// The kind.
pub struct PlayReady;

/// The media type of challenges, licences and faults.
pub const SOAP_XML: &str = "text/xml; charset=utf-8";

/// The SOAPAction of a licence challenge (quoted, as clients send it).
pub const ACQUIRE_LICENSE_ACTION: &str =
    "\"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense\"";

/// The value of `custom_data` that passes the challenge's own through.
const KEEP: &str = "keep";

/// Longest `custom_data` replacement, characters.
const MAX_CUSTOM_DATA: usize = 4096;

/// The test server's explicit digital video output protection for "HDCP type 1"
/// (query-string syntax, `dvop`).
const DVOP_HDCP_TYPE1: &str = "dvop:(guid:ABB2C6F1-E663-4625-A945-972D17B231E7,data:AAAAAQ==)";

/// The kind's own settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `keep` (or absent): pass through; other text: the replacement.
    pub custom_data: Option<String>,
    /// Append the test server's `cfg=` query built from the entitlement.
    pub test_server_cfg: bool,
}

fn settings(route: &Route) -> Settings {
    serde_json::from_value(serde_json::Value::Object(route.settings.extra.clone()))
        .unwrap_or_default()
}

/// A SOAP challenge to send, with its SOAPAction.
pub fn soap_out(body: Vec<u8>) -> Outgoing {
    let mut out = Outgoing::new(body, SOAP_XML);
    out.headers
        .push(("SOAPAction".into(), ACQUIRE_LICENSE_ACTION.into()));
    out
}

fn unsupported(why: String) -> Refusal {
    Refusal::with(codes::PLAYREADY_POLICY_UNSUPPORTED, why)
}

/// `yyyymmddhhmmss` (UTC), the test server's date form.
fn cfg_date(unix: i64) -> Result<String, Refusal> {
    let t = Timestamp::from_unix(unix)
        .ok_or_else(|| unsupported(format!("The licence time {unix} is out of range")))?;
    Ok(t.to_string().chars().filter(char::is_ascii_digit).collect())
}

/// The timing parameters every group carries: `persist`, `begindate` (the
/// start), `expiration` (the earliest of the absolute end, now + licence
/// duration, now + rental duration) and `firstexp` (the playback window).
fn timing_params(ent: &Entitlement, now: Timestamp) -> Result<Vec<String>, Refusal> {
    let t = &ent.timing;
    let mut out = vec![format!("persist:{}", t.persistent)];
    if let Some(s) = t.start {
        out.push(format!("begindate:{}", cfg_date(s.unix())?));
    }
    let after = |d: u64| {
        now.unix()
            .saturating_add(i64::try_from(d).unwrap_or(i64::MAX))
    };
    let end = [
        t.expire_at.map(Timestamp::unix),
        t.license_duration.map(after),
        t.rental_duration.map(after),
    ]
    .into_iter()
    .flatten()
    .min();
    if let Some(e) = end {
        out.push(format!("expiration:{}", cfg_date(e)?));
    }
    if let Some(p) = t.playback_duration {
        out.push(format!("firstexp:{p}"));
    }
    Ok(out)
}

/// One key's group: `(kid:…,contentkey:…,sl:…,<output rules>,<timing>)`.
fn group(
    ent: &Entitlement,
    kid: Kid,
    key: &CarriedKey,
    timing: &[String],
) -> Result<String, Refusal> {
    let mut p = vec![
        format!("kid:{}", kid.to_uuid_string()),
        format!(
            "contentkey:{}",
            base64::engine::general_purpose::STANDARD.encode(key.key.expose())
        ),
    ];
    if let Some(rule) = ent
        .output
        .for_track(key.track_type)
        .and_then(|r| r.playready.as_ref())
    {
        if rule.license_cipher == Some(true) {
            cannot(
                ent,
                unsupported(
                    "The policy enables the PlayReady licence cipher, which the test server's cfg= cannot ask for".into(),
                ),
            )?;
        }
        if let Some(sl) = rule.security_level {
            if [150, 2000, 3000].contains(&sl) {
                p.push(format!("sl:{sl}"));
            } else {
                cannot(
                    ent,
                    unsupported(format!(
                        "PlayReady security level {sl} is not one of 150, 2000, 3000"
                    )),
                )?;
            }
        }
        if let Some(v) = rule.digital_video_opl {
            p.push(format!("ucvopl:{v}"));
        }
        if let Some(v) = rule.analog_video_opl {
            p.push(format!("avopl:{v}"));
        }
        if let Some(v) = rule.digital_audio_opl {
            p.push(format!("ucaopl:{v}"));
        }
        if rule.hdcp_type1 == Some(true) {
            p.push(DVOP_HDCP_TYPE1.into());
        }
    }
    p.extend(timing.iter().cloned());
    Ok(format!("({})", p.join(",")))
}

/// The Microsoft test server's `cfg` value (query-string syntax) for the key
/// ids a challenge names: one group per key the entitlement releases — the
/// key as `contentkey` (never the test key seed), the track's PlayReady rule
/// (`sl`, `ucvopl`, `avopl`, `ucaopl`, HDCP type 1 as `dvop`), and the timing.
/// Keys come from `ent.keys.cenc` (the credential's, plus the store's the
/// PlayReady back door resolved for the challenge).
///
/// # Errors
/// 7001 when a key id has no key (a credential that carries only its own keys
/// skips the others; none at all is 7001 too); 7502 for a key of a track the
/// policy does not release; 7209 for what the syntax cannot say.
pub fn test_server_cfg(ent: &Entitlement, kids: &[Kid], now: Timestamp) -> Result<String, Refusal> {
    if kids.is_empty() {
        return Err(Refusal::with(
            codes::KEY_NOT_FOUND,
            "The challenge's content header names no key id, which the test server's cfg= needs",
        ));
    }
    let timing = timing_params(ent, now)?;
    let mut groups = Vec::with_capacity(kids.len());
    for kid in kids {
        match ent.keys.cenc.iter().find(|k| k.kid == Some(*kid)) {
            Some(k) => {
                check_track(ent, k.track_type)?;
                groups.push(group(ent, *kid, k, &timing)?);
            }
            None if ent.keys.source == KeySource::CarriedOnly => {}
            None => {
                return Err(Refusal::with(
                    codes::KEY_NOT_FOUND,
                    format!(
                        "No key with KID {kid} for content '{}'",
                        crate::json::bounded(&ent.content_id, 256)
                    ),
                ))
            }
        }
    }
    if groups.is_empty() {
        return Err(Refusal::with(
            codes::KEY_NOT_FOUND,
            "The challenge names no key the credential carries",
        ));
    }
    Ok(groups.join(","))
}

/// Text for a message: whitespace runs made one space, control characters
/// dropped, at most `max` characters.
fn shown(s: &str, max: usize) -> String {
    let flat = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>();
    crate::json::bounded(&flat, max).into_owned()
}

/// 7207 for a SOAP fault: its StatusCode and faultstring (bounded) in the
/// message; native paths relay the fault as it came (HTTP 500 unless the
/// upstream sent another error status).
pub fn fault_refusal(route: &Route, a: Answered, f: &SoapFault) -> Refusal {
    let code = f.status_code.as_deref().map_or_else(
        || "no StatusCode".to_owned(),
        |c| format!("StatusCode {}", shown(c, 32)),
    );
    let text = f
        .fault_string
        .as_deref()
        .map(|s| format!(": {}", shown(s, 200)))
        .unwrap_or_default();
    let why = format!("The PlayReady upstream answered a SOAP fault ({code}){text}");
    Refusal::with(codes::PLAYREADY_UPSTREAM_REFUSED, why.clone())
        .log(format!("upstream {}: {why}", route.label()))
        .relaying(Relayed {
            status: if a.status >= 400 { a.status } else { 500 },
            content_type: SOAP_XML,
            body: a.body,
        })
}

/// The licence in a PlayReady server's answer (see the module docs).
///
/// # Errors
/// 7207.
pub fn read_answer(route: &Route, a: Answered) -> Result<Licence, Refusal> {
    let refused = |why: String| {
        Refusal::with(codes::PLAYREADY_UPSTREAM_REFUSED, why.clone())
            .log(format!("upstream {}: {why}", route.label()))
    };
    let ok = (200..300).contains(&a.status);
    match LicenseAnswer::read(&a.body) {
        Some(LicenseAnswer::Licence) if ok => Ok(Licence::new(SOAP_XML, a.body)),
        Some(LicenseAnswer::Fault(f)) => Err(fault_refusal(route, a, &f)),
        _ if !ok => Err(refused(format!(
            "The PlayReady upstream answered HTTP {}",
            a.status
        ))),
        _ => Err(refused(
            "The PlayReady upstream answered something that is neither a licence nor a SOAP fault"
                .into(),
        )),
    }
}

/// A challenge without a content header, signature or client data: a server
/// answers it with a fault (8004C601 invalid message, typically).
const PROBE: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
    r#"<AcquireLicense xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols"><challenge>"#,
    r#"<Challenge xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols/messages">"#,
    r#"<LA xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols" Id="SignedData" xml:space="preserve">"#,
    "<Version>1</Version><CustomData>keyward upstream test</CustomData></LA>",
    "</Challenge></challenge></AcquireLicense></soap:Body></soap:Envelope>"
);

impl Kind for PlayReady {
    fn name(&self) -> &'static str {
        "playready"
    }

    fn serves(&self, drm: Drm) -> bool {
        drm == Drm::PlayReady
    }

    fn validate(
        &self,
        extra: &serde_json::Map<String, serde_json::Value>,
        secret_names: &[&str],
    ) -> Result<(), String> {
        let s: Settings = serde_json::from_value(serde_json::Value::Object(extra.clone()))
            .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))?;
        if let Some(c) = &s.custom_data {
            if c.is_empty()
                || c.chars().count() > MAX_CUSTOM_DATA
                || c.chars().any(char::is_control)
            {
                return Err(format!(
                    "settings.custom_data: `{KEEP}`, or the replacement text (1 to {MAX_CUSTOM_DATA} characters, no control characters)"
                ));
            }
        }
        super::refuse_unused_private_secrets("playready", secret_names, &[])?;
        Ok(())
    }

    /// The challenge as the player sent it (its `CustomData` replaced when
    /// configured), with the `cfg=` query when configured.
    fn build(
        &self,
        route: &Route,
        ent: &Entitlement,
        _stored: &[keyward_store::ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal> {
        let s = settings(route);
        let body = match s.custom_data.as_deref() {
            None | Some(KEEP) => challenge.to_vec(),
            Some(v) => with_custom_data(challenge, v)?,
        };
        let mut out = soap_out(body);
        if s.test_server_cfg {
            let kids = PlayReadyChallenge::parse(challenge)?.key_ids;
            out.query = Some(format!(
                "cfg={}",
                test_server_cfg(ent, &kids, Timestamp::now())?
            ));
        }
        Ok(out)
    }

    fn judge(
        &self,
        route: &Route,
        _ent: &Entitlement,
        answer: Answered,
    ) -> Result<Licence, Refusal> {
        read_answer(route, answer)
    }

    /// A minimal unsigned challenge (no content header): a SOAP fault back
    /// shows the server is reachable and speaks the protocol.
    fn probe(&self, _upstream: &Upstream) -> Outgoing {
        soap_out(PROBE.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::{Origin, PlayReadyOutput, TrackProtection};
    use keyward_drm::ContentKey;
    use keyward_token::{AllowedTrackTypes, DrmType, TrackType};

    fn ent() -> Entitlement {
        let mut e = Entitlement::new(Origin::PallyConToken, "S", "u", "c", DrmType::PlayReady);
        e.keys.cenc.push(CarriedKey {
            track_type: TrackType::Hd,
            kid: Some(Kid::new([0x22; 16])),
            key: ContentKey::new([0xb2; 16]),
            iv: None,
        });
        e
    }

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn cfg(e: &Entitlement, kids: &[Kid]) -> Result<String, Refusal> {
        test_server_cfg(e, kids, Timestamp::from_unix(NOW).unwrap())
    }

    #[test]
    fn groups_carry_key_rules_and_timing() {
        let mut e = ent();
        let kid = Kid::new([0x22; 16]);
        assert_eq!(
            cfg(&e, &[kid]).unwrap(),
            "(kid:22222222-2222-2222-2222-222222222222,contentkey:srKysrKysrKysrKysrKysg==,persist:false)"
        );
        e.output.tracks.push(TrackProtection {
            track: Some(TrackType::Hd),
            playready: Some(PlayReadyOutput {
                security_level: Some(3000),
                digital_video_opl: Some(300),
                analog_video_opl: Some(200),
                digital_audio_opl: Some(250),
                hdcp_type1: Some(true),
                license_cipher: Some(false),
            }),
            ..Default::default()
        });
        e.timing.persistent = true;
        e.timing.start = Timestamp::from_unix(NOW - 86_400);
        e.timing.license_duration = Some(3_600);
        e.timing.expire_at = Timestamp::from_unix(NOW + 7_200);
        e.timing.playback_duration = Some(600);
        assert_eq!(
            cfg(&e, &[kid]).unwrap(),
            "(kid:22222222-2222-2222-2222-222222222222,contentkey:srKysrKysrKysrKysrKysg==,sl:3000,\
             ucvopl:300,avopl:200,ucaopl:250,dvop:(guid:ABB2C6F1-E663-4625-A945-972D17B231E7,data:AAAAAQ==),\
             persist:true,begindate:20231113221320,expiration:20231114231320,firstexp:600)"
        );
        // The absolute end wins when it is earlier.
        e.timing.expire_at = Timestamp::from_unix(NOW + 60);
        assert!(cfg(&e, &[kid])
            .unwrap()
            .contains("expiration:20231114221420"));
    }

    #[test]
    fn what_cannot_be_said_is_refused() {
        let kid = Kid::new([0x22; 16]);
        let mut e = ent();
        e.output.tracks.push(TrackProtection {
            track: None,
            playready: Some(PlayReadyOutput {
                license_cipher: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(cfg(&e, &[kid])
            .unwrap_err()
            .is(codes::PLAYREADY_POLICY_UNSUPPORTED));
        e.output.tracks[0].playready = Some(PlayReadyOutput {
            security_level: Some(1000),
            ..Default::default()
        });
        assert!(cfg(&e, &[kid])
            .unwrap_err()
            .is(codes::PLAYREADY_POLICY_UNSUPPORTED));
        // Keys: none named, unknown, another track, carried-only skipping.
        let e = ent();
        assert!(cfg(&e, &[]).unwrap_err().is(codes::KEY_NOT_FOUND));
        assert!(cfg(&e, &[Kid::new([9; 16])])
            .unwrap_err()
            .is(codes::KEY_NOT_FOUND));
        let mut sd = ent();
        sd.keys.tracks = AllowedTrackTypes::SdOnly;
        assert!(cfg(&sd, &[kid]).unwrap_err().is(codes::TRACK_NOT_ALLOWED));
        let mut only = ent();
        only.keys.source = KeySource::CarriedOnly;
        assert_eq!(
            cfg(&only, &[Kid::new([9; 16]), kid])
                .unwrap()
                .matches("(kid:")
                .count(),
            1
        );
        assert!(cfg(&only, &[Kid::new([9; 16])])
            .unwrap_err()
            .is(codes::KEY_NOT_FOUND));
    }

    #[test]
    fn settings_are_checked() {
        let k = PlayReady;
        let ok = |v: serde_json::Value| k.validate(v.as_object().unwrap(), &[]);
        assert!(ok(serde_json::json!({})).is_ok());
        assert!(ok(serde_json::json!({"custom_data": "keep", "test_server_cfg": true})).is_ok());
        assert!(ok(serde_json::json!({"custom_data": "User=Roland"})).is_ok());
        assert!(ok(serde_json::json!({"custom_data": ""})).is_err());
        assert!(ok(serde_json::json!({"custom_data": "a\nb"})).is_err());
        assert!(ok(serde_json::json!({"test_server_cfg": "yes"})).is_err());
        assert!(ok(serde_json::json!({"other": 1})).is_err());
        let m = serde_json::Map::new();
        assert!(k.validate(&m, &["keyward-jwt-key"]).is_err());
        assert!(k.validate(&m, &["Authorization"]).is_ok());
    }
}
