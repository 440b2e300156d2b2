//! `keyward migrate` and `keyward store copy` end to end: the `keyward`
//! binary against a real PostgreSQL that this test starts (the store crate's
//! harness), a data directory made with `keyward site add` / `key add`, exit
//! codes, the summary, and no password in any output. Without PostgreSQL
//! installed the PostgreSQL tests pass without running, after a loud message,
//! unless `KEYWARD_REQUIRE_POSTGRES=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "../../store/tests/support/postgres_server.rs"]
mod postgres_server;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use keyward_store::{
    Kek, KeyStore as _, Kid, PostgresOptions, PostgresStore, SiteId, SiteStore as _,
};
use postgres_server::PostgresServer;

const SK: &str = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
const AK: &str = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20";
const KID: &str = "abba271e8bcf552bbd2e86a434a9a5d9";
const KEY: &str = "69eaa802a6763af979e8d1940fb88392";
const PASSWORD: &str = "hunter2-Zq8";

static SERVER: OnceLock<Option<PostgresServer>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn server() -> Option<&'static PostgresServer> {
    SERVER
        .get_or_init(|| PostgresServer::start_or_skip("crates/cli/tests/store_copy.rs"))
        .as_ref()
}

/// A new database's URL with a password in it (logins are trusted, so any
/// password works, and none may be printed); `None`: skip.
fn fresh_db(test: &str) -> Option<String> {
    let server = server()?;
    let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    let name = format!("{test}_{n}");
    server.create_database(&name);
    Some(format!(
        "postgres://{}:{PASSWORD}@127.0.0.1:{}/{name}",
        postgres_server::USER,
        server.port()
    ))
}

macro_rules! db {
    ($test:expr) => {
        match fresh_db($test) {
            Some(url) => url,
            None => return,
        }
    };
}

fn keyward(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args);
    for var in [
        "KEYWARD_KEK",
        "KEYWARD_KEK_FILE",
        "KEYWARD_DATA_DIR",
        "KEYWARD_DATABASE_URL",
        "KEYWARD_SITE_KEY",
        "KEYWARD_ACCESS_KEY",
        "PGPASSWORD",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "a password was printed: {all}");
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The error code of the one JSON line on stderr (its last line), checking
/// the exit code.
fn error(o: &Output, exit: i32) -> (String, String) {
    assert_eq!(o.status.code(), Some(exit), "{}", stderr(o));
    let text = stderr(o);
    let line = text.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        v["error_code"].as_str().unwrap().to_owned(),
        v["error_message"].as_str().unwrap().to_owned(),
    )
}

/// A data directory with one site and one key, as an operator makes it.
fn data_dir(dir: &Path) -> String {
    let d = dir.to_str().unwrap().to_owned();
    let o = keyward(
        &[
            "site",
            "add",
            "--data-dir",
            &d,
            "--site-id",
            "TUTO",
            "--site-key",
            SK,
            "--access-key",
            AK,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = keyward(
        &[
            "key",
            "add",
            "--data-dir",
            &d,
            "--site-id",
            "TUTO",
            "--cid",
            "movie-1",
            "--kid",
            KID,
            "--key",
            KEY,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    d
}

fn migrate(url: &str) -> Output {
    keyward(&["migrate", "--database-url", url], &[])
}

#[test]
fn migrate_then_copy_then_serve_from_postgres() {
    let url = db!("cli_copy");
    let redacted = url.replace(PASSWORD, "***");
    let dir = tempfile::tempdir().unwrap();
    let d = data_dir(dir.path());

    // Not migrated yet: refused, saying what to do.
    let o = keyward(&["store", "copy", "--from", &d, "--to", &url], &[]);
    let (code, message) = error(&o, 2);
    assert_eq!(code, "target_schema");
    assert!(message.contains("keyward migrate"), "{message}");

    // Migrate: from none to the latest; again: nothing to do.
    let latest = keyward_store::postgres::latest_schema_version();
    let o = migrate(&url);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&redacted), "{out}");
    assert!(out.contains("schema version before: none"), "{out}");
    assert!(
        out.contains(&format!("schema version after:  {latest} (migrated")),
        "{out}"
    );
    let o = migrate(&url);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("schema version before: {latest}")),
        "{out}"
    );
    assert!(out.contains("nothing to do"), "{out}");

    // The copy: progress on stderr, the summary on stdout.
    let o = keyward(&["store", "copy", "--from", &d, "--to", &url], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(err.contains("copying sites (1 rows)"), "{err}");
    assert!(err.contains(&redacted), "{err}");
    assert!(out.contains(&redacted), "{out}");
    let row = |table: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no {table} line in {out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("sites")[1], "1");
    assert_eq!(row("content_keys")[1], "1");
    assert_eq!(row("meta")[1], "1");
    assert_eq!(row("audit")[1], "0");
    assert!(
        out.lines()
            .filter(|l| l.ends_with("rows, checksum ok"))
            .count()
            >= 13,
        "{out}"
    );
    assert_eq!(row("total")[1], "3");

    // What PostgreSQL holds reads back under the data directory's KEK.
    let kek_text = std::fs::read_to_string(dir.path().join("kek")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pg = PostgresStore::open(
            PostgresOptions::from_url(&url),
            Kek::from_hex_or_base64(&kek_text).unwrap(),
        )
        .await
        .unwrap();
        let site = pg.site(&SiteId::parse("TUTO").unwrap()).await.unwrap();
        assert_eq!(site.site_key.expose(), SK.as_bytes());
        let key = pg
            .key_by_kid(&site.site_id, &Kid::from_hex(KID).unwrap())
            .await
            .unwrap();
        assert_eq!(hex::encode(key.key.expose()), KEY);
        pg.close().await;
    });

    // Copying again: the target is not empty.
    let o = keyward(&["store", "copy", "--from", &d, "--to", &url], &[]);
    let (code, message) = error(&o, 2);
    assert_eq!(code, "target_not_empty");
    assert!(message.contains("nothing was written"), "{message}");
}

