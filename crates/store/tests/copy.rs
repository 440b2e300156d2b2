//! `copy_sqlite_to_postgres` against a real PostgreSQL that this test binary
//! starts (see `support/postgres_server.rs`): a SQLite store with every kind
//! of row, copied, then read back through `PostgresStore` and compared with
//! what the SQLite store answers; and every refusal, with nothing written.
//!
//! One server serves the whole binary; each test gets a database of its own.
//! Without PostgreSQL installed every test here passes without running, after
//! a loud message, unless `KEYWARD_REQUIRE_POSTGRES=1`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

mod common;
#[path = "support/postgres_server.rs"]
mod postgres_server;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use keyward_store::copy::{Progress, DEFAULT_BATCH_ROWS};
use keyward_store::{
    copy_sqlite_to_postgres, AuditEvent, AuditQuery, AuditRecord, AuthEnv, CallbackFallback,
    CallbackSettings, ClientSettings, ContentKeyRecord, CopyError, CopyOptions, CopyReport,
    Customer, CustomerSettings, Drm, ErrorStyle, FairPlayCredential, Kek, KeySeed, NewClient,
    NewCustomer, NewPackager, NewSite, PackagerInfo, PackagerSecret, PostgresOptions,
    PostgresStore, SiteSecret, SiteSettings, SqliteStore, Store, TrackType, Upstream,
};
use keyward_store::{
    AuditStore, ClientStore, CustomerStore, FairPlayStore, KeyStore, PackagerStore, ReplayStore,
    SiteStore, UpstreamStore,
};
use postgres_server::PostgresServer;

use common::{new_fps, new_key, new_upstream, now, site_id, upstream_secret_values};

static SERVER: OnceLock<Option<PostgresServer>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn server() -> Option<&'static PostgresServer> {
    SERVER
        .get_or_init(|| PostgresServer::start_or_skip("tests/copy.rs"))
        .as_ref()
}

/// A new, empty database for `test`; `None`: skip.
fn fresh_db(test: &str) -> Option<String> {
    let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    Some(server()?.create_database(&format!("{test}_{n}")))
}

/// A fresh database's URL, or return from the test (skipped).
macro_rules! db {
    ($test:expr) => {
        match fresh_db($test) {
            Some(url) => url,
            None => return,
        }
    };
}

fn kek(byte: u8) -> Kek {
    Kek::from_bytes(&[byte; 32]).unwrap()
}

/// A fresh database, migrated.
async fn migrated(url: &str) {
    keyward_store::postgres::migrate(&PostgresOptions::from_url(url))
        .await
        .unwrap();
}

async fn raw_pg(url: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(url).await.unwrap()
}

async fn raw_sqlite(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

/// Rows in every keyward table of the target.
async fn pg_counts(url: &str) -> BTreeMap<String, i64> {
    let pool = raw_pg(url).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{t}\""))
            .fetch_one(&pool)
            .await
            .unwrap();
        out.insert(t, n);
    }
    pool.close().await;
    out
}

async fn copy(
    source: &Path,
    url: &str,
    kek: Kek,
) -> Result<(CopyReport, Vec<(String, u64, u64)>), CopyError> {
    let options = CopyOptions::new(source, PostgresOptions::from_url(url), kek);
    let mut calls = Vec::new();
    let report = copy_sqlite_to_postgres(&options, &mut |p: Progress<'_>| {
        calls.push((p.table.to_owned(), p.done, p.total));
    })
    .await?;
    Ok((report, calls))
}

fn api_key_hash(n: u8) -> [u8; 32] {
    [n; 32]
}

fn customer_hash(n: u8, env: u8) -> [u8; 32] {
    let mut h = [n; 32];
    h[0] = env;
    h
}

fn event(i: i64, site: Option<&str>, user: Option<&str>) -> AuditEvent {
    AuditEvent {
        at_unix_ms: 1_700_000_000_000 + i * 1_000,
        site_id: site.map(site_id),
        kind: if i % 3 == 0 { "licence" } else { "token" }.into(),
        cid: Some(format!("movie-{}", i % 4)),
        drm: Some("Widevine".into()),
        result: if i % 5 == 0 { "7011" } else { "ok" }.into(),
        request_id: Some(format!("req-{i}")),
        user: user.map(str::to_owned),
        detail: serde_json::json!({ "i": i, "note": "ünïcode ✓" }),
    }
}

