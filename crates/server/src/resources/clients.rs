//! Studio clients as the request path needs them (settings and derived
//! token keys), cached by name and by API-key hash for the state's cache TTL.

use std::sync::Arc;
use std::time::Duration;

use keyward_store::{Client, ClientStore, StoreError};
use keyward_token::studio::StudioSecret;

use crate::cache::TtlCache;
use crate::refusal::Refusal;

/// A client as the licence path needs it: settings and derived secrets.
pub struct ClientEntry {
    /// The stored client.
    pub client: Client,
    /// Token secrets with derived keys, newest first.
    pub secrets: Vec<StudioSecret>,
}

impl ClientEntry {
    /// Derives the keys of every secret.
    pub fn new(client: Client) -> Result<Self, Refusal> {
        let secrets = client
            .secrets
            .iter()
            .map(|s| StudioSecret::new(s.expose()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Refusal::internal(format!("client secret: {e}")))?;
        Ok(Self { client, secrets })
    }
}

/// The client caches.
pub struct ClientCache {
    store: Arc<dyn ClientStore>,
    clients: TtlCache<String, ClientEntry>,
    /// By SHA-256 of the API key (only keys that matched a client).
    api_keys: TtlCache<[u8; 32], ClientEntry>,
}

impl ClientCache {
    /// Empty caches over a store.
    pub fn new(store: Arc<dyn ClientStore>, ttl: Duration, stale: Duration) -> Self {
        Self {
            store,
            clients: TtlCache::new(ttl, 10_000).stale_for(stale),
            api_keys: TtlCache::new(ttl, 10_000).stale_for(stale),
        }
    }

    /// The client, cached for the TTL.
    pub async fn client(&self, name: &str) -> Result<Option<Arc<ClientEntry>>, Refusal> {
        if let Some(hit) = self.clients.get(name) {
            return Ok(Some(hit));
        }
        let client = match self.store.client(name).await {
            Ok(c) => c,
            Err(StoreError::ClientNotFound) => return Ok(None),
            Err(e) => {
                return match self.clients.get_stale(name) {
                    Some(stale) => Ok(Some(stale)),
                    None => Err(e.into()),
                }
            }
        };
        let entry = Arc::new(ClientEntry::new(client)?);
        self.clients.insert(name.to_owned(), entry.clone());
        Ok(Some(entry))
    }

    /// The client of an API key (by its SHA-256), cached for the TTL like
    /// [`ClientCache::client`]; unknown keys are not cached.
    pub async fn by_api_key(
        &self,
        key_hash: &[u8; 32],
    ) -> Result<Option<Arc<ClientEntry>>, Refusal> {
        if let Some(hit) = self.api_keys.get(key_hash) {
            return Ok(Some(hit));
        }
        let client = match self.store.client_by_api_key(key_hash).await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(None),
            Err(e) => {
                return match self.api_keys.get_stale(key_hash) {
                    Some(stale) => Ok(Some(stale)),
                    None => Err(e.into()),
                }
            }
        };
        let entry = Arc::new(ClientEntry::new(client)?);
        self.api_keys.insert(*key_hash, entry.clone());
        Ok(Some(entry))
    }

    /// Drops every cached client and API key.
    pub fn clear(&self) {
        self.clients.clear();
        self.api_keys.clear();
    }

    /// Drops a cached client and its cached API keys (after an admin change).
    pub fn invalidate(&self, name: &str) {
        self.clients.remove(name);
        self.api_keys.retain(|_, c| c.client.name != name);
    }

    /// (hits, misses) of the client cache and of the API-key cache (metrics).
    pub fn lookups(&self) -> [(u64, u64); 2] {
        [self.clients.lookups(), self.api_keys.lookups()]
    }
}
