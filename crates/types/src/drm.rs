//! DRM names: which DRM a token is for, which DRMs a site allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A DRM system. The names are the PallyCon/DoveRunner `drm_type` values, plus
/// keyward's `ClearKey` (W3C Clear Key).
///
/// The same names are stored in a site's `allowed_drms` and shown by the admin API
/// and the CLI; serde reads and writes exactly [`DrmType::as_str`]
/// (`Widevine`, `PlayReady`, `FairPlay`, `NCG`, `Wiseplay`, `ClearKey`).
///
/// Variants are declared in the order of [`DrmType::ALL`], the default of a site's
/// allowed list, so that order (and the derived `Ord`) never changes a stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DrmType {
    /// Google Widevine.
    Widevine,
    /// Microsoft PlayReady (the vendor default when a token has no `drm_type`).
    PlayReady,
    /// Apple FairPlay Streaming.
    FairPlay,
    /// INKA NCG.
    #[serde(rename = "NCG")]
    Ncg,
    /// Huawei WisePlay (DoveRunner).
    Wiseplay,
    /// W3C Clear Key (keyward's extension).
    ClearKey,
}

impl DrmType {
    /// Every DRM, in a fixed order (a new site allows all of them, in this order).
    pub const ALL: [DrmType; 6] = [
        DrmType::Widevine,
        DrmType::PlayReady,
        DrmType::FairPlay,
        DrmType::Ncg,
        DrmType::Wiseplay,
        DrmType::ClearKey,
    ];

    /// The canonical name: `Widevine`, `PlayReady`, `FairPlay`, `NCG`, `Wiseplay`,
    /// `ClearKey`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DrmType::Widevine => "Widevine",
            DrmType::PlayReady => "PlayReady",
            DrmType::FairPlay => "FairPlay",
            DrmType::Ncg => "NCG",
            DrmType::Wiseplay => "Wiseplay",
            DrmType::ClearKey => "ClearKey",
        }
    }

    /// Parses the canonical name exactly; [`ParseError::DrmType`] otherwise.
    pub fn parse(text: &str) -> Result<DrmType, ParseError> {
        DrmType::ALL
            .into_iter()
            .find(|d| d.as_str() == text)
            .ok_or(ParseError::DrmType)
    }

    /// Parses a name ignoring ASCII case, as the license server compares a
    /// token's `drm_type` (`widevine`, `CLEARKEY`, …); [`ParseError::DrmType`]
    /// otherwise.
    pub fn parse_ignore_case(text: &str) -> Result<DrmType, ParseError> {
        DrmType::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(text))
            .ok_or(ParseError::DrmType)
    }
}

impl fmt::Display for DrmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DrmType {
    type Err = ParseError;
    /// Same as [`DrmType::parse_ignore_case`] (what the admin API and CLI accept).
    fn from_str(text: &str) -> Result<DrmType, ParseError> {
        DrmType::parse_ignore_case(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for drm in DrmType::ALL {
            assert_eq!(DrmType::parse(drm.as_str()), Ok(drm));
            assert_eq!(drm.as_str().parse::<DrmType>(), Ok(drm));
            let json = serde_json::to_string(&drm).unwrap();
            assert_eq!(json, format!("\"{}\"", drm.as_str()));
            assert_eq!(serde_json::from_str::<DrmType>(&json).unwrap(), drm);
        }
        assert_eq!(
            serde_json::to_string(&DrmType::ALL).unwrap(),
            r#"["Widevine","PlayReady","FairPlay","NCG","Wiseplay","ClearKey"]"#
        );
    }

    #[test]
    fn case() {
        assert_eq!(
            DrmType::parse_ignore_case("widevine"),
            Ok(DrmType::Widevine)
        );
        assert_eq!(
            DrmType::parse_ignore_case("CLEARKEY"),
            Ok(DrmType::ClearKey)
        );
        assert_eq!("ncg".parse::<DrmType>(), Ok(DrmType::Ncg));
        assert_eq!(DrmType::parse("widevine"), Err(ParseError::DrmType));
        assert_eq!(DrmType::parse_ignore_case("wv"), Err(ParseError::DrmType));
        assert_eq!("Marlin".parse::<DrmType>(), Err(ParseError::DrmType));
        // Serde is exact, as the stored form always is.
        assert!(serde_json::from_str::<DrmType>("\"widevine\"").is_err());
    }
}
