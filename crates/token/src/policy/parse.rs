//! Policy JSON → typed [`Policy`], with the SDKs' error codes.
//!
//! Verification parses a policy on every licence request, so this reads the
//! crate's zero-copy JSON tree rather than a generic map. A shape mistake (an
//! object where a list belongs, a string for an object) maps to the SDKs'
//! "should be an instance of" code for that member, a bad scalar to the
//! member's own code. `null` counts as "given and wrong", except where an SDK
//! itself emits it (`iv`, `key_id`). Unknown members are ignored; a member given
//! twice makes the policy invalid JSON (1005).

use super::*;
use crate::error::{SdkCode, TokenError};
use crate::jsonread::{self, J};

/// Largest policy plaintext keyward reads.
pub(crate) const MAX_POLICY_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HexCase {
    LowerOnly,
    Any,
}

type R<T> = Result<T, TokenError>;

fn err<T>(code: SdkCode, msg: impl Into<String>) -> R<T> {
    Err(TokenError::new(code, msg))
}

fn external_member<'v, 'a>(top: &'v J<'a>) -> Option<&'v J<'a>> {
    top.get("external_key")
        .or_else(|| top.get("external_policy"))
        .or_else(|| top.get("externalkey"))
}

/// An optional object member read by `read`; a non-object is its "instance" error.
fn member<T>(
    o: &J<'_>,
    key: &str,
    code: SdkCode,
    msg: &str,
    read: impl FnOnce(&J<'_>) -> R<T>,
) -> R<Option<T>> {
    o.get(key)
        .map(|v| object(v, code, msg).and_then(read))
        .transpose()
}

/// An optional list member (or single object) whose items `read` turns into keys.
fn items<T>(
    o: &J<'_>,
    key: &str,
    type_err: fn() -> TokenError,
    mut read: impl FnMut(&J<'_>) -> R<T>,
) -> R<Option<Vec<T>>> {
    let Some(v) = o.get(key) else { return Ok(None) };
    let list = list(v).ok_or_else(type_err)?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        if !is_object(item) {
            return Err(type_err());
        }
        out.push(read(item)?);
    }
    Ok(Some(out))
}

fn is_object(v: &J<'_>) -> bool {
    matches!(v, J::Obj(_))
}

/// An object member, or the member's "instance" error.
fn object<'v, 'a>(v: &'v J<'a>, code: SdkCode, msg: &str) -> R<&'v J<'a>> {
    if is_object(v) {
        Ok(v)
    } else {
        err(code, msg)
    }
}

/// A list member (a single object is accepted as a list of one, as the SDKs'
/// setters accept an instance or a list).
fn list<'v, 'a>(v: &'v J<'a>) -> Option<Vec<&'v J<'a>>> {
    match v {
        J::Arr(items) => Some(items.iter().collect()),
        J::Obj(_) => Some(vec![v]),
        _ => None,
    }
}

pub(crate) fn parse(json: &[u8], hex: HexCase) -> R<Policy> {
    if json.len() > MAX_POLICY_BYTES {
        return err(
            SdkCode::PolicyRequired,
            format!("Policy : the policy JSON is larger than {MAX_POLICY_BYTES} bytes"),
        );
    }
    let text = std::str::from_utf8(json).map_err(|_| {
        TokenError::new(SdkCode::PolicyRequired, "Policy : the policy is not UTF-8")
    })?;
    let top = jsonread::parse(text).map_err(|e| {
        TokenError::new(
            SdkCode::PolicyRequired,
            format!("Policy : not valid JSON ({e})"),
        )
    })?;
    if !is_object(&top) {
        return err(
            SdkCode::PolicyRequired,
            "Policy : the policy should be a JSON object",
        );
    }
    let p = Parser { hex };
    match top.get("policy_version").map(J::as_i64) {
        None => p.v1(&top),
        Some(Some(2)) => p.v2(&top),
        Some(Some(1)) => p.v1(&top),
        Some(_) => err(
            SdkCode::PolicyRequired,
            "Policy : policy_version should be 2",
        ),
    }
}

/// An integer given as a JSON integer, an integral float, or a boolean
/// (Python's `True == 1`): how the SDKs' membership checks treat levels.
fn as_level(v: &J<'_>) -> Option<i64> {
    match v {
        J::Bool(b) => Some(i64::from(*b)),
        J::Num(_) => v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

/// A strict JSON integer (booleans and floats are not integers for durations).
fn as_int(v: &J<'_>) -> Option<i64> {
    v.as_i64()
}

fn as_str<'v>(v: &'v J<'_>) -> Option<&'v str> {
    v.as_str()
}

struct Parser {
    hex: HexCase,
}

impl Parser {
    fn v2(&self, top: &J<'_>) -> R<Policy> {
        let mut policy = Policy {
            version: PolicyVersion::V2,
            ..Policy::default()
        };
        if let Some(v) = top.get("playback_policy") {
            let o: &J<'_> = object(
                v,
                SdkCode::PlaybackPolicyType,
                "Policy Err : The playback_policy should be an instance of PlaybackPolicy",
            )?;
            policy.playback = Some(self.playback(o)?);
        }
        if let Some(v) = top.get("security_policy") {
            let items = list(v).ok_or_else(security_type_err)?;
            let mut entries = Vec::with_capacity(items.len());
            for e in items {
                if !is_object(e) {
                    return Err(security_type_err());
                }
                entries.push(self.security(e)?);
            }
            policy.security = Some(entries);
        }
        if let Some(v) = external_member(top) {
            policy.external_key = Some(self.external(v, false)?);
        }
        Ok(policy)
    }

    fn playback(&self, o: &J<'_>) -> R<PlaybackPolicy> {
        let mut p = PlaybackPolicy::default();
        if let Some(v) = o.get("persistent") {
            p.persistent = Some(boolean(
                v,
                SdkCode::Persistent,
                "PlaybackPolicy : The persistent",
            )?);
        }
        if let Some(v) = o.get("license_duration") {
            p.license_duration = Some(duration(v, SdkCode::LicenseDuration, "license_duration")?);
        }
        if let Some(v) = o.get("expire_date") {
            p.expire_date = Some(expire_date(v)?);
        }
        if let Some(v) = o.get("allowed_track_types") {
            p.allowed_track_types =
                Some(as_str(v).and_then(AllowedTrackTypes::from_wire).ok_or_else(|| {
                    TokenError::new(
                        SdkCode::AllowedTrackTypes,
                        "PlaybackPolicy : The allowed_track_types value should be one of ALL, SD_ONLY, SD_HD, SD_UHD1, SD_UHD2",
                    )
                })?);
        }
        if let Some(v) = o.get("rental_duration") {
            p.rental_duration = Some(duration(v, SdkCode::RentalDuration, "rental_duration")?);
        }
        if let Some(v) = o.get("playback_duration") {
            p.playback_duration =
                Some(duration(v, SdkCode::PlaybackDuration, "playback_duration")?);
        }
        if let Some(v) = o.get("max_stream_per_user") {
            let n = duration(v, SdkCode::MaxStreamPerUser, "max_stream_per_user")?;
            p.max_stream_per_user = Some(u32::try_from(n).map_err(|_| {
                TokenError::new(
                    SdkCode::MaxStreamPerUser,
                    "PlaybackPolicy : The max_stream_per_user is too large",
                )
            })?);
        }
        if let Some(v) = o.get("renewal_duration") {
            let n = match v {
                J::Str(s)
                    if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    s.parse::<u64>().ok()
                }
                J::Num(_) => v.as_i64().and_then(|n| u64::try_from(n).ok()),
                _ => None,
            };
            p.renewal_duration = Some(n.ok_or_else(|| {
                TokenError::new(
                    SdkCode::RenewalDuration,
                    "PlaybackPolicy : The renewal_duration should be a non-negative Integer",
                )
            })?);
        }
        Ok(p)
    }

    fn security(&self, o: &J<'_>) -> R<SecurityPolicy> {
        let mut s = SecurityPolicy::default();
        if let Some(v) = o.get("track_type") {
            s.track_type = Some(as_str(v).and_then(|t| TrackType::parse(t).ok()).ok_or_else(|| {
                TokenError::new(
                    SdkCode::SecurityTrackType,
                    "SecurityPolicy : The track_type should be one of ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2",
                )
            })?);
        }
        s.widevine = member(
            o,
            "widevine",
            SdkCode::WidevineType,
            "SecurityPolicy : The widevine should be an instance of SecurityPolicyWidevine",
            widevine,
        )?;
        s.playready = member(
            o,
            "playready",
            SdkCode::PlayReadyType,
            "SecurityPolicy : The playready should be an instance of SecurityPolicyPlayready",
            playready,
        )?;
        s.fairplay = member(
            o,
            "fairplay",
            SdkCode::FairPlayType,
            "SecurityPolicy : The fairplay should be an instance of SecurityPolicyFairplay",
            fairplay,
        )?;
        s.ncg = member(
            o,
            "ncg",
            SdkCode::NcgType,
            "SecurityPolicy : The ncg should be an instance of SecurityPolicyNcg",
            ncg_security,
        )?;
        s.wiseplay = member(
            o,
            "wiseplay",
            SdkCode::WiseplayType,
            "SecurityPolicy : The wiseplay should be an instance of SecurityPolicyWiseplay",
            wiseplay,
        )?;
        Ok(s)
    }

    /// `external_key`; in v1, keys are single objects without a track type (`ALL`).
    fn external(&self, v: &J<'_>, v1: bool) -> R<ExternalKey> {
        let o: &J<'_> = object(
            v,
            SdkCode::ExternalKeyType,
            "Policy Err : The external_key should be an instance of ExternalKey",
        )?;
        let e = ExternalKey {
            mpeg_cenc: items(o, "mpeg_cenc", mpeg_type_err, |k| self.mpeg_cenc(k, v1))?,
            hls_aes: items(o, "hls_aes", hls_type_err, |k| self.hls_aes(k, v1))?,
            ncg: member(
                o,
                "ncg",
                SdkCode::NcgKeyType,
                "ExternalKey: The Ncg should be an instance of Ncg",
                |k| self.ncg_key(k),
            )?,
        };
        if e.is_empty() {
            return err(
                SdkCode::ExternalKeyEmpty,
                "ExternalKey : the external_key should carry mpeg_cenc, hls_aes or ncg keys",
            );
        }
        Ok(e)
    }

    fn mpeg_cenc(&self, k: &J<'_>, v1: bool) -> R<MpegCencKey> {
        let track_type = match track(
            k.get("track_type"),
            SdkCode::MpegCencTrackType,
            "ExternalKeyMpegCenc",
        )? {
            Some(t) => t,
            None if v1 => TrackType::All,
            None => {
                return err(
                    SdkCode::MpegCencTrackType,
                    "ExternalKeyMpegCenc: The track_type is required",
                )
            }
        };
        let key_id = self.hex16(
            k.get("key_id"),
            SdkCode::MpegCencKeyId,
            "ExternalKeyMpegCenc : The key_id",
        )?;
        let key = self.hex16(
            k.get("key"),
            SdkCode::MpegCencKey,
            "ExternalKeyMpegCenc : The key",
        )?;
        let iv = match k.get("iv") {
            Some(v) if !v.is_null() => Some(Bytes16(self.hex16(
                Some(v),
                SdkCode::MpegCencIv,
                "ExternalKeyMpegCenc : The iv",
            )?)),
            _ => None,
        };
        Ok(MpegCencKey {
            track_type,
            key_id: Kid(key_id),
            key: ContentKey::new(key),
            iv,
        })
    }

    fn hls_aes(&self, k: &J<'_>, v1: bool) -> R<HlsAesKey> {
        let track_type = match track(
            k.get("track_type"),
            SdkCode::HlsAesTrackType,
            "ExternalKeyHlsAes",
        )? {
            Some(t) => t,
            None if v1 => TrackType::All,
            None => {
                return err(
                    SdkCode::HlsAesTrackType,
                    "ExternalKeyHlsAes: The track_type is required",
                )
            }
        };
        let key_id = match k.get("key_id") {
            Some(v) if !v.is_null() => Some(Kid(self.hex16(
                Some(v),
                SdkCode::HlsAesKeyId,
                "ExternalKeyHlsAes : The key_id",
            )?)),
            _ => None,
        };
        let key = self.hex16(
            k.get("key"),
            SdkCode::HlsAesKey,
            "ExternalKeyHlsAes : The key",
        )?;
        let iv = self.hex16(k.get("iv"), SdkCode::HlsAesIv, "ExternalKeyHlsAes : The iv")?;
        Ok(HlsAesKey {
            track_type,
            key_id,
            key: ContentKey::new(key),
            iv: Bytes16(iv),
        })
    }

    fn ncg_key(&self, k: &J<'_>) -> R<NcgKey> {
        let track_type = track(
            k.get("track_type"),
            SdkCode::NcgKeyTrackType,
            "ExternalKeyNcg",
        )?;
        let cek = k
            .get("cek")
            .and_then(as_str)
            .and_then(|s| decode_hex::<32>(s, self.hex))
            .ok_or_else(|| {
                TokenError::new(
                    SdkCode::NcgCek,
                    "ExternalKeyNcg : The Cek should be 32byte hex String",
                )
            })?;
        Ok(NcgKey {
            track_type,
            cek: Key32(cek),
        })
    }

    fn hex16(&self, v: Option<&J<'_>>, code: SdkCode, what: &str) -> R<[u8; 16]> {
        v.and_then(as_str)
            .and_then(|s| decode_hex::<16>(s, self.hex))
            .ok_or_else(|| TokenError::new(code, format!("{what} should be 16byte hex String")))
    }

    /// The legacy v1 policy, normalized into the v2 model.
    fn v1(&self, top: &J<'_>) -> R<Policy> {
        let mut policy = Policy {
            version: PolicyVersion::V1,
            ..Policy::default()
        };
        if let Some(v) = top.get("playback_policy") {
            let o: &J<'_> = object(
                v,
                SdkCode::PlaybackPolicyType,
                "Policy Err : The playback_policy should be an object",
            )?;
            let limit = match o.get("limit") {
                None => false,
                Some(v) => boolean(v, SdkCode::Persistent, "PlaybackPolicy : The limit")?,
            };
            let mut p = PlaybackPolicy::default();
            if let Some(v) = o.get("persistent") {
                p.persistent = Some(boolean(
                    v,
                    SdkCode::Persistent,
                    "PlaybackPolicy : The persistent",
                )?);
            }
            let duration_v = match o.get("duration") {
                Some(v) => Some(duration(v, SdkCode::LicenseDuration, "duration")?),
                None => None,
            };
            let expire = match o.get("expire_date") {
                Some(v) => Some(expire_date(v)?),
                None => None,
            };
            // v1: `limit: false` means unlimited whatever else is set; with a
            // limit, a duration wins over an expiry date.
            if limit {
                match duration_v {
                    Some(d) if d > 0 => p.license_duration = Some(d),
                    _ => p.expire_date = expire,
                }
            }
            policy.playback = Some(p);
        }
        if let Some(v) = top.get("security_policy") {
            let one = match v {
                J::Obj(_) => v,
                J::Arr(items) => match items.as_slice() {
                    [only] if is_object(only) => only,
                    _ => return Err(security_type_err()),
                },
                _ => return Err(security_type_err()),
            };
            policy.security = Some(vec![v1_security(one)?]);
        }
        if let Some(v) = external_member(top) {
            policy.external_key = Some(self.external(v, true)?);
        }
        Ok(policy)
    }
}

