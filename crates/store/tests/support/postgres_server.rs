//! A throwaway PostgreSQL server for tests: its own data directory in a
//! temporary directory, listening on 127.0.0.1 on a free port, trusted
//! logins as `keyward`, one database per test ([`PostgresServer::create_database`]).
//!
//! Self-contained (std and `tempfile` only), so that any crate's tests can use
//! it: `#[path = "…/postgres_server.rs"] mod postgres_server;`.
//!
//! * **Binaries**: `initdb`, `pg_ctl` and `postgres` from `PATH` (symlinks
//!   followed), else the newest `/usr/lib/postgresql/<version>/bin`; `createdb`
//!   beside them. Missing: [`PostgresServer::start_or_skip`] says so loudly on
//!   stderr and returns `None` (the test passes without running), unless
//!   `KEYWARD_REQUIRE_POSTGRES=1`, which turns that into a failure.
//! * **Root**: PostgreSQL refuses to run as root, so when `id -u` says 0 the
//!   server commands run as the `postgres` user (`runuser -u postgres --`),
//!   and the temporary directory is handed to that user.
//! * **No stray servers**: each server has a watchdog, a small `sh` child that
//!   blocks reading a pipe only this process writes to. When the pipe closes —
//!   the server is dropped, or the test process ends in any way (a static that
//!   is never dropped, a panic, a kill) — it stops the server (`pg_ctl stop -m
//!   immediate`) and removes the directory. It ignores SIGINT, SIGTERM and
//!   SIGHUP, so a Ctrl-C that ends the test run still gets it to clean up.
//! * **Faults**: [`PostgresServer::kill`] stops the server at once (as a
//!   crash would); [`PostgresServer::start`] starts it again on the same port
//!   and data.
//!
//! Tuned for tests, not durability: `fsync` and `full_page_writes` are off
//! (what a commit wrote reaches the kernel, so it survives [`kill`], not a
//! machine crash). `synchronous_commit` stays on: with it off, a kill would
//! lose the last commits, and fault tests would see losses the store did not
//! cause.
//!
//! [`kill`]: PostgresServer::kill

#![allow(
    dead_code,
    reason = "each test binary that includes this uses a subset of it"
)]

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;

/// Set to `1` to fail, instead of skip, when PostgreSQL is not installed.
pub const REQUIRE_ENV: &str = "KEYWARD_REQUIRE_POSTGRES";
/// The superuser `initdb` creates; logins are trusted (no password).
pub const USER: &str = "keyward";
/// The OS user the server runs as when the tests run as root.
const SERVER_OS_USER: &str = "postgres";

/// A running (or killed) test server. Dropping it stops it and removes its
/// directory.
pub struct PostgresServer {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    /// `Some("postgres")` when the server commands run as that user.
    run_as: Option<&'static str>,
    /// The watchdog and the write end of its pipe.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
    /// `CREATE DATABASE` one at a time.
    creating: Mutex<()>,
}

