//! An in-memory store for tests of other crates: same traits, same validation and the
//! same conflict rules as [`SqliteStore`](crate::sqlite::SqliteStore), nothing persisted
//! and nothing wrapped (there is no KEK).
//!
//! Each collection sits behind a `std::sync::Mutex` that is never held across an
//! `.await`, which is what makes `redeem` atomic here.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditRecord, AuditStore, MAX_RECENT};
use crate::error::{Result, StoreError};
use crate::keys::{validate_cid, ContentKeyRecord, KeyInfo, KeyStore, Kid, NewContentKey};
use crate::replay::{validate_redeem, Redemption, ReplayStore};
use crate::sites::{NewSite, Site, SiteId, SiteSecret, SiteSettings, SiteStore};
use crate::unix_now;

#[derive(Debug)]
struct ReplayEntry {
    use_count: u32,
    expires_at: i64,
}

/// In-memory implementation of every store trait.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sites: Mutex<BTreeMap<SiteId, Site>>,
    /// Keyed by (site, kid).
    keys: Mutex<BTreeMap<(SiteId, Kid), ContentKeyRecord>>,
    replay: Mutex<HashMap<(String, Vec<u8>), ReplayEntry>>,
    audit: Mutex<Vec<AuditRecord>>,
}

/// Locks, recovering from poisoning: every critical section leaves the maps consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

#[async_trait]
impl SiteStore for MemoryStore {
    async fn create_site(&self, new: NewSite) -> Result<Site> {
        new.settings.validate()?;
        let mut sites = lock(&self.sites);
        if sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteExists);
        }
        let site = Site {
            site_id: new.site_id.clone(),
            site_key: new.site_key,
            access_key: new.access_key,
            settings: new.settings,
            created_at: unix_now(),
        };
        sites.insert(new.site_id, site.clone());
        Ok(site)
    }

    async fn site(&self, site_id: &SiteId) -> Result<Site> {
        lock(&self.sites)
            .get(site_id)
            .cloned()
            .ok_or(StoreError::SiteNotFound)
    }

    async fn sites(&self) -> Result<Vec<Site>> {
        Ok(lock(&self.sites).values().cloned().collect())
    }

    async fn update_site(&self, site_id: &SiteId, settings: SiteSettings) -> Result<Site> {
        settings.validate()?;
        let mut sites = lock(&self.sites);
        let site = sites.get_mut(site_id).ok_or(StoreError::SiteNotFound)?;
        site.settings = settings;
        Ok(site.clone())
    }

    async fn rotate_site_secrets(
        &self,
        site_id: &SiteId,
        site_key: SiteSecret,
        access_key: SiteSecret,
    ) -> Result<Site> {
        let mut sites = lock(&self.sites);
        let site = sites.get_mut(site_id).ok_or(StoreError::SiteNotFound)?;
        site.site_key = site_key;
        site.access_key = access_key;
        Ok(site.clone())
    }

    async fn delete_site(&self, site_id: &SiteId) -> Result<()> {
        // Lock order everywhere: sites, then keys.
        let mut sites = lock(&self.sites);
        if sites.remove(site_id).is_none() {
            return Err(StoreError::SiteNotFound);
        }
        lock(&self.keys).retain(|(site, _), _| site != site_id);
        Ok(())
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn put_key(&self, new: NewContentKey, replace: bool) -> Result<ContentKeyRecord> {
        new.validate()?;
        let sites = lock(&self.sites);
        if !sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut keys = lock(&self.keys);
        let clashes = |(site, kid): &(SiteId, Kid), record: &ContentKeyRecord| {
            *site == new.site_id
                && (*kid == new.kid
                    || (record.cid == new.cid && record.track_type == new.track_type))
        };
        if replace {
            keys.retain(|id, record| !clashes(id, record));
        } else if keys.iter().any(|(id, record)| clashes(id, record)) {
            return Err(StoreError::KeyConflict);
        }
        let record = ContentKeyRecord {
            site_id: new.site_id.clone(),
            cid: new.cid,
            track_type: new.track_type,
            kid: new.kid,
            key: new.key,
            iv: new.iv,
            label: new.label,
            created_at: unix_now(),
        };
        keys.insert((new.site_id, new.kid), record.clone());
        Ok(record)
    }

    async fn keys_for_content(&self, site_id: &SiteId, cid: &str) -> Result<Vec<ContentKeyRecord>> {
        validate_cid(cid)?;
        let mut found: Vec<ContentKeyRecord> = lock(&self.keys)
            .values()
            .filter(|r| r.site_id == *site_id && r.cid == cid)
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.track_type.as_str(), a.kid).cmp(&(b.track_type.as_str(), b.kid)));
        Ok(found)
    }

    async fn key_by_kid(&self, site_id: &SiteId, kid: &Kid) -> Result<ContentKeyRecord> {
        lock(&self.keys)
            .get(&(site_id.clone(), *kid))
            .cloned()
            .ok_or(StoreError::KeyNotFound)
    }

    async fn list_keys(&self, site_id: &SiteId, cid: Option<&str>) -> Result<Vec<KeyInfo>> {
        if let Some(cid) = cid {
            validate_cid(cid)?;
        }
        let mut found: Vec<KeyInfo> = lock(&self.keys)
            .values()
            .filter(|r| r.site_id == *site_id && cid.is_none_or(|c| r.cid == c))
            .map(ContentKeyRecord::info)
            .collect();
        found.sort_by(|a, b| {
            (&a.cid, a.track_type.as_str(), a.kid).cmp(&(&b.cid, b.track_type.as_str(), b.kid))
        });
        Ok(found)
    }

    async fn delete_key(&self, site_id: &SiteId, kid: &Kid) -> Result<()> {
        lock(&self.keys)
            .remove(&(site_id.clone(), *kid))
            .map(|_| ())
            .ok_or(StoreError::KeyNotFound)
    }
}

