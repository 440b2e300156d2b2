//! The backend-neutral single-use decision set: who has used which token how many
//! times, decided under a shard lock in process memory.
//!
//! # Why in memory
//! Deciding in the database means waiting for a commit per licence (or per small
//! group); on a 2-core machine that costs more than the rest of the licence. So the
//! decision is made here, and a backend persists it behind the answer: the SQLite
//! backend drains the [journal](DecisionSet::take_pending) into one transaction
//! every few milliseconds (`sqlite::writer`); the memory backend keeps no journal.
//! Nothing here knows about SQLite, files or threads. The PostgreSQL backend does
//! not use it: several processes share its database, so no one process may decide
//! from memory; it applies these same rules in one upsert per use instead
//! (`postgres::replay`).
//!
//! # The rules
//! * **Atomic**: a token's count changes under its shard's lock; 50 concurrent uses of
//!   a single-use token accept exactly one.
//! * **`max_uses`**: a use is accepted while fewer than `max_uses` uses are on record.
//! * **Expiry**: an entry past its `expires_at` counts as absent, exactly as if it had
//!   been purged, so lazy purging never changes an answer. A later use with a later
//!   expiry extends the entry (how a grace window after the token's lifetime is
//!   granted: the caller passes the later expiry).
//! * **Fence**: after an unclean stop the backend passes a *fence*; a token issued
//!   before it may have uses that never reached storage, so it is refused as
//!   [`unverifiable`](crate::Redemption::unverifiable) instead of being trusted —
//!   unless its record already shows every allowed use (then it is simply used
//!   up). This holds for tokens on record too: a record read back after a crash
//!   may be behind by the uses of the last write-behind window, and trusting it
//!   would let an n-use token play more than n times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

use crate::replay::{Redemption, MAX_TOKEN_ID_LEN};

/// Shards of the decision set (a power of two).
const SHARDS: usize = 64;

/// A live-set key: the first 16 bytes of SHA-256(len(namespace) ‖ namespace ‖
/// token id). Token ids are ≤ 64 bytes; the digest keeps entries small and
/// equal-sized whatever the caller's id scheme.
type LiveKey = [u8; 16];

fn live_key(namespace: &str, token_id: &[u8]) -> LiveKey {
    let mut h = Sha256::new();
    // validate_redeem bounds the namespace to 64 bytes.
    h.update([u8::try_from(namespace.len()).unwrap_or(u8::MAX)]);
    h.update(namespace.as_bytes());
    h.update(token_id);
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// A live entry: 8 bytes beside its 16-byte key. Expiry in unix seconds as
/// `u32` (clamped; good until 2106), so a million live tokens take ~25 MB.
#[derive(Clone, Copy, Debug)]
struct Live {
    use_count: u32,
    expires_at: u32,
}

impl Live {
    fn new(use_count: u32, expires_at: i64) -> Live {
        Live {
            use_count,
            expires_at: u32::try_from(expires_at.max(0)).unwrap_or(u32::MAX),
        }
    }

    fn expires_at(self) -> i64 {
        i64::from(self.expires_at)
    }
}

/// The keys are already uniform (a digest), so the map hashes by taking
/// their first eight bytes instead of running SipHash again.
#[derive(Clone, Copy, Debug, Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 16]` key arrives as its length (via write_usize) then its bytes.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }
}

type LiveMap = HashMap<LiveKey, Live, std::hash::BuildHasherDefault<DigestHasher>>;

/// A decision to persist: the full row, so a later write of the same token wins.
/// The id is kept inline (ids are at most 64 bytes): no allocation per use.
#[derive(Debug)]
pub(crate) struct Pending {
    namespace: Arc<str>,
    token_id: [u8; MAX_TOKEN_ID_LEN],
    id_len: u8,
    use_count: u32,
    expires_at: i64,
}

impl Pending {
    /// The token's namespace.
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The token id.
    pub(crate) fn token_id(&self) -> &[u8] {
        &self.token_id[..usize::from(self.id_len)]
    }

    /// Uses on record after this decision.
    pub(crate) fn use_count(&self) -> u32 {
        self.use_count
    }