/// v1 `security_policy` (one object) → one v2 entry for `ALL` tracks.
///
/// `hardware_drm` asks for hardware DRM: Widevine level 5 (L1 only) and PlayReady
/// SL3000 unless `playready_security_level` says otherwise; `output_protect`
/// maps onto each DRM's HDCP setting.
fn v1_security(o: &J<'_>) -> R<SecurityPolicy> {
    let hardware = match o.get("hardware_drm") {
        None => false,
        Some(v) => boolean(
            v,
            SdkCode::SecurityPolicyType,
            "SecurityPolicy : The hardware_drm",
        )?,
    };
    let mut ncg = NcgSecurity::default();
    let mut control = None;
    if let Some(v) = o.get("output_protect") {
        let op: &J<'_> = object(
            v,
            SdkCode::NcgType,
            "SecurityPolicy : The output_protect should be an object",
        )?;
        if let Some(v) = op.get("allow_external_display") {
            ncg.allow_external_display = Some(boolean(
                v,
                SdkCode::NcgAllowExternalDisplay,
                "SecurityPolicyNcg: The allow_external_display",
            )?);
        }
        if let Some(v) = op.get("control_hdcp") {
            control = Some(level(
                v,
                SdkCode::NcgControlHdcp,
                "control_hdcp",
                NcgControlHdcp::from_i64,
            )?);
            ncg.control_hdcp = control;
        }
    }
    if let Some(v) = o.get("allow_mobile_abnormal_device") {
        ncg.allow_mobile_abnormal_device = Some(boolean(
            v,
            SdkCode::NcgAllowMobileAbnormalDevice,
            "SecurityPolicyNcg: The allow_mobile_abnormal_device",
        )?);
    }
    let mut entry = SecurityPolicy {
        track_type: Some(TrackType::All),
        ..SecurityPolicy::default()
    };
    let mut wv = WidevineSecurity::default();
    if hardware {
        wv.security_level = Some(WidevineSecurityLevel::HwSecureAll);
    }
    let mut fp = FairPlaySecurity::default();
    match control {
        Some(NcgControlHdcp::Hdcp1_4) => {
            wv.required_hdcp_version = Some(HdcpVersion::V1);
            fp.hdcp_enforcement = Some(FairPlayHdcp::Type0);
        }
        Some(NcgControlHdcp::Hdcp2_2) => {
            wv.required_hdcp_version = Some(HdcpVersion::V2_2);
            fp.hdcp_enforcement = Some(FairPlayHdcp::Type1);
        }
        _ => {}
    }
    let mut pr = PlayReadySecurity::default();
    if let Some(v) = o.get("playready_security_level") {
        pr.security_level = Some(level(
            v,
            SdkCode::PlayReadySecurityLevel,
            "playready_security_level",
            PlayReadySecurityLevel::from_i64,
        )?);
    } else if hardware {
        pr.security_level = Some(PlayReadySecurityLevel::L3000);
    }
    if wv != WidevineSecurity::default() {
        entry.widevine = Some(wv);
    }
    if pr != PlayReadySecurity::default() {
        entry.playready = Some(pr);
    }
    if fp != FairPlaySecurity::default() {
        entry.fairplay = Some(fp);
    }
    if ncg != NcgSecurity::default() {
        entry.ncg = Some(ncg);
    }
    Ok(entry)
}

