//! The embedded SQLite store: one file, WAL mode, every secret wrapped under the KEK.
//!
//! Queries are built at run time (`sqlx::query`), so building needs no database.
//! Migrations are SQL files embedded with `include_str!` and applied by sqlx's migrator
//! (table `_sqlx_migrations`, checksummed, so an edited migration is refused).
//!
//! A KEK check value (a constant wrapped under the KEK) is written when the database is
//! created and unwrapped at every open, so a wrong KEK fails at startup with
//! `kek_mismatch` instead of producing garbage keys later.

use std::borrow::Cow;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::{BoxDynError, ErrorKind};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row as _;

use crate::audit::{AuditEvent, AuditRecord, AuditStore, MAX_RECENT};
use crate::error::{Result, StoreError};
use crate::kek::{create_private_dir, Kek, WrapContext};
use crate::keys::{
    validate_cid, ContentKey, ContentKeyRecord, KeyInfo, KeyStore, Kid, NewContentKey, TrackType,
};
use crate::replay::{validate_redeem, Redemption, ReplayStore};
use crate::sites::{Drm, NewSite, Site, SiteId, SiteSecret, SiteSettings, SiteStore};
use crate::unix_now;

/// File name used when [`SqliteStore::open`] is given a directory.
pub const DB_FILE_NAME: &str = "keyward.db";

/// How long a connection waits for another writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool. SQLite serializes writers anyway; a few readers help.
const MAX_CONNECTIONS: u32 = 4;
/// `redeem` purges expired replay entries at most this often.
const PURGE_INTERVAL_SECS: i64 = 60;

const KEK_CHECK_NAME: &str = "kek_check";
const KEK_CHECK_PLAINTEXT: &[u8] = b"keyward kek check v1";

/// The embedded migrations: (version, description, SQL). Append only; never edit.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "callback settings",
        include_str!("../migrations/0002_callback_settings.sql"),
    ),
];

