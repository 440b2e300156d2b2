//! `keyward key export --cpix` / `keyward key import --cpix`: every key of a site leaves
//! keyward as CPIX encrypted for a recipient and comes back, at the same coordinates
//! (track type, key period), with the same material; refusals write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::Path;
use std::process::{Command, Output};

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fixtures/cpix-dashif"
);

fn keyward(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env("KEYWARD_DATA_DIR", data)
        .env("KEYWARD_KEK", KEK)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn error_code(out: &Output) -> String {
    assert!(!out.status.success());
    let line = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    v["error_code"].as_str().unwrap().to_owned()
}

/// `(kid, track_type, period, key)` of every key of the site, sorted.
fn keys(data: &Path) -> Vec<(String, String, Option<u64>, String)> {
    let mut out = Vec::new();
    for line in ok(&keyward(data, &["key", "list", "--site-id", "TEST"])).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let kid = v["kid"].as_str().unwrap().to_owned();
        let exported: serde_json::Value = serde_json::from_str(&ok(&keyward(
            data,
            &["key", "export", "--site-id", "TEST", "--kid", &kid],
        )))
        .unwrap();
        out.push((
            kid,
            v["track_type"].as_str().unwrap().to_owned(),
            v["period"].as_u64(),
            exported["key"].as_str().unwrap().to_owned(),
        ));
    }
    out.sort();
    out
}

#[test]
fn export_import_round_trip() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [a.path(), b.path()] {
        ok(&keyward(
            d,
            &["site", "add", "--site-id", "TEST", "--generate"],
        ));
    }
    let add = |cid: &str, track: &str, kid: &str, key: &str, period: Option<&str>| {
        let mut args = vec![
            "key",
            "add",
            "--site-id",
            "TEST",
            "--cid",
            cid,
            "--track-type",
            track,
            "--kid",
            kid,
            "--key",
            key,
        ];
        if let Some(p) = period {
            args.extend(["--period", p]);
        }
        ok(&keyward(a.path(), &args));
    };
    add(
        "movie-1",
        "HD",
        "11111111111111111111111111111111",
        "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
        None,
    );
    add(
        "movie-1",
        "AUDIO",
        "22222222222222222222222222222222",
        "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
        None,
    );
    add(
        "live & <1>",
        "SD",
        "33333333333333333333333333333333",
        "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
        Some("7"),
    );
    add(
        "live & <1>",
        "SD",
        "44444444444444444444444444444444",
        "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4",
        Some("8"),
    );
    let out_dir = a.path().join("exported");
    let cert = format!("{FIXTURES}/Cert1.cer");
    let export = keyward(
        a.path(),
        &[
            "key",
            "export",
            "--site-id",
            "TEST",
            "--cpix",
            "--recipient-cert",
            &cert,
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    ok(&export);
    assert!(String::from_utf8_lossy(&export.stderr).contains("exported 4 keys of 2 content id(s)"));
    let files: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    for f in &files {
        if let Some(dir) = std::env::var_os("KEYWARD_CPIX_SAMPLES") {
            std::fs::create_dir_all(&dir).unwrap();
            let name = format!("cli-export-{}", f.file_name().unwrap().to_string_lossy());
            std::fs::copy(f, std::path::Path::new(&dir).join(name)).unwrap();
        }
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("PlainValue"), "keys leave encrypted only");
        assert!(!text.contains("a1a1a1"));
    }
    // Without the private key, or with another recipient's: refused, nothing written.
    let f = files[0].to_str().unwrap();
    assert_eq!(
        error_code(&keyward(
            b.path(),
            &["key", "import", "--site-id", "TEST", "--cpix", f]
        )),
        "invalid_input"
    );
    let cert2_key = format!("{FIXTURES}/Cert2.key.pem");
    assert_eq!(
        error_code(&keyward(
            b.path(),
            &[
                "key",
                "import",
                "--site-id",
                "TEST",
                "--cpix",
                f,
                "--recipient-key",
                &cert2_key
            ]
        )),
        "cpix_no_recipient_key"
    );
    assert!(keys(b.path()).is_empty());
    let key1 = format!("{FIXTURES}/Cert1.key.pem");
    for f in &files {
        ok(&keyward(
            b.path(),
            &[
                "key",
                "import",
                "--site-id",
                "TEST",
                "--cpix",
                f.to_str().unwrap(),
                "--recipient-key",
                &key1,
            ],
        ));
    }
    assert_eq!(keys(a.path()), keys(b.path()));
    let listed = ok(&keyward(
        b.path(),
        &["key", "list", "--site-id", "TEST", "--cid", "live & <1>"],
    ));
    assert_eq!(
        listed.lines().count(),
        2,
        "the content id survives XML escaping"
    );
    // Importing again: a conflict, nothing changed.
    let again = keyward(
        b.path(),
        &[
            "key",
            "import",
            "--site-id",
            "TEST",
            "--cpix",
            files[0].to_str().unwrap(),
            "--recipient-key",
            &key1,
        ],
    );
    assert_eq!(error_code(&again), "key_conflict");
    assert_eq!(keys(a.path()), keys(b.path()));
    // A weak recipient certificate is refused before anything is written.
    let weak = format!("{FIXTURES}/WeakCert_Sha1.cer");
    let w = keyward(
        a.path(),
        &[
            "key",
            "export",
            "--site-id",
            "TEST",
            "--cpix",
            "--cid",
            "movie-1",
            "--recipient-cert",
            &weak,
        ],
    );
    assert_eq!(error_code(&w), "cpix_weak_certificate");
    // --cpix needs a recipient.
    let n = keyward(
        a.path(),
        &[
            "key",
            "export",
            "--site-id",
            "TEST",
            "--cpix",
            "--cid",
            "movie-1",
        ],
    );
    assert_eq!(error_code(&n), "invalid_input");
}
