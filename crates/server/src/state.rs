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
use crate::codes;
use crate::config::Config;
use crate::refusal::Refusal;

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
    backdoors: crate::backdoor::BackDoors,
    streams: Box<dyn crate::gatekeeper::streams::StreamGate>,
    expressplay_keys: std::sync::OnceLock<Arc<crate::mint::expressplay::TokenKeys>>,
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
                backdoors: crate::backdoor::BackDoors::standard(),
                streams: Box::new(crate::gatekeeper::streams::NotEnforced),
                expressplay_keys: std::sync::OnceLock::new(),
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

    /// The back-door registry.
    pub fn backdoors(&self) -> &crate::backdoor::BackDoors {
        &self.inner.backdoors
    }

    /// The concurrent-stream gate.
    pub fn streams(&self) -> &dyn crate::gatekeeper::streams::StreamGate {
        self.inner.streams.as_ref()
    }

    /// The ExpressPlay token sealing keys (configured, or the data
    /// directory's), loaded once.
    pub fn expressplay_keys(&self) -> Result<Arc<crate::mint::expressplay::TokenKeys>, Refusal> {
        if let Some(k) = self.inner.expressplay_keys.get() {
            return Ok(k.clone());
        }
        let c = &self.inner.config;
        let keys = crate::mint::expressplay::load_keys(
            &c.data_dir,
            c.token_key.as_ref().map(|k| k.expose()),
            c.token_keys_previous.as_ref().map(|k| k.expose()),
        )
        .map_err(crate::frontdoor::expressplay::internal)?;
        Ok(self
            .inner
            .expressplay_keys
            .get_or_init(|| Arc::new(keys))
            .clone())
    }

    /// The demo minter, in demo mode.
    pub fn demo(&self) -> Option<&DemoMinter> {
        self.inner.demo_token.as_ref()
    }

    /// The site, from cache or store. Unknown → 1003.
    pub async fn site(&self, site_id: &str) -> Result<Arc<SiteEntry>, Refusal> {
        if let Some(hit) = self.inner.sites.get(site_id) {
            return Ok(hit);
        }
        let id = keyward_store::SiteId::parse(site_id)
            .map_err(|_| Refusal::new(codes::SITE_NOT_FOUND))?;
        let site = self.inner.store.site(&id).await?;
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
        self.inner.sites.insert(site_id.to_owned(), entry.clone());
        Ok(entry)
    }

    /// The content's keys (all tracks), from cache or store.
    pub async fn keys(
        &self,
        site_id: &str,
        cid: &str,
    ) -> Result<Arc<Vec<ContentKeyRecord>>, Refusal> {
        let k = (site_id.to_owned(), cid.to_owned());
        if let Some(hit) = self.inner.keys.get(&k) {
            return Ok(hit);
        }
        let id = keyward_store::SiteId::parse(site_id)
            .map_err(|_| Refusal::new(codes::SITE_NOT_FOUND))?;
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
