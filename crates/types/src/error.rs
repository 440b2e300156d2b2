//! The one error of this crate: why a text or a byte string is not a valid value.

/// Why a value could not be parsed. `Display` names the field and the rule, never
/// the offending bytes (a rejected content key could be a real one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A site id is not exactly four ASCII uppercase letters.
    #[error("site id must be exactly 4 ASCII uppercase letters")]
    SiteId,
    /// A kid or content key has the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {actual}")]
    Length {
        /// Which value: `"kid"` or `"key"`.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// A kid's text is neither 32 hex digits nor a dashed UUID.
    #[error("{what} must be 32 hex digits or a dashed UUID")]
    Hex {
        /// Which value: `"kid"`.
        what: &'static str,
        /// The number of bytes the text would give, read as hex: its length
        /// without dashes (when it is 36 characters long), halved. Kept so that
        /// callers can word the refusal as a length, as they always have.
        approx_bytes: usize,
    },
    /// A kid's text is not base64 or base64url.
    #[error("{what} is not base64")]
    Base64 {
        /// Which value: `"kid"`.
        what: &'static str,
    },
    /// Not one of `ALL`, `ALL_VIDEO`, `AUDIO`, `SD`, `HD`, `UHD1`, `UHD2`.
    #[error("unknown track type: expected ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1 or UHD2")]
    TrackType,
    /// Not one of `Widevine`, `PlayReady`, `FairPlay`, `NCG`, `Wiseplay`, `ClearKey`.
    #[error("unknown DRM name: expected Widevine, PlayReady, FairPlay, NCG, Wiseplay or ClearKey")]
    DrmType,
}

impl ParseError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::SiteId => "invalid_site_id",
            ParseError::Length { .. } => "invalid_length",
            ParseError::Hex { .. } => "invalid_hex",
            ParseError::Base64 { .. } => "invalid_base64",
            ParseError::TrackType => "invalid_track_type",
            ParseError::DrmType => "invalid_drm_type",
        }
    }
}
