//! A real Prometheus (Debian's `prometheus` package) scrapes a real
//! `keyward serve` on its separate metrics listener (`KEYWARD_METRICS_LISTEN`),
//! every second, and its HTTP API (`/api/v1/query`) then holds the exact
//! counts of the licences and refusals the test sent.
//!
//! Everything is on loopback with free ports and temporary directories:
//! Prometheus's own `--web.listen-address`, `--storage.tsdb.path` and
//! `--config.file` (never the system service's port 9090 or its data).
//!
//! Without a `prometheus` binary (on `PATH`, or `KEYWARD_PROMETHEUS_BIN`) the
//! test is skipped with a loud message, unless `KEYWARD_REQUIRE_PROMETHEUS`
//! is set (as `scripts/test.sh` does), when it fails.
//!
//! The same real `keyward serve` helpers drive `keyward explain` (the decision
//! debugger's CLI) in `explain_tells_why_a_request_was_refused`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "support/proc.rs"]
mod proc;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
const LICENCE: &str = "/ri/clearkey/licenseManager.do";

fn keyward(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.args(args);
    for v in [
        "KEYWARD_SITE_KEY",
        "KEYWARD_ACCESS_KEY",
        "KEYWARD_KEK",
        "KEYWARD_KEK_FILE",
        "KEYWARD_DATA_DIR",
        "KEYWARD_LISTEN",
        "KEYWARD_TOKEN_KEY",
        "KEYWARD_TOKEN_KEY_FILE",
        "KEYWARD_LOG",
        "KEYWARD_METRICS_ENABLED",
        "KEYWARD_METRICS_LISTEN",
    ] {
        c.env_remove(v);
    }
    c.env("KEYWARD_LOG_FORMAT", "human");
    c
}

