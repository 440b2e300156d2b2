//! The parts of a CPIX document shared by requests and read documents, and the reading
//! of a parsed tree into them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyward_types::Kid;

use super::error::{malformed, CpixError};
use super::xml::{Element, NS_CPIX, NS_DS, NS_PSKC, NS_SPEKE, NS_XENC};
use crate::pssh::SystemId;

/// Most content keys, DRM systems, periods, usage rules or recipients in one document.
pub const MAX_LIST_LEN: usize = 1024;

/// A `ContentKeyPeriod`: a key period of a live stream with key rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `@id`, what `KeyPeriodFilter@periodId` refers to.
    pub id: Option<String>,
    /// `@index`, the period number.
    pub index: Option<u64>,
    /// `@start` (xs:dateTime text, as sent).
    pub start: Option<String>,
    /// `@end` (xs:dateTime text, as sent).
    pub end: Option<String>,
}

/// A `VideoFilter`: which video tracks a key protects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VideoFilter {
    /// `@minPixels`.
    pub min_pixels: Option<u64>,
    /// `@maxPixels`.
    pub max_pixels: Option<u64>,
    /// `@hdr`.
    pub hdr: Option<bool>,
    /// `@wcg`.
    pub wcg: Option<bool>,
    /// `@minFps`.
    pub min_fps: Option<u64>,
    /// `@maxFps`.
    pub max_fps: Option<u64>,
}

impl VideoFilter {
    /// Whether no attribute is set (`<VideoFilter/>`: every video track).
    pub fn is_unrestricted(&self) -> bool {
        *self == Self::default()
    }
}

/// An `AudioFilter`: which audio tracks a key protects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioFilter {
    /// `@minChannels`.
    pub min_channels: Option<u64>,
    /// `@maxChannels`.
    pub max_channels: Option<u64>,
}

impl AudioFilter {
    /// Whether no attribute is set (`<AudioFilter/>`: every audio track).
    pub fn is_unrestricted(&self) -> bool {
        *self == Self::default()
    }
}

/// A `BitrateFilter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitrateFilter {
    /// `@minBitrate`.
    pub min_bitrate: Option<u64>,
    /// `@maxBitrate`.
    pub max_bitrate: Option<u64>,
}

/// A `ContentKeyUsageRule`: which tracks (and periods) one key protects.
///
/// CPIX allows several filters of each kind in one rule (they are alternatives), so each
/// kind is a list; [`UsageRule::video_filter`] and [`UsageRule::audio_filter`] give the
/// first, which is all SPEKE uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRule {
    /// `@kid`.
    pub kid: Kid,
    /// `@intendedTrackType` as sent (`VIDEO`, `AUDIO`, `SD`, `HD`, `UHD1`, `ALL`, `SD+HD`, …).
    pub intended_track_type: Option<String>,
    /// `KeyPeriodFilter@periodId` values.
    pub key_period_filters: Vec<String>,
    /// `LabelFilter@label` values.
    pub label_filters: Vec<String>,
    /// `VideoFilter` elements.
    pub video_filters: Vec<VideoFilter>,
    /// `AudioFilter` elements.
    pub audio_filters: Vec<AudioFilter>,
    /// `BitrateFilter` elements.
    pub bitrate_filters: Vec<BitrateFilter>,
}

impl UsageRule {
    /// The first `VideoFilter`.
    pub fn video_filter(&self) -> Option<&VideoFilter> {
        self.video_filters.first()
    }

    /// The first `AudioFilter`.
    pub fn audio_filter(&self) -> Option<&AudioFilter> {
        self.audio_filters.first()
    }
}

/// A `DeliveryData` recipient: who the content keys are encrypted for.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient's X.509 certificate, DER (`DeliveryKey/ds:X509Data/ds:X509Certificate`).
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Recipient({} bytes of certificate)",
            self.certificate_der.len()
        )
    }
}

