//! `keyward`: the one binary — the license gateway (`serve`), token tools
//! (`token issue|inspect`), and site / key administration on the embedded store.

/// `println!` for the whole binary: a reader that went away (`keyward key list |
/// head -1`) ends the process quietly instead of panicking on the broken pipe, as
/// std's `println!` does.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::stdout_failed(&e);
        }
    }};
}

/// Called when writing to stdout fails: a closed pipe exits 0 without a word (the
/// reader has what it wanted); anything else is reported on stderr, exit 1.
pub(crate) fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("keyward: cannot write to standard output: {e}");
    std::process::exit(1);
}

mod admin;
mod audit;
mod clients;
mod cpix;
mod customers;
mod explain;
mod fairplay;
mod packager;
mod rfc3339;
mod store;
mod token;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the gateway allocates and frees
/// small objects on every request, often on different threads (request
/// tasks, the audit writer, the store's writer thread), where glibc's
/// allocator spends its time consolidating and locking.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// keyward: self-hosted multi-DRM license token service and license gateway.
///
/// Mint PallyCon/DoveRunner-compatible license tokens in your backend, verify
/// them when players ask for licences, issue ClearKey and HLS AES-128 keys, and
/// keep content keys for packagers — on your own machine.
///
/// Quick start:
///   keyward serve --demo            # then open http://127.0.0.1:8080/demo/
#[derive(Parser)]
#[command(name = "keyward", version, about, long_about, term_width = 0)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the license gateway (embedded SQLite store in --data-dir).
    ///
    /// Configuration layers: defaults → ./keyward.toml (or --config) →
    /// KEYWARD_* environment (KEYWARD_LISTEN, KEYWARD_DATA_DIR, KEYWARD_ADMIN_TOKEN[_FILE],
    /// KEYWARD_KEK[_FILE], KEYWARD_LOG_FORMAT, KEYWARD_PUBLIC_BASE_URL) → these flags.
    /// See keyward.example.toml.
    #[command(
        after_help = "Example:\n  keyward serve --listen 127.0.0.1:8080 --data-dir ./keyward-data --demo\n  KEYWARD_FAIRPLAY_DASK=command KEYWARD_FAIRPLAY_DASK_COMMAND=/opt/fps/d-function keyward serve\n  KEYWARD_KEK_FILE=/etc/keyward/kek keyward serve --database-url postgres://keyward:pw@db/keyward --redis-url redis://cache:6379 (one of N nodes; see docs/operations.md)"
    )]
    Serve(ServeArgs),
    /// Mint and inspect license tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Manage sites (site id, site key, access key, settings) in the data directory.
    #[command(subcommand)]
    Site(admin::SiteCommand),
    /// Manage content keys in the data directory.
    #[command(subcommand)]
    Key(admin::KeyCommand),
    /// Manage ExpressPlay-style customers (customerAuthenticator) in the data directory.
    #[command(subcommand)]
    Customer(customers::CustomerCommand),
    /// Manage Studio token clients (callers of POST /v2/token) in the data directory.
    #[command(subcommand)]
    Client(clients::ClientCommand),
    /// Manage licence upstreams (a site's FairPlay KSMs, …) in the data directory.
    #[command(subcommand)]
    Upstream(upstream::UpstreamCommand),
    /// Manage packager credentials (Widevine key-API signers, API keys for the
    /// PlayReady packaging API, CPIX and SPEKE) and key seeds in the data directory.
    #[command(subcommand)]
    Packager(packager::PackagerCommand),
    /// Why was a licence request granted or refused? Asks a running server's
    /// decision debugger (admin API) for its record.
    Explain(explain::ExplainArgs),
    /// Make callback-mode auth data (pallycon-customdata-v2) for testing.
    #[command(subcommand)]
    Customdata(token::CustomdataCommand),
    /// Callback-mode helpers.
    #[command(subcommand)]
    Callback(CallbackCommand),
    /// Search and follow the audit trail (licence outcomes, upstream calls, packager key
    /// requests) in the data directory, also while `keyward serve` runs.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Move the store to PostgreSQL: copy the embedded SQLite store into a database.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Apply a database's schema migrations (postgres://…, or sqlite:<data dir>) and
    /// print its schema version before and after.
    #[command(
        after_help = "Example:\n  keyward migrate --database-url postgres://keyward@db.internal/keyward\n  KEYWARD_DATABASE_URL=sqlite:./keyward-data keyward migrate"
    )]
    Migrate(store::MigrateArgs),
    /// Print the OpenAPI document of the native and admin API (as served at /openapi.json).
    #[command(after_help = "Example:\n  keyward openapi > openapi.json")]
    Openapi,
}

