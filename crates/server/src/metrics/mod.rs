//! Prometheus metrics (`/metrics`, Prometheus text format 0.0.4, encoded by
//! the `prometheus-client` crate): licences by front door, DRM, back door,
//! site and outcome code; latency per pipeline stage; upstream calls by route;
//! callback and session-webhook latency; breaker state; single-use and
//! stream-limit decisions; cache lookups; the audit queue; FairPlay
//! certificate expiry; build info. `docs/metrics.md` lists every series.
//!
//! Label values are bounded: every one is a registry value (codes, DRMs,
//! stages, doors) or something an operator configured (sites, upstream
//! routes). A site is named only once a credential for it verified; anything
//! a client merely claims is `unknown`. At most [`MAX_SITE_LABELS`] distinct
//! sites are named, the rest are `other`.
//!
//! The hot path is cheap: a licence costs one counter look-up (a read lock and
//! a hash of static strings and a shared site name, no allocation once the
//! series exists) and a few histogram observations on handles resolved once.
//!
//! This module depends on no other module of the crate (the state, the
//! pipeline, the resources and the edge all call into it); what it reports at
//! scrape time comes in a [`Snapshot`] through [`Source`].

mod scrape;

pub use scrape::{router, scrape, Source};

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use keyward_store::{FairPlayStore, SiteStore};
use keyward_token::DrmType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Latency buckets, seconds: 10 µs to 10 s, dense below a millisecond (a
/// ClearKey licence is tens of microseconds; an upstream call milliseconds).
pub const BUCKETS: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The most distinct site names used as label values; further sites are
/// counted as `other`.
pub const MAX_SITE_LABELS: usize = 10_000;

/// The site label of a request whose credential did not verify.
pub const UNKNOWN: &str = "unknown";

/// The git commit this binary was built from (`KEYWARD_GIT_SHA` at build
/// time, else the build script's `git rev-parse`), or `unknown`.
pub const GIT_SHA: &str = match option_env!("KEYWARD_GIT_SHA") {
    Some(s) => s,
    None => "unknown",
};

/// A latency histogram with [`BUCKETS`].
pub fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn histogram_family<L: Clone + std::hash::Hash + Eq>() -> HistogramFamily<L> {
    Family::new_with_constructor(histogram as fn() -> Histogram)
}

/// A pipeline stage, as timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Verifying and translating the credential.
    FrontDoor = 0,
    /// The gatekeeper's checks (single use, callbacks and webhooks included).
    Gatekeeper = 1,
    /// Issuing or brokering the licence (upstream calls included).
    BackDoor = 2,
    /// One call to a licence upstream.
    Upstream = 3,
}

const STAGE_NAMES: [&str; 4] = ["front_door", "gatekeeper", "back_door", "upstream"];

/// The DRM label values: [`DrmType::ALL`] in order, then `unknown`.
const DRM_SLOTS: usize = DrmType::ALL.len() + 1;

fn drm_slot(drm: Option<DrmType>) -> usize {
    drm.and_then(|d| DrmType::ALL.iter().position(|x| *x == d))
        .unwrap_or(DrmType::ALL.len())
}

fn drm_name(slot: usize) -> &'static str {
    DrmType::ALL.get(slot).map_or(UNKNOWN, |d| d.as_str())
}

/// Where one licence request went and how long each stage took. The pipeline
/// fills it; [`Metrics::licence`] records it.
#[derive(Debug)]
pub struct Laps {
    started: Instant,
    last: Instant,
    /// The front door (`pallycon`, `pallycon_v1`, `studio`, `expressplay`,
    /// `none` without a credential).
    pub front_door: &'static str,
    /// The back door (`clearkey`, `widevine`, …, `hls_key`; `none` when the
    /// request was refused before it).
    pub back_door: &'static str,
    /// The endpoint's DRM, when it serves exactly one (the label of a request
    /// refused before its credential named one).
    expected: Option<DrmType>,
    times: [Option<Duration>; 3],
}

