//! `keyward store copy` and `keyward migrate`: moving a deployment from the
//! embedded SQLite store to PostgreSQL (see docs/store-copy.md).
//!
//! `store copy` copies every table of a SQLite store into an empty, migrated
//! PostgreSQL database in one transaction, verified table by table before the
//! commit (`keyward_store::copy`); progress goes to stderr, the per-table
//! summary to stdout. `migrate` applies a backend's schema migrations and
//! says which version the database was at before and after. A URL's password
//! is never printed (`user:***@`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use keyward_store::copy::{Progress, DEFAULT_BATCH_ROWS};
use keyward_store::kek::KEK_FILE_NAME;
use keyward_store::{copy_sqlite_to_postgres, CopyError, CopyOptions, Kek, PostgresOptions};
use serde_json::json;
use zeroize::Zeroizing;

/// Store commands.
#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy the embedded SQLite store into an empty PostgreSQL database, migrated
    /// first with `keyward migrate`: every table in one transaction, each verified
    /// (row count and checksum) before the commit; wrapped secrets stay wrapped
    /// under the same KEK. Live single-use decisions only (expired ones count as
    /// absent anyway). The source is only read, also while `keyward serve` runs;
    /// stop the server for the final copy.
    #[command(
        after_help = "Example:\n  keyward migrate --database-url postgres://keyward@db.internal/keyward\n  keyward store copy --from ./keyward-data --to postgres://keyward@db.internal/keyward\n  KEYWARD_KEK_FILE=/etc/keyward/kek PGPASSWORD=secret keyward store copy --from /var/lib/keyward/keyward.db --to postgres://keyward@db.internal/keyward"
    )]
    Copy(CopyArgs),
}

/// Arguments of `keyward store copy`.
#[derive(clap::Args)]
pub struct CopyArgs {
    /// The SQLite store: the data directory `keyward serve` uses, or its keyward.db
    /// file. Only read; never created.
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database: postgres://user[:password]@host[:port]/database[?sslmode=…]
    /// (the password may come from PGPASSWORD instead). It must be migrated and empty.
    #[arg(long)]
    to: String,
    /// File holding the KEK the source was created with. Without it: KEYWARD_KEK,
    /// then KEYWARD_KEK_FILE, then the `kek` file beside the source.
    #[arg(long)]
    kek_file: Option<PathBuf>,
    /// Rows per INSERT statement.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS)]
    batch_rows: usize,
}

/// Arguments of `keyward migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The database: postgres://user[:password]@host[:port]/database, or
    /// sqlite:<data dir> (created when missing).
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

/// How often a running count is printed for a large table, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Runs a store command.
pub fn run(c: StoreCommand) -> ExitCode {
    match c {
        StoreCommand::Copy(a) => copy(a),
    }
}

/// One JSON error line on stderr; exit 2 for a refusal (nothing written), 1
/// for a failure along the way.
fn fail(code: &str, message: &str, refusal: bool) -> ExitCode {
    eprintln!("{}", json!({"error_code": code, "error_message": message}));
    ExitCode::from(if refusal { 2 } else { 1 })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("io", &format!("cannot start the runtime: {e}"), false))
}

/// The directory the source's `kek` file would be in: the data directory, or
/// the directory of the database file.
fn source_dir(from: &Path) -> PathBuf {
    let file = keyward_store::sqlite::database_file(from);
    file.parent().map_or_else(PathBuf::new, Path::to_path_buf)
}

/// The KEK: `--kek-file`, `KEYWARD_KEK`, `KEYWARD_KEK_FILE`, else the source's
/// `kek` file (never generated: a new KEK could not unwrap anything).
fn resolve_kek(kek_file: Option<&Path>, from: &Path) -> Result<Kek, ExitCode> {
    let read = |path: &Path, what: &str| -> Result<Kek, ExitCode> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            fail(
                "kek",
                &format!("cannot read the KEK from {what} {}: {e}", path.display()),
                true,
            )
        })?);
        Kek::from_hex_or_base64(&text)
            .map_err(|e| fail("kek", &format!("{what} {}: {e}", path.display()), true))
    };
    if let Some(path) = kek_file {
        return read(path, "--kek-file");
    }
    if let Some(text) = std::env::var("KEYWARD_KEK").ok().filter(|v| !v.is_empty()) {
        let text = Zeroizing::new(text);
        return Kek::from_hex_or_base64(&text)
            .map_err(|e| fail("kek", &format!("KEYWARD_KEK: {e}"), true));
    }
    if let Some(path) = std::env::var_os("KEYWARD_KEK_FILE").filter(|v| !v.is_empty()) {
        return read(Path::new(&path), "KEYWARD_KEK_FILE");
    }
    let beside = source_dir(from).join(KEK_FILE_NAME);
    if beside.is_file() {
        return read(&beside, "the source's kek file");
    }
    Err(fail(
        "kek",
        &format!(
            "no KEK: give the one the source was created with (--kek-file, KEYWARD_KEK or KEYWARD_KEK_FILE); there is no kek file at {}",
            beside.display()
        ),
        true,
    ))
}

/// Prints progress on stderr: a line when a table starts, then a running
/// count at most every [`PROGRESS_EVERY`].
struct ProgressLines {
    last: Instant,
}