/// The well-known DRM systems and what keyward signals for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownSystem {
    /// Widevine, `edef8ba9-79d6-4ace-a3c8-27dcd51d21ed`.
    Widevine,
    /// PlayReady, `9a04f079-9840-4286-ab92-e65be0885f95`.
    PlayReady,
    /// FairPlay, `94ce86fb-07ff-4f43-adb8-93d2fa968ca2`.
    FairPlay,
    /// W3C common PSSH, `1077efec-c0b2-4d02-ace3-3c1e52e2fb4b`.
    Common,
    /// DASH-IF Clear Key, `e2719d58-a985-b3c9-781a-b030af78d30e`.
    ClearKey,
    /// HLS AES-128 with a key URI: AWS's `81376844-f976-481e-a84e-cc25d39b0b33`, or
    /// `3ea8778f-7742-4bf9-b18b-e834b2acbd47` as the AWS reference server and PallyCon
    /// also name it.
    HlsAes128,
}

/// DASH-IF Clear Key system id.
pub const CLEARKEY_SYSTEM_ID: SystemId = SystemId([
    0xe2, 0x71, 0x9d, 0x58, 0xa9, 0x85, 0xb3, 0xc9, 0x78, 0x1a, 0xb0, 0x30, 0xaf, 0x78, 0xd3, 0x0e,
]);
/// AWS's (non-registered) HLS AES-128 system id.
pub const HLS_AES128_SYSTEM_ID: SystemId = SystemId([
    0x81, 0x37, 0x68, 0x44, 0xf9, 0x76, 0x48, 0x1e, 0xa8, 0x4e, 0xcc, 0x25, 0xd3, 0x9b, 0x0b, 0x33,
]);
/// The clear AES-128 system id of the AWS reference server and PallyCon.
pub const CLEAR_AES128_SYSTEM_ID: SystemId = SystemId([
    0x3e, 0xa8, 0x77, 0x8f, 0x77, 0x42, 0x4b, 0xf9, 0xb1, 0x8b, 0xe8, 0x34, 0xb2, 0xac, 0xbd, 0x47,
]);

impl KnownSystem {
    /// The system for an id, `None` when keyward has no signalling for it.
    pub fn of(id: SystemId) -> Option<Self> {
        Some(match id {
            SystemId::WIDEVINE => Self::Widevine,
            SystemId::PLAYREADY => Self::PlayReady,
            SystemId::FAIRPLAY => Self::FairPlay,
            SystemId::COMMON => Self::Common,
            CLEARKEY_SYSTEM_ID => Self::ClearKey,
            HLS_AES128_SYSTEM_ID | CLEAR_AES128_SYSTEM_ID => Self::HlsAes128,
            _ => return None,
        })
    }
}

/// Reads a UUID-form kid (`8-4-4-4-12`, or 32 hex digits).
pub(crate) fn parse_kid(text: &str) -> Result<Kid, CpixError> {
    Kid::from_hex(text.trim()).map_err(|_| malformed("a kid is not a UUID"))
}

pub(crate) fn parse_system_id(text: &str) -> Result<SystemId, CpixError> {
    Kid::from_hex(text.trim())
        .map(|k| SystemId(k.0))
        .map_err(|_| malformed("a systemId is not a UUID"))
}

pub(crate) fn system_id_text(id: SystemId) -> String {
    Kid(id.0).to_uuid_string()
}

/// Decodes xs:base64Binary text (whitespace allowed, standard alphabet).
pub(crate) fn b64(text: &str, what: &'static str) -> Result<Vec<u8>, CpixError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| malformed(what))
}

/// Reads an `explicitIV`: base64 of 16 bytes, or (as the DASH-IF key rotation vectors
/// write it) a UUID / 32 hex digits.
pub(crate) fn parse_iv(text: &str) -> Result<[u8; 16], CpixError> {
    let text = text.trim();
    if text.len() == 36 || text.len() == 32 {
        if let Ok(k) = Kid::from_hex(text) {
            return Ok(k.0);
        }
    }
    let bytes = b64(text, "explicitIV is not base64")?;
    bytes
        .try_into()
        .map_err(|_| malformed("explicitIV is not 16 bytes"))
}

fn parse_uint(text: &str, what: &'static str) -> Result<u64, CpixError> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(what));
    }
    t.parse::<u64>().map_err(|_| malformed(what))
}

