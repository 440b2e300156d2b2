//! The one normalized decision every front door produces and every back door
//! consumes: who may play what, with which keys and rules.

use keyward_token::{
    AllowedTrackTypes, DrmType, Policy, ResponseFormat, SecurityPolicy, Timestamp, TrackType,
    VerifiedToken,
};

/// Which front door produced the entitlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A PallyCon/DoveRunner license token.
    PallyConToken,
    /// PallyCon callback mode: the customer's callback page decided.
    Callback,
    /// Callback mode while the callback is down, with the site's allow fallback.
    CallbackFallback,
    /// An ExpressPlay-style URL token (`/hms/*/rights/?ExpressPlayToken=`).
    ExpressPlay,
    /// A Studio-DRM-style v2 token (`x-vudrm-token`).
    Studio,
}

/// What a Studio token carries beyond the common fields: the whole validated
/// policy (per-DRM sections, geo, session, client_data) for the brokers, and
/// the client it was minted for.
#[derive(Clone, Debug)]
pub struct StudioGrant {
    /// Client name.
    pub client: String,
    /// The token's policy.
    pub policy: keyward_token::studio::StudioPolicy,
}

/// A key carried in the credential itself (not the key store).
#[derive(Clone, Debug)]
pub struct CarriedKey {
    /// Track type.
    pub track_type: TrackType,
    /// KID, when known.
    pub kid: Option<[u8; 16]>,
    /// Key bytes.
    pub key: [u8; 16],
    /// IV, when given.
    pub iv: Option<[u8; 16]>,
}

/// The normalized right to play.
#[derive(Clone, Debug)]
pub struct Entitlement {
    /// Front door.
    pub source: Source,
    /// Site id.
    pub site_id: String,
    /// End user.
    pub user_id: String,
    /// Content id.
    pub cid: String,
    /// DRM the credential is for.
    pub drm: DrmType,
    /// Offline licence allowed.
    pub persistent: bool,
    /// Licence validity, seconds (None = unlimited).
    pub license_duration: Option<u64>,
    /// Absolute expiry.
    pub expire_at: Option<Timestamp>,
    /// Offline rental window, seconds.
    pub rental_duration: Option<u64>,
    /// Offline playback window, seconds.
    pub playback_duration: Option<u64>,
    /// Which track keys may be released.
    pub allowed_track_types: AllowedTrackTypes,
    /// Concurrent stream limit.
    pub max_streams: Option<u32>,
    /// Per-track, per-DRM output protection, as the policy says.
    pub security: Vec<SecurityPolicy>,
    /// DASH CENC keys carried in the credential.
    pub cenc_keys: Vec<CarriedKey>,
    /// HLS AES keys carried in the credential.
    pub hls_keys: Vec<CarriedKey>,
    /// Answer shape.
    pub response_format: ResponseFormat,
    /// Key rotation asked.
    pub key_rotation: bool,
    /// The Studio policy, for Studio tokens (carried for the brokers).
    pub studio: Option<std::sync::Arc<StudioGrant>>,
}

impl Entitlement {
    /// From a verified PallyCon token.
    pub fn from_pallycon(t: &VerifiedToken) -> Self {
        let mut e = Self::from_policy(
            Source::PallyConToken,
            t.site_id().as_str(),
            t.user_id(),
            t.cid(),
            t.drm_type(),
            t.policy(),
        );
        e.response_format = t.response_format();
        e.key_rotation = t.key_rotation();
        e
    }

    /// From a policy any front door decided (token, callback answer, …).
    pub fn from_policy(
        source: Source,
        site_id: &str,
        user_id: &str,
        cid: &str,
        drm: DrmType,
        p: &Policy,
    ) -> Self {
        let pb = p.effective_playback();
        let ext = p.external_key.clone().unwrap_or_default();
        let cenc_keys = ext
            .mpeg_cenc
            .unwrap_or_default()
            .into_iter()
            .map(|k| CarriedKey {
                track_type: k.track_type,
                kid: Some(k.key_id.0),
                key: *k.key.expose(),
                iv: k.iv.map(|i| i.0),
            })
            .collect();
        let hls_keys = ext
            .hls_aes
            .unwrap_or_default()
            .into_iter()
            .map(|k| CarriedKey {
                track_type: k.track_type,
                kid: k.key_id.map(|i| i.0),
                key: *k.key.expose(),
                iv: Some(k.iv.0),
            })
            .collect();
        Self {
            source,
            site_id: site_id.to_owned(),
            user_id: user_id.to_owned(),
            cid: cid.to_owned(),
            drm,
            persistent: pb.persistent.unwrap_or(false),
            license_duration: pb.license_duration.filter(|d| *d > 0),
            expire_at: if pb.license_duration.unwrap_or(0) > 0 {
                None
            } else {
                pb.expire_date
            },
            rental_duration: pb.rental_duration.filter(|d| *d > 0),
            playback_duration: pb.playback_duration.filter(|d| *d > 0),
            allowed_track_types: pb.allowed_track_types.unwrap_or(AllowedTrackTypes::All),
            max_streams: pb.max_stream_per_user,
            security: p.security.clone().unwrap_or_default(),
            cenc_keys,
            hls_keys,
            response_format: ResponseFormat::Original,
            key_rotation: false,
            studio: None,
        }
    }
}
