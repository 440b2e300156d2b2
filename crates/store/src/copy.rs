//! Copying a SQLite store into PostgreSQL: the move from the embedded store to
//! a database that several keyward nodes share ([`copy_sqlite_to_postgres`]).
//!
//! Rows are copied as they are. Wrapped secrets stay wrapped: the associated
//! data that binds a wrapped value names its row (site id, kid, client and
//! sequence, …), never the backend, and both SQL backends store the same bytes
//! for the same value (see the `codec` module), so a value wrapped by the
//! SQLite store unwraps in the PostgreSQL store under the same KEK.
//!
//! # What is checked before anything is written
//! * The source is opened read-only and read in one read transaction: a
//!   consistent snapshot, and a `keyward serve` running on it is not disturbed
//!   (in WAL mode readers and the writer do not block each other; the log
//!   only grows past its checkpoint while the copy reads). Its schema version
//!   must be the latest this build knows.
//! * The KEK given must unwrap the source's KEK check value (the `meta` row
//!   every store checks at open): that row is copied as it is, so the
//!   PostgreSQL nodes started with the same KEK accept the copy.
//! * The target must be migrated to the latest PostgreSQL schema and every
//!   keyward table in it must be empty; there is no override.
//! * The tables and columns come from the target's schema (information
//!   schema); the source must have exactly the same tables and columns, of
//!   matching types (INTEGER for BIGINT, INTEGER or BOOLEAN; BLOB for BYTEA;
//!   TEXT for TEXT). A column is never dropped silently.
//!
//! # How it is written
//! One PostgreSQL transaction for the whole copy: the target's tables are
//! locked against writers (`EXCLUSIVE`, waiting at most
//! [`CopyOptions::lock_timeout`]), checked empty, then filled table by table
//! in foreign-key order (a table after the tables it references) with
//! multi-row `INSERT`s of [`CopyOptions::batch_rows`] rows. Serial columns
//! (the audit ids) keep their values, and their sequences are set past the
//! highest id the source ever gave out. Any failure, including a failed
//! verification, rolls the whole copy back: the target stays empty.
//!
//! # What is verified before the commit
//! Per table, the row count and a checksum computed the same way on both
//! sides: SHA-256 over the table and column names, then over every row in
//! primary-key order (bytewise for text), each value canonically encoded (a
//! type tag; integers and booleans as big-endian `i64`; bytes and text with
//! their length). The target's rows are read back inside the transaction.
//!
//! # What is not copied
//! * Expired single-use decisions (`redemptions` rows with `expires_at` at or
//!   before the start of the copy): an expired entry counts as absent in every
//!   store (the token it guards is refused by its own time anyway), so
//!   dropping it changes no answer. [`CopyReport::expired_redemptions_skipped`]
//!   says how many.
//! * The SQLite store's replay claim marker (`meta` row `replay_claimed`),
//!   which says that a `keyward serve` holds (or held, if it did not stop
//!   cleanly) the single-use lock of the SQLite file. It means nothing to
//!   PostgreSQL; its presence is reported as [`CopyReport::source_in_use`],
//!   since the single-use decisions such a process makes after the snapshot
//!   (or made in its last few milliseconds) are not in the copy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::TryStreamExt as _;
use sha2::{Digest as _, Sha256};
use sqlx::postgres::{PgConnection, PgRow, Postgres};
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Connection as _, QueryBuilder, Row as _};

use crate::codec::{verify_kek_check, KEK_CHECK_NAME};
use crate::error::StoreError;
use crate::kek::Kek;
use crate::postgres::{self, PostgresOptions};
use crate::sqlite::{self, REPLAY_MARKER};

/// Rows per multi-row `INSERT` by default.
pub const DEFAULT_BATCH_ROWS: usize = 1_000;
/// How long the copy waits by default for the target's table locks.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Bind parameters one PostgreSQL statement may carry.
const MAX_BIND_PARAMS: usize = 65_535;
/// How long the source waits for a lock (only a checkpoint's moment in WAL mode).
const SOURCE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The table of single-use decisions (only the live ones are copied).
const REDEMPTIONS: &str = "redemptions";
/// The table of store-wide values (the KEK check; the replay marker is not copied).
const META: &str = "meta";

/// What to copy where, under which KEK.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// The SQLite store: its data directory, or the database file (as
    /// [`SqliteStore::open`](crate::SqliteStore::open) takes it). Never created.
    pub source: PathBuf,
    /// The PostgreSQL database: migrated (see [`postgres::migrate`]) and empty.
    /// Only its URL is used; the copy runs on one connection of its own,
    /// without a statement timeout.
    pub target: PostgresOptions,
    /// The KEK the source was created with (and the PostgreSQL nodes will use).
    pub kek: Kek,
    /// Rows per multi-row `INSERT` (fewer for wide tables, so that one
    /// statement stays under PostgreSQL's 65,535 parameters).
    pub batch_rows: usize,
    /// How long to wait for the target's table locks before giving up
    /// ([`CopyError::TargetBusy`]).
    pub lock_timeout: Duration,
}

