//! FairPlay Streaming: keyward's own KSM, with the site's FPS credentials.
//!
//! SPC (any envelope) → the site's credential for the certificate hash the SPC
//! names → the SPC opened with its private key → the asset id checked against
//! the entitlement and mapped to a content key → the DASk from the D function
//! provider → SK‖R1 unlocked and its integrity checked → the CKC, answered in
//! the request's envelope.
//!
//! An SPC made for a certificate the site holds no credential for goes to the
//! site's FairPlay upstream KSMs, if it has any (in order, with failover; see
//! [`crate::resources::upstreams`]): keyward has decided the entitlement, the
//! upstream (which holds the private key) opens the SPC and answers the CKC,
//! which goes back to the player in its envelope. A `doverunner` upstream takes SPCs
//! for any certificate and carries the output rules in its licence token (so
//! they are not refused here when every route taking the SPC is one), with the
//! content's stored keys. Without credentials or
//! upstreams the answer is 7301 ("no FairPlay service").
//!
//! Content key for an asset id (the `skd://` URI's text, `skd://` stripped):
//! * a key id (32 hex digits, a UUID, or 16 raw bytes) → that key, from the
//!   credential's carried keys or the site's key store (it must belong to the
//!   entitled content);
//! * the entitled content id → the credential's carried HLS key, then its
//!   CENC key, then the key store's key for the content (preferring ALL, then
//!   the video tracks, then AUDIO, as the HLS key path);
//! * a credential that carries its key and no content id (ExpressPlay) covers
//!   whatever asset the player names: its key is the licence.
//!
//! Output rules FairPlay's public TLLVs cannot carry (HDCP, AirPlay, AV
//! adapter restrictions) are refused with 7322 by default — never silently
//! dropped; `fairplay.unenforceable_output = "warn"` issues the licence and
//! logs a warning per licence instead.

use std::sync::Arc;

use keyward_drm::fairplay::{answer, read_request, CkcContent, KeyDuration, OpenedSpc, Spc};
use keyward_drm::Kid;
use keyward_token::{Timestamp, TrackType};

use super::brokered::no_upstream;
use super::{check_expiry, check_track, BackDoor, Challenge, Context, Licence};
use crate::codes;
use crate::entitlement::{Entitlement, Hdcp, KeySource};
use crate::refusal::Refusal;
use crate::resources::dask::DaskProvider;
use crate::resources::fairplay::FairPlayCredentials;
use crate::resources::upstreams::{Route, Upstreams};

/// What to do with an output rule the KSM cannot enforce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnenforceableOutput {
    /// Refuse the licence (7322).
    #[default]
    Refuse,
    /// Issue it and log a warning.
    Warn,
}

/// The FairPlay back door.
pub struct FairPlay {
    /// The sites' credentials.
    pub credentials: Arc<FairPlayCredentials>,
    /// The sites' upstream KSMs (for SPCs made for certificates the site holds
    /// no credential for).
    pub upstreams: Arc<Upstreams>,
    /// The D function.
    pub dask: Arc<DaskProvider>,
    /// Output rules that cannot be enforced.
    pub unenforceable: UnenforceableOutput,
}

/// The order keys are preferred in when the asset names the content.
const ORDER: [TrackType; 7] = [
    TrackType::All,
    TrackType::AllVideo,
    TrackType::Hd,
    TrackType::Sd,
    TrackType::Uhd1,
    TrackType::Uhd2,
    TrackType::Audio,
];

/// A key picked for the CKC.
struct Picked {
    key: [u8; 16],
    iv: Option<[u8; 16]>,
    track: TrackType,
}

/// The asset id as text (`skd://` stripped) and as a key id, when it is one.
fn asset_forms(asset: &[u8]) -> (Option<&str>, Option<Kid>) {
    let text = std::str::from_utf8(asset)
        .ok()
        .map(|s| s.strip_prefix("skd://").unwrap_or(s));
    let kid = match text {
        Some(t) if t.len() == 32 || t.len() == 36 => Kid::from_hex(t).ok(),
        _ => None,
    }
    .or_else(|| <[u8; 16]>::try_from(asset).ok().map(Kid));
    (text, kid)
}