fn widevine(o: &J<'_>) -> R<WidevineSecurity> {
    const P: &str = "SecurityPolicyWidevine: The";
    let mut w = WidevineSecurity::default();
    if let Some(v) = o.get("security_level") {
        w.security_level = Some(level(
            v,
            SdkCode::WidevineSecurityLevel,
            "widevine security_level (1-5)",
            WidevineSecurityLevel::from_i64,
        )?);
    }
    if let Some(v) = o.get("required_hdcp_version") {
        w.required_hdcp_version = Some(word(
            v,
            SdkCode::WidevineHdcpVersion,
            "required_hdcp_version",
            HdcpVersion::from_wire,
            HdcpVersion::ALL_VALUES.iter().map(|x| x.as_str()),
        )?);
    }
    if let Some(v) = o.get("required_cgms_flags") {
        w.required_cgms_flags = Some(word(
            v,
            SdkCode::WidevineCgmsFlags,
            "required_cgms_flags",
            CgmsFlags::from_wire,
            CgmsFlags::ALL_VALUES.iter().map(|x| x.as_str()),
        )?);
    }
    if let Some(v) = o.get("disable_analog_output") {
        w.disable_analog_output = Some(boolean(
            v,
            SdkCode::WidevineDisableAnalogOutput,
            &format!("{P} disable_analog_output"),
        )?);
    }
    if let Some(v) = o.get("hdcp_srm_rule") {
        w.hdcp_srm_rule = Some(word(
            v,
            SdkCode::WidevineHdcpSrmRule,
            "hdcp_srm_rule",
            HdcpSrmRule::from_wire,
            HdcpSrmRule::ALL_VALUES.iter().map(|x| x.as_str()),
        )?);
    }
    if let Some(v) = o.get("override_device_revocation") {
        w.override_device_revocation = Some(boolean(
            v,
            SdkCode::WidevineOverrideDeviceRevocation,
            &format!("{P} override_device_revocation"),
        )?);
    }
    if let Some(v) = o.get("enable_license_cipher") {
        w.enable_license_cipher = Some(boolean(
            v,
            SdkCode::WidevineEnableLicenseCipher,
            &format!("{P} enable_license_cipher"),
        )?);
    }
    if let Some(v) = o.get("allow_test_device") {
        w.allow_test_device = Some(boolean(
            v,
            SdkCode::WidevineAllowTestDevice,
            &format!("{P} allow_test_device"),
        )?);
    }
    Ok(w)
}

