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
//! here, in one place.

use keyward_store::AuditEvent;

use crate::backdoor::{self, Challenge, Licence, Target};
use crate::entitlement::{Entitlement, Origin};
use crate::frontdoor::{self, AuditContext, Credential, Denied, Expect};
use crate::gatekeeper::{self, ClientInfo};
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
}

/// Runs the pipeline.
pub async fn licence(state: &AppState, req: LicenceRequest<'_>) -> Result<Licence, Denied> {
    let cred = req
        .credential
        .ok_or_else(|| Denied::from(frontdoor::missing()))?;
    let (door, raw) = frontdoor::door(&cred);
    let mut claim = match door.verify(state, raw, &req.expect).await {
        Ok(c) => c,
        Err(d) => {
            if let Some(a) = &d.audit {
                record(state, a, d.refusal.code.wire, req.request_id).await;
            }
            return Err(d);
        }
    };
    if let Err(refusal) = gatekeeper::admit(state, &mut claim, &req.expect, req.client).await {
        let audit = audit_context(&claim.entitlement, req.expect.cid);
        if let Some(a) = &audit {
            record(state, a, refusal.code.wire, req.request_id).await;
        }
        return Err(Denied {
            refusal,
            site: claim.site,
            audit,
        });
    }
    let ent = &claim.entitlement;
    // One line per granted licence (target `keyward::licence`; an operator
    // silences it with KEYWARD_LOG=info,keyward::licence=warn).
    tracing::info!(target: "keyward::licence", site = %ent.site_id, cid = %ent.content_id, drm = %ent.drm, user = %ent.subject, "entitled");
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
    let out = match state.backdoors().get(target) {
        Ok(door) => door.licence(&cx, ent, req.challenge).await,
        Err(r) => Err(r),
    };
    let out = out.map_err(|r| match ent.origin {
        Origin::ExpressPlay => frontdoor::expressplay::translate_refusal(r, ent.drm),
        _ => r,
    });
    if let Some(a) = audit_context(ent, None) {
        let result = match &out {
            Ok(_) => "ok",
            Err(r) => r.code.wire,
        };
        record(state, &a, result, req.request_id).await;
    }
    out.map_err(|refusal| Denied {
        refusal,
        site: claim.site,
        audit: None,
    })
}

/// Where an entitlement's outcomes are counted, if anywhere.
fn audit_context(ent: &Entitlement, request_cid: Option<&str>) -> Option<AuditContext> {
    let attribution = ent.attribution.clone()?;
    let cid = request_cid
        .or(Some(ent.content_id.as_str()))
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Some(AuditContext {
        attribution,
        site_id: ent.site_id.clone(),
        cid,
        drm: ent.drm,
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
    ev.detail = serde_json::json!({
        "source": "studio",
        "client": a.attribution.client,
        "client_data": a.attribution.client_data,
    });
    state.audit().submit(ev).await;
}