fn shown(asset: &[u8]) -> String {
    match std::str::from_utf8(asset) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => crate::json::bounded(s, 64).into_owned(),
        _ => format!("{} bytes", asset.len()),
    }
}

async fn pick(cx: &Context<'_>, ent: &Entitlement, asset: &[u8]) -> Result<Picked, Refusal> {
    let (text, kid) = asset_forms(asset);
    let carried = || ent.keys.hls.iter().chain(ent.keys.cenc.iter());
    let from_carried = |k: &crate::entitlement::CarriedKey| Picked {
        key: *k.key.expose(),
        iv: k.iv,
        track: k.track_type,
    };
    if let Some(kid) = kid {
        if let Some(k) = carried().find(|k| k.kid == Some(kid)) {
            return Ok(from_carried(k));
        }
    }
    if ent.keys.source == KeySource::CarriedOnly {
        // The credential's key is the licence, whatever the player calls it.
        return carried().next().map(from_carried).ok_or_else(|| {
            Refusal::with(
                codes::KEY_NOT_FOUND,
                "The credential carries no content key",
            )
        });
    }
    let names_content = !ent.content_id.is_empty() && text == Some(ent.content_id.as_str());
    let stored = if ent.keys.source == KeySource::CarriedThenStore && !ent.content_id.is_empty() {
        Some(cx.keys.keys(&ent.site_id, &ent.content_id).await?)
    } else {
        None
    };
    if let (Some(kid), Some(stored)) = (kid, &stored) {
        if let Some(r) = stored.iter().find(|r| r.kid == kid) {
            return Ok(Picked {
                key: *r.key.expose(),
                iv: r.iv,
                track: r.track_type,
            });
        }
    }
    if !names_content {
        return Err(Refusal::with(
            codes::FAIRPLAY_BAD_ASSET,
            format!(
                "The SPC's asset id '{}' is neither the entitled content '{}' nor one of its key ids",
                shown(asset),
                crate::json::bounded(&ent.content_id, 64)
            ),
        ));
    }
    for list in [&ent.keys.hls, &ent.keys.cenc] {
        for t in ORDER {
            if let Some(k) = list.iter().find(|k| k.track_type == t) {
                return Ok(from_carried(k));
            }
        }
    }
    if let Some(stored) = &stored {
        for t in ORDER {
            if let Some(r) = stored.iter().find(|r| r.track_type == t) {
                return Ok(Picked {
                    key: *r.key.expose(),
                    iv: r.iv,
                    track: r.track_type,
                });
            }
        }
    }
    Err(Refusal::with(
        codes::KEY_NOT_FOUND,
        format!(
            "No key for content '{}'",
            crate::json::bounded(&ent.content_id, 64)
        ),
    ))
}

/// The content key's lifetime from the entitlement's timing, capped by its
/// absolute end: persistent → a rental of the shortest of the rental and
/// playback windows; otherwise a lease of the shortest limit given.
fn duration(ent: &Entitlement) -> Option<KeyDuration> {
    let t = &ent.timing;
    let remaining = t
        .expire_at
        .map(|e| u64::try_from(e.unix() - Timestamp::now().unix()).unwrap_or(0));
    let min = |xs: &[Option<u64>]| xs.iter().flatten().copied().min();
    let clamp = |s: u64| u32::try_from(s).unwrap_or(u32::MAX);
    if t.persistent {
        min(&[
            t.rental_duration,
            t.playback_duration,
            t.license_duration,
            remaining,
        ])
        .map(|s| KeyDuration::Rental { seconds: clamp(s) })
    } else {
        min(&[
            t.license_duration,
            t.rental_duration,
            t.playback_duration,
            remaining,
        ])
        .map(|s| KeyDuration::Lease { seconds: clamp(s) })
    }
}

