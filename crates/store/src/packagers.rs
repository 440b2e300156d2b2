//! Packager credentials and key seeds: what the key server (Widevine key API,
//! PlayReady packaging API, CPIX, SPEKE) authenticates packagers with, and how a
//! site's new content keys are made.
//!
//! A packager credential belongs to one site and is named; names are unique
//! across sites, because the name alone identifies the credential on the wire (a
//! Widevine key-API request names its `signer`; an API key is sent as
//! `<name>.<secret>` or as HTTP Basic `name:secret`). A credential may be limited
//! to content ids starting with a prefix. Two kinds:
//!
//! - **widevine**: the signer's AES-256 key and 16-byte IV, with which Widevine
//!   key-API requests are signed (`AES-CBC(key, iv, SHA-1(request))`);
//! - **api-key**: a 32-byte random secret keyward generates and shows once.
//!
//! Secrets only travel in [`PackagerSecret`] (redacted `Debug`, zeroized on
//! drop) and are wrapped under the KEK at rest, bound to the credential's name,
//! site and kind. Listings return [`PackagerInfo`]: no secret at all.
//!
//! A site may also hold a PlayReady **key seed** (30 bytes used): when set, the
//! key server derives each new content key from the seed and the kid
//! (Microsoft's algorithm) instead of drawing it at random, so the keys can be
//! recomputed from the seed alone.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::kek::random_bytes;
use crate::keys::{validate_cid, MAX_CID_LEN};
use crate::sites::SiteId;

/// Longest packager name, bytes (`A-Za-z0-9._-`).
pub const MAX_PACKAGER_NAME_LEN: usize = 64;
/// Most packager credentials one site may hold.
pub const MAX_PACKAGERS_PER_SITE: usize = 64;
/// Length of a generated API key secret, bytes.
pub const API_KEY_SECRET_LEN: usize = 32;
/// Bytes of a key seed that the derivation uses (longer seeds are truncated,
/// as Microsoft's algorithm does).
pub const KEY_SEED_LEN: usize = 30;

/// The kind of a packager credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackagerKind {
    /// Widevine key-API signer (AES key + IV).
    #[serde(rename = "widevine")]
    Widevine,
    /// API key (HTTP Basic, `Authorization: Bearer`, `X-Api-Key`, or the
    /// PallyCon-style `enc-token`).
    #[serde(rename = "api-key")]
    ApiKey,
}

impl PackagerKind {
    /// The wire name: `widevine`, `api-key`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PackagerKind::Widevine => "widevine",
            PackagerKind::ApiKey => "api-key",
        }
    }

    /// Parses a wire name (`invalid_input`, field `kind`, otherwise).
    pub fn parse(text: &str) -> Result<PackagerKind> {
        match text {
            "widevine" => Ok(PackagerKind::Widevine),
            "api-key" => Ok(PackagerKind::ApiKey),
            _ => Err(StoreError::InvalidInput {
                field: "kind",
                reason: "must be widevine or api-key",
            }),
        }
    }
}

impl fmt::Display for PackagerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A packager credential's secret. `Debug` is redacted; the bytes are zeroized
/// on drop.
#[derive(Clone)]
pub enum PackagerSecret {
    /// Widevine signer: AES-256 key and CBC IV.
    Widevine {
        /// AES-256 signing key.
        aes_key: Zeroizing<[u8; 32]>,
        /// CBC IV.
        aes_iv: [u8; 16],
    },
    /// API key secret.
    ApiKey(Zeroizing<[u8; API_KEY_SECRET_LEN]>),
}

impl fmt::Debug for PackagerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackagerSecret::Widevine { .. } => f.write_str("PackagerSecret::Widevine(<redacted>)"),
            PackagerSecret::ApiKey(_) => f.write_str("PackagerSecret::ApiKey(<redacted>)"),
        }
    }
}

impl PackagerSecret {
    /// The kind this secret belongs to.
    pub fn kind(&self) -> PackagerKind {
        match self {
            PackagerSecret::Widevine { .. } => PackagerKind::Widevine,
            PackagerSecret::ApiKey(_) => PackagerKind::ApiKey,
        }
    }

    /// A fresh random API key secret (`rng_unavailable` if the OS RNG fails).
    pub fn generate_api_key() -> Result<PackagerSecret> {
        Ok(PackagerSecret::ApiKey(Zeroizing::new(random_bytes::<
            API_KEY_SECRET_LEN,
        >()?)))
    }

    /// Whether `presented` is this API key's secret (constant time). Always false
    /// for a Widevine signer.
    pub fn api_key_matches(&self, presented: &[u8]) -> bool {
        match self {
            PackagerSecret::ApiKey(secret) => {
                presented.len() == API_KEY_SECRET_LEN && bool::from(secret.ct_eq(presented))
            }
            PackagerSecret::Widevine { .. } => false,
        }
    }