    /// When the entry may be forgotten, unix seconds.
    pub(crate) fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

#[derive(Debug, Default)]
struct Shard {
    live: LiveMap,
    /// Decisions not yet persisted, in decision order (a key always maps to one
    /// shard, so its writes stay ordered). Always empty without a journal.
    pending: Vec<Pending>,
}

/// The decision set, shared by the request tasks and (through the journal) the
/// backend that persists it.
#[derive(Debug)]
pub(crate) struct DecisionSet {
    shards: Vec<Mutex<Shard>>,
    /// Namespaces seen so far, shared by their pending rows.
    namespaces: Mutex<Vec<Arc<str>>>,
    /// Whether accepted decisions are queued for [`DecisionSet::take_pending`].
    journal: bool,
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding a shard lock cannot leave a half-made decision
    // (each is one map operation), so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DecisionSet {
    /// An empty set that journals every accepted use for a backend to persist.
    pub(crate) fn journaled() -> DecisionSet {
        DecisionSet::new(true)
    }

    /// An empty set that keeps no journal (nothing is persisted).
    pub(crate) fn unjournaled() -> DecisionSet {
        DecisionSet::new(false)
    }

    fn new(journal: bool) -> DecisionSet {
        DecisionSet {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            namespaces: Mutex::new(Vec::new()),
            journal,
        }
    }

    fn namespace(&self, ns: &str) -> Arc<str> {
        let mut known = self
            .namespaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(a) = known.iter().find(|a| &***a == ns) {
            return a.clone();
        }
        let a: Arc<str> = ns.into();
        known.push(a.clone());
        a
    }

    fn shard(&self, key: &LiveKey) -> &Mutex<Shard> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// One use of `token_id` in `namespace` at `now` (unix seconds): accepted while
    /// fewer than `max_uses` uses are on record (`max_uses` 0 never accepts).
    /// `fence`: tokens issued before it are `unverifiable` unless their record
    /// shows them used up.
    /// The arguments are validated by the caller (`validate_redeem`).
    #[allow(clippy::too_many_arguments, reason = "one decision, all of it")]
    pub(crate) fn redeem(
        &self,
        fence: Option<i64>,
        namespace: &str,
        token_id: &[u8],
        issued_at: i64,
        expires_at: i64,
        max_uses: u32,
        now: i64,
    ) -> Redemption {
        if max_uses == 0 {
            return Redemption::refused(0);
        }
        let key = live_key(namespace, token_id);
        // The journal row is prepared before the shard lock is taken, so the lock
        // covers one map operation and one push.
        let journal = self.journal.then(|| {
            let mut id = [0u8; MAX_TOKEN_ID_LEN];
            let id_len = token_id.len().min(MAX_TOKEN_ID_LEN);
            id[..id_len].copy_from_slice(&token_id[..id_len]);
            (self.namespace(namespace), id, id_len)
        });
        let fenced = fence.is_some_and(|f| issued_at < f);
        let mut shard = lock(self.shard(&key));
        let entry = match shard.live.get(&key) {
            Some(e) if e.expires_at() > now => {
                if e.use_count >= max_uses {
                    return Redemption::refused(e.use_count);
                }
                if fenced {
                    return Redemption::unverifiable(e.use_count);
                }
                Live::new(e.use_count + 1, e.expires_at().max(expires_at))
            }
            // Absent, or expired (which counts as absent).
            _ => {
                if fenced {
                    return Redemption::unverifiable(0);
                }
                Live::new(1, expires_at)
            }
        };
        shard.live.insert(key, entry);
        if let Some((namespace, id, id_len)) = journal {
            shard.pending.push(Pending {
                namespace,
                token_id: id,
                id_len: u8::try_from(id_len).unwrap_or(u8::MAX),
                use_count: entry.use_count,
                expires_at: entry.expires_at(),
            });
        }
        Redemption {
            use_count: entry.use_count,
            accepted: true,
            unverifiable: false,
        }
    }

