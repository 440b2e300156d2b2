//! Widevine and PlayReady licences need a licensed upstream (FairPlay has its
//! own KSM in [`super::fairplay`], with the site's credentials).
//!
//! Widevine: keyward fully verifies the credential and recognises the
//! challenge (a malformed one gets its own code). A site with Widevine
//! upstreams (`widevine-cloud`, `http-forward`, `doverunner`, see
//! [`super::upstream`]) gets
//! its licence requests brokered there, in order with failover (7115 when none
//! answers); without upstreams the answer is the vendor's "no service" code
//! (7104). The service certificate request (`08 04`) is answered from the
//! site's configured certificate, else fetched once from the first upstream
//! route that is not failing and cached per route in memory (refreshed daily),
//! so the certificate a player gets is the one of the route that issues its
//! licences; with neither, 7106.
//!
//! PlayReady goes to the site's PlayReady upstreams when it has any (kinds
//! `playready`, `http-forward`, `doverunner`; in order, with failover): the challenge is
//! parsed, the licence's absolute expiry checked, the challenge's key ids the
//! credential does not carry resolved in the site's key store (for kinds that
//! send keys or key ids), then [`super::upstream::broker`]; no upstream
//! answering is 7208. Without upstreams: 7202.
//!
//! The DRMs keyward neither issues nor brokers: the challenge is parsed, then
//! the "no service" code.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::borrow::Cow;
use std::sync::Arc;

use keyward_drm::playready::PlayReadyChallenge;
use keyward_drm::widevine::WidevineChallenge;
use keyward_drm::Kid;
use tokio::sync::OnceCell;

use super::upstream::widevine_cloud::SERVICE_CERTIFICATE_REQUEST;
use super::{check_expiry, BackDoor, Challenge, Context, Licence};
use crate::codes::{self, Code};
use crate::entitlement::{CarriedKey, Entitlement, KeySource};
use crate::refusal::Refusal;
use crate::resources::upstreams::{Route, Upstreams};

/// How long a fetched service certificate is served before it is fetched
/// again.
const CERT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most cached certificates (routes); past it the cache starts over.
const MAX_CERTS: usize = 4096;

/// A route's identity for the certificate cache: site, name, URL and
/// creation time (a route removed and added again is another route).
type CertKey = (String, String, String, i64);
type CertCell = Arc<OnceCell<(Vec<u8>, Instant)>>;

/// Widevine: licences through the site's upstreams; the service certificate
/// from the site's configuration or its upstream.
pub struct Widevine {
    upstreams: Arc<Upstreams>,
    certs: Mutex<HashMap<CertKey, CertCell>>,
}

impl Widevine {
    /// The back door over the sites' upstreams.
    pub fn new(upstreams: Arc<Upstreams>) -> Self {
        Self {
            upstreams,
            certs: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, route: &Route) -> CertCell {
        let u = &route.upstream;
        let key = (
            u.site_id.as_str().to_owned(),
            u.name.clone(),
            u.url.clone(),
            u.created_at,
        );
        let mut map = self.certs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key) {
            if c.get().is_none_or(|(_, at)| at.elapsed() < CERT_TTL) {
                return c.clone();
            }
        }
        if map.len() >= MAX_CERTS {
            map.clear();
        }
        let c = CertCell::default();
        map.insert(key, c.clone());
        c
    }

