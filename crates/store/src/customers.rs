//! ExpressPlay-style customers: who may call the `/hms/*/token` endpoints.
//!
//! A customer has two authenticators (API keys sent as `customerAuthenticator`),
//! one for test and one for production. Only their SHA-256 hashes are stored,
//! so a database leak does not leak working keys; the server looks a customer
//! up by the hash of what was sent and compares the stored hash in constant
//! time. `rotate` replaces one authenticator (the old one stops working at once).
//!
//! A customer may be linked to a site: `^name` kids then name a content key of
//! that site (by label, or by content id). A customer may have a token quota
//! (`-2019` when it is used up), an allow-list of backend IP addresses (`-2003`)
//! and may be disabled (`-2031`).

use std::net::IpAddr;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::{Result, StoreError};
use crate::kek::random_bytes;
use crate::sites::SiteId;

/// Longest customer id.
pub const MAX_CUSTOMER_ID_LEN: usize = 64;
/// Most entries in `allowed_ips`.
pub const MAX_ALLOWED_IPS: usize = 64;

/// Which authenticator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthEnv {
    /// The test authenticator.
    Test,
    /// The production authenticator.
    Production,
}

impl AuthEnv {
    /// `test` or `production`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthEnv::Test => "test",
            AuthEnv::Production => "production",
        }
    }
}

/// A customer's non-secret settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerSettings {
    /// The site whose key store `^name` kids refer to. Default none: `^name`
    /// kids are refused with -4019.
    pub site_id: Option<SiteId>,
    /// Most tokens this customer may mint (counted over its lifetime). Default
    /// none = unlimited. Used up → -2019.
    pub token_quota: Option<u64>,
    /// Backend addresses allowed to call the token endpoints. Default empty =
    /// any. When set, a request whose peer address is unknown or not listed
    /// gets -2003.
    pub allowed_ips: Vec<String>,
    /// A disabled customer's token requests get -2031 (tokens already issued
    /// stay redeemable until they expire). Default false.
    pub disabled: bool,
}

impl CustomerSettings {
    /// Checks the settings (`invalid_input` otherwise).
    pub fn validate(&self) -> Result<()> {
        if self.allowed_ips.len() > MAX_ALLOWED_IPS {
            return Err(StoreError::InvalidInput {
                field: "allowed_ips",
                reason: "too many entries",
            });
        }
        for ip in &self.allowed_ips {
            if ip.parse::<IpAddr>().is_err() {
                return Err(StoreError::InvalidInput {
                    field: "allowed_ips",
                    reason: "each entry must be an IPv4 or IPv6 address",
                });
            }
        }
        Ok(())
    }

    /// Whether `peer` may call the token endpoints.
    pub fn allows_ip(&self, peer: Option<IpAddr>) -> bool {
        if self.allowed_ips.is_empty() {
            return true;
        }
        let Some(peer) = peer else { return false };
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_ips
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .any(|a| a == peer)
    }
}

/// A customer as stored (no authenticators, not even their hashes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer id.
    pub customer_id: String,
    /// Settings.
    pub settings: CustomerSettings,
    /// Tokens minted so far, counted while the customer has a `token_quota`
    /// (without one, minting does not write to the store).
    pub tokens_issued: u64,
    /// Created, unix seconds.
    pub created_at: i64,
}

/// A customer to create: the hashes of its two authenticators.
#[derive(Clone, Debug)]
pub struct NewCustomer {
    /// The customer id (1–64 of `A-Z a-z 0-9 . _ -`).
    pub customer_id: String,
    /// SHA-256 of the test authenticator.
    pub test_hash: [u8; 32],
    /// SHA-256 of the production authenticator.
    pub production_hash: [u8; 32],
    /// Settings.
    pub settings: CustomerSettings,
}

/// Validates a customer id (`invalid_input` otherwise).
pub fn validate_customer_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > MAX_CUSTOMER_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(StoreError::InvalidInput {
            field: "customer_id",
            reason: "must be 1 to 64 of A-Z a-z 0-9 . _ -",
        });
    }
    Ok(())
}

