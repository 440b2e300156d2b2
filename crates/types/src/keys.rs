//! Key ids and content keys, the two 16-byte values every DRM and the key store
//! speak about.
//!
//! Why two types: a kid is public (it travels in manifests, PSSH boxes and
//! challenges) while a content key is the secret itself. Distinct types keep the two
//! from being swapped by accident, and let [`ContentKey`]'s `Debug` print `***` so a
//! key never lands in a log line through `{:?}`.
//!
//! Byte order: a [`Kid`] always holds the CENC / big-endian UUID byte order (the
//! order of `tenc`, PSSH v1 KIDs, ClearKey and Widevine). PlayReady writes KIDs as
//! little-endian GUIDs; convert at that boundary with [`Kid::from_guid_le`] /
//! [`Kid::to_guid_le`].

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::decode_base64_lenient;
use crate::ParseError;

/// A 16-byte key id in CENC (big-endian UUID) byte order.
///
/// `Display` prints 32 lowercase hex digits; serde writes and reads that text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(pub [u8; 16]);

impl Kid {
    /// Length of a kid in bytes.
    pub const LEN: usize = 16;

    /// Wraps 16 bytes already in CENC byte order.
    pub const fn new(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes, CENC byte order.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Takes a kid from a slice of exactly 16 bytes ([`ParseError::Length`] otherwise).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ParseError> {
        <[u8; 16]>::try_from(bytes)
            .map(Self)
            .map_err(|_| ParseError::Length {
                what: "kid",
                expected: Self::LEN,
                actual: bytes.len(),
            })
    }

    /// Parses 32 hex digits (either case), optionally written as a dashed UUID
    /// (`8-4-4-4-12`, dashes exactly there).
    ///
    /// [`ParseError::Length`] when the digits are not 32 (a dashed UUID counts its
    /// digits), [`ParseError::Hex`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, ParseError> {
        let b = text.as_bytes();
        let dashed = b.len() == 36;
        let digits: Vec<u8> = if dashed {
            b.iter().copied().filter(|&c| c != b'-').collect()
        } else {
            b.to_vec()
        };
        let approx_bytes = digits.len() / 2;
        let malformed = ParseError::Hex {
            what: "kid",
            approx_bytes,
        };
        if dashed && [8usize, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(malformed);
        }
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed);
        }
        if digits.len() != 2 * Self::LEN {
            return Err(ParseError::Length {
                what: "kid",
                expected: Self::LEN,
                actual: approx_bytes,
            });
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| malformed)?;
        Ok(Self(out))
    }

    /// Lowercase hex, 32 digits (the `Display` form).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Dashed lowercase UUID text (`abba271e-8bcf-552b-bd2e-86a434a9a5d9`).
    pub fn to_uuid_string(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(36);
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Unpadded base64url text, the form ClearKey requires
    /// (`abba271e…a5d9` → `q7onHovPVSu9LoakNKml2Q`).
    pub fn b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses base64 text of a kid leniently: base64url or the standard alphabet,
    /// with or without `=` padding. Players differ here, so all four spellings are
    /// accepted, but the text must decode to exactly 16 bytes with canonical
    /// trailing bits.
    pub fn from_b64(text: &str) -> Result<Self, ParseError> {
        let bytes = decode_base64_lenient(text).ok_or(ParseError::Base64 { what: "kid" })?;
        Self::from_slice(&bytes)
    }

    /// Converts from Microsoft GUID byte order (first three groups byte-reversed),
    /// as PlayReady writes kids.
    pub const fn from_guid_le(le: [u8; 16]) -> Self {
        Self(swap_guid(le))
    }

    /// The kid in Microsoft GUID byte order, as PlayReady headers carry it.
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

impl FromStr for Kid {
    type Err = ParseError;
    /// Same as [`Kid::from_hex`].
    fn from_str(text: &str) -> Result<Kid, ParseError> {
        Kid::from_hex(text)
    }
}

impl From<[u8; 16]> for Kid {
    fn from(bytes: [u8; 16]) -> Kid {
        Kid(bytes)
    }
}

impl Serialize for Kid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Kid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kid, D::Error> {
        let text = String::deserialize(d)?;
        Kid::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A 16-byte AES-128 content key: the secret.
///
/// * `Debug` prints `***`; there is no `Display` and no `Serialize`.
/// * Equality is constant-time.
/// * The bytes live on the heap (so moving the value leaves no copy behind) and are
///   zeroized on drop.
#[derive(Clone)]
pub struct ContentKey(Box<[u8; 16]>);

impl ContentKey {
    /// Length of a content key in bytes.
    pub const LEN: usize = 16;

    /// Wraps 16 key bytes. The caller should zeroize its own copy.
    pub fn new(bytes: [u8; 16]) -> Self {
        Self(Box::new(bytes))
    }

    /// Takes a key from a slice of exactly 16 bytes ([`ParseError::Length`] otherwise).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() != Self::LEN {
            return Err(ParseError::Length {
                what: "key",
                expected: Self::LEN,
                actual: bytes.len(),
            });
        }
        let mut key = ContentKey(Box::new([0u8; 16]));
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// The key bytes. Handle with care: this is the secret; never log it.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }

    /// Unpadded base64url text of the key, the form a ClearKey JWK `k` needs.
    pub fn b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0[..])
    }
}