#[derive(Debug)]
struct EmbeddedMigrations;

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<Vec<Migration>, BoxDynError>> + Send + 's>>
    {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Maps an sqlx error to `backend`, keeping its text out of `Display`.
fn backend(err: sqlx::Error) -> StoreError {
    StoreError::backend(err)
}

fn db_error_kind(err: &sqlx::Error) -> Option<ErrorKind> {
    match err {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

fn to_u32(value: i64, column: &'static str) -> Result<u32> {
    u32::try_from(value).map_err(|_| StoreError::backend(format!("{column} out of range")))
}

fn to_array16(bytes: &[u8], column: &'static str) -> Result<[u8; 16]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::backend(format!("{column} is not 16 bytes")))
}

/// The SQLite implementation of every store trait.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    kek: Kek,
    path: PathBuf,
    last_purge: AtomicI64,
}

const SITE_COLUMNS: &str = "site_id, site_key_wrapped, access_key_wrapped, token_window_secs, \
     future_leeway_secs, allowed_drms, cors_origins, fairplay_cert, widevine_service_cert, \
     error_style, callback_url, disabled, created_at, callback_settings";

const KEY_COLUMNS: &str = "site_id, kid, cid, track_type, key_wrapped, iv, label, created_at";

impl SqliteStore {
    /// Opens (creating on first start) the database at `path_or_dir` under `kek`.
    ///
    /// `path_or_dir` is a directory when it is an existing directory or has no
    /// extension (the file is then `DB_FILE_NAME` inside it); otherwise it is the
    /// database file. Missing directories are created (0700 on unix) and a new file is
    /// created 0600. Runs pending migrations, then checks the KEK (`kek_mismatch` if
    /// the database was created under another one).
    pub async fn open(path_or_dir: impl AsRef<Path>, kek: Kek) -> Result<SqliteStore> {
        let given = path_or_dir.as_ref();
        let path = if given.is_dir() || given.extension().is_none() {
            given.join(DB_FILE_NAME)
        } else {
            given.to_path_buf()
        };
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        create_private_file(&path)?;

        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(backend)?;

        Migrator::new(EmbeddedMigrations)
            .await
            .map_err(StoreError::backend)?
            .run(&pool)
            .await
            .map_err(StoreError::backend)?;

        let store = SqliteStore {
            pool,
            kek,
            path,
            last_purge: AtomicI64::new(0),
        };
        store.check_kek().await?;
        Ok(store)
    }

    /// The database file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connection pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn check_kek(&self) -> Result<()> {
        let wrapped = self.kek.wrap(&WrapContext::KekCheck, KEK_CHECK_PLAINTEXT)?;
        // INSERT OR IGNORE: two processes opening a new database agree on one value.
        sqlx::query("INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)")
            .bind(KEK_CHECK_NAME)
            .bind(wrapped)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE name = ?1")
            .bind(KEK_CHECK_NAME)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        match self.kek.unwrap(&WrapContext::KekCheck, &stored) {
            Ok(plain) if plain.as_slice() == KEK_CHECK_PLAINTEXT => Ok(()),
            _ => Err(StoreError::KekMismatch),
        }
    }

    fn wrap_site_secrets(
        &self,
        site_id: &SiteId,
        site_key: &SiteSecret,
        access_key: &SiteSecret,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let site_id = site_id.as_str();
        Ok((
            self.kek
                .wrap(&WrapContext::SiteKey { site_id }, site_key.expose())?,
            self.kek
                .wrap(&WrapContext::AccessKey { site_id }, access_key.expose())?,
        ))
    }

    fn site_from_row(&self, row: &SqliteRow) -> Result<Site> {
        let site_id: String = row.try_get("site_id").map_err(backend)?;
        let site_id = SiteId::parse(&site_id)
            .map_err(|_| StoreError::backend("stored site_id is invalid"))?;
        let id = site_id.as_str();
        let site_key_wrapped: Vec<u8> = row.try_get("site_key_wrapped").map_err(backend)?;
        let access_key_wrapped: Vec<u8> = row.try_get("access_key_wrapped").map_err(backend)?;
        let site_key = SiteSecret::from_bytes(
            &self
                .kek
                .unwrap(&WrapContext::SiteKey { site_id: id }, &site_key_wrapped)?,
        )?;
        let access_key = SiteSecret::from_bytes(
            &self
                .kek
                .unwrap(&WrapContext::AccessKey { site_id: id }, &access_key_wrapped)?,
        )?;

        let allowed_drms: String = row.try_get("allowed_drms").map_err(backend)?;
        let allowed_drms: Vec<Drm> =
            serde_json::from_str(&allowed_drms).map_err(StoreError::backend)?;
        let cors_origins: String = row.try_get("cors_origins").map_err(backend)?;
        let cors_origins: Vec<String> =
            serde_json::from_str(&cors_origins).map_err(StoreError::backend)?;
        let error_style: String = row.try_get("error_style").map_err(backend)?;
        let settings = SiteSettings {
            token_window_secs: to_u32(
                row.try_get("token_window_secs").map_err(backend)?,
                "token_window_secs",
            )?,
            future_leeway_secs: to_u32(
                row.try_get("future_leeway_secs").map_err(backend)?,
                "future_leeway_secs",
            )?,
            allowed_drms,
            cors_origins,
            fairplay_cert: row.try_get("fairplay_cert").map_err(backend)?,
            widevine_service_cert: row.try_get("widevine_service_cert").map_err(backend)?,
            error_style: crate::sites::ErrorStyle::from_str(&error_style)
                .map_err(|_| StoreError::backend("stored error_style is invalid"))?,
            callback_url: row.try_get("callback_url").map_err(backend)?,
            disabled: row.try_get("disabled").map_err(backend)?,
            callback: {
                let text: String = row.try_get("callback_settings").map_err(backend)?;
                serde_json::from_str(&text).map_err(StoreError::backend)?
            },
        };
        Ok(Site {
            site_id,
            site_key,
            access_key,
            settings,
            created_at: row.try_get("created_at").map_err(backend)?,
        })
    }

    fn key_info_from_row(row: &SqliteRow) -> Result<KeyInfo> {
        let site_id: String = row.try_get("site_id").map_err(backend)?;
        let kid: Vec<u8> = row.try_get("kid").map_err(backend)?;
        let track_type: String = row.try_get("track_type").map_err(backend)?;
        let iv: Option<Vec<u8>> = row.try_get("iv").map_err(backend)?;
        Ok(KeyInfo {
            site_id: SiteId::parse(&site_id)
                .map_err(|_| StoreError::backend("stored site_id is invalid"))?,
            cid: row.try_get("cid").map_err(backend)?,
            track_type: TrackType::from_str(&track_type)
                .map_err(|_| StoreError::backend("stored track_type is invalid"))?,
            kid: Kid(to_array16(&kid, "kid")?),
            iv: iv.map(hex::encode),
            label: row.try_get("label").map_err(backend)?,
            created_at: row.try_get("created_at").map_err(backend)?,
        })
    }

    fn key_from_row(&self, row: &SqliteRow) -> Result<ContentKeyRecord> {
        let info = Self::key_info_from_row(row)?;
        let wrapped: Vec<u8> = row.try_get("key_wrapped").map_err(backend)?;
        let key = ContentKey::from_bytes(&self.kek.unwrap(
            &WrapContext::ContentKey {
                site_id: info.site_id.as_str(),
                kid: info.kid.as_bytes(),
            },
            &wrapped,
        )?)?;
        let iv: Option<Vec<u8>> = row.try_get("iv").map_err(backend)?;
        Ok(ContentKeyRecord {
            site_id: info.site_id,
            cid: info.cid,
            track_type: info.track_type,
            kid: info.kid,
            key,
            iv: iv.map(|iv| to_array16(&iv, "iv")).transpose()?,
            label: info.label,
            created_at: info.created_at,
        })
    }
}

/// Creates an empty database file readable only by its owner (unix), if absent.
fn create_private_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io("creating the database file", e)),
    }
}

