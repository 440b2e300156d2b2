//! The application state handed to every handler: the configuration, the
//! store, the resources the pipeline consults (caches, geo and VPN data,
//! callback breakers, the outbound client, sealing keys), the back-door
//! registry and the stream gate.
//!
//! A licence request needs the site's keys and settings and the content's
//! keys; reading SQLite for each would dominate the request. Cached entries
//! live for `cache_ttl_ms`; the admin API drops entries it changes at once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyward_store::Stores;
use keyward_token::SiteCredentials;

use crate::backdoor::BackDoors;
use crate::config::Config;
use crate::refusal::Refusal;
use crate::resources::callbacks::Callbacks;
use crate::resources::clients::ClientCache;
use crate::resources::dask::DaskProvider;
use crate::resources::fairplay::FairPlayCredentials;
use crate::resources::geo::GeoDb;
use crate::resources::keys::KeyCache;
use crate::resources::outbound::Outbound;
use crate::resources::sites::{SiteCache, SiteEntry};
use crate::resources::token_keys::{self, TokenKeys};
use crate::resources::upstreams::Upstreams;
use crate::resources::vpn::VpnLists;
use crate::streams::{Slots, StreamGate};

/// The application state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    config: Config,
    decisions: crate::decisions::DecisionLog,
    sites: SiteCache,
    keys: KeyCache,
    clients: ClientCache,
    geo: Option<GeoDb>,
    vpn: VpnLists,
    outbound: Outbound,
    callbacks: Callbacks,
    demo_token: Option<DemoMinter>,
    audit: crate::audit::AuditSink,
    backdoors: BackDoors,
    fairplay: Arc<FairPlayCredentials>,
    dask: Arc<DaskProvider>,
    upstreams: Arc<Upstreams>,
    streams: Box<dyn StreamGate>,
    token_keys: OnceLock<Arc<TokenKeys>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    cluster: Option<Arc<crate::cluster::Cluster>>,
    rate_limits: crate::limits::RateLimits,
    tracer: crate::otlp::Tracer,
}

/// A handle to the state that does not keep it alive (the cache-invalidation
/// subscriber holds one).
#[derive(Clone)]
pub struct WeakAppState(std::sync::Weak<Inner>);

impl WeakAppState {
    /// The state, while the server runs.
    pub fn upgrade(&self) -> Option<AppState> {
        self.0.upgrade().map(|inner| AppState { inner })
    }
}

/// Mints demo tokens (demo mode only).
pub struct DemoMinter {
    /// The demo site's credentials.
    pub creds: SiteCredentials,
}

impl AppState {
    /// Builds the state over the store handles (one per concern; an
    /// `Arc<dyn Store>` converts, serving every concern).
    pub fn new(stores: impl Into<Stores>, config: Config, demo: Option<DemoMinter>) -> Self {
        Self::node(stores, config, demo, None)
    }

    /// Builds the state of one node of a cluster (`cluster`: Redis and the
    /// invalidation channel; `None` on a single node).
    pub fn node(
        stores: impl Into<Stores>,
        config: Config,
        demo: Option<DemoMinter>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
    ) -> Self {
        let stores = stores.into();
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        let stale = Duration::from_millis(config.stale_if_error_ms);
        let audit = crate::audit::AuditSink::start(stores.audit.clone());
        let fairplay = Arc::new(FairPlayCredentials::new(stores.fairplay.clone(), ttl));
        let dask = Arc::new(DaskProvider::new(config.fairplay.dask.clone()));
        let metrics = config
            .metrics
            .enabled
            .then(|| Arc::new(crate::metrics::Metrics::new(audit.instruments())));
        let upstreams = Arc::new(
            Upstreams::new(stores.upstreams.clone(), ttl, audit.clone())
                .with_metrics(metrics.clone()),
        );
        let backdoors = BackDoors::standard(
            crate::backdoor::fairplay::FairPlay {
                credentials: fairplay.clone(),
                upstreams: upstreams.clone(),
                dask: dask.clone(),
                unenforceable: config.fairplay.unenforceable_output,
            },
            crate::backdoor::brokered::Widevine::new(upstreams.clone()),
        );
        let limiter: Arc<dyn keyward_cluster::RateLimit> = match &cluster {
            Some(c) => Arc::new(c.redis().rate_limiter()),
            None => Arc::new(keyward_cluster::LocalRateLimiter::new()),
        };
        let rate_limits = crate::limits::RateLimits::new(&config.rate_limits, limiter);
        let tracer = crate::otlp::Tracer::start(&config.tracing);
        let streams = Box::new(Slots::new(stores.streams.clone(), config.streams.clone()));
        Self {
            inner: Arc::new(Inner {
                decisions: crate::decisions::DecisionLog::new(config.decisions_ring),
                sites: SiteCache::new(stores.sites.clone(), ttl, stale),
                keys: KeyCache::new(stores.keys.clone(), ttl, stale),
                clients: ClientCache::new(stores.clients.clone(), ttl, stale),
                geo: config.gatekeeper.geoip_db.as_deref().map(GeoDb::new),
                vpn: VpnLists::new(&config.gatekeeper.vpn_lists),
                outbound: Outbound::default(),
                callbacks: Callbacks::default(),
                stores,
                config,
                demo_token: demo,
                audit,
                backdoors,
                fairplay,
                dask,
                upstreams,
                streams,
                token_keys: OnceLock::new(),
                metrics,
                cluster,
                rate_limits,
                tracer,
            }),
        }
    }

