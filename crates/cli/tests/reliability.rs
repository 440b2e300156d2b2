//! Slow, stalled and hostile clients against a real `keyward serve`: real
//! processes, real TCP on loopback, raw HTTP/1.1 over `std::net`, bounded
//! time (small timeouts are configured so that each case takes seconds).
//!
//! Different client addresses are different loopback addresses (127.0.0.2 vs
//! 127.0.0.1), so that one address's flood can be told from another's probes.
//! The `[server]` knobs are given as `KEYWARD_SERVER_*` variables.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "support/proc.rs"]
mod proc;

use std::io::{BufRead as _, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proc::{free_port, Proc};

const SK: &str = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
const AK: &str = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20";
const SITE: &str = "TEST";
const CID: &str = "movie-1";
const KID: &str = "abba271e8bcf552bbd2e86a434a9a5d9";
const KEY: &str = "69eaa802a6763af979e8d1940fb88392";
/// `KID` in base64url, as a ClearKey licence request names it.
const KID_B64: &str = "q7onHovPVSu9LoakNKml2Q";
const CLIENT: &str = "reliability";

fn keyward(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.args(args)
        .env_remove("KEYWARD_SITE_KEY")
        .env_remove("KEYWARD_ACCESS_KEY")
        .env_remove("KEYWARD_KEK")
        .env_remove("KEYWARD_KEK_FILE")
        .env_remove("KEYWARD_DATA_DIR")
        .env_remove("KEYWARD_LISTEN")
        .env_remove("KEYWARD_TOKEN_KEY")
        .env_remove("KEYWARD_TOKEN_KEY_FILE")
        .env_remove("KEYWARD_LOG")
        .env("KEYWARD_LOG_FORMAT", "human");
    c
}

fn run_ok(args: &[&str]) -> String {
    let o: Output = keyward(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        o.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A site with the test key, and a Studio client; returns the client's API key.
fn provision(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    run_ok(&[
        "site",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--site-key",
        SK,
        "--access-key",
        AK,
    ]);
    run_ok(&[
        "key",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--cid",
        CID,
        "--kid",
        KID,
        "--key",
        KEY,
    ]);
    let out = run_ok(&[
        "client",
        "add",
        "--data-dir",
        d,
        "--name",
        CLIENT,
        "--site-id",
        SITE,
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["api_key"].as_str().unwrap().to_owned()
}

/// A PallyCon ClearKey token for `CID` (reusable: PallyCon tokens are not single-use).
fn pallycon_token() -> String {
    let mut child = keyward(&[
        "token",
        "issue",
        "--site-id",
        SITE,
        "--site-key",
        SK,
        "--access-key",
        AK,
        "--drm-type",
        "ClearKey",
        "--user-id",
        "probe",
        "--cid",
        CID,
        "--policy",
        "-",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"policy_version":2,"playback_policy":{"persistent":false}}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// A running `keyward serve` and its log (stderr, line by line).
struct Server {
    proc: Proc,
    addr: SocketAddr,
}

impl std::ops::Deref for Server {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(dir, env, None)
    }

    fn start_with(dir: &Path, env: &[(&str, &str)], config: Option<&Path>) -> Server {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let listen = addr.to_string();
        let mut args = vec![
            "serve",
            "--listen",
            &listen,
            "--data-dir",
            dir.to_str().unwrap(),
        ];
        let config_text;
        if let Some(c) = config {
            config_text = c.to_str().unwrap().to_owned();
            args.extend(["--config", &config_text]);
        }
        let mut cmd = keyward(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server {
            proc: Proc::serve(cmd, Duration::from_secs(15)),
            addr,
        }
    }
}

/// A TCP connection to `to` from the loopback address `from` (std cannot bind
/// before connecting; tokio's socket can, and hands back a std stream).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .unwrap()
    });
    let s = rt
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((from, 0)))?;
            socket.connect(to).await?.into_std()
        })
        .unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn connect(to: SocketAddr) -> TcpStream {
    connect_from(Ipv4Addr::LOCALHOST, to)
}

/// One HTTP/1.1 response.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> Option<&str> {
        self.header("x-keyward-error-code")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one response (Content-Length or chunked framing) from `s`.
fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed after {} bytes", raw.len()),
            ));
        }
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let mut lines = head.trim_end().split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut a = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(n) = a.header("content-length") {
        let mut body = vec![0u8; n.parse().unwrap()];
        s.read_exact(&mut body)?;
        a.body = body;
    } else if a
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let mut r = BufReader::new(s.try_clone()?);
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            a.body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(a)
}

