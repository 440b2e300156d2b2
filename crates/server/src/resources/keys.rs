//! Content keys as the request path needs them: all keys of a content,
//! cached for the state's cache TTL, and ExpressPlay's `^name` look-up.

use std::sync::Arc;
use std::time::Duration;

use keyward_drm::{ContentKey, Kid};
use keyward_store::{ContentKeyRecord, KeyStore, SiteId, StoreError};
use keyward_token::expressplay::codes;

use crate::cache::TtlCache;
use crate::refusal::expressplay::{refuse, store_failure};
use crate::refusal::Refusal;

/// (site id, content id).
type SiteContent = (String, String);

/// The content-key cache.
pub struct KeyCache {
    store: Arc<dyn KeyStore>,
    keys: TtlCache<SiteContent, Vec<ContentKeyRecord>>,
}

impl KeyCache {
    /// An empty cache over a store.
    pub fn new(store: Arc<dyn KeyStore>, ttl: Duration, stale: Duration) -> Self {
        Self {
            store,
            keys: TtlCache::new(ttl, 100_000).stale_for(stale),
        }
    }

    /// The content's keys (all tracks), from cache or store.
    pub async fn keys(
        &self,
        site_id: &str,
        cid: &str,
    ) -> Result<Arc<Vec<ContentKeyRecord>>, Refusal> {
        let k = (site_id.to_owned(), cid.to_owned());
        if let Some(hit) = self.keys.get(&k) {
            return Ok(hit);
        }
        let id = SiteId::parse(site_id).map_err(|_| Refusal::new(crate::codes::SITE_NOT_FOUND))?;
        let keys = match self.store.keys_for_content(&id, cid).await {
            Ok(keys) => Arc::new(keys),
            Err(e) => {
                return match self.keys.get_stale(&k) {
                    Some(stale) => {
                        tracing::warn!(site = %site_id, error = %e, "store unavailable: serving the cached keys");
                        Ok(stale)
                    }
                    None => Err(e.into()),
                }
            }
        };
        self.keys.insert(k, keys.clone());
        Ok(keys)
    }

    /// Drops one content's cached keys (a key was just made for it).
    pub fn invalidate_content(&self, site_id: &str, cid: &str) {
        self.keys.retain(|(s, c), _| !(s == site_id && c == cid));
    }

    /// Drops every cached key.
    pub fn clear(&self) {
        self.keys.clear();
    }

    /// Drops a site's cached keys.
    pub fn invalidate(&self, site_id: &str) {
        self.keys.retain(|(s, _), _| s != site_id);
    }

    /// (hits, misses) of the cache (metrics).
    pub fn lookups(&self) -> (u64, u64) {
        self.keys.lookups()
    }

    /// Resolves an ExpressPlay `^name` kid (see [`resolve_name`]).
    pub async fn named(&self, site: Option<&SiteId>, name: &str) -> Result<NamedKey, Refusal> {
        resolve_name(self.store.as_ref(), site, name).await
    }
}

/// A content key resolved from the key store for a `^name` kid.
pub struct NamedKey {
    /// Key id.
    pub kid: Kid,
    /// Key.
    pub key: ContentKey,
}

/// Resolves a `^name` kid in the customer's site: the key whose label is
/// `name`, else the key of content `name` (its ALL key, or its only key).
/// Anything else → -4019.
async fn resolve_name(
    store: &dyn KeyStore,
    site: Option<&SiteId>,
    name: &str,
) -> Result<NamedKey, Refusal> {
    let not_found = |why: &str| refuse(codes::KEY_STORAGE, why.to_owned());
    let site = site.ok_or_else(|| not_found("the customer has no key store (site) linked"))?;
    let listed = match store.list_keys(site, None).await {
        Ok(l) => l,
        Err(StoreError::SiteNotFound) => {
            return Err(not_found("the customer's site does not exist"))
        }
        Err(e) => return Err(store_failure(&e)),
    };
    let by_label: Vec<_> = listed
        .iter()
        .filter(|k| k.label.as_deref() == Some(name))
        .collect();
    let info = if by_label.len() == 1 {
        by_label[0]
    } else {
        let by_cid: Vec<_> = listed.iter().filter(|k| k.cid == name).collect();
        match by_cid.as_slice() {
            [one] => *one,
            many => many
                .iter()
                .find(|k| k.track_type == keyward_store::TrackType::All)
                .copied()
                .ok_or_else(|| not_found(&format!("no key named '{name}'")))?,
        }
    };
    let rec = store.key_by_kid(site, &info.kid).await.map_err(|e| {
        if matches!(e, StoreError::KeyNotFound) {
            not_found(&format!("no key named '{name}'"))
        } else {
            store_failure(&e)
        }
    })?;
    Ok(NamedKey {
        kid: rec.kid,
        key: rec.key.clone(),
    })
}
