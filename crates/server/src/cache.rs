//! The short-lived caches in front of the store (sites, content keys, Studio
//! clients and API keys): entries live for `cache_ttl_ms`; the admin API
//! drops the ones it changes at once (on every node of a cluster, through the
//! invalidation channel). While the store cannot be reached, an entry older
//! than the TTL still serves for `stale_if_error_ms` ([`TtlCache::get_stale`]).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A map whose entries are valid for `ttl`. When it holds more than `cap`
/// entries it starts over, so keys made up by clients cannot grow it without
/// bound. A poisoned lock counts as a miss (the caller reads the store).
pub(crate) struct TtlCache<K, V> {
    map: RwLock<HashMap<K, (Instant, Arc<V>)>>,
    ttl: Duration,
    /// How long past the TTL an entry may still serve when the store fails.
    stale: Duration,
    cap: usize,
    /// Look-ups that found a fresh entry, and those that did not (metrics).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Eq + Hash, V> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            ttl,
            stale: Duration::ZERO,
            cap,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The entry, if present and younger than the TTL.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let found = self.map.read().ok().and_then(|map| {
            let (at, v) = map.get(key)?;
            (at.elapsed() < self.ttl).then(|| v.clone())
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The same cache whose entries may serve for `stale` past the TTL when
    /// the store fails ([`TtlCache::get_stale`]).
    pub(crate) fn stale_for(mut self, stale: Duration) -> Self {
        self.stale = stale;
        self
    }

    /// The entry, if present and younger than the TTL plus the stale window:
    /// for when the store failed (a stale answer beats none for a licence).
    pub(crate) fn get_stale<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let limit = self.ttl.saturating_add(self.stale);
        self.map.read().ok().and_then(|map| {
            let (at, v) = map.get(key)?;
            (at.elapsed() < limit).then(|| v.clone())
        })
    }

    /// Drops every entry (another node changed something this one may have
    /// missed).
    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }

    /// (hits, misses) since the cache was made.
    pub(crate) fn lookups(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Stores `value` under `key`, fresh from now.
    pub(crate) fn insert(&self, key: K, value: Arc<V>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() > self.cap {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    /// Drops one entry.
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Ok(mut map) = self.map.write() {
            map.remove(key);
        }
    }

    /// Keeps only the entries for which `keep` is true.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|k, (_, v)| keep(k, v));
        }
    }
}
