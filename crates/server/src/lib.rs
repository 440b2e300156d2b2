//! # keyward-server
//!
//! The application behind `keyward serve`, shaped as one pipeline:
//!
//! ```text
//! edge (http/)          gateway core (no HTTP types)                       edge
//! extract credential ─▶ front door ─▶ gatekeeper ─▶ back door ─▶ licence ─▶ render
//!                       (verify,      (endpoint, content, origin, geo,      (dialect of
//!                        translate     single use, session, callback,        the route
//!                        into the      streams)                              group)
//!                        Entitlement)
//! ```
//!
//! Every refusal is one [`Refusal`](refusal) type with a code from one
//! registry ([`codes`]), rendered once at the edge. See `docs/architecture.md`.
//!
//! This crate's public face is narrow: [`Config`], [`AppState`], [`router`]
//! (so tests drive the application with `oneshot`), [`serve`], the store
//! opener, the OpenAPI document and the example callback page.

mod audit;
mod backdoor;
mod cache;
pub mod callback_example;
mod cluster;
mod codes;
pub mod config;
mod decisions;
mod entitlement;
mod frontdoor;
mod gatekeeper;
mod http;
mod json;
mod keyserver;
mod limits;
mod listener;
mod metrics;
mod mint;
mod net;
mod openapi;
pub mod otlp;
mod pipeline;
mod refusal;
mod render;
mod resources;
mod state;
mod streams;

use std::path::Path;

use keyward_store::{
    Backend, ContentKey, Kek, Kid, NewContentKey, NewSite, SiteId, SiteSettings, SqliteStore,
    Store, Stores, TrackType,
};
use keyward_token::SiteCredentials;

pub use config::Config;
pub use config::GatekeeperConfig;
pub use resources::fairplay::credential_json as fairplay_credential_json;

/// Checks an upstream's kind, DRM and settings before it is stored (what the
/// admin API checks): the error is the `invalid_input` message.
pub fn validate_upstream(
    kind: &str,
    drm: keyward_store::Drm,
    settings: &serde_json::Value,
    secret_names: &[&str],
) -> Result<(), String> {
    backdoor::upstream::validate(kind, drm, settings, secret_names)
        .map_err(|r| r.message.into_owned())
}

/// Sends an upstream a harmless request (`keyward upstream test`) and reports
/// what happened: `Ok` when it answered (whatever it said), `Err` when it did
/// not. Secrets are sent, never printed.
pub async fn probe_upstream(u: keyward_store::Upstream) -> Result<String, String> {
    backdoor::upstream::probe(u).await
}

/// A FairPlay credential ready to store, from the operator's files (see
/// `keyward site fairplay add`): certificate DER or PEM, private key PEM or
/// DER (with its passphrase when encrypted), ASk hex. The error is the message
/// of an `invalid_input` refusal, naming the part that does not read.
pub fn prepare_fairplay_credential(
    site_id: keyward_store::SiteId,
    certificate: &[u8],
    private_key: &[u8],
    passphrase: Option<&[u8]>,
    ask_hex: &[u8],
    label: Option<String>,
) -> Result<keyward_store::NewFairPlayCredential, String> {
    resources::fairplay::prepare_credential(
        site_id,
        certificate,
        private_key,
        passphrase,
        ask_hex,
        label,
    )
    .map(|(new, _)| new)
    .map_err(|r| r.message.into_owned())
}
pub use http::router;
pub use state::{AppState, DemoMinter};

/// The OpenAPI document of the native, Studio and admin API (as served at
/// `/openapi.json`).
pub fn openapi_document() -> serde_json::Value {
    openapi::document()
}

/// A fresh Studio API key (as `POST /v1/admin/clients` hands out).
pub fn generate_api_key() -> String {
    http::studio::generate_api_key()
}