/// Every kind of row, through the store traits. Returns the API key hashes
/// and customer authenticator hashes to look up, and the single-use token
/// that was used.
async fn populate(store: &SqliteStore) -> (Vec<[u8; 32]>, Vec<[u8; 32]>) {
    // Sites: defaults, and one with every setting and callback settings.
    store.create_site(common::new_site("COPA")).await.unwrap();
    let settings = SiteSettings {
        token_window_secs: 900,
        future_leeway_secs: 30,
        allowed_drms: vec![Drm::Widevine, Drm::FairPlay],
        cors_origins: vec!["https://player.example".into()],
        fairplay_cert: Some(vec![0x30, 1, 2, 3]),
        widevine_service_cert: Some(vec![9; 40]),
        error_style: ErrorStyle::HttpStatus,
        callback_url: Some("https://cb.example/callback".into()),
        disabled: true,
        callback: CallbackSettings {
            timeout_ms: 1234,
            max_concurrent: 3,
            breaker_failures: 0,
            breaker_cooldown_secs: 7,
            cache_ttl_secs: 60,
            fallback: CallbackFallback::Allow,
            fallback_license_duration_secs: 99,
        },
    };
    store
        .create_site(NewSite::generate(site_id("COPB"), settings).unwrap())
        .await
        .unwrap();

    // Keys: plain, with IV and period, pinned.
    store
        .put_key(new_key("COPA", "movie-1", TrackType::Hd, 1, 0x11), false)
        .await
        .unwrap();
    store
        .put_key(new_key("COPA", "movie-1", TrackType::Audio, 2, 0x12), false)
        .await
        .unwrap();
    let mut rotated = new_key("COPB", "live", TrackType::All, 3, 0x13);
    rotated.period = Some(42);
    rotated.iv = Some([0xaa; 16]);
    rotated.label = None;
    store.put_key(rotated, false).await.unwrap();
    let (pinned, created) = store
        .ensure_pinned_key(new_key("COPB", "live", TrackType::All, 4, 0x14))
        .await
        .unwrap();
    assert!(created && pinned.pinned);

    // Studio clients with two API keys and two secrets.
    store
        .create_client(NewClient {
            name: "studio-1".into(),
            site_id: site_id("COPA"),
            settings: ClientSettings {
                max_uses: 2,
                content_prefixes: vec!["movie-".into()],
                default_policy: Some(
                    serde_json::json!({ "playback_policy": { "persistent": false } }),
                ),
                ..ClientSettings::default()
            },
            secret: SiteSecret::generate().unwrap(),
            api_key: ("first".into(), api_key_hash(1)),
        })
        .await
        .unwrap();
    store
        .add_api_key("studio-1", "second", api_key_hash(2))
        .await
        .unwrap();
    store
        .add_client_secret("studio-1", SiteSecret::generate().unwrap())
        .await
        .unwrap();

    // Customers, one with tokens counted.
    for (n, name) in [(5u8, "acme"), (6, "globex")] {
        store
            .create_customer(NewCustomer {
                customer_id: name.into(),
                test_hash: customer_hash(n, 0),
                production_hash: customer_hash(n, 1),
                settings: CustomerSettings {
                    site_id: Some(site_id("COPA")),
                    token_quota: Some(10),
                    allowed_ips: vec!["10.1.2.3".into()],
                    disabled: false,
                },
            })
            .await
            .unwrap();
    }
    assert!(store.take_customer_token("acme").await.unwrap());

    // FairPlay credentials, upstreams with secrets, packagers and a key seed.
    store
        .add_fairplay_credential(new_fps("COPA", 1))
        .await
        .unwrap();
    store
        .add_fairplay_credential(new_fps("COPA", 2))
        .await
        .unwrap();
    store
        .add_upstream(new_upstream("COPA", Drm::FairPlay, "ksm-a"))
        .await
        .unwrap();
    store
        .add_upstream(new_upstream("COPA", Drm::FairPlay, "ksm-b"))
        .await
        .unwrap();
    store
        .add_upstream(new_upstream("COPB", Drm::Widevine, "wv"))
        .await
        .unwrap();
    store
        .add_packager(NewPackager {
            name: "widevine_copy".into(),
            site_id: site_id("COPA"),
            cid_prefix: None,
            secret: PackagerSecret::Widevine {
                aes_key: zeroize::Zeroizing::new([7; 32]),
                aes_iv: [8; 16],
            },
        })
        .await
        .unwrap();
    store
        .add_packager(NewPackager {
            name: "encoder".into(),
            site_id: site_id("COPB"),
            cid_prefix: Some("live/".into()),
            secret: PackagerSecret::generate_api_key().unwrap(),
        })
        .await
        .unwrap();
    store
        .set_key_seed(
            &site_id("COPA"),
            Some(KeySeed::from_slice(&[0x5a; 30]).unwrap()),
        )
        .await
        .unwrap();

    // Audit rows.
    let events: Vec<AuditEvent> = (0..40)
        .map(|i| {
            event(
                i,
                if i % 2 == 0 { Some("COPA") } else { None },
                (i % 4 == 2).then_some("alice"),
            )
        })
        .collect();
    store.record_batch(events).await.unwrap();
    store.sync().await.unwrap();
    (
        vec![api_key_hash(1), api_key_hash(2), api_key_hash(9)],
        vec![
            customer_hash(5, 0),
            customer_hash(5, 1),
            customer_hash(6, 1),
            customer_hash(7, 0),
        ],
    )
}

