//! Sites as the request path needs them (credentials with the AES key
//! schedule expanded once, settings), cached for the state's cache TTL.

use std::sync::Arc;
use std::time::Duration;

use keyward_store::{SiteSettings, SiteStore};
use keyward_token::SiteCredentials;

use crate::cache::TtlCache;
use crate::codes;
use crate::refusal::Refusal;

/// A site as the request path needs it.
#[derive(Debug)]
pub struct SiteEntry {
    /// Token-crate credentials (AES key schedule expanded once).
    pub creds: SiteCredentials,
    /// Settings.
    pub settings: SiteSettings,
}

/// The site cache.
pub struct SiteCache {
    store: Arc<dyn SiteStore>,
    sites: TtlCache<String, SiteEntry>,
}

impl SiteCache {
    /// An empty cache over a store.
    pub fn new(store: Arc<dyn SiteStore>, ttl: Duration, stale: Duration) -> Self {
        Self {
            store,
            sites: TtlCache::new(ttl, 10_000).stale_for(stale),
        }
    }

    /// The site, from cache or store. Unknown → 1003.
    pub async fn site(&self, site_id: &str) -> Result<Arc<SiteEntry>, Refusal> {
        if let Some(hit) = self.sites.get(site_id) {
            return Ok(hit);
        }
        let not_found = || {
            Refusal::with(
                codes::SITE_NOT_FOUND,
                format!("Site ID '{}' not found", crate::json::bounded(site_id, 16)),
            )
        };
        let id = keyward_store::SiteId::parse(site_id).map_err(|_| not_found())?;
        let site = match self.store.site(&id).await {
            Ok(s) => s,
            Err(keyward_store::StoreError::SiteNotFound) => return Err(not_found()),
            Err(e) => {
                return match self.sites.get_stale(site_id) {
                    Some(stale) => {
                        tracing::warn!(site = %site_id, error = %e, "store unavailable: serving the cached site");
                        Ok(stale)
                    }
                    None => Err(e.into()),
                }
            }
        };
        let creds = SiteCredentials::new(
            site.site_id.as_str(),
            site.site_key.expose(),
            site.access_key.expose(),
        )
        .map_err(|e| Refusal::internal(format!("stored site credentials invalid: {}", e.code())))?;
        let entry = Arc::new(SiteEntry {
            creds,
            settings: site.settings,
        });
        self.sites.insert(site_id.to_owned(), entry.clone());
        Ok(entry)
    }

    /// Drops every cached site.
    pub fn clear(&self) {
        self.sites.clear();
    }

    /// Drops a cached site.
    pub fn invalidate(&self, site_id: &str) {
        self.sites.remove(site_id);
    }

    /// (hits, misses) of the cache (metrics).
    pub fn lookups(&self) -> (u64, u64) {
        self.sites.lookups()
    }
}
