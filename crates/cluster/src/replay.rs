//! Single-use / n-use decisions in Redis: the store's decision-set rules, one
//! Lua script (one round trip) per decision.
//!
//! An entry is `prefix ‖ "r:" ‖ namespace ‖ ":" ‖ hex(token id)` holding the use
//! count, with a `PXAT` expiry at the caller's `expires_at`. The rules are the
//! store's (`keyward_store::replay`):
//!
//! * a use is accepted while fewer than `max_uses` are on record (`max_uses` 0
//!   never accepts; answered without a round trip);
//! * an entry past its `expires_at` counts as absent — Redis forgets it by
//!   itself. The key expires at `expires_at × 1000 − 1` ms because Redis keeps
//!   a key through its expiry millisecond and the decision set forgets an
//!   entry at `expires_at` exactly; an entry whose `expires_at` has passed is
//!   accepted as a first use and not written at all;
//! * a later use with a later expiry extends the entry (`PEXPIREAT … GT`),
//!   never shortens it;
//! * the epoch fence (see the crate docs, "Losing Redis's data"): a token
//!   issued up to the second at which Redis was found without keyward's epoch
//!   marker is refused as `unverifiable` unless its record shows it used up.
//!
//! "Now" is Redis's clock (`TIME` in the script, the clock Redis expires keys
//! by), so nodes with skewed clocks agree; only `issued_at` and `expires_at`
//! come from the caller.

use std::sync::LazyLock;

use async_trait::async_trait;
use keyward_store::replay::validate_redeem;
use keyward_store::{Redemption, ReplayStore, Result};
use redis::Script;

use crate::state::RedisState;

/// The key (after the prefix) of the epoch marker: the unix second at which
/// this Redis started holding keyward's decisions.
const EPOCH_KEY: &[u8] = b"replay-epoch";

/// KEYS: the epoch marker. Creates it if missing, as the second after Redis's
/// current one. Returns {created, epoch (unix s), Redis's now (unix ms)}.
static ENSURE_EPOCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', KEYS[1])
if epoch then return {0, tonumber(epoch), now_ms} end
epoch = tonumber(t[1]) + 1
redis.call('SET', KEYS[1], string.format('%d', epoch))
return {1, epoch, now_ms}
",
    )
});

/// KEYS: the entry, the epoch marker. ARGV: max_uses (≥ 1), the entry's last
/// live millisecond, issued_at (unix s). Returns {use_count, accepted, unverifiable}.
static REDEEM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  -- Redis lost keyward's decisions: fence every token issued up to now.
  epoch = tonumber(t[1]) + 1
  redis.call('SET', KEYS[2], string.format('%d', epoch))
end
local fenced = tonumber(ARGV[3]) < tonumber(epoch)
local max_uses = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
  if count >= max_uses then return {count, 0, 0} end
  if fenced then return {count, 0, 1} end
  count = count + 1
  redis.call('SET', KEYS[1], string.format('%d', count), 'KEEPTTL')
  redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
  return {count, 1, 0}
end
if fenced then return {0, 0, 1} end
if tonumber(ARGV[2]) >= now_ms then
  redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[2])
end
return {1, 1, 0}
",
    )
});

/// Creates the epoch marker if Redis has none (at first contact), then waits
/// (by Redis's clock) until its second has begun, so no token this node
/// mints after connecting is fenced — the SQLite backend's wait after an
/// unclean stop.
pub(crate) async fn ensure_epoch(state: &RedisState, limit: std::time::Duration) -> Result<()> {
    let marker = state.key(&[EPOCH_KEY]);
    let (created, epoch, now_ms): (i64, i64, i64) = state
        .call_within(limit, "replay epoch", |mut c| async move {
            ENSURE_EPOCH.key(marker).invoke_async(&mut c).await
        })
        .await?;
    if created == 1 {
        tracing::warn!(
            epoch,
            "Redis holds no single-use decisions (new, flushed or restarted without \
             persistence): tokens issued before the epoch are refused as unverifiable"
        );
        let wait = epoch
            .saturating_mul(1000)
            .saturating_sub(now_ms)
            .clamp(0, 1000);
        tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
    }
    Ok(())
}

/// The last millisecond an entry expiring at `expires_at` (unix s) is live,
/// with `expires_at` clamped to `0..=u32::MAX` as the decision set stores it.
fn last_live_ms(expires_at: i64) -> i64 {
    expires_at.clamp(0, i64::from(u32::MAX)) * 1000 - 1
}

/// Decisions live in Redis: no process holds a fence, and Redis forgets
/// expired entries itself.
#[async_trait]
impl ReplayStore for RedisState {
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
        let entry = self.key(&[
            b"r:",
            namespace.as_bytes(),
            b":",
            hex::encode(token_id).as_bytes(),
        ]);
        let marker = self.key(&[EPOCH_KEY]);
        let last_ms = last_live_ms(expires_at_unix);
        let (use_count, accepted, unverifiable): (i64, i64, i64) = self
            .call("redeem", |mut c| async move {
                REDEEM
                    .key(entry)
                    .key(marker)
                    .arg(max_uses)
                    .arg(last_ms)
                    .arg(issued_at_unix)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let use_count = u32::try_from(use_count.max(0)).unwrap_or(u32::MAX);
        Ok(Redemption {
            use_count,
            accepted: accepted == 1,
            unverifiable: unverifiable == 1,
        })
    }

    /// Nothing to claim: Redis holds the decisions, and every node decides
    /// through it.
    async fn claim_replay(&self) -> Result<()> {
        Ok(())
    }

    /// Always 0: Redis expires entries by itself.
    async fn purge_expired(&self, _now_unix: i64) -> Result<u64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_store::StoreError;

    #[test]
    fn arguments_match_the_store() {
        assert!(validate_redeem("ns", &[1]).is_ok());
        for (ns, id, field) in [
            ("", &[1u8][..], "namespace"),
            (&"n".repeat(65), &[1u8][..], "namespace"),
            ("ns", &[][..], "token_id"),
            ("ns", &[0u8; 65][..], "token_id"),
        ] {
            match validate_redeem(ns, id) {
                Err(StoreError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn expiry_is_clamped_like_the_decision_set() {
        assert_eq!(last_live_ms(10), 9_999);
        assert_eq!(last_live_ms(-5), -1);
        assert_eq!(last_live_ms(i64::MAX), i64::from(u32::MAX) * 1000 - 1);
    }
}