fn run_ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut child = keyward(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// A ClearKey token for `CID`, for `site` (a site that may not exist).
fn token(site: &str) -> String {
    run_ok(
        &[
            "token",
            "issue",
            "--site-id",
            site,
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--drm-type",
            "ClearKey",
            "--user-id",
            "viewer",
            "--cid",
            CID,
            "--policy",
            "-",
        ],
        Some(br#"{"policy_version":2,"playback_policy":{"persistent":false}}"#),
    )
}

/// One HTTP/1.1 exchange on a new connection: (status, headers, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    Ok((status, head.to_owned(), body))
}

fn licence(addr: SocketAddr, token: Option<&str>) -> (u16, String, String) {
    let h = token.map_or(String::new(), |t| {
        format!("pallycon-customdata-v2: {t}\r\n")
    });
    http(
        addr,
        "POST",
        LICENCE,
        &h,
        &format!(r#"{{"kids":["{KID_B64}"],"type":"temporary"}}"#),
    )
    .unwrap()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query: every (labels, value) of the resulting vector.
fn query(prom: SocketAddr, q: &str) -> Vec<(serde_json::Value, f64)> {
    let (status, _, body) = http(
        prom,
        "GET",
        &format!("/api/v1/query?query={}", percent_encode(q)),
        "",
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "query {q}: {body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["status"], "success", "{body}");
    assert_eq!(j["data"]["resultType"], "vector", "{body}");
    j["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"].clone(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// The single value of a query (panics unless exactly one series answers).
fn one(prom: SocketAddr, q: &str) -> f64 {
    let r = query(prom, q);
    assert_eq!(r.len(), 1, "{q}: {r:?}");
    r[0].1
}

/// Waits until `q` has the single value `want` (Prometheus scrapes every
/// second); the last answer in the panic message otherwise.
fn wait_for(prom: SocketAddr, q: &str, want: f64, p: &Proc) {
    let t0 = Instant::now();
    loop {
        let r = query(prom, q);
        if r.len() == 1 && r[0].1 == want {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{q}: want {want}, Prometheus has {r:?}\nPrometheus log:\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `prometheus` binary: `KEYWARD_PROMETHEUS_BIN`, or on `PATH`.
fn prometheus_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEYWARD_PROMETHEUS_BIN") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
}

fn provision(dir: &Path) {
    let d = dir.to_str().unwrap();
    run_ok(
        &[
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
        ],
        None,
    );
    run_ok(
        &[
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
        ],
        None,
    );
}

#[test]
fn a_real_prometheus_scrapes_licences_and_refusals() {
    let Some(prom_bin) = prometheus_bin() else {
        if std::env::var_os("KEYWARD_REQUIRE_PROMETHEUS").is_some() {
            panic!(
                "KEYWARD_REQUIRE_PROMETHEUS is set but no prometheus binary was found on PATH \
                 (install Debian's prometheus package: bash scripts/install-test-deps.sh)"
            );
        }
        // Straight to stderr: the test harness would swallow eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "\n######## SKIPPED: a_real_prometheus_scrapes_licences_and_refusals ########\n\
             no `prometheus` binary on PATH (apt-get install prometheus, or set \
             KEYWARD_PROMETHEUS_BIN); set KEYWARD_REQUIRE_PROMETHEUS=1 to make this a failure\n\
             ##########################################################################\n"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    provision(&data);
    let good = token(SITE);
    let stranger = token("ZZZZ");

    // keyward, with /metrics on a listener of its own.
    let main = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = keyward(&[
        "serve",
        "--listen",
        &main.to_string(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    cmd.env("KEYWARD_METRICS_LISTEN", metrics.to_string());
    let kw = Proc::serve(cmd, Duration::from_secs(15));
    assert!(kw.logged("metrics listening"), "{}", kw.log_text());
    // /metrics is on the metrics listener only, which serves nothing else.
    assert_eq!(http(main, "GET", "/metrics", "", "").unwrap().0, 404);
    assert_eq!(http(metrics, "GET", "/healthz", "", "").unwrap().0, 404);
    let (status, head, _) = http(metrics, "GET", "/metrics", "", "").unwrap();
    assert_eq!(status, 200);
    assert!(header(&head, "content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));

    // Before Prometheus starts: two licences, one refusal.
    for _ in 0..2 {
        let (s, _, body) = licence(main, Some(&good));
        assert_eq!(s, 200, "{body}");
        assert!(body.contains("\"keys\""), "{body}");
    }
    let (_, head, _) = licence(main, None);
    assert_eq!(header(&head, "x-keyward-error-code"), Some("7010"));

    // Prometheus: its own port, data and configuration; a 1 s scrape.
    let prom = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: keyward\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&prom_bin);
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom}"))
        .arg("--log.level=warn")
        .current_dir(tmp.path());
    let p = Proc::spawn(cmd);
    let t0 = Instant::now();
    loop {
        if let Ok((200, _, _)) = http(prom, "GET", "/-/ready", "", "") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "Prometheus not ready after 30 s:\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(prom, r#"up{job="keyward"}"#, 1.0, &p);
    wait_for(
        prom,
        r#"sum(keyward_licences_total{outcome="granted"})"#,
        2.0,
        &p,
    );

    // After the first scrapes: one more licence, one more missing token, and
    // a token for a site that does not exist.
    assert_eq!(licence(main, Some(&good)).0, 200);
    let (_, head, _) = licence(main, None);
    assert_eq!(header(&head, "x-keyward-error-code"), Some("7010"));
    let (_, head, _) = licence(main, Some(&stranger));
    let stranger_code = header(&head, "x-keyward-error-code").unwrap().to_owned();
    wait_for(prom, "sum(keyward_licences_total)", 6.0, &p);

    // Exact values, by label.
    assert_eq!(
        one(
            prom,
            r#"keyward_licences_total{job="keyward",front_door="pallycon",drm="ClearKey",back_door="clearkey",site="TEST",outcome="granted",code="ok"}"#
        ),
        3.0
    );
    assert_eq!(
        one(
            prom,
            r#"keyward_licences_total{front_door="none",site="unknown",outcome="refused",code="7010"}"#
        ),
        2.0
    );
    assert_eq!(
        one(
            prom,
            &format!(
                r#"keyward_licences_total{{front_door="pallycon",site="unknown",code="{stranger_code}"}}"#
            )
        ),
        1.0
    );
    assert_eq!(one(prom, "count(keyward_licences_total)"), 3.0);
    assert_eq!(
        query(prom, r#"keyward_licences_total{site="ZZZZ"}"#).len(),
        0,
        "a site nobody configured is never a label value"
    );
    assert_eq!(
        one(
            prom,
            r#"keyward_stage_duration_seconds_count{stage="back_door",drm="ClearKey"}"#
        ),
        3.0
    );
    assert_eq!(
        one(
            prom,
            r#"keyward_stage_duration_seconds_count{stage="front_door",drm="ClearKey"}"#
        ),
        4.0
    );
    assert_eq!(
        one(
            prom,
            r#"keyward_licence_duration_seconds_bucket{drm="ClearKey",outcome="granted",le="+Inf"}"#
        ),
        3.0
    );
    // One site look-up per credential (hit or miss: the cache lives 2 s).
    assert_eq!(
        one(prom, r#"sum(keyward_cache_lookups_total{cache="sites"})"#),
        4.0
    );
    let build = query(prom, "keyward_build_info");
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(build[0].0["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build[0].1, 1.0);
    // PromQL over the histograms works (the value depends on the machine).
    let p50 = query(
        prom,
        r#"histogram_quantile(0.5, sum by (le) (keyward_licence_duration_seconds_bucket{outcome="granted"}))"#,
    );
    assert!(
        p50.len() == 1 && p50[0].1 > 0.0 && p50[0].1 <= 10.0,
        "{p50:?}"
    );
    drop(p);
    drop(kw);
}

/// `keyward explain` against a real `keyward serve`: the request id of an answer
/// leads to its decision record, told in words, and `--json` gives the record.
#[test]
fn explain_tells_why_a_request_was_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    provision(&data);
    let main = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = keyward(&[
        "serve",
        "--listen",
        &main.to_string(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    cmd.env("KEYWARD_ADMIN_TOKEN", "explain-admin-token-0123456789");
    let _kw = Proc::serve(cmd, Duration::from_secs(20));
    let (status, head, _) = licence(main, None);
    assert_eq!(status, 200, "PallyCon paths answer refusals with 200");
    let rid = header(&head, "x-request-id").unwrap().to_owned();
    let url = format!("http://{main}");
    let out = keyward(&[
        "explain",
        &rid,
        "--url",
        &url,
        "--admin-token",
        "explain-admin-token-0123456789",
    ])
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("request {rid}")), "{text}");
    assert!(text.contains("REFUSED 7010 at front_door"), "{text}");
    assert!(text.contains("why: "), "{text}");
    assert!(text.contains("credential: not verified"), "{text}");
    let good = token(SITE);
    let (status, head, _) = licence(main, Some(&good));
    assert_eq!(status, 200);
    let rid = header(&head, "x-request-id").unwrap().to_owned();
    let out = keyward(&["explain", &rid, "--url", &url, "--json"])
        .env("KEYWARD_ADMIN_TOKEN", "explain-admin-token-0123456789")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "granted");
    assert_eq!(v["credential"]["cid"], CID);
    // Wrong token, unknown id: the server's code, exit 2.
    let out = keyward(&["explain", &rid, "--url", &url, "--admin-token", "wrong"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"));
    let out = keyward(&[
        "explain",
        "no-such-request",
        "--url",
        &url,
        "--admin-token",
        "explain-admin-token-0123456789",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("decision_not_found"));
    // A dry run of a pasted token: which rule would refuse it, and nothing used up.
    let dry = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--token",
            &good,
            "--url",
            &url,
            "--admin-token",
            "explain-admin-token-0123456789",
            "--drm",
            "clearkey",
        ];
        args.extend_from_slice(extra);
        let out = keyward(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = dry(&[]);
    assert!(text.contains("dry run: PASSES"), "{text}");
    assert!(text.contains("single_use: not_applicable"), "{text}");
    let text = dry(&["--cid", "not-this-one"]);
    assert!(
        text.contains("dry run: REFUSED 7012 at gatekeeper"),
        "{text}"
    );
}
