//! The Studio-DRM-style front door: a v2 token from `x-vudrm-token`, `?token=`
//! or `Authorization: Bearer` → a verified claim.
//!
//! Here: shape → client → hash and time window (the client's TTL, plus the
//! grace window when it allows several uses) → site. The token's rules
//! (content id, geo / VPN, single use, session webhook) are handed to the
//! gatekeeper as [`Gates`]; its policy, with the override section of the
//! endpoint's DRM, becomes the [`Entitlement`].

use std::sync::Arc;

use keyward_token::studio::{
    FairPlayLicenseType, StudioError, StudioPolicy, StudioVerifyOptions, UntrustedStudioToken,
    VerifiedStudioToken,
};
use keyward_token::{DrmType, Timestamp};

use super::{AuditContext, Claim, ContentRule, Denied, Expect, FrontDoor, Gates, SingleUse};
use crate::codes;
use crate::entitlement::{
    Attribution, Entitlement, Origin, OutputProtection, PlayReadyOutput, Timing, TrackProtection,
    WidevineOutput,
};
use crate::refusal::Refusal;
use crate::state::AppState;

/// The replay namespace of Studio tokens.
pub const REPLAY_NAMESPACE: &str = "studio";

/// The Studio token front door.
pub struct StudioDoor;

/// The DRM a Studio token is used for: the endpoint's (Studio tokens name none).
fn endpoint_drm(expect: &Expect<'_>) -> Result<DrmType, Refusal> {
    match expect.drms {
        [one] => Ok(*one),
        [DrmType::ClearKey, DrmType::Ncg] => Ok(DrmType::ClearKey),
        _ => Err(Refusal::new(codes::STUDIO_DRM_UNKNOWN)),
    }
}

#[async_trait::async_trait]
impl FrontDoor for StudioDoor {
    async fn verify(
        &self,
        state: &AppState,
        raw: &str,
        expect: &Expect<'_>,
    ) -> Result<Claim, Denied> {
        let drm = endpoint_drm(expect)?;
        let untrusted = UntrustedStudioToken::parse(raw).map_err(Refusal::from)?;
        let entry = state
            .clients()
            .client(untrusted.untrusted_client())
            .await?
            .ok_or_else(|| {
                Refusal::with(
                    codes::STUDIO_UNKNOWN_CLIENT,
                    format!(
                        "Invalid Studio token: no client named {}",
                        crate::json::bounded(untrusted.untrusted_client(), 64)
                    ),
                )
            })?;
        let settings = &entry.client.settings;
        if settings.disabled {
            return Err(Refusal::with(
                codes::STUDIO_CLIENT_DISABLED,
                "The token's client is disabled",
            )
            .into());
        }
        let secret = entry
            .secrets
            .iter()
            .find(|s| s.kid() == untrusted.kid())
            .ok_or_else(|| Refusal::from(StudioError::BadHash))?;
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
        let verified = untrusted.verify(secret, &opts).map_err(Refusal::from)?;
        // From here the client is known: a refusal is counted in its
        // statistics too (as the licence outcomes are).
        let attribution = Arc::new(Attribution {
            client: verified.client().to_owned(),
            client_data: verified.policy().client_data.clone(),
        });
        let site_id = entry.client.site_id.as_str();
        let audit = AuditContext {
            attribution: Some(attribution.clone()),
            site_id: site_id.to_owned(),
            cid: expect
                .cid
                .or(verified.policy().content_id.as_deref())
                .map(str::to_owned),
            // A Studio token names no end user: its client stands in (as
            // the entitlement's subject does).
            user: Some(verified.client().to_owned()),
            drm,
            origin: crate::entitlement::Origin::Studio,
        };
        let denied = |refusal: Refusal, site| Denied {
            refusal,
            site,
            audit: Some(audit.clone()),
        };
        let site = state.site(site_id).await.map_err(|r| denied(r, None))?;
        if site.settings.disabled {
            return Err(denied(
                Refusal::new(codes::SITE_DISABLED),
                Some(site.clone()),
            ));
        }
        let gates = gates(&verified, settings.max_uses);
        let mut entitlement = translate(site_id, drm, &verified);
        entitlement.attribution = Some(attribution);
        Ok(Claim {
            entitlement,
            site: Some(site),
            gates,
        })
    }
}

