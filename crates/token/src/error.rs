//! Error types with the vendors' stable numeric codes.
//!
//! Two namespaces exist and they collide numerically, so they are separate types:
//! * [`SdkCode`] — the token SDKs' validation codes (1000–1062), raised while a
//!   token is *minted* or a policy is parsed ([`TokenError`]).
//! * [`VerifyError`] — the license server's codes (7009, 7011, 7013, 7016, 7018,
//!   7019), raised while a received token is *verified*.
//!
//! Messages name the offending field and never contain key material.

use std::fmt;

macro_rules! sdk_codes {
    ($($(#[$doc:meta])* $name:ident = $num:literal,)*) => {
        /// A PallyCon/DoveRunner token-SDK validation code (see pallycon.md §7).
        ///
        /// The numeric value is what the SDKs print as `error_code` (as a
        /// four-digit string); [`SdkCode::as_u16`] gives it.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[non_exhaustive]
        pub enum SdkCode {
            $($(#[$doc])* $name = $num,)*
        }

        impl SdkCode {
            /// The numeric code.
            pub fn as_u16(self) -> u16 {
                self as u16
            }

            /// The code for a number, if keyward knows it.
            pub fn from_u16(n: u16) -> Option<Self> {
                match n {
                    $($num => Some(Self::$name),)*
                    _ => None,
                }
            }
        }
    };
}

sdk_codes! {
    /// `user_id` missing.
    UserIdRequired = 1000,
    /// `cid` missing.
    CidRequired = 1001,
    /// `site_id` missing or not four uppercase ASCII letters.
    SiteId = 1002,
    /// Access key missing or not exactly 32 bytes.
    AccessKey = 1003,
    /// Site key missing or not exactly 32 bytes.
    SiteKey = 1004,
    /// Policy missing, not JSON, or not a JSON object.
    PolicyRequired = 1005,
    /// `playback_policy` is not an object.
    PlaybackPolicyType = 1006,
    /// `security_policy` is not a list of objects.
    SecurityPolicyType = 1007,
    /// `external_key` is not an object.
    ExternalKeyType = 1008,
    /// `persistent` is not a boolean.
    Persistent = 1009,
    /// `license_duration` is not a non-negative integer.
    LicenseDuration = 1010,
    /// `expire_date` is not a real `yyyy-mm-ddThh:mm:ssZ` date.
    ExpireDate = 1011,
    /// `allowed_track_types` is not one of the allowed values.
    AllowedTrackTypes = 1012,
    /// A security entry's `track_type` is not one of the track types.
    SecurityTrackType = 1013,
    /// `widevine` is not an object.
    WidevineType = 1014,
    /// `playready` is not an object.
    PlayReadyType = 1015,
    /// `fairplay` is not an object.
    FairPlayType = 1016,
    /// `ncg` (security) is not an object.
    NcgType = 1017,
    /// `external_key` has no keys.
    ExternalKeyEmpty = 1018,
    /// `mpeg_cenc` is not a list of objects.
    MpegCencType = 1019,
    /// `hls_aes` is not a list of objects.
    HlsAesType = 1020,
    /// `ncg` (external key) is not an object.
    NcgKeyType = 1021,
    /// Widevine `security_level` not in 1–5.
    WidevineSecurityLevel = 1022,
    /// Widevine `required_hdcp_version` unknown.
    WidevineHdcpVersion = 1023,
    /// Widevine `required_cgms_flags` unknown.
    WidevineCgmsFlags = 1024,
    /// Widevine `disable_analog_output` not a boolean.
    WidevineDisableAnalogOutput = 1025,
    /// Widevine `hdcp_srm_rule` unknown.
    WidevineHdcpSrmRule = 1026,
    /// PlayReady `security_level` not 150, 2000 or 3000.
    PlayReadySecurityLevel = 1027,
    /// PlayReady `digital_video_protection_level` not allowed.
    PlayReadyDigitalVideo = 1028,
    /// PlayReady `analog_video_protection_level` not allowed.
    PlayReadyAnalogVideo = 1029,
    /// PlayReady `digital_audio_protection_level` not allowed.
    PlayReadyDigitalAudio = 1030,
    /// PlayReady `require_hdcp_type_1` not a boolean.
    PlayReadyRequireHdcpType1 = 1032,
    /// FairPlay `hdcp_enforcement` not -1, 0 or 1.
    FairPlayHdcpEnforcement = 1033,
    /// FairPlay `allow_airplay` not a boolean.
    FairPlayAllowAirplay = 1034,
    /// FairPlay `allow_av_adapter` not a boolean.
    FairPlayAllowAvAdapter = 1035,
    /// NCG `allow_mobile_abnormal_device` not a boolean.
    NcgAllowMobileAbnormalDevice = 1036,
    /// NCG `allow_external_display` not a boolean.
    NcgAllowExternalDisplay = 1037,
    /// NCG `control_hdcp` not 0, 1 or 2.
    NcgControlHdcp = 1038,
    /// `mpeg_cenc[].track_type` missing or unknown.
    MpegCencTrackType = 1039,
    /// `mpeg_cenc[].key_id` not 32 hex digits.
    MpegCencKeyId = 1040,
    /// `mpeg_cenc[].key` not 32 hex digits.
    MpegCencKey = 1041,
    /// `mpeg_cenc[].iv` given but not 32 hex digits.
    MpegCencIv = 1042,
    /// `hls_aes[].track_type` missing or unknown.
    HlsAesTrackType = 1043,
    /// `hls_aes[].key` not 32 hex digits.
    HlsAesKey = 1044,
    /// `hls_aes[].iv` missing or not 32 hex digits.
    HlsAesIv = 1045,
    /// `ncg.track_type` unknown.
    NcgKeyTrackType = 1046,
    /// `ncg.cek` not 64 hex digits.
    NcgCek = 1047,
    /// `response_format` not original, custom or json.
    ResponseFormat = 1048,
    /// `rental_duration` not a non-negative integer.
    RentalDuration = 1049,
    /// `playback_duration` not a non-negative integer.
    PlaybackDuration = 1050,
    /// Widevine `override_device_revocation` not a boolean.
    WidevineOverrideDeviceRevocation = 1051,
    /// `hls_aes[].key_id` given but not 32 hex digits.
    HlsAesKeyId = 1052,
    /// `max_stream_per_user` not a non-negative integer.
    MaxStreamPerUser = 1053,
    /// Widevine `enable_license_cipher` not a boolean.
    WidevineEnableLicenseCipher = 1054,
    /// `key_rotation` not a boolean.
    KeyRotation = 1055,
    /// `renewal_duration` not a non-negative integer (or a string of digits).
    RenewalDuration = 1056,
    /// `wiseplay` is not an object.
    WiseplayType = 1057,
    /// PlayReady `enable_license_cipher` not a boolean.
    PlayReadyEnableLicenseCipher = 1058,
    /// Widevine `allow_test_device` not a boolean.
    WidevineAllowTestDevice = 1059,
    /// WisePlay `security_level` not 1, 2 or 3.
    WiseplaySecurityLevel = 1060,
    /// WisePlay `output_control` not 0–3.
    WiseplayOutputControl = 1061,
}

impl fmt::Display for SdkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.as_u16())
    }
}

/// A minting or policy-validation failure, coded like the vendor SDKs.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct TokenError {
    code: SdkCode,
    message: String,
}

