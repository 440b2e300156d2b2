//! FairPlay with the real binary: `keyward site fairplay add|list|remove` with
//! Apple's SDK development credentials (an encrypted key and its passphrase
//! file), `keyward serve` with the example D function co-process, licences
//! over TCP checked by reading the CKC back, the co-process killed under the
//! server and restarted, start-up refusals for a D function that cannot run,
//! and `keyward upstream add|list|show|test|remove` against a loopback KSM.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "support/proc.rs"]
mod proc;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use proc::{free_port, Proc};

use keyward_drm::fairplay::{OpenedSpc, Spc, SpcKey, SDK_TEST_DASK};
use keyward_token::{DrmType, PlaybackPolicy, Policy, SiteCredentials, Timestamp, TokenBuilder};

const SK: &str = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
const AK: &str = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20";
const SITE: &str = "FPST";
const KEY_HEX: &str = "0123456789abcdef0123456789abcdef";
const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn fix(rel: &str) -> PathBuf {
    repo("testdata/fixtures/fairplay-ksm").join(rel)
}

fn keyward(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.args(args)
        .env_remove("KEYWARD_DATA_DIR")
        .env_remove("KEYWARD_LISTEN")
        .env_remove("KEYWARD_FAIRPLAY_DASK")
        .env_remove("KEYWARD_FAIRPLAY_DASK_COMMAND")
        .env_remove("KEYWARD_LOG")
        .env("KEYWARD_KEK", KEK)
        .env("KEYWARD_LOG_FORMAT", "human");
    c
}

fn run(args: &[&str]) -> Output {
    keyward(args).stdin(Stdio::null()).output().unwrap()
}

fn run_ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn provision(dir: &Path) {
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
        "one",
        "--kid",
        "1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d",
        "--key",
        KEY_HEX,
    ]);
}

fn token() -> String {
    let creds = SiteCredentials::new(SITE, SK.as_bytes(), AK.as_bytes()).unwrap();
    TokenBuilder::new()
        .drm_type(DrmType::FairPlay)
        .user_id("u1")
        .cid("one")
        .policy(&Policy::new().playback(PlaybackPolicy::default().persistent(false)))
        .timestamp(Timestamp::now())
        .mint(&creds)
        .unwrap()
        .token
}

struct Server {
    proc: Proc,
    addr: SocketAddr,
}

/// `keyward serve` on `dir`, once it listens; `Err(its log)` when it exits
/// at start.
fn serve(dir: &Path, env: &[(&str, &str)]) -> Result<Server, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = keyward(&[
        "serve",
        "--listen",
        &addr.to_string(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::try_serve(cmd, Duration::from_secs(15))
        .map(|proc| Server { proc, addr })
        .map_err(|(_, log)| log)
}

/// POST over a fresh connection: (status, body).
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 2 + n + 2..];
        }
        body = out;
    }
    (status, body)
}

fn content_key_of(spc: &[u8], ckc: &[u8]) -> String {
    let key = SpcKey::parse(
        &std::fs::read(fix("Development Credentials/dev_private_key.pem")).unwrap(),
        None,
    )
    .unwrap();
    let s = OpenedSpc::open(&Spc::parse(spc).unwrap(), &key)
        .unwrap()
        .unlock(&SDK_TEST_DASK)
        .unwrap();
    let c = s.read_ckc(ckc).unwrap();
    c.content_key.iter().map(|b| format!("{b:02x}")).collect()
}

fn add_credential(d: &str) -> String {
    let derived = repo("testdata/fairplay-derived");
    run_ok(&[
        "site",
        "fairplay",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--cert",
        fix("Development Credentials/dev_certificate.der")
            .to_str()
            .unwrap(),
        "--key",
        derived.join("dev_key_encrypted.pem").to_str().unwrap(),
        "--key-passphrase-file",
        derived.join("passphrase.txt").to_str().unwrap(),
        "--ask-file",
        derived.join("sdk_test_ask.txt").to_str().unwrap(),
        "--label",
        "dev",
    ])
}

