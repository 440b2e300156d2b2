//! An in-memory store for tests of other crates: same traits, same validation and the
//! same conflict rules as [`SqliteStore`](crate::sqlite::SqliteStore), nothing persisted
//! and nothing wrapped (there is no KEK).
//!
//! Each collection sits behind a `std::sync::Mutex` that is never held across an
//! `.await`. Single use is decided by the same backend-neutral decision set as the
//! SQLite store's (without its journal), which makes `redeem` atomic here too;
//! stream slots use the shared in-process slot table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditStore, MAX_RECENT};
use crate::error::{Result, StoreError};
use crate::fairplay::{
    too_many_credentials, FairPlayCredential, FairPlayCredentialInfo, FairPlayStore,
    NewFairPlayCredential, CERT_HASH_LEN, MAX_FAIRPLAY_CREDENTIALS,
};
use crate::keys::{validate_cid, ContentKeyRecord, KeyInfo, KeyStore, Kid, NewContentKey};
use crate::lifecycle::Lifecycle;
use crate::packagers::{
    validate_packager_name, KeySeed, NewPackager, Packager, PackagerInfo, PackagerStore,
    MAX_PACKAGERS_PER_SITE,
};
use crate::replay::decisions::DecisionSet;
use crate::replay::{validate_redeem, Redemption, ReplayStore};
use crate::sites::{Drm, NewSite, Site, SiteId, SiteSecret, SiteSettings, SiteStore};
use crate::stats::StatsStore;
use crate::streams::StreamTable;
use crate::unix_now;
use crate::upstreams::{
    insert_position, too_many_upstreams, NewUpstream, Upstream, UpstreamInfo, UpstreamStore,
    MAX_UPSTREAMS_PER_DRM,
};

/// In-memory implementation of every store trait.
#[derive(Debug)]
pub struct MemoryStore {
    sites: Mutex<BTreeMap<SiteId, Site>>,
    /// Keyed by (site, kid).
    keys: Mutex<BTreeMap<(SiteId, Kid), ContentKeyRecord>>,
    /// Single-use decisions: the backend-neutral set, without a journal.
    replay: DecisionSet,
    /// Concurrent-stream slots.
    streams: StreamTable,
    /// Set by [`Lifecycle::close`].
    closed: AtomicBool,
    audit: Mutex<Vec<AuditRecord>>,
    /// ExpressPlay-style customers, by id.
    customers: Mutex<BTreeMap<String, MemoryCustomer>>,
    /// Studio token clients, by name.
    clients: Mutex<BTreeMap<String, MemoryClient>>,
    /// FairPlay credentials per site, in insertion order.
    fairplay: Mutex<MemoryFairPlay>,
    /// Licence upstreams per site and DRM, each list in position order.
    upstreams: Mutex<BTreeMap<SiteId, BTreeMap<Drm, Vec<Upstream>>>>,
    /// Packager credentials, by name.
    packagers: Mutex<BTreeMap<String, Packager>>,
    /// Key seeds, by site.
    key_seeds: Mutex<BTreeMap<SiteId, KeySeed>>,
}

/// Locks, recovering from poisoning: every critical section leaves the maps consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            sites: Mutex::default(),
            keys: Mutex::default(),
            replay: DecisionSet::unjournaled(),
            streams: StreamTable::default(),
            closed: AtomicBool::new(false),
            audit: Mutex::default(),
            customers: Mutex::default(),
            clients: Mutex::default(),
            fairplay: Mutex::default(),
            upstreams: Mutex::default(),
            packagers: Mutex::default(),
            key_seeds: Mutex::default(),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
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
        // Lock order everywhere: sites, then keys, FairPlay credentials or
        // upstreams.
        let mut sites = lock(&self.sites);
        if sites.remove(site_id).is_none() {
            return Err(StoreError::SiteNotFound);
        }
        lock(&self.keys).retain(|(site, _), _| site != site_id);
        lock(&self.fairplay).by_site.remove(site_id);
        lock(&self.upstreams).remove(site_id);
        lock(&self.packagers).retain(|_, p| p.site_id != *site_id);
        lock(&self.key_seeds).remove(site_id);
        Ok(())
    }
}

