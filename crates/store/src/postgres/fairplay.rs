//! The `fairplay_credentials` table: FairPlay Streaming credentials per site,
//! the private key and the ASk each wrapped under the KEK and bound to the
//! site, the cert hash and which secret it is.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, lock_site, PostgresStore};
use crate::codec::{wrap_fairplay_secrets, FairPlayRow};
use crate::error::{Result, StoreError};
use crate::fairplay::{
    too_many_credentials, FairPlayCredential, FairPlayCredentialInfo, FairPlayStore,
    NewFairPlayCredential, CERT_HASH_LEN, MAX_FAIRPLAY_CREDENTIALS,
};
use crate::sites::SiteId;
use crate::unix_now;

/// Newest first: by time, then by insertion order within one second.
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, seq DESC";

/// A row's columns; `with_secrets` when the wrapped columns were selected.
fn fairplay_row(row: &PgRow, with_secrets: bool) -> Result<FairPlayRow> {
    let wrapped = |column: &str| -> Result<Option<Vec<u8>>> {
        if with_secrets {
            Ok(Some(row.try_get(column).map_err(backend)?))
        } else {
            Ok(None)
        }
    };
    Ok(FairPlayRow {
        site_id: row.try_get("site_id").map_err(backend)?,
        cert_hash: row.try_get("cert_hash").map_err(backend)?,
        cert_der: row.try_get("cert_der").map_err(backend)?,
        key_wrapped: wrapped("key_wrapped")?,
        ask_wrapped: wrapped("ask_wrapped")?,
        label: row.try_get("label").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

impl PostgresStore {
    /// A site's rows, newest first, with or without the wrapped columns.
    async fn fairplay_rows(
        &self,
        site_id: &SiteId,
        with_secrets: bool,
    ) -> Result<Vec<FairPlayRow>> {
        let columns = if with_secrets {
            "site_id, cert_hash, cert_der, key_wrapped, ask_wrapped, label, created_at"
        } else {
            // The secret columns are not even selected.
            "site_id, cert_hash, cert_der, label, created_at"
        };
        let sql =
            format!("SELECT {columns} FROM fairplay_credentials WHERE site_id = $1 {NEWEST_FIRST}");
        let rows = sqlx::query(&sql)
            .bind(site_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        if rows.is_empty() {
            self.require_site(site_id).await?;
        }
        rows.iter()
            .map(|row| fairplay_row(row, with_secrets))
            .collect()
    }
}

#[async_trait]
impl FairPlayStore for PostgresStore {
    async fn add_fairplay_credential(
        &self,
        new: NewFairPlayCredential,
    ) -> Result<FairPlayCredentialInfo> {
        new.validate()?;
        let hash = new.cert_hash();
        let (key_wrapped, ask_wrapped) =
            wrap_fairplay_secrets(&self.kek, &new.site_id, &hash, &new.private_key, &new.ask)?;
        let created_at = unix_now();
        // The site's row locked first: concurrent adds (on any node) take
        // turns, so the limit and the sequence numbers hold. `exists` wins
        // over `full`, as in SQLite.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_site(&mut tx, &new.site_id).await?;
        let taken: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM fairplay_credentials WHERE site_id = $1 AND cert_hash = $2",
        )
        .bind(new.site_id.as_str())
        .bind(&hash[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::FairPlayCredentialExists);
        }
        let (count, seq): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(MAX(seq), 0) + 1 FROM fairplay_credentials \
             WHERE site_id = $1",
        )
        .bind(new.site_id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_FAIRPLAY_CREDENTIALS {
            return Err(too_many_credentials());
        }
        sqlx::query(
            "INSERT INTO fairplay_credentials \
             (site_id, cert_hash, cert_der, key_wrapped, ask_wrapped, label, created_at, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new.site_id.as_str())
        .bind(&hash[..])
        .bind(&new.cert_der)
        .bind(key_wrapped)
        .bind(ask_wrapped)
        .bind(new.label.as_deref())
        .bind(created_at)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_error_kind(&e) {
            // Both checked above under the site's lock; kept for safety.
            Some(ErrorKind::UniqueViolation) => StoreError::FairPlayCredentialExists,
            Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
            _ => backend(e),
        })?;
        tx.commit().await.map_err(backend)?;
        Ok(FairPlayCredentialInfo {
            site_id: new.site_id,
            cert_hash: hash,
            cert_der: new.cert_der,
            label: new.label,
            created_at,
        })
    }

    async fn fairplay_credentials(&self, site_id: &SiteId) -> Result<Vec<FairPlayCredential>> {
        self.fairplay_rows(site_id, true)
            .await?
            .into_iter()
            .map(|row| row.decode(&self.kek))
            .collect()
    }

    async fn fairplay_credential_infos(
        &self,
        site_id: &SiteId,
    ) -> Result<Vec<FairPlayCredentialInfo>> {
        self.fairplay_rows(site_id, false)
            .await?
            .into_iter()
            .map(FairPlayRow::info)
            .collect()
    }

    async fn remove_fairplay_credential(
        &self,
        site_id: &SiteId,
        cert_hash: &[u8; CERT_HASH_LEN],
    ) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM fairplay_credentials WHERE site_id = $1 AND cert_hash = $2")
                .bind(site_id.as_str())
                .bind(&cert_hash[..])
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            self.require_site(site_id).await?;
            return Err(StoreError::FairPlayCredentialNotFound);
        }
        Ok(())
    }
}