fn opt_uint(e: &Element, name: &str, what: &'static str) -> Result<Option<u64>, CpixError> {
    e.attr(name).map(|v| parse_uint(v, what)).transpose()
}

fn opt_bool(e: &Element, name: &str) -> Result<Option<bool>, CpixError> {
    e.attr(name)
        .map(|v| match v.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(malformed("a filter flag is not an xs:boolean")),
        })
        .transpose()
}

fn bounded<T>(list: &[T]) -> Result<(), CpixError> {
    if list.len() >= MAX_LIST_LEN {
        return Err(CpixError::TooComplex {
            reason: "more than 1024 entries in a list",
        });
    }
    Ok(())
}

/// A `pskc:Secret` as read: a plain value, or an encrypted value with its MAC.
#[derive(Clone)]
pub(crate) enum RawSecret {
    Plain(Vec<u8>),
    Encrypted {
        algorithm: Option<String>,
        cipher: Vec<u8>,
        mac: Option<Vec<u8>>,
    },
}

/// A `ContentKey` as read.
#[derive(Clone)]
pub(crate) struct RawKey {
    pub kid: Kid,
    pub explicit_iv: Option<[u8; 16]>,
    pub scheme: Option<String>,
    pub secret: Option<RawSecret>,
}

/// Which elements of a `DRMSystem` are present, with their text.
#[derive(Debug, Clone)]
pub(crate) struct RawDrm {
    pub kid: Kid,
    pub system_id: SystemId,
    pub name: Option<String>,
    pub pssh: Option<String>,
    pub content_protection_data: Option<String>,
    pub uri_ext_x_key: Option<String>,
    /// `(playlist attribute as sent, text)`.
    pub hls: Vec<(Option<String>, String)>,
    pub smooth_streaming: Option<String>,
    pub hds: Option<String>,
    pub speke_protection_header: Option<String>,
    pub speke_key_format: Option<String>,
    pub speke_key_format_versions: Option<String>,
}

/// One `DeliveryData` as read.
#[derive(Clone)]
pub(crate) struct RawDelivery {
    pub certificate: Option<Vec<u8>>,
    pub document_key: Option<RawEncrypted>,
    pub mac_method: Option<String>,
    pub mac_key: Option<RawEncrypted>,
}

/// An `xenc:EncryptedDataType` value: algorithm and cipher bytes.
#[derive(Clone)]
pub(crate) struct RawEncrypted {
    pub algorithm: Option<String>,
    pub cipher: Vec<u8>,
}

/// A whole CPIX document, as read, before the request / document views.
#[derive(Clone)]
pub(crate) struct RawCpix {
    pub id: Option<String>,
    pub content_id: Option<String>,
    pub version: Option<String>,
    pub name: Option<String>,
    pub keys: Vec<RawKey>,
    pub has_key_list: bool,
    pub drms: Vec<RawDrm>,
    pub has_drm_list: bool,
    pub periods: Vec<Period>,
    pub rules: Vec<UsageRule>,
    pub has_rule_list: bool,
    pub deliveries: Vec<RawDelivery>,
    pub uses_speke_namespace: bool,
    pub signature_count: usize,
}

fn read_encrypted(e: &Element) -> Result<RawEncrypted, CpixError> {
    let algorithm = e
        .child(NS_XENC, "EncryptionMethod")
        .and_then(|m| m.attr("Algorithm"))
        .map(str::to_owned);
    let cipher = e
        .child(NS_XENC, "CipherData")
        .and_then(|d| d.child(NS_XENC, "CipherValue"))
        .ok_or_else(|| malformed("an encrypted value has no CipherData/CipherValue"))?;
    Ok(RawEncrypted {
        algorithm,
        cipher: b64(&cipher.text(), "a CipherValue is not base64")?,
    })
}