impl PostgresServer {
    /// Starts a server; `None` (after a message on stderr naming `test`) when
    /// PostgreSQL is not installed and [`REQUIRE_ENV`] is not `1`. Panics when
    /// it is installed but does not start.
    pub fn start_or_skip(test: &str) -> Option<PostgresServer> {
        match find_bin_dir() {
            Some(bin) => Some(PostgresServer::start_with(bin)),
            None => {
                let msg = "PostgreSQL binaries (initdb, pg_ctl, postgres) not found on PATH \
                           or under /usr/lib/postgresql/*/bin";
                if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                    panic!("{msg}, and {REQUIRE_ENV}=1");
                }
                eprintln!(
                    "\n!!!!!!!! SKIPPED {test}: {msg}. Install PostgreSQL (Debian: \
                     apt-get install postgresql) or set {REQUIRE_ENV}=1 to fail instead. \
                     !!!!!!!!\n"
                );
                None
            }
        }
    }

    /// Starts a server with the binaries in `bin`; panics on failure.
    pub fn start_with(bin: PathBuf) -> PostgresServer {
        let run_as = if current_uid_is_root() {
            Some(SERVER_OS_USER)
        } else {
            None
        };
        let root = tempfile::Builder::new()
            .prefix("keyward-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a temporary directory: {e}"))
            .keep();
        let pg_ctl = bin.join("pg_ctl");
        // The watchdog first, so that nothing below can leave a stray server.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("keyward-pg-watchdog")
            .arg(&root)
            .arg(&pg_ctl)
            .arg(run_as.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the watchdog (sh): {e}"));
        let pipe = child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("watchdog stdin"));
        let mut server = PostgresServer {
            bin,
            root,
            port: 0,
            run_as,
            watchdog: Mutex::new(Some((child, pipe))),
            creating: Mutex::new(()),
        };
        std::fs::create_dir(server.socket_dir())
            .unwrap_or_else(|e| panic!("creating the socket directory: {e}"));
        if let Some(user) = run_as {
            let owner = format!("{user}:");
            checked(
                Command::new("chown").arg("-R").arg(owner).arg(&server.root),
                "chown of the temporary directory",
            );
        }
        let initdb = server.bin.join("initdb");
        let mut init = server.server_command(&initdb);
        init.arg("-D")
            .arg(server.data_dir())
            .arg("-U")
            .arg(USER)
            .arg("--auth=trust")
            .arg("--encoding=UTF8")
            .arg("--locale=C")
            .arg("--no-sync");
        checked(&mut init, "initdb");
        // A free port now may be taken by the time the server binds it: try
        // a few.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (trusted login, no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` (lowercase letters, digits and `_`) and
    /// returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "database name {name:?}: lowercase letters, digits and _ only"
        );
        let _one_at_a_time = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        let mut create = Command::new(self.bin.join("createdb"));
        create
            .current_dir(&self.root)
            .arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(USER)
            .arg(name);
        checked(&mut create, "createdb");
        self.url(name)
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut stop = self.server_command(&pg_ctl);
        stop.arg("-D")
            .arg(self.data_dir())
            .arg("-m")
            .arg("immediate")
            .arg("-w")
            .arg("stop");
        checked(&mut stop, "pg_ctl stop");
    }

    /// Starts the server again on the same port and data (after [`kill`](Self::kill)).
    pub fn start(&self) {
        if let Err(e) = self.try_start() {
            panic!("PostgreSQL did not start again: {e}");
        }
    }

    /// The temporary directory (data, sockets, log).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// A command for a server binary: as the server's OS user when root, run
    /// from the temporary directory (which that user can enter).
    fn server_command(&self, program: &Path) -> Command {
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir(&self.root);
        cmd
    }

    fn try_start(&self) -> Result<(), String> {
        let pg_ctl = self.bin.join("pg_ctl");
        let settings = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off \
             -c full_page_writes=off -c max_connections=400 -c shared_buffers=32MB",
            self.port,
            self.socket_dir().display()
        );
        let mut start = self.server_command(&pg_ctl);
        start
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .arg("-o")
            .arg(settings)
            .arg("-w")
            .arg("-t")
            .arg("60")
            .arg("start");
        let out = run(&mut start, "pg_ctl start");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}\n--- server log ---\n{}",
                describe(&out),
                self.log_tail()
            ))
        }
    }

    /// The end of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_file()) {
            let _ = f.read_to_string(&mut text);
        }
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }
}

impl Drop for PostgresServer {
    /// Closes the watchdog's pipe and waits for it: it stops the server and
    /// removes the directory.
    fn drop(&mut self) {
        let watchdog = self
            .watchdog
            .lock()
            .map(|mut w| w.take())
            .unwrap_or_else(|mut p| p.get_mut().take());
        if let Some((mut child, pipe)) = watchdog {
            drop(pipe);
            let _ = child.wait();
        }
    }
}

/// The watchdog: waits for its stdin to close, then stops the server (if its
/// pid file is there) and removes the directory. `$1` the directory, `$2`
/// pg_ctl, `$3` the OS user to run it as (empty: this one).
const WATCHDOG: &str = r#"
trap '' INT TERM HUP
cat >/dev/null
if [ -f "$1/data/postmaster.pid" ]; then
  cd "$1" || exit 1
  if [ -n "$3" ]; then
    runuser -u "$3" -- "$2" -D "$1/data" -m immediate -w stop
  else
    "$2" -D "$1/data" -m immediate -w stop
  fi
fi >/dev/null 2>&1
cd /
rm -rf -- "$1"
"#;

/// Where `initdb`, `pg_ctl` and `postgres` are: `PATH` first (symlinks
/// followed, so `createdb` is found beside them), then the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres", "createdb"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if !initdb.is_file() {
                continue;
            }
            if let Some(real) = std::fs::canonicalize(&initdb)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                if complete(&real) {
                    return Some(real);
                }
            }
            if complete(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (`id -u`; no libc needed).
fn current_uid_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run: {e}"))
}

/// Runs `cmd`, panicking with its output when it fails.
fn checked(cmd: &mut Command, what: &str) {
    let out = run(cmd, what);
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
