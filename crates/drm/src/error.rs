//! The one error type of this crate.
//!
//! Why one enum with numeric codes: the server answers errors in several wire dialects
//! (PallyCon `{"errorCode","message"}`, RFC 7807 problem+json, …). It maps a `DrmError`
//! once, at the edge, and the numeric [`DrmError::code`] is what stays stable across those
//! dialects. Where PallyCon's license server has a code for the same failure we reuse it,
//! so a player written against PallyCon sees the number it already handles; ClearKey has no
//! vendor code, so keyward uses its own range `7401..=7409`.
//!
//! Messages are written for operators and are safe to return to clients: they name the
//! failing field and the limit, never a key, a key ID or a token.

/// Every way a DRM wire-format parser or builder of this crate can fail.
///
/// | code | variant | meaning |
/// |---|---|---|
/// | 7107 | [`WidevineBadChallenge`](Self::WidevineBadChallenge) | Widevine challenge is not a readable `SignedMessage` (PallyCon 7107, "bad challenge") |
/// | 7112 | [`PsshMalformed`](Self::PsshMalformed) | `pssh` box, Widevine PSSH data or PlayReady Object malformed (PallyCon 7112, "bad pssh") |
/// | 7201 | [`PlayReadyHeaderBuild`](Self::PlayReadyHeaderBuild) | a PlayReady header could not be built from the given inputs (PallyCon 7201, PlayReady build failure) |
/// | 7204 | [`PlayReadyRequestRead`](Self::PlayReadyRequestRead) | PlayReady request body unreadable: empty, too large or not UTF-8 (PallyCon 7204) |
/// | 7205 | [`PlayReadyRequestParse`](Self::PlayReadyRequestParse) | PlayReady request is not a well-formed SOAP `AcquireLicense` challenge, or its header KIDs are malformed (PallyCon 7205) |
/// | 7206 | [`PlayReadyNoCustomData`](Self::PlayReadyNoCustomData) | PlayReady challenge carries no `CustomData` (PallyCon 7206) |
/// | 7303 | [`FairPlayCredential`](Self::FairPlayCredential) | FairPlay private key or ASk unreadable, or the key is not the certificate's (PallyCon 7303, "bad FPS key") |
/// | 7304 | [`FairPlayCkcBuild`](Self::FairPlayCkcBuild) | a CKC could not be built, or a CKC read back is malformed (PallyCon 7304, licence build) |
/// | 7305 | [`FairPlaySpcEmpty`](Self::FairPlaySpcEmpty) | FairPlay request carries no SPC (PallyCon 7305, "SPC null") |
/// | 7308 | [`FairPlayBadAssetId`](Self::FairPlayBadAssetId) | the SPC's asset id is missing or not 2–200 bytes (PallyCon 7308, "bad assetId") |
/// | 7315 | [`FairPlayCertificate`](Self::FairPlayCertificate) | the FPS certificate is not an X.509 certificate with an RSA key (PallyCon 7315, "cert file") |
/// | 7316 | [`FairPlaySpcKeyUnwrap`](Self::FairPlaySpcKeyUnwrap) | the private key does not open the SPC key (PallyCon 7316, "RSA SPC decrypt") |
/// | 7317 | [`FairPlayBadSpc`](Self::FairPlayBadSpc) | FairPlay SPC undecodable or structurally invalid (PallyCon 7317, "bad SPC") |
/// | 7318 | [`FairPlayUnsupportedVersion`](Self::FairPlayUnsupportedVersion) | an SPC version keyward does not open (keyward) |
/// | 7319 | [`FairPlayIntegrity`](Self::FairPlayIntegrity) | the SK..R1 integrity value does not match: wrong ASk or D function, or an altered SPC (keyward) |
/// | 7401 | [`ClearKeyNotJsonObject`](Self::ClearKeyNotJsonObject) | ClearKey body is not UTF-8 JSON, or not a JSON object (keyward) |
/// | 7402 | [`ClearKeyNoKids`](Self::ClearKeyNoKids) | ClearKey body has no `kids` member, or an empty one (keyward) |
/// | 7403 | [`ClearKeyMalformedKid`](Self::ClearKeyMalformedKid) | a key ID is not base64url text of exactly 16 bytes (keyward) |
/// | 7404 | [`ClearKeyTooManyKids`](Self::ClearKeyTooManyKids) | more key IDs than [`crate::clearkey::MAX_KIDS`] (keyward) |
/// | 7405 | [`ClearKeyUnknownSessionType`](Self::ClearKeyUnknownSessionType) | `type` is neither `"temporary"` nor `"persistent-license"` (keyward) |
/// | 7406 | [`ClearKeyBodyTooLarge`](Self::ClearKeyBodyTooLarge) | ClearKey body larger than [`crate::clearkey::MAX_BODY_LEN`] (keyward) |
/// | 7407 | [`ClearKeyKidsNotArray`](Self::ClearKeyKidsNotArray) | `kids` is present but is not a JSON array (keyward) |
///
/// Codes 7408 and 7409 are reserved for future ClearKey failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DrmError {
    /// 7107: the Widevine challenge could not be read as a license or service-certificate
    /// request. `reason` says which structural rule failed.
    #[error("invalid Widevine challenge: {reason}")]
    WidevineBadChallenge {
        /// Which structural rule failed (static text, no input echoed).
        reason: &'static str,
    },
    /// 7112: a `pssh` box, Widevine PSSH data or PlayReady Object is malformed.
    #[error("invalid PSSH data: {reason}")]
    PsshMalformed {
        /// Which structural rule failed (static text, no input echoed).
        reason: &'static str,
    },
    /// 7201: a PlayReady header could not be built from the given inputs.
    #[error("cannot build PlayReady header: {reason}")]
    PlayReadyHeaderBuild {
        /// Which input rule failed (static text).
        reason: &'static str,
    },
    /// 7204: the PlayReady request body could not be read as text.
    #[error("cannot read PlayReady request: {reason}")]
    PlayReadyRequestRead {
        /// Why the body is unreadable (static text).
        reason: &'static str,
    },
    /// 7205: the PlayReady request is not a SOAP `AcquireLicense` challenge we can read.
    #[error("cannot parse PlayReady request: {reason}")]
    PlayReadyRequestParse {
        /// Which structural rule failed (static text, no input echoed).
        reason: &'static str,
    },
    /// 7206: the PlayReady challenge has no (or an empty) `CustomData` element.
    #[error("PlayReady challenge carries no CustomData")]
    PlayReadyNoCustomData,
    /// 7303: a FairPlay private key or ASk cannot be used.
    #[error("unusable FairPlay {what}: {reason}")]
    FairPlayCredential {
        /// Which part (`private key`, `ASk`).
        what: &'static str,
        /// Why (static text, no input echoed).
        reason: &'static str,
    },
    /// 7304: a CKC could not be built, or a CKC read back is malformed.
    #[error("FairPlay CKC: {reason}")]
    FairPlayCkcBuild {
        /// Why (static text).
        reason: &'static str,
    },
    /// 7308: the SPC's asset id is missing or of a bad size.
    #[error("invalid FairPlay asset id: {reason}")]
    FairPlayBadAssetId {
        /// Why (static text, no input echoed).
        reason: &'static str,
    },
    /// 7315: the FPS certificate cannot be read.
    #[error("invalid FairPlay certificate: {reason}")]
    FairPlayCertificate {
        /// Why (static text).
        reason: &'static str,
    },
    /// 7316: the private key does not open the SPC key.
    #[error("the FairPlay private key does not open this SPC (made for another certificate, or altered)")]
    FairPlaySpcKeyUnwrap,
    /// 7318: an SPC version keyward does not open.
    #[error("FairPlay SPC version {version} is not supported: keyward opens version 1 (RSA-1024 certificates)")]
    FairPlayUnsupportedVersion {
        /// The version the SPC names.
        version: u32,
    },
    /// 7319: the SK..R1 integrity value does not match.
    #[error("FairPlay SPC integrity check failed: the ASk or D function does not match this certificate, or the SPC was altered")]
    FairPlayIntegrity,
    /// 7305: the FairPlay request body carries no SPC at all.
    #[error("FairPlay request carries no SPC")]
    FairPlaySpcEmpty,
    /// 7317: the FairPlay SPC could not be decoded or its container is invalid.
    #[error("invalid FairPlay SPC: {reason}")]
    FairPlayBadSpc {
        /// Which structural rule failed (static text, no input echoed).
        reason: &'static str,
    },
    /// 7401: the ClearKey body is not UTF-8 JSON, or its top level is not an object.
    #[error("ClearKey message is not a UTF-8 JSON object")]
    ClearKeyNotJsonObject,
    /// 7402: the ClearKey message has no `kids` member, or `kids` is empty.
    #[error("ClearKey message has no key IDs")]
    ClearKeyNoKids,
    /// 7403: the key ID at `index` in `kids` is not base64url text decoding to 16 bytes.
    #[error("ClearKey key ID at index {index} is not base64url of exactly 16 bytes")]
    ClearKeyMalformedKid {
        /// Zero-based position of the bad entry in the `kids` array.
        index: usize,
    },
    /// 7404: the ClearKey message lists more key IDs than allowed.
    #[error("ClearKey message lists {count} key IDs, limit is {limit}")]
    ClearKeyTooManyKids {
        /// Number of entries in `kids` (before removing duplicates).
        count: usize,
        /// The limit, [`crate::clearkey::MAX_KIDS`].
        limit: usize,
    },
    /// 7405: `type` is not `"temporary"` or `"persistent-license"` (or is not a string).
    #[error("ClearKey session type must be \"temporary\" or \"persistent-license\"")]
    ClearKeyUnknownSessionType,
    /// 7406: the ClearKey body exceeds the size limit.
    #[error("ClearKey message is {len} bytes, limit is {limit}")]
    ClearKeyBodyTooLarge {
        /// Size of the body received.
        len: usize,
        /// The limit, [`crate::clearkey::MAX_BODY_LEN`].
        limit: usize,
    },
    /// 7407: `kids` is present but is not a JSON array.
    #[error("ClearKey member \"kids\" is not an array")]
    ClearKeyKidsNotArray,
}

