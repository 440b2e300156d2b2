//! The `sites` table: tenants, their wrapped secrets and their settings.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, PostgresStore};
use crate::codec::{wrap_site_secrets, SettingsColumns, SiteRow};
use crate::error::{Result, StoreError};
use crate::sites::{NewSite, Site, SiteId, SiteSecret, SiteSettings, SiteStore};
use crate::unix_now;

const SITE_COLUMNS: &str = "site_id, site_key_wrapped, access_key_wrapped, token_window_secs, \
     future_leeway_secs, allowed_drms, cors_origins, fairplay_cert, widevine_service_cert, \
     error_style, callback_url, disabled, created_at, callback_settings";

impl PostgresStore {
    /// A site from a row selected with [`SITE_COLUMNS`].
    fn site_from_row(&self, row: &PgRow) -> Result<Site> {
        SiteRow {
            site_id: row.try_get("site_id").map_err(backend)?,
            site_key_wrapped: row.try_get("site_key_wrapped").map_err(backend)?,
            access_key_wrapped: row.try_get("access_key_wrapped").map_err(backend)?,
            settings: SettingsColumns {
                token_window_secs: row.try_get("token_window_secs").map_err(backend)?,
                future_leeway_secs: row.try_get("future_leeway_secs").map_err(backend)?,
                allowed_drms: row.try_get("allowed_drms").map_err(backend)?,
                cors_origins: row.try_get("cors_origins").map_err(backend)?,
                fairplay_cert: row.try_get("fairplay_cert").map_err(backend)?,
                widevine_service_cert: row.try_get("widevine_service_cert").map_err(backend)?,
                error_style: row.try_get("error_style").map_err(backend)?,
                callback_url: row.try_get("callback_url").map_err(backend)?,
                disabled: row.try_get("disabled").map_err(backend)?,
                callback_settings: row.try_get("callback_settings").map_err(backend)?,
            },
            created_at: row.try_get("created_at").map_err(backend)?,
        }
        .decode(&self.kek)
    }
}

#[async_trait]
impl SiteStore for PostgresStore {
    async fn create_site(&self, new: NewSite) -> Result<Site> {
        new.settings.validate()?;
        let (site_key_wrapped, access_key_wrapped) =
            wrap_site_secrets(&self.kek, &new.site_id, &new.site_key, &new.access_key)?;
        let s = SettingsColumns::encode(&new.settings)?;
        let sql = format!(
            "INSERT INTO sites ({SITE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING {SITE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.site_id.as_str())
            .bind(site_key_wrapped)
            .bind(access_key_wrapped)
            .bind(s.token_window_secs)
            .bind(s.future_leeway_secs)
            .bind(s.allowed_drms)
            .bind(s.cors_origins)
            .bind(s.fairplay_cert)
            .bind(s.widevine_service_cert)
            .bind(s.error_style)
            .bind(s.callback_url)
            .bind(s.disabled)
            .bind(unix_now())
            .bind(s.callback_settings)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::SiteExists,
                _ => backend(e),
            })?;
        self.site_from_row(&row)
    }

    async fn site(&self, site_id: &SiteId) -> Result<Site> {
        let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE site_id = $1");
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::SiteNotFound)?;
        self.site_from_row(&row)
    }

    async fn sites(&self) -> Result<Vec<Site>> {
        let sql = format!("SELECT {SITE_COLUMNS} FROM sites ORDER BY site_id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|row| self.site_from_row(row)).collect()
    }

    async fn update_site(&self, site_id: &SiteId, settings: SiteSettings) -> Result<Site> {
        settings.validate()?;
        let s = SettingsColumns::encode(&settings)?;
        let sql = format!(
            "UPDATE sites SET token_window_secs = $2, future_leeway_secs = $3, \
             allowed_drms = $4, cors_origins = $5, fairplay_cert = $6, \
             widevine_service_cert = $7, error_style = $8, callback_url = $9, disabled = $10, \
             callback_settings = $11 \
             WHERE site_id = $1 RETURNING {SITE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(s.token_window_secs)
            .bind(s.future_leeway_secs)
            .bind(s.allowed_drms)
            .bind(s.cors_origins)
            .bind(s.fairplay_cert)
            .bind(s.widevine_service_cert)
            .bind(s.error_style)
            .bind(s.callback_url)
            .bind(s.disabled)
            .bind(s.callback_settings)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::SiteNotFound)?;
        self.site_from_row(&row)
    }

    async fn rotate_site_secrets(
        &self,
        site_id: &SiteId,
        site_key: SiteSecret,
        access_key: SiteSecret,
    ) -> Result<Site> {
        let (site_key_wrapped, access_key_wrapped) =
            wrap_site_secrets(&self.kek, site_id, &site_key, &access_key)?;
        let sql = format!(
            "UPDATE sites SET site_key_wrapped = $2, access_key_wrapped = $3 \
             WHERE site_id = $1 RETURNING {SITE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(site_key_wrapped)
            .bind(access_key_wrapped)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::SiteNotFound)?;
        self.site_from_row(&row)
    }

    async fn delete_site(&self, site_id: &SiteId) -> Result<()> {
        let done = sqlx::query("DELETE FROM sites WHERE site_id = $1")
            .bind(site_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::SiteNotFound);
        }
        Ok(())
    }
}
