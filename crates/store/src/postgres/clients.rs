//! The `clients`, `client_api_keys` and `client_secrets` tables: Studio token
//! clients, their API key hashes and their token secrets (wrapped, bound to the
//! client and the secret's sequence number).
//!
//! Writes that count or number a client's rows first lock the client's row
//! (`FOR NO KEY UPDATE`), so they take turns across nodes: the API key limit
//! holds and secret sequence numbers never collide.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, PostgresStore};
use crate::codec::{
    from_json_column, json_column, site_id_from_column, unwrap_client_secret, wrap_client_secret,
};
use crate::error::{Result, StoreError};
use crate::sites::SiteSecret;
use crate::unix_now;

/// Locks the client's row for the rest of the transaction; whether it exists.
async fn lock_client(conn: &mut sqlx::PgConnection, name: &str) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM clients WHERE name = $1 FOR NO KEY UPDATE")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    Ok(found.is_some())
}

impl PostgresStore {
    async fn client_from_row(&self, row: &PgRow) -> Result<crate::clients::Client> {
        let name: String = row.try_get("name").map_err(backend)?;
        let site_id: String = row.try_get("site_id").map_err(backend)?;
        let settings: String = row.try_get("settings").map_err(backend)?;
        let keys = sqlx::query(
            "SELECT id, label, created_at FROM client_api_keys WHERE client = $1 \
             ORDER BY created_at, id",
        )
        .bind(&name)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let api_keys = keys
            .iter()
            .map(|r| {
                Ok(crate::clients::ApiKeyInfo {
                    id: r.try_get("id").map_err(backend)?,
                    label: r.try_get("label").map_err(backend)?,
                    created_at: r.try_get("created_at").map_err(backend)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let secret_rows = sqlx::query(
            "SELECT seq, secret_wrapped FROM client_secrets WHERE client = $1 ORDER BY seq DESC",
        )
        .bind(&name)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut secrets = Vec::with_capacity(secret_rows.len());
        for r in &secret_rows {
            let seq: i64 = r.try_get("seq").map_err(backend)?;
            let wrapped: Vec<u8> = r.try_get("secret_wrapped").map_err(backend)?;
            secrets.push(unwrap_client_secret(&self.kek, &name, seq, &wrapped)?);
        }
        Ok(crate::clients::Client {
            site_id: site_id_from_column(&site_id)?,
            settings: from_json_column(&settings)?,
            api_keys,
            secrets,
            created_at: row.try_get("created_at").map_err(backend)?,
            name,
        })
    }

    /// Adds a token secret with the next sequence number, keeping the newest
    /// [`MAX_SECRETS`](crate::clients::MAX_SECRETS); the client's row must be
    /// locked (or inserted) by the transaction.
    async fn insert_client_secret(
        &self,
        tx: &mut sqlx::PgConnection,
        name: &str,
        secret: &SiteSecret,
    ) -> Result<()> {
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM client_secrets WHERE client = $1",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let wrapped = wrap_client_secret(&self.kek, name, seq, secret)?;
        sqlx::query(
            "INSERT INTO client_secrets (client, seq, secret_wrapped, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(seq)
        .bind(wrapped)
        .bind(unix_now())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM client_secrets WHERE client = $1 AND seq <= $2 - $3")
            .bind(name)
            .bind(seq)
            .bind(crate::clients::MAX_SECRETS as i64)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl crate::clients::ClientStore for PostgresStore {
    async fn create_client(
        &self,
        new: crate::clients::NewClient,
    ) -> Result<crate::clients::Client> {
        crate::clients::validate_client_name(&new.name)?;
        crate::clients::validate_label(&new.api_key.0)?;
        new.settings.validate()?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO clients (name, site_id, settings, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&new.name)
        .bind(new.site_id.as_str())
        .bind(json_column(&new.settings)?)
        .bind(unix_now())
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_error_kind(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::ClientExists,
            Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
            _ => backend(e),
        })?;
        sqlx::query(
            "INSERT INTO client_api_keys (key_hash, client, id, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&new.api_key.1[..])
        .bind(&new.name)
        .bind(crate::clients::api_key_id(&new.api_key.1))
        .bind(&new.api_key.0)
        .bind(unix_now())
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_error_kind(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::ClientExists,
            _ => backend(e),
        })?;
        self.insert_client_secret(&mut tx, &new.name, &new.secret)
            .await?;
        tx.commit().await.map_err(backend)?;
        self.client(&new.name).await
    }

    async fn client(&self, name: &str) -> Result<crate::clients::Client> {
        let row =
            sqlx::query("SELECT name, site_id, settings, created_at FROM clients WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .ok_or(StoreError::ClientNotFound)?;
        self.client_from_row(&row).await
    }

    async fn clients(&self) -> Result<Vec<crate::clients::Client>> {
        let rows =
            sqlx::query("SELECT name, site_id, settings, created_at FROM clients ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.client_from_row(r).await?);
        }
        Ok(out)
    }

    async fn update_client(
        &self,
        name: &str,
        settings: crate::clients::ClientSettings,
    ) -> Result<crate::clients::Client> {
        settings.validate()?;
        let done = sqlx::query("UPDATE clients SET settings = $2 WHERE name = $1")
            .bind(name)
            .bind(json_column(&settings)?)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ClientNotFound);
        }
        self.client(name).await
    }

    async fn delete_client(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM clients WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ClientNotFound);
        }
        Ok(())
    }

    async fn add_api_key(
        &self,
        name: &str,
        label: &str,
        hash: [u8; 32],
    ) -> Result<crate::clients::ApiKeyInfo> {
        crate::clients::validate_label(label)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !lock_client(&mut tx, name).await? {
            return Err(StoreError::ClientNotFound);
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM client_api_keys WHERE client = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= crate::clients::MAX_API_KEYS {
            return Err(StoreError::InvalidInput {
                field: "api_keys",
                reason: "at most 16 API keys per client",
            });
        }
        let info = crate::clients::ApiKeyInfo {
            id: crate::clients::api_key_id(&hash),
            label: label.to_owned(),
            created_at: unix_now(),
        };
        sqlx::query(
            "INSERT INTO client_api_keys (key_hash, client, id, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&hash[..])
        .bind(name)
        .bind(&info.id)
        .bind(&info.label)
        .bind(info.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_error_kind(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::ClientExists,
            Some(ErrorKind::ForeignKeyViolation) => StoreError::ClientNotFound,
            _ => backend(e),
        })?;
        tx.commit().await.map_err(backend)?;
        Ok(info)
    }

    async fn remove_api_key(&self, name: &str, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // No client: no key either (`api_key_not_found` below, as in SQLite).
        lock_client(&mut tx, name).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM client_api_keys WHERE client = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        let done = sqlx::query("DELETE FROM client_api_keys WHERE client = $1 AND id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ApiKeyNotFound);
        }
        if count <= 1 {
            return Err(StoreError::InvalidInput {
                field: "api_keys",
                reason: "the last API key cannot be removed; add another first",
            });
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn client_by_api_key(&self, hash: &[u8; 32]) -> Result<Option<crate::clients::Client>> {
        let row = sqlx::query(
            "SELECT c.name, c.site_id, c.settings, c.created_at FROM client_api_keys k \
             JOIN clients c ON c.name = k.client WHERE k.key_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(r) => Ok(Some(self.client_from_row(&r).await?)),
            None => Ok(None),
        }
    }

    async fn add_client_secret(
        &self,
        name: &str,
        secret: SiteSecret,
    ) -> Result<crate::clients::Client> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !lock_client(&mut tx, name).await? {
            return Err(StoreError::ClientNotFound);
        }
        self.insert_client_secret(&mut tx, name, &secret).await?;
        tx.commit().await.map_err(backend)?;
        self.client(name).await
    }
}