impl PartialEq for ContentKey {
    fn eq(&self, other: &ContentKey) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for ContentKey {}

impl Drop for ContentKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for ContentKey {}

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
        assert_eq!(kid.to_hex(), KID_HEX);
        assert_eq!(format!("{kid:?}"), format!("Kid({KID_HEX})"));
        assert_eq!(kid.b64url(), "q7onHovPVSu9LoakNKml2Q");
        assert_eq!(kid.to_uuid_string(), "abba271e-8bcf-552b-bd2e-86a434a9a5d9");
        assert_eq!(
            Kid::from_hex("ABBA271E-8BCF-552B-BD2E-86A434A9A5D9"),
            Ok(kid)
        );
        assert_eq!("abba271e-8bcf-552b-bd2e-86a434a9a5d9".parse(), Ok(kid));
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2Q"), Ok(kid));
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2Q=="), Ok(kid));
        assert_eq!(Kid::from_b64("q7onHovPVSu9LoakNKml2Q="), Ok(kid));
    }

    #[test]
    fn kid_refusals_are_typed() {
        let length = |actual| ParseError::Length {
            what: "kid",
            expected: 16,
            actual,
        };
        let hex = |approx_bytes| ParseError::Hex {
            what: "kid",
            approx_bytes,
        };
        assert_eq!(Kid::from_hex(""), Err(length(0)));
        assert_eq!(Kid::from_hex("0123"), Err(length(2)));
        assert_eq!(
            Kid::from_hex("abba271e8bcf552bbd2e86a434a9a5d"),
            Err(length(15))
        );
        assert_eq!(
            Kid::from_hex("zzba271e8bcf552bbd2e86a434a9a5d9"),
            Err(hex(16))
        );
        assert_eq!(Kid::from_hex("not-hex"), Err(hex(3)));
        // 36 characters but the dashes are not where a UUID has them.
        assert_eq!(
            Kid::from_hex("abba271e8-bcf-552b-bd2e-86a434a9a5d9"),
            Err(hex(16))
        );
        assert_eq!(
            Kid::from_hex("abba271e-8bcf552b-bd2e-86a434a9a5d9x"),
            Err(hex(16))
        );
        assert_eq!(
            Kid::from_b64("q7onHovPVSu9LoakNKml"),
            Err(ParseError::Length {
                what: "kid",
                expected: 16,
                actual: 15
            })
        );
        // Non-canonical trailing bits are refused.
        assert_eq!(
            Kid::from_b64("q7onHovPVSu9LoakNKml2R"),
            Err(ParseError::Base64 { what: "kid" })
        );
        assert_eq!(Kid::from_slice(&[0; 17]), Err(length(17)));
        assert_eq!(
            Kid::from_hex("0123").unwrap_err().to_string(),
            "kid must be 16 bytes, got 2"
        );
    }

    #[test]
    fn kid_serde_as_hex() {
        let kid = Kid::from_hex("0123456789abcdef0123456789ABCDEF").unwrap();
        let json = serde_json::to_string(&kid).unwrap();
        assert_eq!(json, "\"0123456789abcdef0123456789abcdef\"");
        assert_eq!(serde_json::from_str::<Kid>(&json).unwrap(), kid);
        assert!(serde_json::from_str::<Kid>("\"0123\"").is_err());
    }

    #[test]
    fn guid_order_matches_playready_example() {
        // abba271e-8bcf-552b-bd2e-86a434a9a5d9 -> Hie6q8+LK1W9LoakNKml2Q==
        let kid = Kid::from_hex(KID_HEX).unwrap();
        let le = kid.to_guid_le();
        assert_eq!(hex::encode(le), "1e27baabcf8b2b55bd2e86a434a9a5d9");
        assert_eq!(Kid::from_guid_le(le), kid);
    }

    #[test]
    fn content_key_is_masked_and_checked() {
        let key = ContentKey::new([0x69; 16]);
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(
            format!("{:?}", (Kid::new([0; 16]), key.clone()))
                .matches("***")
                .count(),
            1
        );
        for n in [0, 15, 17, 32] {
            assert_eq!(
                ContentKey::from_slice(&vec![0; n]),
                Err(ParseError::Length {
                    what: "key",
                    expected: 16,
                    actual: n
                })
            );
        }
        assert_eq!(ContentKey::from_slice(&[0x69; 16]).unwrap(), key);
        assert_ne!(ContentKey::new([0x6a; 16]), key);
        assert_eq!(key.expose(), &[0x69; 16]);
        assert_eq!(key.b64url(), "aWlpaWlpaWlpaWlpaWlpaQ");
    }
}