/// A fresh authenticator: 32 characters of base64url from 24 random bytes.
/// Show it once; only its hash is stored.
pub fn generate_authenticator() -> Result<String> {
    let bytes = random_bytes::<24>()?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of an authenticator.
pub fn hash_authenticator(authenticator: &str) -> [u8; 32] {
    Sha256::digest(authenticator.as_bytes()).into()
}

/// Constant-time comparison of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Storage of customers.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Creates a customer (`customer_exists` if the id or a hash is taken).
    async fn create_customer(&self, new: NewCustomer) -> Result<Customer>;
    /// One customer (`customer_not_found`).
    async fn customer(&self, customer_id: &str) -> Result<Customer>;
    /// Every customer, by id.
    async fn customers(&self) -> Result<Vec<Customer>>;
    /// The customer whose test or production authenticator hashes to `hash`.
    async fn customer_by_authenticator(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(Customer, AuthEnv)>>;
    /// Replaces the settings.
    async fn update_customer(
        &self,
        customer_id: &str,
        settings: CustomerSettings,
    ) -> Result<Customer>;
    /// Replaces one authenticator's hash.
    async fn rotate_customer_authenticator(
        &self,
        customer_id: &str,
        env: AuthEnv,
        hash: [u8; 32],
    ) -> Result<()>;
    /// Counts one minted token against the quota: `false` (and nothing
    /// counted) when the quota is used up.
    async fn take_customer_token(&self, customer_id: &str) -> Result<bool>;
    /// Deletes a customer (`customer_not_found`).
    async fn delete_customer(&self, customer_id: &str) -> Result<()>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn ids_and_ips() {
        assert!(validate_customer_id("acme-tv_1.prod").is_ok());
        assert!(validate_customer_id("").is_err());
        assert!(validate_customer_id("a b").is_err());
        assert!(validate_customer_id(&"a".repeat(65)).is_err());
        let s = CustomerSettings {
            allowed_ips: vec!["10.0.0.1".into()],
            ..CustomerSettings::default()
        };
        assert!(s.validate().is_ok());
        assert!(s.allows_ip("10.0.0.1".parse().ok()));
        assert!(s.allows_ip("::ffff:10.0.0.1".parse().ok()));
        assert!(!s.allows_ip("10.0.0.2".parse().ok()));
        assert!(!s.allows_ip(None));
        assert!(CustomerSettings::default().allows_ip(None));
        let bad = CustomerSettings {
            allowed_ips: vec!["10.0.0.0/8".into()],
            ..CustomerSettings::default()
        };
        assert!(bad.validate().is_err());
    }

    async fn exercise(store: &dyn CustomerStore) {
        let new = |id: &str, a: &str, quota| NewCustomer {
            customer_id: id.into(),
            test_hash: hash_authenticator(&format!("{a}-t")),
            production_hash: hash_authenticator(&format!("{a}-p")),
            settings: CustomerSettings {
                token_quota: quota,
                ..CustomerSettings::default()
            },
        };
        assert!(store.create_customer(new("a", "x", Some(2))).await.is_ok());
        let dup = store.create_customer(new("a", "y", None)).await;
        assert_eq!(dup.err().map(|e| e.code()), Some("customer_exists"));
        let same_auth = store.create_customer(new("b", "x", None)).await;
        assert_eq!(same_auth.err().map(|e| e.code()), Some("customer_exists"));
        let found = store
            .customer_by_authenticator(&hash_authenticator("x-p"))
            .await
            .ok()
            .flatten()
            .map(|(c, e)| (c.customer_id, e));
        assert_eq!(found, Some(("a".to_owned(), AuthEnv::Production)));
        assert!(store.take_customer_token("a").await.unwrap_or(false));
        assert!(store.take_customer_token("a").await.unwrap_or(false));
        assert!(!store.take_customer_token("a").await.unwrap_or(true));
        assert!(store
            .rotate_customer_authenticator("a", AuthEnv::Test, hash_authenticator("new"))
            .await
            .is_ok());
        assert!(store
            .customer_by_authenticator(&hash_authenticator("x-t"))
            .await
            .ok()
            .flatten()
            .is_none());
        assert!(store.delete_customer("a").await.is_ok());
        assert_eq!(
            store.delete_customer("a").await.err().map(|e| e.code()),
            Some("customer_not_found")
        );
        assert_eq!(
            store.take_customer_token("a").await.err().map(|e| e.code()),
            Some("customer_not_found")
        );
    }

    #[tokio::test]
    async fn memory_and_sqlite_agree() {
        exercise(&crate::MemoryStore::new()).await;
        let dir = tempfile::tempdir().ok();
        let dir = dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let kek = crate::Kek::from_bytes(&[7u8; 32]);
        if let Ok(kek) = kek {
            match crate::SqliteStore::open(&dir, kek).await {
                Ok(s) => exercise(&s).await,
                Err(e) => panic!("open: {e}"),
            }
        }
    }

    #[test]
    fn authenticators_hash() {
        let a = generate_authenticator().unwrap_or_default();
        assert_eq!(a.len(), 32);
        assert!(hashes_equal(
            &hash_authenticator(&a),
            &hash_authenticator(&a)
        ));
        assert!(!hashes_equal(
            &hash_authenticator(&a),
            &hash_authenticator("x")
        ));
    }
}