/// The output rules of the key's track that the KSM cannot carry.
fn unenforceable(ent: &Entitlement, track: TrackType) -> Vec<&'static str> {
    let mut out = Vec::new();
    if let Some(f) = ent
        .output
        .for_track(track)
        .and_then(|p| p.fairplay.as_ref())
    {
        if f.hdcp.is_some_and(|h| h != Hdcp::None) || f.hdcp_type1 {
            out.push("HDCP enforcement");
        }
        if f.allow_airplay == Some(false) {
            out.push("allow_airplay=false");
        }
        if f.allow_av_adapter == Some(false) {
            out.push("allow_av_adapter=false");
        }
    }
    out
}

fn fill(b: &mut [u8]) -> Result<(), keyward_drm::DrmError> {
    use rand::RngCore as _;
    rand::rngs::OsRng
        .try_fill_bytes(b)
        .map_err(|_| keyward_drm::DrmError::FairPlayCkcBuild {
            reason: "no randomness available",
        })
}

impl FairPlay {
    /// Refuses (or, configured so, logs) output rules the KSM cannot carry.
    fn check_output(&self, ent: &Entitlement, track: TrackType) -> Result<(), Refusal> {
        let rules = unenforceable(ent, track);
        if rules.is_empty() {
            return Ok(());
        }
        match self.unenforceable {
            UnenforceableOutput::Refuse => Err(Refusal::with(
                codes::FAIRPLAY_OUTPUT_UNSUPPORTED,
                format!(
                    "The policy asks for {}, which keyward's FairPlay KSM cannot enforce (its values are not publicly documented)",
                    rules.join(", ")
                ),
            )),
            UnenforceableOutput::Warn => {
                tracing::warn!(site = %ent.site_id, cid = %ent.content_id, rules = %rules.join(","), "FairPlay licence issued without output rules the KSM cannot enforce");
                Ok(())
            }
        }
    }

    /// An SPC for a certificate the site holds no credential for: its upstream
    /// KSMs that take the certificate, in order; else 7320 (the site has other
    /// credentials) or 7301 (it has none).
    async fn forward(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        req: &keyward_drm::fairplay::SpcRequest,
        cert_hash: [u8; 20],
        has_credentials: bool,
    ) -> Result<Licence, Refusal> {
        let routes = if ent.site_id.is_empty() {
            Arc::new(Vec::new())
        } else {
            self.upstreams
                .routes(&ent.site_id, keyward_store::Drm::FairPlay)
                .await?
        };
        let taking: Vec<&Route> = routes
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| super::upstream::fairplay_ksm::takes_cert(r, &cert_hash))
            .collect();
        if taking.is_empty() {
            if has_credentials || !routes.is_empty() {
                return Err(Refusal::with(
                    codes::FAIRPLAY_UNKNOWN_CERT,
                    format!(
                        "The SPC was made for certificate {} (SHA-1), which this site holds no FairPlay credential or upstream for",
                        hex::encode(cert_hash)
                    ),
                ));
            }
            return Err(no_upstream(codes::FAIRPLAY_NO_UPSTREAM, "FairPlay"));
        }
        check_expiry(ent)?;
        // A KSM applies its own key and durations; the output rules of the
        // entitlement cannot travel with a raw SPC — unless every route is of
        // a kind that carries them (`doverunner`, `axinom`, `drmtoday`: in
        // their token or message, refusing what they cannot carry).
        let carries = |r: &&Route| {
            super::upstream::kind(&r.upstream.kind).is_some_and(|k| k.carries_output_rules())
        };
        if !taking.iter().all(carries) {
            self.check_output(ent, TrackType::All)?;
        }
        // Kinds that name keys to their service get the entitled content's
        // stored keys, as on the Widevine back door.
        let stored = if ent.keys.source == KeySource::CarriedThenStore
            && !ent.content_id.is_empty()
            && taking.iter().any(|r| r.upstream.kind != "fairplay-ksm")
        {
            cx.keys.keys(&ent.site_id, &ent.content_id).await?
        } else {
            Arc::new(Vec::new())
        };
        let ckc = super::upstream::broker(
            &self.upstreams,
            &taking,
            ent,
            &stored,
            &req.spc,
            cx,
            codes::FAIRPLAY_UPSTREAM_UNAVAILABLE,
        )
        .await?
        .body;
        let (content_type, body) = answer(&req.envelope, cx.ckc_format, &ckc);
        Ok(Licence::new(content_type, body))
    }
}