    /// The store handles, one per concern.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// The decision debugger's ring of recent licence decisions.
    pub fn decisions(&self) -> &crate::decisions::DecisionLog {
        &self.inner.decisions
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
    pub fn callbacks(&self) -> &Callbacks {
        &self.inner.callbacks
    }

    /// The Studio client caches.
    pub fn clients(&self) -> &ClientCache {
        &self.inner.clients
    }

    /// The content-key cache.
    pub fn key_cache(&self) -> &KeyCache {
        &self.inner.keys
    }

    /// The geo database, when configured.
    pub fn geo(&self) -> Option<&GeoDb> {
        self.inner.geo.as_ref()
    }

    /// The VPN / Tor lists.
    pub fn vpn(&self) -> &VpnLists {
        &self.inner.vpn
    }

    /// The outbound HTTP client (webhooks, callbacks).
    pub fn outbound(&self) -> &Outbound {
        &self.inner.outbound
    }

    /// The back-door registry.
    pub fn backdoors(&self) -> &BackDoors {
        &self.inner.backdoors
    }

    /// The sites' FairPlay credentials.
    pub fn fairplay(&self) -> &FairPlayCredentials {
        &self.inner.fairplay
    }

    /// The sites' licence upstreams.
    pub fn upstreams(&self) -> &Upstreams {
        &self.inner.upstreams
    }

    /// The FairPlay D function provider.
    pub fn dask(&self) -> &DaskProvider {
        &self.inner.dask
    }

    /// The metrics instruments, when metrics are enabled.
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.inner.metrics.as_deref()
    }

    /// The concurrent-stream gate.
    pub fn streams(&self) -> &dyn StreamGate {
        self.inner.streams.as_ref()
    }

    /// The ExpressPlay token sealing keys (configured, or the data
    /// directory's), loaded once.
    pub fn expressplay_keys(&self) -> Result<Arc<TokenKeys>, Refusal> {
        if let Some(k) = self.inner.token_keys.get() {
            return Ok(k.clone());
        }
        let c = &self.inner.config;
        let keys = token_keys::load_keys(
            &c.data_dir,
            c.token_key.as_ref().map(|k| k.expose()),
            c.token_keys_previous.as_ref().map(|k| k.expose()),
        )
        .map_err(crate::refusal::expressplay::internal)?;
        Ok(self.inner.token_keys.get_or_init(|| Arc::new(keys)).clone())
    }

    /// The demo minter, in demo mode.
    pub fn demo(&self) -> Option<&DemoMinter> {
        self.inner.demo_token.as_ref()
    }

    /// The site, from cache or store. Unknown → 1003.
    pub async fn site(&self, site_id: &str) -> Result<Arc<SiteEntry>, Refusal> {
        self.inner.sites.site(site_id).await
    }

