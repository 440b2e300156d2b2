//! Configuration in layers: defaults → `keyward.toml` → `KEYWARD_*` environment
//! (with `*_FILE` variants for secrets) → command-line flags, into one typed
//! [`Config`]. Every error names the key and where it came from.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::net::Cidr;

/// A secret string (admin token, KEK text). `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The value; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Request limits; each is answered with a coded error when exceeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body on licence endpoints, bytes (default 65536).
    pub body_bytes: usize,
    /// Largest total size of request headers, bytes (default 16384).
    pub header_bytes: usize,
    /// Per-request timeout, milliseconds (default 10000).
    pub request_timeout_ms: u64,
    /// Requests handled at once; more are refused with 503 (default 1024).
    pub max_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            header_bytes: 16 * 1024,
            request_timeout_ms: 10_000,
            max_concurrency: 1024,
        }
    }
}

/// How `keyward serve` treats connections (`[server]` in keyward.toml, or
/// `KEYWARD_SERVER_<KEY>` in the environment): timeouts for slow and silent
/// clients, the connection cap, each client address's share, and the drain
/// deadline at shutdown. See `keyward.example.toml` for each knob's risk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Time to send a request's headers, milliseconds, from its first byte (or
    /// from connecting, for a connection's first request); slower or silent
    /// connections are closed (default 10000).
    pub header_timeout_ms: u64,
    /// A keep-alive connection with no request in progress (or a response the
    /// client does not read) is closed after this, milliseconds (default 60000).
    pub idle_timeout_ms: u64,
    /// A request body must have arrived this long after its headers,
    /// milliseconds; a slower one is cut off and answered 400 (default 5000).
    pub body_timeout_ms: u64,
    /// Open connections at most; more wait in the listen backlog. 0 means
    /// 10000, or three quarters of the open-files limit when that is lower
    /// (default 0).
    pub max_connections: usize,
    /// Share of the open connections one client address may hold, percent;
    /// its further connections are closed at once. Trusted proxies are exempt
    /// (default 25).
    pub client_connection_share_percent: u8,
    /// Share of `limits.max_concurrency` one client address may have in
    /// flight, percent; its further requests are refused with 503 (code
    /// 7506). Behind a trusted proxy the address is the one the geo rules
    /// use (default 25).
    pub client_request_share_percent: u8,
    /// Request headers at most; more are refused with 431 (code 7508)
    /// (default 100).
    pub max_headers: usize,
    /// On SIGTERM or Ctrl-C: how long in-flight requests may finish before
    /// the remaining connections are dropped, milliseconds (default 10000).
    pub shutdown_drain_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 5_000,
            max_connections: 0,
            client_connection_share_percent: 25,
            client_request_share_percent: 25,
            max_headers: 100,
            shutdown_drain_ms: 10_000,
        }
    }
}

impl ServerSettings {
    /// The keys of `[server]`; each is also `KEYWARD_SERVER_<KEY>` (upper case).
    pub const KEYS: [&'static str; 8] = [
        "header_timeout_ms",
        "idle_timeout_ms",
        "body_timeout_ms",
        "max_connections",
        "client_connection_share_percent",
        "client_request_share_percent",
        "max_headers",
        "shutdown_drain_ms",
    ];

    /// Sets the knob `name` (one of [`Self::KEYS`]), checking its range; the
    /// error says what is wrong.
    fn set(&mut self, name: &str, value: u64) -> Result<(), &'static str> {
        let positive = |v: u64| {
            if v == 0 {
                Err("must be greater than zero")
            } else {
                Ok(v)
            }
        };
        let size = |v: u64| usize::try_from(v).map_err(|_| "is too large");
        let percent = |v: u64| match u8::try_from(v) {
            Ok(p @ 1..=100) => Ok(p),
            _ => Err("must be a percentage from 1 to 100"),
        };
        match name {
            "header_timeout_ms" => self.header_timeout_ms = positive(value)?,
            "idle_timeout_ms" => self.idle_timeout_ms = positive(value)?,
            "body_timeout_ms" => self.body_timeout_ms = positive(value)?,
            "max_connections" => self.max_connections = size(value)?,
            "client_connection_share_percent" => {
                self.client_connection_share_percent = percent(value)?;
            }
            "client_request_share_percent" => self.client_request_share_percent = percent(value)?,
            "max_headers" => self.max_headers = size(positive(value)?)?,
            "shutdown_drain_ms" => self.shutdown_drain_ms = value,
            _ => return Err("unknown key"),
        }
        Ok(())
    }
}

/// Everything `keyward serve` needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// Data directory for the embedded store (default `./keyward-data`).
    pub data_dir: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Bearer token for `/v1/admin/…`; the admin API is off without one.
    pub admin_token: Option<Secret>,
    /// Where the store lives (`database_url`, `KEYWARD_DATABASE_URL`,
    /// `--database-url`): absent for the embedded SQLite store in `data_dir`,
    /// `sqlite:<dir>` for one elsewhere, `memory:` for nothing persisted (demos,
    /// tests), `postgres://…` for PostgreSQL shared by several nodes.
    pub database_url: Option<String>,
    /// PostgreSQL pool settings (`[database]`).
    pub database: DatabaseConfig,
    /// Redis for the state nodes share (`redis_url`, `KEYWARD_REDIS_URL`,
    /// `--redis-url`): single-use decisions, stream slots, rate limits and
    /// cache invalidation. Absent on a single node.
    pub redis_url: Option<Secret>,
    /// How long past `cache_ttl_ms` a cached site, key or client still serves
    /// while the store cannot be reached (`stale_if_error_ms`,
    /// `KEYWARD_STALE_IF_ERROR_MS`; default 300,000; 0 = never).
    pub stale_if_error_ms: u64,
    /// Key-encryption key text (64 hex digits or base64 of 32 bytes). Without
    /// one, a KEK is generated into the data directory.
    pub kek: Option<Secret>,
    /// The ExpressPlay token sealing key (64 hex digits). Without one, a key
    /// is generated into the data directory (`token.key`); every server that
    /// redeems the tokens needs the same key.
    pub token_key: Option<Secret>,
    /// Earlier sealing keys (comma-separated hex), so tokens sealed before a
    /// rotation stay redeemable.
    pub token_keys_previous: Option<Secret>,
    /// Demo mode: a demo site, the demo clip's key, `/demo/`.
    pub demo: bool,
    /// Public base URL used in links keyward hands out (default `http://<listen>`).
    pub public_base_url: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// Connection handling: timeouts, caps, fairness, shutdown drain.
    pub server: ServerSettings,
    /// How long site settings and keys are cached in memory, milliseconds
    /// (`cache_ttl_ms`, `KEYWARD_CACHE_TTL_MS`; default 2000). Changes made through the admin API apply at once; the CLI
    /// writes straight to the store and is seen after this delay.
    pub cache_ttl_ms: u64,
    /// How many recent licence decisions the decision debugger keeps in memory
    /// (`decisions_ring`, `KEYWARD_DECISIONS_RING`; default 10,000, 0 = off).
    pub decisions_ring: usize,
    /// Sites whose licence decisions are also kept in the audit store (kind
    /// `decision`), so `keyward explain` finds them on any node and after a
    /// restart (`decisions_audit_sites`, `KEYWARD_DECISIONS_AUDIT_SITES`,
    /// comma-separated; `*` for every site; default none).
    pub decisions_audit_sites: Vec<String>,
    /// Write an audit row for every licence decision, whatever the credential
    /// (`audit_all_licences`, `KEYWARD_AUDIT_ALL_LICENCES`; default off: only
    /// Studio-token licences, whose rows feed `/v2/stats`, are audited). One row
    /// per licence, written off the request path in batches.
    pub audit_all_licences: bool,
    /// Geo, VPN/Tor, trusted proxies and session webhook settings (Studio
    /// policies): `geoip_db`, `vpn_lists`, `trusted_proxies`, `session_timeout_ms`.
    pub gatekeeper: GatekeeperConfig,
    /// FairPlay: the D function provider and output rules (`[fairplay]`).
    pub fairplay: FairPlayConfig,
    /// Prometheus metrics (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Concurrent-stream limits (`[streams]`).
    pub streams: StreamsConfig,
    /// Licence request rate limits (`[rate_limits]`).
    pub rate_limits: RateLimitsConfig,
    /// OpenTelemetry trace export (`[tracing]`; off by default).
    pub tracing: crate::otlp::OtlpConfig,
    /// Sites whose brokered licences drop, with a `warn` log line per licence,
    /// the rules their upstream cannot express instead of refusing them
    /// (`[brokers] best_effort_sites`, `KEYWARD_BROKERS_BEST_EFFORT_SITES`,
    /// comma-separated; `*` for every site; default none).
    pub best_effort_sites: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileBrokers {
    best_effort_sites: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileTracing {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
    sample_ratio: Option<f64>,
    batch_ms: Option<u64>,
}

fn parse_otlp_endpoint(source: &str, key: &str, v: &str) -> Result<String, ConfigError> {
    let v = v.trim();
    if !(v.starts_with("http://") || v.starts_with("https://")) || v.len() > 2048 {
        return Err(bad(
            source,
            key,
            "expected the OTLP/HTTP receiver's base URL, e.g. http://127.0.0.1:4318 (spans go to <url>/v1/traces)",
        ));
    }
    Ok(v.to_owned())
}

fn parse_ratio(source: &str, key: &str, v: f64) -> Result<f64, ConfigError> {
    if !(0.0..=1.0).contains(&v) {
        return Err(bad(source, key, "a share from 0.0 to 1.0"));
    }
    Ok(v)
}

/// The `[rate_limits]` settings: token buckets on the licence paths, per site
/// and per client address (in Redis in a cluster, so the limit is the
/// cluster's; in process on a single node). Over a limit: 429 `rate_limited`.
/// A rate of 0 turns that limit off (the default for both).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitsConfig {
    /// Licence requests per second per site (`site_per_second`,
    /// `KEYWARD_RATE_LIMITS_SITE_PER_SECOND`).
    pub site_per_second: u32,
    /// Requests a site may make at once above its rate (`site_burst`; default
    /// the rate).
    pub site_burst: u32,
    /// Licence requests per second per client address (`client_per_second`,
    /// `KEYWARD_RATE_LIMITS_CLIENT_PER_SECOND`); behind a trusted proxy the
    /// address the geo rules use.
    pub client_per_second: u32,
    /// Requests a client address may make at once (`client_burst`; default
    /// the rate).
    pub client_burst: u32,
}

