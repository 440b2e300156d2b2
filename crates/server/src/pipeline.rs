//! The licence pipeline, one function for every licence path (the PallyCon
//! paths, the native paths, the HLS key path and ExpressPlay's rights paths):
//!
//! ```text
//! credential ─▶ front door ─▶ gatekeeper ─▶ back door ─▶ licence
//!   (edge)      verify +       endpoint, content, origin,   issue here, or
//!               translate      geo, single use, session,    refuse / broker
//!               → Claim        callback, streams
//! ```
//!
//! Each stage answers "no" with a [`Refusal`]; the edge renders it in the
//! dialect of the route group. Nothing here knows HTTP. Studio-token outcomes
//! (granted or refused once the client is known) are counted for `/v2/stats`
//! here, in one place, and so is every licence's line in the access log and
//! its metrics (counters by door, DRM, site and code; time per stage).

use keyward_store::AuditEvent;

use crate::backdoor::{self, Challenge, Licence, Target};
use crate::entitlement::{Entitlement, Origin};
use crate::frontdoor::{self, AuditContext, Credential, Denied, Expect};
use crate::gatekeeper::{self, ClientInfo};
use crate::metrics::{Laps, Stage};
use crate::state::AppState;

/// One licence request, as the edge extracted it.
pub struct LicenceRequest<'a> {
    /// The credential, if the request carries one.
    pub credential: Option<Credential>,
    /// What the endpoint expects.
    pub expect: Expect<'a>,
    /// What the player sent.
    pub challenge: Challenge<'a>,
    /// The client.
    pub client: &'a ClientInfo,
    /// The request id (logs, audit).
    pub request_id: &'a str,
    /// How a FairPlay CKC is shaped.
    pub ckc_format: keyward_drm::fairplay::CkcFormat,
    /// The player's `pallycon-client-meta` header (bounded, printable).
    pub client_meta: Option<&'a str>,
    /// The caller's W3C trace context (`traceparent`), for OTLP export.
    pub trace: Option<crate::otlp::Parent>,
}

