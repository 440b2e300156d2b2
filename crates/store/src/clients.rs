//! Studio token clients: who may call `POST /v2/token`, with which API keys,
//! under which token secret, and with which defaults.
//!
//! * API keys are stored only as SHA-256 hashes (a 32-byte random key has
//!   enough entropy that a plain hash is not brute-forceable); each has a label
//!   and a short id (the first 8 bytes of the hash, hex) used to remove it.
//! * Token secrets are 32 random bytes, wrapped under the KEK like site keys.
//!   A client may hold several, newest first: new tokens use the newest, and
//!   tokens minted under an older one (named by its key id) still verify until
//!   the old secret is dropped — that is how a secret rotates.
//! * Licence statistics are read from the audit trail (`kind = "license"`,
//!   `detail.client`, `detail.client_data`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::sites::{SiteId, SiteSecret};

/// Longest client name, bytes.
pub const MAX_CLIENT_NAME_LEN: usize = 64;
/// Most API keys per client.
pub const MAX_API_KEYS: usize = 16;
/// Most token secrets kept per client.
pub const MAX_SECRETS: usize = 4;

/// Validates a client name: 1–64 of `A-Za-z0-9._-` (`invalid_input` otherwise).
pub fn validate_client_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CLIENT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            field: "name",
            reason: "must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
        })
    }
}

/// A client's non-secret settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// Token lifetime, seconds. Default 30. Longer widens the window in which
    /// a leaked, unused token can be redeemed.
    pub ttl_secs: u32,
    /// Clock-skew leeway added on both ends of the window, seconds. Default 5.
    pub leeway_secs: u32,
    /// Licence requests one token may serve. Default 1 (strict single use).
    pub max_uses: u32,
    /// With `max_uses > 1`: extra seconds after the TTL during which the
    /// further uses are still accepted. Default 0.
    pub grace_secs: u32,
    /// Policy merged under every request's policy (request wins). Default none.
    pub default_policy: Option<serde_json::Value>,
    /// Content ids this client may mint for, as prefixes. Empty (default) = any.
    pub content_prefixes: Vec<String>,
    /// A disabled client can neither mint nor redeem. Default false.
    pub disabled: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 30,
            leeway_secs: 5,
            max_uses: 1,
            grace_secs: 0,
            default_policy: None,
            content_prefixes: Vec::new(),
            disabled: false,
        }
    }
}

impl ClientSettings {
    /// Range checks (`invalid_setting` otherwise).
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason| Err(StoreError::InvalidSetting { field, reason });
        if self.ttl_secs == 0 || self.ttl_secs > 86_400 {
            return bad("ttl_secs", "must be 1 to 86400");
        }
        if self.leeway_secs > 600 {
            return bad("leeway_secs", "must be at most 600");
        }
        if self.max_uses == 0 || self.max_uses > 1000 {
            return bad("max_uses", "must be 1 to 1000");
        }
        if self.grace_secs > 86_400 {
            return bad("grace_secs", "must be at most 86400");
        }
        if let Some(p) = &self.default_policy {
            if !p.is_object() {
                return bad("default_policy", "must be a JSON object");
            }
            if p.to_string().len() > 16 * 1024 {
                return bad("default_policy", "larger than 16 KiB");
            }
        }
        if self.content_prefixes.len() > 64
            || self
                .content_prefixes
                .iter()
                .any(|p| p.is_empty() || p.len() > 256)
        {
            return bad(
                "content_prefixes",
                "at most 64 prefixes of 1 to 256 bytes each",
            );
        }
        Ok(())
    }
}

/// An API key as listed (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    /// Short id: first 8 bytes of the key's SHA-256, hex.
    pub id: String,
    /// Label.
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The id of an API key hash.
pub fn api_key_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// A client, with its secrets (which `Debug` and `Serialize` never show).
#[derive(Clone, Debug, Serialize)]
pub struct Client {
    /// Name (what tokens carry as their first part).
    pub name: String,
    /// The site whose content keys its tokens unlock.
    pub site_id: SiteId,
    /// Settings.
    pub settings: ClientSettings,
    /// API keys (labels and ids).
    pub api_keys: Vec<ApiKeyInfo>,
    /// Token secrets, newest first.
    #[serde(skip)]
    pub secrets: Vec<SiteSecret>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A client to create.
#[derive(Debug)]
pub struct NewClient {
    /// Name.
    pub name: String,
    /// Site.
    pub site_id: SiteId,
    /// Settings.
    pub settings: ClientSettings,
    /// First token secret.
    pub secret: SiteSecret,
    /// First API key: (label, SHA-256 of the key).
    pub api_key: (String, [u8; 32]),
}

pub use crate::stats::{StatsQuery, StatsRow};

/// Storage of Studio clients. Implemented by both stores.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates a client (`client_exists`, `site_not_found`).
    async fn create_client(&self, new: NewClient) -> Result<Client>;
    /// One client (`client_not_found`).
    async fn client(&self, name: &str) -> Result<Client>;
    /// Every client, by name.
    async fn clients(&self) -> Result<Vec<Client>>;
    /// Replaces the settings.
    async fn update_client(&self, name: &str, settings: ClientSettings) -> Result<Client>;
    /// Deletes a client, its keys and secrets.
    async fn delete_client(&self, name: &str) -> Result<()>;
    /// Adds an API key (by hash) with a label.
    async fn add_api_key(&self, name: &str, label: &str, hash: [u8; 32]) -> Result<ApiKeyInfo>;
    /// Removes an API key by id (`api_key_not_found`); the last key cannot be
    /// removed (`invalid_input`).
    async fn remove_api_key(&self, name: &str, id: &str) -> Result<()>;
    /// The client an API key hash belongs to, if any.
    async fn client_by_api_key(&self, hash: &[u8; 32]) -> Result<Option<Client>>;
    /// Adds a new token secret (it becomes the one new tokens use); keeps at
    /// most [`MAX_SECRETS`], dropping the oldest.
    async fn add_client_secret(&self, name: &str, secret: SiteSecret) -> Result<Client>;
}

pub(crate) fn validate_label(label: &str) -> Result<()> {
    if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput {
            field: "label",
            reason: "must be 1 to 64 characters without control characters",
        });
    }
    Ok(())
}
