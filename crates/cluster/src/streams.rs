//! Concurrent-stream slots in Redis: the store's `StreamTable` rules, shared by
//! every node.
//!
//! Per (site, user) one sorted set, `prefix ‖ "s:" ‖ site ‖ ":" ‖ user` (site ids
//! are 4 letters, so the key names its pair unambiguously): member = stream id,
//! score = lease end (unix ms). Each operation is one Lua script, so it is
//! atomic across nodes; "now" is Redis's `TIME` (Redis 7 replicates a
//! script's effects, not the script, so reading the clock is allowed), so nodes
//! with skewed clocks agree on which leases are live and the `expires_at_ms` /
//! `frees_at_ms` answered are in Redis's clock. A lease is live while its end
//! is after now. The key expires with its latest lease, so idle users vanish.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use keyward_store::streams::validate_stream;
use keyward_store::{Result, SiteId, StreamGrant, StreamStore};
use redis::Script;

use crate::state::RedisState;

/// Shared head of the stream scripts: `now` (Redis's clock, unix ms), `s(n)`
/// (an integer as Redis's argument text: never in exponent notation), and
/// `keep()` (the key lives as long as its latest lease).
macro_rules! prelude {
    () => {
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function s(n) return string.format('%d', n) end
local function keep()
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', KEYS[1], s(tonumber(last[2]))) end
end
"
    };
}

/// ARGV: stream id, limit, ttl ms. Returns {granted, active, expires_at or frees_at}.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now))
local active = redis.call('ZCARD', KEYS[1])
local ends = now + tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if active >= tonumber(ARGV[2]) then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local frees = now
    if first[2] then frees = tonumber(first[2]) end
    return {0, active, frees}
  end
  active = active + 1
end
redis.call('ZADD', KEYS[1], s(ends), ARGV[1])
keep()
return {1, active, ends}
"
    ))
});

/// ARGV: stream id, ttl ms. Returns the new lease end, or nil.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held or tonumber(held) <= now then return false end
local ends = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', s(ends), ARGV[1])
keep()
return ends
"
    ))
});

/// ARGV: stream id. Returns 1 if a live slot was held, else 0.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now))
keep()
if held and tonumber(held) > now then return 1 end
return 0
"
    ))
});

/// Returns the number of live slots.
static ACTIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
return redis.call('ZCOUNT', KEYS[1], '(' .. s(now), '+inf')
"
    ))
});

/// A lease of `ttl` in whole milliseconds, as the store counts it (a day at
/// most, validated).
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl RedisState {
    fn slots_key(&self, site_id: &SiteId, user_id: &str) -> Vec<u8> {
        self.key(&[b"s:", site_id.as_str().as_bytes(), b":", user_id.as_bytes()])
    }
}

#[async_trait]
impl StreamStore for RedisState {
    async fn acquire_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        limit: u32,
        ttl: Duration,
    ) -> Result<StreamGrant> {
        validate_stream(user_id, stream_id, Some(ttl))?;
        let key = self.slots_key(site_id, user_id);
        let stream = stream_id.to_owned();
        let ttl = ttl_ms(ttl);
        let (granted, active, at): (i64, i64, i64) = self
            .call("acquire stream", |mut c| async move {
                ACQUIRE
                    .key(key)
                    .arg(stream)
                    .arg(limit)
                    .arg(ttl)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let active = count(active);
        Ok(if granted == 1 {
            StreamGrant::Granted {
                active,
                expires_at_ms: at,
            }
        } else {
            StreamGrant::Full {
                active,
                frees_at_ms: at,
            }
        })
    }

    async fn renew_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        ttl: Duration,
    ) -> Result<Option<i64>> {
        validate_stream(user_id, stream_id, Some(ttl))?;
        let key = self.slots_key(site_id, user_id);
        let stream = stream_id.to_owned();
        let ttl = ttl_ms(ttl);
        self.call("renew stream", |mut c| async move {
            RENEW
                .key(key)
                .arg(stream)
                .arg(ttl)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    async fn release_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
    ) -> Result<bool> {
        validate_stream(user_id, stream_id, None)?;
        let key = self.slots_key(site_id, user_id);
        let stream = stream_id.to_owned();
        let held: i64 = self
            .call("release stream", |mut c| async move {
                RELEASE.key(key).arg(stream).invoke_async(&mut c).await
            })
            .await?;
        Ok(held == 1)
    }

    async fn active_streams(&self, site_id: &SiteId, user_id: &str) -> Result<u32> {
        validate_stream(user_id, "-", None)?;
        let key = self.slots_key(site_id, user_id);
        let n: i64 = self
            .call("active streams", |mut c| async move {
                ACTIVE.key(key).invoke_async(&mut c).await
            })
            .await?;
        Ok(count(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_store::StoreError;

    #[test]
    fn arguments_match_the_store() {
        let ttl = Duration::from_secs(30);
        assert!(validate_stream("u", "s", Some(ttl)).is_ok());
        for (u, st, ttl, field) in [
            ("", "s", ttl, "user_id"),
            ("u", "", ttl, "stream_id"),
            ("u", &"x".repeat(257), ttl, "stream_id"),
            ("u", "s", Duration::ZERO, "ttl"),
            ("u", "s", Duration::from_secs(86_401), "ttl"),
        ] {
            match validate_stream(u, st, Some(ttl)) {
                Err(StoreError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 1);
    }
}
