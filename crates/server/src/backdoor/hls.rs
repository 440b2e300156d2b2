//! HLS AES-128 / SAMPLE-AES identity keys: exactly 16 raw bytes.

use keyward_token::TrackType;

use super::{check_expiry, check_track, BackDoor, Challenge, Context, Licence};
use crate::codes;
use crate::entitlement::{Entitlement, KeySource};
use crate::refusal::Refusal;

/// The HLS key back door.
pub struct HlsKey;

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

#[async_trait::async_trait]
impl BackDoor for HlsKey {
    async fn licence(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal> {
        let Challenge::HlsKey(track) = challenge else {
            return Err(Refusal::internal("licence request routed to the HLS key"));
        };
        key(cx, ent, track)
            .await
            .map(|k| Licence::octets(k.to_vec()))
    }
}

/// The key for the content (and track, when named).
async fn key(
    cx: &Context<'_>,
    ent: &Entitlement,
    track: Option<TrackType>,
) -> Result<[u8; 16], Refusal> {
    check_expiry(ent)?;
    let pick = |t: TrackType| track.is_none_or(|want| want == t);
    if !ent.keys.hls.is_empty() {
        for t in ORDER {
            if let Some(k) = ent.keys.hls.iter().find(|k| k.track_type == t && pick(t)) {
                check_track(ent, t)?;
                return Ok(*k.key.expose());
            }
        }
    }
    if ent.keys.source == KeySource::CarriedThenStore {
        let stored = cx.keys.keys(&ent.site_id, &ent.content_id).await?;
        for t in ORDER {
            if let Some(rec) = stored.iter().find(|r| r.track_type == t && pick(t)) {
                check_track(ent, t)?;
                return Ok(*rec.key.expose());
            }
        }
    }
    let cid = crate::json::bounded(&ent.content_id, 256);
    Err(Refusal::with(
        codes::KEY_NOT_FOUND,
        match track {
            Some(t) => format!("No {t} key for content '{cid}'"),
            None => format!("No key for content '{cid}'"),
        },
    ))
}