/// The token's rules for the gatekeeper.
fn gates(t: &VerifiedStudioToken, max_uses: u32) -> Gates {
    let p = t.policy();
    Gates {
        content: Some(ContentRule::Studio {
            token_cid: p.content_id.clone(),
            must_match: p.must_match_content(),
        }),
        geo: p.geo_restrictions.clone(),
        single_use: Some(SingleUse {
            namespace: REPLAY_NAMESPACE,
            id: replay_id(t).to_vec(),
            issued_at: t.generated_at().unix(),
            expires_at: t.expires_at().unix() + 1,
            max_uses,
        }),
        session: p.session.clone(),
        callback: None,
        studio_wording: true,
    }
}

/// A verified Studio token as an [`Entitlement`] for the endpoint's DRM.
///
/// * identity: the client stands in for the user; the content id is the
///   token's (the gatekeeper's content stage may take the request's);
/// * timing: `offline` → persistent; `rental_duration_seconds` → rental
///   window and licence duration; `firstplayback_seconds` → playback window;
///   `can_renew`; then the section of the entitlement's DRM overrides:
///   Widevine and FairPlay durations, PlayReady `begin_datetime` /
///   `end_datetime` (licence start and expiry) and first-playback window,
///   FairPlay `license_type` (lease → not persistent, persist → persistent);
/// * output protection: Widevine and PlayReady `security_level`.
pub fn translate(site_id: &str, drm: DrmType, t: &VerifiedStudioToken) -> Entitlement {
    translate_policy(site_id, t.client(), drm, t.policy())
}

fn translate_policy(site_id: &str, client: &str, drm: DrmType, p: &StudioPolicy) -> Entitlement {
    let cid = p.content_id.as_deref().unwrap_or("");
    let mut e = Entitlement::new(Origin::Studio, site_id, client, cid, drm);
    let rental = p.rental_duration_seconds.filter(|d| *d > 0);
    let mut timing = Timing {
        persistent: p.offline,
        rental_duration: rental,
        license_duration: rental,
        playback_duration: p.firstplayback_seconds.filter(|d| *d > 0),
        can_renew: p.can_renew,
        ..Timing::default()
    };
    let positive = |v: Option<u64>| v.filter(|d| *d > 0);
    let mut output = TrackProtection::default();
    match drm {
        DrmType::Widevine => {
            if let Some(w) = &p.widevine {
                if let Some(d) = positive(w.license_duration_seconds) {
                    timing.license_duration = Some(d);
                }
                if let Some(d) = positive(w.rental_duration_seconds) {
                    timing.rental_duration = Some(d);
                }
                if let Some(d) = positive(w.firstplayback_seconds) {
                    timing.playback_duration = Some(d);
                }
                if w.security_level.is_some() {
                    output.widevine = Some(WidevineOutput {
                        security_level: w.security_level,
                        ..WidevineOutput::default()
                    });
                }
            }
        }
        DrmType::PlayReady => {
            if let Some(pr) = &p.playready {
                timing.start = pr.begin_datetime;
                if pr.end_datetime.is_some() {
                    timing.expire_at = pr.end_datetime;
                }
                if let Some(d) = positive(pr.firstplayback_seconds) {
                    timing.playback_duration = Some(d);
                }
                if pr.security_level.is_some() {
                    output.playready = Some(PlayReadyOutput {
                        security_level: pr.security_level,
                        ..PlayReadyOutput::default()
                    });
                }
            }
        }
        DrmType::FairPlay => {
            if let Some(f) = &p.fairplay {
                match f.license_type {
                    Some(FairPlayLicenseType::Persistent) => timing.persistent = true,
                    Some(FairPlayLicenseType::Lease) => timing.persistent = false,
                    Some(FairPlayLicenseType::Rental) | None => {}
                }
                if let Some(d) = positive(f.license_duration_seconds) {
                    timing.license_duration = Some(d);
                }
                if let Some(d) = positive(f.rental_duration_seconds) {
                    timing.rental_duration = Some(d);
                }
                if let Some(d) = positive(f.firstplayback_seconds) {
                    timing.playback_duration = Some(d);
                }
            }
        }
        _ => {}
    }
    e.timing = timing;
    if output != TrackProtection::default() {
        e.output = OutputProtection {
            tracks: vec![output],
        };
    }
    e
}