    /// Puts an entry read back from storage (at start-up), without journaling it.
    pub(crate) fn load(&self, namespace: &str, token_id: &[u8], use_count: u32, expires_at: i64) {
        let key = live_key(namespace, token_id);
        lock(self.shard(&key))
            .live
            .insert(key, Live::new(use_count, expires_at));
    }

    /// Moves every journaled decision into `into` (shard by shard; each key's
    /// decisions stay in order).
    pub(crate) fn take_pending(&self, into: &mut Vec<Pending>) {
        for s in &self.shards {
            into.append(&mut lock(s).pending);
        }
    }

    /// Puts back decisions whose write failed, ahead of any newer ones.
    pub(crate) fn restore_pending(&self, failed: Vec<Pending>) {
        let mut per_shard: Vec<Vec<Pending>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for p in failed {
            let key = live_key(&p.namespace, p.token_id());
            per_shard[usize::from(key[0]) % SHARDS].push(p);
        }
        for (shard, mut older) in self.shards.iter().zip(per_shard) {
            if older.is_empty() {
                continue;
            }
            let mut s = lock(shard);
            older.append(&mut s.pending);
            s.pending = older;
        }
    }

    /// Forgets entries with `expires_at <= now`; returns how many.
    pub(crate) fn purge(&self, now: i64) -> u64 {
        let mut n = 0;
        for s in &self.shards {
            let mut s = lock(s);
            let before = s.live.len();
            s.live.retain(|_, e| e.expires_at() > now);
            n += (before - s.live.len()) as u64;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn use_once(set: &DecisionSet, id: &[u8], max_uses: u32) -> Redemption {
        set.redeem(None, "ns", id, NOW, NOW + 60, max_uses, NOW)
    }

    #[test]
    fn max_uses_is_the_limit() {
        let set = DecisionSet::unjournaled();
        assert_eq!(use_once(&set, b"a", 0), Redemption::refused(0));
        assert!(use_once(&set, b"a", 1).accepted);
        assert_eq!(use_once(&set, b"a", 1), Redemption::refused(1));
        // A larger limit for the same token counts the earlier use.
        let r = use_once(&set, b"a", 3);
        assert!(r.accepted);
        assert_eq!(r.use_count, 2);
        assert_eq!(use_once(&set, b"a", 3).use_count, 3);
        assert_eq!(use_once(&set, b"a", 3), Redemption::refused(3));
    }

    #[test]
    fn namespaces_and_ids_are_separate() {
        let set = DecisionSet::unjournaled();
        assert!(set.redeem(None, "a", b"bc", NOW, NOW + 60, 1, NOW).accepted);
        // The length prefix keeps ("a","bc") and ("ab","c") apart.
        assert!(set.redeem(None, "ab", b"c", NOW, NOW + 60, 1, NOW).accepted);
        assert!(set.redeem(None, "b", b"bc", NOW, NOW + 60, 1, NOW).accepted);
        assert!(!set.redeem(None, "a", b"bc", NOW, NOW + 60, 1, NOW).accepted);
    }

    #[test]
    fn expired_counts_as_absent_and_later_expiry_extends() {
        let set = DecisionSet::unjournaled();
        assert!(set.redeem(None, "ns", b"t", NOW, NOW + 10, 2, NOW).accepted);
        // A grace window: the second use extends the entry to NOW + 100.
        let r = set.redeem(None, "ns", b"t", NOW, NOW + 100, 2, NOW + 5);
        assert_eq!((r.accepted, r.use_count), (true, 2));
        assert!(
            !set.redeem(None, "ns", b"t", NOW, NOW + 100, 2, NOW + 50)
                .accepted
        );
        // After the extended expiry the entry is gone: a fresh first use.
        let r = set.redeem(None, "ns", b"t", NOW, NOW + 300, 2, NOW + 100);
        assert_eq!((r.accepted, r.use_count), (true, 1));
        // An earlier expiry never shortens a live entry.
        set.redeem(None, "ns", b"t", NOW, NOW + 1, 2, NOW + 101);
        assert_eq!(set.purge(NOW + 299), 0);
        assert_eq!(set.purge(NOW + 300), 1);
        assert_eq!(set.purge(NOW + 300), 0);
    }

    #[test]
    fn the_fence_refuses_every_older_token_not_used_up() {
        let set = DecisionSet::unjournaled();
        set.load("ns", b"known", 1, NOW + 60);
        let fence = Some(NOW);
        let old = set.redeem(fence, "ns", b"old", NOW - 1, NOW + 60, 1, NOW);
        assert_eq!(
            old,
            Redemption {
                use_count: 0,
                accepted: false,
                unverifiable: true
            }
        );
        // A known token whose record may be stale is unverifiable too (its
        // last uses may not have reached storage); one used up is used up.
        let known = set.redeem(fence, "ns", b"known", NOW - 1, NOW + 60, 2, NOW);
        assert_eq!(
            known,
            Redemption {
                use_count: 1,
                accepted: false,
                unverifiable: true
            }
        );
        let spent = set.redeem(fence, "ns", b"known", NOW - 1, NOW + 60, 1, NOW);
        assert_eq!((spent.accepted, spent.unverifiable), (false, false));
        // Tokens issued from the fence on are trusted.
        assert!(
            set.redeem(fence, "ns", b"new", NOW, NOW + 60, 1, NOW)
                .accepted
        );
    }

    #[test]
    fn the_journal_keeps_each_token_in_order_and_retries_first() {
        let set = DecisionSet::journaled();
        for _ in 0..3 {
            set.redeem(None, "ns", b"t", NOW, NOW + 60, 3, NOW);
        }
        set.redeem(None, "other", b"u", NOW, NOW + 90, 1, NOW);
        // Refusals are not journaled.
        set.redeem(None, "ns", b"t", NOW, NOW + 60, 3, NOW);
        let mut taken = Vec::new();
        set.take_pending(&mut taken);
        let counts = |v: &[Pending], ns: &str| -> Vec<u32> {
            v.iter()
                .filter(|p| p.namespace() == ns)
                .map(Pending::use_count)
                .collect()
        };
        assert_eq!(counts(&taken, "ns"), [1, 2, 3]);
        assert_eq!(counts(&taken, "other"), [1]);
        assert!(taken.iter().all(|p| p.token_id().len() == 1));
        assert_eq!(
            taken
                .iter()
                .find(|p| p.namespace() == "other")
                .map(Pending::expires_at),
            Some(NOW + 90)
        );

        // A failed write goes back ahead of newer decisions.
        set.redeem(None, "ns", b"v", NOW, NOW + 60, 1, NOW);
        set.restore_pending(taken);
        let mut again = Vec::new();
        set.take_pending(&mut again);
        assert_eq!(again.len(), 5);
        let v_pos = again.iter().position(|p| p.token_id() == b"v");
        let t_pos = again.iter().rposition(|p| p.token_id() == b"t");
        if let (Some(v), Some(t)) = (v_pos, t_pos) {
            let same_shard = live_key("ns", b"v")[0] % 64 == live_key("ns", b"t")[0] % 64;
            assert!(!same_shard || t < v, "older decisions first within a shard");
        }

        let quiet = DecisionSet::unjournaled();
        quiet.redeem(None, "ns", b"t", NOW, NOW + 60, 1, NOW);
        let mut none = Vec::new();
        quiet.take_pending(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn concurrent_uses_accept_exactly_max_uses() {
        let set = Arc::new(DecisionSet::journaled());
        let accepted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let set = set.clone();
                    s.spawn(move || {
                        (0..50)
                            .filter(|_| use_once(&set, b"shared", 3).accepted)
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(accepted, 3);
        let mut taken = Vec::new();
        set.take_pending(&mut taken);
        let counts: Vec<u32> = taken.iter().map(Pending::use_count).collect();
        assert_eq!(counts, [1, 2, 3]);
    }

    #[test]
    fn expiry_is_clamped_to_u32_seconds() {
        assert_eq!(Live::new(1, -5).expires_at(), 0);
        assert_eq!(Live::new(1, i64::MAX).expires_at(), i64::from(u32::MAX));
    }
}
