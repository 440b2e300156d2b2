//! The one normalized decision every front door produces and every back door
//! (and upstream translator) reads: who may play what, with which keys, for
//! how long, under which output protection.
//!
//! It is DRM-neutral and vendor-neutral: a PallyCon policy, a callback answer,
//! a Studio policy with its per-DRM overrides and an ExpressPlay token's
//! parameters all become this one shape (each front door owns its
//! translation, tested field by field), and nothing after the front door reads
//! a vendor's policy again. No HTTP types, no store types.

use std::sync::Arc;

use keyward_drm::{ContentKey, Kid};
use keyward_token::{AllowedTrackTypes, DrmType, ResponseFormat, Timestamp, TrackType};

/// Which front door produced the entitlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A PallyCon/DoveRunner license token.
    PallyConToken,
    /// PallyCon callback mode: the customer's callback page decided.
    Callback,
    /// Callback mode while the callback is down, with the site's allow fallback.
    CallbackFallback,
    /// An ExpressPlay-style URL token (`/hms/*/rights/?ExpressPlayToken=`).
    ExpressPlay,
    /// A Studio-DRM-style v2 token (`x-vudrm-token`).
    Studio,
}

impl Origin {
    /// The name operators see (audit rows' `source`, decision records):
    /// `pallycon`, `callback`, `callback_fallback`, `expressplay`, `studio`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::PallyConToken => "pallycon",
            Origin::Callback => "callback",
            Origin::CallbackFallback => "callback_fallback",
            Origin::ExpressPlay => "expressplay",
            Origin::Studio => "studio",
        }
    }
}

/// A key carried in the credential itself (not the key store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarriedKey {
    /// Track type the key protects.
    pub track_type: TrackType,
    /// KID, when known.
    pub kid: Option<Kid>,
    /// Key bytes (redacted in `Debug`).
    pub key: ContentKey,
    /// IV, when given.
    pub iv: Option<[u8; 16]>,
}

/// Where a back door may take keys from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The credential's keys first, then the site's key store.
    CarriedThenStore,
    /// Only the credential's keys: KIDs the request names that the credential
    /// does not carry are skipped, and none at all is a refusal.
    CarriedOnly,
}

/// The keys to release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// DASH CENC keys carried in the credential.
    pub cenc: Vec<CarriedKey>,
    /// HLS AES-128 keys carried in the credential.
    pub hls: Vec<CarriedKey>,
    /// Where else keys may come from.
    pub source: KeySource,
    /// Which track types' keys may be released.
    pub tracks: AllowedTrackTypes,
}

/// Licence timing. Durations are seconds; `None` means not limited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// The licence is not valid before this time.
    pub start: Option<Timestamp>,
    /// The licence is not issued, and not valid, after this time.
    pub expire_at: Option<Timestamp>,
    /// Licence validity once issued.
    pub license_duration: Option<u64>,
    /// Offline rental window (from issuance).
    pub rental_duration: Option<u64>,
    /// Playback window (from first playback).
    pub playback_duration: Option<u64>,
    /// An offline (persistent) licence may be issued.
    pub persistent: bool,
    /// Renewals are allowed.
    pub can_renew: bool,
    /// How often the player renews, seconds.
    pub renewal_interval: Option<u64>,
}

/// A minimum HDCP version, normalized across DRMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hdcp {
    /// No HDCP required.
    None,
    /// HDCP 1.x.
    V1,
    /// HDCP 2.0.
    V2,
    /// HDCP 2.1.
    V2_1,
    /// HDCP 2.2.
    V2_2,
    /// HDCP 2.3.
    V2_3,
    /// No digital output at all.
    NoDigitalOutput,
}

/// Copy-control (CGMS-A) requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cgms {
    /// No CGMS-A.
    None,
    /// Copying permitted.
    CopyFree,
    /// One generation of copies.
    CopyOnce,
    /// No copies.
    CopyNever,
}