impl DrmError {
    /// The stable numeric code of this error (see the table on [`DrmError`]).
    pub fn code(&self) -> u16 {
        match self {
            Self::WidevineBadChallenge { .. } => 7107,
            Self::PsshMalformed { .. } => 7112,
            Self::PlayReadyHeaderBuild { .. } => 7201,
            Self::PlayReadyRequestRead { .. } => 7204,
            Self::PlayReadyRequestParse { .. } => 7205,
            Self::PlayReadyNoCustomData => 7206,
            Self::FairPlayCredential { .. } => 7303,
            Self::FairPlayCkcBuild { .. } => 7304,
            Self::FairPlaySpcEmpty => 7305,
            Self::FairPlayBadAssetId { .. } => 7308,
            Self::FairPlayCertificate { .. } => 7315,
            Self::FairPlaySpcKeyUnwrap => 7316,
            Self::FairPlayBadSpc { .. } => 7317,
            Self::FairPlayUnsupportedVersion { .. } => 7318,
            Self::FairPlayIntegrity => 7319,
            Self::ClearKeyNotJsonObject => 7401,
            Self::ClearKeyNoKids => 7402,
            Self::ClearKeyMalformedKid { .. } => 7403,
            Self::ClearKeyTooManyKids { .. } => 7404,
            Self::ClearKeyUnknownSessionType => 7405,
            Self::ClearKeyBodyTooLarge { .. } => 7406,
            Self::ClearKeyKidsNotArray => 7407,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases: [(DrmError, u16); 22] = [
            (
                DrmError::FairPlayCredential {
                    what: "x",
                    reason: "x",
                },
                7303,
            ),
            (DrmError::FairPlayCkcBuild { reason: "x" }, 7304),
            (DrmError::FairPlayBadAssetId { reason: "x" }, 7308),
            (DrmError::FairPlayCertificate { reason: "x" }, 7315),
            (DrmError::FairPlaySpcKeyUnwrap, 7316),
            (DrmError::FairPlayUnsupportedVersion { version: 3 }, 7318),
            (DrmError::FairPlayIntegrity, 7319),
            (DrmError::WidevineBadChallenge { reason: "x" }, 7107),
            (DrmError::PsshMalformed { reason: "x" }, 7112),
            (DrmError::PlayReadyHeaderBuild { reason: "x" }, 7201),
            (DrmError::PlayReadyRequestRead { reason: "x" }, 7204),
            (DrmError::PlayReadyRequestParse { reason: "x" }, 7205),
            (DrmError::PlayReadyNoCustomData, 7206),
            (DrmError::FairPlaySpcEmpty, 7305),
            (DrmError::FairPlayBadSpc { reason: "x" }, 7317),
            (DrmError::ClearKeyNotJsonObject, 7401),
            (DrmError::ClearKeyNoKids, 7402),
            (DrmError::ClearKeyMalformedKid { index: 0 }, 7403),
            (
                DrmError::ClearKeyTooManyKids {
                    count: 100,
                    limit: 32,
                },
                7404,
            ),
            (DrmError::ClearKeyUnknownSessionType, 7405),
            (DrmError::ClearKeyBodyTooLarge { len: 1, limit: 0 }, 7406),
            (DrmError::ClearKeyKidsNotArray, 7407),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn messages_are_precise() {
        assert_eq!(
            DrmError::ClearKeyTooManyKids {
                count: 100,
                limit: 32
            }
            .to_string(),
            "ClearKey message lists 100 key IDs, limit is 32"
        );
        assert_eq!(
            DrmError::ClearKeyMalformedKid { index: 2 }.to_string(),
            "ClearKey key ID at index 2 is not base64url of exactly 16 bytes"
        );
    }
}
