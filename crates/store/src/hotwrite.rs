//! The SQLite store's hot path: single-use decisions in memory, persisted
//! behind the answer by one writer thread that also writes the audit trail.
//!
//! # Why
//! A licence with a single-use token needs a check-and-increment and an audit
//! row. Deciding in SQLite means waiting for a commit per licence (or per
//! small group): a thread hand-off, WAL page writes and a wake-up back, which
//! on a 2-core machine cost more than the whole rest of the licence. Here the
//! decision is made under a shard lock in process memory (the *live set*),
//! and the writer thread persists the new counts every [`FLUSH_INTERVAL`] in
//! one transaction, together with the audit events waiting at that moment.
//!
//! # What stays true
//! * **Atomic**: a token's count changes under its shard's lock; 50 concurrent
//!   uses of a single-use token accept exactly one.
//! * **One decider**: the live set is authoritative only if no other process
//!   decides for the same database, so the first process to decide takes an
//!   exclusive lock on `<database>.replay.lock` ([`StoreError::Locked`] for a
//!   second one). Admin commands that never redeem do not need it.
//! * **Restarts do not reopen used tokens**: at claim time the unexpired
//!   entries are loaded from the database; a clean close flushes everything.
//! * **Crashes do not either**: a marker row is written when a process claims
//!   and deleted at its clean close. If a process finds the marker, the last
//!   one died with up to [`FLUSH_INTERVAL`] of decisions unsaved, so tokens
//!   issued before this start that are not on record are refused as
//!   [`Redemption::unverifiable`] (the player asks its backend for a new one)
//!   instead of being trusted.
//! * **Bounded work per transaction**: expired rows are purged in chunks, and
//!   the write-ahead log is checkpointed (`TRUNCATE`) every
//!   [`CHECKPOINT_INTERVAL`] while writes go on, so neither grows without bound.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags};
use sha2::{Digest as _, Sha256};
use tokio::sync::{oneshot, OnceCell};

use crate::audit::AuditEvent;
use crate::error::{Result, StoreError};
use crate::replay::{Redemption, MAX_TOKEN_ID_LEN};
use crate::sites::SiteId;
use crate::unix_now;

/// New single-use counts reach the database at most this long after the answer.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Expired entries are swept from memory and the database this often…
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// …at most this many database rows per transaction, so a purge never stalls.
const PURGE_CHUNK: i64 = 5_000;
/// How often the write-ahead log is checkpointed and truncated while writes go on.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a checkpoint waits for readers before it is left for the next turn.
const CHECKPOINT_BUSY: Duration = Duration::from_millis(100);
/// Shards of the live set (a power of two).
const SHARDS: usize = 64;
/// The `meta` row that says a process holds the replay claim.
const MARKER: &str = "replay_claimed";

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

/// A count to write: the full row, so a later write of the same token wins.
/// The id is kept inline (ids are at most 64 bytes): no allocation per use.
#[derive(Debug)]
struct Pending {
    namespace: Arc<str>,
    token_id: [u8; MAX_TOKEN_ID_LEN],
    id_len: u8,
    use_count: u32,
    expires_at: i64,
}

impl Pending {
    fn token_id(&self) -> &[u8] {
        &self.token_id[..usize::from(self.id_len)]
    }
}

#[derive(Debug, Default)]
struct Shard {
    live: LiveMap,
    /// Decisions not yet written, in decision order (a key always maps to one
    /// shard, so its writes stay ordered).
    pending: Vec<Pending>,
}

/// What the claim established.
#[derive(Debug)]
struct Claim {
    /// Tokens issued before this (unix seconds) and not on record are refused:
    /// the previous process did not close cleanly. `None` after a clean close.
    fence: Option<i64>,
}