fn exchange(s: &mut TcpStream, request: &str) -> Answer {
    s.write_all(request.as_bytes()).unwrap();
    read_answer(s).unwrap()
}

/// `GET path` on a new connection from `from`.
fn get_from(from: Ipv4Addr, addr: SocketAddr, path: &str) -> Answer {
    let mut s = connect_from(from, addr);
    exchange(
        &mut s,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// `POST path` with a body and extra header lines, on a new connection from `from`.
fn post_from(from: Ipv4Addr, addr: SocketAddr, path: &str, headers: &str, body: &str) -> Answer {
    let mut s = connect_from(from, addr);
    exchange(
        &mut s,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn clearkey_request() -> String {
    format!(r#"{{"kids":["{KID_B64}"],"type":"temporary"}}"#)
}

/// Waits for the server to close `s` (EOF or reset) and returns how long that
/// took, or `None` if it is still open after `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            // Whatever the server says before closing (it should say nothing).
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(_) => return Some(t0.elapsed()),
        }
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn stalled_headers_and_silent_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[("KEYWARD_SERVER_HEADER_TIMEOUT_MS", "1000")]);
    let addr = srv.addr;

    // Silent: connects and sends nothing.
    let mut silent = connect(addr);
    // Slowloris: a header line every 200 ms, never the blank line.
    let mut slow = connect(addr);
    slow.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .unwrap();
    let mut writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for i in 0..25 {
            std::thread::sleep(Duration::from_millis(200));
            if writer
                .write_all(format!("x-slow-{i}: a\r\n").as_bytes())
                .is_err()
            {
                return true;
            }
        }
        false
    });
    let silent_after = closed_within(&mut silent, Duration::from_secs(4));
    let slow_after = closed_within(&mut slow, Duration::from_secs(4));
    assert!(
        silent_after.is_some_and(|d| d < Duration::from_millis(2500)),
        "silent connection still open: {silent_after:?}"
    );
    assert!(
        slow_after.is_some(),
        "slowloris connection still open after its headers took seconds: {slow_after:?}"
    );
    assert!(trickle.join().unwrap(), "the trickling writer was cut off");
    // A client that sends its request at once is served as before.
    let a = get_from(Ipv4Addr::LOCALHOST, addr, "/healthz");
    assert_eq!(a.status, 200);
}