impl CopyOptions {
    /// The options for copying `source` into `target` under `kek`, with the
    /// default batch size and lock timeout.
    pub fn new(source: impl Into<PathBuf>, target: PostgresOptions, kek: Kek) -> CopyOptions {
        CopyOptions {
            source: source.into(),
            target,
            kek,
            batch_rows: DEFAULT_BATCH_ROWS,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

/// How far the copy of one table is, for a progress display. Reported when a
/// table starts (`done` 0) and after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The table being copied.
    pub table: &'a str,
    /// Rows of it written so far.
    pub done: u64,
    /// Rows of it to write (the live ones for `redemptions`).
    pub total: u64,
}

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table's name.
    pub table: String,
    /// Rows copied, counted again in the target and equal to the source's.
    pub rows: u64,
    /// Source rows deliberately not copied (expired redemptions, the replay
    /// claim marker in `meta`).
    pub skipped: u64,
    /// The checksum both sides agreed on (SHA-256, lowercase hex).
    pub checksum: String,
}

/// The outcome of a copy that committed: every table verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Per table, in the order they were copied.
    pub tables: Vec<TableReport>,
    /// The schema version of the source (SQLite migrations).
    pub source_schema_version: i64,
    /// The schema version of the target (PostgreSQL migrations).
    pub target_schema_version: i64,
    /// Expired single-use decisions not copied (they count as absent anyway).
    pub expired_redemptions_skipped: u64,
    /// The source's replay claim marker was present: a `keyward serve` was
    /// running on it (its decisions after the snapshot are not in the copy), or
    /// the last one did not stop cleanly.
    pub source_in_use: bool,
}

impl CopyReport {
    /// Rows copied, all tables together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Why a copy did not happen. Every variant but
/// [`CommitUnknown`](CopyError::CommitUnknown) leaves the target as it was.
/// Messages never carry the URL's password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// There is no database file where the source was looked for.
    #[error("no keyward store at {}: give the data directory `keyward serve` uses (or its keyward.db file); nothing was written", path.display())]
    SourceNotFound {
        /// The database file looked for.
        path: PathBuf,
    },
    /// The source's schema is not the version this build knows.
    #[error("{}", schema_message("the source store", *found, *expected, "sqlite:<data dir>"))]
    SourceSchema {
        /// The version found (`None`: not a keyward database).
        found: Option<i64>,
        /// The version this build knows.
        expected: i64,
    },
    /// The target's schema is not the version this build knows.
    #[error("{}", schema_message("the target database", *found, *expected, "<the same postgres:// URL>"))]
    TargetSchema {
        /// The version found (`None`: never migrated).
        found: Option<i64>,
        /// The version this build knows.
        expected: i64,
    },
    /// Some keyward table of the target already has rows.
    #[error("the target database is not empty ({tables}): copy into a database that was only migrated (`keyward migrate`), never used by a keyward node; nothing was written")]
    TargetNotEmpty {
        /// The tables with rows, as `name (N rows)`, comma separated.
        tables: String,
    },
    /// The target's tables could not be locked in time: something uses them.
    #[error("the target database's tables are in use (a keyward node or another copy running on it?): stop what uses them and run the copy again; nothing was written")]
    TargetBusy,
    /// The source has no KEK check value.
    #[error("the source store has no KEK check value (it was never opened by keyward): open it once (`keyward site list --data-dir <dir>`) and copy again; nothing was written")]
    NoKekCheck,
    /// The KEK given does not unwrap the source's KEK check value.
    #[error("the KEK given is not the one the source store was created with: give that KEK (--kek-file, KEYWARD_KEK, KEYWARD_KEK_FILE, or the data directory's `kek` file); nothing was written")]
    KekMismatch,
    /// The source's tables or columns differ from the target's schema.
    #[error("table {table}: {reason}: the source and the target schema differ (is the target migrated by the same keyward version as the source?); nothing was written")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// What differs.
        reason: String,
    },
    /// The target's rows differ from the source's after the copy.
    #[error("verification failed for table {table}: {reason}; the copy was rolled back, the target is as it was (please report this)")]
    VerifyFailed {
        /// The table.
        table: String,
        /// Counts or checksums that differ.
        reason: String,
    },
    /// Reading the source failed.
    #[error("source: {context}: {detail}; nothing was written")]
    Source {
        /// What was being done.
        context: &'static str,
        /// The driver's message.
        detail: String,
    },
    /// Talking to the target failed before the commit.
    #[error("target: {context}: {detail}; the copy was rolled back, the target is as it was")]
    Target {
        /// What was being done.
        context: &'static str,
        /// The driver's message, without the URL's password.
        detail: String,
    },
    /// The final commit failed: whether it took effect is unknown.
    #[error("target: the final commit failed ({detail}): whether it took effect is unknown; run the same `keyward store copy` again: if it says the target is not empty, the copy was committed (verified before the commit), else it was not and this run copies")]
    CommitUnknown {
        /// The driver's message, without the URL's password.
        detail: String,
    },
    /// The target URL or the options are invalid.
    #[error("{0}")]
    Invalid(StoreError),
}