/// Whether `r` is the keyward-chosen key at `new`'s (site, cid, track type,
/// period) coordinates (pinned keys hold no coordinates).
fn at_coordinates(r: &ContentKeyRecord, new: &NewContentKey) -> bool {
    !r.pinned
        && r.site_id == new.site_id
        && r.cid == new.cid
        && r.track_type == new.track_type
        && r.period == new.period
}

/// The record `new` becomes, stored now.
fn stored(new: NewContentKey, pinned: bool) -> ContentKeyRecord {
    ContentKeyRecord {
        site_id: new.site_id,
        cid: new.cid,
        track_type: new.track_type,
        kid: new.kid,
        key: new.key,
        iv: new.iv,
        label: new.label,
        created_at: unix_now(),
        period: new.period,
        pinned,
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
            *site == new.site_id && (*kid == new.kid || at_coordinates(record, &new))
        };
        if replace {
            keys.retain(|id, record| !clashes(id, record));
        } else if keys.iter().any(|(id, record)| clashes(id, record)) {
            return Err(StoreError::KeyConflict);
        }
        let id = (new.site_id.clone(), new.kid);
        let record = stored(new, false);
        keys.insert(id, record.clone());
        Ok(record)
    }

    async fn ensure_key(&self, new: NewContentKey) -> Result<(ContentKeyRecord, bool)> {
        new.validate()?;
        let sites = lock(&self.sites);
        if !sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut keys = lock(&self.keys);
        if let Some(found) = keys.values().find(|r| at_coordinates(r, &new)) {
            return Ok((found.clone(), false));
        }
        if keys.contains_key(&(new.site_id.clone(), new.kid)) {
            return Err(StoreError::KeyConflict);
        }
        let id = (new.site_id.clone(), new.kid);
        let record = stored(new, false);
        keys.insert(id, record.clone());
        Ok((record, true))
    }

    async fn ensure_pinned_key(&self, new: NewContentKey) -> Result<(ContentKeyRecord, bool)> {
        new.validate()?;
        let sites = lock(&self.sites);
        if !sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut keys = lock(&self.keys);
        let id = (new.site_id.clone(), new.kid);
        if let Some(found) = keys.get(&id) {
            if found.cid != new.cid {
                return Err(StoreError::KeyConflict);
            }
            return Ok((found.clone(), false));
        }
        let record = stored(new, true);
        keys.insert(id, record.clone());
        Ok((record, true))
    }

    async fn keys_for_content(&self, site_id: &SiteId, cid: &str) -> Result<Vec<ContentKeyRecord>> {
        validate_cid(cid)?;
        let mut found: Vec<ContentKeyRecord> = lock(&self.keys)
            .values()
            .filter(|r| r.site_id == *site_id && r.cid == cid)
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            (a.track_type.as_str(), a.period, a.kid).cmp(&(b.track_type.as_str(), b.period, b.kid))
        });
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
            (&a.cid, a.track_type.as_str(), a.period, a.kid).cmp(&(
                &b.cid,
                b.track_type.as_str(),
                b.period,
                b.kid,
            ))
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
        issued_at_unix: i64,
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        validate_redeem(namespace, token_id)?;
        // No fence: nothing survives a restart of a memory store.
        Ok(self.replay.redeem(
            None,
            namespace,
            token_id,
            issued_at_unix,
            expires_at_unix,
            max_uses,
            unix_now(),
        ))
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<u64> {
        Ok(self.replay.purge(now_unix))
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

    async fn search(&self, q: &AuditQuery) -> Result<AuditPage> {
        q.validate()?;
        let audit = lock(&self.audit);
        // Ids are positions + 1 (appended in order, never removed).
        let after = match q.before {
            None => None,
            Some(id) => {
                let r = usize::try_from(id - 1)
                    .ok()
                    .and_then(|i| audit.get(i))
                    .filter(|r| r.id == id)
                    .ok_or(StoreError::InvalidInput {
                        field: "before",
                        reason: "no audit record has that id",
                    })?;
                Some((r.event.at_unix_ms, r.id))
            }
        };
        let mut found: Vec<&AuditRecord> = audit
            .iter()
            .filter(|r| q.matches(&r.event))
            .filter(|r| after.is_none_or(|c| (r.event.at_unix_ms, r.id) < c))
            .collect();
        found.sort_unstable_by_key(|r| std::cmp::Reverse((r.event.at_unix_ms, r.id)));
        found.truncate(q.limit as usize + 1);
        let records = found.into_iter().cloned().collect();
        Ok(AuditPage::from_overfetch(records, q.limit))
    }

    async fn follow(&self, q: &AuditQuery, after_id: i64) -> Result<AuditPage> {
        q.validate()?;
        let records = lock(&self.audit)
            .iter()
            .filter(|r| r.id > after_id && q.matches(&r.event))
            .take(q.limit as usize + 1)
            .cloned()
            .collect();
        Ok(AuditPage::from_overfetch(records, q.limit))
    }
}

