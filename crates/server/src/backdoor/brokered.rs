//! Widevine and PlayReady licences need a licensed upstream (FairPlay has its
//! own KSM in [`super::fairplay`], with the site's credentials). Until one is
//! configured, keyward fully verifies the credential, recognises the
//! challenge (so a malformed one gets its own code), answers what it can
//! itself (the Widevine service certificate), and refuses with the vendor's
//! "no service" code.
//!
//! PlayReady goes to the site's PlayReady upstreams when it has any (kinds
//! `playready`, `http-forward`; in order, with failover): the challenge is
//! parsed, the licence's absolute expiry checked, the challenge's key ids the
//! credential does not carry resolved in the site's key store (for kinds that
//! send keys or key ids), then [`super::upstream::broker`]; no upstream
//! answering is 7208.

use std::borrow::Cow;
use std::sync::Arc;

use keyward_drm::playready::PlayReadyChallenge;
use keyward_drm::widevine::WidevineChallenge;
use keyward_drm::Kid;

use super::{check_expiry, BackDoor, Challenge, Context, Licence};
use crate::codes::{self, Code};
use crate::entitlement::{CarriedKey, Entitlement, KeySource};
use crate::refusal::Refusal;
use crate::resources::upstreams::{Route, Upstreams};

/// Widevine: the service certificate from the site's configuration; licences
/// refused until an upstream exists.
pub struct Widevine;

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
        let routes: Vec<&Route> = routes.iter().map(AsRef::as_ref).collect();
        super::upstream::broker(
            &self.upstreams,
            &routes,
            &ent,
            body,
            cx.request_id,
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
        match WidevineChallenge::parse(message(challenge)?)? {
            WidevineChallenge::ServiceCertificateRequest => {
                match cx
                    .site
                    .and_then(|s| s.settings.widevine_service_cert.as_ref())
                {
                    Some(c) => Ok(Licence::octets(c.clone())),
                    None => Err(Refusal::new(codes::WIDEVINE_NO_SERVICE_CERT)),
                }
            }
            WidevineChallenge::LicenseRequest { key_ids, .. }
                if ent.keys.source == KeySource::CarriedOnly
                    && !key_ids.is_empty()
                    && !key_ids.iter().any(|k| {
                        ent.keys
                            .cenc
                            .iter()
                            .any(|c| c.kid.map(|x| x.0) == Some(k.0))
                    }) =>
            {
                Err(Refusal::with(
                    codes::KEY_NOT_FOUND,
                    "The challenge names no key the credential carries",
                ))
            }
            _ => Err(no_upstream(codes::WIDEVINE_NO_UPSTREAM, "Widevine")),
        }
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