impl RateLimitsConfig {
    fn set(&mut self, key: &str, v: u64) -> Result<(), String> {
        let v = u32::try_from(v)
            .ok()
            .filter(|n| *n <= 1_000_000)
            .ok_or_else(|| "0 to 1000000".to_owned())?;
        match key {
            "site_per_second" => self.site_per_second = v,
            "site_burst" => self.site_burst = v,
            "client_per_second" => self.client_per_second = v,
            "client_burst" => self.client_burst = v,
            _ => return Err(
                "unknown setting (site_per_second, site_burst, client_per_second, client_burst)"
                    .into(),
            ),
        }
        Ok(())
    }
}

/// The `[database]` settings: the PostgreSQL pool (`KEYWARD_DATABASE_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Connections in the pool (`max_connections`; default 16).
    pub max_connections: u32,
    /// Connections kept open when idle (`min_connections`; default 1).
    pub min_connections: u32,
    /// How long a query waits for a free connection, ms (`acquire_timeout_ms`;
    /// default 5000).
    pub acquire_timeout_ms: u64,
    /// Longest statement, ms (`statement_timeout_ms`; default 5000; 0 = none).
    pub statement_timeout_ms: u64,
    /// Apply pending migrations at start-up (`migrate`; default true; else run
    /// `keyward migrate` first).
    pub migrate: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout_ms: 5000,
            statement_timeout_ms: 5000,
            migrate: true,
        }
    }
}

impl DatabaseConfig {
    fn set(&mut self, key: &str, v: u64) -> Result<(), String> {
        let small = |v: u64| {
            u32::try_from(v)
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| "1 to 1000".to_owned())
        };
        match key {
            "max_connections" => self.max_connections = small(v)?,
            "min_connections" => self.min_connections = small(v)?,
            "acquire_timeout_ms" if (1..=600_000).contains(&v) => self.acquire_timeout_ms = v,
            "statement_timeout_ms" if v <= 3_600_000 => self.statement_timeout_ms = v,
            "acquire_timeout_ms" => return Err("1 to 600000 ms".into()),
            "statement_timeout_ms" => return Err("0 to 3600000 ms".into()),
            _ => return Err("unknown setting (max_connections, min_connections, acquire_timeout_ms, statement_timeout_ms, migrate)".into()),
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    max_connections: Option<u64>,
    min_connections: Option<u64>,
    acquire_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
    migrate: Option<bool>,
}

/// The `[streams]` settings: how concurrent-stream limits (PallyCon
/// `max_stream_per_user`) hold their slots. See `docs/streams.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Seconds a slot outlives the renewal interval before it frees
    /// (`grace_secs`, `KEYWARD_STREAMS_GRACE_SECS`; default 30).
    pub grace_secs: u64,
    /// The renewal interval assumed when the policy names none
    /// (`default_interval_secs`, `KEYWARD_STREAMS_DEFAULT_INTERVAL_SECS`;
    /// default 60).
    pub default_interval_secs: u64,
    /// Sites whose stream limits admit licences while the slot store is
    /// unavailable (`fail_open_sites`; default none: such licences are refused
    /// with a coded 503).
    pub fail_open_sites: Vec<String>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            grace_secs: 30,
            default_interval_secs: 60,
            fail_open_sites: Vec::new(),
        }
    }
}

impl Config {
    /// Whether `site` opted into best-effort brokering.
    pub fn best_effort_for(&self, site: &str) -> bool {
        names(&self.best_effort_sites, site)
    }

    /// Whether `site`'s decision records go to the audit store too.
    pub fn audits_decisions_of(&self, site: &str) -> bool {
        names(&self.decisions_audit_sites, site)
    }
}

impl StreamsConfig {
    fn set_grace(&mut self, src: &str, key: &str, v: u64) -> Result<(), ConfigError> {
        if v > 3600 {
            return Err(bad(src, key, "at most 3600 seconds"));
        }
        self.grace_secs = v;
        Ok(())
    }

