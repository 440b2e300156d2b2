//! The PallyCon/DoveRunner license policy (v2, and the legacy v1 it grew from).
//!
//! The policy is the plaintext encrypted into a token's `policy` field. Every
//! closed value set is an enum, so a policy built in Rust cannot carry an
//! out-of-range level or an unknown track type; unset fields stay `None` and are
//! omitted when serialized, which keeps minted bytes identical to what the
//! vendors' compact serializers produce (`{"policy_version":2,"playback_policy":{"persistent":false}}`
//! round-trips exactly).
//!
//! * [`Policy::from_json`] validates like the SDKs (codes 1005–1062, lowercase hex
//!   for keys) — what `keyward token issue` accepts.
//! * [`Policy::from_received_json`] is the server's reading of a verified token:
//!   the same rules, but hex in either case.
//! * [`Policy::to_json`] writes compact JSON in the documented member order.
//!
//! Accepted spellings beyond the documented ones: `external_policy` (Python
//! SDKs) and `externalkey` (ASP) for `external_key`; `require_hdcp_type1` (PHP,
//! ASP); `"iv": null` (Python); int levels given as `true`/`false` or as
//! integral floats (Python's `True == 1`, `150.0 == 150`); `renewal_duration` as
//! a string of digits (DoveRunner Python). A policy without `policy_version` is
//! read as the legacy v1 shape (`limit`/`duration`, a single security object,
//! single external-key objects) and normalized into the v2 model; `{}` is the
//! all-defaults streaming licence.

mod parse;
mod write;

