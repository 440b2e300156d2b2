//! The `content_keys` table: content keys per (site, cid, track type, period),
//! each wrapped under the KEK and bound to its site and kid.
//!
//! `ensure_key` and `ensure_pinned_key` are one `INSERT … ON CONFLICT DO
//! NOTHING`, then (when it inserted nothing) one read: an insert that runs into
//! a row another transaction is inserting waits for that transaction, so by
//! the time the read runs the winner's row is committed and visible, on every
//! node. Every caller gets the one stored key.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, PostgresStore};
use crate::codec::{period_column, wrap_content_key, KeyRow};
use crate::error::{Result, StoreError};
use crate::keys::{validate_cid, ContentKeyRecord, KeyInfo, KeyStore, Kid, NewContentKey};
use crate::sites::SiteId;
use crate::unix_now;

/// The columns a write sets.
const KEY_COLUMNS: &str =
    "site_id, kid, cid, track_type, key_wrapped, iv, label, created_at, period, pinned";
/// The columns a read returns.
const READ_COLUMNS: &str = KEY_COLUMNS;
/// How often `put_key` with `replace` starts over when a concurrent writer
/// took the coordinates between its delete and its insert.
const REPLACE_ATTEMPTS: usize = 3;

/// A row's columns; `with_key` when `key_wrapped` was selected.
fn key_row(row: &PgRow, with_key: bool) -> Result<KeyRow> {
    Ok(KeyRow {
        site_id: row.try_get("site_id").map_err(backend)?,
        kid: row.try_get("kid").map_err(backend)?,
        cid: row.try_get("cid").map_err(backend)?,
        track_type: row.try_get("track_type").map_err(backend)?,
        key_wrapped: if with_key {
            Some(row.try_get("key_wrapped").map_err(backend)?)
        } else {
            None
        },
        iv: row.try_get("iv").map_err(backend)?,
        label: row.try_get("label").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        period: row.try_get("period").map_err(backend)?,
        pinned: row.try_get("pinned").map_err(backend)?,
    })
}

/// An insert's error: a clash is `key_conflict`, an unknown site `site_not_found`.
fn insert_error(e: sqlx::Error) -> StoreError {
    match db_error_kind(&e) {
        Some(ErrorKind::UniqueViolation) => StoreError::KeyConflict,
        Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
        _ => backend(e),
    }
}