impl ProgressLines {
    fn show(&mut self, p: Progress<'_>) {
        if p.done == 0 {
            eprintln!("copying {} ({} rows)", p.table, p.total);
            self.last = Instant::now();
        } else if p.done < p.total && self.last.elapsed() >= PROGRESS_EVERY {
            eprintln!("  {}: {} of {} rows", p.table, p.done, p.total);
            self.last = Instant::now();
        }
    }
}

fn copy(a: CopyArgs) -> ExitCode {
    let kek = match resolve_kek(a.kek_file.as_deref(), &a.from) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let target = PostgresOptions::from_url(a.to);
    let shown = target.redacted_url();
    let source = keyward_store::sqlite::database_file(&a.from);
    let mut options = CopyOptions::new(a.from, target, kek);
    options.batch_rows = a.batch_rows.max(1);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    eprintln!("copying {} to {shown}", source.display());
    let started = Instant::now();
    let mut lines = ProgressLines {
        last: Instant::now(),
    };
    let outcome = rt.block_on(copy_sqlite_to_postgres(&options, &mut |p| lines.show(p)));
    let report = match outcome {
        Ok(r) => r,
        Err(e) => return copy_failed(&e),
    };
    if report.source_in_use {
        eprintln!(
            "warning: a keyward process held the source's single-use lock during the copy (or the last one did not stop cleanly): single-use decisions it made after the snapshot are not in the copy. For the cut-over, stop `keyward serve` and copy again into a freshly migrated database."
        );
    }
    println!(
        "copied {} (schema version {}) to {shown} (schema version {}) in {:.1} s",
        source.display(),
        report.source_schema_version,
        report.target_schema_version,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<22} {:>10}  {:<18} verified",
        "table", "rows", "checksum"
    );
    for t in &report.tables {
        let short = t.checksum.get(..16).unwrap_or(&t.checksum);
        println!(
            "{:<22} {:>10}  {short:<18} rows, checksum ok",
            t.table, t.rows
        );
    }
    println!("{:<22} {:>10}", "total", report.rows());
    if report.expired_redemptions_skipped > 0 {
        println!(
            "skipped {} expired single-use decisions (an expired entry counts as absent: no answer changes)",
            report.expired_redemptions_skipped
        );
    }
    ExitCode::SUCCESS
}

fn copy_failed(e: &CopyError) -> ExitCode {
    fail(e.code(), &e.to_string(), e.is_refusal())
}

/// Runs `keyward migrate`.
pub fn run_migrate(a: MigrateArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let url = a.database_url.trim().to_owned();
    if let Some(dir) = url.strip_prefix("sqlite:") {
        let dir = PathBuf::from(dir.trim_start_matches("//"));
        if dir.as_os_str().is_empty() {
            return fail(
                "invalid_input",
                "sqlite: needs the data directory, as sqlite:<dir>",
                true,
            );
        }
        let latest = keyward_store::sqlite::latest_schema_version();
        let shown = format!("sqlite:{}", dir.display());
        return rt.block_on(async {
            let before = match keyward_store::sqlite::schema_version(&dir).await {
                Ok(v) => v,
                Err(e) => return store_failed(&shown, &e),
            };
            if before.is_some_and(|v| v > latest) {
                return newer(&shown, before, latest);
            }
            if let Err(e) = keyward_store::sqlite::migrate(&dir).await {
                return store_failed(&shown, &e);
            }
            match keyward_store::sqlite::schema_version(&dir).await {
                Ok(after) => report_versions(&shown, before, after, latest),
                Err(e) => store_failed(&shown, &e),
            }
        });
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return fail(
            "invalid_input",
            "--database-url must be postgres://… or sqlite:<data dir>",
            true,
        );
    }
    let options = PostgresOptions::from_url(url);
    let shown = options.redacted_url();
    let latest = keyward_store::postgres::latest_schema_version();
    rt.block_on(async {
        let before = match keyward_store::postgres::schema_version(&options).await {
            Ok(v) => v,
            Err(e) => return store_failed(&shown, &e),
        };
        if before.is_some_and(|v| v > latest) {
            return newer(&shown, before, latest);
        }
        if let Err(e) = keyward_store::postgres::migrate(&options).await {
            return store_failed(&shown, &e);
        }
        match keyward_store::postgres::schema_version(&options).await {
            Ok(after) => report_versions(&shown, before, after, latest),
            Err(e) => store_failed(&shown, &e),
        }
    })
}

fn version_text(v: Option<i64>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

fn report_versions(shown: &str, before: Option<i64>, after: Option<i64>, latest: i64) -> ExitCode {
    println!("database: {shown}");
    println!("schema version before: {}", version_text(before));
    let note = if before == after {
        "nothing to do"
    } else {
        "migrated"
    };
    println!(
        "schema version after:  {} ({note}; the latest this keyward knows is {latest})",
        version_text(after)
    );
    ExitCode::SUCCESS
}

fn newer(shown: &str, found: Option<i64>, latest: i64) -> ExitCode {
    fail(
        "schema_newer",
        &format!(
            "{shown} is at schema version {}, newer than the version {latest} this keyward knows: use the keyward that migrated it",
            version_text(found)
        ),
        true,
    )
}

/// A store error with its detail (already without the URL's password).
fn store_failed(shown: &str, e: &keyward_store::StoreError) -> ExitCode {
    let message = match e.detail() {
        Some(detail) => format!("{shown}: {e}: {detail}"),
        None => format!("{shown}: {e}"),
    };
    fail(e.code(), &message, e.is_invalid_input())
}