use std::fmt;

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $var:ident = $s:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $name { $($(#[$vdoc])* $var,)* }

        impl $name {
            /// Every value, in the documented order.
            pub const ALL_VALUES: &'static [Self] = &[$(Self::$var,)*];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$var => $s,)* }
            }

            /// Parses the exact wire spelling.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$var),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

macro_rules! int_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $var:ident = $n:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $name { $($(#[$vdoc])* $var,)* }

        impl $name {
            /// Every value, in the documented order.
            pub const ALL_VALUES: &'static [Self] = &[$(Self::$var,)*];

            /// The wire number.
            pub fn as_i64(self) -> i64 {
                match self { $(Self::$var => $n,)* }
            }

            /// Parses the wire number.
            pub fn from_i64(n: i64) -> Option<Self> {
                match n { $($n => Some(Self::$var),)* _ => None }
            }
        }
    };
}

pub(crate) use str_enum;

pub use keyward_types::{ContentKey, Kid, TrackType};

str_enum! {
    /// Which track keys a licence may carry (multi-key content).
    AllowedTrackTypes {
        /// All keys (default).
        All = "ALL",
        /// SD video and audio keys only.
        SdOnly = "SD_ONLY",
        /// SD and HD video, audio.
        SdHd = "SD_HD",
        /// SD, HD and UHD1 video, audio.
        SdUhd1 = "SD_UHD1",
        /// SD, HD, UHD1 and UHD2 video, audio.
        SdUhd2 = "SD_UHD2",
    }
}

impl AllowedTrackTypes {
    /// Whether a key of track type `t` may be released under this setting.
    ///
    /// `ALL` and `ALL_VIDEO` keys cover every resolution, so only `ALL` releases
    /// them; audio is always allowed.
    pub fn permits(self, t: TrackType) -> bool {
        use TrackType as T;
        match (self, t) {
            (Self::All, _) | (_, T::Audio) | (_, T::Sd) => true,
            (_, T::All | T::AllVideo) => false,
            (Self::SdOnly, _) => false,
            (Self::SdHd, T::Hd) => true,
            (Self::SdHd, _) => false,
            (Self::SdUhd1, T::Hd | T::Uhd1) => true,
            (Self::SdUhd1, _) => false,
            (Self::SdUhd2, _) => true,
        }
    }
}

int_enum! {
    /// Widevine `security_level` (robustness).
    WidevineSecurityLevel {
        /// 1: software-secure crypto (L3 devices qualify).
        SwSecureCrypto = 1,
        /// 2: software-secure decode.
        SwSecureDecode = 2,
        /// 3: hardware-backed crypto.
        HwSecureCrypto = 3,
        /// 4: hardware-secure decode.
        HwSecureDecode = 4,
        /// 5: hardware-secure everything (L1 devices only).
        HwSecureAll = 5,
    }
}

str_enum! {
    /// Widevine `required_hdcp_version`.
    HdcpVersion {
        /// No HDCP required.
        None = "HDCP_NONE",
        /// HDCP 1.x.
        V1 = "HDCP_V1",
        /// HDCP 2.0.
        V2 = "HDCP_V2",
        /// HDCP 2.1.
        V2_1 = "HDCP_V2_1",
        /// HDCP 2.2.
        V2_2 = "HDCP_V2_2",
        /// HDCP 2.3.
        V2_3 = "HDCP_V2_3",
        /// No digital output at all.
        NoDigitalOutput = "HDCP_NO_DIGITAL_OUTPUT",
    }
}

str_enum! {
    /// Widevine `required_cgms_flags` (analog copy control).
    CgmsFlags {
        /// No CGMS-A.
        None = "CGMS_NONE",
        /// Copy freely.
        CopyFree = "COPY_FREE",
        /// Copy once.
        CopyOnce = "COPY_ONCE",
        /// Copy never.
        CopyNever = "COPY_NEVER",
    }
}

str_enum! {
    /// Widevine `hdcp_srm_rule`.
    HdcpSrmRule {
        /// No SRM rule.
        None = "HDCP_SRM_RULE_NONE",
        /// Block devices without the current SRM.
        CurrentSrm = "CURRENT_SRM",
    }
}

int_enum! {
    /// PlayReady `security_level`.
    PlayReadySecurityLevel {
        /// 150: test/non-commercial clients.
        L150 = 150,
        /// 2000: software (SL2000).
        L2000 = 2000,
        /// 3000: hardware (SL3000).
        L3000 = 3000,
    }
}

int_enum! {
    /// PlayReady `digital_video_protection_level` (OPL).
    DigitalVideoProtection {
        /// 100.
        L100 = 100,
        /// 250.
        L250 = 250,
        /// 270.
        L270 = 270,
        /// 300.
        L300 = 300,
        /// 301.
        L301 = 301,
    }
}

int_enum! {
    /// PlayReady `analog_video_protection_level` (OPL).
    AnalogVideoProtection {
        /// 100.
        L100 = 100,
        /// 150.
        L150 = 150,
        /// 200.
        L200 = 200,
        /// 201.
        L201 = 201,
    }
}

int_enum! {
    /// PlayReady `digital_audio_protection_level` (OPL).
    DigitalAudioProtection {
        /// 100.
        L100 = 100,
        /// 250.
        L250 = 250,
        /// 300.
        L300 = 300,
        /// 301.
        L301 = 301,
    }
}

int_enum! {
    /// FairPlay `hdcp_enforcement`.
    FairPlayHdcp {
        /// -1: no HDCP.
        None = -1,
        /// 0: HDCP type 0.
        Type0 = 0,
        /// 1: HDCP type 1 (2.2+).
        Type1 = 1,
    }
}

int_enum! {
    /// NCG `control_hdcp`.
    NcgControlHdcp {
        /// 0: none.
        None = 0,
        /// 1: HDCP 1.4.
        Hdcp1_4 = 1,
        /// 2: HDCP 2.2.
        Hdcp2_2 = 2,
    }
}

int_enum! {
    /// WisePlay `security_level`.
    WiseplaySecurityLevel {
        /// 1: software.
        SwLevel1 = 1,
        /// 2: hardware.
        HwLevel2 = 2,
        /// 3: enhanced hardware.
        EnhancedHwLevel3 = 3,
    }
}

int_enum! {
    /// WisePlay `output_control`.
    WiseplayOutputControl {
        /// 0: no HDCP.
        HdcpNone = 0,
        /// 1: HDCP 1.4.
        HdcpV1_4 = 1,
        /// 2: HDCP 2.2.
        HdcpV2_2 = 2,
        /// 3: restricted.
        HdcpRestricted = 3,
    }
}

/// Which policy dialect the JSON was written in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum PolicyVersion {
    /// The legacy shape without `policy_version`; normalized into the v2 model.
    V1,
    /// `"policy_version": 2`.
    #[default]
    V2,
}

/// A whole licence policy.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Policy {
    /// The dialect; [`Policy::to_json`] always writes v2.
    pub version: PolicyVersion,
    /// Playback rules; `None` = defaults (streaming, unlimited).
    pub playback: Option<PlaybackPolicy>,
    /// Per-track security entries; `None` = defaults for every DRM.
    pub security: Option<Vec<SecurityPolicy>>,
    /// Keys carried in the token instead of the key store.
    pub external_key: Option<ExternalKey>,
}

/// `playback_policy`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PlaybackPolicy {
    /// Offline (persistent) licence. Default false. Risk: a persistent licence
    /// outlives the session; pair it with a duration.
    pub persistent: Option<bool>,
    /// Seconds the licence is valid; 0 or absent = unlimited. Wins over `expire_date`.
    pub license_duration: Option<u64>,
    /// Absolute expiry, UTC.
    pub expire_date: Option<crate::Timestamp>,
    /// Which track keys may be released. Default `ALL`.
    pub allowed_track_types: Option<AllowedTrackTypes>,
    /// Offline rental: seconds from download to first play (needs persistent).
    pub rental_duration: Option<u64>,
    /// Offline rental: seconds from first play (needs persistent).
    pub playback_duration: Option<u64>,
    /// Concurrent streams per user; absent = no limit.
    pub max_stream_per_user: Option<u32>,
    /// Licence renewal period for stream limits, seconds (DoveRunner v3).
    pub renewal_duration: Option<u64>,
}

/// One `security_policy[]` entry.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SecurityPolicy {
    /// Tracks this entry governs; absent = `ALL`.
    pub track_type: Option<TrackType>,
    /// Widevine output and robustness rules.
    pub widevine: Option<WidevineSecurity>,
    /// PlayReady rules.
    pub playready: Option<PlayReadySecurity>,
    /// FairPlay rules.
    pub fairplay: Option<FairPlaySecurity>,
    /// NCG rules.
    pub ncg: Option<NcgSecurity>,
    /// WisePlay rules (DoveRunner v3).
    pub wiseplay: Option<WiseplaySecurity>,
}

