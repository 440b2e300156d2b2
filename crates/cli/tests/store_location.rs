//! Commands run against a directory without a store do not create one (only
//! `site add` and `customer add` may), and every "not found" says where keyward
//! looked.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::process::Command;

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn keyward(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(dir)
        .env_remove("KEYWARD_DATA_DIR")
        .env_remove("KEYWARD_DATABASE_URL")
        .env("KEYWARD_KEK", KEK)
        .output()
        .unwrap()
}

#[test]
fn read_only_and_site_bound_commands_never_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let kid = "abba271e8bcf552bbd2e86a434a9a5d9";
    for args in [
        vec!["site", "list"],
        vec!["site", "show", "TUTO"],
        vec!["key", "list", "--site-id", "TUTO"],
        vec!["key", "export", "--site-id", "TUTO", "--kid", kid],
        vec![
            "key",
            "add",
            "--site-id",
            "TUTO",
            "--cid",
            "c",
            "--kid",
            kid,
            "--key",
            kid,
        ],
        vec!["client", "list"],
        vec!["customer", "list"],
        vec!["upstream", "list", "--site-id", "TUTO"],
        vec!["site", "fairplay", "list", "--site-id", "TUTO"],
    ] {
        let o = keyward(dir.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("store_not_found"), "{args:?}: {err}");
        assert!(
            err.contains("keyward-data") && err.contains("--data-dir"),
            "{err}"
        );
        assert!(
            !dir.path().join("keyward-data").exists(),
            "{args:?} created a store"
        );
    }
    // `site add` creates it; then "not found" names the data directory.
    let o = keyward(
        dir.path(),
        &["site", "add", "--site-id", "TUTO", "--generate"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = keyward(dir.path(), &["site", "show", "NOPE"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("site_not_found") && err.contains("data directory keyward-data"),
        "{err}"
    );
}

fn serve_fails(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.arg("serve")
        .args(args)
        .current_dir(dir)
        .env_remove("KEYWARD_DATA_DIR")
        .env_remove("KEYWARD_LISTEN")
        .env("KEYWARD_KEK", KEK);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(!o.status.success(), "serve {args:?} started");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn start_up_refusals_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // A port in use: named, with the flag to change it, and nothing created.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let err = serve_fails(dir.path(), &["--listen", &addr, "--data-dir", "fresh"], &[]);
    assert!(err.contains(&addr) && err.contains("--listen"), "{err}");
    assert!(
        !dir.path().join("fresh").exists(),
        "data dir created: {err}"
    );
    // A KEK that is not 32 bytes: the encodings and how to make one.
    let o = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "site",
            "add",
            "--site-id",
            "TUTO",
            "--generate",
            "--data-dir",
        ])
        .arg(dir.path().join("k"))
        .env("KEYWARD_KEK", "abc")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("64 hex digits") && err.contains("openssl rand"),
        "{err}"
    );
    // A wrong KEK: the next step.
    let d = dir.path().join("w");
    let o = keyward(
        dir.path(),
        &[
            "site",
            "add",
            "--site-id",
            "TUTO",
            "--generate",
            "--data-dir",
            d.to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    let o = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["site", "list", "--data-dir", d.to_str().unwrap()])
        .env("KEYWARD_KEK", "ff".repeat(32))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("kek_mismatch") || err.contains("does not match"),
        "{err}"
    );
    assert!(
        err.contains("KEYWARD_KEK") && err.contains("--data-dir"),
        "{err}"
    );
    // A GeoIP database that is not there.
    let err = serve_fails(
        dir.path(),
        &["--listen", "127.0.0.1:0"],
        &[("KEYWARD_GEOIP_DB", "/nonexistent/GeoLite2-City.mmdb")],
    );
    assert!(
        err.contains("/nonexistent/GeoLite2-City.mmdb") && err.contains("KEYWARD_GEOIP_DB"),
        "{err}"
    );
    // A TOML error keeps its lines (the caret under the mistake).
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:8080\"\ncache_ttl_ms = \"soon\"\n",
    )
    .unwrap();
    let err = serve_fails(dir.path(), &["--config", cfg.to_str().unwrap()], &[]);
    assert!(err.lines().count() >= 3 && err.contains('^'), "{err}");
}

#[test]
fn a_second_serve_on_the_same_data_shows_store_locked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let first_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "serve",
            "--listen",
            &first_addr.to_string(),
            "--data-dir",
            d.to_str().unwrap(),
        ])
        .env("KEYWARD_KEK", KEK)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(first_addr).is_err() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(15));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let err = serve_fails(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--data-dir", d.to_str().unwrap()],
        &[],
    );
    let _ = first.kill();
    let _ = first.wait();
    assert!(err.contains("store_locked"), "{err}");
}

#[test]
fn one_access_line_per_licence_request_and_no_colour_in_a_pipe() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut srv = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("d"))
        .env("KEYWARD_KEK", KEK)
        .env("KEYWARD_LOG_FORMAT", "json")
        .env_remove("KEYWARD_LOG")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = srv.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let wait_for = |needle: &str, log: &mut Vec<String>| {
        let t0 = std::time::Instant::now();
        while !log.iter().any(|l: &String| l.contains(needle)) {
            assert!(t0.elapsed() < std::time::Duration::from_secs(15), "{log:?}");
            if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(50)) {
                log.push(l);
            }
        }
    };
    wait_for("keyward listening", &mut log);
    // A licence request without a token.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "POST /ri/clearkey/licenseManager.do HTTP/1.1\r\nHost: {addr}\r\nx-request-id: access-1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("7010"), "{answer}");
    wait_for("access-1", &mut log);
    let _ = srv.kill();
    let _ = srv.wait();
    let line = log.iter().find(|l| l.contains("access-1")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["target"], "keyward::licence", "{line}");
    assert_eq!(v["fields"]["outcome"], "refused", "{line}");
    assert_eq!(v["fields"]["code"], "7010", "{line}");
    assert!(v["fields"]["us"].as_u64().is_some(), "{line}");
    assert!(
        log.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a pipe: {log:?}"
    );
}