impl PostgresStore {
    /// The `INSERT` of `new` (validated, its key wrapped) with `on_conflict`
    /// (empty or `ON CONFLICT DO NOTHING`), on `conn`: the stored record, or
    /// `None` when the conflict clause skipped the insert.
    async fn insert_key<'c, E>(
        &self,
        conn: E,
        new: &NewContentKey,
        pinned: bool,
        on_conflict: &str,
    ) -> Result<Option<ContentKeyRecord>>
    where
        E: sqlx::Executor<'c, Database = sqlx::Postgres>,
    {
        new.validate()?;
        let wrapped = wrap_content_key(&self.kek, &new.site_id, &new.kid, &new.key)?;
        let sql = format!(
            "INSERT INTO content_keys ({KEY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) {on_conflict} \
             RETURNING {READ_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.site_id.as_str())
            .bind(&new.kid.as_bytes()[..])
            .bind(&new.cid)
            .bind(new.track_type.as_str())
            .bind(wrapped)
            .bind(new.iv.as_ref().map(|iv| &iv[..]))
            .bind(new.label.as_deref())
            .bind(unix_now())
            .bind(period_column(new.period))
            .bind(pinned)
            .fetch_optional(conn)
            .await
            .map_err(insert_error)?;
        row.map(|r| key_row(&r, true)?.decode(&self.kek))
            .transpose()
    }

    /// One attempt of `put_key` with `replace`: in one transaction, delete
    /// whatever clashes (the same kid, or a keyward-chosen key at the same
    /// coordinates, as SQLite's `INSERT OR REPLACE`), then insert.
    async fn replace_key(&self, new: &NewContentKey) -> Result<ContentKeyRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "DELETE FROM content_keys WHERE site_id = $1 AND (kid = $2 OR (NOT pinned \
             AND cid = $3 AND track_type = $4 AND coalesce(period, -1) = $5))",
        )
        .bind(new.site_id.as_str())
        .bind(&new.kid.as_bytes()[..])
        .bind(&new.cid)
        .bind(new.track_type.as_str())
        .bind(period_column(new.period).unwrap_or(-1))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let made = self
            .insert_key(&mut *tx, new, false, "")
            .await?
            .ok_or_else(|| StoreError::backend("an INSERT returned no row"))?;
        tx.commit().await.map_err(backend)?;
        Ok(made)
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn put_key(&self, new: NewContentKey, replace: bool) -> Result<ContentKeyRecord> {
        if !replace {
            return self
                .insert_key(&self.pool, &new, false, "")
                .await?
                .ok_or_else(|| StoreError::backend("an INSERT returned no row"));
        }
        // A concurrent writer may insert at the coordinates after this delete
        // (its row is not in the delete's snapshot): start over then.
        let mut attempt = 1;
        loop {
            match self.replace_key(&new).await {
                Err(StoreError::KeyConflict) if attempt < REPLACE_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn ensure_key(&self, new: NewContentKey) -> Result<(ContentKeyRecord, bool)> {
        if let Some(made) = self
            .insert_key(&self.pool, &new, false, "ON CONFLICT DO NOTHING")
            .await?
        {
            return Ok((made, true));
        }
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM content_keys WHERE site_id = $1 AND cid = $2 \
             AND track_type = $3 AND coalesce(period, -1) = $4 AND NOT pinned"
        );
        let row = sqlx::query(&sql)
            .bind(new.site_id.as_str())
            .bind(&new.cid)
            .bind(new.track_type.as_str())
            .bind(period_column(new.period).unwrap_or(-1))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            // Nothing at the coordinates: the insert clashed on the kid.
            .ok_or(StoreError::KeyConflict)?;
        Ok((key_row(&row, true)?.decode(&self.kek)?, false))
    }

    async fn ensure_pinned_key(&self, new: NewContentKey) -> Result<(ContentKeyRecord, bool)> {
        if let Some(made) = self
            .insert_key(&self.pool, &new, true, "ON CONFLICT DO NOTHING")
            .await?
        {
            return Ok((made, true));
        }
        let existing = self.key_by_kid(&new.site_id, &new.kid).await?;
        if existing.cid != new.cid {
            return Err(StoreError::KeyConflict);
        }
        Ok((existing, false))
    }

    async fn keys_for_content(&self, site_id: &SiteId, cid: &str) -> Result<Vec<ContentKeyRecord>> {
        validate_cid(cid)?;
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM content_keys WHERE site_id = $1 AND cid = $2 \
             ORDER BY track_type, coalesce(period, -1), kid"
        );
        let rows = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(cid)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| key_row(row, true)?.decode(&self.kek))
            .collect()
    }

    async fn key_by_kid(&self, site_id: &SiteId, kid: &Kid) -> Result<ContentKeyRecord> {
        let sql =
            format!("SELECT {READ_COLUMNS} FROM content_keys WHERE site_id = $1 AND kid = $2");
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(&kid.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::KeyNotFound)?;
        key_row(&row, true)?.decode(&self.kek)
    }

    async fn list_keys(&self, site_id: &SiteId, cid: Option<&str>) -> Result<Vec<KeyInfo>> {
        if let Some(cid) = cid {
            validate_cid(cid)?;
        }
        // The key column is not even selected.
        let rows = sqlx::query(
            "SELECT site_id, kid, cid, track_type, iv, label, created_at, period, pinned \
             FROM content_keys WHERE site_id = $1 AND ($2::text IS NULL OR cid = $2) \
             ORDER BY cid, track_type, coalesce(period, -1), kid",
        )
        .bind(site_id.as_str())
        .bind(cid)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| key_row(r, false)?.info()).collect()
    }

    async fn delete_key(&self, site_id: &SiteId, kid: &Kid) -> Result<()> {
        let done = sqlx::query("DELETE FROM content_keys WHERE site_id = $1 AND kid = $2")
            .bind(site_id.as_str())
            .bind(&kid.as_bytes()[..])
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::KeyNotFound);
        }
        Ok(())
    }
}