fn read_secret(data: &Element) -> Result<Option<RawSecret>, CpixError> {
    let Some(secret) = data.child(NS_PSKC, "Secret") else {
        return Ok(None);
    };
    if let Some(plain) = secret.child(NS_PSKC, "PlainValue") {
        return Ok(Some(RawSecret::Plain(b64(
            &plain.text(),
            "a PlainValue is not base64",
        )?)));
    }
    if let Some(enc) = secret.child(NS_PSKC, "EncryptedValue") {
        let e = read_encrypted(enc)?;
        let mac = secret
            .child(NS_PSKC, "ValueMAC")
            .map(|m| b64(&m.text(), "a ValueMAC is not base64"))
            .transpose()?;
        return Ok(Some(RawSecret::Encrypted {
            algorithm: e.algorithm,
            cipher: e.cipher,
            mac,
        }));
    }
    Ok(None)
}

fn read_rule(e: &Element) -> Result<UsageRule, CpixError> {
    let kid = parse_kid(
        e.attr("kid")
            .ok_or_else(|| malformed("ContentKeyUsageRule without kid"))?,
    )?;
    let mut rule = UsageRule {
        kid,
        intended_track_type: e.attr("intendedTrackType").map(|s| s.trim().to_owned()),
        key_period_filters: Vec::new(),
        label_filters: Vec::new(),
        video_filters: Vec::new(),
        audio_filters: Vec::new(),
        bitrate_filters: Vec::new(),
    };
    for f in e.elements().filter(|f| f.ns.as_deref() == Some(NS_CPIX)) {
        match f.local.as_str() {
            "KeyPeriodFilter" => {
                bounded(&rule.key_period_filters)?;
                rule.key_period_filters.push(
                    f.attr("periodId")
                        .ok_or_else(|| malformed("KeyPeriodFilter without periodId"))?
                        .trim()
                        .to_owned(),
                );
            }
            "LabelFilter" => {
                bounded(&rule.label_filters)?;
                rule.label_filters.push(
                    f.attr("label")
                        .ok_or_else(|| malformed("LabelFilter without label"))?
                        .to_owned(),
                );
            }
            "VideoFilter" => {
                bounded(&rule.video_filters)?;
                let bad = "a VideoFilter number is not a non-negative integer";
                rule.video_filters.push(VideoFilter {
                    min_pixels: opt_uint(f, "minPixels", bad)?,
                    max_pixels: opt_uint(f, "maxPixels", bad)?,
                    hdr: opt_bool(f, "hdr")?,
                    wcg: opt_bool(f, "wcg")?,
                    min_fps: opt_uint(f, "minFps", bad)?,
                    max_fps: opt_uint(f, "maxFps", bad)?,
                });
            }
            "AudioFilter" => {
                bounded(&rule.audio_filters)?;
                let bad = "an AudioFilter number is not a non-negative integer";
                rule.audio_filters.push(AudioFilter {
                    min_channels: opt_uint(f, "minChannels", bad)?,
                    max_channels: opt_uint(f, "maxChannels", bad)?,
                });
            }
            "BitrateFilter" => {
                bounded(&rule.bitrate_filters)?;
                let bad = "a BitrateFilter number is not a non-negative integer";
                rule.bitrate_filters.push(BitrateFilter {
                    min_bitrate: opt_uint(f, "minBitrate", bad)?,
                    max_bitrate: opt_uint(f, "maxBitrate", bad)?,
                });
            }
            _ => {}
        }
    }
    Ok(rule)
}

