//! Rate limits per arbitrary key (`site:TUTO`, `ip:192.0.2.1`, …): a token
//! bucket, shared by every node ([`RedisRateLimiter`]) or kept in this process
//! ([`LocalRateLimiter`], for the single-node embedded default), behind one
//! trait, [`RateLimit`].
//!
//! # The bucket
//! A [`Quota`] holds `burst` tokens and gains one every `interval`; each
//! request takes one or is refused with the time until one is there. Both
//! implementations compute it as the equivalent *generic cell rate algorithm*:
//! per key one number, the *theoretical arrival time* (TAT) — when the bucket
//! will be full again. A request at `now` is allowed iff
//! `max(TAT, now) + interval − burst × interval ≤ now`, and then moves TAT by one
//! interval. In Redis that is one value per key, updated by one Lua script
//! (one round trip, atomic across nodes, Redis's clock in microseconds), which
//! expires when the bucket is full again — an absent key is a full bucket.
//!
//! The quota is given with every call, so a site's limit can come from its
//! settings; calls for one key should use one quota (a different one applies
//! from that call on, against the same TAT).
//!
//! # When Redis is down
//! [`RedisRateLimiter::check`] fails with `backend` within the response
//! timeout. A limiter protects capacity, so callers usually let the request
//! through (and log) rather than refuse every request during an outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use keyward_store::{Result, StoreError};
use redis::Script;

use crate::state::RedisState;

/// Longest rate-limit key accepted, in bytes.
pub const MAX_RATE_KEY_LEN: usize = 256;
/// Longest time a quota may take to refill from empty (`burst × interval`):
/// 2⁵⁰ µs, about 35 years — keeps the arithmetic exact in Lua's doubles.
const MAX_WINDOW_US: u64 = 1 << 50;

/// How many requests a key may make: `burst` at once, then one per `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    interval_us: u64,
    burst: u32,
}

impl Quota {
    /// `rate` requests a second on average, up to `burst` at once. The
    /// interval is `1 s / rate` in whole microseconds (so at most a
    /// millionth faster than asked). `invalid_input` (field `rate` or `burst`)
    /// for zero.
    pub fn per_second(rate: u32, burst: u32) -> Result<Quota> {
        if rate == 0 {
            return Err(StoreError::InvalidInput {
                field: "rate",
                reason: "must be at least 1",
            });
        }
        Quota::new(1_000_000 / u64::from(rate), burst)
    }

    /// One request per `interval` on average, up to `burst` at once.
    /// `invalid_input` (field `interval` or `burst`) for a zero burst, an
    /// interval under a microsecond, or `burst × interval` over about 35 years.
    pub fn with_interval(interval: Duration, burst: u32) -> Result<Quota> {
        Quota::new(
            u64::try_from(interval.as_micros()).unwrap_or(u64::MAX),
            burst,
        )
    }

    fn new(interval_us: u64, burst: u32) -> Result<Quota> {
        if burst == 0 {
            return Err(StoreError::InvalidInput {
                field: "burst",
                reason: "must be at least 1",
            });
        }
        let window = interval_us.checked_mul(u64::from(burst));
        if interval_us == 0 || window.is_none_or(|w| w > MAX_WINDOW_US) {
            return Err(StoreError::InvalidInput {
                field: "interval",
                reason: "must be at least 1 µs, and burst × interval at most about 35 years",
            });
        }
        Ok(Quota { interval_us, burst })
    }

    /// Requests allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Time to regain one request.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_us)
    }
}

/// The answer to [`RateLimit::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Allowed, and counted.
    Allowed {
        /// Requests still allowed right now after this one.
        remaining: u32,
    },
    /// Refused (not counted): retry in this many milliseconds.
    Limited {
        /// Milliseconds until a request would be allowed (at least 1).
        retry_after_ms: u64,
    },
}

impl RateDecision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, RateDecision::Allowed { .. })
    }
}

/// A rate limiter: one token bucket per key.
#[async_trait]
pub trait RateLimit: Send + Sync {
    /// Takes one request from `key`'s bucket under `quota`. `invalid_input`
    /// (field `key`) for an empty key or one over [`MAX_RATE_KEY_LEN`] bytes.
    async fn check(&self, key: &str, quota: Quota) -> Result<RateDecision>;
}

fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_RATE_KEY_LEN {
        return Err(StoreError::InvalidInput {
            field: "key",
            reason: "must be 1 to 256 bytes",
        });
    }
    Ok(())
}

/// Microseconds to whole milliseconds, rounded up, at least 1.
fn retry_ms(us: u64) -> u64 {
    us.div_ceil(1000).max(1)
}

/// The generic cell rate algorithm, one step: the decision and the new TAT
/// (unchanged when refused). Times in microseconds on any one clock.
fn gcra(tat: Option<u64>, now: u64, quota: Quota) -> (RateDecision, u64) {
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + quota.interval_us;
    let window = quota.interval_us * u64::from(quota.burst);
    // Allowed iff new_tat − window ≤ now.
    if new_tat > now + window {
        let wait = new_tat - window - now;
        return (
            RateDecision::Limited {
                retry_after_ms: retry_ms(wait),
            },
            tat,
        );
    }
    let slack = now + window - new_tat;
    let remaining = u32::try_from(slack / quota.interval_us).unwrap_or(u32::MAX);
    (RateDecision::Allowed { remaining }, new_tat)
}

/// Token buckets in this process's memory: exact for one process, nothing
/// shared. Keys whose bucket is full again are forgotten now and then.
#[derive(Debug)]
pub struct LocalRateLimiter {
    start: Instant,
    /// Each key's TAT, microseconds since `start`.
    buckets: Mutex<HashMap<String, u64>>,
    calls: AtomicU64,
}