// --- ExpressPlay-style customers -------------------------------------------

/// A stored customer with its authenticator hashes.
#[derive(Debug, Clone)]
pub(crate) struct MemoryCustomer {
    customer: crate::customers::Customer,
    test_hash: [u8; 32],
    production_hash: [u8; 32],
}

#[async_trait]
impl crate::customers::CustomerStore for MemoryStore {
    async fn create_customer(
        &self,
        new: crate::customers::NewCustomer,
    ) -> Result<crate::customers::Customer> {
        crate::customers::validate_customer_id(&new.customer_id)?;
        new.settings.validate()?;
        let mut all = lock(&self.customers);
        let taken = all.values().any(|c| {
            [c.test_hash, c.production_hash]
                .iter()
                .any(|h| *h == new.test_hash || *h == new.production_hash)
        });
        if taken || all.contains_key(&new.customer_id) {
            return Err(StoreError::CustomerExists);
        }
        let customer = crate::customers::Customer {
            customer_id: new.customer_id.clone(),
            settings: new.settings,
            tokens_issued: 0,
            created_at: unix_now(),
        };
        all.insert(
            new.customer_id,
            MemoryCustomer {
                customer: customer.clone(),
                test_hash: new.test_hash,
                production_hash: new.production_hash,
            },
        );
        Ok(customer)
    }

    async fn customer(&self, customer_id: &str) -> Result<crate::customers::Customer> {
        lock(&self.customers)
            .get(customer_id)
            .map(|c| c.customer.clone())
            .ok_or(StoreError::CustomerNotFound)
    }

    async fn customers(&self) -> Result<Vec<crate::customers::Customer>> {
        Ok(lock(&self.customers)
            .values()
            .map(|c| c.customer.clone())
            .collect())
    }