/// Runs the pipeline.
pub async fn licence(state: &AppState, req: LicenceRequest<'_>) -> Result<Licence, Denied> {
    let mut laps = Laps::start(door_name(req.credential.as_ref()), req.expect.drms);
    let rid = req.request_id;
    let Some(cred) = req.credential else {
        let d = Denied::from(frontdoor::missing());
        access(state, req.trace, rid, None, Err(&d.refusal), &laps, &[]);
        return Err(d);
    };
    let limits = state.rate_limits();
    let ip = || {
        crate::net::peer::client_ip(
            req.client.peer,
            &req.client.forwarded_for,
            &state.config().gatekeeper.trusted_proxies,
        )
    };
    if let Err(r) = limits.client(ip).await {
        let d = Denied::from(r);
        access(state, req.trace, rid, None, Err(&d.refusal), &laps, &[]);
        return Err(d);
    }
    let (door, raw) = frontdoor::door(&cred);
    let verified = door.verify(state, raw, &req.expect).await;
    laps.lap(Stage::FrontDoor);
    let mut claim = match verified {
        Ok(c) => c,
        Err(d) => {
            if let Some(a) = &d.audit {
                record(state, a, d.refusal.code.wire, req.request_id).await;
            }
            access(state, req.trace, rid, None, Err(&d.refusal), &laps, &[]);
            return Err(d);
        }
    };
    if let Err(refusal) = limits.site(&claim.entitlement.site_id).await {
        access(
            state,
            req.trace,
            rid,
            Some(&claim.entitlement),
            Err(&refusal),
            &laps,
            &[],
        );
        return Err(Denied {
            refusal,
            site: claim.site,
            audit: None,
        });
    }
    // Only a stream limit needs to know the playback (a callback's answer
    // may bring one).
    if claim.entitlement.stream_limit.is_some() || claim.gates.callback.is_some() {
        claim.entitlement.playback = Some(playback_id(raw));
    }
    let mut trail = gatekeeper::Trail::default();
    let admitted = gatekeeper::admit(state, &mut claim, &req.expect, req.client, &mut trail).await;
    laps.lap(Stage::Gatekeeper);
    if let Err(refusal) = admitted {
        let audit = audit_context(state, &claim.entitlement, req.expect.cid);
        if let Some(a) = &audit {
            record(state, a, refusal.code.wire, req.request_id).await;
        }
        access(
            state,
            req.trace,
            rid,
            Some(&claim.entitlement),
            Err(&refusal),
            &laps,
            &trail.checks(true),
        );
        return Err(Denied {
            refusal,
            site: claim.site,
            audit,
        });
    }
    if !state.config().best_effort_sites.is_empty() {
        claim.entitlement.best_effort = state.config().best_effort_for(&claim.entitlement.site_id);
    }
    let ent = &claim.entitlement;
    let target = match req.challenge {
        Challenge::HlsKey(_) => Target::HlsKey,
        _ => Target::Drm(ent.drm),
    };
    let cx = backdoor::Context {
        keys: state.key_cache(),
        site: claim.site.as_deref(),
        ckc_format: req.ckc_format,
        request_id: req.request_id,
        client_meta: req.client_meta,
    };
    laps.back_door = back_door_name(target);
    let out = match state.backdoors().get(target) {
        Ok(door) => door.licence(&cx, ent, req.challenge).await,
        Err(r) => Err(r),
    };
    laps.lap(Stage::BackDoor);
    if matches!(&out, Ok(l) if l.ends_playback) {
        state.streams().release(ent).await;
    }
    let out = out.map_err(|r| match ent.origin {
        Origin::ExpressPlay => frontdoor::expressplay::translate_refusal(r, ent.drm),
        _ => r,
    });
    if let Some(a) = audit_context(state, ent, None) {
        let result = match &out {
            Ok(_) => "ok",
            Err(r) => r.code.wire,
        };
        record(state, &a, result, req.request_id).await;
    }
    access(
        state,
        req.trace,
        rid,
        Some(ent),
        out.as_ref().map(|_| ()),
        &laps,
        &trail.checks(false),
    );
    out.map_err(|refusal| Denied {
        refusal,
        site: claim.site,
        audit: None,
    })
}

/// The playback a credential stands for (the stream a limit counts): the
/// first 16 bytes of the credential's SHA-256, in hex. Every licence request
/// a player makes with one token (per-key requests, renewals) shares it.
fn playback_id(credential: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(credential.as_bytes())[..16])
}

