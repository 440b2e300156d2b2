//! The `customers` table: ExpressPlay-style customers, their authenticator hashes,
//! settings and token counts.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{backend, db_error_kind, PostgresStore};
use crate::codec::{from_json_column, json_column};
use crate::error::{Result, StoreError};
use crate::unix_now;

const CUSTOMER_COLUMNS: &str = "customer_id, settings, tokens_issued, created_at";

fn customer_from_row(row: &PgRow) -> Result<crate::customers::Customer> {
    let settings: String = row.try_get("settings").map_err(backend)?;
    let issued: i64 = row.try_get("tokens_issued").map_err(backend)?;
    Ok(crate::customers::Customer {
        customer_id: row.try_get("customer_id").map_err(backend)?,
        settings: from_json_column(&settings)?,
        tokens_issued: u64::try_from(issued).unwrap_or(0),
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl crate::customers::CustomerStore for PostgresStore {
    async fn create_customer(
        &self,
        new: crate::customers::NewCustomer,
    ) -> Result<crate::customers::Customer> {
        crate::customers::validate_customer_id(&new.customer_id)?;
        new.settings.validate()?;
        let sql = format!(
            "INSERT INTO customers (customer_id, test_hash, production_hash, settings, tokens_issued, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING {CUSTOMER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&new.customer_id)
            .bind(&new.test_hash[..])
            .bind(&new.production_hash[..])
            .bind(json_column(&new.settings)?)
            .bind(unix_now())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::CustomerExists,
                _ => backend(e),
            })?;
        customer_from_row(&row)
    }

    async fn customer(&self, customer_id: &str) -> Result<crate::customers::Customer> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_id = $1");
        let row = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::CustomerNotFound)?;
        customer_from_row(&row)
    }

    async fn customers(&self) -> Result<Vec<crate::customers::Customer>> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY customer_id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(customer_from_row).collect()
    }

    async fn customer_by_authenticator(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(crate::customers::Customer, crate::customers::AuthEnv)>> {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, test_hash, production_hash FROM customers \
             WHERE test_hash = $1 OR production_hash = $1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let test: Vec<u8> = row.try_get("test_hash").map_err(backend)?;
        let prod: Vec<u8> = row.try_get("production_hash").map_err(backend)?;
        let env = if crate::customers::hashes_equal(&test, hash) {
            crate::customers::AuthEnv::Test
        } else if crate::customers::hashes_equal(&prod, hash) {
            crate::customers::AuthEnv::Production
        } else {
            return Ok(None);
        };
        Ok(Some((customer_from_row(&row)?, env)))
    }

    async fn update_customer(
        &self,
        customer_id: &str,
        settings: crate::customers::CustomerSettings,
    ) -> Result<crate::customers::Customer> {
        settings.validate()?;
        let sql = format!(
            "UPDATE customers SET settings = $2 WHERE customer_id = $1 RETURNING {CUSTOMER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(customer_id)
            .bind(json_column(&settings)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::CustomerNotFound)?;
        customer_from_row(&row)
    }

    async fn rotate_customer_authenticator(
        &self,
        customer_id: &str,
        env: crate::customers::AuthEnv,
        hash: [u8; 32],
    ) -> Result<()> {
        let sql = match env {
            crate::customers::AuthEnv::Test => {
                "UPDATE customers SET test_hash = $2 WHERE customer_id = $1"
            }
            crate::customers::AuthEnv::Production => {
                "UPDATE customers SET production_hash = $2 WHERE customer_id = $1"
            }
        };
        let done = sqlx::query(sql)
            .bind(customer_id)
            .bind(&hash[..])
            .execute(&self.pool)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::CustomerExists,
                _ => backend(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::CustomerNotFound);
        }
        Ok(())
    }

    async fn take_customer_token(&self, customer_id: &str) -> Result<bool> {
        // One statement: the quota check and the count are atomic (the row is
        // locked and the condition checked again on its latest version).
        let done = sqlx::query(
            "UPDATE customers SET tokens_issued = tokens_issued + 1 WHERE customer_id = $1 \
             AND ((settings::jsonb ->> 'token_quota') IS NULL \
                  OR tokens_issued < (settings::jsonb ->> 'token_quota')::numeric)",
        )
        .bind(customer_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        // Either used up or gone.
        self.customer(customer_id).await.map(|_| false)
    }

    async fn delete_customer(&self, customer_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM customers WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::CustomerNotFound);
        }
        Ok(())
    }
}