/// Widevine output protection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WidevineOutput {
    /// Robustness 1 (SW_SECURE_CRYPTO) to 5 (HW_SECURE_ALL).
    pub security_level: Option<u8>,
    /// Minimum HDCP on digital outputs.
    pub hdcp: Option<Hdcp>,
    /// CGMS-A on analog outputs.
    pub cgms: Option<Cgms>,
    /// Analog outputs disabled.
    pub disable_analog_output: Option<bool>,
    /// Enforce the current HDCP SRM.
    pub hdcp_srm_current: Option<bool>,
    /// Revoked devices may play (risk).
    pub override_device_revocation: Option<bool>,
    /// Licence cipher.
    pub license_cipher: Option<bool>,
    /// Test devices may play (risk).
    pub allow_test_device: Option<bool>,
}

/// PlayReady output protection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlayReadyOutput {
    /// Minimum client security level (150, 2000, 3000).
    pub security_level: Option<u16>,
    /// Output protection level for uncompressed digital video.
    pub digital_video_opl: Option<u16>,
    /// Output protection level for analog video.
    pub analog_video_opl: Option<u16>,
    /// Output protection level for uncompressed digital audio.
    pub digital_audio_opl: Option<u16>,
    /// HDCP type 1 (2.2+ "type 1" content stream) required.
    pub hdcp_type1: Option<bool>,
    /// Licence cipher.
    pub license_cipher: Option<bool>,
}

/// FairPlay output protection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FairPlayOutput {
    /// Minimum HDCP (`None` = not required; V1 = type 0; V2_2 with
    /// `hdcp_type1` = type 1).
    pub hdcp: Option<Hdcp>,
    /// HDCP type 1 required.
    pub hdcp_type1: bool,
    /// AirPlay allowed.
    pub allow_airplay: Option<bool>,
    /// Digital AV adapter allowed.
    pub allow_av_adapter: Option<bool>,
}

/// WisePlay output protection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WiseplayOutput {
    /// Robustness 1–3.
    pub security_level: Option<u8>,
    /// Minimum HDCP (`hdcp_restricted` = outputs off).
    pub hdcp: Option<Hdcp>,
    /// Outputs restricted altogether.
    pub restricted: bool,
}

/// The output protection for one track type (or every track).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackProtection {
    /// The track type; `None` for every track.
    pub track: Option<TrackType>,
    /// Widevine.
    pub widevine: Option<WidevineOutput>,
    /// PlayReady.
    pub playready: Option<PlayReadyOutput>,
    /// FairPlay.
    pub fairplay: Option<FairPlayOutput>,
    /// WisePlay.
    pub wiseplay: Option<WiseplayOutput>,
}

/// Output protection per track type and DRM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputProtection {
    /// Per-track rules, in the credential's order.
    pub tracks: Vec<TrackProtection>,
}

impl OutputProtection {
    /// The rule for a track, as the policy's `security_for`: its own, else
    /// the `ALL_VIDEO` rule for a video tier, else the every-track rule
    /// (`ALL`, or no track type).
    pub fn for_track(&self, t: TrackType) -> Option<&TrackProtection> {
        let find = |want: TrackType| self.tracks.iter().find(|p| p.track == Some(want));
        find(t)
            .or_else(|| {
                t.is_video_tier()
                    .then(|| find(TrackType::AllVideo))
                    .flatten()
            })
            .or_else(|| {
                self.tracks
                    .iter()
                    .find(|p| matches!(p.track, None | Some(TrackType::All)))
            })
    }
}

/// How a PallyCon-style answer is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerShape {
    /// `response_format`.
    pub response_format: ResponseFormat,
    /// `key_rotation`.
    pub key_rotation: bool,
}

impl Default for AnswerShape {
    fn default() -> Self {
        Self {
            response_format: ResponseFormat::Original,
            key_rotation: false,
        }
    }
}

