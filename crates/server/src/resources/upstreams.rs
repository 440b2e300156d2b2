//! Licence upstreams: the services a site forwards challenges to when keyward
//! cannot issue the licence itself (a FairPlay KSM today; Widevine and
//! PlayReady services next), as an ordered list per site and DRM — the
//! primary, then failover.
//!
//! This module owns the outbound half: the routes (cached, with their parsed
//! settings), one pooled HTTP client (keep-alive, rustls, no redirects), per
//! route a total timeout, a concurrency bound and a circuit breaker, and the
//! failover rule: the next route is tried on a connection error, a timeout, a
//! 5xx without a body, an open breaker or a full route — never after a
//! definite answer (which the caller judges). Secrets are header values, sent
//! and never logged — except private ones, which a kind reads itself (a
//! signing key) and which never leave keyward: those named `keyward-…`, and
//! those a request withholds ([`Outgoing::withhold`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_store::{Drm, SiteId, StoreError, Upstream, UpstreamStore};

use serde::Deserialize;
use tokio::sync::Semaphore;

use super::breaker::{Breaker, Gate};
use crate::audit::AuditSink;
use crate::cache::TtlCache;
use crate::codes;
use crate::refusal::Refusal;

/// Longest answer body read from an upstream.
const MAX_ANSWER: usize = 1 << 20;

/// The settings every route has; the kind's own settings are in `extra`
/// (checked by the kind, see `backdoor::upstream`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RouteSettings {
    /// Plain request headers (secret ones are the upstream's secrets).
    pub headers: BTreeMap<String, String>,
    /// Total time for one call, milliseconds (default 3000, 1–60000).
    pub timeout_ms: u64,
    /// Calls in flight at once (default 64, 1–4096).
    pub max_concurrent: u32,
    /// Consecutive failures that open the breaker (default 5; 0 = never).
    pub breaker_failures: u32,
    /// Seconds an open breaker fails fast (default 30).
    pub breaker_cooldown_secs: u32,
    /// The kind's own settings.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for RouteSettings {
    fn default() -> Self {
        Self {
            headers: BTreeMap::new(),
            timeout_ms: 3000,
            max_concurrent: 64,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            extra: serde_json::Map::new(),
        }
    }
}

/// Secrets whose names start with this (ASCII case-insensitively) are the
/// kind's own (a signing key): never sent as headers.
pub const PRIVATE_SECRET_PREFIX: &str = "keyward-";

/// Is this secret private (read by the kind, never sent as a header)?
pub fn is_private_secret(name: &str) -> bool {
    name.as_bytes()
        .get(..PRIVATE_SECRET_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(PRIVATE_SECRET_PREFIX.as_bytes()))
}

/// Is this a header name keyward sends (`A-Z a-z 0-9 - _`, at most 64)?
pub fn header_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses and checks the settings every route has; the kind's own are left
/// in `extra`.
///
/// # Errors
/// A message naming the setting.
pub fn common_settings(
    settings: &serde_json::Value,
    secret_names: &[&str],
) -> Result<RouteSettings, String> {
    if !settings.is_object() {
        return Err("settings must be a JSON object".into());
    }
    let s: RouteSettings = serde_json::from_value(settings.clone())
        .map_err(|e| format!("settings: {}", crate::json::serde_message(&e)))?;
    if !(1..=60_000).contains(&s.timeout_ms) {
        return Err("settings.timeout_ms must be 1 to 60000".into());
    }
    if !(1..=4096).contains(&s.max_concurrent) {
        return Err("settings.max_concurrent must be 1 to 4096".into());
    }
    for (k, v) in &s.headers {
        if !header_name_ok(k) || v.len() > 4096 || v.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(
                "settings.headers: names of A-Z a-z 0-9 - _ (at most 64), printable values".into(),
            );
        }
    }
    for n in secret_names {
        if !header_name_ok(n) {
            return Err(
                "secrets are header values: their names must be header names (A-Z a-z 0-9 - _)"
                    .into(),
            );
        }
    }
    Ok(s)
}

