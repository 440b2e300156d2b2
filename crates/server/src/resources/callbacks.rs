//! Callback-mode state per site: a circuit breaker, a bound on concurrent
//! calls, and an optional short cache of positive answers (the calls
//! themselves are the gatekeeper's callback stage).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    breaker: Mutex<Breaker>,
    pub(crate) cache: Mutex<HashMap<CacheKey, (Instant, Arc<Entitlement>)>>,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// A breaker decision for one call.
pub(crate) enum Gate {
    /// Calls go through.
    Closed,
    /// One probe after the cool-down.
    Probe,
    /// Failing fast for this long.
    Open(Duration),
}

impl Callbacks {
    pub(crate) fn site(&self, site_id: &str, s: &CallbackSettings) -> Arc<SiteCallbacks> {
        let mut map = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(site_id.to_owned())
            .or_insert_with(|| {
                Arc::new(SiteCallbacks {
                    permits: Semaphore::new(s.max_concurrent as usize),
                    breaker: Mutex::new(Breaker::default()),
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
            Some(s) => {
                let b = s.breaker.lock().unwrap_or_else(|e| e.into_inner());
                (b.failures, b.open_until.is_some_and(|t| t > Instant::now()))
            }
        }
    }
}

impl SiteCallbacks {
    pub(crate) fn gate(&self) -> Gate {
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match b.open_until {
            None => Gate::Closed,
            Some(t) if t > Instant::now() => Gate::Open(t - Instant::now()),
            Some(_) if b.probing => Gate::Open(Duration::ZERO),
            Some(_) => {
                b.probing = true;
                Gate::Probe
            }
        }
    }

    pub(crate) fn record(&self, site_id: &str, ok: bool, s: &CallbackSettings) {
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        b.probing = false;
        if ok {
            if b.open_until.is_some() || b.failures > 0 {
                tracing::info!(site = site_id, "callback recovered: circuit closed");
            }
            *b = Breaker::default();
            return;
        }
        b.failures = b.failures.saturating_add(1);
        if s.breaker_failures > 0 && b.failures >= s.breaker_failures {
            b.open_until =
                Some(Instant::now() + Duration::from_secs(u64::from(s.breaker_cooldown_secs)));
            tracing::warn!(
                site = site_id,
                failures = b.failures,
                cooldown_secs = s.breaker_cooldown_secs,
                "callback circuit open: failing fast"
            );
        }
    }
}
