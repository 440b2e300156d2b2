//! Audit events leave the request path through a channel and reach the store in
//! batches (one transaction each), so a busy gateway pays one database write per
//! batch rather than one per licence. The queue is normally empty within a few
//! milliseconds; at shutdown the server waits for it to drain
//! ([`AuditSink::drained`]) before it closes the store.

use std::sync::Arc;

use keyward_store::{AuditEvent, AuditStore};
use tokio::sync::mpsc;

/// Largest batch handed to the store at once. The SQLite store writes audit
/// events with its timed flush (every 20 ms), so a batch must hold what a busy
/// gateway makes in that time.
const MAX_BATCH: usize = 8_192;
/// Events waiting for the writer; senders wait (back-pressure) beyond this.
const QUEUE: usize = 16_384;

/// Where handlers hand audit events.
#[derive(Clone)]
pub struct AuditSink {
    tx: Option<mpsc::Sender<AuditEvent>>,
    store: Arc<dyn AuditStore>,
    /// The writer task; it ends once every sender is gone and the queue is written.
    writer: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Batch write time and event counts (shown by the metrics registry).
    instruments: crate::metrics::AuditInstruments,
}

/// Waits for the audit writer to finish (see [`AuditSink::drained`]).
pub struct AuditDrain(Option<tokio::task::JoinHandle<()>>);

impl AuditDrain {
    /// Resolves when every queued event is written (the senders must be gone:
    /// the server has stopped), or after `limit`.
    pub async fn wait(self, limit: std::time::Duration) {
        if let Some(h) = self.0 {
            if tokio::time::timeout(limit, h).await.is_err() {
                tracing::warn!("audit events still queued at shutdown were not all written");
            }
        }
    }
}

impl AuditSink {
    /// Starts the writer task (when a tokio runtime is running).
    pub fn start(store: Arc<dyn AuditStore>) -> Self {
        let instruments = crate::metrics::AuditInstruments::default();
        if tokio::runtime::Handle::try_current().is_err() {
            return Self {
                tx: None,
                store,
                writer: Arc::default(),
                instruments,
            };
        }
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let writer = store.clone();
        let seen = instruments.clone();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let n = batch.len();
                let started = std::time::Instant::now();
                let written = writer.record_batch(std::mem::take(&mut batch)).await;
                seen.flush.observe(started.elapsed().as_secs_f64());
                let n64 = u64::try_from(n).unwrap_or(u64::MAX);
                match written {
                    Ok(_) => {
                        seen.written.inc_by(n64);
                    }
                    Err(e) => {
                        seen.failed.inc_by(n64);
                        tracing::error!(error = %e, events = n, "audit batch could not be written");
                    }
                }
            }
        });
        Self {
            tx: Some(tx),
            store,
            writer: Arc::new(std::sync::Mutex::new(Some(task))),
            instruments,
        }
    }

    /// The writer's instruments (for the metrics registry).
    pub fn instruments(&self) -> &crate::metrics::AuditInstruments {
        &self.instruments
    }

    /// Events queued for the writer now.
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, |tx| QUEUE - tx.capacity())
    }

    /// The handle to wait for the writer at shutdown (once; later calls get
    /// one that resolves at once).
    pub fn drained(&self) -> AuditDrain {
        AuditDrain(self.writer.lock().ok().and_then(|mut w| w.take()))
    }

    /// Queues one event from the request path: a plain channel send while
    /// there is room. When the writer is behind and the queue is full, the
    /// caller waits for room (back-pressure): memory stays bounded and no
    /// event is dropped.
    pub async fn submit(&self, event: AuditEvent) {
        match &self.tx {
            Some(tx) => match tx.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => self.record(event).await,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::error!("audit writer stopped; event dropped");
                }
            },
            None => self.record(event).await,
        }
    }

    /// Queues one event that may be lost rather than wait (a decision
    /// record, written from the synchronous end of the pipeline): dropped and
    /// counted as failed (`keyward_audit_events_failed_total`) when the queue
    /// is full or there is no writer.
    pub fn try_submit(&self, event: AuditEvent) {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(event).is_ok());
        if !sent {
            self.instruments.failed.inc();
            tracing::warn!("audit queue full: a decision record was not kept");
        }
    }

    /// Queues one event, waiting while the queue is full.
    pub async fn record(&self, event: AuditEvent) {
        match &self.tx {
            Some(tx) => {
                if tx.send(event).await.is_err() {
                    tracing::error!("audit writer stopped; event dropped");
                }
            }
            None => {
                if let Err(e) = self.store.record(event).await {
                    tracing::error!(error = %e, "audit record failed");
                }
            }
        }
    }
}
