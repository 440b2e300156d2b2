//! The PallyCon/DoveRunner front door: license tokens, and the callback-mode
//! auth data that travels in the same header.
//!
//! A token is verified against its site's credentials with the site's time
//! window (the window is part of the vendor's verification, so it is applied
//! here, with the site's settings); its policy becomes the [`Entitlement`].
//! Auth data is opened with the site key and becomes a claim whose rights the
//! gatekeeper's callback stage asks the customer's page for.

use keyward_token::policy::{
    CgmsFlags, FairPlayHdcp, HdcpSrmRule, HdcpVersion, WiseplayOutputControl,
};
use keyward_token::{
    AllowedTrackTypes, CustomDataV2, DrmType, Policy, SecurityPolicy, Timestamp, UntrustedAuthData,
    VerifyOptions,
};

use super::{Claim, ContentRule, Denied, Expect, FrontDoor, Gates};
use crate::codes;
use crate::entitlement::{
    AnswerShape, CarriedKey, Cgms, Entitlement, FairPlayOutput, Hdcp, KeySource, Keys, Origin,
    OutputProtection, PlayReadyOutput, Timing, TrackProtection, WidevineOutput, WiseplayOutput,
};
use crate::refusal::Refusal;
use crate::state::AppState;

/// `pallycon-customdata-v2`: a license token or v2 auth data.
pub struct CustomDataV2Door;

/// The legacy `pallycon-customdata` header: v1 auth data.
pub struct CustomDataV1Door;

#[async_trait::async_trait]
impl FrontDoor for CustomDataV2Door {
    async fn verify(
        &self,
        state: &AppState,
        credential: &str,
        _expect: &Expect<'_>,
    ) -> Result<Claim, Denied> {
        let parsed = CustomDataV2::parse(credential).map_err(Refusal::from)?;
        verify_parsed(state, parsed).await
    }
}

#[async_trait::async_trait]
impl FrontDoor for CustomDataV1Door {
    async fn verify(
        &self,
        state: &AppState,
        credential: &str,
        _expect: &Expect<'_>,
    ) -> Result<Claim, Denied> {
        let auth = UntrustedAuthData::parse_legacy(credential).map_err(Refusal::from)?;
        verify_parsed(state, CustomDataV2::AuthData(auth)).await
    }
}

async fn verify_parsed(state: &AppState, parsed: CustomDataV2) -> Result<Claim, Denied> {
    let claimed_site = match &parsed {
        CustomDataV2::LicenseToken(t) => t.untrusted_site_id(),
        CustomDataV2::AuthData(a) => a.site_id().as_str(),
    };
    let site = state.site(claimed_site).await?;
    if site.settings.disabled {
        return Err(Denied::at(Refusal::new(codes::SITE_DISABLED), &site));
    }
    match parsed {
        CustomDataV2::LicenseToken(untrusted) => {
            let opts = VerifyOptions {
                now: Timestamp::now(),
                window_secs: site.settings.token_window_secs,
                leeway_secs: site.settings.future_leeway_secs,
            };
            let t = untrusted
                .verify(&site.creds, &opts)
                .map_err(|e| Denied::at(e.into(), &site))?;
            let mut ent = translate(
                Origin::PallyConToken,
                t.site_id().as_str(),
                t.user_id(),
                t.cid(),
                t.drm_type(),
                t.policy(),
            );
            ent.answer = AnswerShape {
                response_format: t.response_format(),
                key_rotation: t.key_rotation(),
            };
            Ok(Claim {
                entitlement: ent,
                site: Some(site),
                gates: Gates {
                    content: Some(ContentRule::Exact),
                    ..Gates::default()
                },
            })
        }
        CustomDataV2::AuthData(a) => {
            let auth = a
                .open(&site.creds.site_key)
                .map_err(|e| Denied::at(e.into(), &site))?;
            // The rights come from the callback; until then the claim names
            // only who and what.
            let ent = Entitlement::new(
                Origin::Callback,
                auth.site_id.as_str(),
                &auth.user_id,
                &auth.cid,
                auth.drm_type,
            );
            Ok(Claim {
                entitlement: ent,
                site: Some(site),
                gates: Gates {
                    content: Some(ContentRule::Exact),
                    callback: Some(auth),
                    ..Gates::default()
                },
            })
        }
    }
}