/// The access log: one line per licence request (target `keyward::licence`,
/// info; JSON with `KEYWARD_LOG_FORMAT=json`; an operator silences it with
/// `KEYWARD_LOG=info,keyward::licence=warn`): request id, site, DRM, content,
/// user, outcome, code, latency. A request refused before its credential
/// verified names nothing from it. The same request is counted and timed in
/// the metrics (site `unknown` before the credential verified).
fn access(
    state: &AppState,
    trace: Option<crate::otlp::Parent>,
    rid: &str,
    ent: Option<&Entitlement>,
    result: Result<(), &crate::refusal::Refusal>,
    laps: &Laps,
    checks: &[(&'static str, &'static str)],
) {
    if let Some(m) = state.metrics() {
        m.licence(
            laps,
            ent.map(|e| (e.site_id.as_str(), e.drm)),
            result.err().map(|r| r.code.wire),
        );
    }
    let decisions = state.decisions();
    let to_audit = ent.filter(|e| state.config().audits_decisions_of(&e.site_id));
    if decisions.enabled() || to_audit.is_some() {
        let d = crate::decisions::Decision::of(&crate::decisions::Ending {
            request_id: rid,
            front_door: laps.front_door,
            back_door: laps.back_door,
            entitlement: ent,
            refusal: result.err(),
            times: laps.times(),
            total: laps.elapsed(),
            checks,
        });
        if let Some(e) = to_audit {
            state.audit().try_submit(d.audit_event(e));
        }
        if decisions.enabled() {
            decisions.push(d);
        }
    }
    let tracer = state.tracer();
    if tracer.enabled() {
        tracer.record(&crate::otlp::LicenceTrace {
            parent: trace,
            request_id: rid,
            doors: (laps.front_door, laps.back_door),
            site_drm: ent.map(|e| (e.site_id.as_str(), e.drm.as_str())),
            code: result.err().map_or("ok", |r| r.code.wire),
            times: laps.times(),
            total: laps.elapsed(),
        });
    }
    let us = u64::try_from(laps.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (outcome, code) = match result {
        Ok(()) => ("granted", "ok"),
        Err(r) => ("refused", r.code.wire),
    };
    match ent {
        Some(e) => {
            tracing::info!(target: "keyward::licence", request_id = %rid, site = %e.site_id, drm = %e.drm, cid = %e.content_id, user = %e.subject, outcome, code, us, "licence")
        }
        None => {
            tracing::info!(target: "keyward::licence", request_id = %rid, outcome, code, us, "licence")
        }
    }
}

/// The front door's metrics label.
fn door_name(cred: Option<&Credential>) -> &'static str {
    match cred {
        None => "none",
        Some(Credential::CustomDataV2(_)) => "pallycon",
        Some(Credential::CustomDataV1(_)) => "pallycon_v1",
        Some(Credential::Studio(_)) => "studio",
        Some(Credential::ExpressPlay(_)) => "expressplay",
    }
}

/// The back door's metrics label.
fn back_door_name(t: Target) -> &'static str {
    use keyward_token::DrmType as D;
    match t {
        Target::HlsKey => "hls_key",
        Target::Drm(D::ClearKey) => "clearkey",
        Target::Drm(D::Widevine) => "widevine",
        Target::Drm(D::PlayReady) => "playready",
        Target::Drm(D::FairPlay) => "fairplay",
        Target::Drm(D::Ncg) => "ncg",
        Target::Drm(D::Wiseplay) => "wiseplay",
    }
}

/// Where an entitlement's outcomes are counted, if anywhere.
fn audit_context(
    state: &AppState,
    ent: &Entitlement,
    request_cid: Option<&str>,
) -> Option<AuditContext> {
    // Studio licences always (their rows feed /v2/stats); every other licence when
    // the operator asks for it (`audit_all_licences`).
    let attribution = ent.attribution.clone();
    if attribution.is_none() && !state.config().audit_all_licences {
        return None;
    }
    let cid = request_cid
        .or(Some(ent.content_id.as_str()))
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Some(AuditContext {
        attribution,
        site_id: ent.site_id.clone(),
        cid,
        user: Some(ent.subject.clone()).filter(|u| !u.is_empty()),
        drm: ent.drm,
        origin: ent.origin,
    })
}

/// Records a licence outcome in the audit trail (for `GET /v2/stats`); written
/// off the request path, which only waits when the writer is so far behind
/// that the queue is full.
async fn record(state: &AppState, a: &AuditContext, result: &str, request_id: &str) {
    let mut ev = AuditEvent::new("license", result);
    ev.site_id = keyward_store::SiteId::parse(&a.site_id).ok();
    ev.cid = a.cid.clone();
    ev.drm = Some(a.drm.as_str().to_owned());
    ev.request_id = Some(request_id.to_owned());
    // Bounded by the tokens already; an over-long one is left out rather than
    // refusing the whole batch.
    ev.user = a
        .user
        .clone()
        .filter(|u| u.len() <= keyward_store::audit::MAX_USER_LEN);
    ev.detail = match &a.attribution {
        Some(at) => serde_json::json!({
            "source": "studio",
            "client": at.client,
            "client_data": at.client_data,
        }),
        None => serde_json::json!({ "source": a.origin.as_str() }),
    };
    state.audit().submit(ev).await;
}
