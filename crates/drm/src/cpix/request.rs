//! CPIX requests from packagers: DASH-IF CPIX 2.x clients, SPEKE v1 and SPEKE v2.

use keyward_types::{Kid, TrackType};

use super::error::{malformed, CpixError};
use super::model::{read_cpix, KnownSystem, Period, RawCpix, RawSecret, Recipient, UsageRule};
use super::xml;
use crate::pssh::SystemId;

/// Which protocol a request speaks, as far as the answer depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SPEKE v1: elements of the AWS `urn:aws:amazon:com:speke` namespace are present, or
    /// the request carries no `CPIX@version`.
    SpekeV1,
    /// CPIX 2.x (DASH-IF clients, and SPEKE v2 which is CPIX 2.3 / 2.4).
    CpixV2,
}

/// A content key the packager asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedKey {
    /// `ContentKey@kid`: the packager's kid (the answer may carry another, see
    /// [`super::ResolvedKey`]).
    pub kid: Kid,
    /// `@explicitIV`, when the packager chose the IV.
    pub explicit_iv: Option<[u8; 16]>,
    /// `@commonEncryptionScheme` (`cenc`, `cbcs`, `cbc1`, `cens`), as sent.
    pub common_encryption_scheme: Option<String>,
    /// Whether the request already carries a value for this key (`Data/Secret`).
    pub has_value: bool,
}

/// Which signalling a `DRMSystem` asks for: the child elements present in the request
/// (they are empty in a request; the answer fills them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    /// `cpix:PSSH`.
    pub pssh: bool,
    /// `cpix:ContentProtectionData`.
    pub content_protection_data: bool,
    /// `cpix:URIExtXKey`.
    pub uri_ext_x_key: bool,
    /// `cpix:HLSSignalingData playlist="media"` (or without `@playlist`).
    pub hls_media: bool,
    /// `cpix:HLSSignalingData playlist="master"` (`"multiVariant"` in CPIX 2.4).
    pub hls_master: bool,
    /// `cpix:SmoothStreamingProtectionHeaderData`.
    pub smooth_streaming: bool,
    /// `cpix:HDSSignalingData` (never answered: keyward has no HDS signalling).
    pub hds: bool,
    /// `speke:ProtectionHeader` (SPEKE v1, PlayReady for Smooth Streaming).
    pub speke_protection_header: bool,
    /// `speke:KeyFormat` (SPEKE v1, HLS).
    pub speke_key_format: bool,
    /// `speke:KeyFormatVersions` (SPEKE v1, HLS).
    pub speke_key_format_versions: bool,
}

/// A `DRMSystem` of the request: a key and a DRM the packager needs signalling for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedDrm {
    /// `@kid` (a kid of [`Request::content_keys`]).
    pub kid: Kid,
    /// `@systemId`.
    pub system_id: SystemId,
    /// `@name`, echoed.
    pub name: Option<String>,
    /// The elements asked for.
    pub wants: Wants,
    /// The spelling of the master playlist value (`master`, or `multiVariant` in CPIX 2.4).
    pub(crate) master_name: String,
}

impl RequestedDrm {
    /// The DRM, when keyward knows how to signal it.
    pub fn known_system(&self) -> Option<KnownSystem> {
        KnownSystem::of(self.system_id)
    }
}

/// What the server has to find a key for: one per requested content key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySlot {
    /// The packager's kid.
    pub requested_kid: Kid,
    /// The first usage rule's `@intendedTrackType`, as sent.
    pub intended_track_type: Option<String>,
    /// keyward's track type for it (see [`track_type_of`]); `None` when it has no
    /// equivalent (`SD+HD`, `HD1`, `HDR`, …): the server decides.
    pub track_type: Option<TrackType>,
    /// The `ContentKeyPeriod@index` the key's usage rule names through its
    /// `KeyPeriodFilter` (key rotation), when it names one with an index.
    pub period_index: Option<u64>,
    /// The packager's IV, when it chose one.
    pub explicit_iv: Option<[u8; 16]>,
    /// `@commonEncryptionScheme`, as sent.
    pub common_encryption_scheme: Option<String>,
}

