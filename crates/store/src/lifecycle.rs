//! What every backend does besides storing: answer a health probe, and close.

use async_trait::async_trait;

use crate::error::Result;

/// The life of a backend, for readiness probes and clean shutdown. Implemented by
/// every backend, whichever concerns it serves.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Whether the backend can serve: a cheap round trip to it (SQLite: a
    /// `SELECT 1` and the writer thread alive). `backend` (or `io`) otherwise;
    /// the detail is for logs.
    async fn health(&self) -> Result<()>;

    /// Finishes queued writes (single-use decisions, audit events) and releases
    /// connections, threads and locks. Idempotent. Afterwards `health` fails and
    /// so do calls that need the released resources.
    async fn close(&self);
}
