//! Concurrent-stream limits: how many streams a user of a site plays at once.
//!
//! A stream holds a *slot* identified by (site, user, stream id) — the stream id is
//! whatever the caller uses to tell a user's playbacks apart (a session id, a
//! device id). A slot is a lease: taken with a limit and a time to live, renewed
//! while the stream plays (licence renewals), released when it stops, and forgotten
//! when its lease runs out, so a crashed player frees its slot by itself.
//!
//! Status: the trait and both backends exist so the gatekeeper has a seam, but the
//! server does not enforce `max_stream_per_user` yet. The memory backend implements
//! it exactly; the SQLite backend keeps the slots in process memory too (one
//! `keyward serve` per data directory, so that is exact for a single node, and
//! leases are short-lived state: a restart forgets them, which at worst lets a user
//! start streams again early). A scale-out backend (Redis) shares them between
//! processes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Result, StoreError};
use crate::sites::SiteId;
use crate::unix_now_ms;

/// Longest user id or stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 256;
/// Longest lease accepted: a day.
pub const MAX_STREAM_TTL: Duration = Duration::from_secs(86_400);

/// The answer to [`StreamStore::acquire_stream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamGrant {
    /// The stream holds a slot (new, or its existing one renewed) until
    /// `expires_at_ms` (unix milliseconds); `active` counts the user's unexpired
    /// slots including this one.
    Granted {
        /// The user's active slots, this one included.
        active: u32,
        /// When this slot's lease ends, unix milliseconds.
        expires_at_ms: i64,
    },
    /// `active` other streams of the user hold unexpired slots, and `active` is at
    /// least the limit: refuse the stream (or ask the user to stop another).
    Full {
        /// The user's active slots.
        active: u32,
        /// When the first of those slots' leases ends (unix milliseconds) unless it
        /// is renewed: the earliest a new stream could start (now when no slot is
        /// held, i.e. a limit of 0).
        frees_at_ms: i64,
    },
}

impl StreamGrant {
    /// Whether a slot was granted.
    pub fn is_granted(&self) -> bool {
        matches!(self, StreamGrant::Granted { .. })
    }
}

/// Storage of concurrent-stream slots. Implemented by
/// [`MemoryStore`](crate::memory::MemoryStore),
/// [`SqliteStore`](crate::sqlite::SqliteStore) and
/// [`PostgresStore`](crate::postgres::PostgresStore) (in process memory; see the
/// module docs).
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Takes a slot for `stream_id` among `user_id`'s streams in `site_id` if fewer
    /// than `limit` unexpired slots are held, with a lease of `ttl`. A stream that
    /// already holds a live slot gets it renewed whatever the limit (a lowered limit
    /// applies to new streams). `limit` 0 never grants.
    ///
    /// `invalid_input` for an empty or over-long user or stream id, or a `ttl`
    /// that is zero or longer than [`MAX_STREAM_TTL`].
    async fn acquire_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        limit: u32,
        ttl: Duration,
    ) -> Result<StreamGrant>;

    /// Extends a live slot's lease to `ttl` from now; its new end (unix ms), or
    /// `None` if the slot expired or was released (acquire again).
    async fn renew_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        ttl: Duration,
    ) -> Result<Option<i64>>;

    /// Gives a slot back; whether a live slot was held.
    async fn release_stream(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
    ) -> Result<bool>;

    /// How many unexpired slots the user holds.
    async fn active_streams(&self, site_id: &SiteId, user_id: &str) -> Result<u32>;
}

/// Checks the arguments of a [`StreamStore`] call (`invalid_input` otherwise),
/// for every implementation of the trait (this crate's and others').
pub fn validate_stream(user_id: &str, stream_id: &str, ttl: Option<Duration>) -> Result<()> {
    for (field, value) in [("user_id", user_id), ("stream_id", stream_id)] {
        if value.is_empty() || value.len() > MAX_STREAM_ID_LEN {
            return Err(StoreError::InvalidInput {
                field,
                reason: "must be 1 to 256 bytes",
            });
        }
    }
    if let Some(ttl) = ttl {
        if ttl.is_zero() || ttl > MAX_STREAM_TTL {
            return Err(StoreError::InvalidInput {
                field: "ttl",
                reason: "must be more than zero and at most a day",
            });
        }
    }
    Ok(())
}

