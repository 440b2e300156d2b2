//! Audit trail: what happened, for which site and content, and how it ended.
//!
//! Events never carry key material or tokens; `detail` is free JSON for the caller
//! (bounded in size).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::sites::SiteId;

/// Largest serialized `detail` accepted, in bytes.
pub const MAX_DETAIL_LEN: usize = 16 * 1024;
/// Most records [`AuditStore::recent`] returns, whatever limit is asked.
pub const MAX_RECENT: u32 = 1000;

/// One audit event, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened, unix milliseconds.
    pub at_unix_ms: i64,
    /// The site concerned, if known.
    pub site_id: Option<SiteId>,
    /// What happened, e.g. `license`, `token_issued`, `key_imported`.
    pub kind: String,
    /// Content id concerned, if any.
    pub cid: Option<String>,
    /// DRM concerned, if any (e.g. `Widevine`).
    pub drm: Option<String>,
    /// Result code: `ok` or the error code that was answered.
    pub result: String,
    /// Request id for correlating with logs.
    pub request_id: Option<String>,
    /// Free JSON detail (no secrets), at most [`MAX_DETAIL_LEN`] bytes serialized.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event of `kind` with `result`, stamped now, with everything else empty.
    pub fn new(kind: impl Into<String>, result: impl Into<String>) -> AuditEvent {
        AuditEvent {
            at_unix_ms: crate::unix_now_ms(),
            site_id: None,
            kind: kind.into(),
            cid: None,
            drm: None,
            result: result.into(),
            request_id: None,
            detail: serde_json::Value::Null,
        }
    }

    /// Checks field sizes (`invalid_input` otherwise) and returns the serialized detail.
    pub(crate) fn validated_detail(&self) -> Result<String> {
        let short = |field: &'static str, value: Option<&str>| match value {
            Some(v) if v.len() > 256 => Err(StoreError::InvalidInput {
                field,
                reason: "longer than 256 bytes",
            }),
            _ => Ok(()),
        };
        if self.kind.is_empty() {
            return Err(StoreError::InvalidInput {
                field: "kind",
                reason: "must not be empty",
            });
        }
        short("kind", Some(&self.kind))?;
        short("cid", self.cid.as_deref())?;
        short("drm", self.drm.as_deref())?;
        short("result", Some(&self.result))?;
        short("request_id", self.request_id.as_deref())?;
        let detail = serde_json::to_string(&self.detail).map_err(StoreError::backend)?;
        if detail.len() > MAX_DETAIL_LEN {
            return Err(StoreError::InvalidInput {
                field: "detail",
                reason: "larger than 16 KiB",
            });
        }
        Ok(detail)
    }
}

/// A stored audit event with its sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Increasing sequence number.
    pub id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Storage of audit events. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore)
/// and [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event; returns its sequence number.
    async fn record(&self, event: AuditEvent) -> Result<i64>;

    /// Appends several events at once (one transaction where the backend has
    /// them), so a busy gateway does not pay one write per licence. The default
    /// records them one by one.
    async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<()> {
        for e in events {
            self.record(e).await?;
        }
        Ok(())
    }

    /// The newest events first, of one site or of all (`None`), at most `limit` (capped
    /// at [`MAX_RECENT`]).
    async fn recent(&self, site_id: Option<&SiteId>, limit: u32) -> Result<Vec<AuditRecord>>;
}
