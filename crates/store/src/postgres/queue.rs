//! The PostgreSQL backend's audit writer: a queue in process memory drained by
//! one background task, many events per transaction (one multi-row `INSERT`).
//!
//! # What callers get
//! * [`AuditQueue::record`] (one event, [`AuditStore::record`]) waits for the
//!   transaction that writes its event and returns the event's id; if that
//!   transaction fails, the caller gets the error and the event is not kept.
//! * [`AuditQueue::record_batch`] ([`AuditStore::record_batch`]) waits for the
//!   transaction that writes its events, so a search right after sees them.
//!   If the database cannot be written (down, unreachable), the events are
//!   *kept* in the queue, retried with a growing pause (up to
//!   [`MAX_RETRY_PAUSE`]) and written when it returns; the call then answers
//!   `Ok` (the queue has taken them), and later calls answer at once while the
//!   outage lasts. The queue keeps at most [`MAX_KEPT_EVENTS`] such events: a
//!   batch that does not fit is refused (`backend`, and an error log saying how
//!   many were dropped), never dropped silently.
//! * Calls made at the same time share a transaction (group commit), up to
//!   [`MAX_EVENTS_PER_WRITE`] events each.
//! * [`AuditQueue::close`] writes what is queued (at most [`CLOSE_ATTEMPTS`]
//!   attempts while the database fails, then logs how many events it drops).
//!
//! [`AuditStore::record`]: crate::AuditStore::record
//! [`AuditStore::record_batch`]: crate::AuditStore::record_batch
//!
//! # Ids in commit order
//! Each transaction takes a transaction-level advisory lock before it draws
//! its ids from the sequence, and holds it until its commit: across every node
//! writing to the database, ids then increase in commit order, so following the
//! trail by id ([`AuditStore::follow`](crate::AuditStore::follow)) never skips
//! an event committed late with a smaller id.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::postgres::PgPool;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::backend;
use crate::audit::AuditEvent;
use crate::error::{Result, StoreError};
use crate::sites::SiteId;

/// Most events written in one transaction (a larger batch goes in whole).
pub(crate) const MAX_EVENTS_PER_WRITE: usize = 4_096;
/// Most events kept for a retry while the database cannot be written.
pub(crate) const MAX_KEPT_EVENTS: usize = 100_000;
/// The longest pause between two attempts while writes fail.
pub(crate) const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// The first pause after a failed write.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Attempts at closing time before the queued events are given up.
pub(crate) const CLOSE_ATTEMPTS: u32 = 3;
/// The advisory lock (`pg_advisory_xact_lock`) that orders audit writers:
/// "kwaudit1".
const AUDIT_LOCK: i64 = 0x6b77_6175_6469_7431;

/// How a waiting caller's events ended.
enum Outcome {
    /// Written; their ids, in order.
    Written(Vec<i64>),
    /// Not written yet; kept in the queue for the next attempt.
    Kept,
    /// Not written, not kept.
    Failed(StoreError),
}