/// One lease.
#[derive(Debug)]
struct Lease {
    stream_id: String,
    expires_at_ms: i64,
}

/// A user's slots, keyed by (site, user).
type Users = HashMap<(SiteId, String), Vec<Lease>>;

/// A store that keeps stream slots in process memory (exact for one process);
/// its [`StreamStore`] is this table's.
pub(crate) trait InProcessStreams {
    /// The table.
    fn stream_table(&self) -> &StreamTable;
}

#[async_trait]
impl<T: InProcessStreams + Send + Sync> StreamStore for T {
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
            .stream_table()
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
            .stream_table()
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
            .stream_table()
            .release(site_id, user_id, stream_id, unix_now_ms()))
    }

    async fn active_streams(&self, site_id: &SiteId, user_id: &str) -> Result<u32> {
        validate_stream(user_id, "-", None)?;
        Ok(self.stream_table().active(site_id, user_id, unix_now_ms()))
    }
}

/// The in-process slot table both embedded backends use: exact, under one lock.
/// Time is passed in (unix ms) so the rules are testable without sleeping.
#[derive(Debug, Default)]
pub(crate) struct StreamTable {
    users: Mutex<Users>,
    /// Calls since the last full sweep of users whose slots all expired.
    calls: AtomicU64,
}

/// A full sweep of idle users every this many acquisitions, so users who never
/// come back do not stay in memory.
const SWEEP_EVERY: u64 = 4096;

fn ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