    fn set_interval(&mut self, src: &str, key: &str, v: u64) -> Result<(), ConfigError> {
        if v == 0 || v > 86_400 {
            return Err(bad(src, key, "1 to 86400 seconds"));
        }
        self.default_interval_secs = v;
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileStreams {
    grace_secs: Option<u64>,
    default_interval_secs: Option<u64>,
    fail_open_sites: Option<Vec<String>>,
}

/// The `[metrics]` settings (`KEYWARD_METRICS_ENABLED`,
/// `KEYWARD_METRICS_LISTEN`): Prometheus metrics on `GET /metrics`. See
/// `docs/metrics.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Collect and serve metrics (default true).
    pub enabled: bool,
    /// A listener of its own for `/metrics` (e.g. `127.0.0.1:9464`); the main
    /// listener then has no `/metrics`. Default none: `/metrics` is served on
    /// the main listener, without authentication.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

impl MetricsConfig {
    /// Whether the main listener serves `/metrics`.
    pub fn on_main_listener(&self) -> bool {
        self.enabled && self.listen.is_none()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    enabled: Option<bool>,
    listen: Option<String>,
}

fn parse_bool(source: &str, key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(
            source,
            key,
            format!("'{}' is not true or false", crate::json::bounded(v, 32)),
        )),
    }
}

pub use crate::backdoor::fairplay::UnenforceableOutput;
pub use crate::resources::dask::{DaskSettings, DaskSource};

/// The `[fairplay]` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FairPlayConfig {
    /// Where the DASk comes from (`dask`, `dask_command`, `dask_timeout_ms`,
    /// `dask_processes`).
    pub dask: crate::resources::dask::DaskSettings,
    /// What to do with output rules the KSM cannot enforce
    /// (`unenforceable_output = "refuse" | "warn"`).
    pub unenforceable_output: crate::backdoor::fairplay::UnenforceableOutput,
}

impl FairPlayConfig {
    fn set_source(&mut self, source: &str, key: &str, v: &str) -> Result<(), ConfigError> {
        use crate::resources::dask::DaskSource;
        self.dask.source = match v {
            "none" => DaskSource::None,
            "sdk-test" => DaskSource::SdkTest,
            "command" => match &self.dask.source {
                DaskSource::Command(argv) => DaskSource::Command(argv.clone()),
                _ => DaskSource::Command(Vec::new()),
            },
            _ => {
                return Err(bad(
                    source,
                    key,
                    format!(
                        "'{}' is not none, sdk-test or command",
                        crate::json::bounded(v, 32)
                    ),
                ))
            }
        };
        Ok(())
    }

    fn set_command(&mut self, argv: Vec<String>) {
        use crate::resources::dask::DaskSource;
        self.dask.source = DaskSource::Command(argv);
    }

    fn set_timeout(&mut self, source: &str, key: &str, v: u64) -> Result<(), ConfigError> {
        if !(1..=60_000).contains(&v) {
            return Err(bad(source, key, "must be 1 to 60000 milliseconds"));
        }
        self.dask.timeout_ms = v;
        Ok(())
    }

    fn set_processes(&mut self, source: &str, key: &str, v: u64) -> Result<(), ConfigError> {
        if !(1..=16).contains(&v) {
            return Err(bad(source, key, "must be 1 to 16"));
        }
        self.dask.processes = v as usize;
        Ok(())
    }

    fn set_output(&mut self, source: &str, key: &str, v: &str) -> Result<(), ConfigError> {
        use crate::backdoor::fairplay::UnenforceableOutput as U;
        self.unenforceable_output = match v {
            "refuse" => U::Refuse,
            "warn" => U::Warn,
            _ => return Err(bad(source, key, "must be refuse or warn")),
        };
        Ok(())
    }

    /// A `command` source needs a program; checked once every layer is read.
    fn check(&self, source: &str, key: &str) -> Result<(), ConfigError> {
        use crate::resources::dask::DaskSource;
        if let DaskSource::Command(argv) = &self.dask.source {
            let Some(program) = argv.first() else {
                return Err(bad(
                    source,
                    key,
                    "fairplay.dask = \"command\" needs dask_command (KEYWARD_FAIRPLAY_DASK_COMMAND): the D function program and its arguments",
                ));
            };
            if program.contains('/') && !Path::new(program).is_file() {
                return Err(bad(
                    source,
                    key,
                    format!("{program} does not exist or is not a file"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileFairPlay {
    dask: Option<String>,
    dask_command: Option<Vec<String>>,
    dask_timeout_ms: Option<u64>,
    dask_processes: Option<u64>,
    unenforceable_output: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("keyward-data"),
            log_format: LogFormat::Human,
            admin_token: None,
            database_url: None,
            kek: None,
            token_key: None,
            token_keys_previous: None,
            demo: false,
            public_base_url: None,
            limits: Limits::default(),
            server: ServerSettings::default(),
            database: DatabaseConfig::default(),
            redis_url: None,
            stale_if_error_ms: 300_000,
            cache_ttl_ms: 2000,
            decisions_ring: 10_000,
            decisions_audit_sites: Vec::new(),
            audit_all_licences: false,
            gatekeeper: GatekeeperConfig::default(),
            fairplay: FairPlayConfig::default(),
            metrics: MetricsConfig::default(),
            streams: StreamsConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            tracing: crate::otlp::OtlpConfig::default(),
            best_effort_sites: Vec::new(),
        }
    }
}

/// A configuration error: which key, from where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {key}: {message}")]
pub struct ConfigError {
    /// The file path, `environment` or `command line`.
    pub source_name: String,
    /// The key or variable.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    kek_file: Option<PathBuf>,
    database_url: Option<String>,
    token_key_file: Option<PathBuf>,
    token_keys_previous_file: Option<PathBuf>,
    demo: Option<bool>,
    public_base_url: Option<String>,
    cache_ttl_ms: Option<u64>,
    stale_if_error_ms: Option<u64>,
    redis_url: Option<String>,
    redis_url_file: Option<PathBuf>,
    database: Option<FileDatabase>,
    decisions_ring: Option<usize>,
    decisions_audit_sites: Option<Vec<String>>,
    audit_all_licences: Option<bool>,
    limits: Option<FileLimits>,
    server: Option<std::collections::BTreeMap<String, u64>>,
    geoip_db: Option<PathBuf>,
    vpn_lists: Option<Vec<PathBuf>>,
    trusted_proxies: Option<Vec<String>>,
    session_timeout_ms: Option<u64>,
    fairplay: Option<FileFairPlay>,
    metrics: Option<FileMetrics>,
    streams: Option<FileStreams>,
    rate_limits: Option<std::collections::BTreeMap<String, u64>>,
    tracing: Option<FileTracing>,
    brokers: Option<FileBrokers>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    body_bytes: Option<usize>,
    header_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    max_concurrency: Option<usize>,
}

/// Values given on the command line (highest precedence).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--log-format`.
    pub log_format: Option<String>,
    /// `--demo`.
    pub demo: bool,
    /// `--public-base-url`.
    pub public_base_url: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
}

/// A comma-separated list of site ids from the environment (blanks ignored).
fn site_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a per-site opt-in list names `site` (or is `*`).
fn names(list: &[String], site: &str) -> bool {
    list.iter().any(|s| s == "*" || s == site)
}

/// A `redis://` or `rediss://` URL (kept as a secret: it may hold a password).
fn parse_redis_url(source: &str, key: &str, v: String) -> Result<Secret, ConfigError> {
    let v = v.trim().to_owned();
    if !(v.starts_with("redis://") || v.starts_with("rediss://")) || v.len() > 2048 {
        return Err(bad(
            source,
            key,
            "expected redis://[user:password@]host[:port][/db] or rediss://… (TLS)",
        ));
    }
    Ok(Secret::new(v))
}

fn bad(source: &str, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        source_name: source.into(),
        key: key.into(),
        message: message.into(),
    }
}

fn parse_listen(source: &str, key: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| {
        bad(
            source,
            key,
            format!("'{v}' is not an address like 127.0.0.1:8080"),
        )
    })
}

fn read_secret_file(source: &str, key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(source, key, format!("cannot read {}: {e}", path.display())))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(bad(source, key, format!("{} is empty", path.display())));
    }
    Ok(Secret::new(t))
}