    /// Drops cached entries for a site (after an admin change), here and —
    /// in a cluster — on every other node.
    pub fn invalidate(&self, site_id: &str) {
        self.invalidate_local(site_id);
        if let Some(c) = &self.inner.cluster {
            c.publish(keyward_cluster::CacheKind::Site, site_id);
        }
    }

    /// Drops a Studio client's cached entries (after an admin change), here
    /// and on every other node.
    pub fn client_changed(&self, name: &str) {
        self.inner.clients.invalidate(name);
        if let Some(c) = &self.inner.cluster {
            c.publish(keyward_cluster::CacheKind::Client, name);
        }
    }

    /// Drops this node's cached entries for a site.
    pub fn invalidate_local(&self, site_id: &str) {
        self.inner.sites.invalidate(site_id);
        self.inner.keys.invalidate(site_id);
        self.inner.fairplay.invalidate(site_id);
        self.inner.upstreams.invalidate(site_id);
    }

    /// Drops every cached site, key, client, FairPlay credential and upstream
    /// route of this node.
    pub fn clear_caches(&self) {
        let i = &self.inner;
        i.sites.clear();
        i.keys.clear();
        i.clients.clear();
        i.fairplay.clear();
        i.upstreams.clear();
    }

    /// The OTLP trace exporter (off unless `[tracing] otlp_endpoint`).
    pub fn tracer(&self) -> &crate::otlp::Tracer {
        &self.inner.tracer
    }

    /// The licence request rate limits.
    pub fn rate_limits(&self) -> &crate::limits::RateLimits {
        &self.inner.rate_limits
    }

    /// The cluster this node belongs to, if any.
    pub fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.inner.cluster.as_deref()
    }

    /// In a cluster, starts this node's cache-invalidation subscriber: each
    /// message drops the entries it names, a (re)connection drops them all.
    /// Keep the subscription for as long as the server runs.
    pub fn follow_cluster(&self) -> Option<keyward_cluster::Subscription> {
        use keyward_cluster::{CacheKind, InvalidationEvent};
        let weak = self.downgrade();
        self.cluster().map(|c| {
            c.subscribe(move |event| {
                let Some(state) = weak.upgrade() else {
                    return;
                };
                match event {
                    InvalidationEvent::Flush => state.clear_caches(),
                    InvalidationEvent::Invalidate { kind, id } => match kind {
                        CacheKind::Client => state.clients().invalidate(&id),
                        // Customers are not cached.
                        CacheKind::Customer => {}
                        _ => state.invalidate_local(&id),
                    },
                }
            })
        })
    }

    /// A handle that does not keep the state alive.
    pub fn downgrade(&self) -> WeakAppState {
        WeakAppState(Arc::downgrade(&self.inner))
    }
}

impl crate::metrics::Source for AppState {
    fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        AppState::metrics(self)
    }

    fn snapshot(&self) -> crate::metrics::Snapshot {
        let i = &self.inner;
        let [clients, api_keys] = i.clients.lookups();
        let caches = [
            ("sites", i.sites.lookups()),
            ("keys", i.keys.lookups()),
            ("clients", clients),
            ("api_keys", api_keys),
            ("fairplay", i.fairplay.lookups()),
            ("upstream_routes", i.upstreams.lookups()),
        ];
        let mut breakers: Vec<_> = i
            .upstreams
            .breakers()
            .into_iter()
            .map(
                |(site, route, failures, open)| crate::metrics::BreakerState {
                    kind: "upstream",
                    site,
                    route,
                    failures,
                    open,
                },
            )
            .collect();
        breakers.extend(
            i.callbacks
                .breakers()
                .into_iter()
                .map(|(site, failures, open)| crate::metrics::BreakerState {
                    kind: "callback",
                    site,
                    route: "callback".into(),
                    failures,
                    open,
                }),
        );
        crate::metrics::Snapshot {
            caches: caches.iter().map(|(n, (h, m))| (*n, *h, *m)).collect(),
            breakers,
            audit_queue: i.audit.queued(),
        }
    }

    fn certificate_stores(
        &self,
    ) -> (
        Arc<dyn keyward_store::SiteStore>,
        Arc<dyn keyward_store::FairPlayStore>,
    ) {
        let s = &self.inner.stores;
        (s.sites.clone(), s.fairplay.clone())
    }
}