/// A PallyCon policy (v2, or v1 as normalized by the token crate; also a
/// callback answer) as an [`Entitlement`].
///
/// * `playback_policy`: `persistent` → timing.persistent; `license_duration`
///   (> 0) → licence duration, and then `expire_date` is ignored (the vendor's
///   rule: a duration wins over a date); else `expire_date` → expiry;
///   `rental_duration` / `playback_duration` (> 0); `renewal_duration` →
///   renewal interval and renewals allowed; `allowed_track_types` → released
///   tracks (default ALL); `max_stream_per_user` → stream limit.
/// * `security_policy[]` → output protection per track type and DRM.
/// * `external_key.mpeg_cenc` / `hls_aes` → carried keys (the store is still
///   asked for KIDs the token does not carry).
pub fn translate(
    origin: Origin,
    site_id: &str,
    user_id: &str,
    cid: &str,
    drm: DrmType,
    p: &Policy,
) -> Entitlement {
    let pb = p.effective_playback();
    let ext = p.external_key.clone().unwrap_or_default();
    let cenc = ext
        .mpeg_cenc
        .unwrap_or_default()
        .into_iter()
        .map(|k| CarriedKey {
            track_type: k.track_type,
            kid: Some(k.key_id),
            key: k.key,
            iv: k.iv.map(|i| i.0),
        })
        .collect();
    let hls = ext
        .hls_aes
        .unwrap_or_default()
        .into_iter()
        .map(|k| CarriedKey {
            track_type: k.track_type,
            kid: k.key_id,
            key: k.key,
            iv: Some(k.iv.0),
        })
        .collect();
    let license_duration = pb.license_duration.filter(|d| *d > 0);
    let renewal = pb.renewal_duration.filter(|d| *d > 0);
    let mut e = Entitlement::new(origin, site_id, user_id, cid, drm);
    e.keys = Keys {
        cenc,
        hls,
        source: KeySource::CarriedThenStore,
        tracks: pb.allowed_track_types.unwrap_or(AllowedTrackTypes::All),
    };
    e.timing = Timing {
        start: None,
        expire_at: if license_duration.is_some() {
            None
        } else {
            pb.expire_date
        },
        license_duration,
        rental_duration: pb.rental_duration.filter(|d| *d > 0),
        playback_duration: pb.playback_duration.filter(|d| *d > 0),
        persistent: pb.persistent.unwrap_or(false),
        can_renew: renewal.is_some(),
        renewal_interval: renewal,
    };
    e.output = OutputProtection {
        tracks: p
            .security
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(protection)
            .collect(),
    };
    e.stream_limit = pb.max_stream_per_user;
    e
}

fn hdcp(v: HdcpVersion) -> Hdcp {
    match v {
        HdcpVersion::None => Hdcp::None,
        HdcpVersion::V1 => Hdcp::V1,
        HdcpVersion::V2 => Hdcp::V2,
        HdcpVersion::V2_1 => Hdcp::V2_1,
        HdcpVersion::V2_2 => Hdcp::V2_2,
        HdcpVersion::V2_3 => Hdcp::V2_3,
        HdcpVersion::NoDigitalOutput => Hdcp::NoDigitalOutput,
    }
}

fn cgms(v: CgmsFlags) -> Cgms {
    match v {
        CgmsFlags::None => Cgms::None,
        CgmsFlags::CopyFree => Cgms::CopyFree,
        CgmsFlags::CopyOnce => Cgms::CopyOnce,
        CgmsFlags::CopyNever => Cgms::CopyNever,
    }
}

