//! Callback-mode state per site: a circuit breaker, a bound on concurrent
//! calls, and an optional short cache of positive answers (the calls
//! themselves are the gatekeeper's callback stage).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::breaker::Breaker;
pub(crate) use super::breaker::Gate;

use keyward_store::CallbackSettings;
use tokio::sync::Semaphore;

use crate::entitlement::Entitlement;

/// Per-site circuit breaker, concurrency bound and answer cache.
#[derive(Default)]
pub struct Callbacks {
    sites: Mutex<HashMap<String, Arc<SiteCallbacks>>>,
}

/// (user, content, DRM) of a cached positive answer.
pub(crate) type CacheKey = (String, String, String);

pub(crate) struct SiteCallbacks {
    pub(crate) permits: Semaphore,
    breaker: Breaker,
    pub(crate) cache: Mutex<HashMap<CacheKey, (Instant, Arc<Entitlement>)>>,
}

impl Callbacks {
    pub(crate) fn site(&self, site_id: &str, s: &CallbackSettings) -> Arc<SiteCallbacks> {
        let mut map = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(site_id.to_owned())
            .or_insert_with(|| {
                Arc::new(SiteCallbacks {
                    permits: Semaphore::new(s.max_concurrent as usize),
                    breaker: Breaker::default(),
                    cache: Mutex::new(HashMap::new()),
                })
            })
            .clone()
    }

    /// The breaker's state for a site, for logs and tests: (consecutive failures, open).
    pub fn breaker_state(&self, site_id: &str) -> (u32, bool) {
        let map = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(site_id) {
            None => (0, false),
            Some(s) => s.breaker.state(),
        }
    }

    /// Every site's breaker: (site, consecutive failures, open).
    pub fn breakers(&self) -> Vec<(String, u32, bool)> {
        let map = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(site, s)| {
                let (failures, open) = s.breaker.state();
                (site.clone(), failures, open)
            })
            .collect()
    }
}

impl SiteCallbacks {
    pub(crate) fn gate(&self) -> Gate {
        self.breaker.gate()
    }

    pub(crate) fn record(&self, site_id: &str, ok: bool, s: &CallbackSettings) {
        self.breaker.record(
            ok,
            s.breaker_failures,
            Duration::from_secs(u64::from(s.breaker_cooldown_secs)),
            "callback",
            site_id,
        );
    }
}
