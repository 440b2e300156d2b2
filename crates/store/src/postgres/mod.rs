//! The PostgreSQL store: every concern in one database that several keyward
//! nodes share, every secret wrapped under the KEK.
//!
//! Queries are built at run time (`sqlx::query`), so building needs no database.
//! The schema is one SQL file (`migrations/postgres/0001_initial.sql`, the SQLite
//! migrations 0001–0009 in one; later ones follow SQLite's one by one), embedded with `include_str!` and applied by
//! sqlx's migrator (table `_sqlx_migrations`, checksummed, append only). The
//! migrator holds a session advisory lock (`pg_advisory_lock`, keyed by the
//! database name) while it runs, so nodes that start together migrate one after
//! the other; it runs on a connection of its own, without the statement
//! timeout (a node may wait for another's migration), closed afterwards (so a
//! failed migration never leaves the lock held by a pooled connection).
//!
//! A KEK check value (a constant wrapped under the KEK, the same as SQLite's) is
//! written when the database is created and unwrapped at every open, so a wrong
//! KEK fails at startup with `kek_mismatch` instead of producing garbage keys later.
//!
//! One file per table family, like the SQLite backend: `sites`, `keys`,
//! `clients`, `customers`, `fairplay`, `upstreams`, `packagers`, `audit` (the
//! audit trail and the statistics read from it), `replay` (single use, decided
//! in the database, and stream slots); `queue` is the audit writer (a bounded
//! queue, multi-row inserts by a background task). How each value becomes a
//! column, and how secrets are wrapped for their row, is the backend-neutral
//! `codec` module, so both SQL backends store the same bytes.
//!
//! Writes that check before they write (limits, dense positions, sequence
//! numbers) lock their parent row first (`FOR NO KEY UPDATE`, which does not
//! block the foreign-key checks of other writers), so they are exact across
//! nodes under PostgreSQL's default isolation (read committed).

mod audit;
mod clients;
mod customers;
mod fairplay;
mod keys;
mod packagers;
mod queue;
mod replay;
mod sites;
mod upstreams;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::{BoxDynError, ErrorKind};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::codec::{kek_check_value, verify_kek_check, KEK_CHECK_NAME};
use crate::error::{Result, StoreError};
use crate::kek::Kek;
use crate::lifecycle::Lifecycle;
use crate::sites::SiteId;
use crate::streams::StreamTable;
use queue::AuditQueue;

/// The embedded migrations: (version, description, SQL). Append only; never edit.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "audit by request id",
        include_str!("../../migrations/postgres/0002_audit_request_id.sql"),
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

/// How to reach the database and how many connections to keep.
///
/// `Debug` shows the URL with its password replaced by `***`.
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database?sslmode=…`. TLS follows the
    /// URL's `sslmode` (`disable`, `prefer` (the default), `require`,
    /// `verify-ca`, `verify-full`; rustls with the Mozilla roots, or
    /// `sslrootcert`).
    pub url: String,
    /// Most connections in the pool.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a query waits for a free connection (or a new one) before it
    /// fails with `backend`.
    pub acquire_timeout: Duration,
    /// `statement_timeout` of the pool's connections (`None`: the server's).
    /// Migrations run without it.
    pub statement_timeout: Option<Duration>,
    /// Whether [`PostgresStore::open`] applies pending migrations (otherwise
    /// run [`migrate`] first, e.g. from a deploy step).
    pub migrate: bool,
}

/// Connections in the pool by default.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
/// Idle connections kept by default.
pub const DEFAULT_MIN_CONNECTIONS: u32 = 1;
/// How long a query waits for a connection by default.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The statement timeout by default.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

impl PostgresOptions {
    /// The options for `url` with the defaults: 16 connections at most, 1 kept
    /// idle, 5 s to get a connection, a 5 s statement timeout, migrations
    /// applied at open.
    pub fn from_url(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            min_connections: DEFAULT_MIN_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            migrate: true,
        }
    }

    /// The URL with its password (in the user part or a `password=` parameter)
    /// replaced by `***`, for messages and logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The connect options from the URL (`invalid_input` for a URL that does not
    /// parse; the message names no part of it).
    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions> {
        let invalid = || StoreError::InvalidInput {
            field: "postgres url",
            reason: "not a postgres:// URL that parses",
        };
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Err(invalid());
        }
        let options = PgConnectOptions::from_str(&self.url).map_err(|_| invalid())?;
        // sqlx logs every statement at debug level; keep them at trace, slow
        // ones stay warnings.
        Ok(options.log_statements(log::LevelFilter::Trace))
    }

    /// The passwords of the URL (as written and percent-decoded), to scrub from
    /// any message.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = url_password(&self.url) {
            out.push(p.to_owned());
            if let Ok(decoded) = percent_decode(p) {
                out.push(decoded);
            }
        }
        for (key, value) in query_pairs(&self.url) {
            if key == "password" {
                out.push(value.to_owned());
                if let Ok(decoded) = percent_decode(value) {
                    out.push(decoded);
                }
            }
        }
        out.retain(|s| !s.is_empty());
        // Longest first, so that a password containing another is scrubbed whole.
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        out.dedup();
        out
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("migrate", &self.migrate)
            .finish()
    }
}

/// Where the password of a URL's `user:password@` part is (byte range), if any.
fn url_password_range(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some(start + colon + 1..start + at)
}

/// The password of a URL's `user:password@` part, if any.
fn url_password(url: &str) -> Option<&str> {
    url_password_range(url).map(|r| &url[r])
}

/// The `key=value` pairs of a URL's query, undecoded.
fn query_pairs(url: &str) -> impl Iterator<Item = (&str, &str)> {
    let query = url.find('?').map_or("", |q| {
        &url[q + 1..url.find('#').unwrap_or(url.len()).max(q + 1)]
    });
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Percent-decoding of a URL component (`+` stays `+`).
fn percent_decode(s: &str) -> std::result::Result<String, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// `url` with the password of its user part and of a `password=` parameter
/// replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(range) = url_password_range(url).filter(|r| !r.is_empty()) {
        out.replace_range(range, "***");
    }
    let pairs: Vec<String> = query_pairs(&out)
        .filter(|(k, v)| *k == "password" && !v.is_empty())
        .map(|(_, v)| format!("password={v}"))
        .collect();
    for pair in pairs {
        out = out.replace(&pair, "password=***");
    }
    out
}

/// `text` with every secret replaced by `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// Maps an sqlx error to `backend`, keeping its text out of `Display`.
pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        // Serialization failures and deadlocks: the caller may retry; the code
        // is kept in the detail for logs.
        if matches!(db.code().as_deref(), Some("40001" | "40P01")) {
            return StoreError::backend(format!("transaction conflict, retry: {err}"));
        }
    }
    StoreError::backend(err)
}

