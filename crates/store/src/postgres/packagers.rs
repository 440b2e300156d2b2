//! The `packagers` and `key_seeds` tables: packager credentials (secrets wrapped
//! under the KEK, bound to name, site and kind) and per-site key seeds.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, lock_site, PostgresStore};
use crate::codec::{unwrap_key_seed, wrap_key_seed, wrap_packager_secret, PackagerRow};
use crate::error::{Result, StoreError};
use crate::packagers::{
    validate_packager_name, KeySeed, NewPackager, Packager, PackagerInfo, PackagerStore,
    MAX_PACKAGERS_PER_SITE,
};
use crate::sites::SiteId;
use crate::unix_now;

const COLUMNS: &str = "name, site_id, kind, cid_prefix, secret_wrapped, created_at";
const INFO_COLUMNS: &str = "name, site_id, kind, cid_prefix, created_at";

fn packager_row(row: &PgRow, with_secret: bool) -> Result<PackagerRow> {
    Ok(PackagerRow {
        name: row.try_get("name").map_err(backend)?,
        site_id: row.try_get("site_id").map_err(backend)?,
        kind: row.try_get("kind").map_err(backend)?,
        cid_prefix: row.try_get("cid_prefix").map_err(backend)?,
        secret_wrapped: if with_secret {
            Some(row.try_get("secret_wrapped").map_err(backend)?)
        } else {
            None
        },
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl PackagerStore for PostgresStore {
    async fn add_packager(&self, new: NewPackager) -> Result<PackagerInfo> {
        new.validate()?;
        let wrapped = wrap_packager_secret(&self.kek, &new.name, &new.site_id, &new.secret)?;
        // The site's row locked first: concurrent adds (on any node) take
        // turns, so the per-site limit holds.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_site(&mut tx, &new.site_id).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM packagers WHERE site_id = $1")
            .bind(new.site_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_PACKAGERS_PER_SITE {
            return Err(StoreError::InvalidInput {
                field: "name",
                reason: "the site already has 64 packager credentials",
            });
        }
        let sql = format!(
            "INSERT INTO packagers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING {INFO_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&new.name)
            .bind(new.site_id.as_str())
            .bind(new.secret.kind().as_str())
            .bind(new.cid_prefix.as_deref())
            .bind(wrapped)
            .bind(unix_now())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::PackagerExists,
                Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
                _ => backend(e),
            })?;
        let info = packager_row(&row, false)?.info()?;
        tx.commit().await.map_err(backend)?;
        Ok(info)
    }

    async fn packager(&self, name: &str) -> Result<Packager> {
        validate_packager_name(name).map_err(|_| StoreError::PackagerNotFound)?;
        let sql = format!("SELECT {COLUMNS} FROM packagers WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::PackagerNotFound)?;
        packager_row(&row, true)?.decode(&self.kek)
    }

    async fn list_packagers(&self, site_id: Option<&SiteId>) -> Result<Vec<PackagerInfo>> {
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM packagers WHERE ($1::text IS NULL OR site_id = $1) ORDER BY name"
        );
        let rows = sqlx::query(&sql)
            .bind(site_id.map(SiteId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| packager_row(r, false)?.info())
            .collect()
    }

    async fn site_packagers(&self, site_id: &SiteId) -> Result<Vec<Packager>> {
        let sql = format!("SELECT {COLUMNS} FROM packagers WHERE site_id = $1 ORDER BY name");
        let rows = sqlx::query(&sql)
            .bind(site_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| packager_row(r, true)?.decode(&self.kek))
            .collect()
    }

    async fn remove_packager(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM packagers WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::PackagerNotFound);
        }
        Ok(())
    }

    async fn set_key_seed(&self, site_id: &SiteId, seed: Option<KeySeed>) -> Result<()> {
        self.require_site(site_id).await?;
        match seed {
            None => {
                sqlx::query("DELETE FROM key_seeds WHERE site_id = $1")
                    .bind(site_id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
            }
            Some(seed) => {
                let wrapped = wrap_key_seed(&self.kek, site_id, &seed)?;
                sqlx::query(
                    "INSERT INTO key_seeds (site_id, seed_wrapped, created_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (site_id) DO UPDATE SET \
                     seed_wrapped = EXCLUDED.seed_wrapped, created_at = EXCLUDED.created_at",
                )
                .bind(site_id.as_str())
                .bind(wrapped)
                .bind(unix_now())
                .execute(&self.pool)
                .await
                .map_err(|e| match db_error_kind(&e) {
                    Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
                    _ => backend(e),
                })?;
            }
        }
        Ok(())
    }

    async fn key_seed(&self, site_id: &SiteId) -> Result<Option<KeySeed>> {
        let wrapped: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT seed_wrapped FROM key_seeds WHERE site_id = $1")
                .bind(site_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        wrapped
            .map(|w| unwrap_key_seed(&self.kek, site_id, &w))
            .transpose()
    }
}