    /// The service certificate of the first route that is not failing: from
    /// the cache, else asked once (concurrent askers wait for that answer).
    async fn certificate(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        routes: &[Arc<Route>],
    ) -> Result<Licence, Refusal> {
        enum Failed {
            NotAnswered(&'static str),
            Refused(Refusal),
        }
        let mut reasons = Vec::new();
        // A certificate cached for a route whose breaker is open: served when
        // no route answers (its licences fail too, but the player can start).
        let mut fallback: Option<Vec<u8>> = None;
        for route in routes {
            let u = &route.upstream;
            if self.upstreams.breaker_state(u.site_id.as_str(), &u.name).1 {
                reasons.push(format!("{}: circuit open", u.name));
                if fallback.is_none() {
                    fallback = self.cell(route).get().map(|(c, _)| c.clone());
                }
                continue;
            }
            let Some(kind) = super::upstream::kind(&u.kind) else {
                return Err(Refusal::internal(format!(
                    "stored upstream {} of unknown kind {}",
                    route.label(),
                    u.kind
                )));
            };
            let cell = self.cell(route);
            let got = cell
                .get_or_try_init(|| async {
                    let out = kind
                        .build(route, ent, &[], SERVICE_CERTIFICATE_REQUEST)
                        .map_err(Failed::Refused)?;
                    let answer = self
                        .upstreams
                        .send(route, &out, cx.request_id)
                        .await
                        .map_err(Failed::NotAnswered)?;
                    let cert = kind.judge(route, ent, answer).map_err(Failed::Refused)?;
                    tracing::info!(route = %route.label(), bytes = cert.body.len(), "Widevine service certificate fetched");
                    Ok((cert.body, Instant::now()))
                })
                .await;
            match got {
                Ok((cert, _)) => return Ok(Licence::octets(cert.clone())),
                Err(Failed::Refused(r)) => return Err(r),
                Err(Failed::NotAnswered(why)) => reasons.push(format!("{}: {why}", u.name)),
            }
        }
        if let Some(cert) = fallback {
            tracing::warn!(reasons = %reasons.join("; "), "Widevine service certificate served from the cache of a failing route");
            return Ok(Licence::octets(cert));
        }
        Err(
            Refusal::new(codes::WIDEVINE_UPSTREAM_UNAVAILABLE).log(format!(
                "no upstream answered the service certificate request: {}",
                reasons.join("; ")
            )),
        )
    }
}

/// Parses a challenge, refusing a malformed one with its own code.
pub type ChallengeCheck = fn(&[u8]) -> Result<(), Refusal>;

/// A DRM keyward recognises but cannot license without an upstream: the
/// challenge is parsed (a malformed one gets its own code), then the DRM's
/// "no service" code.
pub struct NoUpstream {
    /// The DRM's name in messages.
    pub name: &'static str,
    /// The "no upstream" code.
    pub code: Code,
    /// Parses the challenge (`None`: nothing to parse).
    pub check: Option<ChallengeCheck>,
}

impl NoUpstream {
    /// A DRM keyward neither issues nor brokers (NCG, WisePlay): 9999.
    pub fn unsupported(name: &'static str) -> Self {
        Self {
            name,
            code: codes::DRM_UNSUPPORTED,
            check: None,
        }
    }
}

fn message(challenge: Challenge<'_>) -> Result<&[u8], Refusal> {
    match challenge {
        Challenge::Message(b) => Ok(b),
        _ => Err(Refusal::with(
            codes::BAD_REQUEST,
            "This licence needs a challenge in the request body",
        )),
    }
}

/// PlayReady: the site's PlayReady upstreams; without any, the challenge is
/// parsed (a malformed one gets its own code) and refused with 7202.
pub struct PlayReady {
    /// The sites' upstreams.
    pub upstreams: Arc<Upstreams>,
}

/// The entitlement with the stored keys of the challenge's key ids it does not
/// carry (the entitled content's keys only; none for a credential that
/// carries only its own keys). Key ids without a key are left for the
/// upstream kind to judge.
async fn with_stored_keys<'e>(
    cx: &Context<'_>,
    ent: &'e Entitlement,
    kids: &[Kid],
) -> Result<Cow<'e, Entitlement>, Refusal> {
    let missing: Vec<&Kid> = kids
        .iter()
        .filter(|k| !ent.keys.cenc.iter().any(|c| c.kid.as_ref() == Some(*k)))
        .collect();
    if missing.is_empty()
        || ent.keys.source == KeySource::CarriedOnly
        || ent.content_id.is_empty()
        || ent.site_id.is_empty()
    {
        return Ok(Cow::Borrowed(ent));
    }
    let stored = cx.keys.keys(&ent.site_id, &ent.content_id).await?;
    let mut out = ent.clone();
    for kid in missing {
        if let Some(r) = stored.iter().find(|r| r.kid == *kid) {
            out.keys.cenc.push(CarriedKey {
                track_type: r.track_type,
                kid: Some(r.kid),
                key: r.key.clone(),
                iv: r.iv,
            });
        }
    }
    Ok(Cow::Owned(out))
}

