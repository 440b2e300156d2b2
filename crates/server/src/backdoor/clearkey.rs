//! W3C Clear Key, issued here: a JWK set with the requested keys.

use axum::http::StatusCode;
use keyward_drm::clearkey::{license_response, release_ack, ClearKeyMessage, SessionType};
use keyward_drm::{ContentKey, Kid};

use super::{check_expiry, check_track, track_of};
use crate::entitlement::Entitlement;
use crate::error::{codes, ApiError};
use crate::state::AppState;

/// Answers a CDM message (licence request or release).
pub async fn license(state: &AppState, ent: &Entitlement, body: &[u8]) -> Result<String, ApiError> {
    let (kids, session) = match ClearKeyMessage::parse(body)? {
        ClearKeyMessage::Release { kids } => return Ok(release_ack(&kids)),
        ClearKeyMessage::LicenseRequest { kids, session_type } => (kids, session_type),
    };
    if session == SessionType::PersistentLicense && !ent.persistent {
        return Err(ApiError::new(
            codes::PERSISTENT_NOT_ALLOWED,
            StatusCode::FORBIDDEN,
            "persistent-license requested, but the policy is not persistent",
        ));
    }
    check_expiry(ent)?;
    let stored = state.keys(&ent.site_id, &ent.cid).await?;
    let mut pairs = Vec::with_capacity(kids.len());
    for kid in &kids {
        if let Some(k) = ent.cenc_keys.iter().find(|k| k.kid == Some(kid.0)) {
            check_track(ent, k.track_type)?;
            pairs.push((*kid, ContentKey::new(k.key)));
        } else if let Some(rec) = stored.iter().find(|r| r.kid.as_bytes() == &kid.0) {
            check_track(ent, track_of(rec))?;
            pairs.push((*kid, ContentKey::new(*rec.key.expose())));
        } else {
            return Err(ApiError::new(
                "7001",
                StatusCode::NOT_FOUND,
                format!("No key with KID {kid} for content '{}'", ent.cid),
            ));
        }
    }
    Ok(license_response(&pairs, session))
}

/// The GET form (`?siteId=&cid=`): every key of the content the policy releases.
pub async fn all_keys(state: &AppState, ent: &Entitlement) -> Result<String, ApiError> {
    check_expiry(ent)?;
    let stored = state.keys(&ent.site_id, &ent.cid).await?;
    let mut pairs: Vec<(Kid, ContentKey)> = Vec::new();
    for k in &ent.cenc_keys {
        if let (Some(kid), true) = (k.kid, ent.allowed_track_types.permits(k.track_type)) {
            pairs.push((Kid(kid), ContentKey::new(k.key)));
        }
    }
    for rec in stored.iter() {
        if ent.allowed_track_types.permits(track_of(rec))
            && !pairs.iter().any(|(k, _)| k.0 == *rec.kid.as_bytes())
        {
            pairs.push((Kid(*rec.kid.as_bytes()), ContentKey::new(*rec.key.expose())));
        }
    }
    if pairs.is_empty() {
        return Err(ApiError::new(
            "7001",
            StatusCode::NOT_FOUND,
            format!("No key the policy releases for content '{}'", ent.cid),
        ));
    }
    Ok(license_response(&pairs, SessionType::Temporary))
}