/// The kind of a database error (unique or foreign-key violation, …).
pub(crate) fn db_error_kind(err: &sqlx::Error) -> Option<ErrorKind> {
    match err {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

/// Applies the pending migrations to the database at `options.url` and
/// returns, without opening a store: for a deploy step that migrates before
/// the nodes start (then open them with `migrate: false`). Safe while other
/// nodes migrate too (they take turns on an advisory lock).
pub async fn migrate(options: &PostgresOptions) -> Result<()> {
    let secrets = options.secrets();
    let connect = options.connect_options()?;
    run_migrations(&connect, &secrets).await
}

/// The schema version this build's migrations bring a database to.
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// The schema version of the database at `options.url` (the highest migration
/// applied), read without writing anything: `None` when no migration was ever
/// applied to it. Errors as [`migrate`]'s.
pub async fn schema_version(options: &PostgresOptions) -> Result<Option<i64>> {
    let secrets = options.secrets();
    let connect = options.connect_options()?;
    let mut conn = PgConnection::connect_with(&connect)
        .await
        .map_err(|e| StoreError::backend(scrub(&e.to_string(), &secrets)))?;
    let version = applied_version(&mut conn)
        .await
        .map_err(|e| StoreError::backend(scrub(&e.to_string(), &secrets)));
    let _ = conn.close().await;
    version
}

/// The highest migration applied on `conn` (`None`: none, or no migrations
/// table in the connection's schema).
pub(crate) async fn applied_version(
    conn: &mut PgConnection,
) -> std::result::Result<Option<i64>, sqlx::Error> {
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !has_table {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await
}

async fn run_migrations(connect: &PgConnectOptions, secrets: &[String]) -> Result<()> {
    let scrubbed = |e: &dyn fmt::Display| StoreError::backend(scrub(&e.to_string(), secrets));
    let migrator = Migrator::new(EmbeddedMigrations)
        .await
        .map_err(|e| scrubbed(&e))?;
    // A connection of its own: no statement timeout (the advisory lock may be
    // held by another node's migration for a while), and closed at the end so
    // that a failure cannot leave the lock with a pooled connection.
    let mut conn = PgConnection::connect_with(connect)
        .await
        .map_err(|e| scrubbed(&e))?;
    let outcome = migrator.run(&mut conn).await;
    let _ = conn.close().await;
    outcome.map_err(|e| scrubbed(&e))
}

/// The PostgreSQL implementation of every store trait.
pub struct PostgresStore {
    pool: PgPool,
    kek: Kek,
    /// The connect options without the statement timeout (for [`PostgresStore::migrate`]).
    connect: PgConnectOptions,
    /// The URL's passwords, scrubbed from the messages of [`PostgresStore::migrate`].
    secrets: Vec<String>,
    /// The audit writer (see [`queue`]).
    audit: AuditQueue,
    /// Concurrent-stream slots, in process memory (see [`crate::streams`]).
    streams: StreamTable,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("host", &self.connect.get_host())
            .field("port", &self.connect.get_port())
            .field("database", &self.connect.get_database())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database of `options.url`, applies pending migrations
    /// (when `options.migrate`), then checks the KEK (`kek_mismatch` if the
    /// database was created under another one) and starts the audit writer.
    ///
    /// Errors are `backend` (the detail for logs, never the URL's password) or
    /// `invalid_input` for a URL that does not parse. Needs a tokio runtime.
    pub async fn open(options: PostgresOptions, kek: Kek) -> Result<PostgresStore> {
        let secrets = options.secrets();
        let scrubbed = |e: sqlx::Error| StoreError::backend(scrub(&e.to_string(), &secrets));
        let connect = options.connect_options()?;
        if options.migrate {
            run_migrations(&connect, &secrets).await?;
        }
        let mut pooled = connect.clone();
        if let Some(timeout) = options.statement_timeout {
            pooled = pooled.options([(
                "statement_timeout",
                format!("{}", timeout.as_millis().max(1)),
            )]);
        }
        // No ping before every acquire (a round trip more per decision): a
        // connection that broke surfaces as an error of its query, and sqlx
        // tests each connection as it is returned, dropping broken ones.
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections.min(options.max_connections.max(1)))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(pooled)
            .await
            .map_err(scrubbed)?;
        let store = PostgresStore {
            audit: AuditQueue::start(pool.clone()),
            pool,
            kek,
            connect,
            secrets,
            streams: StreamTable::default(),
        };
        if let Err(e) = store.check_kek().await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// The connection pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations (on a connection of its own; see [`migrate`]).
    pub async fn migrate(&self) -> Result<()> {
        run_migrations(&self.connect, &self.secrets).await
    }

    /// Waits until every audit event queued so far is written (or, while the
    /// database is unreachable, until one attempt to write them has failed).
    pub async fn flush_audit(&self) -> Result<()> {
        self.audit.flush().await
    }

    /// Writes the queued audit events (giving up after a few failed attempts,
    /// with an error log naming how many were dropped), then closes the pool
    /// (waiting for connections in use to be returned). Idempotent.
    pub async fn close(&self) {
        self.audit.close().await;
        self.pool.close().await;
    }

    async fn check_kek(&self) -> Result<()> {
        let wrapped = kek_check_value(&self.kek)?;
        // ON CONFLICT DO NOTHING: nodes opening a new database together agree
        // on the first value written.
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(KEK_CHECK_NAME)
            .bind(wrapped)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(KEK_CHECK_NAME)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        verify_kek_check(&self.kek, &stored)
    }

    /// `site_not_found` unless the site exists.
    pub(crate) async fn require_site(&self, site_id: &SiteId) -> Result<()> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM sites WHERE site_id = $1")
            .bind(site_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        found.map(|_| ()).ok_or(StoreError::SiteNotFound)
    }
}

/// Locks the site's row for the rest of the transaction (`site_not_found`
/// when there is none): writers that check a site's children before they
/// write (counts, positions, sequence numbers) take turns on it, on any node.
/// `FOR NO KEY UPDATE` leaves the foreign-key checks of other inserts free.
pub(crate) async fn lock_site(conn: &mut PgConnection, site_id: &SiteId) -> Result<()> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM sites WHERE site_id = $1 FOR NO KEY UPDATE")
            .bind(site_id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    found.map(|_| ()).ok_or(StoreError::SiteNotFound)
}

#[async_trait]
impl Lifecycle for PostgresStore {
    /// One `SELECT 1` through the pool, and the audit writer still running.
    async fn health(&self) -> Result<()> {
        if self.pool.is_closed() {
            return Err(StoreError::backend("the store is closed"));
        }
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if self.audit.is_running() {
            Ok(())
        } else {
            Err(StoreError::backend("the store's audit writer has stopped"))
        }
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://kw:s3cr%40t@db:5432/keyward?sslmode=require"),
            "postgres://kw:***@db:5432/keyward?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://kw@db/k?password=hunter2&sslmode=disable"),
            "postgres://kw@db/k?password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://db/k"), "postgres://db/k");
        // An '@' in the password (unencoded) still hides all of it.
        assert_eq!(
            redact_url("postgres://kw:a@b@db/k"),
            "postgres://kw:***@db/k"
        );
        let o = PostgresOptions::from_url("postgres://kw:pw%21x@db/k?password=other");
        // Longest first, so a password that contains another is scrubbed whole.
        assert_eq!(o.secrets(), ["pw%21x", "other", "pw!x"]);
        let shown = format!("{o:?}");
        assert!(!shown.contains("pw") && !shown.contains("other"), "{shown}");
        assert_eq!(
            scrub("failed for pw!x at db", &o.secrets()),
            "failed for *** at db"
        );
    }

    #[test]
    fn defaults() {
        let o = PostgresOptions::from_url("postgres://db/k");
        assert_eq!(o.max_connections, 16);
        assert_eq!(o.min_connections, 1);
        assert_eq!(o.acquire_timeout, Duration::from_secs(5));
        assert_eq!(o.statement_timeout, Some(Duration::from_secs(5)));
        assert!(o.migrate);
        assert_eq!(
            o.connect_options().map(|_| ()).map_err(|e| e.code()),
            Ok(())
        );
        let bad = PostgresOptions::from_url("mysql://x:secret@db/k");
        let e = bad.connect_options().unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        assert!(!format!("{e} {e:?}").contains("secret"));
    }
}