/// One route: the stored upstream, its parsed settings, and its live state.
pub struct Route {
    /// The stored upstream (secrets included: never log it).
    pub upstream: Upstream,
    /// Parsed settings.
    pub settings: RouteSettings,
    live: Arc<Live>,
    /// The URL, parsed once (`None` when it does not parse: a call then fails
    /// as "connection failed", as it would in the client).
    url: Option<reqwest::Url>,
    /// `site/name`.
    label: String,
}

impl Route {
    fn new(upstream: Upstream, settings: RouteSettings, live: Arc<Live>) -> Self {
        let url = reqwest::Url::parse(&upstream.url).ok();
        let label = format!("{}/{}", upstream.site_id.as_str(), upstream.name);
        Self {
            upstream,
            settings,
            live,
            url,
            label,
        }
    }

    /// `site/name` for logs.
    pub fn label(&self) -> &str {
        &self.label
    }
}

struct Live {
    breaker: Breaker,
    permits: Semaphore,
}

/// A request to send on a route.
#[derive(Default)]
pub struct Outgoing {
    /// Body.
    pub body: Vec<u8>,
    /// Media type.
    pub content_type: &'static str,
    /// Headers the kind adds (its protocol's: a route's own header or secret of
    /// the same name is not sent).
    pub headers: Vec<(String, String)>,
    /// Appended to the route's URL as its query (after `&` when the URL has
    /// one already).
    pub query: Option<String>,
    /// Secrets the kind used itself (a signing key): never sent as headers.
    pub withhold: &'static [&'static str],
}

impl Outgoing {
    /// A body of a media type, no extra headers, the route's URL as stored.
    pub fn new(body: Vec<u8>, content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            ..Self::default()
        }
    }

    /// The URL to call on a route: the route's, parsed once, when the kind
    /// adds no query; else the route's with the query, parsed now.
    fn url(&self, route: &Route) -> Result<reqwest::Url, &'static str> {
        let base = route.upstream.url.as_str();
        let joined = match (&self.query, &route.url) {
            (None, Some(u)) => return Ok(u.clone()),
            (None, None) => return Err("connection failed"),
            (Some(q), _) if base.contains('?') => format!("{base}&{q}"),
            (Some(q), _) => format!("{base}?{q}"),
        };
        reqwest::Url::parse(&joined).map_err(|_| "connection failed")
    }
}

/// What came back from a route that answered.
pub struct Answered {
    /// HTTP status.
    pub status: u16,
    /// Body (at most 1 MiB).
    pub body: Vec<u8>,
    /// Its media type, if any.
    pub content_type: Option<String>,
    /// Its headers (names lowercase; values that are not visible ASCII are
    /// left out; at most [`MAX_ANSWER_HEADERS`]), for kinds whose protocol
    /// answers in headers. Never relayed to the player.
    pub headers: Vec<(String, String)>,
}

/// The most answer headers kept in [`Answered::headers`].
pub const MAX_ANSWER_HEADERS: usize = 64;

impl Answered {
    /// The first value of a header (name ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The routes of every site, and the client that calls them.
pub struct Upstreams {
    store: Arc<dyn UpstreamStore>,
    routes: TtlCache<(String, Drm), Vec<Arc<Route>>>,
    live: Mutex<HashMap<(String, String), Arc<Live>>>,
    http: std::sync::OnceLock<Option<reqwest::Client>>,
    /// Every call is recorded (route, status, latency; kind `upstream`).
    audit: AuditSink,
    /// Every call is counted and timed, when metrics are on.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Upstreams {
    /// An empty cache over the store.
    pub fn new(store: Arc<dyn UpstreamStore>, ttl: Duration, audit: AuditSink) -> Self {
        Self {
            store,
            audit,
            routes: TtlCache::new(ttl, 10_000),
            live: Mutex::new(HashMap::new()),
            http: std::sync::OnceLock::new(),
            metrics: None,
        }
    }

