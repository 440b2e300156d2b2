//! The gatekeeper: every check that needs state or the outside world, applied
//! in one place, in one fixed order, after a front door verified a credential
//! and before a back door sees the entitlement.
//!
//! The order ([`admit`]), cheapest and local first, outbound calls last:
//! 1. endpoint — the request names this site (7016); the DRM is served by the
//!    endpoint and enabled for the site (7018);
//! 2. content id — the request's content id against the credential's
//!    (7012, or the Studio `content_id` / `match_content_id` rule);
//! 3. origin — the site's CORS list (7503);
//! 4. geo / VPN — MaxMind `.mmdb` country and metro lists, VPN / Tor CIDR lists;
//! 5. single use / max uses — atomic, persisted; taken only once every local
//!    rule passed (a refused request does not use up its token), and before
//!    any outbound call (concurrent replays cannot each reach the customer);
//! 6. session webhook (Studio);
//! 7. callback (PallyCon callback mode: the customer's page decides the rights);
//! 8. concurrent streams ([`streams::StreamGate`]; carried, not yet enforced).
//!
//! The token's time window is the one check not here: it is part of each
//! vendor's verification and needs the site's or client's settings, so the
//! front door applies it while verifying. Every denial names the rule that
//! denied (`Denied by rule geo.country_code_whitelist: …`).

pub mod cidr;
pub mod geo;
pub mod peer;
pub mod session;
pub mod streams;
pub mod vpn;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyward_store::Client;
use keyward_token::studio::{GeoRestrictions, StudioSecret};

pub use cidr::Cidr;

use crate::cache::TtlCache;
use crate::codes;
use crate::refusal::Refusal;

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
    pub fn new(client: Client) -> Result<Self, Refusal> {
        let secrets = client
            .secrets
            .iter()
            .map(|s| StudioSecret::new(s.expose()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Refusal::internal(format!("client secret: {e}")))?;
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
    ) -> Result<Option<Arc<ClientEntry>>, Refusal> {
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
    ) -> Result<Option<Arc<ClientEntry>>, Refusal> {
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
    pub fn check_geo(&self, g: &GeoRestrictions, ip: Option<IpAddr>) -> Result<(), Refusal> {
        let wants_geo = !g.country_code_whitelist.is_empty() || !g.metro_code_whitelist.is_empty();
        if !wants_geo && !g.block_vpn_and_tor {
            return Ok(());
        }
        let Some(ip) = ip else {
            return Err(Refusal::with(
                codes::STUDIO_GEO_UNKNOWN,
                "Denied by rule geo_restrictions: the client address is unknown",
            ));
        };
        if g.block_vpn_and_tor {
            if !self.vpn.configured() {
                return Err(Refusal::with(codes::STUDIO_VPN_UNAVAILABLE, "Denied by rule geo_restrictions.block_vpn_and_tor: no VPN/Tor list is configured (vpn_lists)"));
            }
            match self.vpn.contains(ip) {
                Ok(true) => {
                    return Err(Refusal::with(codes::STUDIO_VPN_BLOCKED, "Denied by rule geo_restrictions.block_vpn_and_tor: the address is a known VPN or Tor exit"))
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "VPN list unreadable");
                    return Err(Refusal::with(codes::STUDIO_VPN_UNAVAILABLE, "Denied by rule geo_restrictions.block_vpn_and_tor: the VPN/Tor list cannot be read"));
                }
            }
        }
        if !wants_geo {
            return Ok(());
        }
        let Some(db) = &self.geo else {
            return Err(Refusal::with(
                codes::STUDIO_GEO_UNAVAILABLE,
                "Denied by rule geo_restrictions: no geo database is configured (geoip_db)",
            ));
        };
        let found = db.lookup(ip).map_err(|e| {
            tracing::error!(error = %e, "geo database unreadable");
            Refusal::with(
                codes::STUDIO_GEO_UNAVAILABLE,
                "Denied by rule geo_restrictions: the geo database cannot be read",
            )
        })?;
        if !g.country_code_whitelist.is_empty() {
            match found.country {
                Some(c) if g.country_code_whitelist.iter().any(|w| w == c) => {}
                Some(c) => {
                    return Err(Refusal::with(codes::STUDIO_GEO_COUNTRY, format!("Denied by rule geo_restrictions.country_code_whitelist: country {c} is not allowed")))
                }
                None => {
                    return Err(Refusal::with(codes::STUDIO_GEO_COUNTRY, "Denied by rule geo_restrictions.country_code_whitelist: the address has no known country"))
                }
            }
        }
        if !g.metro_code_whitelist.is_empty() {
            match found.metro_code {
                Some(m) if g.metro_code_whitelist.contains(&m) => {}
                other => {
                    return Err(Refusal::with(codes::STUDIO_GEO_METRO, match other {
                            Some(m) => format!("Denied by rule geo_restrictions.metro_code_whitelist: metro code {m} is not allowed"),
                            None => "Denied by rule geo_restrictions.metro_code_whitelist: the address has no known metro code".to_owned(),
                        }))
                }
            }
        }
        Ok(())
    }
}

/// What the edge knows of the client, without HTTP types.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// The socket peer.
    pub peer: Option<SocketAddr>,
    /// `X-Forwarded-For` values, as sent (believed only from trusted proxies).
    pub forwarded_for: Vec<String>,
    /// The `Origin` header, when it is text.
    pub origin: Option<String>,
}

