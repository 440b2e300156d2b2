//! The Studio-DRM-style front door: a v2 token from `x-vudrm-token`, `?token=`
//! or `Authorization: Bearer` → a verified, single-use [`Entitlement`].
//!
//! Order of checks, cheapest and stateless first: shape → client → hash and
//! time window → site and endpoint expectations → content id → geo / VPN →
//! single use (atomic, persisted) → session webhook. The token is consumed
//! only once every local rule passed, and before the outbound webhook call so
//! that concurrent replays of one token cannot each reach the customer's API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use keyward_store::AuditEvent;
use keyward_token::studio::{StudioError, StudioVerifyOptions, UntrustedStudioToken};
use keyward_token::{DrmType, Policy, Timestamp};

use super::pallycon::Expect;
use crate::entitlement::{Entitlement, Source, StudioGrant};
use crate::error::ApiError;
use crate::gatekeeper::peer::client_ip;
use crate::state::{AppState, SiteEntry};

type Refusal = (ApiError, Option<Arc<SiteEntry>>);

/// The replay namespace of Studio tokens.
pub const REPLAY_NAMESPACE: &str = "studio";

/// The HTTP answer for a token-format or verification error.
pub fn token_error(e: &StudioError) -> ApiError {
    let status = match e {
        StudioError::Malformed(_) | StudioError::Version => StatusCode::BAD_REQUEST,
        StudioError::Policy(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNAUTHORIZED,
    };
    let msg = match e {
        StudioError::BadHash => {
            "Invalid Studio token: the hash does not verify (tampered, or minted for another client)"
                .to_owned()
        }
        other => format!("Invalid Studio token: {other}"),
    };
    ApiError::new(e.code(), status, msg)
}

/// Store errors of the Studio paths in their own codes.
pub fn store_error(e: keyward_store::StoreError) -> ApiError {
    match e.code() {
        "client_not_found" => {
            ApiError::new("client_not_found", StatusCode::NOT_FOUND, "No such client")
        }
        "client_exists" => ApiError::new(
            "client_exists",
            StatusCode::CONFLICT,
            "A client with that name or API key already exists",
        ),
        "api_key_not_found" => ApiError::new(
            "api_key_not_found",
            StatusCode::NOT_FOUND,
            "No API key with that id for this client",
        ),
        "site_not_found" => {
            ApiError::new("site_not_found", StatusCode::NOT_FOUND, "Site not found")
        }
        _ => e.into(),
    }
}

/// The DRM a Studio token is used for: the endpoint's (Studio tokens name none).
fn endpoint_drm(expect: &Expect<'_>) -> Result<DrmType, ApiError> {
    match expect.drms {
        [one] => Ok(*one),
        [DrmType::ClearKey, DrmType::Ncg] => Ok(DrmType::ClearKey),
        _ => Err(ApiError::new(
            "studio_drm_unknown",
            StatusCode::BAD_REQUEST,
            "A Studio token names no DRM: use /v1/license/{drm} or the ClearKey / HLS key paths",
        )),
    }
}

/// Verifies a Studio token for this endpoint and request.
pub async fn verify(
    state: &AppState,
    raw: &str,
    expect: Expect<'_>,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(Entitlement, Arc<SiteEntry>), Refusal> {
    let plain = |e: ApiError| (e, None);
    let drm = endpoint_drm(&expect).map_err(plain)?;
    let untrusted = UntrustedStudioToken::parse(raw).map_err(|e| plain(token_error(&e)))?;
    let gk = state.gatekeeper();
    let entry = gk
        .client(state.store().as_ref(), untrusted.untrusted_client())
        .await
        .map_err(plain)?
        .ok_or_else(|| {
            plain(ApiError::new(
                "studio_unknown_client",
                StatusCode::UNAUTHORIZED,
                format!(
                    "Invalid Studio token: no client named {}",
                    untrusted.untrusted_client()
                ),
            ))
        })?;
    let settings = &entry.client.settings;
    if settings.disabled {
        return Err(plain(ApiError::new(
            "studio_client_disabled",
            StatusCode::FORBIDDEN,
            "The token's client is disabled",
        )));
    }
    let secret = entry
        .secrets
        .iter()
        .find(|s| s.kid() == untrusted.kid())
        .ok_or_else(|| plain(token_error(&StudioError::BadHash)))?;
    // With max_uses > 1 the grace window extends the accepted window.
    let extra = if settings.max_uses > 1 {
        settings.grace_secs
    } else {
        0
    };
    let opts = StudioVerifyOptions {
        now: Timestamp::now(),
        ttl_secs: settings.ttl_secs.saturating_add(extra),
        leeway_secs: settings.leeway_secs,
    };
    let verified = untrusted
        .verify(secret, &opts)
        .map_err(|e| plain(token_error(&e)))?;
    // From here the client is known: a refusal is counted in its statistics
    // too (as the licence outcomes are), with the rule's code as the result.
    match admit(state, &entry, &verified, expect, drm, peer, headers).await {
        Ok((mut ent, site)) => {
            let client = verified.client().to_owned();
            ent.studio = Some(Arc::new(StudioGrant {
                client,
                policy: verified.into_policy(),
            }));
            Ok((ent, site))
        }
        Err(refusal) => {
            let policy = verified.policy();
            let mut ev = AuditEvent::new("license", refusal.0.code.as_str());
            ev.site_id = Some(entry.client.site_id.clone());
            ev.cid = expect
                .cid
                .or(policy.content_id.as_deref())
                .map(str::to_owned);
            ev.drm = Some(drm.as_str().to_owned());
            ev.request_id = Some(crate::http::request_id(headers));
            ev.detail = serde_json::json!({
                "source": "studio",
                "client": verified.client(),
                "client_data": policy.client_data,
            });
            state.audit().submit(ev).await;
            Err(refusal)
        }
    }
}

/// The rules after the token verified: site and endpoint, content id, geo /
/// VPN, single use, session webhook; then the entitlement (its Studio grant
/// is added by the caller, which moves the policy in).
async fn admit(
    state: &AppState,
    entry: &crate::gatekeeper::ClientEntry,
    verified: &keyward_token::studio::VerifiedStudioToken,
    expect: Expect<'_>,
    drm: DrmType,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(Entitlement, Arc<SiteEntry>), Refusal> {
    let gk = state.gatekeeper();
    let settings = &entry.client.settings;
    let plain = |e: ApiError| (e, None);
    let site_id = entry.client.site_id.as_str();
    let site = state.site(site_id).await.map_err(plain)?;
    let fail = |e: ApiError| (e, Some(site.clone()));
    if site.settings.disabled {
        return Err(fail(ApiError::new(
            "1004",
            StatusCode::FORBIDDEN,
            "The site's service is stopped",
        )));
    }
    if let Some(s) = expect.site {
        if s != site_id {
            return Err(fail(ApiError::new(
                "7016",
                StatusCode::FORBIDDEN,
                format!("Invalid token: the token is for site {site_id}, the request names {s}"),
            )));
        }
    }
    if let Ok(d) = drm.as_str().parse::<keyward_store::Drm>() {
        if !site.settings.allows(d) {
            return Err(fail(ApiError::new(
                "7018",
                StatusCode::FORBIDDEN,
                format!("{drm} is not enabled for this site"),
            )));
        }
    }
    let policy = verified.policy();
    let cid = match (expect.cid, policy.content_id.as_deref()) {
        (Some(req), Some(tok)) if policy.must_match_content() && req != tok => {
            return Err(fail(ApiError::new(
                "studio_content_mismatch",
                StatusCode::FORBIDDEN,
                "Denied by rule content_id: the request names another content id than the token",
            )))
        }
        (Some(req), _) => req.to_owned(),
        (None, Some(tok)) => tok.to_owned(),
        (None, None) => {
            return Err(fail(ApiError::new(
                "studio_content_missing",
                StatusCode::BAD_REQUEST,
                "The token has no content_id and the request names none (add ?cid=)",
            )))
        }
    };
    if let Some(g) = &policy.geo_restrictions {
        let ip = client_ip(peer, headers, &gk.config().trusted_proxies);
        gk.check_geo(g, ip).map_err(fail)?;
    }
    let expires = verified.expires_at().unix() + 1;
    let r = state
        .store()
        .redeem(
            REPLAY_NAMESPACE,
            &replay_id(verified),
            verified.generated_at().unix(),
            expires,
            settings.max_uses,
        )
        .await
        .map_err(|e| fail(e.into()))?;
    if r.unverifiable {
        return Err(fail(ApiError::new(
            "studio_token_unverifiable",
            StatusCode::FORBIDDEN,
            "The Studio token was issued before keyward restarted after an unclean stop, and its earlier uses may not have been saved: ask for a new token",
        )));
    }
    if !r.accepted {
        return Err(fail(ApiError::new(
            "studio_token_used",
            StatusCode::FORBIDDEN,
            format!(
                "The Studio token was already used ({} of {} allowed uses): each licence request needs a new token",
                r.use_count, settings.max_uses
            ),
        )));
    }
    if let Some(sess) = &policy.session {
        let http = gk
            .http()
            .ok_or_else(|| fail(ApiError::internal("HTTP client unavailable")))?;
        crate::gatekeeper::session::check(http, sess, gk.session_timeout())
            .await
            .map_err(fail)?;
    }
    let mut ent = Entitlement::from_policy(
        Source::Studio,
        site_id,
        verified.client(),
        &cid,
        drm,
        &Policy::new(),
    );
    ent.persistent = policy.offline;
    ent.rental_duration = policy.rental_duration_seconds.filter(|d| *d > 0);
    ent.license_duration = policy.rental_duration_seconds.filter(|d| *d > 0);
    ent.playback_duration = policy.firstplayback_seconds.filter(|d| *d > 0);
    Ok((ent, site))
}

/// The replay-set id of a verified token: its generation time (big-endian
/// unix seconds) then the SHA-256 of the whole token. The time prefix keeps
/// the ids of one moment together, so a busy gateway's new entries land in
/// the last pages of the replay index instead of on a random page each.
fn replay_id(t: &keyward_token::studio::VerifiedStudioToken) -> [u8; 40] {
    let mut id = [0u8; 40];
    id[..8].copy_from_slice(&t.generated_at().unix().to_be_bytes());
    id[8..].copy_from_slice(&t.token_id());
    id
}

/// Records a licence outcome of a Studio entitlement in the audit trail (for
/// `GET /v2/stats`); written off the request path, which only waits when the
/// writer is so far behind that the queue is full.
pub async fn record(state: &AppState, ent: &Entitlement, result: &str, request_id: &str) {
    let Some(grant) = ent.studio.clone() else {
        return;
    };
    let mut ev = AuditEvent::new("license", result);
    ev.site_id = keyward_store::SiteId::parse(&ent.site_id).ok();
    ev.cid = Some(ent.cid.clone());
    ev.drm = Some(ent.drm.as_str().to_owned());
    ev.request_id = Some(request_id.to_owned());
    ev.detail = serde_json::json!({
        "source": "studio",
        "client": grant.client,
        "client_data": grant.policy.client_data,
    });
    state.audit().submit(ev).await;
}