/// Widevine security settings; every field's default is the vendor's.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WidevineSecurity {
    /// Default 1 (any device).
    pub security_level: Option<WidevineSecurityLevel>,
    /// Default `HDCP_NONE`.
    pub required_hdcp_version: Option<HdcpVersion>,
    /// Default `CGMS_NONE`.
    pub required_cgms_flags: Option<CgmsFlags>,
    /// Default false.
    pub disable_analog_output: Option<bool>,
    /// Default `HDCP_SRM_RULE_NONE`.
    pub hdcp_srm_rule: Option<HdcpSrmRule>,
    /// Default false. Risk: true lets revoked devices play.
    pub override_device_revocation: Option<bool>,
    /// Default false.
    pub enable_license_cipher: Option<bool>,
    /// DoveRunner v3; default true there. Risk: test devices are not hardened.
    pub allow_test_device: Option<bool>,
}

/// PlayReady security settings.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PlayReadySecurity {
    /// Default 150.
    pub security_level: Option<PlayReadySecurityLevel>,
    /// Default 100.
    pub digital_video_protection_level: Option<DigitalVideoProtection>,
    /// Default 100.
    pub analog_video_protection_level: Option<AnalogVideoProtection>,
    /// Default 100.
    pub digital_audio_protection_level: Option<DigitalAudioProtection>,
    /// Default false.
    pub require_hdcp_type_1: Option<bool>,
    /// Default false (DoveRunner v3).
    pub enable_license_cipher: Option<bool>,
}