#[async_trait::async_trait]
impl BackDoor for PlayReady {
    async fn licence(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal> {
        let body = message(challenge)?;
        let parsed = PlayReadyChallenge::parse(body)?;
        let routes = if ent.site_id.is_empty() {
            Arc::new(Vec::new())
        } else {
            self.upstreams
                .routes(&ent.site_id, keyward_store::Drm::PlayReady)
                .await?
        };
        if routes.is_empty() {
            return Err(no_upstream(codes::PLAYREADY_NO_UPSTREAM, "PlayReady"));
        }
        check_expiry(ent)?;
        let ent = with_stored_keys(cx, ent, &parsed.key_ids).await?;
        // The content's keys, for kinds that send every key (`doverunner`).
        let stored = if ent.keys.source == KeySource::CarriedThenStore && !ent.content_id.is_empty()
        {
            cx.keys.keys(&ent.site_id, &ent.content_id).await?
        } else {
            Arc::new(Vec::new())
        };
        let routes: Vec<&Route> = routes.iter().map(AsRef::as_ref).collect();
        super::upstream::broker(
            &self.upstreams,
            &routes,
            &ent,
            &stored,
            body,
            cx,
            codes::PLAYREADY_UPSTREAM_UNAVAILABLE,
        )
        .await
    }
}

/// The refusal for a DRM keyward brokers but has no upstream for.
pub fn no_upstream(code: Code, drm: &str) -> Refusal {
    Refusal::with(
        code,
        format!("No {drm} upstream is configured: the token is valid, but keyward cannot issue {drm} licences itself"),
    )
}

#[async_trait::async_trait]
impl BackDoor for Widevine {
    async fn licence(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal> {
        let body = message(challenge)?;
        let parsed = WidevineChallenge::parse(body)?;
        if parsed == WidevineChallenge::ServiceCertificateRequest {
            if let Some(c) = cx
                .site
                .and_then(|s| s.settings.widevine_service_cert.as_ref())
            {
                return Ok(Licence::octets(c.clone()));
            }
        }
        if let WidevineChallenge::LicenseRequest { key_ids, .. } = &parsed {
            if ent.keys.source == KeySource::CarriedOnly
                && !key_ids.is_empty()
                && !key_ids.iter().any(|k| {
                    ent.keys
                        .cenc
                        .iter()
                        .any(|c| c.kid.map(|x| x.0) == Some(k.0))
                })
            {
                return Err(Refusal::with(
                    codes::KEY_NOT_FOUND,
                    "The challenge names no key the credential carries",
                ));
            }
        }
        let routes = if ent.site_id.is_empty() {
            Arc::new(Vec::new())
        } else {
            self.upstreams
                .routes(&ent.site_id, keyward_store::Drm::Widevine)
                .await?
        };
        if parsed == WidevineChallenge::ServiceCertificateRequest {
            if routes.is_empty() {
                return Err(Refusal::new(codes::WIDEVINE_NO_SERVICE_CERT));
            }
            return self.certificate(cx, ent, &routes).await;
        }
        if routes.is_empty() {
            return Err(no_upstream(codes::WIDEVINE_NO_UPSTREAM, "Widevine"));
        }
        check_expiry(ent)?;
        let stored = if ent.keys.source == KeySource::CarriedThenStore && !ent.content_id.is_empty()
        {
            cx.keys.keys(&ent.site_id, &ent.content_id).await?
        } else {
            Arc::new(Vec::new())
        };
        let refs: Vec<&Route> = routes.iter().map(AsRef::as_ref).collect();
        super::upstream::broker(
            &self.upstreams,
            &refs,
            ent,
            &stored,
            body,
            cx,
            codes::WIDEVINE_UPSTREAM_UNAVAILABLE,
        )
        .await
        .map(|mut lic| {
            // A release the upstream acknowledged ends the playback: its
            // stream slot is freed.
            lic.ends_playback = matches!(
                parsed,
                WidevineChallenge::LicenseRequest {
                    request_type: keyward_drm::widevine::RequestType::Release,
                    ..
                }
            );
            lic
        })
    }
}

#[async_trait::async_trait]
impl BackDoor for NoUpstream {
    async fn licence(
        &self,
        _cx: &Context<'_>,
        _ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal> {
        if let Some(check) = self.check {
            check(message(challenge)?)?;
        }
        Err(no_upstream(self.code, self.name))
    }
}