/// Forget full buckets every this many checks.
const SWEEP_EVERY: u64 = 4096;

impl Default for LocalRateLimiter {
    fn default() -> Self {
        LocalRateLimiter::new()
    }
}

impl LocalRateLimiter {
    /// An empty limiter.
    pub fn new() -> LocalRateLimiter {
        LocalRateLimiter {
            start: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// How many keys are remembered (for tests of the sweep).
    pub fn tracked_keys(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl RateLimit for LocalRateLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<RateDecision> {
        validate_key(key)?;
        let now = self.now_us();
        // One map operation per critical section: a poisoned lock is consistent.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            buckets.retain(|_, tat| *tat > now);
        }
        let (decision, tat) = gcra(buckets.get(key).copied(), now, quota);
        if decision.is_allowed() {
            buckets.insert(key.to_owned(), tat);
        }
        Ok(decision)
    }
}

/// KEYS: the bucket. ARGV: interval µs, burst. Returns {1, remaining} or
/// {0, µs to wait}.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat > now + window then return {0, new_tat - window - now} end
redis.call('SET', KEYS[1], string.format('%d', new_tat),
  'PXAT', string.format('%d', math.ceil(new_tat / 1000)))
return {1, math.floor((now + window - new_tat) / interval)}
",
    )
});

/// Token buckets in Redis, shared by every node (see the module docs). Made by
/// [`RedisState::rate_limiter`]; keys are `prefix ‖ "rl:" ‖ key`.
#[derive(Clone, Debug)]
pub struct RedisRateLimiter {
    state: RedisState,
}

impl RedisState {
    /// A rate limiter on this connection.
    pub fn rate_limiter(&self) -> RedisRateLimiter {
        RedisRateLimiter {
            state: self.clone(),
        }
    }
}

#[async_trait]
impl RateLimit for RedisRateLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<RateDecision> {
        validate_key(key)?;
        let bucket = self.state.key(&[b"rl:", key.as_bytes()]);
        let (allowed, n): (i64, i64) = self
            .state
            .call("rate limit", |mut c| async move {
                GCRA.key(bucket)
                    .arg(quota.interval_us)
                    .arg(quota.burst)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let n = u64::try_from(n.max(0)).unwrap_or(0);
        Ok(if allowed == 1 {
            RateDecision::Allowed {
                remaining: u32::try_from(n).unwrap_or(u32::MAX),
            }
        } else {
            RateDecision::Limited {
                retry_after_ms: retry_ms(n),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_checked() {
        let q = Quota::per_second(4, 2).unwrap();
        assert_eq!(q.interval(), Duration::from_millis(250));
        assert_eq!(q.burst(), 2);
        for (r, field) in [
            (Quota::per_second(0, 1), "rate"),
            (Quota::per_second(1, 0), "burst"),
            (
                Quota::with_interval(Duration::from_nanos(10), 1),
                "interval",
            ),
            (
                Quota::with_interval(Duration::from_secs(86_400 * 365 * 40), 1),
                "interval",
            ),
            (
                Quota::with_interval(Duration::from_secs(86_400 * 365), 40),
                "interval",
            ),
        ] {
            match r {
                Err(StoreError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_interval() {
        let q = Quota::with_interval(Duration::from_millis(100), 3).unwrap();
        let mut tat = None;
        let t0 = 5_000_000;
        for left in [2, 1, 0] {
            let (d, t) = gcra(tat, t0, q);
            assert_eq!(d, RateDecision::Allowed { remaining: left });
            tat = Some(t);
        }
        let (d, t) = gcra(tat, t0, q);
        assert_eq!(
            d,
            RateDecision::Limited {
                retry_after_ms: 100
            }
        );
        assert_eq!(Some(t), tat, "a refusal takes nothing");
        assert!(!gcra(tat, t0 + 99_999, q).0.is_allowed());
        let (d, t) = gcra(tat, t0 + 100_000, q);
        assert_eq!(d, RateDecision::Allowed { remaining: 0 });
        // After a long pause the bucket is full again, never fuller.
        let (d, _) = gcra(Some(t), t0 + 10_000_000, q);
        assert_eq!(d, RateDecision::Allowed { remaining: 2 });
        assert_eq!(retry_ms(1), 1);
        assert_eq!(retry_ms(1001), 2);
    }

    #[tokio::test]
    async fn the_local_limiter_counts_per_key_and_forgets_full_buckets() {
        let l = LocalRateLimiter::new();
        let q = Quota::with_interval(Duration::from_secs(3600), 2).unwrap();
        assert!(l.check("ip:a", q).await.unwrap().is_allowed());
        assert!(l.check("ip:a", q).await.unwrap().is_allowed());
        assert!(!l.check("ip:a", q).await.unwrap().is_allowed());
        assert!(l.check("ip:b", q).await.unwrap().is_allowed());
        assert_eq!(l.check("", q).await.unwrap_err().code(), "invalid_input");
        let fast = Quota::with_interval(Duration::from_micros(1), 1).unwrap();
        for i in 0..100 {
            l.check(&format!("k{i}"), fast).await.unwrap();
        }
        assert_eq!(l.tracked_keys(), 102);
        std::thread::sleep(Duration::from_millis(2));
        for _ in 0..SWEEP_EVERY {
            let _ = l.check("busy", fast).await.unwrap();
        }
        assert!(l.tracked_keys() <= 3, "{}", l.tracked_keys());
    }
}