/// A client as comparable values (secrets exposed).
type ClientView = (
    String,
    String,
    ClientSettings,
    Vec<keyward_store::ApiKeyInfo>,
    Vec<[u8; 32]>,
    i64,
);

fn client_view(c: keyward_store::Client) -> ClientView {
    (
        c.name,
        c.site_id.as_str().to_owned(),
        c.settings,
        c.api_keys,
        c.secrets.iter().map(|s| *s.expose()).collect(),
        c.created_at,
    )
}

fn packager_secret(s: &PackagerSecret) -> Vec<u8> {
    match s {
        PackagerSecret::Widevine { aes_key, aes_iv } => {
            let mut v = aes_key.to_vec();
            v.extend_from_slice(aes_iv);
            v
        }
        PackagerSecret::ApiKey(k) => k.to_vec(),
    }
}

/// Everything a store answers, secrets exposed, for comparing two stores.
#[derive(Debug, PartialEq)]
struct Everything {
    sites: Vec<keyward_store::Site>,
    site_secrets: Vec<([u8; 32], [u8; 32])>,
    keys: Vec<ContentKeyRecord>,
    key_bytes: Vec<[u8; 16]>,
    content: Vec<ContentKeyRecord>,
    fairplay: Vec<FairPlayCredential>,
    fairplay_secrets: Vec<(Vec<u8>, Vec<u8>)>,
    upstreams: Vec<Upstream>,
    upstream_secrets: Vec<BTreeMap<String, String>>,
    packagers: Vec<(PackagerInfo, Vec<u8>)>,
    seeds: Vec<Option<Vec<u8>>>,
    clients: Vec<ClientView>,
    clients_by_key: Vec<Option<ClientView>>,
    customers: Vec<Customer>,
    customers_by_auth: Vec<Option<(Customer, AuthEnv)>>,
    audit: Vec<AuditRecord>,
    audit_alice: Vec<AuditRecord>,
}

/// Every page of a search, 7 rows a page.
async fn audit_pages(store: &dyn Store, mut q: AuditQuery) -> Vec<AuditRecord> {
    q.limit = 7;
    let mut out = Vec::new();
    loop {
        let page = store.search(&q).await.unwrap();
        out.extend(page.records);
        match page.next {
            Some(before) => q.before = Some(before),
            None => return out,
        }
    }
}