#[async_trait]
impl ReplayStore for MemoryStore {
    async fn redeem(
        &self,
        namespace: &str,
        token_id: &[u8],
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        validate_redeem(namespace, token_id)?;
        let now = unix_now();
        let mut replay = lock(&self.replay);
        let entry = replay
            .entry((namespace.to_owned(), token_id.to_vec()))
            .or_insert(ReplayEntry {
                use_count: 0,
                expires_at: expires_at_unix,
            });
        if entry.expires_at <= now {
            // Expired counts as absent.
            entry.use_count = 0;
            entry.expires_at = expires_at_unix;
        }
        if entry.use_count >= max_uses {
            let use_count = entry.use_count;
            if use_count == 0 {
                replay.remove(&(namespace.to_owned(), token_id.to_vec()));
            }
            return Ok(Redemption {
                use_count,
                accepted: false,
            });
        }
        entry.use_count += 1;
        entry.expires_at = entry.expires_at.max(expires_at_unix);
        Ok(Redemption {
            use_count: entry.use_count,
            accepted: true,
        })
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<u64> {
        let mut replay = lock(&self.replay);
        let before = replay.len();
        replay.retain(|_, e| e.expires_at > now_unix);
        Ok((before - replay.len()) as u64)
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn record(&self, event: AuditEvent) -> Result<i64> {
        event.validated_detail()?;
        let mut audit = lock(&self.audit);
        let id = audit.last().map_or(1, |r| r.id + 1);
        audit.push(AuditRecord { id, event });
        Ok(id)
    }

    async fn recent(&self, site_id: Option<&SiteId>, limit: u32) -> Result<Vec<AuditRecord>> {
        let limit = limit.min(MAX_RECENT) as usize;
        Ok(lock(&self.audit)
            .iter()
            .rev()
            .filter(|r| site_id.is_none_or(|s| r.event.site_id.as_ref() == Some(s)))
            .take(limit)
            .cloned()
            .collect())
    }
}