fn read_drm(e: &Element) -> Result<RawDrm, CpixError> {
    let kid = parse_kid(
        e.attr("kid")
            .ok_or_else(|| malformed("DRMSystem without kid"))?,
    )?;
    let system_id = parse_system_id(
        e.attr("systemId")
            .ok_or_else(|| malformed("DRMSystem without systemId"))?,
    )?;
    let mut d = RawDrm {
        kid,
        system_id,
        name: e.attr("name").map(str::to_owned),
        pssh: None,
        content_protection_data: None,
        uri_ext_x_key: None,
        hls: Vec::new(),
        smooth_streaming: None,
        hds: None,
        speke_protection_header: None,
        speke_key_format: None,
        speke_key_format_versions: None,
    };
    let once = |slot: &mut Option<String>, c: &Element| -> Result<(), CpixError> {
        if slot.is_some() {
            return Err(malformed("a DRMSystem child element appears twice"));
        }
        *slot = Some(c.text());
        Ok(())
    };
    for c in e.elements() {
        match (c.ns.as_deref(), c.local.as_str()) {
            (Some(NS_CPIX), "PSSH") => once(&mut d.pssh, c)?,
            (Some(NS_CPIX), "ContentProtectionData") => once(&mut d.content_protection_data, c)?,
            (Some(NS_CPIX), "URIExtXKey") => once(&mut d.uri_ext_x_key, c)?,
            (Some(NS_CPIX), "HLSSignalingData") => {
                let playlist = c.attr("playlist").map(|p| p.trim().to_owned());
                if d.hls.len() >= 2 || d.hls.iter().any(|(p, _)| *p == playlist) {
                    return Err(malformed(
                        "a DRMSystem has more than one HLSSignalingData for a playlist",
                    ));
                }
                d.hls.push((playlist, c.text()));
            }
            (Some(NS_CPIX), "SmoothStreamingProtectionHeaderData") => {
                once(&mut d.smooth_streaming, c)?;
            }
            (Some(NS_CPIX), "HDSSignalingData") => once(&mut d.hds, c)?,
            (Some(NS_SPEKE), "ProtectionHeader") => once(&mut d.speke_protection_header, c)?,
            (Some(NS_SPEKE), "KeyFormat") => once(&mut d.speke_key_format, c)?,
            (Some(NS_SPEKE), "KeyFormatVersions") => once(&mut d.speke_key_format_versions, c)?,
            _ => {}
        }
    }
    Ok(d)
}

fn read_delivery(e: &Element) -> Result<RawDelivery, CpixError> {
    let certificate = e
        .child(NS_CPIX, "DeliveryKey")
        .and_then(|k| k.child(NS_DS, "X509Data"))
        .and_then(|x| x.child(NS_DS, "X509Certificate"))
        .map(|c| b64(&c.text(), "an X509Certificate is not base64"))
        .transpose()?;
    let document_key = e
        .child(NS_CPIX, "DocumentKey")
        .and_then(|k| k.child(NS_CPIX, "Data"))
        .and_then(|d| d.child(NS_PSKC, "Secret"))
        .and_then(|s| s.child(NS_PSKC, "EncryptedValue"))
        .map(read_encrypted)
        .transpose()?;
    let mac = e.child(NS_CPIX, "MACMethod");
    let mac_key = mac
        .and_then(|m| {
            m.child(NS_CPIX, "Key")
                .or_else(|| m.child(NS_PSKC, "MACKey"))
        })
        .map(read_encrypted)
        .transpose()?;
    Ok(RawDelivery {
        certificate,
        document_key,
        mac_method: mac.and_then(|m| m.attr("Algorithm")).map(str::to_owned),
        mac_key,
    })
}

fn count_signatures(e: &Element) -> usize {
    usize::from(e.is(NS_DS, "Signature")) + e.elements().map(count_signatures).sum::<usize>()
}

fn uses_speke(e: &Element) -> bool {
    e.ns.as_deref() == Some(NS_SPEKE)
        || e.attrs.iter().any(|a| a.ns.as_deref() == Some(NS_SPEKE))
        || e.elements().any(uses_speke)
}