#[test]
fn idle_keep_alives_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        dir.path(),
        &[
            ("KEYWARD_SERVER_HEADER_TIMEOUT_MS", "5000"),
            ("KEYWARD_SERVER_IDLE_TIMEOUT_MS", "1500"),
        ],
    );
    let addr = srv.addr;
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    // A busy keep-alive connection stays open past the idle timeout…
    let mut busy = connect(addr);
    for _ in 0..5 {
        assert_eq!(exchange(&mut busy, &req).status, 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(exchange(&mut busy, &req).status, 200);
    // …and is closed once idle for it (not after the 5 s header timeout).
    let after = closed_within(&mut busy, Duration::from_secs(4));
    assert!(
        after.is_some_and(|d| d >= Duration::from_millis(1000) && d < Duration::from_millis(3500)),
        "idle keep-alive: {after:?}"
    );
}

#[test]
fn slow_bodies_from_one_address_do_not_starve_the_others() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let token = pallycon_token();
    // 32 requests in flight at most; 25 % (8) for one address.
    let config = dir.path().join("keyward.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_concurrency = 32\nrequest_timeout_ms = 10000\n",
    )
    .unwrap();
    let srv = Server::start_with(
        dir.path(),
        &[("KEYWARD_SERVER_BODY_TIMEOUT_MS", "4000")],
        Some(&config),
    );
    let addr = srv.addr;
    let flooder = Ipv4Addr::new(127, 0, 0, 2);
    const FLOOD: usize = 48;
    // Headers and 1 byte of a 100-byte body, then nothing.
    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let mut s = connect_from(flooder, addr);
            s.write_all(
                format!(
                    "POST /v2/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
                )
                .as_bytes(),
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Another address keeps being served: /healthz and licences.
    let licence = clearkey_request();
    let t0 = Instant::now();
    let mut probes = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        let h = get_from(Ipv4Addr::LOCALHOST, addr, "/healthz");
        assert_eq!(
            (h.status, h.code()),
            (200, None),
            "healthz during the flood"
        );
        let l = post_from(
            Ipv4Addr::LOCALHOST,
            addr,
            "/v1/license/clearkey",
            &format!("pallycon-customdata-v2: {token}\r\n"),
            &licence,
        );
        assert_eq!(
            (l.status, l.code()),
            (200, None),
            "licence during the flood: {}",
            String::from_utf8_lossy(&l.body)
        );
        assert_eq!(l.json()["keys"][0]["kid"], KID_B64);
        probes += 2;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(probes >= 10, "{probes} probes");
    // The flood itself: its share was let in, and cut off at the body timeout
    // (the handler then finds no API key), the rest refused at once with the
    // coded overload answer.
    let mut refused = 0;
    let mut cut_off = 0;
    for s in &mut flood {
        let a = read_answer(s).unwrap();
        match (a.status, a.code()) {
            (503, Some("7506")) => {
                assert_eq!(a.json()["code"], "7506");
                refused += 1;
            }
            (401, Some("studio_api_key_invalid")) => cut_off += 1,
            other => panic!("unexpected answer to the flood: {other:?}"),
        }
    }
    assert_eq!((cut_off, refused), (8, FLOOD - 8));
    assert!(
        srv.logged("share of requests in flight"),
        "{}",
        srv.log_text()
    );
}

#[test]
fn connection_cap_is_reached_logged_and_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        dir.path(),
        &[
            ("KEYWARD_SERVER_MAX_CONNECTIONS", "8"),
            ("KEYWARD_SERVER_CLIENT_CONNECTION_SHARE_PERCENT", "100"),
            ("KEYWARD_SERVER_IDLE_TIMEOUT_MS", "20000"),
        ],
    );
    let addr = srv.addr;
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(addr);
            assert_eq!(exchange(&mut s, &req).status, 200);
            s
        })
        .collect();
    // The ninth waits in the backlog: no answer while the eight are open.
    let mut ninth = connect(addr);
    ninth.write_all(req.as_bytes()).unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = ninth.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "answered above the cap: {early:?}"
    );
    assert!(srv.logged("connection limit reached"), "{}", srv.log_text());
    // One closes: the ninth is accepted and answered.
    drop(held.pop());
    ninth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let a = read_answer(&mut ninth).unwrap();
    assert_eq!(a.status, 200);
    // The log line is written by a background writer: give it a moment.
    let t0 = Instant::now();
    while !srv.logged("below the connection limit again") {
        assert!(t0.elapsed() < Duration::from_secs(3), "{}", srv.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The others still work.
    assert_eq!(exchange(&mut held[0], &req).status, 200);
}

#[test]
fn one_address_cannot_hold_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        dir.path(),
        &[
            ("KEYWARD_SERVER_MAX_CONNECTIONS", "8"),
            ("KEYWARD_SERVER_CLIENT_CONNECTION_SHARE_PERCENT", "50"),
        ],
    );
    let addr = srv.addr;
    let greedy = Ipv4Addr::new(127, 0, 0, 2);
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let _held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect_from(greedy, addr);
            assert_eq!(exchange(&mut s, &req).status, 200);
            s
        })
        .collect();
    // Its fifth is closed at once; another address is served.
    let mut fifth = connect_from(greedy, addr);
    let _ = fifth.write_all(req.as_bytes());
    assert!(closed_within(&mut fifth, Duration::from_secs(2)).is_some());
    let a = get_from(Ipv4Addr::new(127, 0, 0, 3), addr, "/healthz");
    assert_eq!(a.status, 200);
    assert!(
        srv.logged("holds its share of connections"),
        "{}",
        srv.log_text()
    );
}

