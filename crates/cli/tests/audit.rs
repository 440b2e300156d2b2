//! `keyward audit search|tail`: licence rows written by a running `keyward
//! serve` are found by the CLI on the same data directory while the server
//! runs (and followed as they arrive); filters, pages, `--json` lines and
//! clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KID: &str = "abba271e8bcf552bbd2e86a434a9a5d9";

fn cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.args(args)
        .env("KEYWARD_DATA_DIR", data)
        .env_remove("KEYWARD_DATABASE_URL")
        .env("KEYWARD_KEK", KEK);
    c
}

fn keyward(data: &Path, args: &[&str]) -> Output {
    cmd(data, args).output().unwrap()
}

fn ok(data: &Path, args: &[&str]) -> String {
    let o = keyward(data, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One HTTP/1.1 exchange: (status, body).
fn http(addr: SocketAddr, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("chunked"),
        "chunked answer: {head}"
    );
    (status, rest.to_owned())
}

fn licence(addr: SocketAddr, token: &str, rid: &str) -> u16 {
    use base64::Engine as _;
    let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hex::decode(KID).unwrap());
    http(
        addr,
        "/v1/license/clearkey",
        &format!("x-vudrm-token: {token}\r\nx-request-id: {rid}\r\n"),
        &format!(r#"{{"kids":["{kid}"],"type":"temporary"}}"#),
    )
    .0
}

/// Runs `f` until it answers, for at most 15 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn licence_rows_are_searched_and_followed_while_serve_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    ok(&d, &["site", "add", "--site-id", "TUTO", "--generate"]);
    ok(
        &d,
        &[
            "key",
            "add",
            "--site-id",
            "TUTO",
            "--cid",
            "movie-1",
            "--kid",
            KID,
            "--key",
            KID,
        ],
    );
    let client: Value = serde_json::from_str(&ok(
        &d,
        &["client", "add", "--name", "acme", "--site-id", "TUTO"],
    ))
    .unwrap();
    let api_key = client["api_key"].as_str().unwrap().to_owned();
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut serve = cmd(&d, &["serve", "--listen", &addr.to_string()])
        .env("KEYWARD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("serve listening", || TcpStream::connect(addr).ok());
    let mint = || {
        let (status, token) = http(
            addr,
            "/v2/token",
            &format!("x-api-key: {api_key}\r\ncontent-type: application/json\r\n"),
            r#"{"clientName":"acme","policy":{"content_id":"movie-1"}}"#,
        );
        assert_eq!(status, 200, "{token}");
        token
    };
    let token = mint();
    assert_eq!(licence(addr, &token, "cli-1"), 200);
    let rows = eventually("the first licence row", || {
        let rows = json_lines(&ok(&d, &["audit", "search", "--user", "acme", "--json"]));
        (rows.len() == 1).then_some(rows)
    });
    assert_eq!(rows[0]["request_id"], "cli-1");
    assert_eq!(rows[0]["result"], "ok");
    assert_eq!(rows[0]["cid"], "movie-1");
    assert_eq!(rows[0]["site_id"], "TUTO");
    assert_eq!(rows[0]["kind"], "license");

    // Follow from here, while the server goes on answering.
    let mut tail = cmd(
        &d,
        &[
            "audit",
            "tail",
            "--site-id",
            "TUTO",
            "--follow",
            "--interval-ms",
            "100",
            "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = tail.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(15)).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&first).unwrap()["request_id"],
        "cli-1"
    );
    // The token is single use: the second licence is refused, with a code.
    let refused = licence(addr, &token, "cli-2");
    assert_ne!(refused, 200);
    assert_eq!(licence(addr, &mint(), "cli-3"), 200);
    let mut followed = Vec::new();
    while followed.len() < 2 {
        let l = rx.recv_timeout(Duration::from_secs(15)).unwrap();
        followed.push(serde_json::from_str::<Value>(&l).unwrap());
    }
    assert_eq!(followed[0]["request_id"], "cli-2");
    assert_ne!(followed[0]["result"], "ok");
    assert_eq!(followed[1]["request_id"], "cli-3");
    assert_eq!(followed[1]["result"], "ok");
    // Ctrl-C ends it cleanly.
    let int = Command::new("kill")
        .args(["-INT", &tail.id().to_string()])
        .status()
        .unwrap();
    assert!(int.success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = tail.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "tail ignored SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    tail.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");

    // Searches, still while serve runs: newest first, by code, as a table.
    let rows = json_lines(&ok(&d, &["audit", "search", "--user", "acme", "--json"]));
    let rids: Vec<&str> = rows
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(rids, ["cli-3", "cli-2", "cli-1"]);
    let code = rows[1]["result"].as_str().unwrap().to_owned();
    let by_code = json_lines(&ok(&d, &["audit", "search", "--code", &code, "--json"]));
    assert_eq!(by_code.len(), 1);
    assert_eq!(by_code[0]["request_id"], "cli-2");
    let table = ok(
        &d,
        &[
            "audit",
            "search",
            "--site-id",
            "TUTO",
            "--code",
            "ok",
            "--since",
            "1h",
        ],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for h in ["TIME", "SITE", "KIND", "CID", "USER", "RESULT", "REQUEST"] {
        assert!(lines[0].contains(h), "{table}");
    }
    for (line, rid) in lines[1..].iter().zip(["cli-3", "cli-1"]) {
        for v in ["TUTO", "license", "movie-1", "acme", "ok", rid] {
            assert!(line.contains(v), "{v} missing: {line}");
        }
    }
    assert!(ok(
        &d,
        &[
            "audit",
            "search",
            "--since",
            "2100-01-01T00:00:00Z",
            "--json"
        ]
    )
    .is_empty());
    let _ = serve.kill();
    let _ = serve.wait();
}

/// Rows written through the store: pages with --before, each filter, the
/// footer that names the cursor, escaped control characters, clear errors.
#[test]
fn search_pages_filters_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    ok(&d, &["site", "add", "--site-id", "TUTO", "--generate"]);
    let t0: i64 = 1_714_521_600_000; // 2024-05-01T00:00:00Z
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use keyward_store::AuditStore as _;
        let kek = keyward_store::Kek::from_hex_or_base64(KEK).unwrap();
        let store = keyward_store::SqliteStore::open(&d, kek).await.unwrap();
        for i in 0..30i64 {
            let mut e = keyward_store::AuditEvent::new(
                if i % 10 == 9 { "upstream" } else { "license" },
                if i % 4 == 0 { "7011" } else { "ok" },
            );
            e.at_unix_ms = t0 + i * 60_000;
            e.site_id = Some(keyward_store::SiteId::parse("TUTO").unwrap());
            e.user = Some(if i == 29 {
                "evil\u{1b}[2J".to_owned()
            } else {
                format!("user-{}", i % 3)
            });
            e.cid = Some(format!("movie-{}", i % 2));
            e.request_id = Some(format!("r-{i}"));
            store.record(e).await.unwrap();
        }
        store.close().await;
    });
    let rid = |v: &Value| v["request_id"].as_str().unwrap().to_owned();

    // Pages of 12: 12, 12, 6, newest first, each row once.
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut args = vec!["audit", "search", "--limit", "12", "--json"];
        if let Some(b) = &before {
            args.extend(["--before", b]);
        }
        let o = keyward(&d, &args);
        assert!(o.status.success());
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let rows = json_lines(&String::from_utf8(o.stdout).unwrap());
        seen.extend(rows.iter().map(rid));
        if rows.len() < 12 {
            break;
        }
        before = Some(rows.last().unwrap()["id"].to_string());
    }
    let all: Vec<String> = (0..30).rev().map(|i| format!("r-{i}")).collect();
    assert_eq!(seen, all);
    // The table's footer names the cursor.
    let o = keyward(&d, &["audit", "search", "--limit", "5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("more rows: add --before "), "{err}");

    // Filters.
    let found = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["audit", "search", "--json", "--limit", "1000"];
        a.extend(args);
        json_lines(&ok(&d, &a)).iter().map(rid).collect()
    };
    let want = |f: &dyn Fn(i64) -> bool| -> Vec<String> {
        (0..30)
            .rev()
            .filter(|i| f(*i))
            .map(|i| format!("r-{i}"))
            .collect()
    };
    assert_eq!(
        found(&["--user", "user-1"]),
        want(&|i| i % 3 == 1 && i != 29)
    );
    assert_eq!(found(&["--cid", "movie-0"]), want(&|i| i % 2 == 0));
    assert_eq!(found(&["--code", "7011"]), want(&|i| i % 4 == 0));
    assert_eq!(found(&["--kind", "upstream"]), want(&|i| i % 10 == 9));
    assert_eq!(found(&["--site-id", "ABCD"]), Vec::<String>::new());
    // since inclusive, until exclusive; RFC 3339 with an offset, unix seconds.
    assert_eq!(found(&["--until", "1714521600"]), Vec::<String>::new());
    assert_eq!(
        found(&["--since", "2024-05-01T00:10:00Z"]),
        want(&|i| i >= 10)
    );
    assert_eq!(
        found(&[
            "--since",
            "2024-05-01T09:10:00+09:00",
            "--until",
            "1714522260"
        ]),
        want(&|i| i == 10)
    );
    assert_eq!(
        found(&["--user", "user-0", "--cid", "movie-0", "--code", "7011"]),
        want(&|i| i % 3 == 0 && i % 2 == 0 && i % 4 == 0)
    );

    // A user id with control characters is escaped in the table, exact in JSON.
    let table = ok(&d, &["audit", "search", "--limit", "1"]);
    assert!(!table.contains('\u{1b}'), "{table:?}");
    assert!(table.contains("evil\\u{1b}[2J"), "{table}");
    let line = &json_lines(&ok(&d, &["audit", "search", "--limit", "1", "--json"]))[0];
    assert_eq!(line["user"], "evil\u{1b}[2J");

    // tail: the newest rows, oldest of them first.
    let tail = json_lines(&ok(&d, &["audit", "tail", "--limit", "3", "--json"]));
    let rids: Vec<String> = tail.iter().map(rid).collect();
    assert_eq!(rids, ["r-27", "r-28", "r-29"]);

    // Errors: one JSON line on stderr, exit 2, naming the flag.
    for (args, code, names) in [
        (vec!["--since", "yesterday"], "invalid_input", "--since"),
        (
            vec!["--until", "2024-13-01T00:00:00Z"],
            "invalid_input",
            "--until",
        ),
        (vec!["--limit", "0"], "invalid_input", "limit"),
        (vec!["--limit", "1001"], "invalid_input", "limit"),
        (vec!["--before", "999999"], "invalid_input", "before"),
        (vec!["--site-id", "tuto"], "invalid_site_id", "site id"),
        (
            vec!["--since", "1714522260", "--until", "1714521600"],
            "invalid_input",
            "until",
        ),
    ] {
        let mut a = vec!["audit", "search"];
        a.extend(&args);
        let o = keyward(&d, &a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        let err: Value = serde_json::from_slice(&o.stderr).unwrap();
        assert_eq!(err["error_code"], code, "{args:?}: {err}");
        assert!(
            err["error_message"].as_str().unwrap().contains(names),
            "{args:?}: {err}"
        );
    }
    // A bad --since is refused before any store is looked for.
    let empty = dir.path().join("nothing-here");
    let o = keyward(&empty, &["audit", "tail", "--since", "soon"]);
    let err: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(err["error_code"], "invalid_input");
    // No store: not created, and the message says where keyward looked.
    let o = keyward(&empty, &["audit", "search"]);
    let err: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(err["error_code"], "store_not_found");
    assert!(!empty.exists());
}