#[test]
fn credentials_then_licences_through_the_co_process_which_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    provision(dir.path());
    let out = add_credential(d);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cert_hash"], "5561980aa51f03aa04bca24556c841a71736c771");
    assert_eq!(v["subject"], "C=US,O=Partner2,OU=Partner2,CN=Partner2");
    assert!(
        !out.contains("PRIVATE") && !out.contains("d87ce7a2"),
        "{out}"
    );
    let list = run_ok(&[
        "site",
        "fairplay",
        "list",
        "--data-dir",
        d,
        "--site-id",
        SITE,
    ]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("\"label\":\"dev\""), "{list}");
    // Adding it again: exists, exit 2.
    let again = run(&[
        "site",
        "fairplay",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--cert",
        fix("Development Credentials/dev_certificate.der")
            .to_str()
            .unwrap(),
        "--key",
        fix("Development Credentials/dev_private_key.pem")
            .to_str()
            .unwrap(),
        "--ask-file",
        repo("testdata/fairplay-derived/sdk_test_ask.txt")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("fairplay_credential_exists"));
    // A wrong passphrase: invalid_input naming the problem, exit 2.
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "nope\n").unwrap();
    let bad = run(&[
        "site",
        "fairplay",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--cert",
        fix("Development Credentials/dev_certificate.der")
            .to_str()
            .unwrap(),
        "--key",
        repo("testdata/fairplay-derived/dev_key_encrypted.pem")
            .to_str()
            .unwrap(),
        "--key-passphrase-file",
        wrong.path().to_str().unwrap(),
        "--ask-file",
        repo("testdata/fairplay-derived/sdk_test_ask.txt")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("passphrase does not open the key"));

    let example = repo("examples/fairplay-dask/sdk-test-dask.sh");
    let srv = serve(
        dir.path(),
        &[
            ("KEYWARD_FAIRPLAY_DASK", "command"),
            ("KEYWARD_FAIRPLAY_DASK_COMMAND", example.to_str().unwrap()),
            ("KEYWARD_FAIRPLAY_DASK_PROCESSES", "1"),
        ],
    )
    .unwrap();
    let spc = std::fs::read(fix("FPS/spc2.bin")).unwrap();
    let tok = token();
    let auth = format!("Bearer {tok}");
    let licence = || {
        post(
            srv.addr,
            "/v1/license/fairplay",
            &[("Authorization", &auth)],
            &spc,
        )
    };
    let (status, body) = licence();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_key_of(&spc, &body), KEY_HEX);

    // Kill the co-process under the server: the server restarts it.
    let pids = Command::new("pgrep")
        .args(["-P", &srv.proc.child.id().to_string()])
        .output()
        .unwrap();
    let pids = String::from_utf8(pids.stdout).unwrap();
    assert!(!pids.trim().is_empty(), "no co-process under keyward");
    for pid in pids.split_whitespace() {
        Command::new("kill").args(["-9", pid]).status().unwrap();
    }
    let t0 = Instant::now();
    let mut statuses = Vec::new();
    loop {
        let (status, body) = licence();
        statuses.push(status);
        if status == 200 {
            assert_eq!(content_key_of(&spc, &body), KEY_HEX);
            break;
        }
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("7321"));
        assert!(t0.elapsed() < Duration::from_secs(5), "{statuses:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(srv);

    // Remove the credential: the site has no FairPlay service any more.
    run_ok(&[
        "site",
        "fairplay",
        "remove",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--cert-hash",
        "5561980aa51f03aa04bca24556c841a71736c771",
    ]);
    assert_eq!(
        run_ok(&[
            "site",
            "fairplay",
            "list",
            "--data-dir",
            d,
            "--site-id",
            SITE
        ]),
        ""
    );
}