#[async_trait]
impl SiteStore for SqliteStore {
    async fn create_site(&self, new: NewSite) -> Result<Site> {
        new.settings.validate()?;
        let (site_key_wrapped, access_key_wrapped) =
            self.wrap_site_secrets(&new.site_id, &new.site_key, &new.access_key)?;
        let s = &new.settings;
        let sql = format!(
            "INSERT INTO sites ({SITE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             RETURNING {SITE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.site_id.as_str())
            .bind(site_key_wrapped)
            .bind(access_key_wrapped)
            .bind(i64::from(s.token_window_secs))
            .bind(i64::from(s.future_leeway_secs))
            .bind(serde_json::to_string(&s.allowed_drms).map_err(StoreError::backend)?)
            .bind(serde_json::to_string(&s.cors_origins).map_err(StoreError::backend)?)
            .bind(s.fairplay_cert.as_deref())
            .bind(s.widevine_service_cert.as_deref())
            .bind(s.error_style.as_str())
            .bind(s.callback_url.as_deref())
            .bind(s.disabled)
            .bind(unix_now())
            .bind(serde_json::to_string(&s.callback).map_err(StoreError::backend)?)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::SiteExists,
                _ => backend(e),
            })?;
        self.site_from_row(&row)
    }

    async fn site(&self, site_id: &SiteId) -> Result<Site> {
        let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?1");
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

    async fn update_site(&self, site_id: &SiteId, s: SiteSettings) -> Result<Site> {
        s.validate()?;
        let sql = format!(
            "UPDATE sites SET token_window_secs = ?2, future_leeway_secs = ?3, \
             allowed_drms = ?4, cors_origins = ?5, fairplay_cert = ?6, \
             widevine_service_cert = ?7, error_style = ?8, callback_url = ?9, disabled = ?10, \
             callback_settings = ?11 \
             WHERE site_id = ?1 RETURNING {SITE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(i64::from(s.token_window_secs))
            .bind(i64::from(s.future_leeway_secs))
            .bind(serde_json::to_string(&s.allowed_drms).map_err(StoreError::backend)?)
            .bind(serde_json::to_string(&s.cors_origins).map_err(StoreError::backend)?)
            .bind(s.fairplay_cert.as_deref())
            .bind(s.widevine_service_cert.as_deref())
            .bind(s.error_style.as_str())
            .bind(s.callback_url.as_deref())
            .bind(s.disabled)
            .bind(serde_json::to_string(&s.callback).map_err(StoreError::backend)?)
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
            self.wrap_site_secrets(site_id, &site_key, &access_key)?;
        let sql = format!(
            "UPDATE sites SET site_key_wrapped = ?2, access_key_wrapped = ?3 \
             WHERE site_id = ?1 RETURNING {SITE_COLUMNS}"
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
        let done = sqlx::query("DELETE FROM sites WHERE site_id = ?1")
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

#[async_trait]
impl KeyStore for SqliteStore {
    async fn put_key(&self, new: NewContentKey, replace: bool) -> Result<ContentKeyRecord> {
        new.validate()?;
        let wrapped = self.kek.wrap(
            &WrapContext::ContentKey {
                site_id: new.site_id.as_str(),
                kid: new.kid.as_bytes(),
            },
            new.key.expose(),
        )?;
        // One statement, so it is atomic. OR REPLACE deletes every row that clashes on
        // either unique constraint ((site, kid) or (site, cid, track_type)) first.
        let verb = if replace {
            "INSERT OR REPLACE"
        } else {
            "INSERT"
        };
        let sql = format!(
            "{verb} INTO content_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             RETURNING {KEY_COLUMNS}"
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
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match db_error_kind(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::KeyConflict,
                Some(ErrorKind::ForeignKeyViolation) => StoreError::SiteNotFound,
                _ => backend(e),
            })?;
        self.key_from_row(&row)
    }

    async fn keys_for_content(&self, site_id: &SiteId, cid: &str) -> Result<Vec<ContentKeyRecord>> {
        validate_cid(cid)?;
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM content_keys WHERE site_id = ?1 AND cid = ?2 \
             ORDER BY track_type, kid"
        );
        let rows = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(cid)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|row| self.key_from_row(row)).collect()
    }

    async fn key_by_kid(&self, site_id: &SiteId, kid: &Kid) -> Result<ContentKeyRecord> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM content_keys WHERE site_id = ?1 AND kid = ?2");
        let row = sqlx::query(&sql)
            .bind(site_id.as_str())
            .bind(&kid.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::KeyNotFound)?;
        self.key_from_row(&row)
    }

    async fn list_keys(&self, site_id: &SiteId, cid: Option<&str>) -> Result<Vec<KeyInfo>> {
        if let Some(cid) = cid {
            validate_cid(cid)?;
        }
        // The key column is not even selected.
        let rows = sqlx::query(
            "SELECT site_id, kid, cid, track_type, iv, label, created_at FROM content_keys \
             WHERE site_id = ?1 AND (?2 IS NULL OR cid = ?2) ORDER BY cid, track_type, kid",
        )
        .bind(site_id.as_str())
        .bind(cid)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(Self::key_info_from_row).collect()
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

#[async_trait]
impl ReplayStore for SqliteStore {
    async fn redeem(
        &self,
        namespace: &str,
        token_id: &[u8],
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        validate_redeem(namespace, token_id)?;
        let now = unix_now();
        let last = self.last_purge.load(Ordering::Relaxed);
        if now - last >= PURGE_INTERVAL_SECS
            && self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.purge_expired(now).await?;
        }
        if max_uses == 0 {
            return Ok(Redemption {
                use_count: 0,
                accepted: false,
            });
        }
        // The whole check-and-increment is one statement, hence atomic: SQLite runs it
        // under the database write lock. An expired entry counts as absent (restarts at 1).
        // When the WHERE of DO UPDATE is false nothing is written and no row returns.
        let accepted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO redemptions (namespace, token_id, use_count, expires_at) \
             VALUES (?1, ?2, 1, ?3) \
             ON CONFLICT (namespace, token_id) DO UPDATE SET \
               use_count = CASE WHEN redemptions.expires_at <= ?4 THEN 1 \
                                ELSE redemptions.use_count + 1 END, \
               expires_at = CASE WHEN redemptions.expires_at <= ?4 THEN excluded.expires_at \
                                 ELSE max(redemptions.expires_at, excluded.expires_at) END \
             WHERE redemptions.expires_at <= ?4 OR redemptions.use_count < ?5 \
             RETURNING use_count",
        )
        .bind(namespace)
        .bind(token_id)
        .bind(expires_at_unix)
        .bind(now)
        .bind(i64::from(max_uses))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some(count) = accepted {
            return Ok(Redemption {
                use_count: to_u32(count, "use_count")?,
                accepted: true,
            });
        }
        // Refused: report the count (informational only; the decision is already made).
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT use_count FROM redemptions WHERE namespace = ?1 AND token_id = ?2",
        )
        .bind(namespace)
        .bind(token_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(Redemption {
            use_count: to_u32(count.unwrap_or(0), "use_count")?,
            accepted: false,
        })
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM redemptions WHERE expires_at <= ?1")
            .bind(now_unix)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record(&self, event: AuditEvent) -> Result<i64> {
        let detail = event.validated_detail()?;
        sqlx::query_scalar(
            "INSERT INTO audit (at_unix_ms, site_id, kind, cid, drm, result, request_id, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .bind(event.at_unix_ms)
        .bind(event.site_id.as_ref().map(SiteId::as_str))
        .bind(&event.kind)
        .bind(event.cid.as_deref())
        .bind(event.drm.as_deref())
        .bind(&event.result)
        .bind(event.request_id.as_deref())
        .bind(detail)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
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
                        site_id: site_id
                            .map(|s| SiteId::parse(&s))
                            .transpose()
                            .map_err(|_| StoreError::backend("stored site_id is invalid"))?,
                        kind: row.try_get("kind").map_err(backend)?,
                        cid: row.try_get("cid").map_err(backend)?,
                        drm: row.try_get("drm").map_err(backend)?,
                        result: row.try_get("result").map_err(backend)?,
                        request_id: row.try_get("request_id").map_err(backend)?,
                        detail: serde_json::from_str(&detail).map_err(StoreError::backend)?,
                    },
                })
            })
            .collect()
    }
}
