//! The `audit` table: the audit trail (written by the [queue](super::queue) in
//! multi-row inserts) and the licence statistics read from it.

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row as _;

use super::{backend, PostgresStore};
use crate::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditStore, MAX_RECENT};
use crate::codec::{from_json_column, site_id_from_column};
use crate::error::{Result, StoreError};
use crate::sites::SiteId;
use crate::stats::{StatsQuery, StatsRow, StatsStore};

#[async_trait]
impl AuditStore for PostgresStore {
    async fn record(&self, event: AuditEvent) -> Result<i64> {
        let detail = event.validated_detail()?;
        self.audit.record((event, detail)).await
    }

    async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<()> {
        // Validated here (one bad event refuses the batch, as in SQLite),
        // written by the queue's task.
        let mut batch = Vec::with_capacity(events.len());
        for e in events {
            let detail = e.validated_detail()?;
            batch.push((e, detail));
        }
        self.audit.record_batch(batch).await
    }

    async fn recent(&self, site_id: Option<&SiteId>, limit: u32) -> Result<Vec<AuditRecord>> {
        let limit = i64::from(limit.min(MAX_RECENT));
        let rows = match site_id {
            Some(site) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM audit WHERE site_id = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(site.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM audit ORDER BY id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(backend)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn search(&self, q: &AuditQuery) -> Result<AuditPage> {
        q.validate()?;
        // The cursor's place in the order (records never change, so reading it
        // apart from the page is safe).
        let after = match q.before {
            None => None,
            Some(id) => {
                let at: Option<i64> =
                    sqlx::query_scalar("SELECT at_unix_ms FROM audit WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                Some((
                    at.ok_or(StoreError::InvalidInput {
                        field: "before",
                        reason: "no audit record has that id",
                    })?,
                    id,
                ))
            }
        };
        let (mut sql, mut binds) = filtered(q);
        if let Some((at, id)) = after {
            // A row comparison: the (…, at_unix_ms, id) indexes bound the range.
            binds.extend([Bind::Int(at), Bind::Int(id)]);
            let n = binds.len();
            sql.push_str(&format!(" AND (at_unix_ms, id) < (${}, ${n})", n - 1));
        }
        binds.push(Bind::Int(i64::from(q.limit) + 1));
        sql.push_str(&format!(
            " ORDER BY at_unix_ms DESC, id DESC LIMIT ${}",
            binds.len()
        ));
        fetch_page(&self.pool, &sql, binds, q.limit).await
    }

    async fn follow(&self, q: &AuditQuery, after_id: i64) -> Result<AuditPage> {
        q.validate()?;
        // By id: ids increase in commit order (see the queue), so nothing
        // committed later can appear below a page already read.
        let (mut sql, mut binds) = filtered(q);
        binds.push(Bind::Int(after_id));
        sql.push_str(&format!(" AND id > ${}", binds.len()));
        binds.push(Bind::Int(i64::from(q.limit) + 1));
        sql.push_str(&format!(" ORDER BY id ASC LIMIT ${}", binds.len()));
        fetch_page(&self.pool, &sql, binds, q.limit).await
    }
}

/// The `SELECT` with `q`'s filters (not its cursor) and their values: only
/// the filters given become conditions, so the planner can use the (site,
/// time), (user, time) and (time) indexes; values are bound, never spliced.
fn filtered(q: &AuditQuery) -> (String, Vec<Bind<'_>>) {
    let mut conds: Vec<(&str, Bind<'_>)> = Vec::new();
    if let Some(site) = &q.site {
        conds.push(("site_id =", Bind::Text(site.as_str())));
    }
    let texts = [
        ("user_id =", &q.user),
        ("cid =", &q.cid),
        ("result =", &q.code),
        ("kind =", &q.kind),
        ("request_id =", &q.request_id),
    ];
    for (cond, value) in texts {
        if let Some(v) = value {
            conds.push((cond, Bind::Text(v)));
        }
    }
    if let Some(since) = q.since_ms {
        conds.push(("at_unix_ms >=", Bind::Int(since)));
    }
    if let Some(until) = q.until_ms {
        conds.push(("at_unix_ms <", Bind::Int(until)));
    }
    let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE TRUE");
    let mut binds = Vec::with_capacity(conds.len() + 4);
    for (cond, value) in conds {
        binds.push(value);
        sql.push_str(&format!(" AND {cond} ${}", binds.len()));
    }
    (sql, binds)
}

/// Runs a page query that asked for `limit + 1` rows.
async fn fetch_page(
    pool: &PgPool,
    sql: &str,
    binds: Vec<Bind<'_>>,
    limit: u32,
) -> Result<AuditPage> {
    let mut query = sqlx::query(sql);
    for b in binds {
        query = match b {
            Bind::Text(t) => query.bind(t),
            Bind::Int(i) => query.bind(i),
        };
    }
    let rows = query.fetch_all(pool).await.map_err(backend)?;
    let records = rows
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(AuditPage::from_overfetch(records, limit))
}

/// The columns [`record_from_row`] reads.
const COLUMNS: &str =
    "id, at_unix_ms, site_id, kind, cid, drm, result, request_id, user_id, detail";

/// A value bound to a search's placeholder.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

fn record_from_row(row: &PgRow) -> Result<AuditRecord> {
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
            user: row.try_get("user_id").map_err(backend)?,
            detail: from_json_column(&detail)?,
        },
    })
}

/// Licences per UTC day, DRM and result. `detail` is JSON text, looked into as
/// `jsonb`: `client` must be that string; a `client_data` value compares by its
/// JSON text when it is a string, a number or a boolean (as in SQLite and the
/// memory store).
const STATS_SQL: &str = "\
    SELECT to_char(to_timestamp(floor(at_unix_ms / 1000.0)::float8) AT TIME ZONE 'UTC', \
                   'YYYY-MM-DD') COLLATE \"C\" AS day, \
           COALESCE(drm, '') AS drm, result, COUNT(*) AS n \
    FROM audit \
    WHERE kind = 'license' \
      AND ($2::bigint IS NULL OR at_unix_ms >= $2) AND ($3::bigint IS NULL OR at_unix_ms < $3) \
      AND jsonb_typeof(detail::jsonb -> 'client') = 'string' \
      AND detail::jsonb ->> 'client' = $1 \
      AND ($4::text IS NULL OR ( \
           jsonb_typeof(detail::jsonb -> 'client_data' -> $4) IN ('string', 'number', 'boolean') \
           AND detail::jsonb -> 'client_data' ->> $4 = $5)) \
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

#[async_trait]
impl StatsStore for PostgresStore {
    async fn license_stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>> {
        let (key, value) = match &q.client_data {
            Some((k, v)) => {
                crate::stats::validate_stats_key(k)?;
                (Some(k.as_str()), Some(v.as_str()))
            }
            None => (None, None),
        };
        let rows = sqlx::query(STATS_SQL)
            .bind(&q.client)
            .bind(q.since_ms)
            .bind(q.until_ms)
            .bind(key)
            .bind(value)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n").map_err(backend)?;
                Ok(StatsRow {
                    day: r.try_get("day").map_err(backend)?,
                    drm: r.try_get("drm").map_err(backend)?,
                    result: r.try_get("result").map_err(backend)?,
                    count: u64::try_from(n).unwrap_or(0),
                })
            })
            .collect()
    }
}
