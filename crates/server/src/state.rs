//! Shared application state: the store, the configuration, and short-lived
//! in-memory caches of site credentials and content keys.
//!
//! A licence request needs the site's keys and settings and the content's
//! keys; reading SQLite for each would dominate the request. Entries live for
//! `cache_ttl_ms`; the admin API drops entries it changes at once.

use std::sync::Arc;
use std::time::Duration;

use keyward_store::{ContentKeyRecord, SiteSettings, Store};
use keyward_token::SiteCredentials;

use crate::cache::TtlCache;
use crate::config::Config;
use crate::error::ApiError;

/// A site as the request path needs it.
#[derive(Debug)]
pub struct SiteEntry {
    /// Token-crate credentials (AES key schedule expanded once).
    pub creds: SiteCredentials,
    /// Settings.
    pub settings: SiteSettings,
}

/// (site id, content id).
type SiteContent = (String, String);

/// The application state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: Config,
    sites: TtlCache<String, SiteEntry>,
    keys: TtlCache<SiteContent, Vec<ContentKeyRecord>>,
    demo_token: Option<DemoMinter>,
    callbacks: crate::frontdoor::callback::Callbacks,
    gatekeeper: crate::gatekeeper::Gatekeeper,
    audit: crate::audit::AuditSink,
}

/// Mints demo tokens (demo mode only).
pub struct DemoMinter {
    /// The demo site's credentials.
    pub creds: SiteCredentials,
}

impl AppState {
    /// Builds the state.
    pub fn new(store: Arc<dyn Store>, config: Config, demo: Option<DemoMinter>) -> Self {
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        let gatekeeper = crate::gatekeeper::Gatekeeper::new(&config.gatekeeper, ttl);
        let audit = crate::audit::AuditSink::start(store.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                sites: TtlCache::new(ttl, 10_000),
                keys: TtlCache::new(ttl, 100_000),
                demo_token: demo,
                callbacks: crate::frontdoor::callback::Callbacks::default(),
                audit,
                gatekeeper,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The audit sink (batched writes).
    pub fn audit(&self) -> &crate::audit::AuditSink {
        &self.inner.audit
    }

    /// Callback-mode state (breakers, bounds, caches).
    pub fn callbacks(&self) -> &crate::frontdoor::callback::Callbacks {
        &self.inner.callbacks
    }

    /// Geo, VPN, session webhook and Studio client state.
    pub fn gatekeeper(&self) -> &crate::gatekeeper::Gatekeeper {
        &self.inner.gatekeeper
    }

    /// The demo minter, in demo mode.
    pub fn demo(&self) -> Option<&DemoMinter> {
        self.inner.demo_token.as_ref()
    }

    /// The site, from cache or store. Unknown → 1003.
    pub async fn site(&self, site_id: &str) -> Result<Arc<SiteEntry>, ApiError> {
        if let Some(hit) = self.inner.sites.get(site_id) {
            return Ok(hit);
        }
        let id = keyward_store::SiteId::parse(site_id).map_err(|_| {
            ApiError::new(
                "1003",
                axum::http::StatusCode::NOT_FOUND,
                "Site ID not found",
            )
        })?;
        let site = self.inner.store.site(&id).await?;
        let creds = SiteCredentials::new(
            site.site_id.as_str(),
            site.site_key.expose(),
            site.access_key.expose(),
        )
        .map_err(|e| {
            ApiError::internal(format!("stored site credentials invalid: {}", e.code()))
        })?;
        let entry = Arc::new(SiteEntry {
            creds,
            settings: site.settings,
        });
        self.inner.sites.insert(site_id.to_owned(), entry.clone());
        Ok(entry)
    }

    /// The content's keys (all tracks), from cache or store.
    pub async fn keys(
        &self,
        site_id: &str,
        cid: &str,
    ) -> Result<Arc<Vec<ContentKeyRecord>>, ApiError> {
        let k = (site_id.to_owned(), cid.to_owned());
        if let Some(hit) = self.inner.keys.get(&k) {
            return Ok(hit);
        }
        let id = keyward_store::SiteId::parse(site_id).map_err(|_| {
            ApiError::new(
                "1003",
                axum::http::StatusCode::NOT_FOUND,
                "Site ID not found",
            )
        })?;
        let keys = Arc::new(self.inner.store.keys_for_content(&id, cid).await?);
        self.inner.keys.insert(k, keys.clone());
        Ok(keys)
    }

    /// Drops cached entries for a site (after an admin change).
    pub fn invalidate(&self, site_id: &str) {
        self.inner.sites.remove(site_id);
        self.inner.keys.retain(|(s, _), _| s != site_id);
    }
}