/// FairPlay security settings.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FairPlaySecurity {
    /// Default -1 (no HDCP).
    pub hdcp_enforcement: Option<FairPlayHdcp>,
    /// Default true.
    pub allow_airplay: Option<bool>,
    /// Default true.
    pub allow_av_adapter: Option<bool>,
}

/// NCG security settings.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NcgSecurity {
    /// Default false. Risk: true allows rooted/jailbroken devices.
    pub allow_mobile_abnormal_device: Option<bool>,
    /// Default false.
    pub allow_external_display: Option<bool>,
    /// Default 0.
    pub control_hdcp: Option<NcgControlHdcp>,
}

/// WisePlay security settings (DoveRunner v3).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WiseplaySecurity {
    /// Robustness level.
    pub security_level: Option<WiseplaySecurityLevel>,
    /// Output protection.
    pub output_control: Option<WiseplayOutputControl>,
}

/// A 16-byte IV (not secret): `Debug` and `Display` print hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes16(pub [u8; 16]);

impl fmt::Debug for Bytes16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Bytes16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The 32-byte NCG content encryption key. `Debug` prints `***`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key32(pub [u8; 32]);

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(***)")
    }
}

/// `external_key`: keys carried in the policy.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ExternalKey {
    /// DASH CENC keys (Widevine, PlayReady, ClearKey).
    pub mpeg_cenc: Option<Vec<MpegCencKey>>,
    /// HLS AES / SAMPLE-AES keys (FairPlay, HLS AES-128).
    pub hls_aes: Option<Vec<HlsAesKey>>,
    /// The NCG key.
    pub ncg: Option<NcgKey>,
}

impl ExternalKey {
    /// True when no key of any kind is present.
    pub fn is_empty(&self) -> bool {
        self.mpeg_cenc.as_ref().is_none_or(Vec::is_empty)
            && self.hls_aes.as_ref().is_none_or(Vec::is_empty)
            && self.ncg.is_none()
    }
}

/// One `mpeg_cenc[]` key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MpegCencKey {
    /// Tracks it decrypts.
    pub track_type: TrackType,
    /// The KID.
    pub key_id: Kid,
    /// The content key (`Debug` prints `***`).
    pub key: ContentKey,
    /// Optional IV.
    pub iv: Option<Bytes16>,
}

/// One `hls_aes[]` key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HlsAesKey {
    /// Tracks it decrypts.
    pub track_type: TrackType,
    /// Optional KID.
    pub key_id: Option<Kid>,
    /// The content key (`Debug` prints `***`).
    pub key: ContentKey,
    /// The IV (required by the SDKs).
    pub iv: Bytes16,
}

/// The `ncg` external key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NcgKey {
    /// Optional track type.
    pub track_type: Option<TrackType>,
    /// The 32-byte CEK.
    pub cek: Key32,
}

impl Policy {
    /// A v2 policy with nothing set: the minimal streaming licence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses policy JSON with the SDKs' validation (codes 1005–1062).
    pub fn from_json(json: &[u8]) -> Result<Self, crate::TokenError> {
        parse::parse(json, parse::HexCase::LowerOnly)
    }

    /// Parses the policy of a received token: as [`Policy::from_json`], but
    /// key hex may be in either case, as a tolerant server must accept.
    pub fn from_received_json(json: &[u8]) -> Result<Self, crate::TokenError> {
        parse::parse(json, parse::HexCase::Any)
    }