fn playready(o: &J<'_>) -> R<PlayReadySecurity> {
    let mut p = PlayReadySecurity::default();
    if let Some(v) = o.get("security_level") {
        p.security_level = Some(level(
            v,
            SdkCode::PlayReadySecurityLevel,
            "playready security_level (150, 2000, 3000)",
            PlayReadySecurityLevel::from_i64,
        )?);
    }
    if let Some(v) = o.get("digital_video_protection_level") {
        p.digital_video_protection_level = Some(level(
            v,
            SdkCode::PlayReadyDigitalVideo,
            "digital_video_protection_level (100, 250, 270, 300, 301)",
            DigitalVideoProtection::from_i64,
        )?);
    }
    if let Some(v) = o.get("analog_video_protection_level") {
        p.analog_video_protection_level = Some(level(
            v,
            SdkCode::PlayReadyAnalogVideo,
            "analog_video_protection_level (100, 150, 200, 201)",
            AnalogVideoProtection::from_i64,
        )?);
    }
    if let Some(v) = o.get("digital_audio_protection_level") {
        p.digital_audio_protection_level = Some(level(
            v,
            SdkCode::PlayReadyDigitalAudio,
            "digital_audio_protection_level (100, 250, 300, 301)",
            DigitalAudioProtection::from_i64,
        )?);
    }
    if let Some(v) = o
        .get("require_hdcp_type_1")
        .or_else(|| o.get("require_hdcp_type1"))
    {
        p.require_hdcp_type_1 = Some(boolean(
            v,
            SdkCode::PlayReadyRequireHdcpType1,
            "SecurityPolicyPlayready: The require_hdcp_type_1",
        )?);
    }
    if let Some(v) = o.get("enable_license_cipher") {
        p.enable_license_cipher = Some(boolean(
            v,
            SdkCode::PlayReadyEnableLicenseCipher,
            "SecurityPolicyPlayready: The enable_license_cipher",
        )?);
    }
    Ok(p)
}