/// The DRM as the site's allow-list names it.
fn site_drm(d: keyward_token::DrmType) -> keyward_store::Drm {
    use keyward_store::Drm;
    use keyward_token::DrmType;
    match d {
        DrmType::Ncg => Drm::Ncg,
        DrmType::Widevine => Drm::Widevine,
        DrmType::PlayReady => Drm::PlayReady,
        DrmType::FairPlay => Drm::FairPlay,
        DrmType::Wiseplay => Drm::Wiseplay,
        DrmType::ClearKey => Drm::ClearKey,
    }
}

/// Applies every gate of the claim, in the documented order. On success the
/// claim's entitlement is final (the callback stage may replace it).
pub async fn admit(
    state: &crate::state::AppState,
    claim: &mut crate::frontdoor::Claim,
    expect: &crate::frontdoor::Expect<'_>,
    client: &ClientInfo,
) -> Result<(), Refusal> {
    endpoint(claim, expect)?;
    content(claim, expect)?;
    origin(claim, client)?;
    let gk = state.gatekeeper();
    if let Some(g) = &claim.gates.geo {
        let ip = peer::client_ip(
            client.peer,
            &client.forwarded_for,
            &gk.config.trusted_proxies,
        );
        gk.check_geo(g, ip)?;
    }
    if let Some(su) = &claim.gates.single_use {
        let r = state
            .store()
            .redeem(
                su.namespace,
                &su.id,
                su.issued_at,
                su.expires_at,
                su.max_uses,
            )
            .await?;
        if r.unverifiable {
            return Err(Refusal::new(codes::STUDIO_TOKEN_UNVERIFIABLE));
        }
        if !r.accepted {
            return Err(Refusal::with(
                codes::STUDIO_TOKEN_USED,
                format!(
                    "The Studio token was already used ({} of {} allowed uses): each licence request needs a new token",
                    r.use_count, su.max_uses
                ),
            ));
        }
    }
    if let Some(sess) = &claim.gates.session {
        let http = gk
            .http()
            .ok_or_else(|| Refusal::internal("HTTP client unavailable"))?;
        session::check(http, sess, gk.session_timeout()).await?;
    }
    if let Some(auth) = &claim.gates.callback {
        let site = claim
            .site
            .as_ref()
            .ok_or_else(|| Refusal::internal("callback claim without a site"))?;
        claim.entitlement =
            crate::frontdoor::callback::decide(state.callbacks(), gk.http(), site, auth).await?;
    }
    state.streams().admit(&claim.entitlement).await
}

/// Stage 1: the endpoint's expectations and the site's DRM list.
fn endpoint(
    claim: &crate::frontdoor::Claim,
    expect: &crate::frontdoor::Expect<'_>,
) -> Result<(), Refusal> {
    let ent = &claim.entitlement;
    if let Some(s) = expect.site {
        if s != ent.site_id {
            return Err(Refusal::with(
                codes::TOKEN_INVALID,
                format!(
                    "Invalid token: the token is for site {}, the request names {}",
                    ent.site_id,
                    crate::json::bounded(s, 64)
                ),
            )
            .class(crate::refusal::Class::Forbidden));
        }
    }
    let drm = ent.drm;
    let studio = claim.gates.studio_wording;
    // Studio tokens name no DRM: the endpoint's is theirs.
    if !studio && !expect.drms.contains(&drm) {
        let want: Vec<&str> = expect.drms.iter().map(|d| d.as_str()).collect();
        return Err(Refusal::with(
            codes::DRM_TYPE_INVALID,
            format!(
                "Invalid DRM type in token: {drm} token on an endpoint for {}",
                want.join(", ")
            ),
        ));
    }
    let allowed = claim
        .site
        .as_ref()
        .is_none_or(|s| s.settings.allows(site_drm(drm)));
    if !allowed {
        return Err(Refusal::with(
            codes::DRM_TYPE_INVALID,
            if studio {
                format!("{drm} is not enabled for this site")
            } else {
                format!("Invalid DRM type in token: {drm} is not enabled for this site")
            },
        ));
    }
    Ok(())
}

/// Stage 2: the content id.
fn content(
    claim: &mut crate::frontdoor::Claim,
    expect: &crate::frontdoor::Expect<'_>,
) -> Result<(), Refusal> {
    use crate::frontdoor::ContentRule;
    match &claim.gates.content {
        None => Ok(()),
        Some(ContentRule::Exact) => match expect.cid {
            Some(c) if c != claim.entitlement.content_id => Err(Refusal::new(codes::CID_MISMATCH)),
            _ => Ok(()),
        },
        Some(ContentRule::Studio {
            token_cid,
            must_match,
        }) => {
            let cid = match (expect.cid, token_cid.as_deref()) {
                (Some(req), Some(tok)) if *must_match && req != tok => {
                    return Err(Refusal::new(codes::STUDIO_CONTENT_MISMATCH))
                }
                (Some(req), _) => req.to_owned(),
                (None, Some(tok)) => tok.to_owned(),
                (None, None) => return Err(Refusal::new(codes::STUDIO_CONTENT_MISSING)),
            };
            claim.entitlement.content_id = cid;
            Ok(())
        }
    }
}

/// Stage 3: a site with a CORS list refuses requests from other origins.
fn origin(claim: &crate::frontdoor::Claim, client: &ClientInfo) -> Result<(), Refusal> {
    let Some(site) = &claim.site else {
        return Ok(());
    };
    let list = &site.settings.cors_origins;
    if list.is_empty() {
        return Ok(());
    }
    match client.origin.as_deref() {
        Some(o) if !list.iter().any(|a| a == o || a == "*") => Err(Refusal::with(
            codes::ORIGIN_NOT_ALLOWED,
            format!(
                "Origin {} is not allowed for this site",
                crate::json::bounded(o, 128)
            ),
        )),
        _ => Ok(()),
    }
}
