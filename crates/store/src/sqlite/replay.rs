//! Single use and stream slots: the decisions live in memory (the backend-neutral
//! [`DecisionSet`](crate::replay::decisions::DecisionSet), persisted by the
//! [writer](super::writer)); stream slots live in process memory only.

use std::time::Duration;

use async_trait::async_trait;

use super::SqliteStore;
use crate::error::Result;
use crate::replay::{validate_redeem, Redemption, ReplayStore};
use crate::sites::SiteId;
use crate::streams::{validate_stream, StreamGrant, StreamStore};
use crate::unix_now_ms;

#[async_trait]
impl ReplayStore for SqliteStore {
    async fn redeem(
        &self,
        namespace: &str,
        token_id: &[u8],
        issued_at_unix: i64,
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        validate_redeem(namespace, token_id)?;
        if max_uses == 0 {
            return Ok(Redemption::refused(0));
        }
        self.writer
            .redeem(
                namespace,
                token_id,
                issued_at_unix,
                expires_at_unix,
                max_uses,
            )
            .await
    }

    async fn claim_replay(&self) -> Result<()> {
        self.writer.claim().await
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<u64> {
        self.writer.purge(now_unix).await
    }
}

/// In process memory: exact for the one `keyward serve` a data directory allows;
/// a restart forgets the leases (see [`crate::streams`]).
#[async_trait]
impl StreamStore for SqliteStore {
    async fn acquire_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        limit: u32,
        ttl: Duration,
    ) -> Result<StreamGrant> {
        validate_stream(user_id, stream_id, Some(ttl))?;
        Ok(self
            .streams
            .acquire(site_id, user_id, stream_id, limit, ttl, unix_now_ms()))
    }

    async fn renew_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        ttl: Duration,
    ) -> Result<Option<i64>> {
        validate_stream(user_id, stream_id, Some(ttl))?;
        Ok(self
            .streams
            .renew(site_id, user_id, stream_id, ttl, unix_now_ms()))
    }

    async fn release_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
    ) -> Result<bool> {
        validate_stream(user_id, stream_id, None)?;
        Ok(self
            .streams
            .release(site_id, user_id, stream_id, unix_now_ms()))
    }

    async fn active_streams(&self, site_id: &SiteId, user_id: &str) -> Result<u32> {
        validate_stream(user_id, "-", None)?;
        Ok(self.streams.active(site_id, user_id, unix_now_ms()))
    }
}