    async fn customer_by_authenticator(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(crate::customers::Customer, crate::customers::AuthEnv)>> {
        for c in lock(&self.customers).values() {
            if crate::customers::hashes_equal(&c.test_hash, hash) {
                return Ok(Some((c.customer.clone(), crate::customers::AuthEnv::Test)));
            }
            if crate::customers::hashes_equal(&c.production_hash, hash) {
                return Ok(Some((
                    c.customer.clone(),
                    crate::customers::AuthEnv::Production,
                )));
            }
        }
        Ok(None)
    }

    async fn update_customer(
        &self,
        customer_id: &str,
        settings: crate::customers::CustomerSettings,
    ) -> Result<crate::customers::Customer> {
        settings.validate()?;
        let mut all = lock(&self.customers);
        let c = all
            .get_mut(customer_id)
            .ok_or(StoreError::CustomerNotFound)?;
        c.customer.settings = settings;
        Ok(c.customer.clone())
    }

    async fn rotate_customer_authenticator(
        &self,
        customer_id: &str,
        env: crate::customers::AuthEnv,
        hash: [u8; 32],
    ) -> Result<()> {
        let mut all = lock(&self.customers);
        let c = all
            .get_mut(customer_id)
            .ok_or(StoreError::CustomerNotFound)?;
        match env {
            crate::customers::AuthEnv::Test => c.test_hash = hash,
            crate::customers::AuthEnv::Production => c.production_hash = hash,
        }
        Ok(())
    }

    async fn take_customer_token(&self, customer_id: &str) -> Result<bool> {
        let mut all = lock(&self.customers);
        let c = all
            .get_mut(customer_id)
            .ok_or(StoreError::CustomerNotFound)?;
        if c.customer
            .settings
            .token_quota
            .is_some_and(|q| c.customer.tokens_issued >= q)
        {
            return Ok(false);
        }
        c.customer.tokens_issued += 1;
        Ok(true)
    }

    async fn delete_customer(&self, customer_id: &str) -> Result<()> {
        lock(&self.customers)
            .remove(customer_id)
            .map(|_| ())
            .ok_or(StoreError::CustomerNotFound)
    }
}

// --- Studio token clients ---------------------------------------------------

/// A stored client with its API key hashes.
#[derive(Debug, Clone)]
pub(crate) struct MemoryClient {
    client: crate::clients::Client,
    key_hashes: Vec<[u8; 32]>,
}

#[async_trait]
impl crate::clients::ClientStore for MemoryStore {
    async fn create_client(
        &self,
        new: crate::clients::NewClient,
    ) -> Result<crate::clients::Client> {
        crate::clients::validate_client_name(&new.name)?;
        crate::clients::validate_label(&new.api_key.0)?;
        new.settings.validate()?;
        if !lock(&self.sites).contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut all = lock(&self.clients);
        if all.contains_key(&new.name)
            || all.values().any(|c| c.key_hashes.contains(&new.api_key.1))
        {
            return Err(StoreError::ClientExists);
        }
        let now = unix_now();
        let client = crate::clients::Client {
            name: new.name.clone(),
            site_id: new.site_id,
            settings: new.settings,
            api_keys: vec![crate::clients::ApiKeyInfo {
                id: crate::clients::api_key_id(&new.api_key.1),
                label: new.api_key.0,
                created_at: now,
            }],
            secrets: vec![new.secret],
            created_at: now,
        };
        all.insert(
            new.name,
            MemoryClient {
                client: client.clone(),
                key_hashes: vec![new.api_key.1],
            },
        );
        Ok(client)
    }

    async fn client(&self, name: &str) -> Result<crate::clients::Client> {
        lock(&self.clients)
            .get(name)
            .map(|c| c.client.clone())
            .ok_or(StoreError::ClientNotFound)
    }

    async fn clients(&self) -> Result<Vec<crate::clients::Client>> {
        Ok(lock(&self.clients)
            .values()
            .map(|c| c.client.clone())
            .collect())
    }

    async fn update_client(
        &self,
        name: &str,
        settings: crate::clients::ClientSettings,
    ) -> Result<crate::clients::Client> {
        settings.validate()?;
        let mut all = lock(&self.clients);
        let c = all.get_mut(name).ok_or(StoreError::ClientNotFound)?;
        c.client.settings = settings;
        Ok(c.client.clone())
    }

    async fn delete_client(&self, name: &str) -> Result<()> {
        lock(&self.clients)
            .remove(name)
            .map(|_| ())
            .ok_or(StoreError::ClientNotFound)
    }

    async fn add_api_key(
        &self,
        name: &str,
        label: &str,
        hash: [u8; 32],
    ) -> Result<crate::clients::ApiKeyInfo> {
        crate::clients::validate_label(label)?;
        let mut all = lock(&self.clients);
        if all.values().any(|c| c.key_hashes.contains(&hash)) {
            return Err(StoreError::ClientExists);
        }
        let c = all.get_mut(name).ok_or(StoreError::ClientNotFound)?;
        if c.key_hashes.len() >= crate::clients::MAX_API_KEYS {
            return Err(StoreError::InvalidInput {
                field: "api_keys",
                reason: "at most 16 API keys per client",
            });
        }
        let info = crate::clients::ApiKeyInfo {
            id: crate::clients::api_key_id(&hash),
            label: label.to_owned(),
            created_at: unix_now(),
        };
        c.key_hashes.push(hash);
        c.client.api_keys.push(info.clone());
        Ok(info)
    }

    async fn remove_api_key(&self, name: &str, id: &str) -> Result<()> {
        let mut all = lock(&self.clients);
        let c = all.get_mut(name).ok_or(StoreError::ClientNotFound)?;
        let Some(i) = c
            .key_hashes
            .iter()
            .position(|h| crate::clients::api_key_id(h) == id)
        else {
            return Err(StoreError::ApiKeyNotFound);
        };
        if c.key_hashes.len() <= 1 {
            return Err(StoreError::InvalidInput {
                field: "api_keys",
                reason: "the last API key cannot be removed; add another first",
            });
        }
        c.key_hashes.remove(i);
        c.client.api_keys.retain(|k| k.id != id);
        Ok(())
    }