impl TokenError {
    pub(crate) fn new(code: SdkCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The SDK code.
    pub fn code(&self) -> SdkCode {
        self.code
    }

    /// A message naming the offending field (never contains secrets).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The SDKs' error JSON: `{"error_code":"1022","error_message":"…"}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(48 + self.message.len());
        out.push_str("{\"error_code\":\"");
        out.push_str(&self.code.to_string());
        out.push_str("\",\"error_message\":");
        crate::json::write_str(&mut out, &self.message);
        out.push('}');
        out
    }
}

/// Why a received token was refused, with the license server's codes (§6.4).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// 7009: not base64, not UTF-8, or not JSON.
    #[error("Failed to parse token: {0}")]
    Parse(String),
    /// 7011: older than the window, or further in the future than the leeway.
    #[error("Token is expired: {0}")]
    Expired(TimeVerdict),
    /// 7013: JSON of the wrong shape, a missing field, or an invalid policy.
    #[error("Invalid JSON data in token: {0}")]
    InvalidJson(String),
    /// 7016: the policy cannot be decrypted with the site key.
    #[error("Invalid token: {0}")]
    Invalid(String),
    /// 7018: `drm_type` is not a DRM keyward knows.
    #[error("Invalid DRM type in token: {0}")]
    DrmType(String),
    /// 7019: the hash does not match the token's fields and the access key.
    #[error("The hash values do not match")]
    HashMismatch,
}

impl VerifyError {
    /// The license server's numeric code.
    pub fn code(&self) -> u16 {
        match self {
            Self::Parse(_) => 7009,
            Self::Expired(_) => 7011,
            Self::InvalidJson(_) => 7013,
            Self::Invalid(_) => 7016,
            Self::DrmType(_) => 7018,
            Self::HashMismatch => 7019,
        }
    }
}

/// How a token's timestamp compares with the server clock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimeVerdict {
    /// Seconds between the token's timestamp and now (negative: from the future).
    pub age_secs: i64,
    /// The window in force, seconds.
    pub window_secs: u32,
    /// The future leeway in force, seconds.
    pub leeway_secs: u32,
    /// The server time used for the check.
    pub now: crate::Timestamp,
}

impl TimeVerdict {
    /// Whether the timestamp is inside `[now - window, now + leeway]`.
    pub fn is_valid(&self) -> bool {
        self.age_secs <= i64::from(self.window_secs)
            && -self.age_secs <= i64::from(self.leeway_secs)
    }
}

impl fmt::Display for TimeVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.age_secs < 0 {
            write!(
                f,
                "timestamp is {} s in the future (leeway {} s, server time {})",
                -self.age_secs, self.leeway_secs, self.now
            )
        } else {
            write!(
                f,
                "token age {} s exceeds the {} s window (server time {})",
                self.age_secs, self.window_secs, self.now
            )
        }
    }
}