fn fairplay(o: &J<'_>) -> R<FairPlaySecurity> {
    let mut f = FairPlaySecurity::default();
    if let Some(v) = o.get("hdcp_enforcement") {
        f.hdcp_enforcement = Some(level(
            v,
            SdkCode::FairPlayHdcpEnforcement,
            "hdcp_enforcement (-1, 0, 1)",
            FairPlayHdcp::from_i64,
        )?);
    }
    if let Some(v) = o.get("allow_airplay") {
        f.allow_airplay = Some(boolean(
            v,
            SdkCode::FairPlayAllowAirplay,
            "SecurityPolicyFairplay: The allow_airplay",
        )?);
    }
    if let Some(v) = o.get("allow_av_adapter") {
        f.allow_av_adapter = Some(boolean(
            v,
            SdkCode::FairPlayAllowAvAdapter,
            "SecurityPolicyFairplay: The allow_av_adapter",
        )?);
    }
    Ok(f)
}

fn ncg_security(o: &J<'_>) -> R<NcgSecurity> {
    let mut n = NcgSecurity::default();
    if let Some(v) = o.get("allow_mobile_abnormal_device") {
        n.allow_mobile_abnormal_device = Some(boolean(
            v,
            SdkCode::NcgAllowMobileAbnormalDevice,
            "SecurityPolicyNcg: The allow_mobile_abnormal_device",
        )?);
    }
    if let Some(v) = o.get("allow_external_display") {
        n.allow_external_display = Some(boolean(
            v,
            SdkCode::NcgAllowExternalDisplay,
            "SecurityPolicyNcg: The allow_external_display",
        )?);
    }
    if let Some(v) = o.get("control_hdcp") {
        n.control_hdcp = Some(level(
            v,
            SdkCode::NcgControlHdcp,
            "control_hdcp (0, 1, 2)",
            NcgControlHdcp::from_i64,
        )?);
    }
    Ok(n)
}