/// One caller's events.
struct Entry {
    /// Each event with its validated detail JSON.
    events: Vec<(AuditEvent, String)>,
    /// The waiting caller, if it still waits.
    reply: Option<oneshot::Sender<Outcome>>,
    /// Kept for a retry when a write fails (batches); a single record's caller
    /// gets the error instead.
    keep: bool,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    /// Events in `entries`.
    queued: usize,
    /// No more entries are taken; the task writes what is queued and ends.
    closed: bool,
    /// The last write failed (the database is unreachable or refuses).
    failing: bool,
    /// Events refused or given up since the last report.
    dropped: u64,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under the lock is a few field updates; a panic cannot
        // leave the queue half-changed.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The handle the store keeps.
pub(crate) struct AuditQueue {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn closed() -> StoreError {
    StoreError::backend("the store is closed (audit writer stopped)")
}

impl AuditQueue {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn start(pool: PgPool) -> AuditQueue {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(run(shared.clone(), pool));
        AuditQueue {
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues `entry`; `None` when the queue is closed.
    fn push(&self, entry: Entry) -> Result<()> {
        let mut st = self.shared.lock();
        if st.closed {
            return Err(closed());
        }
        st.queued += entry.events.len();
        st.entries.push_back(entry);
        drop(st);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Writes one event (detail validated) and returns its id.
    pub(crate) async fn record(&self, event: (AuditEvent, String)) -> Result<i64> {
        let (reply, answer) = oneshot::channel();
        self.push(Entry {
            events: vec![event],
            reply: Some(reply),
            keep: false,
        })?;
        match answer.await {
            Ok(Outcome::Written(ids)) => ids
                .first()
                .copied()
                .ok_or_else(|| StoreError::backend("audit insert returned no id")),
            Ok(Outcome::Failed(e)) => Err(e),
            Ok(Outcome::Kept) | Err(_) => Err(closed()),
        }
    }

    /// Writes several events (details validated), or keeps them for a retry
    /// while the database cannot be written (see the module docs).
    pub(crate) async fn record_batch(&self, events: Vec<(AuditEvent, String)>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len();
        let waits = {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(closed());
            }
            if st.failing && st.queued + n > MAX_KEPT_EVENTS {
                st.dropped += n as u64;
                let queued = st.queued;
                drop(st);
                tracing::error!(
                    events = n,
                    queued,
                    bound = MAX_KEPT_EVENTS,
                    "audit events dropped: the database cannot be written and the queue is full"
                );
                return Err(StoreError::backend(format!(
                    "audit queue full ({MAX_KEPT_EVENTS} events kept while the database \
                     cannot be written): {n} events dropped"
                )));
            }
            // While writes fail, the queue takes the events and answers at once.
            !st.failing
        };
        let (reply, answer) = oneshot::channel();
        self.push(Entry {
            events,
            reply: waits.then_some(reply),
            keep: true,
        })?;
        if !waits {
            return Ok(());
        }
        match answer.await {
            Ok(Outcome::Written(_) | Outcome::Kept) => Ok(()),
            Ok(Outcome::Failed(e)) => Err(e),
            Err(_) => Err(closed()),
        }
    }

    /// Waits until every event queued before the call is written, or one
    /// attempt to write them failed (then `backend`; kept events stay queued).
    pub(crate) async fn flush(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.push(Entry {
            events: Vec::new(),
            reply: Some(reply),
            keep: false,
        })?;
        match answer.await {
            Ok(Outcome::Written(_)) => Ok(()),
            Ok(Outcome::Failed(e)) => Err(e),
            Ok(Outcome::Kept) | Err(_) => Err(closed()),
        }
    }

    /// Whether the writer takes events: not closed, task alive.
    pub(crate) fn is_running(&self) -> bool {
        let open = !self.shared.lock().closed;
        let alive = self
            .task
            .lock()
            .map(|t| t.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false);
        open && alive
    }

    /// Takes no more events, writes the queued ones, ends the task. Idempotent.
    pub(crate) async fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for AuditQueue {
    /// Dropped without `close`: the task writes what is queued and ends.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// The writer task.
async fn run(shared: Arc<Shared>, pool: PgPool) {
    let mut pause = FIRST_RETRY_PAUSE;
    let mut failed_attempts: u32 = 0;
    loop {
        let mut batch: Vec<Entry> = Vec::new();
        {
            let mut st = shared.lock();
            let mut events = 0;
            while let Some(front) = st.entries.front() {
                if !batch.is_empty() && events + front.events.len() > MAX_EVENTS_PER_WRITE {
                    break;
                }
                events += front.events.len();
                if let Some(e) = st.entries.pop_front() {
                    batch.push(e);
                }
            }
            st.queued -= events;
            if batch.is_empty() && st.closed {
                break;
            }
        }
        if batch.is_empty() {
            shared.wake.notified().await;
            continue;
        }
        let rows: Vec<&(AuditEvent, String)> = batch.iter().flat_map(|e| e.events.iter()).collect();
        let outcome = if rows.is_empty() {
            Ok(Vec::new())
        } else {
            write(&pool, &rows).await
        };
        drop(rows);
        match outcome {
            Ok(ids) => {
                let mut ids = ids.into_iter();
                for entry in batch {
                    let mine: Vec<i64> = ids.by_ref().take(entry.events.len()).collect();
                    if let Some(reply) = entry.reply {
                        let _ = reply.send(Outcome::Written(mine));
                    }
                }
                let recovered = {
                    let mut st = shared.lock();
                    let was = st.failing;
                    st.failing = false;
                    was.then(|| (std::mem::take(&mut st.dropped), st.queued))
                };
                if let Some((dropped, queued)) = recovered {
                    tracing::warn!(
                        dropped,
                        queued,
                        "audit writer: writes succeed again; the kept events are being written"
                    );
                }
                pause = FIRST_RETRY_PAUSE;
                failed_attempts = 0;
            }
            Err(e) => {
                failed_attempts += 1;
                let detail = e.detail().unwrap_or("write failed").to_owned();
                let mut kept: Vec<Entry> = Vec::new();
                let mut gave_up = 0usize;
                let closing = shared.lock().closed;
                let give_up = closing && failed_attempts >= CLOSE_ATTEMPTS;
                // Answered only once the queue says it fails, so that a caller
                // told "kept" and calling again is not made to wait.
                let mut answers: Vec<(oneshot::Sender<Outcome>, bool)> = Vec::new();
                for mut entry in batch {
                    let keep = entry.keep && !give_up;
                    if entry.keep && !keep {
                        gave_up += entry.events.len();
                    }
                    if let Some(reply) = entry.reply.take() {
                        answers.push((reply, keep));
                    }
                    if keep {
                        kept.push(entry);
                    }
                }
                let (first, queued, dropped) = {
                    let mut st = shared.lock();
                    let first = !st.failing;
                    st.failing = true;
                    for entry in kept.into_iter().rev() {
                        st.queued += entry.events.len();
                        st.entries.push_front(entry);
                    }
                    if give_up {
                        // Closing, and the database still fails: give up the rest.
                        for entry in st.entries.drain(..) {
                            gave_up += entry.events.len();
                            if let Some(reply) = entry.reply {
                                answers.push((reply, false));
                            }
                        }
                        st.queued = 0;
                    }
                    st.dropped += gave_up as u64;
                    (first, st.queued, st.dropped)
                };
                for (reply, kept) in answers {
                    let _ = reply.send(if kept {
                        Outcome::Kept
                    } else {
                        Outcome::Failed(StoreError::backend(&detail))
                    });
                }
                if give_up {
                    tracing::error!(
                        error = %detail,
                        dropped,
                        "audit writer: closing while the database cannot be written; \
                         the queued audit events are dropped"
                    );
                    break;
                }
                if first {
                    tracing::error!(
                        error = %detail,
                        queued,
                        bound = MAX_KEPT_EVENTS,
                        "audit writer: write failed; audit batches are kept in memory \
                         (at most the bound) and retried"
                    );
                } else if failed_attempts.is_multiple_of(10) {
                    tracing::warn!(
                        error = %detail,
                        queued,
                        dropped,
                        attempts = failed_attempts,
                        "audit writer: writes still fail"
                    );
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}

/// One transaction: the advisory lock, the ids (drawn under it, so they
/// increase in commit order), one `INSERT … SELECT FROM unnest(…)` of every row.
async fn write(pool: &PgPool, rows: &[&(AuditEvent, String)]) -> Result<Vec<i64>> {
    let n = i64::try_from(rows.len()).map_err(StoreError::backend)?;
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('audit_id_seq') FROM generate_series(1, $1)")
            .bind(n)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
    if ids.len() != rows.len() {
        return Err(StoreError::backend(
            "the audit sequence returned too few ids",
        ));
    }
    ids.sort_unstable();
    let text = |f: fn(&AuditEvent) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|(e, _)| f(e)).collect()
    };
    sqlx::query(
        "INSERT INTO audit \
         (id, at_unix_ms, site_id, kind, cid, drm, result, request_id, detail, user_id) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])",
    )
    .bind(&ids)
    .bind(rows.iter().map(|(e, _)| e.at_unix_ms).collect::<Vec<i64>>())
    .bind(text(|e| e.site_id.as_ref().map(SiteId::as_str)))
    .bind(text(|e| Some(e.kind.as_str())))
    .bind(text(|e| e.cid.as_deref()))
    .bind(text(|e| e.drm.as_deref()))
    .bind(text(|e| Some(e.result.as_str())))
    .bind(text(|e| e.request_id.as_deref()))
    .bind(rows.iter().map(|(_, d)| d.as_str()).collect::<Vec<&str>>())
    .bind(text(|e| e.user.as_deref()))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    Ok(ids)
}
