//! Widevine and PlayReady licences need a licensed upstream (FairPlay has its
//! own KSM in [`super::fairplay`], with the site's credentials). Until one is
//! configured, keyward fully verifies the credential, recognises the
//! challenge (so a malformed one gets its own code), answers what it can
//! itself (the Widevine service certificate), and refuses with the vendor's
//! "no service" code.

use keyward_drm::widevine::WidevineChallenge;

use super::{BackDoor, Challenge, Context, Licence};
use crate::codes::{self, Code};
use crate::entitlement::{Entitlement, KeySource};
use crate::refusal::Refusal;

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
    /// PlayReady: the SOAP challenge, then 7202.
    pub fn playready() -> Self {
        Self {
            name: "PlayReady",
            code: codes::PLAYREADY_NO_UPSTREAM,
            check: Some(|b| {
                keyward_drm::playready::PlayReadyChallenge::parse(b)?;
                Ok(())
            }),
        }
    }

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