    /// The API key as a packager presents it, shown once at creation:
    /// `<name>.<base64url(secret)>`. `None` for a Widevine signer.
    pub fn api_key_text(&self, name: &str) -> Option<String> {
        use base64::Engine as _;
        match self {
            PackagerSecret::ApiKey(bytes) => Some(format!(
                "{name}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])
            )),
            PackagerSecret::Widevine { .. } => None,
        }
    }

    /// The bytes stored (wrapped): key ‖ IV for a signer, the secret for an API key.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            PackagerSecret::Widevine { aes_key, aes_iv } => {
                let mut out = Zeroizing::new(Vec::with_capacity(48));
                out.extend_from_slice(&aes_key[..]);
                out.extend_from_slice(aes_iv);
                out
            }
            PackagerSecret::ApiKey(secret) => Zeroizing::new(secret.to_vec()),
        }
    }

    /// The secret of `kind` from its stored bytes (`backend` if the length is wrong).
    pub(crate) fn from_bytes(kind: PackagerKind, bytes: &[u8]) -> Result<PackagerSecret> {
        match kind {
            PackagerKind::Widevine if bytes.len() == 48 => {
                let mut aes_key = Zeroizing::new([0u8; 32]);
                aes_key.copy_from_slice(&bytes[..32]);
                let mut aes_iv = [0u8; 16];
                aes_iv.copy_from_slice(&bytes[32..]);
                Ok(PackagerSecret::Widevine { aes_key, aes_iv })
            }
            PackagerKind::ApiKey if bytes.len() == API_KEY_SECRET_LEN => {
                let mut secret = Zeroizing::new([0u8; API_KEY_SECRET_LEN]);
                secret.copy_from_slice(bytes);
                Ok(PackagerSecret::ApiKey(secret))
            }
            _ => Err(StoreError::backend(
                "stored packager secret has the wrong length",
            )),
        }
    }
}

/// A packager credential to add.
#[derive(Clone, Debug)]
pub struct NewPackager {
    /// Name, unique across sites: 1 to [`MAX_PACKAGER_NAME_LEN`] bytes of
    /// `A-Za-z0-9._-`.
    pub name: String,
    /// Owning site (must exist).
    pub site_id: SiteId,
    /// When set, the credential may only ask for content ids starting with it.
    pub cid_prefix: Option<String>,
    /// The secret (its kind is the credential's kind).
    pub secret: PackagerSecret,
}

/// Checks a packager name (`invalid_input`, field `name`).
pub fn validate_packager_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_PACKAGER_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(StoreError::InvalidInput {
            field: "name",
            reason: "must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
        });
    }
    Ok(())
}

impl NewPackager {
    /// Checks the name and the content-id prefix.
    pub fn validate(&self) -> Result<()> {
        validate_packager_name(&self.name)?;
        if let Some(prefix) = &self.cid_prefix {
            if prefix.len() > MAX_CID_LEN {
                return Err(StoreError::InvalidCid);
            }
            validate_cid(prefix)?;
        }
        Ok(())
    }
}

/// A stored packager credential, with its secret.
#[derive(Clone, Debug)]
pub struct Packager {
    /// Name.
    pub name: String,
    /// Owning site.
    pub site_id: SiteId,
    /// Content-id prefix the credential is limited to, if any.
    pub cid_prefix: Option<String>,
    /// The secret.
    pub secret: PackagerSecret,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

impl Packager {
    /// The credential without its secret.
    pub fn info(&self) -> PackagerInfo {
        PackagerInfo {
            name: self.name.clone(),
            site_id: self.site_id.clone(),
            kind: self.secret.kind(),
            cid_prefix: self.cid_prefix.clone(),
            created_at: self.created_at,
        }
    }

    /// Whether the credential may ask for keys of `cid`.
    pub fn allows_cid(&self, cid: &str) -> bool {
        self.cid_prefix
            .as_deref()
            .is_none_or(|prefix| cid.starts_with(prefix))
    }
}

/// A packager credential's metadata: what listings return (no secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagerInfo {
    /// Name.
    pub name: String,
    /// Owning site.
    pub site_id: SiteId,
    /// Kind.
    pub kind: PackagerKind,
    /// Content-id prefix the credential is limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid_prefix: Option<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

/// A PlayReady key seed: [`KEY_SEED_LEN`] bytes. `Debug` is redacted.
#[derive(Clone)]
pub struct KeySeed(Zeroizing<[u8; KEY_SEED_LEN]>);

impl fmt::Debug for KeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySeed(<redacted>)")
    }
}