/// The replay-set id of a verified token: its generation time (big-endian
/// unix seconds) then the SHA-256 of the whole token. The time prefix keeps
/// the ids of one moment together, so a busy gateway's new entries land in
/// the last pages of the replay index instead of on a random page each.
fn replay_id(t: &VerifiedStudioToken) -> [u8; 40] {
    let mut id = [0u8; 40];
    id[..8].copy_from_slice(&t.generated_at().unix().to_be_bytes());
    id[8..].copy_from_slice(&t.token_id());
    id
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::KeySource;
    use keyward_token::studio::StudioPolicy;

    fn policy(json: &str) -> StudioPolicy {
        StudioPolicy::from_value(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn common_fields() {
        let p = policy(
            r#"{"content_id":"movie-1","rental_duration_seconds":3600,"firstplayback_seconds":600,"offline":true,"can_renew":true}"#,
        );
        let e = translate_policy("TUTO", "acme", DrmType::ClearKey, &p);
        assert_eq!(e.origin, Origin::Studio);
        assert_eq!(e.site_id, "TUTO");
        assert_eq!(e.subject, "acme");
        assert_eq!(e.content_id, "movie-1");
        assert_eq!(e.drm, DrmType::ClearKey);
        assert_eq!(
            e.timing,
            Timing {
                persistent: true,
                rental_duration: Some(3600),
                license_duration: Some(3600),
                playback_duration: Some(600),
                can_renew: true,
                ..Timing::default()
            }
        );
        assert_eq!(e.keys.source, KeySource::CarriedThenStore);
        assert!(e.keys.cenc.is_empty());
        assert_eq!(e.output, OutputProtection::default());
    }

    #[test]
    fn widevine_section_overrides_for_widevine_only() {
        let p = policy(
            r#"{"content_id":"m","offline":true,"rental_duration_seconds":3600,"widevine":{"license_duration_seconds":120,"rental_duration_seconds":7200,"firstplayback_seconds":30,"security_level":5}}"#,
        );
        let wv = translate_policy("TUTO", "acme", DrmType::Widevine, &p);
        assert_eq!(wv.timing.license_duration, Some(120));
        assert_eq!(wv.timing.rental_duration, Some(7200));
        assert_eq!(wv.timing.playback_duration, Some(30));
        assert_eq!(
            wv.output.tracks[0]
                .widevine
                .as_ref()
                .unwrap()
                .security_level,
            Some(5)
        );
        assert_eq!(wv.output.tracks[0].track, None);
        let ck = translate_policy("TUTO", "acme", DrmType::ClearKey, &p);
        assert_eq!(ck.timing.license_duration, Some(3600));
        assert_eq!(ck.output, OutputProtection::default());
    }

    #[test]
    fn playready_section() {
        let p = policy(
            r#"{"content_id":"m","offline":true,"playready":{"begin_datetime":"2030-01-01T00:00:00Z","end_datetime":"2030-01-02T00:00:00Z","firstplayback_seconds":60,"security_level":3000}}"#,
        );
        let e = translate_policy("TUTO", "acme", DrmType::PlayReady, &p);
        assert_eq!(
            e.timing.start,
            Some(Timestamp::parse("2030-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(
            e.timing.expire_at,
            Some(Timestamp::parse("2030-01-02T00:00:00Z").unwrap())
        );
        assert_eq!(e.timing.playback_duration, Some(60));
        assert_eq!(
            e.output.tracks[0]
                .playready
                .as_ref()
                .unwrap()
                .security_level,
            Some(3000)
        );
    }

    #[test]
    fn fairplay_section() {
        let p = policy(
            r#"{"content_id":"m","offline":true,"fairplay":{"license_type":"l","license_duration_seconds":900,"rental_duration_seconds":1800,"firstplayback_seconds":300}}"#,
        );
        let e = translate_policy("TUTO", "acme", DrmType::FairPlay, &p);
        assert!(!e.timing.persistent, "a lease is not persistent");
        assert_eq!(e.timing.license_duration, Some(900));
        assert_eq!(e.timing.rental_duration, Some(1800));
        assert_eq!(e.timing.playback_duration, Some(300));
    }
}