#[test]
fn sigterm_with_stalled_clients_exits_cleanly_within_the_drain_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let api_key = provision(dir.path());
    // Timeouts far beyond the drain deadline: only the shutdown may end these.
    let env = [
        ("KEYWARD_SERVER_HEADER_TIMEOUT_MS", "60000"),
        ("KEYWARD_SERVER_BODY_TIMEOUT_MS", "60000"),
        ("KEYWARD_SERVER_SHUTDOWN_DRAIN_MS", "2000"),
    ];
    let mut srv = Server::start(dir.path(), &env);
    let addr = srv.addr;
    let minted = post_from(
        Ipv4Addr::LOCALHOST,
        addr,
        "/v2/token",
        &format!("x-api-key: {api_key}\r\nContent-Type: application/json\r\n"),
        &format!(r#"{{"clientName":"{CLIENT}","policy":{{"content_id":"{CID}"}}}}"#),
    );
    assert_eq!(
        minted.status,
        200,
        "{}",
        String::from_utf8_lossy(&minted.body)
    );
    let studio_token = String::from_utf8(minted.body).unwrap().trim().to_owned();
    // Half-sent headers, and a request whose body never comes.
    let mut half = connect(addr);
    half.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nx-a: b\r\n").as_bytes())
        .unwrap();
    let mut body = connect(addr);
    body.write_all(
        format!("POST /v2/token HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{")
            .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (code, took) = srv.terminate(Duration::from_secs(6));
    assert_eq!(code, Some(0), "after {took:?}:\n{}", srv.log_text());
    assert!(took < Duration::from_millis(4000), "exit took {took:?}");
    assert!(srv.logged("keyward stopped"), "{}", srv.log_text());
    assert!(closed_within(&mut half, Duration::from_secs(1)).is_some());
    drop(srv);

    // The next start finds a clean close: the token minted before the stop
    // still plays (after a crash it would be refused as unverifiable).
    let srv = Server::start(dir.path(), &env);
    let a = post_from(
        Ipv4Addr::LOCALHOST,
        srv.addr,
        "/v1/license/clearkey",
        &format!("x-vudrm-token: {studio_token}\r\n"),
        &clearkey_request(),
    );
    assert_eq!(
        (a.status, a.code()),
        (200, None),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.json()["keys"][0]["kid"], KID_B64);
}

#[test]
fn more_than_100_headers_get_the_coded_7508() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[]);
    let addr = srv.addr;
    let with_headers = |n: usize| {
        // Host and Connection count too.
        let extra: String = (0..n - 2).map(|i| format!("x-h{i}: v\r\n")).collect();
        let mut s = connect(addr);
        exchange(
            &mut s,
            &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    assert_eq!(with_headers(100).status, 200);
    for n in [101, 150, 400] {
        let a = with_headers(n);
        assert_eq!((a.status, a.code()), (431, Some("7508")), "{n} headers");
        assert_eq!(a.json()["code"], "7508");
    }
}

#[test]
fn a_declared_length_over_the_limit_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[]);
    let addr = srv.addr;
    for path in ["/v2/token", "/v1/license/clearkey"] {
        let mut s = connect(addr);
        let t0 = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let a = exchange(
            &mut s,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000000000000\r\n\r\n{{}}"
            ),
        );
        assert_eq!((a.status, a.code()), (413, Some("7505")), "{path}");
        assert_eq!(a.json()["code"], "7505");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "{path}: {:?}",
            t0.elapsed()
        );
    }
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private() {
    let root = tempfile::tempdir().unwrap();
    let check = |dir: &PathBuf, expect: &[&str]| {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            names.push(e.file_name().into_string().unwrap());
            assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        }
        for want in expect {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
    };
    // Made by the CLI.
    let cli_dir = root.path().join("cli/data");
    run_ok(&[
        "site",
        "add",
        "--data-dir",
        cli_dir.to_str().unwrap(),
        "--site-id",
        SITE,
        "--site-key",
        SK,
        "--access-key",
        AK,
    ]);
    check(&cli_dir, &["kek", "keyward.db"]);
    // Made by the server.
    let served = root.path().join("serve/data");
    let mut srv = Server::start(&served, &[]);
    check(
        &served,
        &["kek", "token.key", "keyward.db", "keyward.db.replay.lock"],
    );
    assert_eq!(srv.terminate(Duration::from_secs(10)).0, Some(0));
    check(&served, &["kek", "token.key", "keyward.db"]);
}