async fn everything(store: &dyn Store, api_keys: &[[u8; 32]], auths: &[[u8; 32]]) -> Everything {
    let sites = store.sites().await.unwrap();
    let mut e = Everything {
        site_secrets: sites
            .iter()
            .map(|s| (*s.site_key.expose(), *s.access_key.expose()))
            .collect(),
        sites: sites.clone(),
        keys: Vec::new(),
        key_bytes: Vec::new(),
        content: Vec::new(),
        fairplay: Vec::new(),
        fairplay_secrets: Vec::new(),
        upstreams: Vec::new(),
        upstream_secrets: Vec::new(),
        packagers: Vec::new(),
        seeds: Vec::new(),
        clients: store
            .clients()
            .await
            .unwrap()
            .into_iter()
            .map(client_view)
            .collect(),
        clients_by_key: Vec::new(),
        customers: store.customers().await.unwrap(),
        customers_by_auth: Vec::new(),
        audit: audit_pages(store, AuditQuery::default()).await,
        audit_alice: audit_pages(
            store,
            AuditQuery {
                user: Some("alice".into()),
                site: Some(site_id("COPA")),
                ..AuditQuery::default()
            },
        )
        .await,
    };
    for site in &sites {
        let id = &site.site_id;
        for info in store.list_keys(id, None).await.unwrap() {
            let k = store.key_by_kid(id, &info.kid).await.unwrap();
            e.key_bytes.push(*k.key.expose());
            e.keys.push(k);
        }
        for cid in ["movie-1", "live"] {
            e.content
                .extend(store.keys_for_content(id, cid).await.unwrap());
        }
        for c in store.fairplay_credentials(id).await.unwrap() {
            e.fairplay_secrets
                .push((c.private_key.expose().to_vec(), c.ask.expose().to_vec()));
            e.fairplay.push(c);
        }
        for drm in Drm::ALL {
            for u in store.upstreams(id, drm).await.unwrap() {
                e.upstream_secrets.push(
                    u.secrets
                        .iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                        .collect(),
                );
                e.upstreams.push(u);
            }
        }
        for p in store.site_packagers(id).await.unwrap() {
            e.packagers.push((p.info(), packager_secret(&p.secret)));
        }
        e.seeds.push(
            store
                .key_seed(id)
                .await
                .unwrap()
                .map(|s| s.expose().to_vec()),
        );
    }
    for h in api_keys {
        e.clients_by_key
            .push(store.client_by_api_key(h).await.unwrap().map(client_view));
    }
    for h in auths {
        e.customers_by_auth
            .push(store.customer_by_authenticator(h).await.unwrap());
    }
    e
}

