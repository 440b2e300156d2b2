//! Single use, decided in the database, and stream slots (in process memory).
//!
//! # One statement decides
//! Several keyward nodes share the database, so no process may decide from
//! memory. Each use is one `INSERT … ON CONFLICT (namespace, token_id) DO
//! UPDATE … WHERE … RETURNING use_count`: PostgreSQL locks the token's row
//! (or inserts it), evaluates the condition on its latest committed version
//! and updates it, atomically, whichever node asks. The rules are those of the
//! backend-neutral decision set (`replay::decisions`):
//!
//! * absent: inserted with one use and the caller's expiry — accepted;
//! * expired (`expires_at <= now`): counts as absent — reset to one use and
//!   the caller's expiry, accepted;
//! * live with fewer than `max_uses` uses: one more, the expiry extended to
//!   the later of the two — accepted;
//! * live and used up: the condition fails, nothing is written, no row is
//!   returned — refused; a second read returns the count on record.
//!
//! `max_uses` 0 never accepts (and never reaches the database). Nothing is
//! decided in memory, so there is no claim to take ([`ReplayStore::claim_replay`]
//! keeps its no-op default) and no unclean stop to fence: a refusal is never
//! `unverifiable`. "Now" is this node's clock, like the callers' expiries.
//!
//! Each use costs one round trip and one commit (the SQLite store answers from
//! memory and commits behind the answer): the price of several nodes agreeing.

use async_trait::async_trait;

use super::{backend, PostgresStore};
use crate::error::Result;
use crate::replay::{validate_redeem, Redemption, ReplayStore};
use crate::unix_now;

const REDEEM_SQL: &str = "\
    INSERT INTO redemptions AS r (namespace, token_id, use_count, expires_at) \
    VALUES ($1, $2, 1, $3) \
    ON CONFLICT (namespace, token_id) DO UPDATE SET \
        use_count = CASE WHEN r.expires_at <= $4 THEN 1 ELSE r.use_count + 1 END, \
        expires_at = CASE WHEN r.expires_at <= $4 THEN EXCLUDED.expires_at \
                          ELSE greatest(r.expires_at, EXCLUDED.expires_at) END \
    WHERE r.expires_at <= $4 OR r.use_count < $5 \
    RETURNING use_count";

#[async_trait]
impl ReplayStore for PostgresStore {
    async fn redeem(
        &self,
        namespace: &str,
        token_id: &[u8],
        _issued_at_unix: i64,
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        validate_redeem(namespace, token_id)?;
        if max_uses == 0 {
            return Ok(Redemption::refused(0));
        }
        let accepted: Option<i64> = sqlx::query_scalar(REDEEM_SQL)
            .bind(namespace)
            .bind(token_id)
            .bind(expires_at_unix)
            .bind(unix_now())
            .bind(i64::from(max_uses))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        if let Some(count) = accepted {
            return Ok(Redemption {
                use_count: count_u32(count),
                accepted: true,
                unverifiable: false,
            });
        }
        // Refused: the row was live and used up. Its count now (a new
        // statement sees the version the decision saw, or a later one); if it
        // was purged meanwhile, it had at least `max_uses`.
        let on_record: Option<i64> = sqlx::query_scalar(
            "SELECT use_count FROM redemptions WHERE namespace = $1 AND token_id = $2",
        )
        .bind(namespace)
        .bind(token_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(Redemption::refused(on_record.map_or(max_uses, count_u32)))
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM redemptions WHERE expires_at <= $1")
            .bind(now_unix)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

/// A stored count as `u32` (counts never exceed a `u32` `max_uses`).
fn count_u32(count: i64) -> u32 {
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}

/// In process memory: exact per node; cluster-wide slots belong to a shared
/// backend (see [`crate::streams`]).
impl crate::streams::InProcessStreams for PostgresStore {
    fn stream_table(&self) -> &crate::streams::StreamTable {
        &self.streams
    }
}
