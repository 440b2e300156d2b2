//! Site ids: the tenant name every credential and every stored row carries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A site id: exactly four ASCII uppercase letters (`A`–`Z`), e.g. `TUTO` — the
/// PallyCon/DoveRunner console's site id, and the tenant key of the store.
///
/// There is one rule, checked here by [`SiteId::parse`]. Each crate keeps its own
/// refusal at its boundary: the token crate answers SDK code 1002 with the SDK's
/// message (`keyward_token::parse_site_id`), the store answers `invalid_site_id`
/// (`From<ParseError> for StoreError`).
///
/// Serialized as its text; deserializing checks the rule.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteId([u8; 4]);

impl SiteId {
    /// Validates and wraps a site id ([`ParseError::SiteId`] otherwise).
    pub fn parse(text: &str) -> Result<SiteId, ParseError> {
        match <[u8; 4]>::try_from(text.as_bytes()) {
            Ok(b) if b.iter().all(u8::is_ascii_uppercase) => Ok(SiteId(b)),
            _ => Err(ParseError::SiteId),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase letters are ever stored, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }
}

impl FromStr for SiteId {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<SiteId, ParseError> {
        SiteId::parse(text)
    }
}

impl TryFrom<String> for SiteId {
    type Error = ParseError;
    fn try_from(text: String) -> Result<SiteId, ParseError> {
        SiteId::parse(&text)
    }
}

impl From<SiteId> for String {
    fn from(id: SiteId) -> String {
        id.as_str().to_owned()
    }
}

impl AsRef<str> for SiteId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiteId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_uppercase_letters_only() {
        assert_eq!(SiteId::parse("TUTO").unwrap().as_str(), "TUTO");
        for bad in [
            "TUT", "tuto", "TUTO1", "TÜTO", "TU1O", "", "TUT ", "TU O", "TUT0",
        ] {
            assert_eq!(SiteId::parse(bad), Err(ParseError::SiteId), "{bad}");
        }
        assert_eq!(
            format!("{:?}", SiteId::parse("ABCD").unwrap()),
            "SiteId(ABCD)"
        );
    }

    #[test]
    fn serde_as_text() {
        let parsed: SiteId = serde_json::from_str("\"ABCD\"").unwrap();
        assert_eq!(parsed.as_str(), "ABCD");
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"ABCD\"");
        assert!(serde_json::from_str::<SiteId>("\"abcd\"").is_err());
    }

    #[test]
    fn ordered_as_text() {
        let mut ids: Vec<SiteId> = ["TUTO", "ABCD", "TUTA"]
            .iter()
            .map(|s| SiteId::parse(s).unwrap())
            .collect();
        ids.sort();
        let names: Vec<&str> = ids.iter().map(SiteId::as_str).collect();
        assert_eq!(names, ["ABCD", "TUTA", "TUTO"]);
    }
}