impl StreamTable {
    fn lock(&self) -> MutexGuard<'_, Users> {
        // Every critical section leaves the map consistent.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// See [`StreamStore::acquire_stream`]; arguments already validated.
    pub(crate) fn acquire(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        limit: u32,
        ttl: Duration,
        now_ms: i64,
    ) -> StreamGrant {
        let mut users = self.lock();
        if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            users.retain(|_, leases| {
                leases.retain(|l| l.expires_at_ms > now_ms);
                !leases.is_empty()
            });
        }
        let leases = users
            .entry((site_id.clone(), user_id.to_owned()))
            .or_default();
        leases.retain(|l| l.expires_at_ms > now_ms);
        let expires_at_ms = now_ms.saturating_add(ms(ttl));
        let active = u32::try_from(leases.len()).unwrap_or(u32::MAX);
        if let Some(l) = leases.iter_mut().find(|l| l.stream_id == stream_id) {
            l.expires_at_ms = expires_at_ms;
            return StreamGrant::Granted {
                active,
                expires_at_ms,
            };
        }
        if active >= limit {
            let frees_at_ms = leases
                .iter()
                .map(|l| l.expires_at_ms)
                .min()
                .unwrap_or(now_ms);
            if leases.is_empty() {
                users.remove(&(site_id.clone(), user_id.to_owned()));
            }
            return StreamGrant::Full {
                active,
                frees_at_ms,
            };
        }
        leases.push(Lease {
            stream_id: stream_id.to_owned(),
            expires_at_ms,
        });
        StreamGrant::Granted {
            active: active + 1,
            expires_at_ms,
        }
    }

    /// See [`StreamStore::renew_stream`].
    pub(crate) fn renew(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        ttl: Duration,
        now_ms: i64,
    ) -> Option<i64> {
        let mut users = self.lock();
        let leases = users.get_mut(&(site_id.clone(), user_id.to_owned()))?;
        let lease = leases
            .iter_mut()
            .find(|l| l.stream_id == stream_id && l.expires_at_ms > now_ms)?;
        lease.expires_at_ms = now_ms.saturating_add(ms(ttl));
        Some(lease.expires_at_ms)
    }

    /// See [`StreamStore::release_stream`].
    pub(crate) fn release(
        &self,
        site_id: &SiteId,
        user_id: &str,
        stream_id: &str,
        now_ms: i64,
    ) -> bool {
        let mut users = self.lock();
        let key = (site_id.clone(), user_id.to_owned());
        let Some(leases) = users.get_mut(&key) else {
            return false;
        };
        let live = leases
            .iter()
            .any(|l| l.stream_id == stream_id && l.expires_at_ms > now_ms);
        leases.retain(|l| l.stream_id != stream_id && l.expires_at_ms > now_ms);
        if leases.is_empty() {
            users.remove(&key);
        }
        live
    }

    /// See [`StreamStore::active_streams`].
    pub(crate) fn active(&self, site_id: &SiteId, user_id: &str, now_ms: i64) -> u32 {
        self.lock()
            .get(&(site_id.clone(), user_id.to_owned()))
            .map_or(0, |leases| {
                let n = leases.iter().filter(|l| l.expires_at_ms > now_ms).count();
                u32::try_from(n).unwrap_or(u32::MAX)
            })
    }

    /// How many (site, user) entries are kept (for tests of the sweep).
    #[cfg(test)]
    fn users(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const TTL: Duration = Duration::from_secs(30);

    fn site() -> SiteId {
        SiteId::parse("TUTO").unwrap()
    }

    #[test]
    fn limit_renewal_release_and_expiry() {
        let t = StreamTable::default();
        let s = site();
        assert_eq!(
            t.acquire(&s, "u", "a", 2, TTL, T0),
            StreamGrant::Granted {
                active: 1,
                expires_at_ms: T0 + 30_000
            }
        );
        assert!(t.acquire(&s, "u", "b", 2, TTL, T0 + 1).is_granted());
        assert_eq!(
            t.acquire(&s, "u", "c", 2, TTL, T0 + 2),
            StreamGrant::Full {
                active: 2,
                frees_at_ms: T0 + 30_000
            }
        );
        // Another user, another site: separate counts.
        assert!(t.acquire(&s, "v", "c", 2, TTL, T0 + 2).is_granted());
        let other = SiteId::parse("ABCD").unwrap();
        assert!(t.acquire(&other, "u", "c", 2, TTL, T0 + 2).is_granted());
        // Re-acquiring a held slot renews it, even at a lower limit.
        assert_eq!(
            t.acquire(&s, "u", "a", 1, TTL, T0 + 10),
            StreamGrant::Granted {
                active: 2,
                expires_at_ms: T0 + 10 + 30_000
            }
        );
        assert_eq!(t.renew(&s, "u", "b", TTL, T0 + 20), Some(T0 + 20 + 30_000));
        assert_eq!(t.renew(&s, "u", "zz", TTL, T0 + 20), None);
        assert!(t.release(&s, "u", "b", T0 + 21));
        assert!(!t.release(&s, "u", "b", T0 + 21));
        assert_eq!(t.active(&s, "u", T0 + 21), 1);
        assert!(t.acquire(&s, "u", "c", 2, TTL, T0 + 22).is_granted());
        // Leases run out by themselves.
        let later = T0 + 22 + 30_000;
        assert_eq!(t.active(&s, "u", later), 0);
        assert_eq!(t.renew(&s, "u", "c", TTL, later), None);
        assert!(!t.release(&s, "u", "c", later));
        assert_eq!(
            t.acquire(&s, "u", "x", 0, TTL, later),
            StreamGrant::Full {
                active: 0,
                frees_at_ms: later
            }
        );
    }

    #[test]
    fn idle_users_are_swept() {
        let t = StreamTable::default();
        let s = site();
        for i in 0..100 {
            t.acquire(&s, &format!("user{i}"), "a", 1, TTL, T0);
        }
        assert_eq!(t.users(), 100);
        let later = T0 + 60_000;
        for _ in 0..SWEEP_EVERY {
            t.acquire(&s, "busy", "a", 1, TTL, later);
        }
        assert_eq!(t.users(), 1);
    }

    #[test]
    fn arguments_are_checked() {
        assert!(validate_stream("u", "s", Some(TTL)).is_ok());
        for (u, st, ttl) in [
            ("", "s", TTL),
            ("u", "", TTL),
            ("u", &"x".repeat(257), TTL),
            ("u", "s", Duration::ZERO),
            ("u", "s", Duration::from_secs(86_401)),
        ] {
            assert_eq!(
                validate_stream(u, st, Some(ttl)).unwrap_err().code(),
                "invalid_input"
            );
        }
    }
}