/// keyward's [`TrackType`] for a CPIX / SPEKE `@intendedTrackType`.
///
/// | intendedTrackType | track type |
/// |---|---|
/// | absent, `ALL` | `All` |
/// | `VIDEO` | `AllVideo` |
/// | `SD`, `HD`, `UHD1`, `UHD2` | the same tier |
/// | `UHD` | `Uhd1` |
/// | `AUDIO`, `STEREO_AUDIO`, `MULTICHANNEL_AUDIO`, `MULTICHANNEL_AUDIO_3_6`, `MULTICHANNEL_AUDIO_7` | `Audio` |
/// | anything else (`SD+HD`, `HD1`, `HD2`, `HDR`, …) | `None` |
///
/// Several slots can map to the same track type (SPEKE's PRESET-AUDIO-2 asks for a stereo
/// and a multichannel key): [`super::respond`] refuses two answers with the same kid, so
/// the server must then choose distinct keys (using [`KeySlot::intended_track_type`]) or
/// refuse the request.
pub fn track_type_of(intended: Option<&str>) -> Option<TrackType> {
    Some(match intended.map(str::trim) {
        None | Some("ALL") => TrackType::All,
        Some("VIDEO") => TrackType::AllVideo,
        Some("SD") => TrackType::Sd,
        Some("HD") => TrackType::Hd,
        Some("UHD1" | "UHD") => TrackType::Uhd1,
        Some("UHD2") => TrackType::Uhd2,
        Some(
            "AUDIO"
            | "STEREO_AUDIO"
            | "MULTICHANNEL_AUDIO"
            | "MULTICHANNEL_AUDIO_3_6"
            | "MULTICHANNEL_AUDIO_7",
        ) => TrackType::Audio,
        Some(_) => return None,
    })
}

/// A parsed CPIX request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `CPIX@id` (SPEKE v1 carries the content id here).
    pub id: Option<String>,
    /// `CPIX@contentId`.
    pub content_id: Option<String>,
    /// `CPIX@version` (absent in SPEKE v1).
    pub version: Option<String>,
    /// `CPIX@name`.
    pub name: Option<String>,
    /// `ContentKeyList`, in order.
    pub content_keys: Vec<RequestedKey>,
    /// `DRMSystemList`, in order.
    pub drm_systems: Vec<RequestedDrm>,
    /// `ContentKeyPeriodList`, in order.
    pub periods: Vec<Period>,
    /// `ContentKeyUsageRuleList`, in order.
    pub usage_rules: Vec<UsageRule>,
    /// `DeliveryDataList`: the recipients the packager wants the keys encrypted for.
    pub delivery: Vec<Recipient>,
    pub(crate) uses_speke_namespace: bool,
    pub(crate) has_key_list: bool,
    pub(crate) has_drm_list: bool,
    pub(crate) has_rule_list: bool,
}

