//! Concurrent-stream limits (PallyCon `max_stream_per_user`): the last
//! gatekeeper stage.
//!
//! The entitlement carries the limit; a [`StreamGate`] decides whether one
//! more stream may start. The embedded single-node deployment has no gate
//! that enforces it yet ([`NotEnforced`] admits every licence and says so in
//! the docs); the cluster-wide gate (Redis slots per site and user, held by
//! renewals) plugs in here without touching the pipeline.

use crate::entitlement::Entitlement;
use crate::refusal::Refusal;

/// Decides whether a licence may start one more stream.
#[async_trait::async_trait]
pub trait StreamGate: Send + Sync {
    /// Admits the licence (and takes its slot), or refuses.
    async fn admit(&self, ent: &Entitlement) -> Result<(), Refusal>;
}

/// Admits every licence: the limit is carried but not enforced.
#[derive(Debug, Default)]
pub struct NotEnforced;

#[async_trait::async_trait]
impl StreamGate for NotEnforced {
    async fn admit(&self, _ent: &Entitlement) -> Result<(), Refusal> {
        Ok(())
    }
}