/// Everything copied reads back the same through `PostgresStore`, secrets
/// unwrapped under the same KEK; a used single-use token stays used;
/// expired decisions are skipped and counted; audit ids go on past the old.
#[tokio::test]
async fn copies_every_kind_of_row() {
    let url = db!("copy_all");
    migrated(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    let (api_keys, auths) = populate(&lite).await;
    // A single-use token used before the copy, one used twice of three, and
    // expired decisions (written as the writer would have left them).
    let t = now();
    let used = lite
        .redeem("tok", b"used-once", t - 5, t + 600, 1)
        .await
        .unwrap();
    assert!(used.accepted);
    lite.redeem("tok", b"two-of-three", t - 5, t + 600, 3)
        .await
        .unwrap();
    lite.redeem("tok", b"two-of-three", t - 5, t + 600, 3)
        .await
        .unwrap();
    lite.sync().await.unwrap();
    // The writer purges expired rows once right after its claim, then every
    // minute: let that first purge pass.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pool = raw_sqlite(lite.path()).await;
    for i in 0..3u8 {
        sqlx::query("INSERT INTO redemptions (namespace, token_id, use_count, expires_at) VALUES ('tok', ?1, 1, ?2)")
            .bind(vec![b'x', i])
            .bind(t - 100)
            .execute(&pool)
            .await
            .unwrap();
    }
    // An audit row deleted: ids given out stay given out.
    let max_id: i64 = sqlx::query_scalar("SELECT max(id) FROM audit")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit WHERE id = ?1")
        .bind(max_id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // Copied while the SQLite store is open, as under a running server.
    let (report, calls) = copy(dir.path(), &url, kek(1)).await.unwrap();
    assert!(
        report.source_in_use,
        "the open store holds the replay claim"
    );
    assert_eq!(report.expired_redemptions_skipped, 3);
    let by_table: BTreeMap<&str, u64> = report
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.rows))
        .collect();
    assert_eq!(by_table["sites"], 2);
    assert_eq!(by_table["content_keys"], 4);
    assert_eq!(by_table["redemptions"], 2);
    assert_eq!(by_table["audit"], 39);
    assert_eq!(by_table["meta"], 1, "the KEK check, not the replay marker");
    assert_eq!(by_table["client_api_keys"], 2);
    assert_eq!(by_table["client_secrets"], 2);
    assert_eq!(by_table["key_seeds"], 1);
    assert_eq!(report.tables.len(), 13, "{report:?}");
    for t in &report.tables {
        assert_eq!(t.checksum.len(), 64);
    }
    // Sites before what references them.
    let pos = |name: &str| report.tables.iter().position(|t| t.table == name).unwrap();
    for child in [
        "content_keys",
        "clients",
        "fairplay_credentials",
        "upstreams",
        "packagers",
        "key_seeds",
    ] {
        assert!(pos("sites") < pos(child), "{child}");
    }
    assert!(pos("clients") < pos("client_secrets") && pos("clients") < pos("client_api_keys"));
    assert!(calls
        .iter()
        .any(|(t, done, total)| t == "audit" && *done == 39 && *total == 39));
    assert_eq!(
        pg_counts(&url).await.values().sum::<i64>(),
        i64::try_from(report.rows()).unwrap()
    );

    // The SQLite store was not disturbed.
    assert!(
        lite.redeem("tok", b"after", t, t + 600, 1)
            .await
            .unwrap()
            .accepted
    );
    let from_lite = everything(&lite, &api_keys, &auths).await;
    lite.close().await;

    let pg = PostgresStore::open(PostgresOptions::from_url(&url), kek(1))
        .await
        .unwrap();
    let from_pg = everything(&pg, &api_keys, &auths).await;
    assert_eq!(from_pg, from_lite);
    // Spot checks that the comparison compared something.
    assert_eq!(from_pg.sites.len(), 2);
    assert!(from_pg.keys.iter().any(|k| k.pinned));
    assert!(from_pg
        .keys
        .iter()
        .any(|k| k.period == Some(42) && k.iv == Some([0xaa; 16])));
    assert_eq!(
        from_pg
            .clients_by_key
            .iter()
            .filter(|c| c.is_some())
            .count(),
        2
    );
    assert_eq!(
        from_pg
            .customers_by_auth
            .iter()
            .filter(|c| c.is_some())
            .count(),
        3
    );
    assert_eq!(
        from_pg
            .customers
            .iter()
            .find(|c| c.customer_id == "acme")
            .unwrap()
            .tokens_issued,
        1
    );
    let [key, pw] = upstream_secret_values("ksm-b");
    assert!(from_pg.upstream_secrets.contains(&BTreeMap::from([
        ("api_key".to_owned(), key),
        ("password".to_owned(), pw)
    ])));
    assert_eq!(from_pg.seeds.iter().flatten().count(), 1);
    assert_eq!(from_pg.fairplay.len(), 2);
    assert_eq!(from_pg.audit.len(), 39);
    assert!(!from_pg.audit_alice.is_empty());

    // Single use: what was used stays used, partly used keeps its count.
    let r = pg
        .redeem("tok", b"used-once", t - 5, t + 600, 1)
        .await
        .unwrap();
    assert_eq!((r.accepted, r.use_count), (false, 1));
    let r = pg
        .redeem("tok", b"two-of-three", t - 5, t + 600, 3)
        .await
        .unwrap();
    assert_eq!((r.accepted, r.use_count), (true, 3));
    // Expired ones were not copied (and would count as absent anyway).
    assert!(
        pg.redeem("tok", &[b'x', 0], t - 5, t + 600, 1)
            .await
            .unwrap()
            .accepted
    );

    // New audit ids go past every id the SQLite store gave out.
    let id = pg.record(event(99, Some("COPA"), None)).await.unwrap();
    assert!(id > max_id, "{id} after {max_id}");
    pg.close().await;
}