fn wiseplay(o: &J<'_>) -> R<WiseplaySecurity> {
    let mut w = WiseplaySecurity::default();
    if let Some(v) = o.get("security_level") {
        w.security_level = Some(level(
            v,
            SdkCode::WiseplaySecurityLevel,
            "wiseplay security_level (1, 2, 3)",
            WiseplaySecurityLevel::from_i64,
        )?);
    }
    if let Some(v) = o.get("output_control") {
        w.output_control = Some(level(
            v,
            SdkCode::WiseplayOutputControl,
            "wiseplay output_control (0-3)",
            WiseplayOutputControl::from_i64,
        )?);
    }
    Ok(w)
}

fn security_type_err() -> TokenError {
    TokenError::new(
        SdkCode::SecurityPolicyType,
        "Policy Err : The security_policy should be an instance of SecurityPolicy or List[SecurityPolicy]",
    )
}

fn mpeg_type_err() -> TokenError {
    TokenError::new(
        SdkCode::MpegCencType,
        "ExternalKey: The MpegCenc should be an instance of MpegCenc or List[MpegCenc]",
    )
}

fn hls_type_err() -> TokenError {
    TokenError::new(
        SdkCode::HlsAesType,
        "ExternalKey: The HlsAes should be an instance of HlsAes or List[HlsAes]",
    )
}