/// `kill -9` at any moment of a multi-use token's life never lets it play
/// more than `max_uses` times (ten rounds, the kill landing right after the
/// 1st, 2nd or 3rd use, inside the write-behind window), and a token minted by
/// the restarted process right after its start always plays.
#[test]
fn sigkill_never_lets_a_token_play_more_than_max_uses() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = run_ok(&[
        "client",
        "add",
        "--data-dir",
        d,
        "--name",
        "multi",
        "--site-id",
        SITE,
        "--max-uses",
        "3",
        "--ttl",
        "600",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let key = v["api_key"].as_str().unwrap().to_owned();
    let mint = |addr: SocketAddr| {
        let a = post_from(
            Ipv4Addr::LOCALHOST,
            addr,
            "/v2/token",
            &format!("x-api-key: {key}\r\nContent-Type: application/json\r\n"),
            &format!(r#"{{"clientName":"multi","policy":{{"content_id":"{CID}"}}}}"#),
        );
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        String::from_utf8(a.body).unwrap().trim().to_owned()
    };
    let play = |addr: SocketAddr, token: &str| {
        post_from(
            Ipv4Addr::LOCALHOST,
            addr,
            "/v1/license/clearkey",
            &format!("x-vudrm-token: {token}\r\n"),
            &clearkey_request(),
        )
    };
    let mut srv = Server::start(dir.path(), &[]);
    for round in 0..10 {
        let token = mint(srv.addr);
        let before_kill = round % 3 + 1;
        for _ in 0..before_kill {
            let a = play(srv.addr, &token);
            assert_eq!(a.status, 200, "round {round}: {:?}", a.code());
        }
        // SIGKILL, no chance to write the last decisions.
        srv.child.kill().unwrap();
        srv.child.wait().unwrap();
        srv = Server::start(dir.path(), &[]);
        let mut after = 0;
        for _ in 0..4 {
            let a = play(srv.addr, &token);
            if a.status == 200 {
                after += 1;
            } else {
                assert!(
                    matches!(
                        a.code(),
                        Some("studio_token_unverifiable" | "studio_token_used")
                    ),
                    "round {round}: {} {:?}",
                    a.status,
                    a.code()
                );
            }
        }
        assert!(
            before_kill + after <= 3,
            "round {round}: {before_kill} uses before the kill and {after} after, max_uses 3"
        );
        // The restarted process's own tokens are never fenced.
        let fresh = mint(srv.addr);
        let a = play(srv.addr, &fresh);
        assert_eq!(a.status, 200, "round {round}: fresh token {:?}", a.code());
    }
}
