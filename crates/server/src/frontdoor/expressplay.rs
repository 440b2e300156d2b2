//! The ExpressPlay front door: the `ExpressPlayToken` of `/hms/*/rights/` →
//! a claim carrying the token's one key.
//!
//! The token is opened with the sealing keys (-4010), checked to be for this
//! rights path (-4010) and unexpired (-2002), and a `^name` key is resolved in
//! the customer's site (-4019). Its entitlement releases only the carried key
//! ([`KeySource::CarriedOnly`]); back-door refusals are answered in
//! ExpressPlay's own codes ([`translate_refusal`]). Minting is in
//! [`crate::mint::expressplay`].

use keyward_store::{SiteId, StoreError};
use keyward_token::expressplay::{codes, TokenDrm, TokenPayload};
use keyward_token::{DrmType, Timestamp, TrackType};

use super::{Claim, Denied, Expect, FrontDoor, Gates};
use crate::codes as registry;
use crate::entitlement::{
    CarriedKey, Entitlement, KeySource, Origin, OutputProtection, TrackProtection, WidevineOutput,
};
use crate::refusal::{Class, Refusal};
use crate::state::AppState;

use crate::refusal::expressplay::{refusal, refuse, store_failure};

/// The rights front door.
pub struct RightsDoor;

/// The site a customer is linked to (its key store and FairPlay credentials).
async fn customer_site(
    state: &AppState,
    customer: &str,
) -> Result<Option<keyward_store::SiteId>, Refusal> {
    match state.stores().customers.customer(customer).await {
        Ok(c) => Ok(c.settings.site_id),
        Err(StoreError::CustomerNotFound) => {
            Err(refuse(codes::KEY_STORAGE, "the customer no longer exists"))
        }
        Err(e) => Err(store_failure(&e)),
    }
}

fn token_drm(expect: &Expect<'_>) -> Result<TokenDrm, Refusal> {
    match expect.drms {
        [DrmType::ClearKey] => Ok(TokenDrm::ClearKey),
        [DrmType::Widevine] => Ok(TokenDrm::Widevine),
        [DrmType::FairPlay] => Ok(TokenDrm::FairPlay),
        _ => Err(refuse(codes::ADMIN, "no such rights endpoint")),
    }
}