/// Reads the parts of a CPIX tree keyward understands. Checks structure and value forms
/// and the version; the cross-references (kids, periods) are checked by
/// [`RawCpix::check_references`].
pub(crate) fn read_cpix(root: &Element) -> Result<RawCpix, CpixError> {
    if !root.is(NS_CPIX, "CPIX") {
        return Err(malformed(
            "the root element is not {urn:dashif:org:cpix}CPIX",
        ));
    }
    let version = root.attr("version").map(|v| v.trim().to_owned());
    if let Some(v) = &version {
        let major = v.split('.').next().unwrap_or("");
        if major != "2" || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(CpixError::UnsupportedVersion);
        }
    }
    let mut cpix = RawCpix {
        id: root.attr("id").map(str::to_owned),
        content_id: root.attr("contentId").map(str::to_owned),
        version,
        name: root.attr("name").map(str::to_owned),
        keys: Vec::new(),
        has_key_list: false,
        drms: Vec::new(),
        has_drm_list: false,
        periods: Vec::new(),
        rules: Vec::new(),
        has_rule_list: false,
        deliveries: Vec::new(),
        uses_speke_namespace: uses_speke(root),
        signature_count: 0,
    };
    cpix.signature_count = count_signatures(root);
    let mut seen: Vec<&str> = Vec::new();
    for list in root.elements() {
        if list.ns.as_deref() != Some(NS_CPIX) {
            continue;
        }
        let local = list.local.as_str();
        if seen.contains(&local) {
            return Err(malformed("a CPIX list element appears twice"));
        }
        match local {
            "DeliveryDataList" => {
                for d in list.children_named(NS_CPIX, "DeliveryData") {
                    bounded(&cpix.deliveries)?;
                    cpix.deliveries.push(read_delivery(d)?);
                }
            }
            "ContentKeyList" => {
                cpix.has_key_list = true;
                for k in list.children_named(NS_CPIX, "ContentKey") {
                    bounded(&cpix.keys)?;
                    let kid = parse_kid(
                        k.attr("kid")
                            .ok_or_else(|| malformed("ContentKey without kid"))?,
                    )?;
                    if cpix.keys.iter().any(|x| x.kid == kid) {
                        return Err(CpixError::DuplicateKid {
                            element: "ContentKeyList",
                            kid,
                        });
                    }
                    cpix.keys.push(RawKey {
                        kid,
                        explicit_iv: k.attr("explicitIV").map(parse_iv).transpose()?,
                        scheme: k
                            .attr("commonEncryptionScheme")
                            .map(|s| s.trim().to_owned()),
                        secret: match k.child(NS_CPIX, "Data") {
                            Some(data) => read_secret(data)?,
                            None => None,
                        },
                    });
                }
            }
            "DRMSystemList" => {
                cpix.has_drm_list = true;
                for d in list.children_named(NS_CPIX, "DRMSystem") {
                    bounded(&cpix.drms)?;
                    cpix.drms.push(read_drm(d)?);
                }
            }
            "ContentKeyPeriodList" => {
                for p in list.children_named(NS_CPIX, "ContentKeyPeriod") {
                    bounded(&cpix.periods)?;
                    let period = Period {
                        id: p.attr("id").map(|s| s.trim().to_owned()),
                        index: opt_uint(p, "index", "ContentKeyPeriod@index is not an integer")?,
                        start: p.attr("start").map(|s| s.trim().to_owned()),
                        end: p.attr("end").map(|s| s.trim().to_owned()),
                    };
                    if period.id.is_some() && cpix.periods.iter().any(|q| q.id == period.id) {
                        return Err(malformed("two ContentKeyPeriods share an id"));
                    }
                    cpix.periods.push(period);
                }
            }
            "ContentKeyUsageRuleList" => {
                cpix.has_rule_list = true;
                for r in list.children_named(NS_CPIX, "ContentKeyUsageRule") {
                    bounded(&cpix.rules)?;
                    cpix.rules.push(read_rule(r)?);
                }
            }
            _ => continue,
        }
        seen.push(local);
    }
    Ok(cpix)
}

impl RawCpix {
    /// Every kid named by a DRM system or usage rule is a content key, and every
    /// `KeyPeriodFilter` names a period.
    pub(crate) fn check_references(&self) -> Result<(), CpixError> {
        let known = |kid: &Kid| self.keys.iter().any(|k| k.kid == *kid);
        for d in &self.drms {
            if !known(&d.kid) {
                return Err(CpixError::UnknownKid {
                    element: "DRMSystem",
                    kid: d.kid,
                });
            }
        }
        for r in &self.rules {
            if !known(&r.kid) {
                return Err(CpixError::UnknownKid {
                    element: "ContentKeyUsageRule",
                    kid: r.kid,
                });
            }
            for p in &r.key_period_filters {
                if !self.periods.iter().any(|q| q.id.as_deref() == Some(p)) {
                    return Err(CpixError::UnknownPeriod);
                }
            }
        }
        Ok(())
    }
}