    async fn client_by_api_key(&self, hash: &[u8; 32]) -> Result<Option<crate::clients::Client>> {
        Ok(lock(&self.clients)
            .values()
            .find(|c| c.key_hashes.contains(hash))
            .map(|c| c.client.clone()))
    }

    async fn add_client_secret(
        &self,
        name: &str,
        secret: SiteSecret,
    ) -> Result<crate::clients::Client> {
        let mut all = lock(&self.clients);
        let c = all.get_mut(name).ok_or(StoreError::ClientNotFound)?;
        c.client.secrets.insert(0, secret);
        c.client.secrets.truncate(crate::clients::MAX_SECRETS);
        Ok(c.client.clone())
    }
}

// --- FairPlay credentials ---------------------------------------------------

/// FairPlay credentials per site, each with its insertion number.
#[derive(Debug, Default)]
struct MemoryFairPlay {
    by_site: BTreeMap<SiteId, Vec<(u64, FairPlayCredential)>>,
    next_seq: u64,
}

impl MemoryFairPlay {
    /// A site's credentials, newest first (time, then insertion order).
    fn newest_first(&self, site_id: &SiteId) -> Vec<&FairPlayCredential> {
        let mut found: Vec<&(u64, FairPlayCredential)> = self
            .by_site
            .get(site_id)
            .map(|creds| creds.iter().collect())
            .unwrap_or_default();
        found.sort_by(|(a_seq, a), (b_seq, b)| (b.created_at, b_seq).cmp(&(a.created_at, a_seq)));
        found.into_iter().map(|(_, cred)| cred).collect()
    }
}

impl MemoryStore {
    /// A site's credentials, newest first (`site_not_found`).
    fn fairplay_newest_first(&self, site_id: &SiteId) -> Result<Vec<FairPlayCredential>> {
        // Lock order: sites, then FairPlay credentials.
        let sites = lock(&self.sites);
        if !sites.contains_key(site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let all = lock(&self.fairplay);
        Ok(all.newest_first(site_id).into_iter().cloned().collect())
    }
}

#[async_trait]
impl FairPlayStore for MemoryStore {
    async fn add_fairplay_credential(
        &self,
        new: NewFairPlayCredential,
    ) -> Result<FairPlayCredentialInfo> {
        new.validate()?;
        let hash = new.cert_hash();
        let sites = lock(&self.sites);
        if !sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut all = lock(&self.fairplay);
        let seq = all.next_seq;
        let creds = all.by_site.entry(new.site_id.clone()).or_default();
        if creds.iter().any(|(_, c)| c.cert_hash == hash) {
            return Err(StoreError::FairPlayCredentialExists);
        }
        if creds.len() >= MAX_FAIRPLAY_CREDENTIALS {
            return Err(too_many_credentials());
        }
        let cred = FairPlayCredential {
            site_id: new.site_id,
            cert_hash: hash,
            cert_der: new.cert_der,
            private_key: new.private_key,
            ask: new.ask,
            label: new.label,
            created_at: unix_now(),
        };
        let info = cred.info();
        creds.push((seq, cred));
        all.next_seq += 1;
        Ok(info)
    }

    async fn fairplay_credentials(&self, site_id: &SiteId) -> Result<Vec<FairPlayCredential>> {
        self.fairplay_newest_first(site_id)
    }

    async fn fairplay_credential_infos(
        &self,
        site_id: &SiteId,
    ) -> Result<Vec<FairPlayCredentialInfo>> {
        Ok(self
            .fairplay_newest_first(site_id)?
            .iter()
            .map(FairPlayCredential::info)
            .collect())
    }