    /// Counts and times every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<crate::metrics::Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Every route breaker: (site, route, consecutive failures, open).
    pub fn breakers(&self) -> Vec<(String, String, u32, bool)> {
        let map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|((site, name), l)| {
                let (failures, open) = l.breaker.state();
                (site.clone(), name.clone(), failures, open)
            })
            .collect()
    }

    /// (hits, misses) of the route cache (metrics).
    pub fn lookups(&self) -> (u64, u64) {
        self.routes.lookups()
    }

    fn client(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(Duration::from_secs(2))
                    .pool_idle_timeout(Duration::from_secs(60))
                    .tcp_nodelay(true)
                    .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION"), " upstream"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// A site's routes for a DRM, in order (empty when none).
    ///
    /// # Errors
    /// A store failure; a stored upstream whose settings no longer parse.
    pub async fn routes(&self, site_id: &str, drm: Drm) -> Result<Arc<Vec<Arc<Route>>>, Refusal> {
        let key = (site_id.to_owned(), drm);
        if let Some(hit) = self.routes.get(&key) {
            return Ok(hit);
        }
        let id = SiteId::parse(site_id).map_err(|_| Refusal::new(codes::SITE_NOT_FOUND))?;
        let stored = match self.store.upstreams(&id, drm).await {
            Ok(s) => s,
            Err(StoreError::SiteNotFound) => return Err(Refusal::new(codes::SITE_NOT_FOUND)),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::with_capacity(stored.len());
        for u in stored {
            let names: Vec<&str> = u.secrets.keys().map(String::as_str).collect();
            let settings = common_settings(&u.settings, &names).map_err(|m| {
                Refusal::internal(format!(
                    "stored upstream {}/{} does not validate: {m}",
                    site_id, u.name
                ))
            })?;
            let live = {
                let mut map = self.live.lock().unwrap_or_else(|e| e.into_inner());
                map.entry((site_id.to_owned(), u.name.clone()))
                    .or_insert_with(|| {
                        Arc::new(Live {
                            breaker: Breaker::default(),
                            permits: Semaphore::new(settings.max_concurrent as usize),
                        })
                    })
                    .clone()
            };
            out.push(Arc::new(Route::new(u, settings, live)));
        }
        let out = Arc::new(out);
        self.routes.insert(key, out.clone());
        Ok(out)
    }

    /// Drops every cached route (live breaker state stays: routes that still
    /// exist keep their breakers).
    pub fn clear(&self) {
        self.routes.clear();
    }

    /// Drops a site's cached routes (after an admin change); live state
    /// (breakers) of removed routes goes too.
    pub fn invalidate(&self, site_id: &str) {
        self.routes.retain(|(s, _), _| s != site_id);
        let mut map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(s, _), _| s != site_id);
    }

    /// The breaker state of a route: (consecutive failures, open).
    pub fn breaker_state(&self, site_id: &str, name: &str) -> (u32, bool) {
        let map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(site_id.to_owned(), name.to_owned()))
            .map_or((0, false), |l| l.breaker.state())
    }

