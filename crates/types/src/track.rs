//! Track types: which tracks a key (or a security rule) applies to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A track type, as in PallyCon's multi-key packaging and policies.
///
/// The wire names (what tokens, the admin API, the CLI and the database carry) are
/// `ALL`, `ALL_VIDEO`, `AUDIO`, `SD`, `HD`, `UHD1`, `UHD2`; serde reads and writes
/// exactly those.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TrackType {
    /// One key for every track (single-key content).
    #[serde(rename = "ALL")]
    All,
    /// One key for every video track.
    #[serde(rename = "ALL_VIDEO")]
    AllVideo,
    /// Audio tracks.
    #[serde(rename = "AUDIO")]
    Audio,
    /// SD video (up to 576p).
    #[serde(rename = "SD")]
    Sd,
    /// HD video (720p–1080p).
    #[serde(rename = "HD")]
    Hd,
    /// UHD video, first tier (4K).
    #[serde(rename = "UHD1")]
    Uhd1,
    /// UHD video, second tier (8K).
    #[serde(rename = "UHD2")]
    Uhd2,
}

impl TrackType {
    /// Every track type, in the documented order.
    pub const ALL_TYPES: [TrackType; 7] = [
        TrackType::All,
        TrackType::AllVideo,
        TrackType::Audio,
        TrackType::Sd,
        TrackType::Hd,
        TrackType::Uhd1,
        TrackType::Uhd2,
    ];

    /// The wire name: `ALL`, `ALL_VIDEO`, `AUDIO`, `SD`, `HD`, `UHD1`, `UHD2`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrackType::All => "ALL",
            TrackType::AllVideo => "ALL_VIDEO",
            TrackType::Audio => "AUDIO",
            TrackType::Sd => "SD",
            TrackType::Hd => "HD",
            TrackType::Uhd1 => "UHD1",
            TrackType::Uhd2 => "UHD2",
        }
    }

    /// Parses a wire name, exactly (uppercase); [`ParseError::TrackType`] otherwise.
    pub fn parse(text: &str) -> Result<TrackType, ParseError> {
        TrackType::ALL_TYPES
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or(ParseError::TrackType)
    }

    /// Whether this is a video resolution tier (`SD`, `HD`, `UHD1`, `UHD2`), the
    /// types an `ALL_VIDEO` entry covers.
    pub const fn is_video_tier(self) -> bool {
        matches!(
            self,
            TrackType::Sd | TrackType::Hd | TrackType::Uhd1 | TrackType::Uhd2
        )
    }
}

impl fmt::Display for TrackType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrackType {
    type Err = ParseError;
    /// Same as [`TrackType::parse`].
    fn from_str(text: &str) -> Result<TrackType, ParseError> {
        TrackType::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in TrackType::ALL_TYPES {
            assert_eq!(TrackType::parse(t.as_str()), Ok(t));
            assert_eq!(t.as_str().parse::<TrackType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<TrackType>(&json).unwrap(), t);
        }
        for bad in ["hd", "Hd", "8K", "", "ALL "] {
            assert_eq!(TrackType::parse(bad), Err(ParseError::TrackType), "{bad}");
        }
    }

    #[test]
    fn video_tiers() {
        let tiers: Vec<TrackType> = TrackType::ALL_TYPES
            .into_iter()
            .filter(|t| t.is_video_tier())
            .collect();
        assert_eq!(
            tiers,
            [
                TrackType::Sd,
                TrackType::Hd,
                TrackType::Uhd1,
                TrackType::Uhd2
            ]
        );
    }
}
