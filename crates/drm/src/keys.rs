//! Key IDs and content keys, the two 16-byte values every DRM here speaks about.
//!
//! Why newtypes: a KID is public (it travels in manifests, PSSH boxes and challenges) while
//! a content key is the secret itself. Giving them distinct types keeps the two from being
//! swapped by accident, and lets [`ContentKey`]'s `Debug` print `***` so a key never lands
//! in a log line through `{:?}`.
//!
//! Byte order: a [`Kid`] always holds the CENC / big-endian UUID byte order (the order of
//! `tenc`, PSSH v1 KIDs, ClearKey and Widevine). PlayReady writes KIDs as little-endian
//! GUIDs; convert at that boundary with [`Kid::from_guid_le`] / [`Kid::to_guid_le`].

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// A 16-byte key ID in CENC (big-endian UUID) byte order.
///
/// `Display` prints 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(pub [u8; 16]);

impl Kid {
    /// Wraps 16 bytes already in CENC byte order.
    pub const fn new(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes, CENC byte order.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Takes a KID from a slice; `None` unless it is exactly 16 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Self)
    }

    /// Parses 32 hex digits (either case), optionally written as a dashed UUID
    /// (`8-4-4-4-12`). Returns `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let compact: String = if text.len() == 36 {
            let b = text.as_bytes();
            if [8usize, 13, 18, 23]
                .iter()
                .any(|&i| b.get(i) != Some(&b'-'))
            {
                return None;
            }
            text.chars().filter(|&c| c != '-').collect()
        } else {
            text.to_owned()
        };
        if compact.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(compact, &mut out).ok()?;
        Some(Self(out))
    }

    /// Unpadded base64url text, the form ClearKey requires
    /// (`abba271e…a5d9` → `q7onHovPVSu9LoakNKml2Q`).
    pub fn b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses base64 text of a KID leniently: base64url or the standard alphabet, with or
    /// without `=` padding. Players differ here (protocols.md §1.2), so we accept all four
    /// spellings but still insist on exactly 16 bytes and canonical trailing bits.
    pub fn from_b64(text: &str) -> Option<Self> {
        crate::b64::decode_lenient(text).and_then(|v| Self::from_slice(&v))
    }

    /// Dashed lowercase UUID text (`abba271e-8bcf-552b-bd2e-86a434a9a5d9`).
    pub fn to_uuid_string(&self) -> String {
        let h = hex::encode(self.0);
        // `h` is 32 ASCII hex digits, so these ranges are always in bounds.
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// Converts from Microsoft GUID byte order (first three groups byte-reversed), as
    /// PlayReady writes KIDs.
    pub const fn from_guid_le(le: [u8; 16]) -> Self {
        Self(swap_guid(le))
    }

    /// The KID in Microsoft GUID byte order, as PlayReady headers carry it.
    pub const fn to_guid_le(&self) -> [u8; 16] {
        swap_guid(self.0)
    }
}

/// Swaps between CENC and Microsoft GUID byte order (the operation is its own inverse).
const fn swap_guid(b: [u8; 16]) -> [u8; 16] {
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ]
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({self})")
    }
}

/// A 16-byte AES-128 content key. Secret: `Debug` prints `***` and there is no `Display`.
///
/// Equality is not constant-time; do not compare keys against attacker-chosen guesses.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey([u8; 16]);

impl ContentKey {
    /// Wraps 16 key bytes.
    pub const fn new(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Takes a key from a slice; `None` unless it is exactly 16 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Self)
    }

    /// The raw key bytes. Handle with care: this is the secret.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Unpadded base64url text of the key, the form a ClearKey JWK `k` needs.
    pub fn b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID_HEX: &str = "abba271e8bcf552bbd2e86a434a9a5d9";

    #[test]
    fn kid_text_forms() {
        let kid = Kid::from_hex(KID_HEX).unwrap();
        assert_eq!(kid.to_string(), KID_HEX);
        assert_eq!(format!("{kid:?}"), format!("Kid({KID_HEX})"));
        assert_eq!(kid.b64url(), "q7onHovPVSu9LoakNKml2Q");
        assert_eq!(kid.to_uuid_string(), "abba271e-8bcf-552b-bd2e-86a434a9a5d9");
        assert_eq!(
            Kid::from_hex("ABBA271E-8BCF-552B-BD2E-86A434A9A5D9"),
            Some(kid)
        );
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2Q"), Some(kid));
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2Q=="), Some(kid));
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2Q="), Some(kid));
    }

    #[test]
    fn kid_rejects_bad_text() {
        assert_eq!(Kid::from_hex(""), None);
        assert_eq!(Kid::from_hex("abba271e8bcf552bbd2e86a434a9a5d"), None);
        assert_eq!(Kid::from_hex("zzba271e8bcf552bbd2e86a434a9a5d9"), None);
        assert_eq!(Kid::from_hex("abba271e-8bcf552b-bd2e-86a434a9a5d9x"), None);
        assert_eq!(Kid::from_hex("abba271e8-bcf-552b-bd2e-86a434a9a5d9"), None);
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml"), None);
        // Non-canonical trailing bits are refused.
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2R"), None);
    }

    #[test]
    fn guid_order_matches_playready_example() {
        // protocols.md §3.1: abba271e-8bcf-552b-bd2e-86a434a9a5d9 -> Hie6q8+LK1W9LoakNKml2Q==
        let kid = Kid::from_hex(KID_HEX).unwrap();
        let le = kid.to_guid_le();
        assert_eq!(hex::encode(le), "1e27baabcf8b2b55bd2e86a434a9a5d9");
        assert_eq!(Kid::from_guid_le(le), kid);
    }

    #[test]
    fn content_key_debug_hides_bytes() {
        let key = ContentKey::new([0x69; 16]);
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(
            format!("{:?}", (Kid::new([0; 16]), key))
                .matches("***")
                .count(),
            1
        );
        assert_eq!(ContentKey::from_slice(&[1; 15]), None);
    }
}
