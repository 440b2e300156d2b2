//! Content keys: per (site, content id, track type) a kid and a 16-byte AES key.
//!
//! Key material only ever travels in [`ContentKey`] (masked `Debug`, zeroized on drop)
//! inside a [`ContentKeyRecord`]. Listings return [`KeyInfo`], which has no key field at
//! all, so a listing cannot leak keys by construction.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Result, StoreError};
use crate::kek::random_bytes;
use crate::sites::SiteId;

/// Longest content id accepted, in bytes.
pub const MAX_CID_LEN: usize = 256;
/// Longest key label accepted, in bytes.
pub const MAX_LABEL_LEN: usize = 256;

/// Checks a content id: 1 to [`MAX_CID_LEN`] bytes, no control characters
/// (`invalid_cid` otherwise).
pub fn validate_cid(cid: &str) -> Result<()> {
    if cid.is_empty() || cid.len() > MAX_CID_LEN || cid.chars().any(char::is_control) {
        return Err(StoreError::InvalidCid);
    }
    Ok(())
}

/// The track type a key protects, as in PallyCon's multi-key packaging.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TrackType {
    /// One key for every track.
    #[serde(rename = "ALL")]
    All,
    /// One key for every video track.
    #[serde(rename = "ALL_VIDEO")]
    AllVideo,
    /// Audio tracks.
    #[serde(rename = "AUDIO")]
    Audio,
    /// SD video.
    #[serde(rename = "SD")]
    Sd,
    /// HD video.
    #[serde(rename = "HD")]
    Hd,
    /// UHD video, first tier.
    #[serde(rename = "UHD1")]
    Uhd1,
    /// UHD video, second tier.
    #[serde(rename = "UHD2")]
    Uhd2,
}

impl TrackType {
    /// Every track type.
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
    pub fn as_str(self) -> &'static str {
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
}

impl fmt::Display for TrackType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrackType {
    type Err = StoreError;
    /// Parses a wire name (exact, uppercase).
    fn from_str(text: &str) -> Result<TrackType> {
        TrackType::ALL_TYPES
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or(StoreError::InvalidInput {
                field: "track_type",
                reason: "expected ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1 or UHD2",
            })
    }
}

/// A 16-byte key id. Public (it travels in PSSH boxes and manifests); shown as lowercase
/// hex, serialized as hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kid(pub [u8; 16]);

impl Kid {
    /// A kid from exactly 16 bytes (`invalid_key_length` otherwise).
    pub fn from_slice(bytes: &[u8]) -> Result<Kid> {
        bytes
            .try_into()
            .map(Kid)
            .map_err(|_| StoreError::InvalidKeyLength {
                what: "kid",
                expected: 16,
                actual: bytes.len(),
            })
    }

    /// A kid from 32 hex digits, or a UUID with dashes.
    pub fn from_hex(text: &str) -> Result<Kid> {
        let compact: String = if text.len() == 36 {
            text.chars().filter(|c| *c != '-').collect()
        } else {
            text.to_owned()
        };
        let bytes = hex::decode(&compact).map_err(|_| StoreError::InvalidKeyLength {
            what: "kid",
            expected: 16,
            actual: compact.len() / 2,
        })?;
        Kid::from_slice(&bytes)
    }

    /// A fresh random kid.
    pub fn generate() -> Result<Kid> {
        random_bytes::<16>().map(Kid)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lowercase hex, 32 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", self.to_hex())
    }
}

impl FromStr for Kid {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Kid> {
        Kid::from_hex(text)
    }
}

impl Serialize for Kid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Kid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Kid, D::Error> {
        let text = String::deserialize(d)?;
        Kid::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A 16-byte content key. `Debug` prints `***`, equality is constant-time, and the bytes
/// are zeroized on drop. Deliberately neither `Display` nor `Serialize`.
#[derive(Clone)]
pub struct ContentKey(Box<[u8; 16]>);

impl ContentKey {
    /// Length of a content key in bytes.
    pub const LEN: usize = 16;

