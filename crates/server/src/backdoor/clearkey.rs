//! W3C Clear Key, issued here: a JWK set with the requested keys.

use keyward_drm::clearkey::{license_response, release_ack, ClearKeyMessage, SessionType};
use keyward_drm::{ContentKey, Kid};

use super::{check_expiry, check_track, BackDoor, Challenge, Context, Licence};
use crate::codes;
use crate::entitlement::{Entitlement, KeySource};
use crate::refusal::Refusal;

/// The ClearKey back door.
pub struct ClearKey;

#[async_trait::async_trait]
impl BackDoor for ClearKey {
    async fn licence(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal> {
        match challenge {
            Challenge::Message(body) => match ClearKeyMessage::parse(body)? {
                ClearKeyMessage::Release { kids } => Ok(Licence {
                    ends_playback: true,
                    ..Licence::json(release_ack(&kids))
                }),
                ClearKeyMessage::LicenseRequest { kids, session_type } => {
                    license(cx, ent, kids, session_type)
                        .await
                        .map(Licence::json)
                }
            },
            Challenge::AllKeys => all_keys(cx, ent).await.map(Licence::json),
            Challenge::HlsKey(_) => Err(Refusal::internal("HLS key request routed to ClearKey")),
        }
    }
}

/// Answers a CDM licence request.
async fn license(
    cx: &Context<'_>,
    ent: &Entitlement,
    kids: Vec<Kid>,
    session: SessionType,
) -> Result<String, Refusal> {
    if session == SessionType::PersistentLicense && !ent.timing.persistent {
        return Err(Refusal::new(codes::PERSISTENT_NOT_ALLOWED));
    }
    check_expiry(ent)?;
    let carried = |kid: &Kid| ent.keys.cenc.iter().find(|k| k.kid.as_ref() == Some(kid));
    let mut pairs = Vec::with_capacity(kids.len());
    if ent.keys.source == KeySource::CarriedOnly {
        for kid in &kids {
            if let Some(k) = carried(kid) {
                check_track(ent, k.track_type)?;
                pairs.push((*kid, k.key.clone()));
            }
        }
        if pairs.is_empty() {
            return Err(Refusal::with(
                codes::KEY_NOT_FOUND,
                "The request names no key the credential carries",
            ));
        }
        return Ok(license_response(&pairs, session));
    }
    let stored = cx.keys.keys(&ent.site_id, &ent.content_id).await?;
    for kid in &kids {
        if let Some(k) = carried(kid) {
            check_track(ent, k.track_type)?;
            pairs.push((*kid, k.key.clone()));
        } else if let Some(rec) = stored.iter().find(|r| r.kid == *kid) {
            check_track(ent, rec.track_type)?;
            pairs.push((*kid, rec.key.clone()));
        } else {
            return Err(Refusal::with(
                codes::KEY_NOT_FOUND,
                format!(
                    "No key with KID {kid} for content '{}'",
                    crate::json::bounded(&ent.content_id, 256)
                ),
            ));
        }
    }
    Ok(license_response(&pairs, session))
}

/// The GET form (`?siteId=&cid=`): every key of the content the policy releases.
async fn all_keys(cx: &Context<'_>, ent: &Entitlement) -> Result<String, Refusal> {
    check_expiry(ent)?;
    let mut pairs: Vec<(Kid, ContentKey)> = Vec::new();
    for k in &ent.keys.cenc {
        if let (Some(kid), true) = (k.kid, ent.keys.tracks.permits(k.track_type)) {
            pairs.push((kid, k.key.clone()));
        }
    }
    if ent.keys.source == KeySource::CarriedThenStore {
        let stored = cx.keys.keys(&ent.site_id, &ent.content_id).await?;
        for rec in stored.iter() {
            if ent.keys.tracks.permits(rec.track_type) && !pairs.iter().any(|(k, _)| *k == rec.kid)
            {
                pairs.push((rec.kid, rec.key.clone()));
            }
        }
    }
    if pairs.is_empty() {
        return Err(Refusal::with(
            codes::KEY_NOT_FOUND,
            format!(
                "No key the policy releases for content '{}'",
                crate::json::bounded(&ent.content_id, 256)
            ),
        ));
    }
    Ok(license_response(&pairs, SessionType::Temporary))
}