impl CopyError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            CopyError::SourceNotFound { .. } => "source_not_found",
            CopyError::SourceSchema { .. } => "source_schema",
            CopyError::TargetSchema { .. } => "target_schema",
            CopyError::TargetNotEmpty { .. } => "target_not_empty",
            CopyError::TargetBusy => "target_busy",
            CopyError::NoKekCheck => "no_kek_check",
            CopyError::KekMismatch => "kek_mismatch",
            CopyError::SchemaMismatch { .. } => "schema_mismatch",
            CopyError::VerifyFailed { .. } => "verify_failed",
            CopyError::Source { .. } => "source",
            CopyError::Target { .. } => "target",
            CopyError::CommitUnknown { .. } => "commit_unknown",
            CopyError::Invalid(_) => "invalid_input",
        }
    }

    /// Whether the copy was refused by a check before anything was written
    /// (the caller's inputs, or the state of the source or target), as opposed
    /// to a failure along the way.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            CopyError::VerifyFailed { .. }
                | CopyError::Source { .. }
                | CopyError::Target { .. }
                | CopyError::CommitUnknown { .. }
        )
    }
}

fn schema_message(what: &str, found: Option<i64>, expected: i64, url: &str) -> String {
    match found {
        None => format!(
            "{what} has no keyward schema (no migration applied): run `keyward migrate --database-url {url}` first; nothing was written"
        ),
        Some(v) if v < expected => format!(
            "{what} is at schema version {v}, this keyward knows version {expected}: migrate it first with this keyward (`keyward migrate --database-url {url}`); nothing was written"
        ),
        Some(v) => format!(
            "{what} is at schema version {v}, newer than the version {expected} this keyward knows: use the keyward that wrote it; nothing was written"
        ),
    }
}

/// How a column's values are read, bound and checksummed (from the target's
/// `data_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int64,
    Int32,
    Int16,
    Bool,
    Bytes,
    Text,
}

impl Kind {
    fn from_pg(data_type: &str) -> Option<Kind> {
        Some(match data_type {
            "bigint" => Kind::Int64,
            "integer" => Kind::Int32,
            "smallint" => Kind::Int16,
            "boolean" => Kind::Bool,
            "bytea" => Kind::Bytes,
            "text" => Kind::Text,
            _ => return None,
        })
    }

    /// The declared SQLite type a column of this kind has.
    fn sqlite_type(self) -> &'static str {
        match self {
            Kind::Int64 | Kind::Int32 | Kind::Int16 | Kind::Bool => "INTEGER",
            Kind::Bytes => "BLOB",
            Kind::Text => "TEXT",
        }
    }
}

/// One column value, as copied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Null,
    /// Any integer kind (range checked against the column's when read).
    Int(i64),
    Bool(bool),
    Bytes(Vec<u8>),
    Text(String),
}

impl Value {
    /// The canonical encoding the checksums hash.
    fn hash_into(&self, hasher: &mut Sha256) {
        match self {
            Value::Null => hasher.update([0u8]),
            Value::Int(i) => {
                hasher.update([1u8]);
                hasher.update(i.to_be_bytes());
            }
            Value::Bool(b) => {
                hasher.update([1u8]);
                hasher.update(i64::from(*b).to_be_bytes());
            }
            Value::Bytes(b) => {
                hasher.update([2u8]);
                hasher.update(len_bytes(b.len()));
                hasher.update(b);
            }
            Value::Text(t) => {
                hasher.update([3u8]);
                hasher.update(len_bytes(t.len()));
                hasher.update(t.as_bytes());
            }
        }
    }
}

fn len_bytes(len: usize) -> [u8; 8] {
    u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes()
}

/// A column of the target's schema.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
    /// Filled from a sequence (`serial`, identity).
    serial: bool,
}

/// A table of the target's schema.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// Indexes into `columns`: the primary key, or every column without one.
    order_by: Vec<usize>,
}

/// Which source rows are copied.
#[derive(Debug, Clone, Copy)]
enum Filter {
    All,
    /// `redemptions` with `expires_at > now`.
    LiveAt(i64),
    /// `meta` without the replay claim marker.
    WithoutMarker,
}

impl Filter {
    fn of(table: &str, now: i64) -> Filter {
        match table {
            REDEMPTIONS => Filter::LiveAt(now),
            META => Filter::WithoutMarker,
            _ => Filter::All,
        }
    }

    /// The SQLite `WHERE` clause (empty for all rows); binds `?1`.
    fn clause(self) -> &'static str {
        match self {
            Filter::All => "",
            Filter::LiveAt(_) => " WHERE expires_at > ?1",
            Filter::WithoutMarker => " WHERE name <> ?1",
        }
    }

    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        match self {
            Filter::All => query,
            Filter::LiveAt(now) => query.bind(now),
            Filter::WithoutMarker => query.bind(REPLAY_MARKER),
        }
    }
}

/// `name` as a quoted SQL identifier (both dialects).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn source_err(context: &'static str) -> impl Fn(sqlx::Error) -> CopyError {
    move |e| CopyError::Source {
        context,
        detail: e.to_string(),
    }
}

/// Maps target errors, scrubbing the URL's passwords from the message.
#[derive(Clone)]
struct TargetErrors {
    secrets: Vec<String>,
}

