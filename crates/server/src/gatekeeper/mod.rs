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

pub mod callback;
pub mod session;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use keyward_token::studio::GeoRestrictions;

use crate::codes;
use crate::net::peer;
use crate::refusal::Refusal;
use crate::resources::geo::GeoDb;
use crate::resources::vpn::VpnLists;

/// Applies geo and VPN rules to the client address.
pub fn check_geo(
    geo: Option<&GeoDb>,
    vpn: &VpnLists,
    g: &GeoRestrictions,
    ip: Option<IpAddr>,
) -> Result<(), Refusal> {
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
        if !vpn.configured() {
            return Err(Refusal::with(codes::STUDIO_VPN_UNAVAILABLE, "Denied by rule geo_restrictions.block_vpn_and_tor: no VPN/Tor list is configured (vpn_lists)"));
        }
        match vpn.contains(ip) {
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
    let Some(db) = geo else {
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

/// Applies every gate of the claim, in the documented order. On success the
/// claim's entitlement is final (the callback stage may replace it).
pub async fn admit(
    state: &crate::state::AppState,
    claim: &mut crate::frontdoor::Claim,
    expect: &crate::frontdoor::Expect<'_>,
    client: &ClientInfo,
    trail: &mut Trail,
) -> Result<(), Refusal> {
    trail.at("endpoint");
    endpoint(claim, expect)?;
    trail.at("content_id");
    content(claim, expect)?;
    trail.at("origin");
    origin(claim, client)?;
    let config = &state.config().gatekeeper;
    if let Some(g) = &claim.gates.geo {
        trail.at("geo_vpn");
        let ip = peer::client_ip(client.peer, &client.forwarded_for, &config.trusted_proxies);
        check_geo(state.geo(), state.vpn(), g, ip)?;
    }
    let metrics = state.metrics();
    if let Some(su) = &claim.gates.single_use {
        trail.at("single_use");
        let r = state
            .stores()
            .replay
            .redeem(
                su.namespace,
                &su.id,
                su.issued_at,
                su.expires_at,
                su.max_uses,
            )
            .await;
        if let Some(m) = metrics {
            m.replay(
                su.namespace,
                match &r {
                    Err(_) => "error",
                    Ok(r) if r.unverifiable => "unverifiable",
                    Ok(r) if !r.accepted => "replayed",
                    Ok(_) => "accepted",
                },
            );
        }
        let r = r.map_err(|e| match e {
            // Redis or the database did not answer: neither used nor refused.
            keyward_store::StoreError::Backend { .. } => {
                Refusal::new(codes::SINGLE_USE_UNAVAILABLE).log(format!("replay store: {e}"))
            }
            e => Refusal::from(e),
        })?;
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
        trail.at("session_webhook");
        let http = state
            .outbound()
            .http()
            .ok_or_else(|| Refusal::internal("HTTP client unavailable"))?;
        let timeout = Duration::from_millis(config.session_timeout_ms);
        let started = std::time::Instant::now();
        let r = session::check(http, sess, timeout).await;
        if let Some(m) = metrics {
            m.call(
                "session",
                &claim.entitlement.site_id,
                result(&r),
                started.elapsed(),
            );
        }
        r?;
    }
    if let Some(auth) = &claim.gates.callback {
        trail.at("callback");
        let site = claim
            .site
            .as_ref()
            .ok_or_else(|| Refusal::internal("callback claim without a site"))?;
        let started = std::time::Instant::now();
        let r = callback::decide(state.callbacks(), state.outbound().http(), site, auth).await;
        if let Some(m) = metrics {
            m.call(
                "callback",
                auth.site_id.as_str(),
                result(&r),
                started.elapsed(),
            );
        }
        // The callback's rights replace the credential's; the playback stays.
        let playback = claim.entitlement.playback.take();
        claim.entitlement = r?;
        claim.entitlement.playback = playback;
    }
    // Only entitlements with a limit take a stream slot.
    if claim.entitlement.stream_limit.is_some() {
        trail.at("streams");
        let r = state.streams().admit(&claim.entitlement).await;
        if let Some(m) = metrics {
            m.streams(if r.is_ok() { "admitted" } else { "refused" });
        }
        r?;
    }
    Ok(())
}

/// The checks [`admit`] ran, in order: the ones passed and the one it was at
/// when it refused (the decision debugger's record).
#[derive(Debug, Default)]
pub struct Trail {
    passed: Vec<&'static str>,
    current: Option<&'static str>,
}

impl Trail {
    /// The check about to run (the previous one passed).
    fn at(&mut self, check: &'static str) {
        if let Some(prev) = self.current.replace(check) {
            self.passed.push(prev);
        }
    }

    /// Each check with `passed`, and the last `passed` or `refused` as `refused` says.
    pub fn checks(&self, refused: bool) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> =
            self.passed.iter().map(|c| (*c, "passed")).collect();
        if let Some(c) = self.current {
            out.push((c, if refused { "refused" } else { "passed" }));
        }
        out
    }
}

/// One gatekeeper check of a dry run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DryCheck {
    /// The check (`endpoint`, `content_id`, `origin`, `geo_vpn`, `single_use`,
    /// `session_webhook`, `callback`, `streams`).
    pub check: &'static str,
    /// `passed`, `refused`, `not_applicable` or `not_run` (a dry run has no
    /// player, touches no state and calls nobody).
    pub result: &'static str,
    /// Why it was not run, or what refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// The gatekeeper's checks on a claim without side effects, in the documented
/// order: the ones that need only the claim and the endpoint run (and the first
/// refusal ends the run, as in [`admit`]); the ones that need a player (origin,
/// client address) or change state or call out (single use, session webhook,
/// callback, stream slots) are listed as `not_run` when the claim has them.
pub fn dry_run(
    claim: &mut crate::frontdoor::Claim,
    expect: &crate::frontdoor::Expect<'_>,
) -> (Vec<DryCheck>, Result<(), Refusal>) {
    let mut checks = Vec::new();
    let mut check = |name: &'static str, r: Result<(), Refusal>| {
        let ok = r.is_ok();
        checks.push(DryCheck {
            check: name,
            result: if ok { "passed" } else { "refused" },
            note: None,
        });
        r
    };
    if let Err(r) = check("endpoint", endpoint(claim, expect)) {
        return (checks, Err(r));
    }
    if let Err(r) = check("content_id", content(claim, expect)) {
        return (checks, Err(r));
    }
    let gates = &claim.gates;
    let not_run = |name: &'static str, present: bool, note: &'static str| DryCheck {
        check: name,
        result: if present { "not_run" } else { "not_applicable" },
        note: present.then_some(note),
    };
    checks.push(not_run(
        "origin",
        true,
        "depends on the player's Origin header (the site's CORS list)",
    ));
    checks.push(not_run(
        "geo_vpn",
        gates.geo.is_some(),
        "depends on the player's address",
    ));
    checks.push(not_run(
        "single_use",
        gates.single_use.is_some(),
        "a dry run does not use up the token",
    ));
    checks.push(not_run(
        "session_webhook",
        gates.session.is_some(),
        "a dry run does not call the session webhook",
    ));
    checks.push(not_run(
        "callback",
        gates.callback.is_some(),
        "a dry run does not call the site's callback page",
    ));
    checks.push(not_run(
        "streams",
        claim.entitlement.stream_limit.is_some(),
        "a dry run takes no stream slot",
    ));
    (checks, Ok(()))
}

/// `ok` or the refusal's code (metrics).
fn result<T>(r: &Result<T, Refusal>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code.wire,
    }
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
    let allowed = claim.site.as_ref().is_none_or(|s| s.settings.allows(drm));
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
