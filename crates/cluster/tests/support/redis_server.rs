//! A real `redis-server` for tests, started and stopped by the test itself.
//!
//! Self-contained (std and `tempfile` only) so that any crate's tests can use it:
//!
//! ```ignore
//! #[path = "../../cluster/tests/support/redis_server.rs"]
//! mod redis_server;
//!
//! let Some(server) = redis_server::RedisServer::start() else { return };
//! let url = server.url();
//! ```
//!
//! Each server listens on 127.0.0.1 on a free port, keeps its files in its own
//! temporary directory and persists nothing unless [`Options::durable`] asks for
//! an append-only file fsynced on every write (for tests that kill and restart
//! it and expect the data back). [`RedisServer::kill`] sends SIGKILL (an
//! unclean stop); [`RedisServer::restart`] starts it again on the same port and
//! directory; [`RedisServer::pause`] / [`RedisServer::resume`] freeze it and
//! let it go on (SIGSTOP / SIGCONT, with the `kill` command). Dropping the
//! handle kills the server.
//!
//! [`Options::tls`] serves TLS only, with a certificate from a CA made (with
//! the `openssl` command) for that server.
//!
//! When `redis-server` is not on `PATH` (or at `KEYWARD_REDIS_SERVER`),
//! [`RedisServer::start`] prints a loud notice and returns `None`, so the test
//! can return early; with `KEYWARD_REQUIRE_REDIS=1` it panics instead.

#![allow(dead_code, reason = "each test binary uses a subset of the harness")]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a server is started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep an append-only file fsynced after every write, so data survives
    /// [`RedisServer::kill`] and [`RedisServer::restart`]. Off: nothing is saved.
    pub durable: bool,
    /// Require this password (`requirepass`).
    pub password: Option<String>,
    /// Serve TLS only (`rediss://`), with a certificate for 127.0.0.1 from a
    /// CA made for this server ([`RedisServer::ca_pem`]). Needs the `openssl`
    /// command; without it the server is skipped like a missing redis-server.
    pub tls: bool,
}

/// A running (or killed) `redis-server` owned by a test.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    options: Options,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

impl RedisServer {
    /// A fresh server that persists nothing; `None` (after a loud notice) when
    /// `redis-server` is missing and `KEYWARD_REQUIRE_REDIS` is not `1`.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(Options::default())
    }

    /// A fresh server started with `options`; see [`RedisServer::start`].
    pub fn start_with(options: Options) -> Option<RedisServer> {
        let Some(binary) = find_binary() else {
            return skip("redis-server not found on PATH (or KEYWARD_REDIS_SERVER)");
        };
        if options.tls && find_on_path("openssl").is_none() {
            return skip("openssl (to make the TLS test certificates) not found on PATH");
        }
        // A port can be taken between choosing it and the server binding it:
        // try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("keyward-redis-")
                .tempdir()
                .unwrap_or_else(|e| panic!("temporary directory for redis-server: {e}"));
            let mut server = RedisServer {
                binary: binary.clone(),
                options: options.clone(),
                port: free_port(),
                dir,
                child: None,
            };
            if options.tls {
                server.make_certificates();
            }
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// `redis[s]://[:password@]127.0.0.1:port/`.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "rediss" } else { "redis" };
        match &self.options.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}/", self.port),
            None => format!("{scheme}://127.0.0.1:{}/", self.port),
        }
    }

    /// With [`Options::tls`]: the PEM certificate of the CA that signed the
    /// server's certificate.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("ca.pem"))
            .unwrap_or_else(|e| panic!("reading the test CA: {e}"))
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its working directory (logs, append-only files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the process runs (not killed, not exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server with SIGKILL (no shutdown, no save) and waits for it to
    /// exit. Does nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused server would not die of SIGKILL before it is continued
            // on some systems; continuing first is harmless.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&mut self) {
        self.signal("-STOP");
    }

    /// Lets a [paused](RedisServer::pause) server go on (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("-CONT");
    }

    fn signal(&mut self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_else(|| panic!("redis-server is not running"));
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap_or_else(|e| panic!("running kill {signal}: {e}"));
        assert!(status.success(), "kill {signal} {pid}: {status}");
    }

    /// Starts the server again, on the same port and directory, after
    /// [`RedisServer::kill`] (kills it first if it still runs), and waits until
    /// it answers.
    pub fn restart(&mut self) {
        self.kill();
        // The port was ours a moment ago; another process grabbing it in
        // between is possible but unlikely, so retry briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("redis-server did not restart on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args(["--daemonize", "no"])
            .args(["--save", ""])
            .args(["--loglevel", "notice"])
            .args(["--databases", "1"]);
        if self.options.durable {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if let Some(p) = &self.options.password {
            cmd.args(["--requirepass", p]);
        }
        if self.options.tls {
            cmd.args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(dir.join("server.pem"))
                .arg("--tls-key-file")
                .arg(dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.pem"))
                .args(["--tls-auth-clients", "no"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.answers_ping() {
                return Ok(());
            }
            if !self.is_running() || Instant::now() > deadline {
                let log = self.log();
                self.kill();
                return Err(format!("no PONG on port {}; log:\n{log}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        if self.options.tls {
            // No TLS client here: the port accepts, and the server says so.
            return TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && self.log().contains("Ready to accept connections");
        }
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut request = Vec::new();
        if let Some(p) = &self.options.password {
            request.extend(format!("AUTH {p}\r\n").as_bytes());
        }
        request.extend(b"PING\r\n");
        if s.write_all(&request).is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 64];
        while !answer.windows(5).any(|w| w == b"+PONG") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            // A server still loading its data answers -LOADING.
            if answer.starts_with(b"-") {
                return false;
            }
        }
        true
    }
}

impl RedisServer {
    /// A CA, and a server certificate for 127.0.0.1 signed by it, in the
    /// server's directory (P-256 keys: quick to make).
    fn make_certificates(&self) {
        let dir = self.dir.path();
        let ext = dir.join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", ext.display()));
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509", "-nodes"][..],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=keyward test CA",
                ][..],
            ]
            .concat(),
            [
                &["req", "-new", "-nodes"][..],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ][..],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("running openssl: {e}"));
            assert!(
                out.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Reports a skipped test loudly (or fails it under `KEYWARD_REQUIRE_REDIS=1`).
fn skip(why: &str) -> Option<RedisServer> {
    if std::env::var("KEYWARD_REQUIRE_REDIS").as_deref() == Ok("1") {
        panic!("{why}, and KEYWARD_REQUIRE_REDIS=1");
    }
    // Straight to stderr, past the test harness's capture (which would hide
    // the notice of a test that "passed").
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {why}: this test did not run. Install it, or set \
         KEYWARD_REQUIRE_REDIS=1 to make its absence a failure. ***\n"
    );
    None
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `KEYWARD_REDIS_SERVER`, else `redis-server` found on `PATH`.
fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEYWARD_REDIS_SERVER") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    find_on_path("redis-server")
}

/// `name` in a directory of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}