impl KeySeed {
    /// A seed from at least [`KEY_SEED_LEN`] bytes; longer input is truncated to
    /// 30 bytes, as Microsoft's algorithm does (`invalid_input`, field `key_seed`,
    /// when shorter).
    pub fn from_slice(bytes: &[u8]) -> Result<KeySeed> {
        if bytes.len() < KEY_SEED_LEN {
            return Err(StoreError::InvalidInput {
                field: "key_seed",
                reason: "must be at least 30 bytes",
            });
        }
        let mut seed = Zeroizing::new([0u8; KEY_SEED_LEN]);
        seed.copy_from_slice(&bytes[..KEY_SEED_LEN]);
        Ok(KeySeed(seed))
    }

    /// The seed's bytes.
    pub fn expose(&self) -> &[u8; KEY_SEED_LEN] {
        &self.0
    }
}

/// Storage of packager credentials and key seeds. Implemented by
/// [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore) and
/// [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait PackagerStore: Send + Sync {
    /// Adds a credential: `packager_exists` if the name is taken (in any site),
    /// `site_not_found`, `invalid_input` past [`MAX_PACKAGERS_PER_SITE`].
    async fn add_packager(&self, new: NewPackager) -> Result<PackagerInfo>;

    /// The credential of this name, with its secret (`packager_not_found`).
    async fn packager(&self, name: &str) -> Result<Packager>;

    /// The credentials of a site (or of every site), ordered by name. No secrets.
    async fn list_packagers(&self, site_id: Option<&SiteId>) -> Result<Vec<PackagerInfo>>;

    /// Every credential of a site with its secret, ordered by name (what a
    /// PallyCon-style `enc-token`, which names a site and a secret, is checked
    /// against).
    async fn site_packagers(&self, site_id: &SiteId) -> Result<Vec<Packager>>;

    /// Removes the credential of this name (`packager_not_found`).
    async fn remove_packager(&self, name: &str) -> Result<()>;

    /// Sets (or, with `None`, clears) the site's key seed (`site_not_found`).
    async fn set_key_seed(&self, site_id: &SiteId, seed: Option<KeySeed>) -> Result<()>;

    /// The site's key seed, if any.
    async fn key_seed(&self, site_id: &SiteId) -> Result<Option<KeySeed>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        for good in ["a", "widevine_test", "enc-1.prod", &"x".repeat(64)] {
            validate_packager_name(good).unwrap();
        }
        for bad in ["", "has space", "ü", "a/b", &"x".repeat(65)] {
            assert_eq!(
                validate_packager_name(bad).unwrap_err().code(),
                "invalid_input"
            );
        }
        assert_eq!(
            PackagerKind::parse("widevine").unwrap(),
            PackagerKind::Widevine
        );
        assert_eq!(
            PackagerKind::parse("api-key").unwrap(),
            PackagerKind::ApiKey
        );
        assert!(PackagerKind::parse("Widevine").is_err());
    }

    #[test]
    fn secrets_are_redacted_and_round_trip() {
        let s = PackagerSecret::Widevine {
            aes_key: Zeroizing::new([7u8; 32]),
            aes_iv: [9u8; 16],
        };
        assert_eq!(format!("{s:?}"), "PackagerSecret::Widevine(<redacted>)");
        let back = PackagerSecret::from_bytes(PackagerKind::Widevine, &s.to_bytes()).unwrap();
        match back {
            PackagerSecret::Widevine { aes_key, aes_iv } => {
                assert_eq!(*aes_key, [7u8; 32]);
                assert_eq!(aes_iv, [9u8; 16]);
            }
            PackagerSecret::ApiKey(_) => panic!("kind changed"),
        }
        assert!(PackagerSecret::from_bytes(PackagerKind::ApiKey, &[0u8; 31]).is_err());
        let key = PackagerSecret::generate_api_key().unwrap();
        let bytes = key.to_bytes();
        assert!(key.api_key_matches(&bytes));
        assert!(!key.api_key_matches(&bytes[..31]));
        assert!(!s.api_key_matches(&[7u8; 32]));
        assert_eq!(format!("{key:?}"), "PackagerSecret::ApiKey(<redacted>)");
    }

    #[test]
    fn seeds_truncate_and_refuse_short() {
        let long = [1u8; 40];
        assert_eq!(KeySeed::from_slice(&long).unwrap().expose(), &[1u8; 30]);
        assert_eq!(
            KeySeed::from_slice(&[1u8; 29]).unwrap_err().code(),
            "invalid_input"
        );
        assert_eq!(
            format!("{:?}", KeySeed::from_slice(&long).unwrap()),
            "KeySeed(<redacted>)"
        );
    }

    #[test]
    fn cid_prefix_scope() {
        let p = Packager {
            name: "p".into(),
            site_id: SiteId::parse("TEST").unwrap(),
            cid_prefix: Some("movies/".into()),
            secret: PackagerSecret::generate_api_key().unwrap(),
            created_at: 0,
        };
        assert!(p.allows_cid("movies/1"));
        assert!(!p.allows_cid("series/1"));
    }
}