#[test]
fn the_kek_comes_from_flags_environment_or_the_data_directory() {
    let url = db!("cli_kek");
    assert!(migrate(&url).status.success());
    let dir = tempfile::tempdir().unwrap();
    let d = data_dir(dir.path());
    let other = "11".repeat(32);

    // A wrong KEK from the environment: refused, nothing written.
    let o = keyward(
        &["store", "copy", "--from", &d, "--to", &url],
        &[("KEYWARD_KEK", &other)],
    );
    assert_eq!(error(&o, 2).0, "kek_mismatch");
    // A wrong one from --kek-file wins over the right one beside the store.
    let wrong = dir.path().join("wrong-kek");
    std::fs::write(&wrong, &other).unwrap();
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            &d,
            "--to",
            &url,
            "--kek-file",
            wrong.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(error(&o, 2).0, "kek_mismatch");
    // No KEK anywhere (the database file given, its directory without one).
    let moved = tempfile::tempdir().unwrap();
    let db_file = moved.path().join("keyward.db");
    std::fs::copy(dir.path().join("keyward.db"), &db_file).unwrap();
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            db_file.to_str().unwrap(),
            "--to",
            &url,
        ],
        &[],
    );
    let (code, message) = error(&o, 2);
    assert_eq!(code, "kek");
    assert!(message.contains("KEYWARD_KEK"), "{message}");
    // The right one through KEYWARD_KEK_FILE, the database file given.
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            db_file.to_str().unwrap(),
            "--to",
            &url,
        ],
        &[("KEYWARD_KEK_FILE", dir.path().join("kek").to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("content_keys"), "{}", stdout(&o));
}

#[test]
fn copy_refusals_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let empty = dir.path().join("empty-kek");
    std::fs::write(&empty, "").unwrap();
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            missing.to_str().unwrap(),
            "--to",
            &format!("postgres://kw:{PASSWORD}@127.0.0.1:1/db"),
            "--kek-file",
            empty.to_str().unwrap(),
        ],
        &[("KEYWARD_KEK", &"22".repeat(32))],
    );
    // --kek-file is read first: an empty file is not a KEK.
    assert_eq!(error(&o, 2).0, "kek");
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            missing.to_str().unwrap(),
            "--to",
            &format!("postgres://kw:{PASSWORD}@127.0.0.1:1/db"),
        ],
        &[("KEYWARD_KEK", &"22".repeat(32))],
    );
    assert_eq!(error(&o, 2).0, "source_not_found");
    assert!(!missing.exists(), "nothing created");
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            missing.to_str().unwrap(),
            "--to",
            &format!("mysql://kw:{PASSWORD}@db/k"),
        ],
        &[("KEYWARD_KEK", &"22".repeat(32))],
    );
    assert_eq!(error(&o, 2).0, "invalid_input");
    // A server that is not there: a failure (exit 1), the password hidden.
    let d = data_dir(dir.path());
    let o = keyward(
        &[
            "store",
            "copy",
            "--from",
            &d,
            "--to",
            &format!("postgres://kw:{PASSWORD}@127.0.0.1:1/db"),
        ],
        &[],
    );
    let (code, message) = error(&o, 1);
    assert_eq!(code, "target");
    assert!(message.contains("connecting"), "{message}");
    let o = keyward(
        &[
            "migrate",
            "--database-url",
            &format!("postgres://kw:{PASSWORD}@127.0.0.1:1/db"),
        ],
        &[],
    );
    assert_eq!(error(&o, 1).0, "backend");
    let o = keyward(&["migrate", "--database-url", "mysql://db/k"], &[]);
    assert_eq!(error(&o, 2).0, "invalid_input");
}

#[test]
fn migrate_sqlite_creates_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite:{}", data.display());
    let latest = keyward_store::sqlite::latest_schema_version();
    let o = keyward(&["migrate"], &[("KEYWARD_DATABASE_URL", &url)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("schema version before: none"), "{out}");
    assert!(
        out.contains(&format!("schema version after:  {latest} (migrated")),
        "{out}"
    );
    assert!(data.join("keyward.db").is_file());
    let o = keyward(&["migrate", "--database-url", &url], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("schema version before: {latest}")),
        "{out}"
    );
    assert!(out.contains("nothing to do"), "{out}");
    // A store made by `site add` is at the latest version too.
    let made = tempfile::tempdir().unwrap();
    let d = data_dir(made.path());
    let o = keyward(&["migrate", "--database-url", &format!("sqlite:{d}")], &[]);
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
}