    /// Sends one request on one route (no failover): `Ok` when the route
    /// answered, `Err(reason)` when it did not (connection, timeout, 5xx
    /// without a body, breaker open, route full). Records the outcome.
    pub async fn send(
        &self,
        route: &Route,
        out: &Outgoing,
        request_id: &str,
    ) -> Result<Answered, &'static str> {
        let s = &route.settings;
        let label = route.label();
        let started = Instant::now();
        let metered = |status: crate::metrics::UpstreamStatus| {
            if let Some(m) = &self.metrics {
                let u = &route.upstream;
                m.upstream(
                    u.site_id.as_str(),
                    &u.name,
                    &u.kind,
                    u.drm,
                    status,
                    started.elapsed(),
                );
            }
        };
        use crate::metrics::UpstreamStatus as Metered;
        match route.live.breaker.gate() {
            Gate::Open(_) => {
                metered(Metered::Failed("circuit_open"));
                return Err("circuit open");
            }
            Gate::Closed | Gate::Probe => {}
        }
        let timeout = Duration::from_millis(s.timeout_ms);
        let Ok(permit) = tokio::time::timeout(timeout, route.live.permits.acquire()).await else {
            metered(Metered::Failed("busy"));
            return Err("too many calls in flight");
        };
        let Some(client) = self.client() else {
            metered(Metered::Failed("no_client"));
            return Err("no HTTP client");
        };
        let left = timeout.saturating_sub(started.elapsed());
        let result = tokio::time::timeout(left, async {
            let mut req = client
                .post(out.url(route)?)
                .header("content-type", out.content_type)
                .header("x-request-id", request_id)
                .body(out.body.clone());
            let kinds_own = |k: &str| out.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k));
            for (k, v) in &s.headers {
                if !kinds_own(k) {
                    req = req.header(k.as_str(), v.as_str());
                }
            }
            for (k, v) in &route.upstream.secrets {
                if !is_private_secret(k)
                    && !kinds_own(k)
                    && !out.withhold.iter().any(|w| w.eq_ignore_ascii_case(k))
                {
                    req = req.header(k.as_str(), v.expose());
                }
            }
            for (k, v) in &out.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let resp = req.send().await.map_err(|_| "connection failed")?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .take(MAX_ANSWER_HEADERS)
                .collect();
            let body = read_bounded(resp).await.map_err(|_| "answer unreadable")?;
            Ok::<_, &'static str>(Answered {
                status,
                body,
                content_type,
                headers,
            })
        })
        .await
        .unwrap_or(Err("timed out"));
        drop(permit);
        // The status, also of a 5xx without a body (a failure for failover).
        let status = result.as_ref().ok().map(|a| a.status);
        let outcome = match result {
            Ok(a) if a.status >= 500 && a.body.is_empty() => Err("5xx without a body"),
            other => other,
        };
        route.live.breaker.record(
            outcome.is_ok(),
            s.breaker_failures,
            Duration::from_secs(u64::from(s.breaker_cooldown_secs)),
            "upstream",
            label,
        );
        metered(match (status, &outcome) {
            (Some(code), _) => Metered::Answered(code),
            (None, Err(why)) => Metered::Failed(failure_label(why)),
            (None, Ok(_)) => Metered::Failed("failed"),
        });
        let ms = started.elapsed().as_millis();
        match &outcome {
            Ok(a) => tracing::info!(route = %label, status = a.status, ms, "upstream answered"),
            Err(why) => tracing::warn!(route = %label, reason = why, ms, "upstream failed"),
        }
        // The audit trail: which route a licence took, what it answered, how
        // long it took (also the failed attempts before a failover).
        let mut ev = keyward_store::AuditEvent::new(
            "upstream",
            match &outcome {
                Ok(a) if (200..300).contains(&a.status) => "ok".to_owned(),
                Ok(a) => format!("http_{}", a.status),
                Err(why) => (*why).to_owned(),
            },
        );
        ev.site_id = Some(route.upstream.site_id.clone());
        ev.drm = Some(route.upstream.drm.as_str().to_owned());
        ev.request_id = Some(crate::json::bounded(request_id, 128).into_owned());
        ev.detail = serde_json::json!({
            "route": route.upstream.name,
            "kind": route.upstream.kind,
            "status": outcome.as_ref().ok().map(|a| a.status),
            "ms": u64::try_from(ms).unwrap_or(u64::MAX),
        });
        self.audit.submit(ev).await;
        outcome
    }

    /// Tries the routes in order until one answers; `build` makes each
    /// route's request, `judge` reads its answer (a definite refusal there
    /// does not fail over).
    ///
    /// # Errors
    /// `unavailable` (the caller's code) when no route answered; whatever
    /// `build` or `judge` return.
    pub async fn call<T>(
        &self,
        routes: &[&Route],
        request_id: &str,
        unavailable: codes::Code,
        mut build: impl FnMut(&Route) -> Result<Outgoing, Refusal>,
        mut judge: impl FnMut(&Route, Answered) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let mut reasons = Vec::new();
        for route in routes {
            let out = build(route)?;
            match self.send(route, &out, request_id).await {
                Ok(answer) => return judge(route, answer),
                Err(why) => reasons.push(format!("{}: {why}", route.upstream.name)),
            }
        }
        Err(Refusal::new(unavailable).log(format!("no upstream answered: {}", reasons.join("; "))))
    }
}

