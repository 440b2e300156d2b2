//! Back doors: an [`Entitlement`] plus a DRM challenge → a [`Licence`], or a
//! coded refusal. ClearKey and HLS AES-128 keys are issued here; Widevine,
//! PlayReady and FairPlay need a licensed upstream (or tenant credentials).
//!
//! Back doors read only the entitlement (never a vendor policy) and know
//! nothing of HTTP. Adding a DRM is one file here plus one line in
//! [`BackDoors::standard`].

pub mod brokered;
pub mod clearkey;
pub mod fairplay;
pub mod hls;
pub mod upstream;

use keyward_token::{DrmType, Timestamp, TrackType};

use crate::codes;
use crate::entitlement::Entitlement;
use crate::refusal::Refusal;
use crate::resources::keys::KeyCache;
use crate::resources::sites::SiteEntry;

/// What the player sent.
#[derive(Clone, Copy, Debug)]
pub enum Challenge<'a> {
    /// A CDM message (ClearKey JSON, Widevine protobuf, PlayReady SOAP,
    /// FairPlay SPC).
    Message(&'a [u8]),
    /// ClearKey's GET form: every key the policy releases.
    AllKeys,
    /// An HLS AES-128 key, of one track type or the preferred one.
    HlsKey(Option<TrackType>),
}

/// A licence, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Licence {
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Vec<u8>,
    /// The answer ends the playback (a release acknowledgement): its stream
    /// slot is freed.
    pub ends_playback: bool,
}

impl Licence {
    /// A licence of this media type.
    pub fn new(content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            content_type,
            body,
            ends_playback: false,
        }
    }

    /// A JSON licence.
    pub fn json(body: String) -> Self {
        Self::new("application/json", body.into_bytes())
    }

    /// A binary licence.
    pub fn octets(body: Vec<u8>) -> Self {
        Self::new("application/octet-stream", body)
    }
}

/// What a back door may consult besides the entitlement.
pub struct Context<'a> {
    /// The content keys of the site's store.
    pub keys: &'a KeyCache,
    /// The site, when the credential has one.
    pub site: Option<&'a SiteEntry>,
    /// How a FairPlay CKC is shaped (`ckc_format` query; `Auto` follows the
    /// request's envelope).
    pub ckc_format: keyward_drm::fairplay::CkcFormat,
    /// The request id (sent to upstreams, logs).
    pub request_id: &'a str,
    /// The player's `pallycon-client-meta` header, for upstreams that take it.
    pub client_meta: Option<&'a str>,
}

/// Issues (or brokers) one kind of licence.
#[async_trait::async_trait]
pub trait BackDoor: Send + Sync {
    /// The licence for the challenge, as the entitlement allows.
    async fn licence(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal>;
}

/// Which back door answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A DRM's licence.
    Drm(DrmType),
    /// An HLS AES-128 key.
    HlsKey,
}

/// The back-door registry.
pub struct BackDoors {
    doors: Vec<(Target, Box<dyn BackDoor>)>,
}

impl BackDoors {
    /// Every back door keyward has; FairPlay with the sites' credentials and
    /// the configured D function, Widevine with the sites' upstreams.
    pub fn standard(fairplay: fairplay::FairPlay, widevine: brokered::Widevine) -> Self {
        use brokered::NoUpstream;
        // PlayReady brokers through the same upstreams as FairPlay.
        let playready = brokered::PlayReady {
            upstreams: fairplay.upstreams.clone(),
        };
        let doors: Vec<(Target, Box<dyn BackDoor>)> = vec![
            (Target::Drm(DrmType::ClearKey), Box::new(clearkey::ClearKey)),
            (Target::Drm(DrmType::Widevine), Box::new(widevine)),
            (Target::Drm(DrmType::PlayReady), Box::new(playready)),
            (Target::Drm(DrmType::FairPlay), Box::new(fairplay)),
            (
                Target::Drm(DrmType::Ncg),
                Box::new(NoUpstream::unsupported("NCG")),
            ),
            (
                Target::Drm(DrmType::Wiseplay),
                Box::new(NoUpstream::unsupported("WisePlay")),
            ),
            (Target::HlsKey, Box::new(hls::HlsKey)),
        ];
        Self { doors }
    }

    /// The back door of a target.
    pub fn get(&self, t: Target) -> Result<&dyn BackDoor, Refusal> {
        self.doors
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, d)| d.as_ref())
            .ok_or_else(|| Refusal::with(codes::DRM_UNSUPPORTED, "This DRM is not served"))
    }
}

/// Refuses when the licence's absolute expiry has passed, or its start has not
/// come.
pub fn check_expiry(ent: &Entitlement) -> Result<(), Refusal> {
    if let Some(exp) = ent.timing.expire_at {
        if Timestamp::now() > exp {
            return Err(Refusal::with(
                codes::LICENSE_EXPIRED,
                format!("The policy's expire_date {exp} has passed"),
            ));
        }
    }
    Ok(())
}

/// Refuses a key whose track type the entitlement does not release.
pub fn check_track(ent: &Entitlement, t: TrackType) -> Result<(), Refusal> {
    if ent.keys.tracks.permits(t) {
        Ok(())
    } else {
        Err(Refusal::with(
            codes::TRACK_NOT_ALLOWED,
            format!(
                "allowed_track_types {} does not release {t} keys",
                ent.keys.tracks
            ),
        ))
    }
}