fn parse_log_format(source: &str, key: &str, v: &str) -> Result<LogFormat, ConfigError> {
    match v {
        "human" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        _ => Err(bad(source, key, format!("'{v}' is not human or json"))),
    }
}

fn parse_cidrs<S: AsRef<str>>(
    source: &str,
    key: &str,
    items: impl Iterator<Item = S>,
) -> Result<Vec<Cidr>, ConfigError> {
    items
        .map(|s| s.as_ref().parse().map_err(|e: String| bad(source, key, e)))
        .collect()
}

impl Config {
    /// Builds the configuration from all layers.
    ///
    /// `file`: an explicit `--config` path (must exist); without it,
    /// `./keyward.toml` is read when present. `env`: the process environment.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        cli: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut c = Config::default();
        let default_file = Path::new("keyward.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if default_file.exists() => Some(default_file.to_path_buf()),
            None => None,
        };
        if let Some(path) = path {
            let src = path.display().to_string();
            let text =
                std::fs::read_to_string(&path).map_err(|e| bad(&src, "(file)", e.to_string()))?;
            // TOML's message points at the line with a caret: keep its lines.
            let f: FileConfig = toml::from_str(&text)
                .map_err(|e| bad(&src, "(toml)", format!("\n{}", e.to_string().trim_end())))?;
            if let Some(v) = f.listen {
                c.listen = parse_listen(&src, "listen", &v)?;
            }
            if let Some(v) = f.data_dir {
                c.data_dir = v;
            }
            if let Some(v) = f.log_format {
                c.log_format = v;
            }
            if let Some(v) = f.admin_token {
                c.admin_token = Some(Secret::new(v));
            }
            if let Some(p) = f.admin_token_file {
                c.admin_token = Some(read_secret_file(&src, "admin_token_file", &p)?);
            }
            if let Some(p) = f.kek_file {
                c.kek = Some(read_secret_file(&src, "kek_file", &p)?);
            }
            if let Some(v) = f.database_url {
                StoreUrl::parse(Some(&v)).map_err(|e| bad(&src, "database_url", e.message))?;
                c.database_url = Some(v);
            }
            if let Some(p) = f.token_key_file {
                c.token_key = Some(read_secret_file(&src, "token_key_file", &p)?);
            }
            if let Some(p) = f.token_keys_previous_file {
                c.token_keys_previous =
                    Some(read_secret_file(&src, "token_keys_previous_file", &p)?);
            }
            if let Some(v) = f.demo {
                c.demo = v;
            }
            if let Some(v) = f.public_base_url {
                c.public_base_url = Some(v);
            }
            if let Some(v) = f.stale_if_error_ms {
                c.stale_if_error_ms = v;
            }
            if let Some(v) = f.redis_url {
                c.redis_url = Some(parse_redis_url(&src, "redis_url", v)?);
            }
            if let Some(p) = f.redis_url_file {
                let v = read_secret_file(&src, "redis_url_file", &p)?;
                c.redis_url = Some(parse_redis_url(
                    &src,
                    "redis_url_file",
                    v.expose().to_owned(),
                )?);
            }
            if let Some(d) = f.database {
                for (k, v) in [
                    ("max_connections", d.max_connections),
                    ("min_connections", d.min_connections),
                    ("acquire_timeout_ms", d.acquire_timeout_ms),
                    ("statement_timeout_ms", d.statement_timeout_ms),
                ] {
                    if let Some(v) = v {
                        c.database
                            .set(k, v)
                            .map_err(|m| bad(&src, &format!("database.{k}"), m))?;
                    }
                }
                if let Some(v) = d.migrate {
                    c.database.migrate = v;
                }
            }
            if let Some(v) = f.cache_ttl_ms {
                c.cache_ttl_ms = v;
            }
            if let Some(v) = f.audit_all_licences {
                c.audit_all_licences = v;
            }
            if let Some(v) = f.decisions_audit_sites {
                c.decisions_audit_sites = v;
            }
            if let Some(v) = f.decisions_ring {
                if v > 1_000_000 {
                    return Err(bad(&src, "decisions_ring", "at most 1000000"));
                }
                c.decisions_ring = v;
            }
            if let Some(v) = f.geoip_db {
                if !v.is_file() {
                    return Err(bad(
                        &src,
                        "geoip_db",
                        format!(
                            "{} does not exist or is not a file (a MaxMind .mmdb database)",
                            v.display()
                        ),
                    ));
                }
                c.gatekeeper.geoip_db = Some(v);
            }
            if let Some(v) = f.vpn_lists {
                c.gatekeeper.vpn_lists = v;
            }
            if let Some(v) = f.trusted_proxies {
                c.gatekeeper.trusted_proxies = parse_cidrs(&src, "trusted_proxies", v.iter())?;
            }
            if let Some(v) = f.session_timeout_ms {
                c.gatekeeper.session_timeout_ms = v;
            }
            if let Some(fp) = f.fairplay {
                if let Some(argv) = fp.dask_command {
                    c.fairplay.set_command(argv);
                }
                if let Some(v) = fp.dask {
                    c.fairplay.set_source(&src, "fairplay.dask", &v)?;
                }
                if let Some(v) = fp.dask_timeout_ms {
                    c.fairplay
                        .set_timeout(&src, "fairplay.dask_timeout_ms", v)?;
                }
                if let Some(v) = fp.dask_processes {
                    c.fairplay
                        .set_processes(&src, "fairplay.dask_processes", v)?;
                }
                if let Some(v) = fp.unenforceable_output {
                    c.fairplay
                        .set_output(&src, "fairplay.unenforceable_output", &v)?;
                }
                c.fairplay.check(&src, "fairplay.dask_command")?;
            }
            if let Some(m) = f.metrics {
                if let Some(v) = m.enabled {
                    c.metrics.enabled = v;
                }
                if let Some(v) = m.listen {
                    c.metrics.listen = Some(parse_listen(&src, "metrics.listen", &v)?);
                }
            }
            if let Some(v) = f.brokers.and_then(|b| b.best_effort_sites) {
                c.best_effort_sites = v;
            }
            if let Some(t) = f.tracing {
                if let Some(v) = t.otlp_endpoint {
                    c.tracing.endpoint =
                        Some(parse_otlp_endpoint(&src, "tracing.otlp_endpoint", &v)?);
                }
                if let Some(v) = t.service_name {
                    c.tracing.service_name = v;
                }
                if let Some(v) = t.sample_ratio {
                    c.tracing.sample_ratio = parse_ratio(&src, "tracing.sample_ratio", v)?;
                }
                if let Some(v) = t.batch_ms {
                    if v == 0 || v > 60_000 {
                        return Err(bad(&src, "tracing.batch_ms", "1 to 60000 ms"));
                    }
                    c.tracing.batch_ms = v;
                }
            }
            for (k, v) in f.rate_limits.unwrap_or_default() {
                c.rate_limits
                    .set(&k, v)
                    .map_err(|m| bad(&src, &format!("rate_limits.{k}"), m))?;
            }
            if let Some(s) = f.streams {
                if let Some(v) = s.grace_secs {
                    c.streams.set_grace(&src, "streams.grace_secs", v)?;
                }
                if let Some(v) = s.default_interval_secs {
                    c.streams
                        .set_interval(&src, "streams.default_interval_secs", v)?;
                }
                if let Some(v) = s.fail_open_sites {
                    c.streams.fail_open_sites = v;
                }
            }
            for (k, v) in f.server.unwrap_or_default() {
                c.server
                    .set(&k, v)
                    .map_err(|m| bad(&src, &format!("server.{k}"), m))?;
            }
            if let Some(l) = f.limits {
                if let Some(v) = l.body_bytes {
                    c.limits.body_bytes = v;
                }
                if let Some(v) = l.header_bytes {
                    c.limits.header_bytes = v;
                }
                if let Some(v) = l.request_timeout_ms {
                    c.limits.request_timeout_ms = v;
                }
                if let Some(v) = l.max_concurrency {
                    c.limits.max_concurrency = v;
                }
            }
        }
        let src = "environment";
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
        if let Some(v) = get("KEYWARD_LISTEN") {
            c.listen = parse_listen(src, "KEYWARD_LISTEN", v)?;
        }
        if let Some(v) = get("KEYWARD_DATA_DIR") {
            c.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("KEYWARD_LOG_FORMAT") {
            c.log_format = parse_log_format(src, "KEYWARD_LOG_FORMAT", v)?;
        }
        if let Some(v) = get("KEYWARD_ADMIN_TOKEN") {
            c.admin_token = Some(Secret::new(v.clone()));
        }
        if let Some(v) = get("KEYWARD_ADMIN_TOKEN_FILE") {
            c.admin_token = Some(read_secret_file(
                src,
                "KEYWARD_ADMIN_TOKEN_FILE",
                Path::new(v),
            )?);
        }
        if let Some(v) = get("KEYWARD_KEK") {
            c.kek = Some(Secret::new(v.clone()));
        }
        if let Some(v) = get("KEYWARD_KEK_FILE") {
            c.kek = Some(read_secret_file(src, "KEYWARD_KEK_FILE", Path::new(v))?);
        }
        if let Some(v) = get("KEYWARD_DATABASE_URL") {
            StoreUrl::parse(Some(v)).map_err(|e| bad(src, "KEYWARD_DATABASE_URL", e.message))?;
            c.database_url = Some(v.clone());
        }
        for (var, key) in [
            ("KEYWARD_DATABASE_MAX_CONNECTIONS", "max_connections"),
            ("KEYWARD_DATABASE_MIN_CONNECTIONS", "min_connections"),
            ("KEYWARD_DATABASE_ACQUIRE_TIMEOUT_MS", "acquire_timeout_ms"),
            (
                "KEYWARD_DATABASE_STATEMENT_TIMEOUT_MS",
                "statement_timeout_ms",
            ),
        ] {
            if let Some(v) = get(var) {
                let n: u64 = v.parse().map_err(|_| bad(src, var, "not a whole number"))?;
                c.database.set(key, n).map_err(|m| bad(src, var, m))?;
            }
        }
        if let Some(v) = get("KEYWARD_DATABASE_MIGRATE") {
            c.database.migrate = parse_bool(src, "KEYWARD_DATABASE_MIGRATE", v)?;
        }
        if let Some(v) = get("KEYWARD_REDIS_URL") {
            c.redis_url = Some(parse_redis_url(src, "KEYWARD_REDIS_URL", v.clone())?);
        }
        if let Some(v) = get("KEYWARD_REDIS_URL_FILE") {
            let v = read_secret_file(src, "KEYWARD_REDIS_URL_FILE", Path::new(v))?;
            c.redis_url = Some(parse_redis_url(
                src,
                "KEYWARD_REDIS_URL_FILE",
                v.expose().to_owned(),
            )?);
        }
        for key in [
            "site_per_second",
            "site_burst",
            "client_per_second",
            "client_burst",
        ] {
            let var = format!("KEYWARD_RATE_LIMITS_{}", key.to_ascii_uppercase());
            if let Some(v) = get(&var) {
                let n: u64 = v
                    .parse()
                    .map_err(|_| bad(src, &var, "not a whole number"))?;
                c.rate_limits.set(key, n).map_err(|m| bad(src, &var, m))?;
            }
        }
        if let Some(v) = get("KEYWARD_BROKERS_BEST_EFFORT_SITES") {
            c.best_effort_sites = site_list(v);
        }
        if let Some(v) = get("KEYWARD_OTLP_ENDPOINT") {
            c.tracing.endpoint = Some(parse_otlp_endpoint(src, "KEYWARD_OTLP_ENDPOINT", v)?);
        }
        if let Some(v) = get("KEYWARD_OTLP_SERVICE_NAME") {
            c.tracing.service_name = v.clone();
        }
        if let Some(v) = get("KEYWARD_OTLP_SAMPLE_RATIO") {
            let r: f64 = v
                .parse()
                .map_err(|_| bad(src, "KEYWARD_OTLP_SAMPLE_RATIO", "a share from 0.0 to 1.0"))?;
            c.tracing.sample_ratio = parse_ratio(src, "KEYWARD_OTLP_SAMPLE_RATIO", r)?;
        }
        if let Some(v) = get("KEYWARD_CACHE_TTL_MS") {
            c.cache_ttl_ms = v
                .parse()
                .map_err(|_| bad(src, "KEYWARD_CACHE_TTL_MS", "not a whole number of ms"))?;
        }
        if let Some(v) = get("KEYWARD_STALE_IF_ERROR_MS") {
            c.stale_if_error_ms = v
                .parse()
                .map_err(|_| bad(src, "KEYWARD_STALE_IF_ERROR_MS", "not a whole number of ms"))?;
        }
        if let Some(v) = get("KEYWARD_TOKEN_KEY") {
            c.token_key = Some(Secret::new(v.clone()));
        }
        if let Some(v) = get("KEYWARD_TOKEN_KEY_FILE") {
            c.token_key = Some(read_secret_file(
                src,
                "KEYWARD_TOKEN_KEY_FILE",
                Path::new(v),
            )?);
        }
        if let Some(v) = get("KEYWARD_TOKEN_KEY_PREVIOUS") {
            c.token_keys_previous = Some(Secret::new(v.clone()));
        }
        if let Some(v) = get("KEYWARD_TOKEN_KEY_PREVIOUS_FILE") {
            c.token_keys_previous = Some(read_secret_file(
                src,
                "KEYWARD_TOKEN_KEY_PREVIOUS_FILE",
                Path::new(v),
            )?);
        }
        if let Some(v) = get("KEYWARD_AUDIT_ALL_LICENCES") {
            c.audit_all_licences = match v.as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => {
                    return Err(bad(
                        src,
                        "KEYWARD_AUDIT_ALL_LICENCES",
                        "must be true or false",
                    ))
                }
            };
        }
        if let Some(v) = get("KEYWARD_DECISIONS_AUDIT_SITES") {
            c.decisions_audit_sites = site_list(v);
        }
        if let Some(v) = get("KEYWARD_DECISIONS_RING") {
            c.decisions_ring = v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| {
                    bad(
                        src,
                        "KEYWARD_DECISIONS_RING",
                        "must be a number of decisions from 0 (off) to 1000000",
                    )
                })?;
        }
        if let Some(v) = get("KEYWARD_PUBLIC_BASE_URL") {
            c.public_base_url = Some(v.clone());
        }
        if let Some(v) = get("KEYWARD_DEMO") {
            c.demo = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = get("KEYWARD_GEOIP_DB") {
            if !Path::new(v).is_file() {
                return Err(bad(
                    src,
                    "KEYWARD_GEOIP_DB",
                    format!("{v} does not exist or is not a file (a MaxMind .mmdb database)"),
                ));
            }
            c.gatekeeper.geoip_db = Some(PathBuf::from(v));
        }
        if let Some(v) = get("KEYWARD_VPN_LISTS") {
            c.gatekeeper.vpn_lists = v.split(',').map(|p| PathBuf::from(p.trim())).collect();
        }
        if let Some(v) = get("KEYWARD_TRUSTED_PROXIES") {
            c.gatekeeper.trusted_proxies =
                parse_cidrs(src, "KEYWARD_TRUSTED_PROXIES", v.split(','))?;
        }
        if let Some(v) = get("KEYWARD_FAIRPLAY_DASK_COMMAND") {
            c.fairplay
                .set_command(v.split_whitespace().map(str::to_owned).collect());
        }
        if let Some(v) = get("KEYWARD_FAIRPLAY_DASK") {
            c.fairplay.set_source(src, "KEYWARD_FAIRPLAY_DASK", v)?;
        }
        for (var, setter) in [
            (
                "KEYWARD_FAIRPLAY_DASK_TIMEOUT_MS",
                FairPlayConfig::set_timeout
                    as fn(&mut FairPlayConfig, &str, &str, u64) -> Result<(), ConfigError>,
            ),
            (
                "KEYWARD_FAIRPLAY_DASK_PROCESSES",
                FairPlayConfig::set_processes,
            ),
        ] {
            if let Some(v) = get(var) {
                let n = v.parse().map_err(|_| {
                    bad(
                        src,
                        var,
                        format!("'{}' is not a whole number", crate::json::bounded(v, 32)),
                    )
                })?;
                setter(&mut c.fairplay, src, var, n)?;
            }
        }
        if let Some(v) = get("KEYWARD_FAIRPLAY_UNENFORCEABLE_OUTPUT") {
            c.fairplay
                .set_output(src, "KEYWARD_FAIRPLAY_UNENFORCEABLE_OUTPUT", v)?;
        }
        c.fairplay.check(src, "KEYWARD_FAIRPLAY_DASK_COMMAND")?;
        for key in ServerSettings::KEYS {
            let var = format!("KEYWARD_SERVER_{}", key.to_ascii_uppercase());
            if let Some(v) = get(&var) {
                let n = v
                    .parse()
                    .map_err(|_| bad(src, &var, format!("'{v}' is not a whole number")))?;
                c.server.set(key, n).map_err(|m| bad(src, &var, m))?;
            }
        }
        if let Some(v) = get("KEYWARD_METRICS_ENABLED") {
            c.metrics.enabled = parse_bool(src, "KEYWARD_METRICS_ENABLED", v)?;
        }
        if let Some(v) = get("KEYWARD_METRICS_LISTEN") {
            c.metrics.listen = Some(parse_listen(src, "KEYWARD_METRICS_LISTEN", v)?);
        }
        for (var, interval) in [
            ("KEYWARD_STREAMS_GRACE_SECS", false),
            ("KEYWARD_STREAMS_DEFAULT_INTERVAL_SECS", true),
        ] {
            if let Some(v) = get(var) {
                let n: u64 = v
                    .parse()
                    .map_err(|_| bad(src, var, "not a whole number of seconds"))?;
                if interval {
                    c.streams.set_interval(src, var, n)?;
                } else {
                    c.streams.set_grace(src, var, n)?;
                }
            }
        }
        let src = "command line";
        if let Some(v) = &cli.listen {
            c.listen = parse_listen(src, "--listen", v)?;
        }
        if let Some(v) = &cli.data_dir {
            c.data_dir = v.clone();
        }
        if let Some(v) = &cli.log_format {
            c.log_format = parse_log_format(src, "--log-format", v)?;
        }
        if cli.demo {
            c.demo = true;
        }
        if let Some(v) = &cli.public_base_url {
            c.public_base_url = Some(v.clone());
        }
        if let Some(v) = &cli.database_url {
            StoreUrl::parse(Some(v)).map_err(|e| bad(src, "--database-url", e.message))?;
            c.database_url = Some(v.clone());
        }
        if let Some(v) = &cli.redis_url {
            c.redis_url = Some(parse_redis_url(src, "--redis-url", v.clone())?);
        }
        if let Some(t) = &c.admin_token {
            if t.expose().len() < 16 {
                return Err(bad(
                    "configuration",
                    "admin_token",
                    "must be at least 16 characters",
                ));
            }
        }
        if c.metrics.enabled && c.metrics.listen == Some(c.listen) {
            return Err(bad(
                "configuration",
                "metrics.listen",
                format!(
                    "{} is the main listen address: choose another, or leave metrics.listen out to serve /metrics there",
                    c.listen
                ),
            ));
        }
        if c.limits.body_bytes == 0
            || c.limits.max_concurrency == 0
            || c.limits.request_timeout_ms == 0
        {
            return Err(bad(
                "configuration",
                "limits",
                "limits must be greater than zero",
            ));
        }
        Ok(c)
    }

    /// The base URL for links keyward hands out.
    pub fn public_base(&self) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fairplay_settings() {
        let load = |pairs: &[(&str, &str)]| {
            let env: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Config::load(None, &env, &Overrides::default())
        };
        let c = load(&[]).unwrap();
        assert_eq!(c.fairplay, FairPlayConfig::default());
        assert_eq!(c.fairplay.dask.source, DaskSource::None);
        let c = load(&[
            ("KEYWARD_FAIRPLAY_DASK", "command"),
            ("KEYWARD_FAIRPLAY_DASK_COMMAND", "/bin/cat -u"),
            ("KEYWARD_FAIRPLAY_DASK_TIMEOUT_MS", "250"),
            ("KEYWARD_FAIRPLAY_DASK_PROCESSES", "3"),
            ("KEYWARD_FAIRPLAY_UNENFORCEABLE_OUTPUT", "warn"),
        ])
        .unwrap();
        assert_eq!(
            c.fairplay.dask,
            DaskSettings {
                source: DaskSource::Command(vec!["/bin/cat".into(), "-u".into()]),
                timeout_ms: 250,
                processes: 3,
            }
        );
        assert_eq!(c.fairplay.unenforceable_output, UnenforceableOutput::Warn);
        assert_eq!(
            load(&[("KEYWARD_FAIRPLAY_DASK", "sdk-test")])
                .unwrap()
                .fairplay
                .dask
                .source,
            DaskSource::SdkTest
        );
        for (pairs, key, word) in [
            (
                &[("KEYWARD_FAIRPLAY_DASK", "command")][..],
                "KEYWARD_FAIRPLAY_DASK_COMMAND",
                "needs dask_command",
            ),
            (
                &[("KEYWARD_FAIRPLAY_DASK", "apple")][..],
                "KEYWARD_FAIRPLAY_DASK",
                "none, sdk-test or command",
            ),
            (
                &[("KEYWARD_FAIRPLAY_DASK_COMMAND", "/nonexistent/d")][..],
                "KEYWARD_FAIRPLAY_DASK_COMMAND",
                "does not exist",
            ),
            (
                &[("KEYWARD_FAIRPLAY_DASK_TIMEOUT_MS", "0")][..],
                "KEYWARD_FAIRPLAY_DASK_TIMEOUT_MS",
                "1 to 60000",
            ),
            (
                &[("KEYWARD_FAIRPLAY_DASK_PROCESSES", "x")][..],
                "KEYWARD_FAIRPLAY_DASK_PROCESSES",
                "whole number",
            ),
            (
                &[("KEYWARD_FAIRPLAY_UNENFORCEABLE_OUTPUT", "ignore")][..],
                "KEYWARD_FAIRPLAY_UNENFORCEABLE_OUTPUT",
                "refuse or warn",
            ),
        ] {
            let e = load(pairs).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(word), "{e}");
        }
        // From a file.
        let dir = std::env::temp_dir().join(format!("kw-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("keyward.toml");
        std::fs::write(
            &f,
            "[fairplay]\ndask = \"command\"\ndask_command = [\"/bin/sh\", \"-c\", \"cat\"]\ndask_processes = 1\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(
            c.fairplay.dask.source,
            DaskSource::Command(vec!["/bin/sh".into(), "-c".into(), "cat".into()])
        );
        std::fs::write(&f, "[fairplay]\ndask_typo = 1\n").unwrap();
        assert!(Config::load(Some(&f), &HashMap::new(), &Overrides::default()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn database_url_forms() {
        assert_eq!(StoreUrl::parse(None).unwrap(), StoreUrl::Embedded);
        assert_eq!(StoreUrl::parse(Some(" ")).unwrap(), StoreUrl::Embedded);
        assert_eq!(StoreUrl::parse(Some("memory:")).unwrap(), StoreUrl::Memory);
        assert_eq!(
            StoreUrl::parse(Some("sqlite:/var/lib/kw")).unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/var/lib/kw"))
        );
        assert_eq!(
            StoreUrl::parse(Some("sqlite:///var/lib/kw")).unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/var/lib/kw"))
        );
        assert_eq!(
            StoreUrl::parse(Some("postgres://u:secretpw@db/kw")).unwrap(),
            StoreUrl::Postgres("postgres://u:secretpw@db/kw".into())
        );
        let e = StoreUrl::parse(Some("postgres:u:secretpw@db/kw")).unwrap_err();
        assert_eq!(e.key, "database_url");
        assert!(!e.to_string().contains("secretpw"));
        assert!(StoreUrl::parse(Some("sqlite:")).is_err());
        assert!(StoreUrl::parse(Some("mysql://x")).is_err());
        // From the environment, named with its variable.
        let mut env = HashMap::new();
        env.insert("KEYWARD_DATABASE_URL".into(), "redis://h".into());
        let e = Config::load(None, &env, &Overrides::default()).unwrap_err();
        assert_eq!(e.key, "KEYWARD_DATABASE_URL");
        env.insert("KEYWARD_DATABASE_URL".into(), "memory:".into());
        let c = Config::load(None, &env, &Overrides::default()).unwrap();
        assert_eq!(c.database_url.as_deref(), Some("memory:"));
    }

    #[test]
    fn layers_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[limits]\nbody_bytes = 1000\n",
        )
        .unwrap();
        let mut env = HashMap::new();
        env.insert("KEYWARD_LISTEN".into(), "127.0.0.1:9100".into());
        let c = Config::load(Some(&file), &env, &Overrides::default()).unwrap();
        assert_eq!(c.listen.port(), 9100, "env beats file");
        assert_eq!(c.limits.body_bytes, 1000);
        let cli = Overrides {
            listen: Some("127.0.0.1:9200".into()),
            ..Overrides::default()
        };
        assert_eq!(
            Config::load(Some(&file), &env, &cli).unwrap().listen.port(),
            9200
        );

        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap_err();
        assert!(
            e.to_string().contains("k.toml") && e.to_string().contains("listn"),
            "{e}"
        );
        std::fs::write(&file, "listen = \"nope\"\n").unwrap();
        let e = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap_err();
        assert_eq!(e.key, "listen");
        let mut env = HashMap::new();
        env.insert("KEYWARD_ADMIN_TOKEN".into(), "short".into());
        let e = Config::load(None, &env, &Overrides::default()).unwrap_err();
        assert_eq!(e.key, "admin_token");
        assert!(!e.to_string().contains("short"));
        let secret = dir.path().join("tok");
        std::fs::write(&secret, "a-long-enough-admin-token\n").unwrap();
        let mut env = HashMap::new();
        env.insert(
            "KEYWARD_ADMIN_TOKEN_FILE".into(),
            secret.display().to_string(),
        );
        let c = Config::load(None, &env, &Overrides::default()).unwrap();
        assert_eq!(
            c.admin_token.as_ref().unwrap().expose(),
            "a-long-enough-admin-token"
        );
        assert!(!format!("{c:?}").contains("a-long-enough"));
    }

    #[test]
    fn server_settings_in_layers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.toml");
        std::fs::write(
            &file,
            "[server]\nheader_timeout_ms = 2500\nmax_connections = 50\n",
        )
        .unwrap();
        let mut env = HashMap::new();
        env.insert("KEYWARD_SERVER_MAX_CONNECTIONS".into(), "70".into());
        let c = Config::load(Some(&file), &env, &Overrides::default()).unwrap();
        assert_eq!(c.server.header_timeout_ms, 2500);
        assert_eq!(c.server.max_connections, 70, "env beats file");
        assert_eq!(c.server.shutdown_drain_ms, 10_000, "default");

        std::fs::write(&file, "[server]\nheader_timeout_msec = 1\n").unwrap();
        let e = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap_err();
        assert_eq!(e.key, "server.header_timeout_msec");
        assert!(e.source_name.ends_with("k.toml"), "{e}");
        std::fs::write(&file, "[server]\nclient_request_share_percent = 0\n").unwrap();
        let e = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap_err();
        assert_eq!(e.key, "server.client_request_share_percent");
        let mut env = HashMap::new();
        env.insert("KEYWARD_SERVER_IDLE_TIMEOUT_MS".into(), "soon".into());
        let e = Config::load(None, &env, &Overrides::default()).unwrap_err();
        assert_eq!(
            (e.source_name.as_str(), e.key.as_str()),
            ("environment", "KEYWARD_SERVER_IDLE_TIMEOUT_MS")
        );
        env.insert("KEYWARD_SERVER_IDLE_TIMEOUT_MS".into(), "0".into());
        let e = Config::load(None, &env, &Overrides::default()).unwrap_err();
        assert!(e.message.contains("greater than zero"), "{e}");

        // The commented example documents every knob with its default.
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keyward.example.toml");
        let c = Config::load(Some(&example), &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(c.server, ServerSettings::default());
    }

    /// The scale-out, streams, rate-limit and tracing settings: layers,
    /// defaults (the example file documents them), and a clear error naming
    /// the key for each bad value — never echoing a secret.
    #[test]
    fn cluster_streams_limits_and_tracing_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.toml");
        let load_file = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(Some(&file), &HashMap::new(), &Overrides::default())
        };
        let c = load_file(
            "database_url = \"postgres://kw:pw@db/kw\"\nredis_url = \"redis://:sekret@cache:6379\"\n\
             stale_if_error_ms = 1000\n[database]\nmax_connections = 32\nstatement_timeout_ms = 0\nmigrate = false\n\
             [streams]\ngrace_secs = 5\nfail_open_sites = [\"TUTO\"]\n[rate_limits]\nsite_per_second = 100\n\
             [tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 0.25\n\
             [brokers]\nbest_effort_sites = [\"*\"]\n",
        )
        .unwrap();
        assert_eq!(
            StoreUrl::parse(c.database_url.as_deref()).unwrap(),
            StoreUrl::Postgres("postgres://kw:pw@db/kw".into())
        );
        assert_eq!(
            c.redis_url.as_ref().unwrap().expose(),
            "redis://:sekret@cache:6379"
        );
        assert_eq!(c.stale_if_error_ms, 1000);
        assert_eq!(
            c.database,
            DatabaseConfig {
                max_connections: 32,
                statement_timeout_ms: 0,
                migrate: false,
                ..DatabaseConfig::default()
            }
        );
        assert_eq!(c.streams.grace_secs, 5);
        assert_eq!(c.streams.fail_open_sites, ["TUTO"]);
        assert_eq!(c.rate_limits.site_per_second, 100);
        assert_eq!(c.rate_limits.site_burst, 0);
        assert_eq!(c.tracing.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert!((c.tracing.sample_ratio - 0.25).abs() < f64::EPSILON);
        assert!(c.best_effort_for("ANYS"));

        for (text, key, needle) in [
            (
                "redis_url = \"http://:sekret@cache\"\n",
                "redis_url",
                "redis://",
            ),
            (
                "database_url = \"redis://:sekret@h\"\n",
                "database_url",
                "redis_url",
            ),
            (
                "database_url = \"postgres:kw:sekret@db\"\n",
                "database_url",
                "postgres://",
            ),
            (
                "[database]\nmax_connections = 0\n",
                "database.max_connections",
                "1 to 1000",
            ),
            (
                "[database]\nacquire_timeout_ms = 0\n",
                "database.acquire_timeout_ms",
                "1 to 600000",
            ),
            ("[database]\npool = 3\n", "(toml)", "unknown field `pool`"),
            (
                "[streams]\ngrace_secs = 7200\n",
                "streams.grace_secs",
                "3600",
            ),
            (
                "[streams]\ndefault_interval_secs = 0\n",
                "streams.default_interval_secs",
                "86400",
            ),
            (
                "[rate_limits]\nper_second = 3\n",
                "rate_limits.per_second",
                "unknown setting",
            ),
            (
                "[rate_limits]\nclient_burst = 2000000\n",
                "rate_limits.client_burst",
                "1000000",
            ),
            (
                "[tracing]\notlp_endpoint = \"collector:4318\"\n",
                "tracing.otlp_endpoint",
                "http://",
            ),
            (
                "[tracing]\nsample_ratio = 1.5\n",
                "tracing.sample_ratio",
                "0.0 to 1.0",
            ),
            ("[tracing]\nbatch_ms = 0\n", "tracing.batch_ms", "60000"),
        ] {
            let e = load_file(text).unwrap_err();
            let shown = e.to_string();
            assert!(
                e.key == key || shown.contains(key),
                "{text}: key {} ({shown})",
                e.key
            );
            assert!(shown.contains(needle), "{text}: {shown}");
            assert!(!shown.contains("sekret"), "{text}: a secret in {shown}");
        }

        // The environment and the command line.
        let mut env = HashMap::new();
        env.insert("KEYWARD_REDIS_URL".into(), "redis://127.0.0.1:6380".into());
        env.insert("KEYWARD_DATABASE_MAX_CONNECTIONS".into(), "8".into());
        env.insert("KEYWARD_STREAMS_GRACE_SECS".into(), "12".into());
        env.insert("KEYWARD_RATE_LIMITS_CLIENT_PER_SECOND".into(), "50".into());
        env.insert("KEYWARD_OTLP_SAMPLE_RATIO".into(), "0.5".into());
        env.insert("KEYWARD_DECISIONS_AUDIT_SITES".into(), "TUTO, ACME,".into());
        env.insert("KEYWARD_BROKERS_BEST_EFFORT_SITES".into(), "ACME".into());
        let cli = Overrides {
            database_url: Some("postgres://kw@db/kw".into()),
            ..Overrides::default()
        };
        let c = Config::load(None, &env, &cli).unwrap();
        assert_eq!(
            c.redis_url.as_ref().unwrap().expose(),
            "redis://127.0.0.1:6380"
        );
        assert_eq!(c.database.max_connections, 8);
        assert_eq!(c.streams.grace_secs, 12);
        assert_eq!(c.rate_limits.client_per_second, 50);
        assert_eq!(c.decisions_audit_sites, ["TUTO", "ACME"]);
        assert!(c.audits_decisions_of("ACME") && !c.audits_decisions_of("OTHR"));
        assert!(c.best_effort_for("ACME") && !c.best_effort_for("TUTO"));
        assert_eq!(c.database_url.as_deref(), Some("postgres://kw@db/kw"));
        for (var, value) in [
            ("KEYWARD_REDIS_URL", "memcached://x"),
            ("KEYWARD_DATABASE_STATEMENT_TIMEOUT_MS", "soon"),
            ("KEYWARD_STREAMS_DEFAULT_INTERVAL_SECS", "0"),
            ("KEYWARD_RATE_LIMITS_SITE_BURST", "-1"),
            ("KEYWARD_OTLP_ENDPOINT", "127.0.0.1:4318"),
            ("KEYWARD_OTLP_SAMPLE_RATIO", "all"),
        ] {
            let mut env = HashMap::new();
            env.insert(var.into(), value.into());
            let e = Config::load(None, &env, &Overrides::default()).unwrap_err();
            assert_eq!(
                (e.source_name.as_str(), e.key.as_str()),
                ("environment", var),
                "{e}"
            );
        }
        let cli = Overrides {
            redis_url: Some("localhost:6379".into()),
            ..Overrides::default()
        };
        let e = Config::load(None, &HashMap::new(), &cli).unwrap_err();
        assert_eq!(
            (e.source_name.as_str(), e.key.as_str()),
            ("command line", "--redis-url")
        );
    }
}