#[test]
fn a_d_function_that_cannot_run_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let err = serve(
        dir.path(),
        &[
            ("KEYWARD_FAIRPLAY_DASK", "command"),
            ("KEYWARD_FAIRPLAY_DASK_COMMAND", "/nonexistent/d-function"),
        ],
    )
    .err()
    .unwrap();
    assert!(
        err.contains("KEYWARD_FAIRPLAY_DASK_COMMAND") && err.contains("/nonexistent/d-function"),
        "{err}"
    );
    // A file that is not executable: refused at start, named.
    let not_exec = dir.path().join("d-function.txt");
    std::fs::write(&not_exec, "not a program").unwrap();
    let err = serve(
        dir.path(),
        &[
            ("KEYWARD_FAIRPLAY_DASK", "command"),
            ("KEYWARD_FAIRPLAY_DASK_COMMAND", not_exec.to_str().unwrap()),
        ],
    )
    .err()
    .unwrap();
    assert!(
        err.contains("cannot start") && err.contains("d-function.txt"),
        "{err}"
    );
    // sdk-test is announced as development-only.
    let srv = serve(dir.path(), &[("KEYWARD_FAIRPLAY_DASK", "sdk-test")]).unwrap();
    assert!(
        srv.proc.logged("DEVELOPMENT ONLY"),
        "{}",
        srv.proc.log_text()
    );
}