/// The metrics label of a failure reason.
fn failure_label(why: &str) -> &'static str {
    match why {
        "connection failed" => "connection_failed",
        "timed out" => "timeout",
        "answer unreadable" => "unreadable",
        _ => "failed",
    }
}

async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| ())? {
        if out.len() + chunk.len() > MAX_ANSWER {
            return Err(());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `keyward upstream test`: one harmless request (`out`, chosen by the kind)
/// on a route, outside any cache, reported as text.
pub async fn probe(u: Upstream, out: Outgoing) -> Result<String, String> {
    let names: Vec<&str> = u.secrets.keys().map(String::as_str).collect();
    let settings = common_settings(&u.settings, &names)?;
    let live = Arc::new(Live {
        breaker: Breaker::default(),
        permits: Semaphore::new(1),
    });
    let route = Route::new(u, settings, live);
    let store = Arc::new(keyward_store::MemoryStore::new());
    let audit = AuditSink::start(store.clone());
    let ups = Upstreams::new(store, Duration::from_secs(1), audit);
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().to_string();
    match ups.send(&route, &out, &id).await {
        Ok(a) => {
            let text = String::from_utf8_lossy(&a.body);
            let shown: String = text
                .chars()
                .take(200)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Ok(format!(
                "{} ({} {}) answered HTTP {} in {} ms, {} bytes{}: {}",
                route.upstream.name,
                route.upstream.kind,
                route.upstream.url,
                a.status,
                started.elapsed().as_millis(),
                a.body.len(),
                a.content_type
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default(),
                shown
            ))
        }
        Err(why) => Err(format!(
            "{} ({} {}) did not answer: {why} after {} ms",
            route.upstream.name,
            route.upstream.kind,
            route.upstream.url,
            started.elapsed().as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(url: &str) -> Route {
        let u = Upstream {
            site_id: SiteId::parse("TEST").expect("site id"),
            drm: Drm::Widevine,
            name: "primary".into(),
            kind: "widevine-cloud".into(),
            url: url.into(),
            settings: serde_json::json!({}),
            secrets: BTreeMap::new(),
            position: 0,
            created_at: 0,
        };
        let live = Arc::new(Live {
            breaker: Breaker::default(),
            permits: Semaphore::new(1),
        });
        Route::new(u, RouteSettings::default(), live)
    }

    #[test]
    fn the_url_is_parsed_once_and_joined_with_a_kinds_query() {
        let r = route("https://up.example/cenc/getlicense/bench");
        assert_eq!(r.label(), "TEST/primary");
        let plain = Outgoing::new(Vec::new(), "application/json");
        assert_eq!(
            plain.url(&r).expect("url").as_str(),
            "https://up.example/cenc/getlicense/bench"
        );
        let mut q = Outgoing::new(Vec::new(), "application/json");
        q.query = Some("a=1".into());
        assert_eq!(
            q.url(&r).expect("url").as_str(),
            "https://up.example/cenc/getlicense/bench?a=1"
        );
        let r = route("https://up.example/x?k=v");
        assert_eq!(
            q.url(&r).expect("url").as_str(),
            "https://up.example/x?k=v&a=1"
        );
        // A URL that does not parse fails the call as the client would.
        let r = route("not a url");
        assert_eq!(plain.url(&r).err(), Some("connection failed"));
        assert_eq!(q.url(&r).err(), Some("connection failed"));
    }
}
