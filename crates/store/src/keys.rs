//! Content keys: per (site, content id, track type) a kid and a 16-byte AES key.
//!
//! Key material only ever travels in [`ContentKey`] (masked `Debug`, zeroized on drop)
//! inside a [`ContentKeyRecord`]. Listings return [`KeyInfo`], which has no key field at
//! all, so a listing cannot leak keys by construction.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

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

pub use keyward_types::{ContentKey, Kid, TrackType};

/// A fresh random kid from the operating system's RNG (`rng_unavailable` if it fails).
pub fn generate_kid() -> Result<Kid> {
    random_bytes::<16>().map(Kid)
}

/// A fresh random content key from the operating system's RNG (`rng_unavailable` if
/// it fails). The stack copy of the bytes is zeroized.
pub fn generate_content_key() -> Result<ContentKey> {
    let mut bytes = random_bytes::<16>()?;
    let key = ContentKey::new(bytes);
    bytes.zeroize();
    Ok(key)
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
    /// Key period (crypto period index) of rotated content; `None` without rotation.
    pub period: Option<u64>,
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
            kid: generate_kid()?,
            key: generate_content_key()?,
            iv: None,
            label,
            period: None,
        })
    }

    /// Checks the content id, label and period.
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
        validate_period(self.period)
    }
}

/// The largest key period a store keeps (the SQL backends store it as a signed
/// 64-bit integer).
pub const MAX_PERIOD: u64 = i64::MAX as u64;

/// Checks a key period (`invalid_input` above [`MAX_PERIOD`]).
pub fn validate_period(period: Option<u64>) -> Result<()> {
    match period {
        Some(p) if p > MAX_PERIOD => Err(StoreError::InvalidInput {
            field: "period",
            reason: "larger than 2^63 - 1",
        }),
        _ => Ok(()),
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
    /// Key period of rotated content; `None` without rotation.
    pub period: Option<u64>,
    /// Whether a packager chose the kid ([`KeyStore::ensure_pinned_key`]): such a key
    /// does not hold its (cid, track type, period) coordinates.
    pub pinned: bool,
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
            period: self.period,
            pinned: self.pinned,
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
    /// Key period of rotated content; absent without rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Whether a packager chose the kid (shown only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

/// Storage of content keys. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore) and
/// [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Imports a key. Without `replace`, a key with the same (site, cid, track type,
    /// period) or the same (site, kid) is a `key_conflict`; with `replace`, such keys
    /// are removed first. `site_not_found` if the site does not exist.
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

    /// The key at `candidate`'s coordinates (site, cid, track type, period), storing
    /// `candidate` there first when there is none. Concurrent callers for the same
    /// coordinates all get the one stored key; `created` says whether this call
    /// stored it. `key_conflict` when the candidate's kid is taken by a key at other
    /// coordinates (draw another kid and retry); `site_not_found`.
    async fn ensure_key(&self, candidate: NewContentKey) -> Result<(ContentKeyRecord, bool)>;

    /// The key with `candidate`'s kid, storing `candidate` first when the site has
    /// no key with that kid: for packagers that choose their kids (SPEKE, CPIX
    /// with honoured kids). Such a *pinned* key does not take the (cid, track
    /// type, period) coordinates of [`KeyStore::ensure_key`], so a packager may
    /// re-key a content. `key_conflict` when the kid exists for another content id;
    /// `site_not_found`.
    async fn ensure_pinned_key(&self, candidate: NewContentKey)
        -> Result<(ContentKeyRecord, bool)>;

    /// Every key of a content (all track types and periods), ordered by track type,
    /// period, then kid. Empty if there are none.
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
    fn kid_parsing_keeps_the_store_codes() {
        let kid = Kid::from_hex("0123456789abcdef0123456789ABCDEF").unwrap();
        assert_eq!(kid.to_hex(), "0123456789abcdef0123456789abcdef");
        let uuid = Kid::from_hex("01234567-89ab-cdef-0123-456789abcdef").unwrap();
        assert_eq!(uuid, kid);
        for (text, shown) in [
            ("0123", "kid must be 16 bytes, got 2"),
            ("not-hex", "kid must be 16 bytes, got 3"),
            (
                "zz23456789abcdef0123456789abcdef",
                "kid must be 16 bytes, got 16",
            ),
        ] {
            let err = StoreError::from(Kid::from_hex(text).unwrap_err());
            assert_eq!(err.code(), "invalid_key_length", "{text}");
            assert_eq!(err.to_string(), shown, "{text}");
        }
        let json = serde_json::to_string(&kid).unwrap();
        assert_eq!(json, "\"0123456789abcdef0123456789abcdef\"");
        assert_eq!(serde_json::from_str::<Kid>(&json).unwrap(), kid);
    }

    #[test]
    fn content_key_is_masked_and_checked() {
        let key = ContentKey::from_slice(&[0x5A; 16]).unwrap();
        assert_eq!(format!("{key:?}"), "***");
        for n in [0, 15, 17, 32] {
            let err = StoreError::from(ContentKey::from_slice(&vec![0; n]).unwrap_err());
            assert_eq!(err.code(), "invalid_key_length");
            assert_eq!(err.to_string(), format!("key must be 16 bytes, got {n}"));
        }
        let a = generate_content_key().unwrap();
        let b = generate_content_key().unwrap();
        assert_ne!(a, b);
        assert_ne!(generate_kid().unwrap(), generate_kid().unwrap());
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
        let err = StoreError::from("hd".parse::<TrackType>().unwrap_err());
        assert_eq!(err.code(), "invalid_input");
        assert_eq!(
            err.to_string(),
            "invalid track_type: expected ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1 or UHD2"
        );
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
            period: None,
            pinned: false,
        };
        let shown = format!("{record:?} {new:?}");
        assert!(!shown.contains(&key_hex));
        assert!(shown.contains("***"));
        let info = serde_json::to_string(&record.info()).unwrap();
        assert!(!info.contains(&key_hex));
        assert!(info.contains(&new.kid.to_hex()));
    }
}
