//! Audit events leave the request path through a channel and reach the store in
//! batches (one transaction each), so a busy gateway pays one database write per
//! batch rather than one per licence. The queue is normally empty within a few
//! milliseconds; events still queued when the process stops are lost.

use std::sync::Arc;

use keyward_store::{AuditEvent, Store};
use tokio::sync::mpsc;

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 512;
/// Events waiting for the writer; senders wait (back-pressure) beyond this.
const QUEUE: usize = 16_384;

/// Where handlers hand audit events.
#[derive(Clone)]
pub struct AuditSink {
    tx: Option<mpsc::Sender<AuditEvent>>,
    store: Arc<dyn Store>,
}

impl AuditSink {
    /// Starts the writer task (when a tokio runtime is running).
    pub fn start(store: Arc<dyn Store>) -> Self {
        if tokio::runtime::Handle::try_current().is_err() {
            return Self { tx: None, store };
        }
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let writer = store.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let n = batch.len();
                if let Err(e) = writer.record_batch(std::mem::take(&mut batch)).await {
                    tracing::error!(error = %e, events = n, "audit batch could not be written");
                }
            }
        });
        Self {
            tx: Some(tx),
            store,
        }
    }

    /// Queues one event from the request path without waiting: a plain channel
    /// send while there is room; only a full queue costs a task that waits.
    pub fn submit(&self, event: AuditEvent) {
        match &self.tx {
            Some(tx) => match tx.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    let sink = self.clone();
                    tokio::spawn(async move { sink.record(event).await });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::error!("audit writer stopped; event dropped");
                }
            },
            None => {
                let sink = self.clone();
                tokio::spawn(async move { sink.record(event).await });
            }
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