fn boolean(v: &J<'_>, code: SdkCode, what: &str) -> R<bool> {
    match v.as_bool() {
        Some(b) => Ok(b),
        None => Err(TokenError::new(code, format!("{what} should be Boolean"))),
    }
}

fn duration(v: &J<'_>, code: SdkCode, field: &str) -> R<u64> {
    as_int(v)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            TokenError::new(
                code,
                format!("PlaybackPolicy : The {field} should be a non-negative Integer"),
            )
        })
}

fn level<T>(v: &J<'_>, code: SdkCode, what: &str, from: fn(i64) -> Option<T>) -> R<T> {
    as_level(v)
        .and_then(from)
        .ok_or_else(|| TokenError::new(code, format!("The {what} has an invalid value")))
}

fn word<T>(
    v: &J<'_>,
    code: SdkCode,
    field: &str,
    from: fn(&str) -> Option<T>,
    allowed: impl Iterator<Item = &'static str>,
) -> R<T> {
    as_str(v).and_then(from).ok_or_else(|| {
        let list: Vec<&str> = allowed.collect();
        TokenError::new(
            code,
            format!(
                "SecurityPolicyWidevine: The {field} should be one of {}",
                list.join(", ")
            ),
        )
    })
}

fn track(v: Option<&J<'_>>, code: SdkCode, what: &str) -> R<Option<TrackType>> {
    match v {
        None => Ok(None),
        Some(v) => as_str(v).and_then(|t| TrackType::parse(t).ok()).map(Some).ok_or_else(|| {
            TokenError::new(
                code,
                format!("{what}: The track_type should be one of ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2"),
            )
        }),
    }
}

fn expire_date(v: &J<'_>) -> R<crate::Timestamp> {
    as_str(v).and_then(|s| crate::Timestamp::parse(s).ok()).ok_or_else(|| {
        TokenError::new(
            SdkCode::ExpireDate,
            "PlaybackPolicy : The expireDate time format should be 'YYYY-MM-DD'T'HH:mm:ss'Z' (a real UTC date)",
        )
    })
}

pub(crate) fn decode_hex<const N: usize>(s: &str, case: HexCase) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' if case == HexCase::Any => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}
