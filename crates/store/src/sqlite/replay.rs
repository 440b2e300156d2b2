//! Single use and stream slots: the decisions live in memory (the backend-neutral
//! [`DecisionSet`](crate::replay::decisions::DecisionSet), persisted by the
//! [writer](super::writer)); stream slots live in process memory only.

use async_trait::async_trait;

use super::SqliteStore;
use crate::error::Result;
use crate::replay::{validate_redeem, Redemption, ReplayStore};

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
impl crate::streams::InProcessStreams for SqliteStore {
    fn stream_table(&self) -> &crate::streams::StreamTable {
        &self.streams
    }
}