impl Laps {
    /// Starts timing a request at `front_door` on an endpoint serving `drms`.
    pub fn start(front_door: &'static str, drms: &[DrmType]) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            front_door,
            back_door: "none",
            expected: match drms {
                [one] => Some(*one),
                _ => None,
            },
            times: [None; 3],
        }
    }

    /// The stage just ended (timed from the end of the previous one).
    pub fn lap(&mut self, stage: Stage) {
        let now = Instant::now();
        if let Some(t) = self.times.get_mut(stage as usize) {
            *t = Some(now - self.last);
        }
        self.last = now;
    }

    /// Time spent in the front door, the gatekeeper and the back door (`None`
    /// for a stage the request did not reach).
    pub fn times(&self) -> [Option<Duration>; 3] {
        self.times
    }

    /// Time since the request started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A site name shared by every series that carries it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SiteName(Arc<str>);

impl prometheus_client::encoding::EncodeLabelValue for SiteName {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        prometheus_client::encoding::EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

/// Site label values, interned and bounded.
struct SiteNames {
    map: RwLock<HashMap<Box<str>, SiteName>>,
    unknown: SiteName,
    other: SiteName,
}

impl SiteNames {
    fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            unknown: SiteName(Arc::from(UNKNOWN)),
            other: SiteName(Arc::from("other")),
        }
    }

    /// The label of a configured site (empty: `unknown`).
    fn get(&self, site: &str) -> SiteName {
        if site.is_empty() {
            return self.unknown.clone();
        }
        if let Ok(map) = self.map.read() {
            if let Some(n) = map.get(site) {
                return n.clone();
            }
        }
        let Ok(mut map) = self.map.write() else {
            return self.other.clone();
        };
        if let Some(n) = map.get(site) {
            return n.clone();
        }
        if map.len() >= MAX_SITE_LABELS {
            return self.other.clone();
        }
        let n = SiteName(Arc::from(site));
        map.insert(site.into(), n.clone());
        n
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LicenceLabels {
    front_door: &'static str,
    drm: &'static str,
    back_door: &'static str,
    site: SiteName,
    outcome: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DrmOutcome {
    drm: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
    drm: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    site: SiteName,
    route: String,
    kind: String,
    drm: &'static str,
    status: Cow<'static, str>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    site: SiteName,
    route: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    kind: &'static str,
    site: SiteName,
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PackagerLabels {
    protocol: &'static str,
    site: SiteName,
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProtocolLabel {
    protocol: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReplayLabels {
    namespace: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BreakerLabels {
    kind: &'static str,
    site: SiteName,
    route: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CertLabels {
    site: SiteName,
    cert: String,
}

/// The audit writer's own instruments (it owns them; the registry shows them).
#[derive(Clone, Debug)]
pub struct AuditInstruments {
    /// Time to hand one batch to the store, seconds.
    pub flush: Histogram,
    /// Events written.
    pub written: Counter,
    /// Events in batches the store refused.
    pub failed: Counter,
}

impl Default for AuditInstruments {
    fn default() -> Self {
        Self {
            flush: histogram(),
            written: Counter::default(),
            failed: Counter::default(),
        }
    }
}

/// An upstream call's result, as labelled.
#[derive(Clone, Copy, Debug)]
pub enum UpstreamStatus {
    /// The route answered with this HTTP status.
    Answered(u16),
    /// It did not answer (`timeout`, `connection_failed`, …).
    Failed(&'static str),
}

/// A circuit breaker's state at scrape time.
#[derive(Clone, Debug)]
pub struct BreakerState {
    /// `upstream` or `callback`.
    pub kind: &'static str,
    /// The site.
    pub site: String,
    /// The upstream route's name (`callback` for a site's callback).
    pub route: String,
    /// Consecutive failures.
    pub failures: u32,
    /// Open (failing fast) now.
    pub open: bool,
}

/// What the state reports at scrape time.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// (cache, hits, misses) since start.
    pub caches: Vec<(&'static str, u64, u64)>,
    /// Every breaker that exists.
    pub breakers: Vec<BreakerState>,
    /// Audit events waiting for the writer.
    pub audit_queue: usize,
}

/// How often FairPlay certificate expiry is re-read from the store.
const CERTIFICATES_EVERY: Duration = Duration::from_secs(60);

/// The registry and every instrument.
pub struct Metrics {
    registry: Registry,
    sites: SiteNames,
    licences: Family<LicenceLabels, Counter>,
    licence_seconds: HistogramFamily<DrmOutcome>,
    licence_handles: [[OnceLock<Histogram>; 2]; DRM_SLOTS],
    stage_seconds: HistogramFamily<StageLabels>,
    stage_handles: [[OnceLock<Histogram>; DRM_SLOTS]; 4],
    upstream_calls: Family<UpstreamLabels, Counter>,
    upstream_seconds: HistogramFamily<RouteLabels>,
    call_seconds: HistogramFamily<CallLabels>,
    packager: Family<PackagerLabels, Counter>,
    packager_seconds: HistogramFamily<ProtocolLabel>,
    replay: Family<ReplayLabels, Counter>,
    streams: Family<ResultLabel, Counter>,
    breaker_open: Family<BreakerLabels, Gauge>,
    breaker_failures: Family<BreakerLabels, Gauge>,
    cache_lookups: Family<CacheLabels, Counter>,
    audit_queue: Gauge,
    certificate_not_after: Family<CertLabels, Gauge>,
    certificates_read: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Every instrument, registered; `audit` are the audit writer's.
    pub fn new(audit: &AuditInstruments) -> Self {
        let mut r = Registry::default();
        let m = Self {
            registry: Registry::default(),
            sites: SiteNames::new(),
            licences: Family::default(),
            licence_seconds: histogram_family(),
            licence_handles: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            stage_seconds: histogram_family(),
            stage_handles: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            upstream_calls: Family::default(),
            upstream_seconds: histogram_family(),
            call_seconds: histogram_family(),
            packager: Family::default(),
            packager_seconds: histogram_family(),
            replay: Family::default(),
            streams: Family::default(),
            breaker_open: Family::default(),
            breaker_failures: Family::default(),
            cache_lookups: Family::default(),
            audit_queue: Gauge::default(),
            certificate_not_after: Family::default(),
            certificates_read: Mutex::new(None),
        };
        r.register(
            "keyward_build",
            "The running build: version and git commit",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("git_sha", GIT_SHA),
            ]),
        );
        let start: Gauge = Gauge::default();
        start.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        );
        r.register(
            "keyward_start_time_seconds",
            "When this process started, unix seconds",
            start,
        );
        r.register(
            "keyward_licences",
            "Licence requests by front door, DRM, back door, site (unknown until a credential verified), outcome (granted, refused) and code (ok or the refusal code)",
            m.licences.clone(),
        );
        r.register(
            "keyward_licence_duration_seconds",
            "Time to answer a licence request, whole pipeline",
            m.licence_seconds.clone(),
        );
        r.register(
            "keyward_stage_duration_seconds",
            "Time spent in one pipeline stage (front_door, gatekeeper, back_door) or one upstream call (upstream)",
            m.stage_seconds.clone(),
        );
        r.register(
            "keyward_upstream_requests",
            "Calls to licence upstreams by site, route, kind, DRM and status (the HTTP status, or why there was none: timeout, connection_failed, circuit_open, busy, unreadable, no_client)",
            m.upstream_calls.clone(),
        );
        r.register(
            "keyward_upstream_duration_seconds",
            "Time of one call to a licence upstream, by site and route",
            m.upstream_seconds.clone(),
        );
        r.register(
            "keyward_callback_duration_seconds",
            "Time of the gatekeeper's outbound decisions: kind callback (PallyCon callback page, cached answers included) or session (Studio session webhook), by site and result (ok or the refusal code)",
            m.call_seconds.clone(),
        );
        r.register(
            "keyward_packager_requests",
            "Key-server requests by protocol (widevine-key-api, playready-packaging, cpix, speke, pallycon-kms), site (unknown until the credential verified) and result (ok, the protocol's status or the refusal code)",
            m.packager.clone(),
        );
        r.register(
            "keyward_packager_duration_seconds",
            "Time to answer a key-server request, by protocol",
            m.packager_seconds.clone(),
        );
        r.register(
            "keyward_replay_decisions",
            "Single-use / max-uses decisions: accepted, replayed (already used up), unverifiable, error (store)",
            m.replay.clone(),
        );
        r.register(
            "keyward_stream_decisions",
            "Concurrent-stream decisions for entitlements with a stream limit: admitted, refused",
            m.streams.clone(),
        );
        r.register(
            "keyward_breaker_open",
            "1 while a circuit breaker fails fast, else 0 (kind upstream: per route; kind callback: per site)",
            m.breaker_open.clone(),
        );
        r.register(
            "keyward_breaker_consecutive_failures",
            "Consecutive failures a circuit breaker has counted",
            m.breaker_failures.clone(),
        );
        r.register(
            "keyward_cache_lookups",
            "Look-ups in the in-memory caches (sites, keys, clients, api_keys, fairplay, upstream_routes) by result (hit, miss)",
            m.cache_lookups.clone(),
        );
        r.register(
            "keyward_audit_queue_depth",
            "Audit events waiting for the audit writer",
            m.audit_queue.clone(),
        );
        r.register(
            "keyward_audit_flush_duration_seconds",
            "Time to write one batch of audit events to the store",
            audit.flush.clone(),
        );
        r.register(
            "keyward_audit_events_written",
            "Audit events written to the store",
            audit.written.clone(),
        );
        r.register(
            "keyward_audit_events_failed",
            "Audit events in batches the store could not write",
            audit.failed.clone(),
        );
        r.register(
            "keyward_fairplay_certificate_not_after_seconds",
            "Expiry (notAfter, unix seconds) of each stored FairPlay application certificate, by site and certificate hash",
            m.certificate_not_after.clone(),
        );
        Self { registry: r, ..m }
    }

    fn stage(&self, stage: usize, drm: usize) -> &Histogram {
        self.stage_handles[stage][drm].get_or_init(|| {
            self.stage_seconds.get_or_create_owned(&StageLabels {
                stage: STAGE_NAMES[stage],
                drm: drm_name(drm),
            })
        })
    }

    /// Records one licence request: `verified` is the credential's (site, DRM)
    /// once it verified; `refused` the refusal code, if any.
    pub fn licence(
        &self,
        laps: &Laps,
        verified: Option<(&str, DrmType)>,
        refused: Option<&'static str>,
    ) {
        let drm = drm_slot(verified.map(|v| v.1).or(laps.expected));
        let site = match verified {
            Some((s, _)) => self.sites.get(s),
            None => self.sites.unknown.clone(),
        };
        let (outcome, code) = match refused {
            None => ("granted", "ok"),
            Some(c) => ("refused", c),
        };
        self.licences
            .get_or_create(&LicenceLabels {
                front_door: laps.front_door,
                drm: drm_name(drm),
                back_door: laps.back_door,
                site,
                outcome,
                code,
            })
            .inc();
        for (stage, t) in laps.times.iter().enumerate() {
            if let Some(t) = t {
                self.stage(stage, drm).observe(t.as_secs_f64());
            }
        }
        let o = usize::from(refused.is_some());
        self.licence_handles[drm][o]
            .get_or_init(|| {
                self.licence_seconds.get_or_create_owned(&DrmOutcome {
                    drm: drm_name(drm),
                    outcome,
                })
            })
            .observe(laps.elapsed().as_secs_f64());
    }

    /// Records one call to a licence upstream.
    pub fn upstream(
        &self,
        site: &str,
        route: &str,
        kind: &str,
        drm: DrmType,
        status: UpstreamStatus,
        took: Duration,
    ) {
        let site = self.sites.get(site);
        let status = match status {
            UpstreamStatus::Answered(s) => Cow::Owned(s.to_string()),
            UpstreamStatus::Failed(why) => Cow::Borrowed(why),
        };
        self.upstream_calls
            .get_or_create(&UpstreamLabels {
                site: site.clone(),
                route: route.to_owned(),
                kind: kind.to_owned(),
                drm: drm.as_str(),
                status,
            })
            .inc();
        let secs = took.as_secs_f64();
        self.upstream_seconds
            .get_or_create(&RouteLabels {
                site,
                route: route.to_owned(),
            })
            .observe(secs);
        self.stage(Stage::Upstream as usize, drm_slot(Some(drm)))
            .observe(secs);
    }

    /// Records one callback or session-webhook decision (`kind` `callback` or
    /// `session`; `result` `ok` or the refusal code).
    pub fn call(&self, kind: &'static str, site: &str, result: &'static str, took: Duration) {
        self.call_seconds
            .get_or_create(&CallLabels {
                kind,
                site: self.sites.get(site),
                result,
            })
            .observe(took.as_secs_f64());
    }

    /// Records one key-server request: `protocol` (`widevine-key-api`,
    /// `playready-packaging`, `cpix`, `speke`, `pallycon-kms`), the credential's
    /// site (`unknown` before it authenticated), `result` (`ok`, a protocol status
    /// or a refusal code: registered, static text).
    pub fn packager(
        &self,
        protocol: &'static str,
        site: &str,
        result: &'static str,
        took: Duration,
    ) {
        self.packager
            .get_or_create(&PackagerLabels {
                protocol,
                site: self.sites.get(site),
                result,
            })
            .inc();
        self.packager_seconds
            .get_or_create(&ProtocolLabel { protocol })
            .observe(took.as_secs_f64());
    }

    /// Records a single-use decision (`accepted`, `replayed`, `unverifiable`,
    /// `error`).
    pub fn replay(&self, namespace: &'static str, result: &'static str) {
        self.replay
            .get_or_create(&ReplayLabels { namespace, result })
            .inc();
    }

    /// Records a concurrent-stream decision (`admitted`, `refused`).
    pub fn streams(&self, result: &'static str) {
        self.streams.get_or_create(&ResultLabel { result }).inc();
    }

    /// Brings the scrape-time series up to date: caches, breakers, the audit
    /// queue, and (at most every minute) FairPlay certificate expiry.
    pub async fn refresh(
        &self,
        snap: Snapshot,
        sites: &dyn SiteStore,
        fairplay: &dyn FairPlayStore,
    ) {
        for (cache, hits, misses) in snap.caches {
            for (result, v) in [("hit", hits), ("miss", misses)] {
                self.cache_lookups
                    .get_or_create(&CacheLabels { cache, result })
                    .inner()
                    .store(v, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // Breakers come and go with routes: the series are rebuilt.
        self.breaker_open.clear();
        self.breaker_failures.clear();
        for b in snap.breakers {
            let l = BreakerLabels {
                kind: b.kind,
                site: self.sites.get(&b.site),
                route: b.route,
            };
            self.breaker_open
                .get_or_create(&l)
                .set(i64::from(u8::from(b.open)));
            self.breaker_failures
                .get_or_create(&l)
                .set(i64::from(b.failures));
        }
        self.audit_queue
            .set(i64::try_from(snap.audit_queue).unwrap_or(i64::MAX));
        self.refresh_certificates(sites, fairplay).await;
    }

    async fn refresh_certificates(&self, sites: &dyn SiteStore, fairplay: &dyn FairPlayStore) {
        {
            let Ok(mut last) = self.certificates_read.lock() else {
                return;
            };
            if last.is_some_and(|t| t.elapsed() < CERTIFICATES_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let all = match sites.sites().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: sites could not be listed for FairPlay certificate expiry");
                return;
            }
        };
        let mut found = Vec::new();
        for site in all {
            let Ok(infos) = fairplay.fairplay_credential_infos(&site.site_id).await else {
                continue;
            };
            for info in infos {
                if let Ok(cert) = keyward_drm::fairplay::FpsCertificate::parse(&info.cert_der) {
                    found.push((
                        CertLabels {
                            site: self.sites.get(info.site_id.as_str()),
                            cert: info.cert_hash_hex(),
                        },
                        cert.not_after,
                    ));
                }
            }
        }
        self.certificate_not_after.clear();
        for (l, not_after) in found {
            self.certificate_not_after.get_or_create(&l).set(not_after);
        }
    }

    /// The exposition (Prometheus text format 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_are_bounded_and_shared() {
        let n = SiteNames::new();
        let a = n.get("TEST");
        assert!(Arc::ptr_eq(&a.0, &n.get("TEST").0));
        assert_eq!(&*n.get("").0, UNKNOWN);
        for i in 0..MAX_SITE_LABELS + 5 {
            n.get(&format!("S{i}"));
        }
        assert_eq!(&*n.get("NEW-ONE").0, "other");
        assert_eq!(n.map.read().map(|m| m.len()).unwrap_or(0), MAX_SITE_LABELS);
    }

    #[test]
    fn laps_time_each_stage_and_label_the_drm() {
        let m = Metrics::new(&AuditInstruments::default());
        let mut laps = Laps::start("pallycon", &[DrmType::ClearKey]);
        laps.lap(Stage::FrontDoor);
        m.licence(&laps, None, Some("7010"));
        let text = m.encode();
        assert!(
            text.contains(r#"keyward_licences_total{front_door="pallycon",drm="ClearKey",back_door="none",site="unknown",outcome="refused",code="7010"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"keyward_stage_duration_seconds_count{stage="front_door",drm="ClearKey"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"keyward_build_info{version=""#), "{text}");
    }
}
