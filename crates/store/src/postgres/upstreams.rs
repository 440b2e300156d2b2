//! The `upstreams` table: licence upstreams per site and DRM, in dense
//! positions, their secrets wrapped under the KEK as one value bound to the
//! site and the upstream's name.
//!
//! Adding and removing shift positions, so each runs in one transaction that
//! first locks the site's row: concurrent adds and removes, on any node, queue
//! behind each other (no stale count, no lost update), the positions stay
//! dense and the per-DRM limit holds.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, lock_site, PostgresStore};
use crate::codec::{json_column, wrap_upstream_secrets, UpstreamRow};
use crate::error::{Result, StoreError};
use crate::sites::{Drm, SiteId};
use crate::unix_now;
use crate::upstreams::{
    insert_position, too_many_upstreams, NewUpstream, Upstream, UpstreamInfo, UpstreamStore,
    MAX_UPSTREAMS_PER_DRM,
};

/// Every column but the wrapped secrets.
const INFO_COLUMNS: &str =
    "site_id, name, drm, position, kind, url, settings, secret_names, created_at";

/// A row's columns other than `secrets_wrapped`.
fn upstream_row(row: &PgRow) -> Result<UpstreamRow> {
    Ok(UpstreamRow {
        site_id: row.try_get("site_id").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        drm: row.try_get("drm").map_err(backend)?,
        position: row.try_get("position").map_err(backend)?,
        kind: row.try_get("kind").map_err(backend)?,
        url: row.try_get("url").map_err(backend)?,
        settings: row.try_get("settings").map_err(backend)?,
        secret_names: row.try_get("secret_names").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

/// A row selected with [`INFO_COLUMNS`] and `secrets_wrapped`, decoded.
fn upstream_from_row(store: &PostgresStore, row: &PgRow) -> Result<Upstream> {
    let wrapped: Option<Vec<u8>> = row.try_get("secrets_wrapped").map_err(backend)?;
    upstream_row(row)?.decode(&store.kek, wrapped.as_deref())
}

#[async_trait]
impl UpstreamStore for PostgresStore {
    async fn add_upstream(&self, new: NewUpstream) -> Result<UpstreamInfo> {
        new.validate()?;
        let settings = json_column(&new.settings)?;
        let secret_names = json_column(&new.secrets.keys().collect::<Vec<_>>())?;
        let secrets_wrapped =
            wrap_upstream_secrets(&self.kek, &new.site_id, &new.name, &new.secrets)?;
        let site = new.site_id.as_str();
        let drm = new.drm.as_str();
        let created_at = unix_now();

        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_site(&mut tx, &new.site_id).await?;
        let taken: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM upstreams WHERE site_id = $1 AND name = $2")
                .bind(site)
                .bind(&new.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::UpstreamExists);
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM upstreams WHERE site_id = $1 AND drm = $2")
                .bind(site)
                .bind(drm)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        let len = usize::try_from(count).map_err(backend_count)?;
        if len >= MAX_UPSTREAMS_PER_DRM {
            return Err(too_many_upstreams());
        }
        let position = insert_position(new.position, len);
        let position_column = i64::try_from(position).map_err(backend_count)?;
        sqlx::query(
            "UPDATE upstreams SET position = position + 1 \
             WHERE site_id = $1 AND drm = $2 AND position >= $3",
        )
        .bind(site)
        .bind(drm)
        .bind(position_column)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO upstreams (site_id, name, drm, position, kind, url, settings, \
             secret_names, secrets_wrapped, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(site)
        .bind(&new.name)
        .bind(drm)
        .bind(position_column)
        .bind(&new.kind)
        .bind(&new.url)
        .bind(settings)
        .bind(secret_names)
        .bind(secrets_wrapped)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_error_kind(&e) {
            // Both checked above under the site's lock; kept for safety.
            Some(ErrorKind::UniqueViolation) => StoreError::UpstreamExists,
            Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
            _ => backend(e),
        })?;
        tx.commit().await.map_err(backend)?;

        Ok(UpstreamInfo {
            site_id: new.site_id,
            drm: new.drm,
            secret_names: new.secrets.into_keys().collect(),
            name: new.name,
            kind: new.kind,
            url: new.url,
            settings: new.settings,
            position: u32::try_from(position).map_err(backend_count)?,
            created_at,
        })
    }

    async fn upstreams(&self, site_id: &SiteId, drm: Drm) -> Result<Vec<Upstream>> {
        let sql = format!(
            "SELECT {INFO_COLUMNS}, secrets_wrapped FROM upstreams \
             WHERE site_id = $1 AND drm = $2 ORDER BY position"
        );
        let rows = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(drm.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        if rows.is_empty() {
            self.require_site(site_id).await?;
        }
        rows.iter()
            .map(|row| upstream_from_row(self, row))
            .collect()
    }

    async fn upstream_infos(
        &self,
        site_id: &SiteId,
        drm: Option<Drm>,
    ) -> Result<Vec<UpstreamInfo>> {
        // The wrapped column is not even selected.
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM upstreams \
             WHERE site_id = $1 AND ($2::text IS NULL OR drm = $2)"
        );
        let rows = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(drm.map(Drm::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        if rows.is_empty() {
            self.require_site(site_id).await?;
        }
        let mut infos = rows
            .iter()
            .map(|row| upstream_row(row)?.info())
            .collect::<Result<Vec<_>>>()?;
        // By the DRM's order (not its name's), then position.
        infos.sort_by_key(|info| (info.drm, info.position));
        Ok(infos)
    }

    async fn upstream(&self, site_id: &SiteId, name: &str) -> Result<Upstream> {
        let sql = format!(
            "SELECT {INFO_COLUMNS}, secrets_wrapped FROM upstreams \
             WHERE site_id = $1 AND name = $2"
        );
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        match row {
            Some(row) => upstream_from_row(self, &row),
            None => {
                self.require_site(site_id).await?;
                Err(StoreError::UpstreamNotFound)
            }
        }
    }

    async fn remove_upstream(&self, site_id: &SiteId, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_site(&mut tx, site_id).await?;
        let removed = sqlx::query(
            "DELETE FROM upstreams WHERE site_id = $1 AND name = $2 RETURNING drm, position",
        )
        .bind(site_id.as_str())
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(removed) = removed else {
            return Err(StoreError::UpstreamNotFound);
        };
        let drm: String = removed.try_get("drm").map_err(backend)?;
        let position: i64 = removed.try_get("position").map_err(backend)?;
        sqlx::query(
            "UPDATE upstreams SET position = position - 1 \
             WHERE site_id = $1 AND drm = $2 AND position > $3",
        )
        .bind(site_id.as_str())
        .bind(drm)
        .bind(position)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }
}

/// A count or position that does not fit its type: the database holds
/// something keyward did not write.
fn backend_count(_: std::num::TryFromIntError) -> StoreError {
    StoreError::backend("upstream count or position out of range")
}
