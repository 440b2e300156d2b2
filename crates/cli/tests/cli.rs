//! The `keyward` binary as a user runs it: exact outputs, exit codes and the
//! one-line JSON errors.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const SK: &str = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
const AK: &str = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20";
const SEED_TOKEN: &str = "eyJkcm1fdHlwZSI6IldpZGV2aW5lIiwic2l0ZV9pZCI6IlRVVE8iLCJ1c2VyX2lkIjoidGVzdC11c2VyIiwiY2lkIjoiYmlnYnVja2J1bm55IiwicG9saWN5Ijoic1g3REVNWjFTMnhhTW9JdDc2bSt5RHd5bFpSVkoyR3pzMkkxYjArbXpMMFg5RmNKNDNhQWxvcUk1bm9HMml5QzU3QWFnUGwyalk5bXhDTC9XcU5hYlE9PSIsInRpbWVzdGFtcCI6IjIwMjEtMTEtMTFUMDc6Mjg6NDFaIiwiaGFzaCI6Im82ZEQxcUpiZHJRdlU4NkpVeFppS2Y4V0JvMEJINm9jK2tOOENWTmsyck09IiwicmVzcG9uc2VfZm9ybWF0Ijoib3JpZ2luYWwiLCJrZXlfcm90YXRpb24iOmZhbHNlfQ==";

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env_remove("KEYWARD_SITE_KEY")
        .env_remove("KEYWARD_ACCESS_KEY")
        .env_remove("KEYWARD_KEK")
        .env_remove("KEYWARD_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The process may exit before reading its input (argument errors).
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn issue(extra: &[&str], policy: &str) -> Output {
    let mut args = vec![
        "token",
        "issue",
        "--site-id",
        "TUTO",
        "--site-key",
        SK,
        "--access-key",
        AK,
        "--drm-type",
        "Widevine",
        "--user-id",
        "test-user",
        "--cid",
        "bigbuckbunny",
        "--policy",
        "-",
        "--timestamp",
        "2021-11-11T07:28:41Z",
    ];
    args.extend_from_slice(extra);
    run(&args, policy)
}

fn error_code(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let line = stderr(o);
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert!(v["error_message"].as_str().is_some_and(|m| !m.is_empty()));
    v["error_code"].as_str().unwrap().to_owned()
}

#[test]
fn issue_reproduces_the_seed_token() {
    let o = issue(
        &[],
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{SEED_TOKEN}\n"));
    // A trailing newline in the policy file does not change the bytes.
    let o = issue(
        &[],
        "{\"policy_version\":2,\"playback_policy\":{\"persistent\":false}}\n",
    );
    assert_eq!(stdout(&o), format!("{SEED_TOKEN}\n"));
    let o = issue(
        &["--json"],
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["token"], SEED_TOKEN);
    assert_eq!(v["hash"], "o6dD1qJbdrQvU86JUxZiKf8WBo0BH6oc+kN8CVNk2rM=");
    assert_eq!(v["timestamp"], "2021-11-11T07:28:41Z");
    assert_eq!(
        v["policy_json"],
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#
    );
}

#[test]
fn issue_errors_are_coded() {
    let ok = r#"{"policy_version":2}"#;
    assert_eq!(
        error_code(&run(&["token", "issue", "--cid", "c"], ok)),
        "1000"
    );
    assert_eq!(
        error_code(&run(&["token", "issue", "--user-id", "u"], ok)),
        "1001"
    );
    assert_eq!(
        error_code(&run(
            &["token", "issue", "--user-id", "u", "--cid", "c"],
            ok
        )),
        "1002"
    );
    assert_eq!(
        error_code(&run(
            &[
                "token",
                "issue",
                "--user-id",
                "u",
                "--cid",
                "c",
                "--site-id",
                "TUTO"
            ],
            ok
        )),
        "1003"
    );
    assert_eq!(
        error_code(&run(
            &[
                "token",
                "issue",
                "--user-id",
                "u",
                "--cid",
                "c",
                "--site-id",
                "TUTO",
                "--access-key",
                AK
            ],
            ok
        )),
        "1004"
    );
    assert_eq!(
        error_code(&run(
            &[
                "token",
                "issue",
                "--user-id",
                "u",
                "--cid",
                "c",
                "--site-id",
                "TUTO",
                "--access-key",
                AK,
                "--site-key",
                SK
            ],
            ok
        )),
        "1005"
    );
    assert_eq!(
        error_code(&issue(
            &[],
            r#"{"policy_version":2,"security_policy":[{"widevine":{"security_level":9}}]}"#
        )),
        "1022"
    );
    assert_eq!(
        error_code(&issue(&[], r#"{"policy_version":2,"playback_policy":"x"}"#)),
        "1006"
    );
    assert_eq!(
        error_code(&issue(
            &[],
            r#"{"policy_version":2,"security_policy":[{"widevine":[]}]}"#
        )),
        "1014"
    );
    assert_eq!(error_code(&issue(&[], "{\"policy_version\":2")), "1005");
    assert_eq!(
        error_code(&issue(&["--response-format", "xml"], ok)),
        "1048"
    );
    assert_eq!(error_code(&issue(&["--key-rotation", "yes"], ok)), "1055");
    let o = run(
        &[
            "token",
            "issue",
            "--site-id",
            "TUTO",
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--drm-type",
            "Netflix",
            "--user-id",
            "u",
            "--cid",
            "c",
            "--policy",
            "-",
        ],
        ok,
    );
    assert_eq!(error_code(&o), "1090");
    let o = run(
        &[
            "token",
            "issue",
            "--site-id",
            "TUTO",
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--timestamp",
            "yesterday",
            "--user-id",
            "u",
            "--cid",
            "c",
            "--policy",
            "-",
        ],
        ok,
    );
    assert_eq!(error_code(&o), "1091");
    let o = run(
        &[
            "token",
            "issue",
            "--site-id",
            "tuto",
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--user-id",
            "u",
            "--cid",
            "c",
            "--policy",
            "-",
        ],
        ok,
    );
    assert_eq!(error_code(&o), "1002");
    let o = run(
        &[
            "token",
            "issue",
            "--site-id",
            "TUTO",
            "--site-key",
            "short",
            "--access-key",
            AK,
            "--user-id",
            "u",
            "--cid",
            "c",
            "--policy",
            "-",
        ],
        ok,
    );
    assert_eq!(error_code(&o), "1004");
    assert!(!stderr(&o).contains("short"), "no secret in errors");
    let o = run(
        &[
            "token",
            "issue",
            "--site-id",
            "TUTO",
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--user-id",
            "u",
            "--cid",
            "c",
            "--policy",
            "/nonexistent/p.json",
        ],
        "",
    );
    assert_eq!(error_code(&o), "1005");
    // Non-UTF-8 policy bytes on stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "token",
            "issue",
            "--site-id",
            "TUTO",
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--user-id",
            "u",
            "--cid",
            "c",
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
        .write_all(&[0xff, 0xfe, b'{'])
        .unwrap();
    assert_eq!(error_code(&child.wait_with_output().unwrap()), "1005");
}

#[test]
fn inspect_with_and_without_keys() {
    let o = run(
        &[
            "token",
            "inspect",
            SEED_TOKEN,
            "--now",
            "2021-11-11T07:30:00Z",
            "--json",
        ],
        "",
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["fields"]["site_id"], "TUTO");
    assert_eq!(v["age_secs"], 79);
    assert_eq!(v["window"], "inside");
    assert_eq!(v["hash_valid"], serde_json::Value::Null);
    assert!(v.get("policy_json").is_none());

    let o = run(
        &[
            "token",
            "inspect",
            "-",
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--now",
            "2021-11-11T07:30:00Z",
            "--json",
        ],
        SEED_TOKEN,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["hash_valid"], true);
    assert_eq!(v["policy_json"]["playback_policy"]["persistent"], false);
    assert_eq!(v["verify"]["ok"], true);

    let o = run(
        &[
            "token",
            "inspect",
            SEED_TOKEN,
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--now",
            "2021-11-12T00:00:00Z",
            "--json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verify"]["error_code"], "7011");
    assert_eq!(v["window"], "expired");

    let wrong = run(
        &[
            "token",
            "inspect",
            SEED_TOKEN,
            "--site-key",
            SK,
            "--access-key",
            &"x".repeat(32),
            "--now",
            "2021-11-11T07:30:00Z",
            "--json",
        ],
        "",
    );
    assert_eq!(wrong.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&wrong)).unwrap();
    assert_eq!(v["hash_valid"], false);
    assert_eq!(v["verify"]["error_code"], "7019");

    let human = run(
        &[
            "token",
            "inspect",
            SEED_TOKEN,
            "--site-key",
            SK,
            "--access-key",
            AK,
            "--now",
            "2021-11-11T07:30:00Z",
        ],
        "",
    );
    let text = stdout(&human);
    assert!(
        text.contains("verify: OK") && text.contains("decrypted policy"),
        "{text}"
    );

    assert_eq!(
        error_code(&run(&["token", "inspect", "not-a-token"], "")),
        "7009"
    );
}

#[test]
fn sites_and_keys_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = run(
        &[
            "site",
            "add",
            "--data-dir",
            d,
            "--site-id",
            "TEST",
            "--site-key",
            SK,
            "--access-key",
            AK,
        ],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stdout(&o).contains(SK) && !stdout(&o).contains(AK),
        "site add prints no secrets"
    );
    assert_eq!(
        error_code(&run(
            &[
                "site",
                "add",
                "--data-dir",
                d,
                "--site-id",
                "TEST",
                "--site-key",
                SK,
                "--access-key",
                AK
            ],
            ""
        )),
        "site_exists"
    );
    assert_eq!(
        error_code(&run(
            &[
                "site",
                "add",
                "--data-dir",
                d,
                "--site-id",
                "TE5T",
                "--site-key",
                SK,
                "--access-key",
                AK
            ],
            ""
        )),
        "invalid_site_id"
    );
    let o = run(
        &[
            "key",
            "add",
            "--data-dir",
            d,
            "--site-id",
            "TEST",
            "--cid",
            "movie-1",
            "--kid",
            "abba271e8bcf552bbd2e86a434a9a5d9",
            "--key",
            "69eaa802a6763af979e8d1940fb88392",
        ],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["key", "list", "--data-dir", d, "--site-id", "TEST"], "");
    let listing = stdout(&o);
    assert!(listing.contains("abba271e8bcf552bbd2e86a434a9a5d9"));
    assert!(
        !listing.contains("69eaa802a6763af979e8d1940fb88392"),
        "listing shows no key material"
    );
    let o = run(
        &[
            "key",
            "export",
            "--data-dir",
            d,
            "--site-id",
            "TEST",
            "--kid",
            "abba271e8bcf552bbd2e86a434a9a5d9",
        ],
        "",
    );
    assert!(stdout(&o).contains("\"key\":\"69eaa802a6763af979e8d1940fb88392\""));
    assert_eq!(
        error_code(&run(
            &[
                "key",
                "add",
                "--data-dir",
                d,
                "--site-id",
                "TEST",
                "--cid",
                "m",
                "--kid",
                "abba",
                "--key",
                "69eaa802a6763af979e8d1940fb88392"
            ],
            ""
        )),
        "invalid_key_length"
    );
    assert_eq!(
        error_code(&run(
            &[
                "key",
                "add",
                "--data-dir",
                d,
                "--site-id",
                "TEST",
                "--cid",
                "m",
                "--kid",
                "11111111111111111111111111111111",
                "--key",
                "69eaa802a6763af979e8d1940fb88392",
                "--track-type",
                "XL"
            ],
            ""
        )),
        "1039"
    );
    let o = run(
        &[
            "key",
            "generate",
            "--data-dir",
            d,
            "--site-id",
            "TEST",
            "--cid",
            "movie-2",
        ],
        "",
    );
    assert!(o.status.success());
    assert!(!stdout(&o).contains("\"key\""));
    // The database file holds no plaintext key.
    let db = std::fs::read(dir.path().join("keyward.db")).unwrap();
    assert!(!db.windows(16).any(|w| w
        == [
            0x69, 0xea, 0xa8, 0x02, 0xa6, 0x76, 0x3a, 0xf9, 0x79, 0xe8, 0xd1, 0x94, 0x0f, 0xb8,
            0x83, 0x92
        ]));
    assert!(dir.path().join("kek").exists());
}

#[test]
fn customdata_make_round_trips() {
    let o = run(
        &[
            "customdata",
            "make",
            "--site-id",
            "DEMO",
            "--site-key",
            SK,
            "--user-id",
            "alice",
            "--cid",
            "movie-1",
            "--oid",
            "order-9",
        ],
        "",
    );
    assert!(o.status.success());
    let v = stdout(&o);
    match keyward_token::CustomDataV2::parse(v.trim()).unwrap() {
        keyward_token::CustomDataV2::AuthData(a) => {
            let opened = a
                .open(&keyward_token::SiteKey::new(SK.as_bytes()).unwrap())
                .unwrap();
            assert_eq!(opened.user_id, "alice");
            assert_eq!(opened.oid.as_deref(), Some("order-9"));
        }
        _ => panic!("not auth data"),
    }
}

#[test]
fn help_teaches() {
    let o = run(&["token", "issue", "--help"], "");
    let h = stdout(&o);
    assert!(h.contains("Example:") && h.contains("--site-key"), "{h}");
    let o = run(&["serve", "--help"], "");
    assert!(stdout(&o).contains("KEYWARD_LISTEN"));
}
