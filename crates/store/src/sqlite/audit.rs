//! The `audit` table: the audit trail (written by the [writer](super::writer) in
//! its group commits) and the licence statistics read from it.

use async_trait::async_trait;
use sqlx::Row as _;

use super::{backend, SqliteStore};
use crate::audit::{AuditEvent, AuditRecord, AuditStore, MAX_RECENT};
use crate::codec::{from_json_column, site_id_from_column};
use crate::error::{Result, StoreError};
use crate::sites::SiteId;
use crate::stats::StatsStore;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record(&self, event: AuditEvent) -> Result<i64> {
        let detail = event.validated_detail()?;
        let ids = self.writer.audit(vec![(event, detail)]).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::backend("audit insert returned no id"))
    }

    async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<()> {
        // Validated here, written by the writer thread in its next transaction
        // (with the single-use checks waiting at the same time).
        let mut batch = Vec::with_capacity(events.len());
        for e in events {
            let detail = e.validated_detail()?;
            batch.push((e, detail));
        }
        self.writer.audit(batch).await.map(drop)
    }

    async fn recent(&self, site_id: Option<&SiteId>, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at_unix_ms, site_id, kind, cid, drm, result, request_id, detail \
             FROM audit WHERE (?1 IS NULL OR site_id = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(site_id.map(SiteId::as_str))
        .bind(i64::from(limit.min(MAX_RECENT)))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let site_id: Option<String> = row.try_get("site_id").map_err(backend)?;
                let detail: String = row.try_get("detail").map_err(backend)?;
                Ok(AuditRecord {
                    id: row.try_get("id").map_err(backend)?,
                    event: AuditEvent {
                        at_unix_ms: row.try_get("at_unix_ms").map_err(backend)?,
                        site_id: site_id.as_deref().map(site_id_from_column).transpose()?,
                        kind: row.try_get("kind").map_err(backend)?,
                        cid: row.try_get("cid").map_err(backend)?,
                        drm: row.try_get("drm").map_err(backend)?,
                        result: row.try_get("result").map_err(backend)?,
                        request_id: row.try_get("request_id").map_err(backend)?,
                        detail: from_json_column(&detail)?,
                    },
                })
            })
            .collect()
    }
}

#[async_trait]
impl StatsStore for SqliteStore {
    async fn license_stats(
        &self,
        q: &crate::stats::StatsQuery,
    ) -> Result<Vec<crate::stats::StatsRow>> {
        let (path, value) = match &q.client_data {
            Some((k, v)) => {
                crate::stats::validate_stats_key(k)?;
                (Some(format!("$.client_data.\"{k}\"")), Some(v.clone()))
            }
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT strftime('%Y-%m-%d', at_unix_ms / 1000, 'unixepoch') AS day, \
                    COALESCE(drm, '') AS drm, result, COUNT(*) AS n \
             FROM audit \
             WHERE kind = 'license' AND json_extract(detail, '$.client') = ?1 \
               AND (?2 IS NULL OR at_unix_ms >= ?2) AND (?3 IS NULL OR at_unix_ms < ?3) \
               AND (?4 IS NULL OR ( \
                    (json_type(detail, ?4) = 'text' AND json_extract(detail, ?4) = ?5) OR \
                    (json_type(detail, ?4) IN ('integer', 'real') \
                        AND CAST(json_extract(detail, ?4) AS TEXT) = ?5) OR \
                    (json_type(detail, ?4) = 'true' AND ?5 = 'true') OR \
                    (json_type(detail, ?4) = 'false' AND ?5 = 'false'))) \
             GROUP BY day, drm, result ORDER BY day, drm, result",
        )
        .bind(&q.client)
        .bind(q.since_ms)
        .bind(q.until_ms)
        .bind(path)
        .bind(value)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n").map_err(backend)?;
                Ok(crate::stats::StatsRow {
                    day: r.try_get("day").map_err(backend)?,
                    drm: r.try_get("drm").map_err(backend)?,
                    result: r.try_get("result").map_err(backend)?,
                    count: u64::try_from(n).unwrap_or(0),
                })
            })
            .collect()
    }
}