#[async_trait::async_trait]
impl FrontDoor for RightsDoor {
    async fn verify(
        &self,
        state: &AppState,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<Claim, Denied> {
        let drm = token_drm(expect)?;
        let keys = state.expressplay_keys()?;
        let payload =
            keyward_token::expressplay::open(keys.all(), token).map_err(|e| refusal(&e))?;
        tracing::info!(
            customer = %payload.customer,
            drm = drm.segment(),
            kid = payload.kid.as_deref().or(payload.key_name.as_deref()).unwrap_or("-"),
            content_id = payload.content_id.as_deref().unwrap_or("-"),
            cookie = payload.cookie.as_deref().unwrap_or("-"),
            "expressplay redemption"
        );
        if payload.drm != drm {
            return Err(refuse(
                codes::INVALID_TOKEN,
                format!(
                    "the token was issued for /hms/{}/rights/",
                    payload.drm.segment()
                ),
            )
            .into());
        }
        // Widevine licence extensions (`wvExtension`) have no field in any
        // upstream protocol keyward speaks: refused, never silently dropped.
        if drm == TokenDrm::Widevine && !payload.wv_extensions.is_empty() {
            return Err(refuse(
                codes::WV_EXTENSION,
                "the token carries wvExtension licence extensions, which no Widevine upstream keyward brokers to can carry: mint the token without them",
            )
            .into());
        }
        // An expired token is an authentication failure here (401); a bad
        // expirationTime at minting is a bad argument (400).
        payload
            .check_expiry(Timestamp::now().unix())
            .map_err(|e| refusal(&e).class(Class::Unauthorized))?;
        let (kid, key, site) = match (payload.carried_key(), &payload.key_name) {
            // A FairPlay or Widevine licence needs the customer's site (its
            // FairPlay credentials, its upstreams) even when the token
            // carries the key.
            (Some((kid, key)), _) if drm == TokenDrm::FairPlay || drm == TokenDrm::Widevine => {
                (kid, key, customer_site(state, &payload.customer).await?)
            }
            (Some((kid, key)), _) => (kid, key, None),
            (None, Some(name)) => {
                let site = customer_site(state, &payload.customer).await?;
                let k = state.key_cache().named(site.as_ref(), name).await?;
                (k.kid, k.key, site)
            }
            (None, None) => {
                return Err(refuse(codes::INVALID_TOKEN, "the token carries no key").into())
            }
        };
        let entitlement = translate(&payload, site.as_ref(), kid, key);
        Ok(Claim {
            entitlement,
            site: None,
            gates: Gates::default(),
        })
    }
}

/// The entitlement of a token: no user (the customer stands in), the token's
/// content id, one carried key for all tracks (and only that key), the licence
/// duration, the rental windows, the token's expiry as the absolute end, and
/// for Widevine its security level and HDCP output control.
pub fn translate(
    p: &TokenPayload,
    site: Option<&SiteId>,
    kid: keyward_drm::Kid,
    key: keyward_drm::ContentKey,
) -> Entitlement {
    let drm = match p.drm {
        TokenDrm::Widevine => DrmType::Widevine,
        TokenDrm::ClearKey => DrmType::ClearKey,
        TokenDrm::FairPlay => DrmType::FairPlay,
    };
    let mut e = Entitlement::new(
        Origin::ExpressPlay,
        site.map_or("", SiteId::as_str),
        &p.customer,
        p.content_id.as_deref().unwrap_or(""),
        drm,
    );
    e.timing.persistent = false;
    e.timing.license_duration = p.license_duration.filter(|d| *d > 0);
    e.timing.expire_at = Timestamp::from_unix(p.expires_at);
    if let Some(r) = p.rental {
        e.timing.rental_duration = u64::try_from(r.period_end - p.issued_at).ok();
        e.timing.playback_duration = Some(r.play_duration);
    }
    e.keys.cenc = vec![CarriedKey {
        track_type: TrackType::All,
        kid: Some(kid),
        key,
        iv: None,
    }];
    e.keys.source = KeySource::CarriedOnly;
    if drm == DrmType::Widevine {
        e.output = OutputProtection {
            tracks: vec![TrackProtection {
                widevine: Some(WidevineOutput {
                    security_level: Some(p.security_level),
                    hdcp: Some(match p.hdcp_output_control {
                        0 => crate::entitlement::Hdcp::None,
                        1 => crate::entitlement::Hdcp::V1,
                        _ => crate::entitlement::Hdcp::V2,
                    }),
                    ..WidevineOutput::default()
                }),
                ..TrackProtection::default()
            }],
        };
    }
    e
}

/// A back door's refusal in ExpressPlay's codes and words, as the rights
/// paths have always answered.
pub fn translate_refusal(r: Refusal, drm: DrmType) -> Refusal {
    use registry as c;
    let code = r.code;
    let is = |x: registry::Code| code.wire == x.wire;
    if drm == DrmType::ClearKey {
        if [
            c::CLEARKEY_NOT_OBJECT,
            c::CLEARKEY_NO_KIDS,
            c::CLEARKEY_BAD_KID,
            c::CLEARKEY_TOO_MANY_KIDS,
            c::CLEARKEY_SESSION_TYPE,
            c::CLEARKEY_TOO_LARGE,
            c::CLEARKEY_KIDS_NOT_ARRAY,
        ]
        .into_iter()
        .any(is)
        {
            return refuse(
                codes::KID_MISSING,
                format!(
                    "the ClearKey request carries no readable kids: {}",
                    r.message
                ),
            );
        }
        if is(c::PERSISTENT_NOT_ALLOWED) {
            return refuse(
                codes::KEY_DATA,
                "persistent-license sessions are not granted by ExpressPlay tokens",
            );
        }
        if is(c::KEY_NOT_FOUND) {
            return refuse(
                codes::KID_INVALID,
                "the request does not ask for the token's kid",
            );
        }
    } else {
        if is(c::WIDEVINE_BAD_CHALLENGE) || is(c::PSSH_MALFORMED) {
            return refuse(
                codes::WIDEVINE_LICENSE,
                format!("the Widevine challenge is malformed: {}", r.message),
            );
        }
        if is(c::KEY_NOT_FOUND) {
            return refuse(
                codes::KID_INVALID,
                "the challenge does not name the token's kid",
            );
        }
        if is(c::WIDEVINE_NO_UPSTREAM) || is(c::WIDEVINE_NO_SERVICE_CERT) {
            return refuse(
                codes::WIDEVINE_DISABLED,
                "no Widevine upstream is configured: the token and challenge are valid, but keyward cannot issue Widevine licences itself",
            );
        }
        if is(c::WIDEVINE_DEVICE_REVOKED) {
            return refuse(
                codes::WIDEVINE_LICENSE,
                format!("the Widevine service refused the device: {}", r.message),
            )
            .class(Class::Forbidden);
        }
        // The upstream refused, answered nothing readable, or nobody answered:
        // an admin error in this dialect, with the upstream's class (502, 503).
        if is(c::WIDEVINE_UPSTREAM_REFUSED)
            || is(c::WIDEVINE_UPSTREAM_PARSE)
            || is(c::WIDEVINE_UPSTREAM_UNAVAILABLE)
            || is(c::DOVERUNNER_REFUSED)
            || is(c::DOVERUNNER_UNAVAILABLE)
            || is(c::DOVERUNNER_ANSWER)
        {
            let class = r.class;
            return refuse(codes::ADMIN, r.message.clone())
                .class(class)
                .log(format!("back door refusal {}", code.wire));
        }
    }
    if r.code.dialects.contains(registry::Dialects::EXPRESSPLAY) {
        return r;
    }
    // Anything else a back door says is an admin error in this dialect; the
    // original code goes to the log.
    refuse(codes::ADMIN, r.message.clone()).log(format!("back door refusal {}", code.wire))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::entitlement::{Hdcp, Timing};
    use keyward_drm::{ContentKey, Kid};
    use keyward_token::expressplay::{Environment, Params, TokenRequest};

    const NOW: i64 = 1_700_000_000;
    const KID: [u8; 16] = [0x11; 16];
    const KEY: [u8; 16] = [0xa1; 16];

    fn payload(extra: &str, drm: TokenDrm) -> TokenPayload {
        let mut p = Params::default();
        p.extend_from_form(
            format!(
                "kid={}&contentKey={}&securityLevel=3&hdcpOutputControl=1{extra}",
                hex::encode(KID),
                hex::encode(KEY)
            )
            .as_bytes(),
        );
        let req = TokenRequest::from_params(&p, NOW).unwrap();
        TokenPayload::new("acme", Environment::Test, drm, &req, NOW)
    }

    #[test]
    fn clearkey_token_fields() {
        let p = payload("&licenseDuration=600&contentId=c9", TokenDrm::ClearKey);
        let site = SiteId::parse("TEST").unwrap();
        let e = translate(&p, Some(&site), Kid::new(KID), ContentKey::new(KEY));
        assert_eq!(e.origin, Origin::ExpressPlay);
        assert_eq!(e.site_id, "TEST");
        assert_eq!(e.subject, "acme");
        assert_eq!(e.content_id, "c9");
        assert_eq!(e.drm, DrmType::ClearKey);
        assert_eq!(
            e.timing,
            Timing {
                license_duration: Some(600),
                expire_at: Timestamp::from_unix(p.expires_at),
                ..Timing::default()
            }
        );
        assert_eq!(e.keys.source, KeySource::CarriedOnly);
        assert_eq!(e.keys.cenc.len(), 1);
        assert_eq!(e.keys.cenc[0].kid, Some(Kid::new(KID)));
        assert_eq!(e.keys.cenc[0].key, ContentKey::new(KEY));
        assert_eq!(e.keys.cenc[0].track_type, TrackType::All);
        assert!(e.keys.hls.is_empty());
        // ClearKey has no output protection to carry.
        assert_eq!(e.output, OutputProtection::default());
        assert_eq!(e.attribution, None);
    }

    #[test]
    fn widevine_token_carries_security_level_and_hdcp() {
        let p = payload("", TokenDrm::Widevine);
        let e = translate(&p, None, Kid::new(KID), ContentKey::new(KEY));
        assert_eq!(e.drm, DrmType::Widevine);
        assert_eq!(e.site_id, "");
        let wv = e.output.tracks[0].widevine.as_ref().unwrap();
        assert_eq!(wv.security_level, Some(3));
        assert_eq!(wv.hdcp, Some(Hdcp::V1));
    }

    #[test]
    fn rental_windows() {
        let p = payload(
            "&rightsType=Rental&rental.periodEndTime=%2B7200&rental.playDuration=900",
            TokenDrm::ClearKey,
        );
        let e = translate(&p, None, Kid::new(KID), ContentKey::new(KEY));
        assert_eq!(e.timing.rental_duration, Some(7200));
        assert_eq!(e.timing.playback_duration, Some(900));
    }

    #[test]
    fn back_door_refusals_speak_expressplay() {
        let r = translate_refusal(
            Refusal::new(registry::PERSISTENT_NOT_ALLOWED),
            DrmType::ClearKey,
        );
        assert_eq!(r.code.wire, "-6005");
        let r = translate_refusal(Refusal::new(registry::KEY_NOT_FOUND), DrmType::ClearKey);
        assert_eq!(r.code.wire, "-4022");
        let r = translate_refusal(Refusal::new(registry::CLEARKEY_NO_KIDS), DrmType::ClearKey);
        assert_eq!(r.code.wire, "-4018");
        let r = translate_refusal(
            Refusal::new(registry::WIDEVINE_NO_UPSTREAM),
            DrmType::Widevine,
        );
        assert_eq!(r.code.wire, "-7011");
        assert_eq!(r.class, Class::NotImplemented);
        let r = translate_refusal(
            Refusal::new(registry::WIDEVINE_BAD_CHALLENGE),
            DrmType::Widevine,
        );
        assert_eq!(r.code.wire, "-7008");
        // Anything else is an admin error, its own code logged.
        let r = translate_refusal(Refusal::new(registry::LICENSE_EXPIRED), DrmType::ClearKey);
        assert_eq!(r.code.wire, "-2030");
        assert!(r.log_detail.unwrap().contains("7510"));
    }
}