    /// A key from exactly 16 bytes (`invalid_key_length` otherwise).
    pub fn from_bytes(bytes: &[u8]) -> Result<ContentKey> {
        if bytes.len() != Self::LEN {
            return Err(StoreError::InvalidKeyLength {
                what: "key",
                expected: Self::LEN,
                actual: bytes.len(),
            });
        }
        let mut key = ContentKey(Box::new([0u8; 16]));
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// A fresh random key from the operating system's RNG.
    pub fn generate() -> Result<ContentKey> {
        let mut bytes = random_bytes::<16>()?;
        let key = ContentKey::from_bytes(&bytes);
        bytes.zeroize();
        key
    }

    /// The key bytes. Do not log them.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
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

/// A content key to import with [`KeyStore::put_key`].
#[derive(Clone, Debug)]
pub struct NewContentKey {
    /// Owning site (must exist).
    pub site_id: SiteId,
    /// Content id.
    pub cid: String,
    /// Track type the key protects.
    pub track_type: TrackType,
    /// Key id; unique within the site.
    pub kid: Kid,
    /// The key.
    pub key: ContentKey,
    /// Optional IV (e.g. HLS AES-128 or FairPlay); not secret.
    pub iv: Option<[u8; 16]>,
    /// Optional free-text label, at most [`MAX_LABEL_LEN`] bytes.
    pub label: Option<String>,
}

impl NewContentKey {
    /// A new key with random kid and key and no IV.
    pub fn generate(
        site_id: SiteId,
        cid: impl Into<String>,
        track_type: TrackType,
        label: Option<String>,
    ) -> Result<NewContentKey> {
        Ok(NewContentKey {
            site_id,
            cid: cid.into(),
            track_type,
            kid: Kid::generate()?,
            key: ContentKey::generate()?,
            iv: None,
            label,
        })
    }

    /// Checks the content id and label.
    pub fn validate(&self) -> Result<()> {
        validate_cid(&self.cid)?;
        if let Some(label) = &self.label {
            if label.len() > MAX_LABEL_LEN || label.chars().any(char::is_control) {
                return Err(StoreError::InvalidInput {
                    field: "label",
                    reason: "longer than 256 bytes or contains control characters",
                });
            }
        }
        Ok(())
    }
}

/// A stored content key, with its key material. `Debug` masks the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentKeyRecord {
    /// Owning site.
    pub site_id: SiteId,
    /// Content id.
    pub cid: String,
    /// Track type.
    pub track_type: TrackType,
    /// Key id.
    pub kid: Kid,
    /// The key.
    pub key: ContentKey,
    /// Optional IV.
    pub iv: Option<[u8; 16]>,
    /// Optional label.
    pub label: Option<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

impl ContentKeyRecord {
    /// The record without its key material.
    pub fn info(&self) -> KeyInfo {
        KeyInfo {
            site_id: self.site_id.clone(),
            cid: self.cid.clone(),
            track_type: self.track_type,
            kid: self.kid,
            iv: self.iv.map(hex::encode),
            label: self.label.clone(),
            created_at: self.created_at,
        }
    }
}

/// A content key's metadata, without key material: what listings return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Owning site.
    pub site_id: SiteId,
    /// Content id.
    pub cid: String,
    /// Track type.
    pub track_type: TrackType,
    /// Key id.
    pub kid: Kid,
    /// IV as hex, if any (IVs are public: they appear in playlists and segments).
    pub iv: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

/// Storage of content keys. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore)
/// and [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Imports a key. Without `replace`, a key with the same (site, cid, track type) or
    /// the same (site, kid) is a `key_conflict`; with `replace`, such keys are removed
    /// first. `site_not_found` if the site does not exist.
    async fn put_key(&self, key: NewContentKey, replace: bool) -> Result<ContentKeyRecord>;

    /// Generates a random kid and key for (site, cid, track type) and stores them
    /// (never replacing an existing key).
    async fn generate_key(
        &self,
        site_id: &SiteId,
        cid: &str,
        track_type: TrackType,
        label: Option<String>,
    ) -> Result<ContentKeyRecord> {
        let key = NewContentKey::generate(site_id.clone(), cid, track_type, label)?;
        self.put_key(key, false).await
    }

    /// Every key of a content (all track types), ordered by track type then kid. Empty
    /// if there are none.
    async fn keys_for_content(&self, site_id: &SiteId, cid: &str) -> Result<Vec<ContentKeyRecord>>;

    /// The key with this kid in this site (`key_not_found` otherwise).
    async fn key_by_kid(&self, site_id: &SiteId, kid: &Kid) -> Result<ContentKeyRecord>;

    /// Metadata of a site's keys, optionally of one content, ordered by cid, track type,
    /// kid. Never includes key material.
    async fn list_keys(&self, site_id: &SiteId, cid: Option<&str>) -> Result<Vec<KeyInfo>>;

    /// Deletes the key with this kid (`key_not_found` if absent).
    async fn delete_key(&self, site_id: &SiteId, kid: &Kid) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_parsing() {
        let kid = Kid::from_hex("0123456789abcdef0123456789ABCDEF").unwrap();
        assert_eq!(kid.to_hex(), "0123456789abcdef0123456789abcdef");
        let uuid = Kid::from_hex("01234567-89ab-cdef-0123-456789abcdef").unwrap();
        assert_eq!(uuid, kid);
        assert_eq!(
            Kid::from_hex("0123").unwrap_err().code(),
            "invalid_key_length"
        );
        assert!(Kid::from_hex("zz23456789abcdef0123456789abcdef").is_err());
        let json = serde_json::to_string(&kid).unwrap();
        assert_eq!(json, "\"0123456789abcdef0123456789abcdef\"");
        assert_eq!(serde_json::from_str::<Kid>(&json).unwrap(), kid);
    }

    #[test]
    fn content_key_is_masked_and_checked() {
        let key = ContentKey::from_bytes(&[0x5A; 16]).unwrap();
        assert_eq!(format!("{key:?}"), "***");
        for n in [0, 15, 17, 32] {
            assert_eq!(
                ContentKey::from_bytes(&vec![0; n]).unwrap_err().code(),
                "invalid_key_length"
            );
        }
        let a = ContentKey::generate().unwrap();
        let b = ContentKey::generate().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn track_type_names() {
        for t in TrackType::ALL_TYPES {
            assert_eq!(t.as_str().parse::<TrackType>().unwrap(), t);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert!("hd".parse::<TrackType>().is_err());
    }

    #[test]
    fn cid_validation() {
        validate_cid("movie-1").unwrap();
        for bad in ["", "a\nb", &"x".repeat(257)] {
            assert_eq!(validate_cid(bad).unwrap_err().code(), "invalid_cid");
        }
    }

    #[test]
    fn record_debug_masks_key() {
        let site = SiteId::parse("TUTO").unwrap();
        let new = NewContentKey::generate(site, "c", TrackType::Hd, None).unwrap();
        let key_hex = hex::encode(new.key.expose());
        let record = ContentKeyRecord {
            site_id: new.site_id.clone(),
            cid: new.cid.clone(),
            track_type: new.track_type,
            kid: new.kid,
            key: new.key.clone(),
            iv: None,
            label: None,
            created_at: 0,
        };
        let shown = format!("{record:?} {new:?}");
        assert!(!shown.contains(&key_hex));
        assert!(shown.contains("***"));
        let info = serde_json::to_string(&record.info()).unwrap();
        assert!(!info.contains(&key_hex));
        assert!(info.contains(&new.kid.to_hex()));
    }
}
