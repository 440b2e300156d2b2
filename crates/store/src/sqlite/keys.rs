//! The `content_keys` table: content keys per (site, cid, track type), each
//! wrapped under the KEK and bound to its site and kid.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, SqliteStore};
use crate::codec::{period_column, wrap_content_key, KeyRow};
use crate::error::{Result, StoreError};
use crate::keys::{validate_cid, ContentKeyRecord, KeyInfo, KeyStore, Kid, NewContentKey};
use crate::sites::SiteId;
use crate::unix_now;

/// The columns a write sets (`pinned` is set apart: 0 by default).
const KEY_COLUMNS: &str =
    "site_id, kid, cid, track_type, key_wrapped, iv, label, created_at, period";
/// The columns a read returns.
const READ_COLUMNS: &str =
    "site_id, kid, cid, track_type, key_wrapped, iv, label, created_at, period, pinned";

/// A row's columns; `with_key` when `key_wrapped` was selected.
fn key_row(row: &SqliteRow, with_key: bool) -> Result<KeyRow> {
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
        pinned: row.try_get::<i64, _>("pinned").map_err(backend)? != 0,
    })
}

impl SqliteStore {
    /// Validates `new`, wraps its key and runs one `{verb} INTO content_keys …
    /// RETURNING` (`pinned` marks a packager-chosen kid; `on_conflict` is the
    /// statement's conflict clause, empty or `ON CONFLICT DO NOTHING`). The stored
    /// record, or `None` when the conflict clause skipped the insert. A clash the
    /// statement does not absorb is `key_conflict`; an unknown site `site_not_found`.
    async fn insert_key(
        &self,
        new: &NewContentKey,
        verb: &str,
        pinned: bool,
        on_conflict: &str,
    ) -> Result<Option<ContentKeyRecord>> {
        new.validate()?;
        let wrapped = wrap_content_key(&self.kek, &new.site_id, &new.kid, &new.key)?;
        let sql = format!(
            "{verb} INTO content_keys ({KEY_COLUMNS}, pinned) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) {on_conflict} \
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
            .bind(i64::from(pinned))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::KeyConflict,
                Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
                _ => backend(e),
            })?;
        row.map(|r| key_row(&r, true)?.decode(&self.kek))
            .transpose()
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn put_key(&self, new: NewContentKey, replace: bool) -> Result<ContentKeyRecord> {
        // One statement, so it is atomic. OR REPLACE deletes every row that clashes on
        // either unique constraint ((site, kid) or the coordinates of keys keyward
        // chose) first.
        let verb = if replace {
            "INSERT OR REPLACE"
        } else {
            "INSERT"
        };
        self.insert_key(&new, verb, false, "")
            .await?
            .ok_or_else(|| StoreError::backend("an INSERT returned no row"))
    }

    async fn ensure_key(&self, new: NewContentKey) -> Result<(ContentKeyRecord, bool)> {
        // One INSERT that does nothing on any clash, then (if it did nothing) one
        // read of the coordinates: SQLite serialises writers, so every concurrent
        // caller reads the row the first one inserted.
        if let Some(made) = self
            .insert_key(&new, "INSERT", false, "ON CONFLICT DO NOTHING")
            .await?
        {
            return Ok((made, true));
        }
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM content_keys WHERE site_id = ?1 AND cid = ?2 \
             AND track_type = ?3 AND ifnull(period, -1) = ?4 AND pinned = 0"
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
            .insert_key(&new, "INSERT", true, "ON CONFLICT DO NOTHING")
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
            "SELECT {READ_COLUMNS} FROM content_keys WHERE site_id = ?1 AND cid = ?2 \
             ORDER BY track_type, ifnull(period, -1), kid"
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
            format!("SELECT {READ_COLUMNS} FROM content_keys WHERE site_id = ?1 AND kid = ?2");
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
             FROM content_keys WHERE site_id = ?1 AND (?2 IS NULL OR cid = ?2) \
             ORDER BY cid, track_type, ifnull(period, -1), kid",
        )
        .bind(site_id.as_str())
        .bind(cid)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| key_row(r, false)?.info()).collect()
    }

    async fn delete_key(&self, site_id: &SiteId, kid: &Kid) -> Result<()> {
        let done = sqlx::query("DELETE FROM content_keys WHERE site_id = ?1 AND kid = ?2")
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