    async fn remove_fairplay_credential(
        &self,
        site_id: &SiteId,
        cert_hash: &[u8; CERT_HASH_LEN],
    ) -> Result<()> {
        let sites = lock(&self.sites);
        if !sites.contains_key(site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut all = lock(&self.fairplay);
        let creds = all
            .by_site
            .get_mut(site_id)
            .ok_or(StoreError::FairPlayCredentialNotFound)?;
        let before = creds.len();
        creds.retain(|(_, c)| c.cert_hash != *cert_hash);
        if creds.len() == before {
            return Err(StoreError::FairPlayCredentialNotFound);
        }
        Ok(())
    }
}

// --- Licence upstreams ------------------------------------------------------

/// Gives each upstream of a list the position of its index.
fn renumber(list: &mut [Upstream]) {
    for (position, up) in (0u32..).zip(list.iter_mut()) {
        up.position = position;
    }
}

impl MemoryStore {
    /// `f` over a site's upstreams (`site_not_found`).
    fn with_upstreams<T>(
        &self,
        site_id: &SiteId,
        f: impl FnOnce(Option<&BTreeMap<Drm, Vec<Upstream>>>) -> T,
    ) -> Result<T> {
        // Lock order: sites, then upstreams.
        let sites = lock(&self.sites);
        if !sites.contains_key(site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let all = lock(&self.upstreams);
        Ok(f(all.get(site_id)))
    }
}

#[async_trait]
impl UpstreamStore for MemoryStore {
    async fn add_upstream(&self, new: NewUpstream) -> Result<UpstreamInfo> {
        new.validate()?;
        let sites = lock(&self.sites);
        if !sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut all = lock(&self.upstreams);
        let by_drm = all.entry(new.site_id.clone()).or_default();
        if by_drm.values().flatten().any(|up| up.name == new.name) {
            return Err(StoreError::UpstreamExists);
        }
        let list = by_drm.entry(new.drm).or_default();
        if list.len() >= MAX_UPSTREAMS_PER_DRM {
            return Err(too_many_upstreams());
        }
        let at = insert_position(new.position, list.len());
        list.insert(
            at,
            Upstream {
                site_id: new.site_id,
                drm: new.drm,
                name: new.name,
                kind: new.kind,
                url: new.url,
                settings: new.settings,
                secrets: new.secrets,
                position: 0,
                created_at: unix_now(),
            },
        );
        renumber(list);
        Ok(list[at].info())
    }

    async fn upstreams(&self, site_id: &SiteId, drm: Drm) -> Result<Vec<Upstream>> {
        self.with_upstreams(site_id, |by_drm| {
            by_drm
                .and_then(|by_drm| by_drm.get(&drm))
                .cloned()
                .unwrap_or_default()
        })
    }

    async fn upstream_infos(
        &self,
        site_id: &SiteId,
        drm: Option<Drm>,
    ) -> Result<Vec<UpstreamInfo>> {
        self.with_upstreams(site_id, |by_drm| {
            // The map is ordered by DRM, each list by position.
            by_drm
                .into_iter()
                .flatten()
                .filter(|(d, _)| drm.is_none_or(|want| **d == want))
                .flat_map(|(_, list)| list.iter().map(Upstream::info))
                .collect()
        })
    }

    async fn upstream(&self, site_id: &SiteId, name: &str) -> Result<Upstream> {
        self.with_upstreams(site_id, |by_drm| {
            by_drm
                .into_iter()
                .flat_map(BTreeMap::values)
                .flatten()
                .find(|up| up.name == name)
                .cloned()
        })?
        .ok_or(StoreError::UpstreamNotFound)
    }