    /// Compact JSON in the documented member order; unset fields omitted.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128);
        write::policy(&mut out, self);
        out
    }

    /// Sets the playback policy.
    pub fn playback(mut self, p: PlaybackPolicy) -> Self {
        self.playback = Some(p);
        self
    }

    /// Appends one security entry.
    pub fn security(mut self, s: SecurityPolicy) -> Self {
        self.security.get_or_insert_with(Vec::new).push(s);
        self
    }

    /// Sets the external keys.
    pub fn external_key(mut self, e: ExternalKey) -> Self {
        self.external_key = Some(e);
        self
    }

    /// The effective playback rules (defaults filled in).
    pub fn effective_playback(&self) -> PlaybackPolicy {
        self.playback.clone().unwrap_or_default()
    }

    /// The security entry that governs `track` (exact match first, then
    /// `ALL_VIDEO` for video tracks, then `ALL` or an entry without track type).
    pub fn security_for(&self, track: TrackType) -> Option<&SecurityPolicy> {
        let entries = self.security.as_deref()?;
        let find = |t: TrackType| {
            entries
                .iter()
                .find(|e| e.track_type.unwrap_or(TrackType::All) == t)
        };
        find(track)
            .or_else(|| {
                track
                    .is_video_tier()
                    .then(|| find(TrackType::AllVideo))
                    .flatten()
            })
            .or_else(|| find(TrackType::All))
    }
}

macro_rules! setters {
    ($ty:ident { $($field:ident : $fty:ty,)* }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                pub fn $field(mut self, v: $fty) -> Self {
                    self.$field = Some(v);
                    self
                }
            )*
        }
    };
}

setters!(PlaybackPolicy {
    persistent: bool,
    license_duration: u64,
    expire_date: crate::Timestamp,
    allowed_track_types: AllowedTrackTypes,
    rental_duration: u64,
    playback_duration: u64,
    max_stream_per_user: u32,
    renewal_duration: u64,
});

setters!(SecurityPolicy {
    track_type: TrackType,
    widevine: WidevineSecurity,
    playready: PlayReadySecurity,
    fairplay: FairPlaySecurity,
    ncg: NcgSecurity,
    wiseplay: WiseplaySecurity,
});

setters!(WidevineSecurity {
    security_level: WidevineSecurityLevel,
    required_hdcp_version: HdcpVersion,
    required_cgms_flags: CgmsFlags,
    disable_analog_output: bool,
    hdcp_srm_rule: HdcpSrmRule,
    override_device_revocation: bool,
    enable_license_cipher: bool,
    allow_test_device: bool,
});

setters!(PlayReadySecurity {
    security_level: PlayReadySecurityLevel,
    digital_video_protection_level: DigitalVideoProtection,
    analog_video_protection_level: AnalogVideoProtection,
    digital_audio_protection_level: DigitalAudioProtection,
    require_hdcp_type_1: bool,
    enable_license_cipher: bool,
});

setters!(FairPlaySecurity {
    hdcp_enforcement: FairPlayHdcp,
    allow_airplay: bool,
    allow_av_adapter: bool,
});

setters!(NcgSecurity {
    allow_mobile_abnormal_device: bool,
    allow_external_display: bool,
    control_hdcp: NcgControlHdcp,
});

setters!(WiseplaySecurity {
    security_level: WiseplaySecurityLevel,
    output_control: WiseplayOutputControl,
});

impl ExternalKey {
    /// Appends an MPEG-CENC key.
    pub fn mpeg_cenc(mut self, k: MpegCencKey) -> Self {
        self.mpeg_cenc.get_or_insert_with(Vec::new).push(k);
        self
    }

    /// Appends an HLS AES key.
    pub fn hls_aes(mut self, k: HlsAesKey) -> Self {
        self.hls_aes.get_or_insert_with(Vec::new).push(k);
        self
    }

    /// Sets the NCG key.
    pub fn ncg(mut self, k: NcgKey) -> Self {
        self.ncg = Some(k);
        self
    }
}

#[cfg(test)]
mod tests;
