//! The SQLite backend's writer: one dedicated thread and connection that
//! persists single-use decisions and audit events behind the answer.
//!
//! # Why
//! A licence with a single-use token needs a check-and-increment and an audit
//! row. The check is decided in memory by the backend-neutral
//! [`DecisionSet`](crate::replay::decisions::DecisionSet); this thread drains its
//! journal every [`FLUSH_INTERVAL`] into one transaction (group commit), together
//! with the audit events waiting at that moment, so no request waits for a
//! commit.
//!
//! # What stays true
//! * **One decider**: the decision set is authoritative only if no other process
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
//! * **Failed commits lose nothing**: the decisions stay valid in memory and
//!   their rows go back into the journal, ahead of newer ones, for the next turn.
//! * **Bounded work per transaction**: expired rows are purged in chunks, and
//!   the write-ahead log is checkpointed (`TRUNCATE`) every
//!   [`CHECKPOINT_INTERVAL`] while writes go on, so neither grows without bound.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags};
use tokio::sync::{oneshot, OnceCell};

use crate::audit::AuditEvent;
use crate::error::{Result, StoreError};
use crate::replay::decisions::{DecisionSet, Pending};
use crate::replay::Redemption;
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
/// The `meta` row that says a process holds the replay claim.
pub(crate) const MARKER: &str = "replay_claimed";

/// What the claim established.
#[derive(Debug)]
struct Claim {
    /// Tokens issued before this (unix seconds) and not on record are refused:
    /// the previous process did not close cleanly. `None` after a clean close.
    fence: Option<i64>,
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
pub(crate) struct Writer {
    live: Arc<DecisionSet>,
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
     (at_unix_ms, site_id, kind, cid, drm, result, request_id, detail, user_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const PURGE_SQL: &str = "DELETE FROM redemptions WHERE (namespace, token_id) IN \
     (SELECT namespace, token_id FROM redemptions WHERE expires_at <= ?1 LIMIT ?2)";

impl Writer {
    /// Opens a second connection to the (already migrated) database at `path`
    /// and starts the writer thread. Nothing is claimed yet.
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<Writer> {
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
        let live = Arc::new(DecisionSet::journaled());
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
        Ok(Writer {
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

    /// Whether the thread is there to take work: not closed, not ended.
    pub(crate) fn is_running(&self) -> bool {
        let open = self.jobs.lock().map(|j| j.is_some()).unwrap_or(false);
        let alive = self
            .thread
            .lock()
            .map(|t| t.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false);
        open && alive && !self.closed.load(std::sync::atomic::Ordering::Acquire)
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

/// Sleeps until the system clock reaches unix second `second`.
fn wait_until_second(second: i64) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let target = Duration::from_secs(u64::try_from(second).unwrap_or(0));
        if now >= target {
            return;
        }
        std::thread::sleep(target - now);
    }
}

struct Worker {
    conn: Connection,
    busy_timeout: Duration,
    live: Arc<DecisionSet>,
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
        // IMMEDIATE: this transaction reads the marker and then writes it. A
        // deferred one would start as a reader and, if another connection
        // wrote in between (the pool's KEK check, an audit batch), fail its
        // upgrade at once with "database is locked" instead of waiting.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
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
        let fence = if unclean {
            // Token times are whole seconds. The crashed process minted nothing
            // after this second; this one mints nothing before the next: wait
            // for it, so the fence separates the two exactly and no token of
            // this process is ever fenced (at most 1 s, after an unclean stop
            // only).
            let fence = now + 1;
            wait_until_second(fence);
            Some(fence)
        } else {
            None
        };
        Ok(Claim { fence })
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
                        p.namespace(),
                        p.token_id(),
                        i64::from(p.use_count()),
                        p.expires_at()
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
                                e.user,
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