/// One `security_policy` entry as output protection.
fn protection(s: &SecurityPolicy) -> TrackProtection {
    TrackProtection {
        track: s.track_type,
        widevine: s.widevine.as_ref().map(|w| WidevineOutput {
            security_level: w.security_level.and_then(|l| u8::try_from(l.as_i64()).ok()),
            hdcp: w.required_hdcp_version.map(hdcp),
            cgms: w.required_cgms_flags.map(cgms),
            disable_analog_output: w.disable_analog_output,
            hdcp_srm_current: w.hdcp_srm_rule.map(|r| r == HdcpSrmRule::CurrentSrm),
            override_device_revocation: w.override_device_revocation,
            license_cipher: w.enable_license_cipher,
            allow_test_device: w.allow_test_device,
        }),
        playready: s.playready.as_ref().map(|p| PlayReadyOutput {
            security_level: p
                .security_level
                .and_then(|l| u16::try_from(l.as_i64()).ok()),
            digital_video_opl: p
                .digital_video_protection_level
                .and_then(|l| u16::try_from(l.as_i64()).ok()),
            analog_video_opl: p
                .analog_video_protection_level
                .and_then(|l| u16::try_from(l.as_i64()).ok()),
            digital_audio_opl: p
                .digital_audio_protection_level
                .and_then(|l| u16::try_from(l.as_i64()).ok()),
            hdcp_type1: p.require_hdcp_type_1,
            license_cipher: p.enable_license_cipher,
        }),
        fairplay: s.fairplay.as_ref().map(|f| {
            let (hdcp, type1) = match f.hdcp_enforcement {
                None => (None, false),
                Some(FairPlayHdcp::None) => (Some(Hdcp::None), false),
                Some(FairPlayHdcp::Type0) => (Some(Hdcp::V1), false),
                Some(FairPlayHdcp::Type1) => (Some(Hdcp::V2_2), true),
            };
            FairPlayOutput {
                hdcp,
                hdcp_type1: type1,
                allow_airplay: f.allow_airplay,
                allow_av_adapter: f.allow_av_adapter,
            }
        }),
        wiseplay: s.wiseplay.as_ref().map(|w| {
            let (hdcp, restricted) = match w.output_control {
                None => (None, false),
                Some(WiseplayOutputControl::HdcpNone) => (Some(Hdcp::None), false),
                Some(WiseplayOutputControl::HdcpV1_4) => (Some(Hdcp::V1), false),
                Some(WiseplayOutputControl::HdcpV2_2) => (Some(Hdcp::V2_2), false),
                Some(WiseplayOutputControl::HdcpRestricted) => (None, true),
            };
            WiseplayOutput {
                security_level: w.security_level.and_then(|l| u8::try_from(l.as_i64()).ok()),
                hdcp,
                restricted,
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use keyward_token::TrackType;

    fn policy(json: &str) -> Policy {
        Policy::from_received_json(json.as_bytes()).unwrap()
    }

    fn ent(json: &str) -> Entitlement {
        translate(
            Origin::PallyConToken,
            "TUTO",
            "alice",
            "movie",
            DrmType::Widevine,
            &policy(json),
        )
    }

    #[test]
    fn identity_fields() {
        let e = ent(r#"{"policy_version":2}"#);
        assert_eq!(e.origin, Origin::PallyConToken);
        assert_eq!(e.site_id, "TUTO");
        assert_eq!(e.subject, "alice");
        assert_eq!(e.content_id, "movie");
        assert_eq!(e.drm, DrmType::Widevine);
        assert_eq!(e.timing, Timing::default());
        assert_eq!(e.keys.tracks, AllowedTrackTypes::All);
        assert_eq!(e.keys.source, KeySource::CarriedThenStore);
        assert!(e.keys.cenc.is_empty() && e.keys.hls.is_empty());
        assert_eq!(e.stream_limit, None);
        assert_eq!(e.output, OutputProtection::default());
    }

    #[test]
    fn playback_policy_fields() {
        let e = ent(
            r#"{"policy_version":2,"playback_policy":{"persistent":true,"license_duration":3600,
            "expire_date":"2030-01-01T00:00:00Z","rental_duration":7200,"playback_duration":600,
            "allowed_track_types":"SD_HD","max_stream_per_user":2,"renewal_duration":60}}"#,
        );
        assert!(e.timing.persistent);
        assert_eq!(e.timing.license_duration, Some(3600));
        // A duration wins over a date.
        assert_eq!(e.timing.expire_at, None);
        assert_eq!(e.timing.rental_duration, Some(7200));
        assert_eq!(e.timing.playback_duration, Some(600));
        assert_eq!(e.timing.renewal_interval, Some(60));
        assert!(e.timing.can_renew);
        assert_eq!(e.keys.tracks, AllowedTrackTypes::SdHd);
        assert_eq!(e.stream_limit, Some(2));
    }

    #[test]
    fn expire_date_without_duration_and_zero_durations() {
        let e = ent(
            r#"{"policy_version":2,"playback_policy":{"license_duration":0,"expire_date":"2030-01-01T00:00:00Z","rental_duration":0,"playback_duration":0}}"#,
        );
        assert_eq!(
            e.timing.expire_at,
            Some(Timestamp::parse("2030-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(e.timing.license_duration, None);
        assert_eq!(e.timing.rental_duration, None);
        assert_eq!(e.timing.playback_duration, None);
        assert!(!e.timing.persistent);
        assert!(!e.timing.can_renew);
    }

    #[test]
    fn security_policy_per_track_and_drm() {
        let e = ent(r#"{"policy_version":2,"security_policy":[
              {"track_type":"HD","widevine":{"security_level":5,"required_hdcp_version":"HDCP_V2_2",
                "required_cgms_flags":"COPY_NEVER","disable_analog_output":true,"hdcp_srm_rule":"CURRENT_SRM",
                "override_device_revocation":false,"enable_license_cipher":true},
               "playready":{"security_level":3000,"digital_video_protection_level":300,
                "analog_video_protection_level":200,"digital_audio_protection_level":250,"require_hdcp_type_1":true},
               "fairplay":{"hdcp_enforcement":1,"allow_airplay":false,"allow_av_adapter":false}},
              {"track_type":"ALL","fairplay":{"hdcp_enforcement":0}}]}"#);
        assert_eq!(e.output.tracks.len(), 2);
        let hd = e.output.for_track(TrackType::Hd).unwrap();
        assert_eq!(
            hd.widevine,
            Some(WidevineOutput {
                security_level: Some(5),
                hdcp: Some(Hdcp::V2_2),
                cgms: Some(Cgms::CopyNever),
                disable_analog_output: Some(true),
                hdcp_srm_current: Some(true),
                override_device_revocation: Some(false),
                license_cipher: Some(true),
                allow_test_device: None,
            })
        );
        assert_eq!(
            hd.playready,
            Some(PlayReadyOutput {
                security_level: Some(3000),
                digital_video_opl: Some(300),
                analog_video_opl: Some(200),
                digital_audio_opl: Some(250),
                hdcp_type1: Some(true),
                license_cipher: None,
            })
        );
        assert_eq!(
            hd.fairplay,
            Some(FairPlayOutput {
                hdcp: Some(Hdcp::V2_2),
                hdcp_type1: true,
                allow_airplay: Some(false),
                allow_av_adapter: Some(false),
            })
        );
        let all = &e.output.tracks[1];
        assert_eq!(all.track, Some(TrackType::All));
        assert_eq!(all.fairplay.as_ref().unwrap().hdcp, Some(Hdcp::V1));
        assert!(!all.fairplay.as_ref().unwrap().hdcp_type1);
        assert_eq!(all.widevine, None);
    }

    #[test]
    fn external_keys_are_carried() {
        let e = ent(
            r#"{"policy_version":2,"external_key":{"mpeg_cenc":[{"track_type":"ALL","key_id":"00112233445566778899aabbccddeeff","key":"ffeeddccbbaa99887766554433221100"}],
            "hls_aes":[{"track_type":"SD","key":"000102030405060708090a0b0c0d0e0f","iv":"0f0e0d0c0b0a09080706050403020100"}]}}"#,
        );
        assert_eq!(e.keys.cenc.len(), 1);
        let c = &e.keys.cenc[0];
        assert_eq!(c.track_type, TrackType::All);
        assert_eq!(
            c.kid.map(|k| k.to_string()).as_deref(),
            Some("00112233445566778899aabbccddeeff")
        );
        assert_eq!(
            hex::encode(c.key.expose()),
            "ffeeddccbbaa99887766554433221100"
        );
        assert_eq!(c.iv, None);
        let h = &e.keys.hls[0];
        assert_eq!(h.track_type, TrackType::Sd);
        assert_eq!(h.kid, None);
        assert_eq!(
            hex::encode(h.iv.unwrap()),
            "0f0e0d0c0b0a09080706050403020100"
        );
    }

    #[test]
    fn v1_policy_translates_like_v2() {
        // The legacy shape (limit + duration) becomes the same licence duration.
        let e = ent(r#"{"playback_policy":{"limit":true,"persistent":false,"duration":3600}}"#);
        assert_eq!(e.timing.license_duration, Some(3600));
        assert!(!e.timing.persistent);
    }
}
