//! Concurrent-stream limits (PallyCon `max_stream_per_user`): the last
//! gatekeeper stage.
//!
//! The entitlement carries the limit; a [`StreamGate`] decides whether one
//! more stream may start. [`Slots`] enforces it over a
//! [`StreamStore`](keyward_store::StreamStore): the embedded store keeps the
//! slots in process (exact for one node), the cluster store in Redis (exact
//! across nodes).
//!
//! A stream is one *playback*: every licence request made with one credential
//! (the PallyCon token or callback auth data a player got for that playback)
//! holds the same slot. So the parallel per-key requests at the start of a
//! multi-key playback count once, and renewals (the player repeats its licence
//! request with the same credential every `renewal_duration` seconds) keep the
//! slot. The slot's lease is the renewal interval plus a grace period; when
//! renewals stop, it frees by itself. A ClearKey release frees it at once.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use keyward_store::{SiteId, StoreError, StreamGrant, StreamStore};
use sha2::{Digest, Sha256};

use crate::codes;
use crate::config::StreamsConfig;
use crate::entitlement::Entitlement;
use crate::refusal::Refusal;

/// Decides whether a licence may start one more stream.
#[async_trait::async_trait]
pub trait StreamGate: Send + Sync {
    /// Admits the licence (and takes or renews its playback's slot), or refuses.
    async fn admit(&self, ent: &Entitlement) -> Result<(), Refusal>;

    /// Frees the playback's slot (the player released its licence).
    async fn release(&self, _ent: &Entitlement) {}
}

/// Enforces stream limits with slots in a [`StreamStore`].
pub struct Slots {
    store: Arc<dyn StreamStore>,
    settings: StreamsConfig,
}

impl Slots {
    /// A gate over `store`.
    pub fn new(store: Arc<dyn StreamStore>, settings: StreamsConfig) -> Self {
        Self { store, settings }
    }

    /// How long one licence holds its slot: the renewal interval (or the
    /// configured default when the policy has none) plus the grace period,
    /// capped at the store's longest lease.
    fn lease(&self, ent: &Entitlement) -> Duration {
        let interval = ent
            .timing
            .renewal_interval
            .unwrap_or(self.settings.default_interval_secs);
        Duration::from_secs(interval.saturating_add(self.settings.grace_secs))
            .min(keyward_store::streams::MAX_STREAM_TTL)
    }

    fn unavailable(&self, ent: &Entitlement, e: &StoreError) -> Result<(), Refusal> {
        if self
            .settings
            .fail_open_sites
            .iter()
            .any(|s| s == &ent.site_id)
        {
            tracing::warn!(site = %ent.site_id, error = %e, "stream slots unavailable; admitted (the site fails open)");
            return Ok(());
        }
        Err(Refusal::new(codes::STREAMS_UNAVAILABLE).log(format!("stream store: {e}")))
    }
}

/// The playback's stream id and the site, or `None` when the entitlement
/// names no playback (then the stream cannot be told apart: admitted).
fn who(ent: &Entitlement) -> Option<(SiteId, &str)> {
    let site = SiteId::parse(&ent.site_id).ok()?;
    Some((site, ent.playback.as_deref()?))
}

/// The user id for the store, which takes at most 256 bytes: longer ids by
/// their SHA-256.
fn user(ent: &Entitlement) -> Cow<'_, str> {
    if ent.subject.len() <= keyward_store::streams::MAX_STREAM_ID_LEN {
        Cow::Borrowed(&ent.subject)
    } else {
        Cow::Owned(hex::encode(Sha256::digest(ent.subject.as_bytes())))
    }
}

#[async_trait::async_trait]
impl StreamGate for Slots {
    async fn admit(&self, ent: &Entitlement) -> Result<(), Refusal> {
        let Some(limit) = ent.stream_limit else {
            return Ok(());
        };
        let Some((site, playback)) = who(ent) else {
            return Ok(());
        };
        let subject = user(ent);
        if subject.is_empty() {
            return Ok(());
        }
        match self
            .store
            .acquire_stream(&site, &subject, playback, limit, self.lease(ent))
            .await
        {
            Ok(StreamGrant::Granted { .. }) => Ok(()),
            Ok(StreamGrant::Full {
                active,
                frees_at_ms,
            }) => Err(limit_reached(limit, active, frees_at_ms)),
            Err(e) => self.unavailable(ent, &e),
        }
    }

    async fn release(&self, ent: &Entitlement) {
        let Some((site, playback)) = who(ent) else {
            return;
        };
        let subject = user(ent);
        if subject.is_empty() || ent.stream_limit.is_none() {
            return;
        }
        if let Err(e) = self.store.release_stream(&site, &subject, playback).await {
            tracing::warn!(site = %ent.site_id, error = %e, "stream slot not released (its lease will end it)");
        }
    }
}

/// The refusal naming the limit and when the oldest slot frees.
fn limit_reached(limit: u32, active: u32, frees_at_ms: i64) -> Refusal {
    // Rounded up: the slot is free at that second.
    let when = crate::json::rfc3339((frees_at_ms + 999).div_euclid(1000));
    Refusal::with(
        codes::STREAM_LIMIT_REACHED,
        format!(
            "Concurrent stream limit reached: {active} of {limit} streams are playing; the oldest frees at {when} unless it renews"
        ),
    )
}
