//! The gatekeeper: checks that need state or the outside world, applied after
//! a front door verified a credential — geo (MaxMind `.mmdb`), VPN / Tor lists,
//! the Studio session webhook, and the Studio clients cache. Every denial names
//! the rule that denied (`Denied by rule geo.country_code_whitelist: …`).

pub mod cidr;
pub mod geo;
pub mod peer;
pub mod session;
pub mod vpn;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use keyward_store::Client;
use keyward_token::studio::{GeoRestrictions, StudioSecret};

pub use cidr::Cidr;
pub use peer::PeerAddr;

use crate::cache::TtlCache;
use crate::error::ApiError;

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

/// A client as the licence path needs it: settings and derived secrets.
pub struct ClientEntry {
    /// The stored client.
    pub client: Client,
    /// Token secrets with derived keys, newest first.
    pub secrets: Vec<StudioSecret>,
}

impl ClientEntry {
    /// Derives the keys of every secret.
    pub fn new(client: Client) -> Result<Self, ApiError> {
        let secrets = client
            .secrets
            .iter()
            .map(|s| StudioSecret::new(s.expose()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::internal(format!("client secret: {e}")))?;
        Ok(Self { client, secrets })
    }
}

/// Gatekeeper state held by the application.
pub struct Gatekeeper {
    config: GatekeeperConfig,
    geo: Option<geo::GeoDb>,
    vpn: vpn::VpnLists,
    http: OnceLock<Option<reqwest::Client>>,
    clients: TtlCache<String, ClientEntry>,
    /// By SHA-256 of the API key (only keys that matched a client).
    api_keys: TtlCache<[u8; 32], ClientEntry>,
}

fn deny(code: &str, status: StatusCode, msg: String) -> ApiError {
    ApiError::new(code, status, msg)
}

impl Gatekeeper {
    /// From the configuration; nothing is read until first use.
    pub fn new(config: &GatekeeperConfig, cache_ttl: Duration) -> Self {
        Self {
            geo: config.geoip_db.as_deref().map(geo::GeoDb::new),
            vpn: vpn::VpnLists::new(&config.vpn_lists),
            config: config.clone(),
            http: OnceLock::new(),
            clients: TtlCache::new(cache_ttl, 10_000),
            api_keys: TtlCache::new(cache_ttl, 10_000),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GatekeeperConfig {
        &self.config
    }

    /// The VPN lists (tests force a re-check after rewriting a file).
    pub fn vpn(&self) -> &vpn::VpnLists {
        &self.vpn
    }

    /// The client, cached for the state's cache TTL.
    pub async fn client(
        &self,
        store: &dyn keyward_store::Store,
        name: &str,
    ) -> Result<Option<Arc<ClientEntry>>, ApiError> {
        if let Some(hit) = self.clients.get(name) {
            return Ok(Some(hit));
        }
        let client = match store.client(name).await {
            Ok(c) => c,
            Err(e) if e.code() == "client_not_found" => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let entry = Arc::new(ClientEntry::new(client)?);
        self.clients.insert(name.to_owned(), entry.clone());
        Ok(Some(entry))
    }

    /// The client of an API key (by its SHA-256), cached for the state's
    /// cache TTL like [`Gatekeeper::client`]; unknown keys are not cached.
    pub async fn client_by_api_key(
        &self,
        store: &dyn keyward_store::Store,
        key_hash: &[u8; 32],
    ) -> Result<Option<Arc<ClientEntry>>, ApiError> {
        if let Some(hit) = self.api_keys.get(key_hash) {
            return Ok(Some(hit));
        }
        let client = match store.client_by_api_key(key_hash).await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let entry = Arc::new(ClientEntry::new(client)?);
        self.api_keys.insert(*key_hash, entry.clone());
        Ok(Some(entry))
    }

    /// Drops a cached client and its cached API keys (after an admin change).
    pub fn invalidate_client(&self, name: &str) {
        self.clients.remove(name);
        self.api_keys.retain(|_, c| c.client.name != name);
    }

    /// The one outbound HTTP client (session webhooks and customer callbacks; no
    /// redirects followed).
    pub fn http(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION"), " session"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// Session webhook timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.config.session_timeout_ms)
    }

    /// Applies geo and VPN rules to the client address.
    pub fn check_geo(&self, g: &GeoRestrictions, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let wants_geo = !g.country_code_whitelist.is_empty() || !g.metro_code_whitelist.is_empty();
        if !wants_geo && !g.block_vpn_and_tor {
            return Ok(());
        }
        let Some(ip) = ip else {
            return Err(deny(
                "studio_geo_unknown",
                StatusCode::FORBIDDEN,
                "Denied by rule geo_restrictions: the client address is unknown".into(),
            ));
        };
        if g.block_vpn_and_tor {
            if !self.vpn.configured() {
                return Err(deny(
                    "studio_vpn_unavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Denied by rule geo_restrictions.block_vpn_and_tor: no VPN/Tor list is configured (vpn_lists)".into(),
                ));
            }
            match self.vpn.contains(ip) {
                Ok(true) => {
                    return Err(deny(
                        "studio_vpn_blocked",
                        StatusCode::FORBIDDEN,
                        "Denied by rule geo_restrictions.block_vpn_and_tor: the address is a known VPN or Tor exit".into(),
                    ))
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "VPN list unreadable");
                    return Err(deny(
                        "studio_vpn_unavailable",
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Denied by rule geo_restrictions.block_vpn_and_tor: the VPN/Tor list cannot be read".into(),
                    ));
                }
            }
        }
        if !wants_geo {
            return Ok(());
        }
        let Some(db) = &self.geo else {
            return Err(deny(
                "studio_geo_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Denied by rule geo_restrictions: no geo database is configured (geoip_db)".into(),
            ));
        };
        let found = db.lookup(ip).map_err(|e| {
            tracing::error!(error = %e, "geo database unreadable");
            deny(
                "studio_geo_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Denied by rule geo_restrictions: the geo database cannot be read".into(),
            )
        })?;
        if !g.country_code_whitelist.is_empty() {
            match found.country {
                Some(c) if g.country_code_whitelist.iter().any(|w| w == c) => {}
                Some(c) => {
                    return Err(deny(
                        "studio_geo_country",
                        StatusCode::FORBIDDEN,
                        format!("Denied by rule geo_restrictions.country_code_whitelist: country {c} is not allowed"),
                    ))
                }
                None => {
                    return Err(deny(
                        "studio_geo_country",
                        StatusCode::FORBIDDEN,
                        "Denied by rule geo_restrictions.country_code_whitelist: the address has no known country".into(),
                    ))
                }
            }
        }
        if !g.metro_code_whitelist.is_empty() {
            match found.metro_code {
                Some(m) if g.metro_code_whitelist.contains(&m) => {}
                other => {
                    return Err(deny(
                        "studio_geo_metro",
                        StatusCode::FORBIDDEN,
                        match other {
                            Some(m) => format!("Denied by rule geo_restrictions.metro_code_whitelist: metro code {m} is not allowed"),
                            None => "Denied by rule geo_restrictions.metro_code_whitelist: the address has no known metro code".into(),
                        },
                    ))
                }
            }
        }
        Ok(())
    }
}