impl Request {
    /// Parses a CPIX 2.x / SPEKE v1 / SPEKE v2 request.
    ///
    /// Elements are matched by namespace URI, whatever their prefixes. Everything a
    /// request references is checked: every `DRMSystem@kid` and `ContentKeyUsageRule@kid`
    /// is a `ContentKey@kid`, every `KeyPeriodFilter@periodId` a `ContentKeyPeriod@id`.
    /// DRM systems keyward has no signalling for are kept (see [`super::respond`]).
    ///
    /// # Errors
    /// `cpix_too_large`, `cpix_too_complex`, `cpix_malformed` (not XML, not CPIX, a DTD,
    /// a missing required attribute, a value of the wrong form), `cpix_unsupported_version`
    /// (a `CPIX@version` other than 2.x), `cpix_duplicate_kid`, `cpix_unknown_kid`,
    /// `cpix_unknown_period`, and `cpix_signature_unsupported` for requests carrying XML
    /// signatures (keyward authenticates packagers at the HTTP layer and does not verify
    /// request signatures; SPEKE excludes them).
    pub fn parse(xml: &[u8]) -> Result<Request, CpixError> {
        let doc = xml::parse(xml)?;
        let raw = read_cpix(&doc.root)?;
        if raw.signature_count > 0 {
            return Err(CpixError::SignatureUnsupported {
                reason: "keyward does not verify XML signatures on requests; send the request unsigned over an authenticated connection",
            });
        }
        raw.check_references()?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawCpix) -> Result<Request, CpixError> {
        let content_keys = raw
            .keys
            .iter()
            .map(|k| RequestedKey {
                kid: k.kid,
                explicit_iv: k.explicit_iv,
                common_encryption_scheme: k.scheme.clone(),
                has_value: matches!(
                    k.secret,
                    Some(RawSecret::Plain(_) | RawSecret::Encrypted { .. })
                ),
            })
            .collect();
        let mut drm_systems = Vec::with_capacity(raw.drms.len());
        for d in &raw.drms {
            let mut wants = Wants {
                pssh: d.pssh.is_some(),
                content_protection_data: d.content_protection_data.is_some(),
                uri_ext_x_key: d.uri_ext_x_key.is_some(),
                smooth_streaming: d.smooth_streaming.is_some(),
                hds: d.hds.is_some(),
                speke_protection_header: d.speke_protection_header.is_some(),
                speke_key_format: d.speke_key_format.is_some(),
                speke_key_format_versions: d.speke_key_format_versions.is_some(),
                ..Wants::default()
            };
            let mut master_name = "master".to_owned();
            for (playlist, _) in &d.hls {
                match playlist.as_deref() {
                    None | Some("media") => {
                        if wants.hls_media {
                            return Err(malformed(
                                "a DRMSystem asks twice for media playlist signalling",
                            ));
                        }
                        wants.hls_media = true;
                    }
                    Some(p @ ("master" | "multiVariant")) => {
                        wants.hls_master = true;
                        p.clone_into(&mut master_name);
                    }
                    Some(_) => {
                        return Err(malformed(
                            "HLSSignalingData@playlist is not media, master or multiVariant",
                        ))
                    }
                }
            }
            drm_systems.push(RequestedDrm {
                kid: d.kid,
                system_id: d.system_id,
                name: d.name.clone(),
                wants,
                master_name,
            });
        }
        let mut delivery = Vec::with_capacity(raw.deliveries.len());
        for d in &raw.deliveries {
            let der = d.certificate.clone().ok_or_else(|| {
                malformed("DeliveryData without DeliveryKey/X509Data/X509Certificate")
            })?;
            delivery.push(Recipient {
                certificate_der: der,
            });
        }
        Ok(Request {
            id: raw.id,
            content_id: raw.content_id,
            version: raw.version,
            name: raw.name,
            content_keys,
            drm_systems,
            periods: raw.periods,
            usage_rules: raw.rules,
            delivery,
            uses_speke_namespace: raw.uses_speke_namespace,
            has_key_list: raw.has_key_list,
            has_drm_list: raw.has_drm_list,
            has_rule_list: raw.has_rule_list,
        })
    }

    /// SPEKE v1 when elements of the AWS SPEKE namespace are present or `CPIX@version`
    /// is absent; CPIX 2.x otherwise.
    pub fn dialect(&self) -> Dialect {
        if self.uses_speke_namespace || self.version.is_none() {
            Dialect::SpekeV1
        } else {
            Dialect::CpixV2
        }
    }

    /// The content id: `CPIX@contentId`, else (SPEKE v1) `CPIX@id`.
    pub fn content_id_or_id(&self) -> Option<&str> {
        self.content_id.as_deref().or(self.id.as_deref())
    }

    /// The DRM systems keyward has no signalling for (answered without signalling).
    pub fn unsupported_systems(&self) -> Vec<SystemId> {
        let mut out: Vec<SystemId> = Vec::new();
        for d in &self.drm_systems {
            if d.known_system().is_none() && !out.contains(&d.system_id) {
                out.push(d.system_id);
            }
        }
        out
    }

    /// The keys to resolve, one per requested content key, in request order.
    pub fn key_slots(&self) -> Vec<KeySlot> {
        self.content_keys
            .iter()
            .map(|k| {
                let rule = self.usage_rules.iter().find(|r| r.kid == k.kid);
                let intended = rule.and_then(|r| r.intended_track_type.clone());
                let period_index = self
                    .usage_rules
                    .iter()
                    .filter(|r| r.kid == k.kid)
                    .flat_map(|r| r.key_period_filters.iter())
                    .find_map(|id| {
                        self.periods
                            .iter()
                            .find(|p| p.id.as_deref() == Some(id.as_str()))
                            .and_then(|p| p.index)
                    });
                KeySlot {
                    requested_kid: k.kid,
                    track_type: track_type_of(intended.as_deref()),
                    intended_track_type: intended,
                    period_index,
                    explicit_iv: k.explicit_iv,
                    common_encryption_scheme: k.common_encryption_scheme.clone(),
                }
            })
            .collect()
    }

