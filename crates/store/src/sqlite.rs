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
use crate::hotwrite::HotWriter;
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
    (
        3,
        "customers",
        include_str!("../migrations/0003_customers.sql"),
    ),
    (4, "clients", include_str!("../migrations/0004_clients.sql")),
    (
        5,
        "redemptions without the expiry index",
        include_str!("../migrations/0005_redemptions_no_expiry_index.sql"),
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
    /// Single-use checks and audit events: one thread, one connection, group
    /// commits (see [`crate::hotwrite`]).
    hot: HotWriter,
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
            .foreign_keys(true)
            // After a checkpoint resets the write-ahead log, shrink it back to this.
            .pragma("journal_size_limit", "67108864");
        // No ping before every acquire: a dead connection surfaces as an error on
        // the query itself, and the ping doubled the round trips of each write.
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;

        Migrator::new(EmbeddedMigrations)
            .await
            .map_err(StoreError::backend)?
            .run(&pool)
            .await
            .map_err(StoreError::backend)?;

        let hot = HotWriter::start(&path, BUSY_TIMEOUT)?;
        let store = SqliteStore {
            pool,
            kek,
            path,
            hot,
        };
        store.check_kek().await?;
        Ok(store)
    }

    /// The database file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until every single-use decision made so far is on disk (they are
    /// written within a few milliseconds anyway; see the replay module).
    pub async fn sync(&self) -> Result<()> {
        self.hot.sync().await
    }

    /// Finishes the queued writes, then closes the writer thread and the
    /// connection pool (waiting for connections in use to be returned).
    pub async fn close(&self) {
        self.hot.close().await;
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
        let key = ContentKey::from_slice(&self.kek.unwrap(
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
        issued_at_unix: i64,
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption> {
        validate_redeem(namespace, token_id)?;
        if max_uses == 0 {
            return Ok(Redemption::refused(0));
        }
        self.hot
            .redeem(
                namespace,
                token_id,
                issued_at_unix,
                expires_at_unix,
                max_uses,
            )
            .await
    }

    async fn claim_replay(&self) -> Result<()> {
        self.hot.claim().await
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<u64> {
        self.hot.purge(now_unix).await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record(&self, event: AuditEvent) -> Result<i64> {
        let detail = event.validated_detail()?;
        let ids = self.hot.audit(vec![(event, detail)]).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::backend("audit insert returned no id"))
    }

    async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<()> {
        // Validated here, written by the writer thread in its next transaction
        // (with the single-use checks waiting at the same time).
        let mut batch = Vec::with_capacity(events.len());
        for e in events {
            let detail = e.validated_detail()?;
            batch.push((e, detail));
        }
        self.hot.audit(batch).await.map(drop)
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

// --- ExpressPlay-style customers -------------------------------------------

const CUSTOMER_COLUMNS: &str = "customer_id, settings, tokens_issued, created_at";

fn customer_from_row(row: &SqliteRow) -> Result<crate::customers::Customer> {
    let settings: String = row.try_get("settings").map_err(backend)?;
    let issued: i64 = row.try_get("tokens_issued").map_err(backend)?;
    Ok(crate::customers::Customer {
        customer_id: row.try_get("customer_id").map_err(backend)?,
        settings: serde_json::from_str(&settings).map_err(StoreError::backend)?,
        tokens_issued: u64::try_from(issued).unwrap_or(0),
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl crate::customers::CustomerStore for SqliteStore {
    async fn create_customer(
        &self,
        new: crate::customers::NewCustomer,
    ) -> Result<crate::customers::Customer> {
        crate::customers::validate_customer_id(&new.customer_id)?;
        new.settings.validate()?;
        let sql = format!(
            "INSERT INTO customers (customer_id, test_hash, production_hash, settings, tokens_issued, created_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5) RETURNING {CUSTOMER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&new.customer_id)
            .bind(&new.test_hash[..])
            .bind(&new.production_hash[..])
            .bind(serde_json::to_string(&new.settings).map_err(StoreError::backend)?)
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
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_id = ?1");
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
             WHERE test_hash = ?1 OR production_hash = ?1"
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
            "UPDATE customers SET settings = ?2 WHERE customer_id = ?1 RETURNING {CUSTOMER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(customer_id)
            .bind(serde_json::to_string(&settings).map_err(StoreError::backend)?)
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
                "UPDATE customers SET test_hash = ?2 WHERE customer_id = ?1"
            }
            crate::customers::AuthEnv::Production => {
                "UPDATE customers SET production_hash = ?2 WHERE customer_id = ?1"
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
        // One statement: the quota check and the count are atomic.
        let done = sqlx::query(
            "UPDATE customers SET tokens_issued = tokens_issued + 1 WHERE customer_id = ?1 \
             AND (json_extract(settings, '$.token_quota') IS NULL \
                  OR tokens_issued < json_extract(settings, '$.token_quota'))",
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
        let done = sqlx::query("DELETE FROM customers WHERE customer_id = ?1")
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

// --- Studio token clients ---------------------------------------------------

impl SqliteStore {
    async fn client_from_row(&self, row: &SqliteRow) -> Result<crate::clients::Client> {
        let name: String = row.try_get("name").map_err(backend)?;
        let site_id: String = row.try_get("site_id").map_err(backend)?;
        let settings: String = row.try_get("settings").map_err(backend)?;
        let keys = sqlx::query(
            "SELECT id, label, created_at FROM client_api_keys WHERE client = ?1 \
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
            "SELECT seq, secret_wrapped FROM client_secrets WHERE client = ?1 ORDER BY seq DESC",
        )
        .bind(&name)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut secrets = Vec::with_capacity(secret_rows.len());
        for r in &secret_rows {
            let seq: i64 = r.try_get("seq").map_err(backend)?;
            let wrapped: Vec<u8> = r.try_get("secret_wrapped").map_err(backend)?;
            let plain = self
                .kek
                .unwrap(&WrapContext::ClientSecret { client: &name, seq }, &wrapped)?;
            secrets.push(SiteSecret::from_bytes(&plain)?);
        }
        Ok(crate::clients::Client {
            site_id: SiteId::parse(&site_id)
                .map_err(|_| StoreError::backend("stored site_id is invalid"))?,
            settings: serde_json::from_str(&settings).map_err(StoreError::backend)?,
            api_keys,
            secrets,
            created_at: row.try_get("created_at").map_err(backend)?,
            name,
        })
    }

    async fn insert_client_secret(
        &self,
        tx: &mut sqlx::SqliteConnection,
        name: &str,
        secret: &SiteSecret,
    ) -> Result<()> {
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM client_secrets WHERE client = ?1",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let wrapped = self.kek.wrap(
            &WrapContext::ClientSecret { client: name, seq },
            secret.expose(),
        )?;
        sqlx::query(
            "INSERT INTO client_secrets (client, seq, secret_wrapped, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(name)
        .bind(seq)
        .bind(wrapped)
        .bind(unix_now())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM client_secrets WHERE client = ?1 AND seq <= ?2 - ?3")
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
impl crate::clients::ClientStore for SqliteStore {
    async fn create_client(
        &self,
        new: crate::clients::NewClient,
    ) -> Result<crate::clients::Client> {
        crate::clients::validate_client_name(&new.name)?;
        crate::clients::validate_label(&new.api_key.0)?;
        new.settings.validate()?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO clients (name, site_id, settings, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&new.name)
        .bind(new.site_id.as_str())
        .bind(serde_json::to_string(&new.settings).map_err(StoreError::backend)?)
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
             VALUES (?1, ?2, ?3, ?4, ?5)",
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
            sqlx::query("SELECT name, site_id, settings, created_at FROM clients WHERE name = ?1")
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
        let done = sqlx::query("UPDATE clients SET settings = ?2 WHERE name = ?1")
            .bind(name)
            .bind(serde_json::to_string(&settings).map_err(StoreError::backend)?)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ClientNotFound);
        }
        self.client(name).await
    }

    async fn delete_client(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM clients WHERE name = ?1")
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
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM client_api_keys WHERE client = ?1")
                .bind(name)
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        if count as usize >= crate::clients::MAX_API_KEYS {
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
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&hash[..])
        .bind(name)
        .bind(&info.id)
        .bind(&info.label)
        .bind(info.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match db_error_kind(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::ClientExists,
            Some(ErrorKind::ForeignKeyViolation) => StoreError::ClientNotFound,
            _ => backend(e),
        })?;
        Ok(info)
    }

    async fn remove_api_key(&self, name: &str, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM client_api_keys WHERE client = ?1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        let done = sqlx::query("DELETE FROM client_api_keys WHERE client = ?1 AND id = ?2")
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
             JOIN clients c ON c.name = k.client WHERE k.key_hash = ?1",
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
        self.client(name).await?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        self.insert_client_secret(&mut tx, name, &secret).await?;
        tx.commit().await.map_err(backend)?;
        self.client(name).await
    }

    async fn license_stats(
        &self,
        q: &crate::clients::StatsQuery,
    ) -> Result<Vec<crate::clients::StatsRow>> {
        let (path, value) = match &q.client_data {
            Some((k, v)) => {
                crate::clients::validate_stats_key(k)?;
                (Some(format!("$.client_data.\"{k}\"")), Some(v.clone()))
            }
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT strftime('%Y-%m-%d', at_unix_ms / 1000, 'unixepoch') AS day, \
                    COALESCE(drm, '') AS drm, result, COUNT(*) AS n \
             FROM audit \
             WHERE kind = 'license' AND json_extract(detail, '$.client') = ?1 \
               AND (?2 IS NULL OR at_unix_ms >= ?2) AND (?3 IS NULL OR at_unix_ms < ?3) \
               AND (?4 IS NULL OR ( \
                    (json_type(detail, ?4) = 'text' AND json_extract(detail, ?4) = ?5) OR \
                    (json_type(detail, ?4) IN ('integer', 'real') \
                        AND CAST(json_extract(detail, ?4) AS TEXT) = ?5) OR \
                    (json_type(detail, ?4) = 'true' AND ?5 = 'true') OR \
                    (json_type(detail, ?4) = 'false' AND ?5 = 'false'))) \
             GROUP BY day, drm, result ORDER BY day, drm, result",
        )
        .bind(&q.client)
        .bind(q.since_ms)
        .bind(q.until_ms)
        .bind(path)
        .bind(value)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n").map_err(backend)?;
                Ok(crate::clients::StatsRow {
                    day: r.try_get("day").map_err(backend)?,
                    drm: r.try_get("drm").map_err(backend)?,
                    result: r.try_get("result").map_err(backend)?,
                    count: u64::try_from(n).unwrap_or(0),
                })
            })
            .collect()
    }
}