/// A target with rows is refused, and left exactly as it was.
#[tokio::test]
async fn a_non_empty_target_is_refused() {
    let url = db!("copy_not_empty");
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    lite.create_site(common::new_site("SRCE")).await.unwrap();
    lite.close().await;
    let pg = PostgresStore::open(PostgresOptions::from_url(&url), kek(1))
        .await
        .unwrap();
    pg.create_site(common::new_site("TRGT")).await.unwrap();
    let site = pg.site(&site_id("TRGT")).await.unwrap();
    let before = pg_counts(&url).await;
    let e = copy(dir.path(), &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "target_not_empty", "{e}");
    assert!(e.is_refusal());
    let text = e.to_string();
    assert!(
        text.contains("sites (1 rows)") && text.contains("meta (1 rows)"),
        "{text}"
    );
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(pg_counts(&url).await, before);
    assert_eq!(pg.site(&site_id("TRGT")).await.unwrap(), site);
    assert_eq!(
        pg.site(&site_id("SRCE")).await.unwrap_err().code(),
        "site_not_found"
    );
    pg.close().await;
}

/// A KEK that does not unwrap the source's KEK check is refused before the
/// target is touched.
#[tokio::test]
async fn a_wrong_kek_is_refused_before_writing() {
    let url = db!("copy_wrong_kek");
    migrated(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    lite.create_site(common::new_site("KEKS")).await.unwrap();
    lite.close().await;
    let e = copy(dir.path(), &url, kek(2)).await.unwrap_err();
    assert_eq!(e.code(), "kek_mismatch", "{e}");
    assert!(pg_counts(&url).await.values().all(|n| *n == 0));
    // The right one copies.
    let (report, _) = copy(dir.path(), &url, kek(1)).await.unwrap();
    assert!(!report.source_in_use, "closed cleanly");
    assert_eq!(report.rows(), 2);
}

/// Schema differences are refused, naming what differs, with nothing written:
/// an old source, an unmigrated target, an extra column in the source.
#[tokio::test]
async fn schema_mismatches_are_refused() {
    let url = db!("copy_schema");
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    lite.create_site(common::new_site("SCHM")).await.unwrap();
    let path = lite.path().to_owned();
    lite.close().await;

    // The target never migrated.
    let e = copy(dir.path(), &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "target_schema", "{e}");
    assert!(e.to_string().contains("keyward migrate"), "{e}");
    migrated(&url).await;

    // A source at an older version (its last migration marked not applied).
    let pool = raw_sqlite(&path).await;
    let latest = keyward_store::sqlite::latest_schema_version();
    let mark = |success: bool| {
        sqlx::query("UPDATE _sqlx_migrations SET success = ?1 WHERE version = ?2")
            .bind(success)
            .bind(latest)
    };
    mark(false).execute(&pool).await.unwrap();
    let e = copy(dir.path(), &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "source_schema", "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("version {}", latest - 1))
            && text.contains(&format!("version {latest}")),
        "{text}"
    );
    mark(true).execute(&pool).await.unwrap();

    // A table the target lacks would be lost: refused.
    sqlx::query("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let e = copy(dir.path(), &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "schema_mismatch", "{e}");
    assert!(e.to_string().contains("notes"), "{e}");
    sqlx::query("DROP TABLE notes")
        .execute(&pool)
        .await
        .unwrap();
    // A column the target lacks, likewise.
    sqlx::query("ALTER TABLE sites ADD COLUMN nickname TEXT")
        .execute(&pool)
        .await
        .unwrap();
    let e = copy(dir.path(), &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "schema_mismatch", "{e}");
    let text = e.to_string();
    assert!(
        text.contains("table sites") && text.contains("nickname"),
        "{text}"
    );
    pool.close().await;
    assert!(pg_counts(&url).await.values().all(|n| *n == 0));

    // A missing source is never created.
    let missing = dir.path().join("nowhere");
    let e = copy(&missing, &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "source_not_found", "{e}");
    assert!(!missing.exists());

    // A store of the same schema copies.
    let other = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(other.path(), kek(1)).await.unwrap();
    lite.create_site(common::new_site("SCHM")).await.unwrap();
    lite.close().await;
    copy(other.path(), &url, kek(1)).await.unwrap();
}

/// 20,000 audit rows in batches: checksums agree, the progress callback sees
/// increasing counts, and the search reads the same pages.
#[tokio::test]
async fn a_large_audit_table_copies_in_batches() {
    let url = db!("copy_large");
    migrated(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    lite.create_site(common::new_site("BIGA")).await.unwrap();
    for chunk in 0..20 {
        let events = (0..1_000)
            .map(|i| {
                event(
                    chunk * 1_000 + i,
                    Some("BIGA"),
                    (i % 10 == 0).then_some("bob"),
                )
            })
            .collect();
        lite.record_batch(events).await.unwrap();
    }
    lite.sync().await.unwrap();
    let first_page = lite.search(&AuditQuery::default()).await.unwrap();
    lite.close().await;

    let started = std::time::Instant::now();
    let (report, calls) = copy(dir.path(), &url, kek(1)).await.unwrap();
    let audit = report.tables.iter().find(|t| t.table == "audit").unwrap();
    assert_eq!(audit.rows, 20_000);
    let progress: Vec<u64> = calls
        .iter()
        .filter(|(t, _, total)| t == "audit" && *total == 20_000)
        .map(|(_, done, _)| *done)
        .collect();
    assert_eq!(progress.first(), Some(&0));
    assert_eq!(progress.last(), Some(&20_000));
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(progress.len(), 20_000 / DEFAULT_BATCH_ROWS + 1);
    eprintln!("20,000 audit rows copied in {:?}", started.elapsed());

    let pg = PostgresStore::open(PostgresOptions::from_url(&url), kek(1))
        .await
        .unwrap();
    assert_eq!(pg.search(&AuditQuery::default()).await.unwrap(), first_page);
    let pool = raw_pg(&url).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE user_id = 'bob'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 2_000);
    pool.close().await;
    pg.close().await;
}

/// A failure in the middle of the copy leaves the target empty: a row the
/// target's constraints refuse (a negative upstream position, which SQLite's
/// check would refuse too, so it is written with the checks off), after
/// several tables were written.
#[tokio::test]
async fn a_failure_midway_rolls_everything_back() {
    let url = db!("copy_rollback");
    migrated(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    lite.create_site(common::new_site("GOOD")).await.unwrap();
    lite.record(event(1, Some("GOOD"), None)).await.unwrap();
    lite.sync().await.unwrap();
    let path = lite.path().to_owned();
    lite.close().await;
    let pool = raw_sqlite(&path).await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO upstreams (site_id, name, drm, position, kind, url, settings, \
         secret_names, secrets_wrapped, created_at) \
         VALUES ('GOOD', 'bad', 'Widevine', -1, 'ezdrm', 'https://x', '{}', '[]', NULL, 0)",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    pool.close().await;
    let e = copy(dir.path(), &url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "target", "{e}");
    assert!(e.to_string().contains("rolled back"), "{e}");
    assert!(pg_counts(&url).await.values().all(|n| *n == 0));
}

/// The URL's password never reaches an error message.
#[tokio::test]
async fn passwords_stay_out_of_errors() {
    if server().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    lite.close().await;
    // Nothing listens on port 1.
    let url = "postgres://keyward:hunter2-secret@127.0.0.1:1/nowhere";
    let e = copy(dir.path(), url, kek(1)).await.unwrap_err();
    assert_eq!(e.code(), "target", "{e}");
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
    let e = copy(dir.path(), "mysql://keyward:hunter2-secret@db/k", kek(1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input", "{e}");
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
}