#[async_trait::async_trait]
impl BackDoor for FairPlay {
    async fn licence(
        &self,
        cx: &Context<'_>,
        ent: &Entitlement,
        challenge: Challenge<'_>,
    ) -> Result<Licence, Refusal> {
        let Challenge::Message(body) = challenge else {
            return Err(Refusal::with(
                codes::BAD_REQUEST,
                "This licence needs an SPC in the request body",
            ));
        };
        let req = read_request(body)?;
        let spc = Spc::parse(&req.spc)?;
        let creds = if ent.site_id.is_empty() {
            Arc::new(Vec::new())
        } else {
            self.credentials.for_site(&ent.site_id).await?
        };
        let Some(cred) = creds
            .iter()
            .find(|c| c.fps.certificate.hash == spc.header.cert_hash)
        else {
            return self
                .forward(cx, ent, &req, spc.header.cert_hash, !creds.is_empty())
                .await;
        };
        check_expiry(ent)?;
        let opened = OpenedSpc::open(&spc, &cred.fps.key)?;
        let picked = pick(cx, ent, opened.asset_id()).await?;
        check_track(ent, picked.track)?;
        self.check_output(ent, picked.track)?;
        let dask = self.dask.dask(opened.r2(), cred.fps.ask.expose()).await?;
        let session = opened.unlock(&dask)?;
        let ckc = session.build_ckc(
            &CkcContent {
                key: &picked.key,
                iv: picked.iv.unwrap_or([0; 16]),
                duration: duration(ent),
            },
            &mut fill,
        )?;
        let (content_type, body) = answer(&req.envelope, cx.ckc_format, &ckc);
        Ok(Licence::new(content_type, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entitlement::Origin;
    use keyward_token::DrmType;

    #[test]
    fn asset_forms() {
        let kid = Kid([0xab; 16]);
        assert_eq!(
            super::asset_forms(b"skd://movie-1"),
            (Some("movie-1"), None)
        );
        assert_eq!(
            super::asset_forms(b"abababababababababababababababab"),
            (Some("abababababababababababababababab"), Some(kid))
        );
        assert_eq!(
            super::asset_forms(b"skd://abababab-abab-abab-abab-abababababab").1,
            Some(kid)
        );
        assert_eq!(super::asset_forms(&[0xab; 16]).1, Some(kid));
        assert_eq!(super::asset_forms(&[0xff, 0xfe]), (None, None));
    }

    #[test]
    fn durations() {
        let mut e = Entitlement::new(Origin::PallyConToken, "S", "u", "c", DrmType::FairPlay);
        assert_eq!(duration(&e), None);
        e.timing.license_duration = Some(600);
        assert_eq!(duration(&e), Some(KeyDuration::Lease { seconds: 600 }));
        e.timing.playback_duration = Some(300);
        assert_eq!(duration(&e), Some(KeyDuration::Lease { seconds: 300 }));
        e.timing.persistent = true;
        e.timing.rental_duration = Some(86_400);
        e.timing.license_duration = None;
        assert_eq!(duration(&e), Some(KeyDuration::Rental { seconds: 300 }));
        e.timing.playback_duration = None;
        assert_eq!(duration(&e), Some(KeyDuration::Rental { seconds: 86_400 }));
        e.timing.expire_at = Timestamp::from_unix(Timestamp::now().unix() + 100);
        match duration(&e) {
            Some(KeyDuration::Rental { seconds }) => assert!((99..=100).contains(&seconds)),
            other => panic!("{other:?}"),
        }
    }
}
