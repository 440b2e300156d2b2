//! HLS AES-128 / SAMPLE-AES identity keys: exactly 16 raw bytes.

use axum::http::StatusCode;
use keyward_token::TrackType;

use super::{check_expiry, check_track, track_of};
use crate::entitlement::Entitlement;
use crate::error::ApiError;
use crate::state::AppState;

/// The preference order when the request names no track.
const ORDER: [TrackType; 7] = [
    TrackType::All,
    TrackType::AllVideo,
    TrackType::Hd,
    TrackType::Sd,
    TrackType::Uhd1,
    TrackType::Uhd2,
    TrackType::Audio,
];

/// The key for the content (and track, when named).
pub async fn key(
    state: &AppState,
    ent: &Entitlement,
    track: Option<TrackType>,
) -> Result<[u8; 16], ApiError> {
    check_expiry(ent)?;
    let pick = |t: TrackType| track.is_none_or(|want| want == t);
    if !ent.hls_keys.is_empty() {
        for t in ORDER {
            if let Some(k) = ent.hls_keys.iter().find(|k| k.track_type == t && pick(t)) {
                check_track(ent, t)?;
                return Ok(k.key);
            }
        }
    }
    let stored = state.keys(&ent.site_id, &ent.cid).await?;
    for t in ORDER {
        if let Some(rec) = stored.iter().find(|r| track_of(r) == t && pick(t)) {
            check_track(ent, t)?;
            return Ok(*rec.key.expose());
        }
    }
    Err(ApiError::new(
        "7001",
        StatusCode::NOT_FOUND,
        match track {
            Some(t) => format!("No {t} key for content '{}'", ent.cid),
            None => format!("No key for content '{}'", ent.cid),
        },
    ))
}
