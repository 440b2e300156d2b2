//! The embedded SQLite store: one file, WAL mode, every secret wrapped under the KEK.
//!
//! Queries are built at run time (`sqlx::query`), so building needs no database.
//! Migrations are SQL files embedded with `include_str!` and applied by sqlx's migrator
//! (table `_sqlx_migrations`, checksummed, so an edited migration is refused).
//!
//! A KEK check value (a constant wrapped under the KEK) is written when the database is
//! created and unwrapped at every open, so a wrong KEK fails at startup with
//! `kek_mismatch` instead of producing garbage keys later.
//!
//! One file per table family: `sites`, `keys`, `clients`, `customers`,
//! `fairplay` (FairPlay Streaming credentials), `upstreams` (licence
//! upstreams per site and DRM), `audit`
//! (the audit trail and the statistics read from it), `replay` (single use and
//! stream slots); the `writer` thread persists single-use decisions and audit
//! events. How each value becomes a column, and how secrets are wrapped for their
//! row, is the backend-neutral `codec` module.

mod audit;
mod clients;
mod customers;
mod fairplay;
mod keys;
mod packagers;
mod replay;
mod sites;
mod upstreams;
mod writer;

use std::borrow::Cow;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::{BoxDynError, ErrorKind};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection as _;

use crate::codec::{kek_check_value, verify_kek_check, KEK_CHECK_NAME};
use crate::error::{Result, StoreError};
use crate::kek::{create_private_dir, Kek};
use crate::lifecycle::Lifecycle;
use crate::streams::StreamTable;
use writer::Writer;
/// The `meta` row a process holding the replay claim writes (see `writer`).
pub(crate) use writer::MARKER as REPLAY_MARKER;

/// File name used when [`SqliteStore::open`] is given a directory.
pub const DB_FILE_NAME: &str = "keyward.db";

/// How long a connection waits for another writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool. SQLite serializes writers anyway; a few readers help.
const MAX_CONNECTIONS: u32 = 4;

/// The embedded migrations: (version, description, SQL). Append only; never edit.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "callback settings",
        include_str!("../../migrations/0002_callback_settings.sql"),
    ),
    (
        3,
        "customers",
        include_str!("../../migrations/0003_customers.sql"),
    ),
    (
        4,
        "clients",
        include_str!("../../migrations/0004_clients.sql"),
    ),
    (
        5,
        "redemptions without the expiry index",
        include_str!("../../migrations/0005_redemptions_no_expiry_index.sql"),
    ),
    (
        6,
        "fairplay credentials",
        include_str!("../../migrations/0006_fairplay_credentials.sql"),
    ),
    (
        7,
        "upstreams",
        include_str!("../../migrations/0007_upstreams.sql"),
    ),
    (
        8,
        "key periods, packager credentials and key seeds",
        include_str!("../../migrations/0008_packaging.sql"),
    ),
    (
        9,
        "audit search",
        include_str!("../../migrations/0009_audit_search.sql"),
    ),
    (
        10,
        "audit by request id",
        include_str!("../../migrations/0010_audit_request_id.sql"),
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

/// The SQLite implementation of every store trait.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    kek: Kek,
    path: PathBuf,
    /// Single-use checks and audit events: one thread, one connection, group
    /// commits (see [`writer`]).
    writer: Writer,
    /// Concurrent-stream slots, in process memory (see [`crate::streams`]).
    streams: StreamTable,
}

impl SqliteStore {
    /// Opens (creating on first start) the database at `path_or_dir` under `kek`.
    ///
    /// `path_or_dir` is a directory when it is an existing directory or has no
    /// extension (the file is then `DB_FILE_NAME` inside it); otherwise it is the
    /// database file. Missing directories are created (0700 on unix) and a new file is
    /// created 0600. Runs pending migrations, then checks the KEK (`kek_mismatch` if
    /// the database was created under another one).
    pub async fn open(path_or_dir: impl AsRef<Path>, kek: Kek) -> Result<SqliteStore> {
        let path = database_file(path_or_dir.as_ref());
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

        let writer = Writer::start(&path, BUSY_TIMEOUT)?;
        let store = SqliteStore {
            pool,
            kek,
            path,
            writer,
            streams: StreamTable::default(),
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
        self.writer.sync().await
    }

    /// Finishes the queued writes, then closes the writer thread and the
    /// connection pool (waiting for connections in use to be returned).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    async fn check_kek(&self) -> Result<()> {
        let wrapped = kek_check_value(&self.kek)?;
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
        verify_kek_check(&self.kek, &stored)
    }
}

#[async_trait]
impl Lifecycle for SqliteStore {
    /// One `SELECT 1` through the pool, and the writer thread still running.
    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if self.writer.is_running() {
            Ok(())
        } else {
            Err(StoreError::backend("the store's writer thread has stopped"))
        }
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}

/// The database file `path_or_dir` names, as [`SqliteStore::open`] reads it:
/// `DB_FILE_NAME` inside it when it is an existing directory or has no
/// extension, else the path itself.
pub fn database_file(path_or_dir: &Path) -> PathBuf {
    if path_or_dir.is_dir() || path_or_dir.extension().is_none() {
        path_or_dir.join(DB_FILE_NAME)
    } else {
        path_or_dir.to_path_buf()
    }
}

/// The schema version this build's migrations bring a database to.
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// The schema version of the database at `path_or_dir` (the highest migration
/// applied), read without writing anything: `None` when there is no database
/// file or no migration was ever applied to it.
pub async fn schema_version(path_or_dir: impl AsRef<Path>) -> Result<Option<i64>> {
    let path = database_file(path_or_dir.as_ref());
    if !path.is_file() {
        return Ok(None);
    }
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(backend)?;
    let version = applied_version(&mut conn).await;
    let _ = conn.close().await;
    version
}

/// The highest migration applied on `conn` (`None`: none, or no migrations table).
pub(crate) async fn applied_version(conn: &mut sqlx::SqliteConnection) -> Result<Option<i64>> {
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    if !has_table {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)
}

/// Applies the pending migrations to the database at `path_or_dir` (created,
/// with its directory, when missing, as [`SqliteStore::open`] would) without
/// opening a store: no KEK is needed and none is checked or written (the first
/// open does that).
pub async fn migrate(path_or_dir: impl AsRef<Path>) -> Result<()> {
    let path = database_file(path_or_dir.as_ref());
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    create_private_file(&path)?;
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(backend)?;
    let outcome = match Migrator::new(EmbeddedMigrations).await {
        Ok(migrator) => migrator.run(&mut conn).await.map_err(StoreError::backend),
        Err(e) => Err(StoreError::backend(e)),
    };
    let _ = conn.close().await;
    outcome
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