    /// Checks the SPEKE v2 profile (SPEKE API v2.0 / v2.1: CPIX 2.3 / 2.4). The server
    /// calls this when the request carries `X-Speke-Version: 2.x`.
    ///
    /// Refused: a `CPIX@version` other than `2.3` / `2.4`; a missing or empty
    /// `CPIX@contentId`; a missing or empty `ContentKeyList`, `DRMSystemList` or
    /// `ContentKeyUsageRuleList`; a `ContentKey` without `@commonEncryptionScheme` or with
    /// a value other than `cenc`, `cbc1`, `cens`, `cbcs`; keys with different schemes; a
    /// FairPlay `DRMSystem` on a `cenc` / `cens` key; a usage rule without
    /// `@intendedTrackType`; the same `@intendedTrackType` in two rules; an `ALL` rule
    /// that is not alone or does not carry exactly one attribute-less `VideoFilter` and
    /// `AudioFilter`; any other rule whose number of `VideoFilter` + `AudioFilter`
    /// differs from the number of `+`-separated parts of its `@intendedTrackType`; a
    /// content key no rule covers.
    ///
    /// # Errors
    /// `cpix_unsupported_version` for the version, `cpix_speke_contract` otherwise.
    pub fn check_speke_v2(&self) -> Result<(), CpixError> {
        let contract = |reason| CpixError::SpekeContract { reason };
        match self.version.as_deref() {
            Some("2.3" | "2.4") => {}
            _ => return Err(CpixError::UnsupportedVersion),
        }
        if self
            .content_id
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
        {
            return Err(contract("CPIX@contentId is missing or empty"));
        }
        if !self.has_key_list || self.content_keys.is_empty() {
            return Err(contract("ContentKeyList is missing or empty"));
        }
        if !self.has_drm_list || self.drm_systems.is_empty() {
            return Err(contract("DRMSystemList is missing or empty"));
        }
        if !self.has_rule_list || self.usage_rules.is_empty() {
            return Err(contract("ContentKeyUsageRuleList is missing or empty"));
        }
        let mut scheme: Option<&str> = None;
        for k in &self.content_keys {
            let s = k
                .common_encryption_scheme
                .as_deref()
                .ok_or_else(|| contract("a ContentKey has no commonEncryptionScheme"))?;
            if !matches!(s, "cenc" | "cbc1" | "cens" | "cbcs") {
                return Err(contract(
                    "ContentKey@commonEncryptionScheme is not cenc, cbc1, cens or cbcs",
                ));
            }
            if scheme.is_some_and(|prev| prev != s) {
                return Err(contract(
                    "the ContentKeys use different commonEncryptionSchemes",
                ));
            }
            scheme = Some(s);
        }
        for d in &self.drm_systems {
            if d.system_id == SystemId::FAIRPLAY {
                let key_scheme = self
                    .content_keys
                    .iter()
                    .find(|k| k.kid == d.kid)
                    .and_then(|k| k.common_encryption_scheme.as_deref());
                if matches!(key_scheme, Some("cenc" | "cens")) {
                    return Err(contract(
                        "FairPlay needs an AES-CBC scheme (cbcs), not cenc or cens",
                    ));
                }
            }
        }
        let mut types: Vec<&str> = Vec::with_capacity(self.usage_rules.len());
        for r in &self.usage_rules {
            let t = r
                .intended_track_type
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| contract("a ContentKeyUsageRule has no intendedTrackType"))?;
            if types.contains(&t) {
                return Err(contract(
                    "two ContentKeyUsageRules share an intendedTrackType",
                ));
            }
            types.push(t);
            let filters = r.video_filters.len() + r.audio_filters.len();
            if t == "ALL" {
                let plain = r.video_filters.len() == 1
                    && r.audio_filters.len() == 1
                    && r.video_filters.iter().all(|f| f.is_unrestricted())
                    && r.audio_filters.iter().all(|f| f.is_unrestricted());
                if !plain {
                    return Err(contract(
                        "an ALL rule carries exactly one VideoFilter and one AudioFilter, without attributes",
                    ));
                }
            } else if filters != t.split('+').count() {
                return Err(contract(
                    "a rule's VideoFilter and AudioFilter count differs from the parts of its intendedTrackType",
                ));
            }
        }
        if types.contains(&"ALL") && types.len() > 1 {
            return Err(contract(
                "an ALL rule cannot be combined with rules for other track types",
            ));
        }
        let uncovered = self
            .content_keys
            .iter()
            .any(|k| !self.usage_rules.iter().any(|r| r.kid == k.kid));
        if uncovered {
            return Err(contract("a ContentKey has no ContentKeyUsageRule"));
        }
        Ok(())
    }
}