    async fn remove_upstream(&self, site_id: &SiteId, name: &str) -> Result<()> {
        let sites = lock(&self.sites);
        if !sites.contains_key(site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut all = lock(&self.upstreams);
        let list = all
            .get_mut(site_id)
            .and_then(|by_drm| {
                by_drm
                    .values_mut()
                    .find(|list| list.iter().any(|up| up.name == name))
            })
            .ok_or(StoreError::UpstreamNotFound)?;
        list.retain(|up| up.name != name);
        renumber(list);
        Ok(())
    }
}

#[async_trait]
impl StatsStore for MemoryStore {
    async fn license_stats(
        &self,
        q: &crate::stats::StatsQuery,
    ) -> Result<Vec<crate::stats::StatsRow>> {
        if let Some((k, _)) = &q.client_data {
            crate::stats::validate_stats_key(k)?;
        }
        let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for r in lock(&self.audit).iter() {
            let e = &r.event;
            if e.kind != "license"
                || e.detail.get("client").and_then(|v| v.as_str()) != Some(q.client.as_str())
                || q.since_ms.is_some_and(|s| e.at_unix_ms < s)
                || q.until_ms.is_some_and(|u| e.at_unix_ms >= u)
            {
                continue;
            }
            if let Some((k, v)) = &q.client_data {
                let got = e
                    .detail
                    .get("client_data")
                    .and_then(|d| d.get(k))
                    .and_then(crate::stats::client_data_text);
                if got.as_deref() != Some(v.as_str()) {
                    continue;
                }
            }
            *counts
                .entry((
                    crate::stats::day_of(e.at_unix_ms),
                    e.drm.clone().unwrap_or_default(),
                    e.result.clone(),
                ))
                .or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((day, drm, result), count)| crate::stats::StatsRow {
                day,
                drm,
                result,
                count,
            })
            .collect())
    }
}

// --- Stream slots and lifecycle ---------------------------------------------

impl crate::streams::InProcessStreams for MemoryStore {
    fn stream_table(&self) -> &StreamTable {
        &self.streams
    }
}

#[async_trait]
impl Lifecycle for MemoryStore {
    /// Always healthy until closed.
    async fn health(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::backend("the store is closed"))
        } else {
            Ok(())
        }
    }

    /// Nothing to flush; marks the store closed for [`Lifecycle::health`].
    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

#[async_trait]
impl PackagerStore for MemoryStore {
    async fn add_packager(&self, new: NewPackager) -> Result<PackagerInfo> {
        new.validate()?;
        let sites = lock(&self.sites);
        if !sites.contains_key(&new.site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut packagers = lock(&self.packagers);
        if packagers.contains_key(&new.name) {
            return Err(StoreError::PackagerExists);
        }
        if packagers
            .values()
            .filter(|p| p.site_id == new.site_id)
            .count()
            >= MAX_PACKAGERS_PER_SITE
        {
            return Err(StoreError::InvalidInput {
                field: "name",
                reason: "the site already has 64 packager credentials",
            });
        }
        let packager = Packager {
            name: new.name.clone(),
            site_id: new.site_id,
            cid_prefix: new.cid_prefix,
            secret: new.secret,
            created_at: unix_now(),
        };
        let info = packager.info();
        packagers.insert(new.name, packager);
        Ok(info)
    }

    async fn packager(&self, name: &str) -> Result<Packager> {
        validate_packager_name(name).map_err(|_| StoreError::PackagerNotFound)?;
        lock(&self.packagers)
            .get(name)
            .cloned()
            .ok_or(StoreError::PackagerNotFound)
    }

    async fn list_packagers(&self, site_id: Option<&SiteId>) -> Result<Vec<PackagerInfo>> {
        Ok(lock(&self.packagers)
            .values()
            .filter(|p| site_id.is_none_or(|s| p.site_id == *s))
            .map(Packager::info)
            .collect())
    }

    async fn site_packagers(&self, site_id: &SiteId) -> Result<Vec<Packager>> {
        Ok(lock(&self.packagers)
            .values()
            .filter(|p| p.site_id == *site_id)
            .cloned()
            .collect())
    }

    async fn remove_packager(&self, name: &str) -> Result<()> {
        lock(&self.packagers)
            .remove(name)
            .map(|_| ())
            .ok_or(StoreError::PackagerNotFound)
    }

    async fn set_key_seed(&self, site_id: &SiteId, seed: Option<KeySeed>) -> Result<()> {
        let sites = lock(&self.sites);
        if !sites.contains_key(site_id) {
            return Err(StoreError::SiteNotFound);
        }
        let mut seeds = lock(&self.key_seeds);
        match seed {
            Some(seed) => {
                seeds.insert(site_id.clone(), seed);
            }
            None => {
                seeds.remove(site_id);
            }
        }
        Ok(())
    }

    async fn key_seed(&self, site_id: &SiteId) -> Result<Option<KeySeed>> {
        Ok(lock(&self.key_seeds).get(site_id).cloned())
    }
}
