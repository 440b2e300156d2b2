//! # keyward-server
//!
//! The axum application behind `keyward serve`: front doors (credential →
//! [`entitlement::Entitlement`]), back doors (entitlement + challenge →
//! licence), the admin API, and the embedded demo. [`router`] builds the
//! whole application so tests can drive it with `oneshot`; [`serve`] runs it.

pub mod audit;
pub mod backdoor;
mod cache;
pub mod callback_example;
pub mod config;
pub mod entitlement;
pub mod error;
pub mod frontdoor;
pub mod gatekeeper;
pub mod http;
pub mod json;
mod listener;
pub mod openapi;
pub mod state;

use std::path::Path;
use std::sync::Arc;

use keyward_store::{
    ContentKey, Kek, Kid, NewContentKey, NewSite, ReplayStore as _, SiteId, SiteSettings,
    SqliteStore, Store, TrackType,
};
use keyward_token::SiteCredentials;

pub use config::Config;
pub use http::router;
pub use state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] keyward_store::StoreError),
    /// The KEK text is invalid.
    #[error("KEYWARD_KEK: {0}")]
    Kek(String),
    /// A secret other than the KEK is missing or invalid (the message names it).
    #[error("{0}")]
    Secret(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {err}")]
    Bind {
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
    let kek = match kek {
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
    };
    Ok(SqliteStore::open(data_dir, kek).await?)
}

/// Demo mode: the DEMO site (created on first start) and the demo clip's key.
pub async fn prepare_demo(store: &dyn Store) -> Result<state::DemoMinter, StartError> {
    let id = SiteId::parse(http::demo::DEMO_SITE)?;
    let site = match store.site(&id).await {
        Ok(s) => s,
        Err(e) if e.code() == "site_not_found" => {
            store
                .create_site(NewSite::generate(id.clone(), SiteSettings::default())?)
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((kid, key)) = http::demo::demo_key() {
        let kid = Kid::from_hex(&kid)?;
        let key = ContentKey::from_bytes(&hex::decode(key).unwrap_or_default())?;
        let nk = NewContentKey {
            site_id: id.clone(),
            cid: http::demo::DEMO_CID.into(),
            track_type: TrackType::All,
            kid,
            key,
            iv: None,
            label: Some("demo clip".into()),
        };
        match store.put_key(nk, false).await {
            Ok(_) => {}
            Err(e) if e.code() == "key_conflict" => {}
            Err(e) => return Err(e.into()),
        }
    }
    let creds = SiteCredentials::new(
        site.site_id.as_str(),
        site.site_key.expose(),
        site.access_key.expose(),
    )
    .map_err(|e| StartError::Secret(format!("demo site credentials: {}", e.code())))?;
    Ok(state::DemoMinter { creds })
}

/// Runs the server until Ctrl-C or SIGTERM, then drains in-flight requests
/// (for at most `server.shutdown_drain_ms`) and closes the store cleanly.
pub async fn serve(config: Config) -> Result<(), StartError> {
    // Private from the start (0700): the KEK and the database live here.
    keyward_store::create_private_dir(&config.data_dir)?;
    let sqlite =
        Arc::new(open_store(&config.data_dir, config.kek.as_ref().map(|k| k.expose())).await?);
    // This process decides single-use tokens for the database: a second
    // `keyward serve` on the same data directory stops here (store_locked).
    sqlite.claim_replay().await?;
    let store: Arc<dyn Store> = sqlite.clone();
    let demo = if config.demo {
        Some(prepare_demo(store.as_ref()).await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|err| StartError::Bind {
            addr: config.listen,
            err,
        })?;
    let addr = listener.local_addr()?;
    let demo_on = demo.is_some();
    let admin_on = config.admin_token.is_some();
    let state = AppState::new(store, config, demo);
    let audit_drain = state.audit().drained();
    tracing::info!(%addr, demo = demo_on, admin_api = admin_on, "keyward listening");
    if demo_on {
        tracing::info!("demo: open http://{addr}/demo/ in a browser");
    }
    // Load (or generate) the ExpressPlay token sealing key now, so its warning
    // comes at start-up and a bad KEYWARD_TOKEN_KEY stops the server.
    if let Err(e) = frontdoor::expressplay::keys(&state) {
        return Err(StartError::Secret(format!(
            "KEYWARD_TOKEN_KEY (ExpressPlay token sealing key): {}",
            e.log_detail.unwrap_or(e.message)
        )));
    }
    // The peer address is needed by customer IP allow-lists (ExpressPlay -2003);
    // the listener passes it on, and closes slow, idle and (at the drain
    // deadline) remaining connections itself.
    let edge = crate::listener::Edge::new(state.config());
    edge.serve(listener, router(state), shutdown()).await?;
    // Every request is done and the router (with its state) is gone: write
    // the queued audit events, then the last single-use decisions, then close.
    audit_drain.wait(std::time::Duration::from_secs(10)).await;
    sqlite.close().await;
    tracing::info!("keyward stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
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
