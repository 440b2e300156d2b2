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