/// Who a licence outcome is attributed to in statistics (Studio tokens: the
/// client and its `client_data`).
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// The Studio client.
    pub client: String,
    /// The policy's `client_data`.
    pub client_data: serde_json::Map<String, serde_json::Value>,
}

/// The normalized right to play.
#[derive(Clone, Debug)]
pub struct Entitlement {
    /// Front door.
    pub origin: Origin,
    /// Site id.
    pub site_id: String,
    /// End user (or the customer / client standing in for one).
    pub subject: String,
    /// Content id.
    pub content_id: String,
    /// DRM the licence is for.
    pub drm: DrmType,
    /// Keys to release.
    pub keys: Keys,
    /// Licence timing.
    pub timing: Timing,
    /// Output protection per DRM and track type.
    pub output: OutputProtection,
    /// Concurrent stream limit per user.
    pub stream_limit: Option<u32>,
    /// The site opted into "best effort" brokering (`brokers.best_effort_sites`):
    /// a rule an upstream cannot express is dropped with a warning instead of
    /// refusing the licence. Set by the pipeline.
    pub best_effort: bool,
    /// Which playback this licence is for (the stream a limit counts): every
    /// request made with one credential shares it. Set by the pipeline.
    pub playback: Option<String>,
    /// Answer shape.
    pub answer: AnswerShape,
    /// Statistics attribution.
    pub attribution: Option<Arc<Attribution>>,
}

impl Entitlement {
    /// An entitlement that grants nothing beyond the identity: no carried
    /// keys, store keys for every track, no limits. Front doors start here.
    pub fn new(
        origin: Origin,
        site_id: &str,
        subject: &str,
        content_id: &str,
        drm: DrmType,
    ) -> Self {
        Self {
            origin,
            site_id: site_id.to_owned(),
            subject: subject.to_owned(),
            content_id: content_id.to_owned(),
            drm,
            keys: Keys {
                cenc: Vec::new(),
                hls: Vec::new(),
                source: KeySource::CarriedThenStore,
                tracks: AllowedTrackTypes::All,
            },
            timing: Timing::default(),
            output: OutputProtection::default(),
            stream_limit: None,
            best_effort: false,
            playback: None,
            answer: AnswerShape::default(),
            attribution: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_rule_falls_back_to_every_track() {
        let every = TrackProtection {
            track: None,
            widevine: Some(WidevineOutput {
                security_level: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let hd = TrackProtection {
            track: Some(TrackType::Hd),
            widevine: Some(WidevineOutput {
                security_level: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = OutputProtection {
            tracks: vec![every.clone(), hd.clone()],
        };
        assert_eq!(o.for_track(TrackType::Hd), Some(&hd));
        assert_eq!(o.for_track(TrackType::Sd), Some(&every));
        assert_eq!(OutputProtection::default().for_track(TrackType::Sd), None);
        // A policy's `ALL` entry covers every track too, and `ALL_VIDEO` the
        // video tiers before it.
        let all = TrackProtection {
            track: Some(TrackType::All),
            ..every.clone()
        };
        let video = TrackProtection {
            track: Some(TrackType::AllVideo),
            ..hd.clone()
        };
        let o = OutputProtection {
            tracks: vec![all.clone(), video.clone()],
        };
        assert_eq!(o.for_track(TrackType::Uhd1), Some(&video));
        assert_eq!(o.for_track(TrackType::Audio), Some(&all));
        assert_eq!(o.for_track(TrackType::All), Some(&all));
    }

    #[test]
    fn carried_keys_never_print_key_bytes() {
        let k = CarriedKey {
            track_type: TrackType::All,
            kid: Some(Kid::new([1; 16])),
            key: ContentKey::new([0xab; 16]),
            iv: None,
        };
        let text = format!("{k:?}");
        assert!(text.contains("***"));
        assert!(!text.to_lowercase().contains("abab"));
        assert!(!text.contains("171"));
    }
}