/// Gatekeeper configuration (config keys `geoip_db`, `vpn_lists`,
/// `trusted_proxies`, `session_timeout_ms`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatekeeperConfig {
    /// MaxMind-format database for geo rules. Default none: a policy with a
    /// country or metro whitelist is then refused (`studio_geo_unavailable`).
    pub geoip_db: Option<PathBuf>,
    /// CIDR list files of VPN / Tor exits. Default none: a policy with
    /// `block_vpn_and_tor` is then refused (`studio_vpn_unavailable`).
    pub vpn_lists: Vec<PathBuf>,
    /// Peers whose `X-Forwarded-For` is believed. Default none: the socket
    /// address is the client address.
    pub trusted_proxies: Vec<Cidr>,
    /// Session webhook timeout, milliseconds. Default 2000.
    pub session_timeout_ms: u64,
}

impl Default for GatekeeperConfig {
    fn default() -> Self {
        Self {
            geoip_db: None,
            vpn_lists: Vec::new(),
            trusted_proxies: Vec::new(),
            session_timeout_ms: 2000,
        }
    }
}

/// A parsed `database_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// Absent: the embedded SQLite store in the data directory.
    Embedded,
    /// `sqlite:<dir>` (or `sqlite://<dir>`): the SQLite store in that directory.
    Sqlite(PathBuf),
    /// `memory:`: nothing persisted.
    Memory,
    /// `postgres://…` or `postgresql://…`: PostgreSQL, shared by several nodes.
    Postgres(String),
}