/// Every registered refusal code as a Markdown table (`docs/codes.md`).
pub fn codes_markdown() -> String {
    codes::markdown()
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be opened.
    #[error("store ({code}): {0}", code = .0.code())]
    Store(#[from] keyward_store::StoreError),
    /// Redis (`redis_url`) could not be reached.
    #[error("redis ({code}): {0} (check redis_url / KEYWARD_REDIS_URL)", code = .0.code())]
    Redis(keyward_store::StoreError),
    /// The configuration names a store this build cannot open.
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    /// The KEK text is invalid.
    #[error("KEYWARD_KEK: {0}")]
    Kek(String),
    /// A secret other than the KEK is missing or invalid (the message names it).
    #[error("{0}")]
    Secret(String),
    /// The FairPlay D function co-process could not start.
    #[error("{0}")]
    FairPlay(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {err} (choose another address with --listen or KEYWARD_LISTEN; nothing was created)")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        err: std::io::Error,
    },
    /// The metrics listen address could not be bound.
    #[error("cannot listen on {addr} for metrics: {err} (choose another address with metrics.listen or KEYWARD_METRICS_LISTEN; nothing was created)")]
    MetricsBind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        err: std::io::Error,
    },
    /// Serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the embedded store in the data directory with the configured KEK (or
/// one generated into the directory, with a warning).
pub async fn open_store(data_dir: &Path, kek: Option<&str>) -> Result<SqliteStore, StartError> {
    Ok(SqliteStore::open(data_dir, load_kek(data_dir, kek)?).await?)
}

/// The store a deployment uses, from its configuration: `database_url`
/// absent (the embedded SQLite store in the data directory), `sqlite:<dir>`,
/// or `memory:` (nothing persisted; demos and tests). Every handler reaches the
/// store only through these per-concern handles, so a new backend is one arm
/// here and one variant of [`keyward_store::Backend`].
pub async fn open_stores(
    data_dir: &Path,
    kek: Option<&str>,
    database_url: Option<&str>,
) -> Result<Stores, StartError> {
    open_stores_with(
        data_dir,
        kek,
        database_url,
        &config::DatabaseConfig::default(),
    )
    .await
}

/// [`open_stores`] with the PostgreSQL pool settings.
pub async fn open_stores_with(
    data_dir: &Path,
    kek: Option<&str>,
    database_url: Option<&str>,
    db: &config::DatabaseConfig,
) -> Result<Stores, StartError> {
    let backend = match config::StoreUrl::parse(database_url).map_err(StartError::Config)? {
        config::StoreUrl::Postgres(url) => {
            let options = keyward_store::PostgresOptions {
                max_connections: db.max_connections,
                min_connections: db.min_connections.min(db.max_connections),
                acquire_timeout: std::time::Duration::from_millis(db.acquire_timeout_ms),
                statement_timeout: (db.statement_timeout_ms > 0)
                    .then(|| std::time::Duration::from_millis(db.statement_timeout_ms)),
                migrate: db.migrate,
                ..keyward_store::PostgresOptions::from_url(url)
            };
            Backend::Postgres {
                options,
                kek: cluster_kek(data_dir, kek)?,
            }
        }
        config::StoreUrl::Embedded => Backend::Sqlite {
            data_dir: data_dir.to_owned(),
            kek: load_kek(data_dir, kek)?,
        },
        config::StoreUrl::Sqlite(dir) => Backend::Sqlite {
            kek: load_kek(&dir, kek)?,
            data_dir: dir,
        },
        config::StoreUrl::Memory => {
            tracing::warn!("database_url = memory: nothing is persisted; a restart forgets every site, key and decision");
            Backend::Memory
        }
    };
    Ok(keyward_store::open(backend).await?)
}

/// The KEK of a shared store: given (every node the same), or the data
/// directory's file if there is one; never generated (a node must not invent
/// its own).
fn cluster_kek(data_dir: &Path, kek: Option<&str>) -> Result<Kek, StartError> {
    match kek {
        Some(text) => Kek::from_hex_or_base64(text).map_err(|e| StartError::Kek(e.to_string())),
        None if data_dir.join("kek").is_file() => load_kek(data_dir, None),
        None => Err(StartError::Kek(
            "a PostgreSQL store needs the key-encryption key every node shares: set KEYWARD_KEK or KEYWARD_KEK_FILE (kek_file), e.g. the kek file of the SQLite data directory it was copied from".into(),
        )),
    }
}

fn load_kek(data_dir: &Path, kek: Option<&str>) -> Result<Kek, StartError> {
    Ok(match kek {
        Some(text) => Kek::from_hex_or_base64(text).map_err(|e| StartError::Kek(e.to_string()))?,
        None => {
            let (k, generated) = Kek::load_or_generate(data_dir)?;
            if generated {
                tracing::warn!(
                    path = %data_dir.join("kek").display(),
                    "no KEYWARD_KEK given: generated a key-encryption key into the data directory (mode 0600); back it up, or set KEYWARD_KEK / KEYWARD_KEK_FILE"
                );
            }
            k
        }
    })
}

/// The store handles of a node and, with `redis_url`, its cluster: single-use
/// decisions and stream slots move to Redis, and the lifecycle covers both.
async fn open_node(
    config: &Config,
) -> Result<(Stores, Option<std::sync::Arc<cluster::Cluster>>), StartError> {
    let url = config.database_url.as_deref();
    let mut stores = open_stores_with(
        &config.data_dir,
        config.kek.as_ref().map(|k| k.expose()),
        url,
        &config.database,
    )
    .await?;
    let Some(redis_url) = &config.redis_url else {
        return Ok((stores, None));
    };
    if !matches!(
        config::StoreUrl::parse(url),
        Ok(config::StoreUrl::Postgres(_))
    ) {
        stores.close().await;
        return Err(StartError::Config(config::ConfigError {
            source_name: "configuration".into(),
            key: "redis_url".into(),
            message: "Redis serves nodes that share a store: set database_url = postgres://… too (a single node keeps its state in process)".into(),
        }));
    }
    let options = keyward_cluster::RedisOptions::new(redis_url.expose());
    let redis = match keyward_cluster::RedisState::connect(options).await {
        Ok(r) => r,
        Err(e) => {
            stores.close().await;
            return Err(StartError::Redis(e));
        }
    };
    stores.replay = std::sync::Arc::new(redis.clone());
    stores.streams = std::sync::Arc::new(redis.clone());
    let cluster = std::sync::Arc::new(cluster::Cluster::new(redis, stores.lifecycle.clone()));
    stores.lifecycle = cluster.clone();
    Ok((stores, Some(cluster)))
}

/// Demo mode: the DEMO site (created on first start) and the demo clip's key.
pub async fn prepare_demo(store: &dyn Store) -> Result<DemoMinter, StartError> {
    let id = SiteId::parse(http::demo::DEMO_SITE).map_err(keyward_store::StoreError::from)?;
    let site = match store.site(&id).await {
        Ok(s) => s,
        Err(keyward_store::StoreError::SiteNotFound) => {
            store
                .create_site(NewSite::generate(id.clone(), SiteSettings::default())?)
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((kid, key)) = http::demo::demo_key() {
        let kid = Kid::from_hex(&kid).map_err(keyward_store::StoreError::from)?;
        let key = ContentKey::from_slice(&hex::decode(key).unwrap_or_default())
            .map_err(keyward_store::StoreError::from)?;
        let nk = NewContentKey {
            site_id: id.clone(),
            cid: http::demo::DEMO_CID.into(),
            track_type: TrackType::All,
            kid,
            key,
            iv: None,
            label: Some("demo clip".into()),
            period: None,
        };
        match store.put_key(nk, false).await {
            Ok(_) => {}
            Err(keyward_store::StoreError::KeyConflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let creds = SiteCredentials::new(
        site.site_id.as_str(),
        site.site_key.expose(),
        site.access_key.expose(),
    )
    .map_err(|e| StartError::Secret(format!("demo site credentials: {}", e.code())))?;
    Ok(DemoMinter { creds })
}

/// Runs the server until Ctrl-C or SIGTERM, then drains in-flight requests
/// (for at most `server.shutdown_drain_ms`) and closes the store cleanly.
pub async fn serve(config: Config) -> Result<(), StartError> {
    // The port first: a port in use stops here, before anything is created.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|err| StartError::Bind {
            addr: config.listen,
            err,
        })?;
    let metrics_listener = match config.metrics.listen.filter(|_| config.metrics.enabled) {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|err| StartError::MetricsBind { addr, err })?,
        ),
        None => None,
    };
    // Private from the start (0700): the KEK and the database live here.
    keyward_store::create_private_dir(&config.data_dir)?;
    let (stores, cluster) = open_node(&config).await?;
    // This process decides single-use tokens for the database: a second
    // `keyward serve` on the same data directory stops here (store_locked).
    // (PostgreSQL and Redis decide in the shared backend: nothing to claim.)
    stores.replay.claim_replay().await?;
    let demo = if config.demo {
        Some(prepare_demo(stores.all.as_ref()).await?)
    } else {
        None
    };
    let demo_on = demo.is_some();
    let admin_on = config.admin_token.is_some();
    let state = AppState::node(stores.clone(), config, demo, cluster.clone());
    // Other nodes' admin changes drop this node's cached entries.
    let _invalidations = state.follow_cluster();
    let audit_drain = state.audit().drained();
    // Load (or generate) the ExpressPlay token sealing key now, so its warning
    // comes at start-up and a bad KEYWARD_TOKEN_KEY stops the server.
    if let Err(e) = state.expressplay_keys() {
        return Err(StartError::Secret(format!(
            "KEYWARD_TOKEN_KEY (ExpressPlay token sealing key): {}",
            e.log_detail.unwrap_or_else(|| e.message.into_owned())
        )));
    }
    // The FairPlay D function co-processes start with the server: a command
    // that cannot start stops it here, with its name.
    state.dask().start().await.map_err(StartError::FairPlay)?;
    // Signal handlers first, so a SIGTERM right after "listening" drains.
    let stop = shutdown();
    let metrics_server = metrics_listener.map(|l| MetricsServer::start(l, &state));
    // Everything the server needs is in place: "listening" means ready.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, demo = demo_on, admin_api = admin_on, "keyward listening");
    if demo_on {
        tracing::info!("demo: open http://{addr}/demo/ in a browser");
    }
    // The peer address is needed by customer IP allow-lists (ExpressPlay -2003);
    // the listener passes it on, and closes slow, idle and (at the drain
    // deadline) remaining connections itself.
    let edge = crate::listener::Edge::new(state.config());
    edge.serve(listener, router(state), stop).await?;
    if let Some(m) = metrics_server {
        m.stop().await;
    }
    // Every request is done and the router (with its state) is gone: write
    // the queued audit events, then the last single-use decisions, then close.
    audit_drain.wait(std::time::Duration::from_secs(10)).await;
    stores.close().await;
    tracing::info!("keyward stopped");
    Ok(())
}

/// The separate metrics listener (`metrics.listen`): the same connection
/// handling as the main one, `/metrics` only; stopped after the main listener
/// has drained (so its last scrape sees the last licences).
struct MetricsServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    fn start(listener: tokio::net::TcpListener, state: &AppState) -> Self {
        if let Ok(addr) = listener.local_addr() {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "metrics.listen is not a loopback address: /metrics (site ids, upstream routes) is served without authentication there");
            }
            tracing::info!(%addr, "metrics listening");
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let edge = crate::listener::Edge::new(state.config());
        let app = metrics::router(state.clone());
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(e) = edge.serve(listener, app, stopped).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
        Self { stop, task }
    }

    /// Stops accepting, closes its connections and drops its state.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The shutdown signal. The handlers are installed when this is called (not
/// when the future is first polled), so a SIGTERM right after "listening"
/// drains instead of killing the process.
fn shutdown() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutting down: draining in-flight requests");
    }
}