#[test]
fn upstream_commands_add_list_show_test_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    provision(dir.path());
    // A loopback "KSM" that refuses everything with 400 and a short body.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ksm = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\nConnection: close\r\n\r\nbad spc!\n");
        }
    });
    let secret = dir.path().join("auth.txt");
    std::fs::write(&secret, "Bearer upstream-secret-xyz\n").unwrap();
    let url = format!("http://{ksm}/fps");
    let out = run_ok(&[
        "upstream",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--drm",
        "fairplay",
        "--kind",
        "fairplay-ksm",
        "--name",
        "ksm-a",
        "--url",
        &url,
        "--envelope",
        "form",
        "--header",
        "X-Tenant: acme",
        "--secret-header-file",
        &format!("Authorization={}", secret.display()),
        "--timeout-ms",
        "2000",
    ]);
    assert!(!out.contains("upstream-secret-xyz"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["secret_names"], serde_json::json!(["Authorization"]));
    assert_eq!(v["settings"]["envelope"], "form");
    let list = run_ok(&[
        "upstream",
        "list",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--drm",
        "fairplay",
    ]);
    assert_eq!(list.lines().count(), 1);
    assert!(!list.contains("upstream-secret-xyz"));
    let show = run_ok(&[
        "upstream",
        "show",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--name",
        "ksm-a",
    ]);
    assert!(
        show.contains("X-Tenant") && !show.contains("upstream-secret-xyz"),
        "{show}"
    );
    let test = run_ok(&[
        "upstream",
        "test",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--name",
        "ksm-a",
    ]);
    assert!(
        test.contains("answered HTTP 400") && test.contains("bad spc!"),
        "{test}"
    );
    assert!(!test.contains("upstream-secret-xyz"), "{test}");
    // Bad input: an unknown kind, a wrong DRM.
    for (args, word) in [
        (
            vec!["--kind", "no-such-kind", "--drm", "fairplay"],
            "unknown upstream kind",
        ),
        (
            vec!["--kind", "widevine-cloud", "--drm", "fairplay"],
            "serves Widevine",
        ),
        (
            vec!["--kind", "fairplay-ksm", "--drm", "widevine"],
            "serves FairPlay",
        ),
    ] {
        let mut a = vec![
            "upstream",
            "add",
            "--data-dir",
            d,
            "--site-id",
            SITE,
            "--name",
            "x",
            "--url",
            &url,
        ];
        a.extend(args);
        let o = run(&a);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(word),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // An upstream that does not answer: exit 1 with the reason.
    run_ok(&[
        "upstream",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--drm",
        "fairplay",
        "--kind",
        "fairplay-ksm",
        "--name",
        "dead",
        "--url",
        &format!("http://127.0.0.1:{}/x", free_port()),
    ]);
    let o = run(&[
        "upstream",
        "test",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--name",
        "dead",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did not answer"));
    run_ok(&[
        "upstream",
        "remove",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--name",
        "ksm-a",
    ]);
    let o = run(&[
        "upstream",
        "remove",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--name",
        "ksm-a",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("upstream_not_found"));
}

#[test]
fn widevine_cloud_upstream_with_settings_and_signing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    provision(dir.path());
    // A loopback "licence service" that keeps the raw request and answers a
    // certificate in its JSON.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let svc = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body (its Content-Length).
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= i + 4 + len {
                        break;
                    }
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&got).to_string());
            let body = r#"{"status":"OK","license":"CAUSBGNlcnQ="}"#;
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
            );
        }
    });
    let key_hex = "1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9";
    let iv_hex = "d58ce954203b7c9a9a9d467f59839249";
    let key_file = dir.path().join("wv-key.hex");
    let iv_file = dir.path().join("wv-iv.hex");
    std::fs::write(&key_file, format!("{key_hex}\n")).unwrap();
    std::fs::write(&iv_file, iv_hex).unwrap();
    let url = format!("http://{svc}/cenc/getlicense/widevine_test");
    let add = |extra: &[&str]| {
        let mut a = vec![
            "upstream",
            "add",
            "--data-dir",
            d,
            "--site-id",
            SITE,
            "--drm",
            "widevine",
            "--kind",
            "widevine-cloud",
            "--url",
            &url,
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let key_arg = format!("signing_key={}", key_file.display());
    let iv_arg = format!("signing_iv={}", iv_file.display());
    // Without the provider, or without a signing secret: refused, exit 2.
    for (extra, word) in [
        (
            vec![
                "--name",
                "g",
                "--secret-header-file",
                &key_arg,
                "--secret-header-file",
                &iv_arg,
            ],
            "provider",
        ),
        (
            vec![
                "--name",
                "g",
                "--setting",
                "provider=widevine_test",
                "--secret-header-file",
                &key_arg,
            ],
            "signing_iv",
        ),
        (
            vec![
                "--name",
                "g",
                "--setting",
                "provider=widevine_test",
                "--setting",
                "nope=1",
                "--secret-header-file",
                &key_arg,
                "--secret-header-file",
                &iv_arg,
            ],
            "nope",
        ),
    ] {
        let o = add(&extra);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(word), "{word}: {err}");
    }
    let o = add(&[
        "--name",
        "google",
        "--setting",
        "provider=widevine_test",
        "--setting",
        r#"session_init={"purchase_id":"p-1"}"#,
        "--secret-header-file",
        &key_arg,
        "--secret-header-file",
        &iv_arg,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.contains(key_hex) && !out.contains(iv_hex), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "widevine-cloud");
    assert_eq!(v["settings"]["provider"], "widevine_test");
    assert_eq!(v["settings"]["session_init"]["purchase_id"], "p-1");
    assert_eq!(
        v["secret_names"],
        serde_json::json!(["signing_iv", "signing_key"])
    );
    // `upstream test` sends the signed service certificate request; the
    // signing secrets are not headers, and nowhere in what is printed.
    let test = run_ok(&[
        "upstream",
        "test",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--name",
        "google",
    ]);
    assert!(test.contains("answered HTTP 200"), "{test}");
    assert!(!test.contains(key_hex) && !test.contains(iv_hex), "{test}");
    let req = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let lower = req.to_ascii_lowercase();
    assert!(
        !lower.contains("signing_key") && !lower.contains("signing_iv"),
        "{req}"
    );
    assert!(!lower.contains(key_hex) && !lower.contains(iv_hex), "{req}");
    assert!(req.contains(r#""signer":"widevine_test""#), "{req}");
}