/// In-memory replay decisions, shared by the request tasks and the writer.
#[derive(Debug)]
struct LiveSet {
    shards: Vec<Mutex<Shard>>,
    /// Namespaces seen so far, shared by their pending rows.
    namespaces: Mutex<Vec<Arc<str>>>,
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding a shard lock cannot leave a half-made decision
    // (each is one map operation), so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveSet {
    fn new() -> LiveSet {
        LiveSet {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            namespaces: Mutex::new(Vec::new()),
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

    #[allow(clippy::too_many_arguments, reason = "one decision, all of it")]
    fn redeem(
        &self,
        fence: Option<i64>,
        namespace: &str,
        token_id: &[u8],
        issued_at: i64,
        expires_at: i64,
        max_uses: u32,
        now: i64,
    ) -> Redemption {
        let key = live_key(namespace, token_id);
        let mut id = [0u8; MAX_TOKEN_ID_LEN];
        let id_len = token_id.len().min(MAX_TOKEN_ID_LEN);
        id[..id_len].copy_from_slice(&token_id[..id_len]);
        let namespace = self.namespace(namespace);
        let mut shard = lock(self.shard(&key));
        let entry = match shard.live.get(&key) {
            Some(e) if e.expires_at() > now => {
                if e.use_count >= max_uses {
                    return Redemption::refused(e.use_count);
                }
                Live::new(e.use_count + 1, e.expires_at().max(expires_at))
            }
            // Absent, or expired (which counts as absent).
            _ => {
                if fence.is_some_and(|f| issued_at < f) {
                    return Redemption {
                        use_count: 0,
                        accepted: false,
                        unverifiable: true,
                    };
                }
                Live::new(1, expires_at)
            }
        };
        shard.live.insert(key, entry);
        shard.pending.push(Pending {
            namespace,
            token_id: id,
            id_len: u8::try_from(id_len).unwrap_or(u8::MAX),
            use_count: entry.use_count,
            expires_at: entry.expires_at(),
        });
        Redemption {
            use_count: entry.use_count,
            accepted: true,
            unverifiable: false,
        }
    }

    /// Entries loaded from the database at claim time.
    fn load(&self, namespace: &str, token_id: &[u8], use_count: u32, expires_at: i64) {
        let key = live_key(namespace, token_id);
        lock(self.shard(&key))
            .live
            .insert(key, Live::new(use_count, expires_at));
    }

    fn take_pending(&self, into: &mut Vec<Pending>) {
        for s in &self.shards {
            into.append(&mut lock(s).pending);
        }
    }

    /// Puts back writes that failed, ahead of any newer ones.
    fn restore_pending(&self, failed: Vec<Pending>) {
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

    fn purge(&self, now: i64) -> u64 {
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

/// Work that is answered after a commit.
enum Job {
    Audit {
        /// Each event with its validated detail JSON.
        events: Vec<(AuditEvent, String)>,
        reply: oneshot::Sender<Result<Vec<i64>>>,
    },
    Purge {
        now: i64,
        reply: oneshot::Sender<Result<u64>>,
    },
    Claim {
        reply: oneshot::Sender<Result<Claim>>,
    },
    /// Answered once every decision made before it is committed.
    Sync {
        reply: oneshot::Sender<Result<()>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// The handle the store keeps.
#[derive(Debug)]
pub(crate) struct HotWriter {
    live: Arc<LiveSet>,
    claim: OnceCell<Claim>,
    /// Set by close(): no decision may follow the last flush.
    closed: std::sync::atomic::AtomicBool,
    jobs: Mutex<Option<std_mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn stopped() -> StoreError {
    StoreError::backend("the store's writer thread has stopped")
}

fn sql(err: rusqlite::Error) -> StoreError {
    StoreError::backend(err)
}

const UPSERT_SQL: &str = "INSERT INTO redemptions (namespace, token_id, use_count, expires_at) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (namespace, token_id) DO UPDATE SET \
       use_count = excluded.use_count, expires_at = excluded.expires_at";

const AUDIT_SQL: &str = "INSERT INTO audit \
     (at_unix_ms, site_id, kind, cid, drm, result, request_id, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const PURGE_SQL: &str = "DELETE FROM redemptions WHERE (namespace, token_id) IN \
     (SELECT namespace, token_id FROM redemptions WHERE expires_at <= ?1 LIMIT ?2)";

impl HotWriter {
    /// Opens a second connection to the (already migrated) database at `path`
    /// and starts the writer thread. Nothing is claimed yet.
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<HotWriter> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.busy_timeout(busy_timeout).map_err(sql)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; \
             PRAGMA journal_size_limit = 67108864; \
             PRAGMA cache_size = -16384; \
             PRAGMA wal_autocheckpoint = 8192;",
        )
        .map_err(sql)?;
        conn.set_prepared_statement_cache_capacity(8);
        let live = Arc::new(LiveSet::new());
        let (tx, rx) = std_mpsc::channel();
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".replay.lock");
        let worker = Worker {
            conn,
            busy_timeout,
            live: live.clone(),
            lock_path: PathBuf::from(lock_path),
            lock_file: None,
            last_purge: Instant::now(),
            last_checkpoint: Instant::now(),
            purge_pending: false,
            wrote_since_checkpoint: false,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name("keyward-sqlite-writer".into())
            .spawn(move || worker.run(rx))
            .map_err(StoreError::backend)?;
        Ok(HotWriter {
            live,
            claim: OnceCell::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    async fn ask<T>(&self, job: impl FnOnce(oneshot::Sender<Result<T>>) -> Job) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        {
            let jobs = self.jobs.lock().map_err(|_| stopped())?;
            let tx = jobs.as_ref().ok_or_else(stopped)?;
            tx.send(job(reply)).map_err(|_| stopped())?;
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Makes this process the one that decides single-use tokens for the
    /// database (idempotent). See the module docs.
    pub(crate) async fn claim(&self) -> Result<()> {
        self.claim
            .get_or_try_init(|| self.ask(|reply| Job::Claim { reply }))
            .await
            .map(drop)
    }

    /// One use of a token (see [`ReplayStore::redeem`](crate::ReplayStore::redeem));
    /// `max_uses` must be at least 1.
    pub(crate) async fn redeem(
        &self,
        namespace: &str,
        token_id: &[u8],
        issued_at: i64,
        expires_at: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        self.claim().await?;
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(stopped());
        }
        let fence = self.claim.get().and_then(|c| c.fence);
        Ok(self.live.redeem(
            fence,
            namespace,
            token_id,
            issued_at,
            expires_at,
            max_uses,
            unix_now(),
        ))
    }

    /// Appends audit events (details already validated); returns their ids
    /// once they are committed.
    pub(crate) async fn audit(&self, events: Vec<(AuditEvent, String)>) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.ask(|reply| Job::Audit { events, reply }).await
    }

    /// Waits until every decision made before the call is committed.
    pub(crate) async fn sync(&self) -> Result<()> {
        self.ask(|reply| Job::Sync { reply }).await
    }

    /// Deletes every redemption with `expires_at <= now`, in memory and on disk.
    pub(crate) async fn purge(&self, now: i64) -> Result<u64> {
        let in_memory = self.live.purge(now);
        let on_disk = self.ask(|reply| Job::Purge { now, reply }).await?;
        Ok(in_memory.max(on_disk))
    }

    /// Writes every pending decision, clears the claim marker (a clean close),
    /// checkpoints and ends the thread. Later calls fail with `backend`.
    pub(crate) async fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        let (reply, done) = oneshot::channel();
        let sent = match self.jobs.lock() {
            Ok(mut jobs) => jobs
                .take()
                .is_some_and(|tx| tx.send(Job::Close { reply }).is_ok()),
            Err(_) => false,
        };
        if sent {
            let _ = done.await;
        }
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            // The thread has answered Close and only drops its connection now.
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

struct Worker {
    conn: Connection,
    busy_timeout: Duration,
    live: Arc<LiveSet>,
    lock_path: PathBuf,
    /// Held while this process has the claim; the OS releases it if we die.
    lock_file: Option<File>,
    last_purge: Instant,
    last_checkpoint: Instant,
    purge_pending: bool,
    wrote_since_checkpoint: bool,
    /// Whether the last commit failed (to log transitions only).
    failing: bool,
}

impl Worker {
    fn run(mut self, rx: std_mpsc::Receiver<Job>) {
        let mut jobs: Vec<Job> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut next_flush = Instant::now() + FLUSH_INTERVAL;
        let mut closing: Option<oneshot::Sender<()>> = None;
        loop {
            let wait = next_flush.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(job) => {
                    jobs.push(job);
                    jobs.extend(rx.try_iter());
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                // The store was dropped without close(): save what we have (below).
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            }
            // Claims first, so that the loaded entries precede any decision.
            for job in jobs.extract_if(.., |j| matches!(j, Job::Claim { .. })) {
                if let Job::Claim { reply } = job {
                    let _ = reply.send(self.claim());
                }
            }
            // Audit events ride with the next timed flush (their writer is
            // already off the request path); the rest is answered at once.
            let urgent = jobs.iter().any(|j| !matches!(j, Job::Audit { .. }));
            if urgent || Instant::now() >= next_flush {
                self.flush(&mut pending, &mut jobs, &mut closing);
                next_flush = Instant::now() + FLUSH_INTERVAL;
            }
            if closing.is_some() {
                break;
            }
            self.housekeeping();
        }
        // Decisions made since the last turn; only if every one is on disk is
        // this a clean close (no fence next time).
        let saved = self.flush(&mut pending, &mut Vec::new(), &mut None);
        if saved && self.lock_file.is_some() {
            let _ = self
                .conn
                .execute("DELETE FROM meta WHERE name = ?1", params![MARKER]);
        }
        self.checkpoint();
        let Worker {
            conn, lock_file, ..
        } = self;
        drop(conn);
        drop(lock_file);
        if let Some(reply) = closing {
            let _ = reply.send(());
        }
    }

    /// Takes the lock file, reads and sets the marker, loads the live entries.
    fn claim(&mut self) -> Result<Claim> {
        let mut options = File::options();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            // Like every file in the data directory: the owner's only.
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options
            .open(&self.lock_path)
            .map_err(|e| StoreError::io("opening the replay lock file", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::io("locking the replay lock file", e))
            }
        }
        let now = unix_now();
        let tx = self.conn.transaction().map_err(sql)?;
        let unclean: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM meta WHERE name = ?1)",
                params![MARKER],
                |r| r.get(0),
            )
            .map_err(sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            params![MARKER, now.to_string().into_bytes()],
        )
        .map_err(sql)?;
        {
            let mut stmt = tx
                .prepare(
                    "SELECT namespace, token_id, use_count, expires_at FROM redemptions \
                     WHERE expires_at > ?1",
                )
                .map_err(sql)?;
            let mut rows = stmt.query(params![now]).map_err(sql)?;
            while let Some(row) = rows.next().map_err(sql)? {
                let ns: String = row.get(0).map_err(sql)?;
                let id: Vec<u8> = row.get(1).map_err(sql)?;
                let count: i64 = row.get(2).map_err(sql)?;
                let expires: i64 = row.get(3).map_err(sql)?;
                self.live
                    .load(&ns, &id, u32::try_from(count).unwrap_or(u32::MAX), expires);
            }
        }
        tx.commit().map_err(sql)?;
        self.lock_file = Some(file);
        self.last_purge = Instant::now();
        self.purge_pending = true;
        Ok(Claim {
            // Whole seconds: a token issued in the second of this start may
            // predate it, so the fence covers that second too.
            fence: unclean.then_some(now + 1),
        })
    }

    /// One transaction: the pending decisions, then the jobs; answers the jobs
    /// after the commit. A failure answers them with the error and keeps the
    /// decisions for the next turn. Returns whether it committed.
    fn flush(
        &mut self,
        pending: &mut Vec<Pending>,
        jobs: &mut Vec<Job>,
        closing: &mut Option<oneshot::Sender<()>>,
    ) -> bool {
        self.live.take_pending(pending);
        let mut audit_ids: Vec<Vec<i64>> = Vec::new();
        let mut purged: Vec<u64> = Vec::new();
        let outcome = (|| -> Result<()> {
            if pending.is_empty() && jobs.is_empty() {
                return Ok(());
            }
            let tx = self.conn.transaction().map_err(sql)?;
            {
                let mut up = tx.prepare_cached(UPSERT_SQL).map_err(sql)?;
                for p in pending.iter() {
                    up.execute(params![
                        &*p.namespace,
                        p.token_id(),
                        i64::from(p.use_count),
                        p.expires_at
                    ])
                    .map_err(sql)?;
                }
            }
            for job in jobs.iter() {
                match job {
                    Job::Audit { events, .. } => {
                        let mut stmt = tx.prepare_cached(AUDIT_SQL).map_err(sql)?;
                        let mut ids = Vec::with_capacity(events.len());
                        for (e, detail) in events {
                            stmt.execute(params![
                                e.at_unix_ms,
                                e.site_id.as_ref().map(SiteId::as_str),
                                e.kind,
                                e.cid,
                                e.drm,
                                e.result,
                                e.request_id,
                                detail,
                            ])
                            .map_err(sql)?;
                            ids.push(tx.last_insert_rowid());
                        }
                        audit_ids.push(ids);
                    }
                    Job::Purge { now, .. } => {
                        let n = tx
                            .execute(
                                "DELETE FROM redemptions WHERE expires_at <= ?1",
                                params![now],
                            )
                            .map_err(sql)?;
                        purged.push(n as u64);
                    }
                    Job::Claim { .. } | Job::Sync { .. } | Job::Close { .. } => {}
                }
            }
            tx.commit().map_err(sql)?;
            self.wrote_since_checkpoint = true;
            Ok(())
        })();
        let failed_rows = pending.len();
        let error = outcome.err().map(|e| {
            let detail = e.detail().unwrap_or("write failed").to_owned();
            // Decisions stay valid in memory; their rows are retried.
            self.live.restore_pending(std::mem::take(pending));
            detail
        });
        // Logged when writing starts or stops failing, not every 20 ms.
        match (&error, self.failing) {
            (Some(detail), false) => {
                tracing::error!(
                    error = %detail,
                    rows = failed_rows,
                    "store writer: commit failed; single-use decisions stay in memory and are retried"
                );
                self.failing = true;
            }
            (None, true) => {
                tracing::warn!("store writer: commits succeed again");
                self.failing = false;
            }
            _ => {}
        }
        pending.clear();
        let (mut audit_ids, mut purged) = (audit_ids.into_iter(), purged.into_iter());
        for job in jobs.drain(..) {
            let fail = || StoreError::backend(error.clone().unwrap_or_default());
            match job {
                Job::Audit { reply, .. } => {
                    let _ = reply.send(match &error {
                        None => Ok(audit_ids.next().unwrap_or_default()),
                        Some(_) => Err(fail()),
                    });
                }
                Job::Purge { reply, .. } => {
                    let _ = reply.send(match &error {
                        None => Ok(purged.next().unwrap_or_default()),
                        Some(_) => Err(fail()),
                    });
                }
                Job::Sync { reply } => {
                    let _ = reply.send(match &error {
                        None => Ok(()),
                        Some(_) => Err(fail()),
                    });
                }
                Job::Close { reply } => *closing = Some(reply),
                Job::Claim { reply } => {
                    let _ = reply.send(Err(stopped()));
                }
            }
        }
        error.is_none()
    }

    /// Between transactions: the periodic sweep of expired entries (memory,
    /// then the database in chunks) and the periodic checkpoint.
    fn housekeeping(&mut self) {
        if self.lock_file.is_some()
            && (self.purge_pending || self.last_purge.elapsed() >= PURGE_INTERVAL)
        {
            self.last_purge = Instant::now();
            let now = unix_now();
            if !self.purge_pending {
                self.live.purge(now);
            }
            // A failed purge is retried at the next interval; it never changes
            // an answer (an expired entry counts as absent).
            let deleted = self
                .conn
                .execute(PURGE_SQL, params![now, PURGE_CHUNK])
                .unwrap_or(0);
            // A full chunk: more are due, take the next one after the next flush.
            self.purge_pending = i64::try_from(deleted).unwrap_or(i64::MAX) >= PURGE_CHUNK;
            self.wrote_since_checkpoint |= deleted > 0;
        }
        if self.wrote_since_checkpoint && self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            self.checkpoint();
        }
    }

    /// SQLite's automatic checkpoints copy the log back but cannot restart it
    /// while readers keep old snapshots open, so under steady load the `-wal`
    /// file would grow without bound. A `TRUNCATE` checkpoint resets it; it
    /// waits briefly for readers and is otherwise left for the next turn.
    fn checkpoint(&mut self) {
        self.last_checkpoint = Instant::now();
        self.wrote_since_checkpoint = false;
        let _ = self.conn.busy_timeout(CHECKPOINT_BUSY);
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = self.conn.busy_timeout(self.busy_timeout);
    }
}