impl StoreUrl {
    /// Parses the setting; the error names what is accepted.
    pub fn parse(url: Option<&str>) -> Result<StoreUrl, ConfigError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(StoreUrl::Embedded);
        };
        let err = |m: String| ConfigError {
            source_name: "configuration".into(),
            key: "database_url".into(),
            message: m,
        };
        if url == "memory:" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let dir = rest.strip_prefix("//").unwrap_or(rest);
            if dir.is_empty() {
                return Err(err(
                    "sqlite: needs a directory, e.g. sqlite:/var/lib/keyward".into(),
                ));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(dir)));
        }
        let scheme = url.split(':').next().unwrap_or("");
        if matches!(scheme, "postgres" | "postgresql") {
            if !url[scheme.len()..].starts_with("://") || url.len() > 2048 {
                return Err(err(
                    "expected postgres://user:password@host[:port]/database[?sslmode=require]"
                        .into(),
                ));
            }
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        if scheme == "redis" || scheme == "rediss" {
            return Err(err(
                "Redis holds the shared hot state, not the store: give it as redis_url (--redis-url, KEYWARD_REDIS_URL) and the store as postgres://…".into(),
            ));
        }
        Err(err(
            "expected postgres://…, sqlite:<dir> or memory: (or nothing, for the embedded store in data_dir)"
                .into(),
        ))
    }
}
