//! keyward-cluster: the hot state that `keyward serve` nodes share through Redis
//! when several of them serve one deployment (durable state is in PostgreSQL).
//!
//! One [`RedisState`] per node holds one auto-reconnecting connection and
//! gives:
//!
//! * single-use / n-use decisions: [`keyward_store::ReplayStore`], the store's
//!   decision-set rules, one Lua script (one round trip) per decision
//!   ([`replay`] module docs);
//! * concurrent-stream slots: [`keyward_store::StreamStore`], the store's
//!   `StreamTable` rules, one sorted set per (site, user);
//! * rate limits: [`RedisState::rate_limiter`], a token bucket per key behind
//!   the [`RateLimit`] trait, which [`LocalRateLimiter`] also implements for a
//!   single node;
//! * cache invalidation between nodes: [`RedisState::invalidation`], pub/sub
//!   with a `Flush` on every (re)connection;
//! * a health probe: [`RedisState::health`] (also
//!   [`keyward_store::Lifecycle`]), a PING within the response timeout.
//!
//! # Keys
//! Every key and the channel start with [`RedisOptions::key_prefix`]
//! (`keyward:` by default):
//!
//! | key | type | what |
//! |---|---|---|
//! | `r:{namespace}:{hex token id}` | string | use count; expires at the caller's `expires_at` |
//! | `replay-epoch` | string | unix second since which this Redis holds the decisions |
//! | `s:{site}:{user}` | sorted set | stream id → lease end (unix ms); expires with its last lease |
//! | `rl:{key}` | string | the bucket's theoretical arrival time (µs); expires when full |
//! | `invalidate` | channel | `{kind} {id}` messages |
//!
//! # Time
//! Every script reads "now" from Redis (`TIME`; Redis 7 replicates a script's
//! effects rather than the script, so this is allowed and replicas agree), so
//! nodes whose clocks disagree still agree on leases, buckets and expiry.
//! Callers' times are used only where the caller owns them: a token's
//! `issued_at` and `expires_at`.
//!
//! # Failure
//! Every call answers within [`RedisOptions::response_timeout`] — including
//! while the connection is being re-established — or fails with
//! [`keyward_store::StoreError::Backend`] (code `backend`; the driver's
//! message, without the URL's password, in `detail()`). The connection
//! reconnects by itself: calls succeed again within a fraction of a second of
//! Redis answering, with nothing to recreate. What a caller does meanwhile is
//! its policy: refuse single-use tokens (they cannot be decided), admit or
//! refuse new streams, let rate-limited requests through.
//!
//! # Losing Redis's data
//! Redis is the only record of single-use decisions. If it loses them (a
//! restart without persistence, a flush, failover to an empty replica), a
//! token used before could be accepted again. The replay scripts detect this:
//! a marker key, `replay-epoch`, is created at first contact and is never
//! expired; a decision that finds it missing recreates it as the second after
//! Redis's current one, and from then on a token issued before that second is
//! refused as
//! [`unverifiable`](keyward_store::Redemption::unverifiable) unless its record
//! shows it used up — the fence the SQLite backend raises after an unclean
//! stop. The first contact with an empty Redis fences the same way (a
//! deployment moving from a single node to a cluster refuses tokens issued
//! before, which may have been used on the single node), and then waits for
//! that second to begin (at most 1 s), so the node's own tokens are never
//! fenced. Run Redis with
//! `maxmemory-policy noeviction` (an evicted decision cannot be detected;
//! [`RedisState::connect`] warns otherwise), and with `appendonly yes` /
//! `appendfsync always` for decisions that survive a Redis restart.

pub mod invalidation;
pub mod options;
pub mod ratelimit;
pub mod replay;
mod state;
pub mod streams;

pub use invalidation::{CacheKind, Invalidation, InvalidationEvent, Subscription};
pub use options::RedisOptions;
pub use ratelimit::{LocalRateLimiter, Quota, RateDecision, RateLimit, RedisRateLimiter};
pub use state::RedisState;