#[derive(Subcommand)]
enum CallbackCommand {
    /// Run a small example callback page that allows a set of users.
    #[command(
        after_help = "Example (callback mode in two commands, then a licence request):\n  keyward site add --site-id CBCK --generate --callback-url http://127.0.0.1:9000/callback\n  keyward callback serve-example --site-key <the site key printed by site add> --allow alice\n\nthen send the output of `keyward customdata make --drm-type Widevine --site-id CBCK --site-key <key> --user-id alice --cid movie-1` as the pallycon-customdata-v2 header (see docs/callback.md)."
    )]
    ServeExample {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
        /// The site key (32 characters). Or env KEYWARD_SITE_KEY.
        #[arg(long, env = "KEYWARD_SITE_KEY", hide_env_values = true)]
        site_key: String,
        /// A user allowed to play (repeatable).
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// Licence duration granted, seconds (0 = unlimited).
        #[arg(long, default_value_t = 3600)]
        duration: u64,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env KEYWARD_LISTEN].
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (SQLite store, generated KEK) [default: ./keyward-data; env KEYWARD_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Configuration file [default: ./keyward.toml when present].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Demo mode: creates site DEMO, loads the demo clip's key, serves /demo/.
    #[arg(long)]
    demo: bool,
    /// Log format: human or json [env KEYWARD_LOG_FORMAT].
    #[arg(long)]
    log_format: Option<String>,
    /// Public base URL for links keyward hands out [env KEYWARD_PUBLIC_BASE_URL].
    #[arg(long)]
    public_base_url: Option<String>,
    /// The store: postgres://user:password@host/db for several nodes, sqlite:<dir>,
    /// memory: [env KEYWARD_DATABASE_URL]; default the SQLite file in --data-dir.
    #[arg(long)]
    database_url: Option<String>,
    /// Redis for the state nodes share (single use, stream slots, cache invalidation):
    /// redis://[user:password@]host:port [env KEYWARD_REDIS_URL].
    #[arg(long)]
    redis_url: Option<String>,
}

/// Logs go to stderr through a background writer thread: a request only
/// formats its line and hands it over, so a per-licence line (target
/// `keyward::licence`, info) costs little even when stderr is slow. Lines are
/// dropped, and counted, only if the writer falls 128k lines behind. Keep the
/// guard alive until exit: dropping it flushes what is queued.
fn init_logging(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(128 * 1024)
        .lossy(true)
        .finish(std::io::stderr());
    // Colour only for a person at a terminal (and never with NO_COLOR): log
    // files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if json {
        b.json().init();
    } else {
        b.init();
    }
    guard
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Token(c) => token::run(c),
        Command::Customdata(c) => token::run_customdata(c),
        Command::Site(c) => admin::run_site(c),
        Command::Key(c) => admin::run_key(c),
        Command::Client(c) => clients::run(c),
        Command::Customer(c) => customers::run(c),
        Command::Upstream(c) => upstream::run(c),
        Command::Packager(c) => packager::run(c),
        Command::Explain(a) => explain::run(a),
        Command::Callback(CallbackCommand::ServeExample {
            listen,
            site_key,
            allow,
            duration,
        }) => serve_example(&listen, &site_key, allow, duration),
        Command::Audit(c) => audit::run(c),
        Command::Store(c) => store::run(c),
        Command::Migrate(a) => store::run_migrate(a),
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&keyward_server::openapi_document())
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
    }
}

fn serve(a: ServeArgs) -> ExitCode {
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let overrides = keyward_server::config::Overrides {
        listen: a.listen,
        data_dir: a.data_dir,
        log_format: a.log_format,
        demo: a.demo,
        public_base_url: a.public_base_url,
        database_url: a.database_url,
        redis_url: a.redis_url,
    };
    let config = match keyward_server::Config::load(a.config.as_deref(), &env, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keyward: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_guard = init_logging(config.log_format == keyward_server::config::LogFormat::Json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyward: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(keyward_server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("keyward: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_example(listen: &str, site_key: &str, allow: Vec<String>, duration: u64) -> ExitCode {
    let _log_guard = init_logging(false);
    let key = match keyward_token::SiteKey::new(site_key.as_bytes()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{}", e.to_json());
            return ExitCode::from(2);
        }
    };
    let policy = if duration > 0 {
        serde_json::json!({"limit": true, "persistent": false, "duration": duration})
    } else {
        serde_json::json!({"limit": false, "persistent": false})
    };
    let app = keyward_server::callback_example::router(
        keyward_server::callback_example::ExampleCallback {
            site_key: key,
            allowed_users: allow.clone(),
            playback_policy: policy,
        },
    );
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyward: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("keyward: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(%listen, allowed = ?allow, "example callback page at POST /callback");
        match axum::serve(listener, app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("keyward: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