impl TargetErrors {
    fn at(&self, context: &'static str) -> impl Fn(sqlx::Error) -> CopyError + '_ {
        move |e| CopyError::Target {
            context,
            detail: postgres::scrub(&e.to_string(), &self.secrets),
        }
    }
}

/// Copies every table of the SQLite store at `options.source` into the empty,
/// migrated PostgreSQL database at `options.target`, verifies each table, and
/// commits; see the [module docs](self) for what is checked, copied and
/// verified. `progress` is called when a table starts and after each batch.
///
/// Needs a tokio runtime. Nothing is written unless everything is copied and
/// verified (one transaction), except that a failed final commit leaves its
/// outcome unknown ([`CopyError::CommitUnknown`]).
pub async fn copy_sqlite_to_postgres(
    options: &CopyOptions,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<CopyReport, CopyError> {
    // The target's URL first: a typo fails before anything is opened.
    let connect = options
        .target
        .connect_options()
        .map_err(CopyError::Invalid)?;
    let errors = TargetErrors {
        secrets: options.target.secrets(),
    };
    let path = sqlite::database_file(&options.source);
    if !path.is_file() {
        return Err(CopyError::SourceNotFound { path });
    }
    let source_options = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .busy_timeout(SOURCE_BUSY_TIMEOUT);
    let mut source = SqliteConnection::connect_with(&source_options)
        .await
        .map_err(source_err("opening the database read-only"))?;
    let outcome = copy_from(&mut source, options, &connect, &errors, progress).await;
    let _ = source.close().await;
    outcome
}

/// The source checks, then the copy, inside one read transaction of the source.
async fn copy_from(
    source: &mut SqliteConnection,
    options: &CopyOptions,
    connect: &sqlx::postgres::PgConnectOptions,
    errors: &TargetErrors,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<CopyReport, CopyError> {
    // A deferred transaction: its first read fixes the snapshot every later
    // read sees (WAL mode), while the server goes on writing.
    let mut snapshot = source
        .begin()
        .await
        .map_err(source_err("starting a read transaction"))?;
    let expected = sqlite::latest_schema_version();
    let found = sqlite::applied_version(&mut snapshot)
        .await
        .map_err(|e| CopyError::Source {
            context: "reading the schema version",
            detail: e.detail().unwrap_or_default().to_owned(),
        })?;
    if found != Some(expected) {
        return Err(CopyError::SourceSchema { found, expected });
    }
    let check: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE name = ?1")
        .bind(KEK_CHECK_NAME)
        .fetch_optional(&mut *snapshot)
        .await
        .map_err(source_err("reading the KEK check value"))?;
    let check = check.ok_or(CopyError::NoKekCheck)?;
    verify_kek_check(&options.kek, &check).map_err(|_| CopyError::KekMismatch)?;
    let source_in_use: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM meta WHERE name = ?1)")
            .bind(REPLAY_MARKER)
            .fetch_one(&mut *snapshot)
            .await
            .map_err(source_err("reading the replay claim marker"))?;
    let source_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *snapshot)
    .await
    .map_err(source_err("listing the tables"))?
    .into_iter()
    .collect();

    let mut target = PgConnection::connect_with(connect)
        .await
        .map_err(errors.at("connecting"))?;
    let outcome = copy_into(
        &mut snapshot,
        &mut target,
        options,
        errors,
        &source_tables,
        source_in_use,
        progress,
    )
    .await;
    let _ = target.close().await;
    // The snapshot only read: ending it is all that is left.
    let _ = snapshot.rollback().await;
    outcome
}

/// The target checks, then the copy in one transaction of the target.
async fn copy_into(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    options: &CopyOptions,
    errors: &TargetErrors,
    source_tables: &BTreeSet<String>,
    source_in_use: bool,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<CopyReport, CopyError> {
    let expected = postgres::latest_schema_version();
    let found = postgres::applied_version(target)
        .await
        .map_err(errors.at("reading the schema version"))?;
    if found != Some(expected) {
        return Err(CopyError::TargetSchema { found, expected });
    }
    let tables = target_tables(target, errors).await?;
    check_source_schema(source, source_tables, &tables).await?;

    let now = crate::unix_now();
    let mut tx = target
        .begin()
        .await
        .map_err(errors.at("starting the transaction"))?;
    sqlx::query(&format!(
        "SET LOCAL lock_timeout = {}",
        options.lock_timeout.as_millis().max(1)
    ))
    .execute(&mut *tx)
    .await
    .map_err(errors.at("setting the lock timeout"))?;
    let names: Vec<String> = tables.iter().map(|t| ident(&t.name)).collect();
    if let Err(e) = sqlx::query(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        names.join(", ")
    ))
    .execute(&mut *tx)
    .await
    {
        let busy = matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03"));
        return Err(if busy {
            CopyError::TargetBusy
        } else {
            errors.at("locking the tables")(e)
        });
    }
    let mut not_empty = Vec::new();
    for table in &tables {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", ident(&table.name)))
            .fetch_one(&mut *tx)
            .await
            .map_err(errors.at("checking that the target is empty"))?;
        if rows > 0 {
            not_empty.push(format!("{} ({rows} rows)", table.name));
        }
    }
    if !not_empty.is_empty() {
        return Err(CopyError::TargetNotEmpty {
            tables: not_empty.join(", "),
        });
    }

    let mut report = CopyReport {
        tables: Vec::with_capacity(tables.len()),
        source_schema_version: sqlite::latest_schema_version(),
        target_schema_version: expected,
        expired_redemptions_skipped: 0,
        source_in_use,
    };
    for table in &tables {
        let filter = Filter::of(&table.name, now);
        let copied = copy_table(source, &mut tx, table, filter, options, errors, progress).await?;
        if table.name == REDEMPTIONS {
            report.expired_redemptions_skipped = copied.skipped;
        }
        report.tables.push(copied);
    }
    tx.commit().await.map_err(|e| CopyError::CommitUnknown {
        detail: postgres::scrub(&e.to_string(), &errors.secrets),
    })?;
    Ok(report)
}

/// The target's keyward tables (all but the migrations table) in foreign-key
/// order, with their columns and primary keys.
async fn target_tables(
    target: &mut PgConnection,
    errors: &TargetErrors,
) -> Result<Vec<Table>, CopyError> {
    let rows = sqlx::query(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                (coalesce(c.column_default LIKE 'nextval(%', false) OR c.is_identity::text = 'YES') \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&mut *target)
    .await
    .map_err(errors.at("reading the schema"))?;
    let mut columns: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for row in rows {
        let table: String = row.try_get(0).map_err(errors.at("reading the schema"))?;
        let name: String = row.try_get(1).map_err(errors.at("reading the schema"))?;
        let data_type: String = row.try_get(2).map_err(errors.at("reading the schema"))?;
        let serial: bool = row.try_get(3).map_err(errors.at("reading the schema"))?;
        let kind = Kind::from_pg(&data_type).ok_or_else(|| CopyError::SchemaMismatch {
            table: table.clone(),
            reason: format!("column {name} has type {data_type}, which the copy does not know"),
        })?;
        columns
            .entry(table)
            .or_default()
            .push(Column { name, kind, serial });
    }
    let keys = sqlx::query(
        "SELECT k.table_name::text, k.column_name::text \
         FROM information_schema.table_constraints c \
         JOIN information_schema.key_column_usage k \
           ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name \
          AND k.table_name = c.table_name \
         WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() \
         ORDER BY k.table_name, k.ordinal_position",
    )
    .fetch_all(&mut *target)
    .await
    .map_err(errors.at("reading the primary keys"))?;
    let mut primary: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in keys {
        let table: String = row.try_get(0).map_err(errors.at("reading the schema"))?;
        let column: String = row.try_get(1).map_err(errors.at("reading the schema"))?;
        primary.entry(table).or_default().push(column);
    }
    let references = sqlx::query(
        "SELECT src.relname::text, dst.relname::text \
         FROM pg_constraint k \
         JOIN pg_class src ON src.oid = k.conrelid \
         JOIN pg_class dst ON dst.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = src.relnamespace \
         WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *target)
    .await
    .map_err(errors.at("reading the foreign keys"))?;
    let mut depends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in references {
        let table: String = row.try_get(0).map_err(errors.at("reading the schema"))?;
        let referenced: String = row.try_get(1).map_err(errors.at("reading the schema"))?;
        if table != referenced && columns.contains_key(&referenced) {
            depends.entry(table).or_default().insert(referenced);
        }
    }
    let order = dependency_order(columns.keys().cloned().collect(), &depends)?;
    let mut tables = Vec::with_capacity(order.len());
    for name in order {
        let cols = columns.remove(&name).unwrap_or_default();
        let order_by = match primary.get(&name) {
            Some(key) => key
                .iter()
                .map(|k| {
                    cols.iter().position(|c| &c.name == k).ok_or_else(|| {
                        CopyError::SchemaMismatch {
                            table: name.clone(),
                            reason: format!("primary key column {k} is not a column"),
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => (0..cols.len()).collect(),
        };
        tables.push(Table {
            name,
            columns: cols,
            order_by,
        });
    }
    Ok(tables)
}

/// Tables after the tables they reference; among those ready, `meta` first,
/// the large append-mostly tables (`audit`, `redemptions`) last, else by name.
fn dependency_order(
    tables: BTreeSet<String>,
    depends: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<String>, CopyError> {
    let rank = |name: &str| match name {
        META => 0,
        "audit" | REDEMPTIONS => 2,
        _ => 1,
    };
    let mut left: BTreeSet<(u8, String)> = tables.iter().map(|t| (rank(t), t.clone())).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::with_capacity(tables.len());
    while !left.is_empty() {
        let next = left
            .iter()
            .find(|(_, t)| {
                depends
                    .get(t)
                    .is_none_or(|deps| deps.iter().all(|d| done.contains(d)))
            })
            .cloned();
        let Some(next) = next else {
            let stuck: Vec<&str> = left.iter().map(|(_, t)| t.as_str()).collect();
            return Err(CopyError::SchemaMismatch {
                table: stuck.join(", "),
                reason: "the foreign keys form a cycle, so no table can go first".into(),
            });
        };
        left.remove(&next);
        done.insert(next.1.clone());
        order.push(next.1);
    }
    Ok(order)
}

/// The source has exactly the target's tables, each with exactly its columns
/// of the matching declared types.
async fn check_source_schema(
    source: &mut SqliteConnection,
    source_tables: &BTreeSet<String>,
    tables: &[Table],
) -> Result<(), CopyError> {
    let target_names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    if let Some(extra) = source_tables
        .iter()
        .find(|t| !target_names.contains(t.as_str()))
    {
        return Err(CopyError::SchemaMismatch {
            table: extra.clone(),
            reason: "the source has this table, the target does not".into(),
        });
    }
    for table in tables {
        if !source_tables.contains(&table.name) {
            return Err(CopyError::SchemaMismatch {
                table: table.name.clone(),
                reason: "the target has this table, the source does not".into(),
            });
        }
        let rows = sqlx::query("SELECT name, type FROM pragma_table_info(?1)")
            .bind(&table.name)
            .fetch_all(&mut *source)
            .await
            .map_err(source_err("reading the columns"))?;
        let mut declared: BTreeMap<String, String> = BTreeMap::new();
        for row in rows {
            let name: String = row.try_get(0).map_err(source_err("reading the columns"))?;
            let ty: String = row.try_get(1).map_err(source_err("reading the columns"))?;
            declared.insert(name, ty.to_ascii_uppercase());
        }
        let mismatch = |reason: String| CopyError::SchemaMismatch {
            table: table.name.clone(),
            reason,
        };
        for column in &table.columns {
            match declared.remove(&column.name) {
                None => {
                    return Err(mismatch(format!(
                        "column {} is in the target, not in the source",
                        column.name
                    )))
                }
                Some(ty) if ty != column.kind.sqlite_type() => {
                    return Err(mismatch(format!(
                        "column {} is {ty} in the source, where {} is expected",
                        column.name,
                        column.kind.sqlite_type()
                    )))
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = declared.keys().next() {
            return Err(mismatch(format!(
                "column {extra} is in the source, not in the target (it would be lost)"
            )));
        }
    }
    Ok(())
}

/// The column list of `table`, quoted, comma separated.
fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checksum's start: the table and its column names.
fn table_hasher(table: &Table) -> Sha256 {
    let mut hasher = Sha256::new();
    Value::Text(table.name.clone()).hash_into(&mut hasher);
    for c in &table.columns {
        Value::Text(c.name.clone()).hash_into(&mut hasher);
    }
    hasher
}

/// Copies one table in batches, then counts and checksums it on both sides.
async fn copy_table(
    source: &mut SqliteConnection,
    tx: &mut PgConnection,
    table: &Table,
    filter: Filter,
    options: &CopyOptions,
    errors: &TargetErrors,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<TableReport, CopyError> {
    let quoted = ident(&table.name);
    let all: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {quoted}"))
        .fetch_one(&mut *source)
        .await
        .map_err(source_err("counting rows"))?;
    let total: i64 = filter
        .bind(sqlx::query(&format!(
            "SELECT count(*) FROM {quoted}{}",
            filter.clause()
        )))
        .fetch_one(&mut *source)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(source_err("counting rows"))?;
    let total = u64::try_from(total).unwrap_or(0);
    let skipped = u64::try_from(all).unwrap_or(0).saturating_sub(total);
    progress(Progress {
        table: &table.name,
        done: 0,
        total,
    });

    let columns = column_list(table);
    let order: Vec<String> = table
        .order_by
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            match c.kind {
                Kind::Text => format!("{} COLLATE BINARY", ident(&c.name)),
                _ => ident(&c.name),
            }
        })
        .collect();
    let select = format!(
        "SELECT {columns} FROM {quoted}{} ORDER BY {}",
        filter.clause(),
        order.join(", ")
    );
    let batch_rows = options
        .batch_rows
        .clamp(1, MAX_BIND_PARAMS / table.columns.len().max(1));
    let mut hasher = table_hasher(table);
    let mut serial_max: Vec<Option<i64>> = vec![None; table.columns.len()];
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(batch_rows);
    let mut done: u64 = 0;
    {
        let mut rows = filter.bind(sqlx::query(&select)).fetch(&mut *source);
        while let Some(row) = rows.try_next().await.map_err(source_err("reading rows"))? {
            let values = source_values(&row, table)?;
            for value in &values {
                value.hash_into(&mut hasher);
            }
            for (i, c) in table.columns.iter().enumerate() {
                if let (true, Value::Int(v)) = (c.serial, &values[i]) {
                    serial_max[i] = Some(serial_max[i].map_or(*v, |m| m.max(*v)));
                }
            }
            batch.push(values);
            if batch.len() == batch_rows {
                done += insert(tx, table, &columns, &mut batch, errors).await?;
                progress(Progress {
                    table: &table.name,
                    done,
                    total,
                });
            }
        }
    }
    if !batch.is_empty() {
        done += insert(tx, table, &columns, &mut batch, errors).await?;
        progress(Progress {
            table: &table.name,
            done,
            total,
        });
    }
    let source_sum = hex::encode(hasher.finalize());
    if done != total {
        return Err(CopyError::VerifyFailed {
            table: table.name.clone(),
            reason: format!("the source counted {total} rows but {done} were read"),
        });
    }
    set_sequences(source, tx, table, &serial_max, errors).await?;

    // Read back what the target holds now, the same way.
    let counted: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {quoted}"))
        .fetch_one(&mut *tx)
        .await
        .map_err(errors.at("counting the copied rows"))?;
    if u64::try_from(counted).ok() != Some(total) {
        return Err(CopyError::VerifyFailed {
            table: table.name.clone(),
            reason: format!("{total} rows in the source, {counted} in the target"),
        });
    }
    let order: Vec<String> = table
        .order_by
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            match c.kind {
                Kind::Text => format!("{} COLLATE \"C\"", ident(&c.name)),
                _ => ident(&c.name),
            }
        })
        .collect();
    let select = format!(
        "SELECT {columns} FROM {quoted} ORDER BY {}",
        order.join(", ")
    );
    let mut hasher = table_hasher(table);
    {
        let mut rows = sqlx::query(&select).fetch(&mut *tx);
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(errors.at("reading the copied rows back"))?
        {
            for value in target_values(&row, table, errors)? {
                value.hash_into(&mut hasher);
            }
        }
    }
    let target_sum = hex::encode(hasher.finalize());
    if target_sum != source_sum {
        return Err(CopyError::VerifyFailed {
            table: table.name.clone(),
            reason: format!("checksums differ (source {source_sum}, target {target_sum})"),
        });
    }
    Ok(TableReport {
        table: table.name.clone(),
        rows: total,
        skipped,
        checksum: source_sum,
    })
}

/// Sets each serial column's sequence past the highest value the source holds
/// or ever gave out (SQLite's `sqlite_sequence`, for `AUTOINCREMENT` ids of
/// deleted rows), so new ids never repeat old ones.
async fn set_sequences(
    source: &mut SqliteConnection,
    tx: &mut PgConnection,
    table: &Table,
    serial_max: &[Option<i64>],
    errors: &TargetErrors,
) -> Result<(), CopyError> {
    let serials: Vec<usize> = (0..table.columns.len())
        .filter(|&i| table.columns[i].serial)
        .collect();
    if serials.is_empty() {
        return Ok(());
    }
    // AUTOINCREMENT counts per table, for its one integer primary key.
    let has_sequence_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence')",
    )
    .fetch_one(&mut *source)
    .await
    .map_err(source_err("reading sqlite_sequence"))?;
    let given_out: Option<i64> = if has_sequence_table && serials.len() == 1 {
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = ?1")
            .bind(&table.name)
            .fetch_optional(&mut *source)
            .await
            .map_err(source_err("reading sqlite_sequence"))?
    } else {
        None
    };
    for i in serials {
        let last = match (serial_max[i], given_out) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let Some(last) = last.filter(|v| *v >= 1) else {
            continue;
        };
        sqlx::query("SELECT setval(pg_get_serial_sequence($1, $2), $3, true)")
            .bind(ident(&table.name))
            .bind(&table.columns[i].name)
            .bind(last)
            .execute(&mut *tx)
            .await
            .map_err(errors.at("setting a sequence"))?;
    }
    Ok(())
}

/// One multi-row `INSERT` of the batch (emptied); returns the rows written.
async fn insert(
    tx: &mut PgConnection,
    table: &Table,
    columns: &str,
    batch: &mut Vec<Vec<Value>>,
    errors: &TargetErrors,
) -> Result<u64, CopyError> {
    let rows = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    let mut query: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("INSERT INTO {} ({columns}) ", ident(&table.name)));
    query.push_values(batch.drain(..), |mut b, row| {
        for (value, column) in row.into_iter().zip(&table.columns) {
            bind(&mut b, value, column.kind);
        }
    });
    query
        .build()
        .execute(&mut *tx)
        .await
        .map_err(errors.at("writing rows"))?;
    Ok(rows)
}

/// Binds `value` as the column's type (NULLs typed too).
fn bind(b: &mut Separated<'_, '_, Postgres, &'static str>, value: Value, kind: Kind) {
    match (value, kind) {
        (Value::Null, Kind::Int64) => b.push_bind(None::<i64>),
        (Value::Null, Kind::Int32) => b.push_bind(None::<i32>),
        (Value::Null, Kind::Int16) => b.push_bind(None::<i16>),
        (Value::Null, Kind::Bool) => b.push_bind(None::<bool>),
        (Value::Null, Kind::Bytes) => b.push_bind(None::<Vec<u8>>),
        (Value::Null, Kind::Text) => b.push_bind(None::<String>),
        // Read from the source for this kind, so in range (see source_values).
        (Value::Int(v), Kind::Int32) => b.push_bind(i32::try_from(v).unwrap_or(i32::MAX)),
        (Value::Int(v), Kind::Int16) => b.push_bind(i16::try_from(v).unwrap_or(i16::MAX)),
        (Value::Int(v), _) => b.push_bind(v),
        (Value::Bool(v), _) => b.push_bind(v),
        (Value::Bytes(v), _) => b.push_bind(v),
        (Value::Text(v), _) => b.push_bind(v),
    };
}

/// A source row's values, as the target's column kinds want them.
fn source_values(row: &SqliteRow, table: &Table) -> Result<Vec<Value>, CopyError> {
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, column) in table.columns.iter().enumerate() {
        let bad = |detail: String| CopyError::Source {
            context: "reading rows",
            detail: format!("table {}, column {}: {detail}", table.name, column.name),
        };
        let value = match column.kind {
            Kind::Int64 | Kind::Int32 | Kind::Int16 | Kind::Bool => {
                match row
                    .try_get::<Option<i64>, _>(i)
                    .map_err(|e| bad(e.to_string()))?
                {
                    None => Value::Null,
                    Some(v) => match column.kind {
                        Kind::Bool => match v {
                            0 => Value::Bool(false),
                            1 => Value::Bool(true),
                            _ => return Err(bad(format!("{v} is not a boolean (0 or 1)"))),
                        },
                        Kind::Int32 if i32::try_from(v).is_err() => {
                            return Err(bad(format!("{v} does not fit an integer column")))
                        }
                        Kind::Int16 if i16::try_from(v).is_err() => {
                            return Err(bad(format!("{v} does not fit a smallint column")))
                        }
                        _ => Value::Int(v),
                    },
                }
            }
            Kind::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(i)
                .map_err(|e| bad(e.to_string()))?
                .map_or(Value::Null, Value::Bytes),
            Kind::Text => row
                .try_get::<Option<String>, _>(i)
                .map_err(|e| bad(e.to_string()))?
                .map_or(Value::Null, Value::Text),
        };
        out.push(value);
    }
    Ok(out)
}

/// A target row's values.
fn target_values(
    row: &PgRow,
    table: &Table,
    errors: &TargetErrors,
) -> Result<Vec<Value>, CopyError> {
    let read = errors.at("reading the copied rows back");
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, column) in table.columns.iter().enumerate() {
        let value = match column.kind {
            Kind::Int64 => row.try_get::<Option<i64>, _>(i).map(|v| v.map(Value::Int)),
            Kind::Int32 => row
                .try_get::<Option<i32>, _>(i)
                .map(|v| v.map(|v| Value::Int(v.into()))),
            Kind::Int16 => row
                .try_get::<Option<i16>, _>(i)
                .map(|v| v.map(|v| Value::Int(v.into()))),
            Kind::Bool => row
                .try_get::<Option<bool>, _>(i)
                .map(|v| v.map(Value::Bool)),
            Kind::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(i)
                .map(|v| v.map(Value::Bytes)),
            Kind::Text => row
                .try_get::<Option<String>, _>(i)
                .map(|v| v.map(Value::Text)),
        }
        .map_err(&read)?;
        out.push(value.unwrap_or(Value::Null));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_order_the_tables() {
        let tables: BTreeSet<String> = ["audit", "clients", "client_secrets", "meta", "sites"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let depends = BTreeMap::from([
            ("clients".to_owned(), BTreeSet::from(["sites".to_owned()])),
            (
                "client_secrets".to_owned(),
                BTreeSet::from(["clients".to_owned()]),
            ),
        ]);
        assert_eq!(
            dependency_order(tables.clone(), &depends).unwrap(),
            ["meta", "sites", "clients", "client_secrets", "audit"]
        );
        let cycle = BTreeMap::from([
            ("clients".to_owned(), BTreeSet::from(["sites".to_owned()])),
            ("sites".to_owned(), BTreeSet::from(["clients".to_owned()])),
        ]);
        assert_eq!(
            dependency_order(tables, &cycle).unwrap_err().code(),
            "schema_mismatch"
        );
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let sum = |values: &[Value]| {
            let mut h = Sha256::new();
            for v in values {
                v.hash_into(&mut h);
            }
            hex::encode(h.finalize())
        };
        // Booleans hash as the integers SQLite stores.
        assert_eq!(sum(&[Value::Bool(true)]), sum(&[Value::Int(1)]));
        assert_ne!(sum(&[Value::Null]), sum(&[Value::Int(0)]));
        assert_ne!(
            sum(&[Value::Text("ab".into()), Value::Text("c".into())]),
            sum(&[Value::Text("a".into()), Value::Text("bc".into())])
        );
        assert_ne!(
            sum(&[Value::Text("a".into())]),
            sum(&[Value::Bytes(b"a".to_vec())])
        );
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn schema_messages_say_what_to_do() {
        let e = CopyError::SourceSchema {
            found: Some(9),
            expected: 10,
        };
        assert!(e.to_string().contains("version 9"), "{e}");
        assert!(e.to_string().contains("keyward migrate"), "{e}");
        assert!(e.is_refusal());
        let e = CopyError::TargetSchema {
            found: None,
            expected: 2,
        };
        assert!(e.to_string().contains("keyward migrate"), "{e}");
        let e = CopyError::TargetSchema {
            found: Some(3),
            expected: 2,
        };
        assert!(e.to_string().contains("newer"), "{e}");
        assert!(!CopyError::CommitUnknown { detail: "x".into() }.is_refusal());
    }
}
