//! The PostgreSQL store against a real PostgreSQL that this test binary starts
//! (see `support/postgres_server.rs`): every conformance function the SQLite
//! tests run, plus what only a shared database shows — several nodes (stores
//! with pools of their own) deciding single use and making keys together,
//! concurrent migrations, the KEK check, secrets kept out of error messages,
//! the audit queue across an outage.
//!
//! One server serves the whole binary (started on first use, held in a
//! static); each test gets a database of its own. Statics are never dropped,
//! so the server is stopped by its watchdog when this process ends (however it
//! ends). The outage test starts a server of its own, which it kills and
//! restarts. Without PostgreSQL installed every test here passes without
//! running, after a loud message, unless `KEYWARD_REQUIRE_POSTGRES=1`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

mod common;
#[path = "support/postgres_server.rs"]
mod postgres_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use keyward_store::{
    AuditEvent, AuditQuery, AuditStore, Backend, Kek, KeyStore, Lifecycle, PostgresOptions,
    PostgresStore, ReplayStore, SiteStore, SqliteStore, Store, TrackType,
};
use postgres_server::PostgresServer;
use sqlx::Row as _;

use common::{new_key, new_site, now, site_id};

static SERVER: OnceLock<Option<PostgresServer>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The shared server, started on first use; `None`: PostgreSQL is not
/// installed (skip).
fn server() -> Option<&'static PostgresServer> {
    SERVER
        .get_or_init(|| PostgresServer::start_or_skip("tests/postgres.rs"))
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

async fn open(url: &str) -> PostgresStore {
    PostgresStore::open(PostgresOptions::from_url(url), kek(1))
        .await
        .unwrap()
}

/// A pool of its own, for looking under the hood.
async fn raw(url: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(url).await.unwrap()
}

async fn count(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

// ---- the conformance suite ---------------------------------------------------------

#[tokio::test]
async fn pg_site_crud() {
    let url = db!("site_crud");
    common::site_crud(&open(&url).await).await;
}

#[tokio::test]
async fn pg_key_crud() {
    let url = db!("key_crud");
    common::key_crud(&open(&url).await).await;
}

#[tokio::test]
async fn pg_fairplay_credentials() {
    let url = db!("fairplay");
    common::fairplay_credentials(&open(&url).await).await;
}

#[tokio::test]
async fn pg_upstreams() {
    let url = db!("upstreams");
    common::upstreams(&open(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_concurrent_upstream_adds() {
    let url = db!("upstream_adds");
    common::concurrent_upstream_adds(Arc::new(open(&url).await)).await;
}

#[tokio::test]
async fn pg_replay_rules() {
    let url = db!("replay_rules");
    common::replay_rules(&open(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_concurrent_redeem_accepts_exactly_one() {
    let url = db!("concurrent_redeem");
    let store: Arc<dyn Store> = Arc::new(open(&url).await);
    common::concurrent_redeem(store).await;
}

#[tokio::test]
async fn pg_audit_trail() {
    let url = db!("audit_trail");
    common::audit_trail(&open(&url).await).await;
}

#[tokio::test]
async fn pg_audit_search() {
    let url = db!("audit_search");
    common::audit_search(&open(&url).await).await;
}

#[tokio::test]
async fn pg_stream_slots() {
    let url = db!("stream_slots");
    common::stream_slots(&open(&url).await).await;
}

#[tokio::test]
async fn pg_lifecycle() {
    let url = db!("lifecycle");
    let store = open(&url).await;
    // No claim to take: every node decides in the database.
    store.claim_replay().await.unwrap();
    common::lifecycle(&store).await;
    let again = open(&url).await;
    again.claim_replay().await.unwrap();
    again.close().await;
}

#[tokio::test]
async fn pg_from_the_factory() {
    let url = db!("factory");
    let stores = keyward_store::open(Backend::Postgres {
        options: PostgresOptions::from_url(&url),
        kek: kek(1),
    })
    .await
    .unwrap();
    common::per_concern_handles(stores).await;
    let reopened = open(&url).await;
    assert_eq!(reopened.sites().await.unwrap().len(), 1);
    reopened.close().await;
}

#[tokio::test]
async fn pg_key_coordinates() {
    let url = db!("key_coordinates");
    common::key_coordinates(&open(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_concurrent_ensure_key() {
    let url = db!("concurrent_ensure_key");
    common::concurrent_ensure_key(Arc::new(open(&url).await)).await;
}

#[tokio::test]
async fn pg_packagers() {
    let url = db!("packagers");
    common::packagers(&open(&url).await).await;
}

// ---- several nodes on one database ----------------------------------------------------

/// Two stores with pools of their own are two nodes: 200 concurrent uses of
/// one token, spread over both, accept exactly `max_uses`, numbered 1..=max;
/// every refusal reports the count on record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_replay_is_decided_across_nodes() {
    let url = db!("replay_nodes");
    let nodes: [Arc<PostgresStore>; 2] = [Arc::new(open(&url).await), Arc::new(open(&url).await)];
    let expires = now() + 600;
    for (token, max_uses) in [([0x51u8; 32], 1u32), ([0x52; 32], 3), ([0x53; 32], 7)] {
        let mut tasks = Vec::new();
        for i in 0..200 {
            let node = nodes[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                node.redeem("multi-node", &token, now(), expires, max_uses)
                    .await
                    .unwrap()
            }));
        }
        let mut accepted = Vec::new();
        for task in tasks {
            let r = task.await.unwrap();
            assert!(!r.unverifiable);
            if r.accepted {
                accepted.push(r.use_count);
            } else {
                assert_eq!(
                    r.use_count, max_uses,
                    "a refusal reports the count on record"
                );
            }
        }
        accepted.sort_unstable();
        assert_eq!(
            accepted,
            (1..=max_uses).collect::<Vec<_>>(),
            "max_uses {max_uses}"
        );
        // Either node sees it used up afterwards.
        for node in &nodes {
            let r = node
                .redeem("multi-node", &token, now(), expires, max_uses)
                .await
                .unwrap();
            assert_eq!((r.use_count, r.accepted), (max_uses, false));
        }
    }
    // A later expiry extends the entry; an expired one counts as absent.
    let id = [0x60u8; 16];
    let r = nodes[0]
        .redeem("ext", &id, now(), now() - 5, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, true));
    let r = nodes[1]
        .redeem("ext", &id, now(), now() + 60, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, true), "expired entry reset");
    let r = nodes[0]
        .redeem("ext", &id, now(), now() + 600, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (2, true));
    let pool = raw(&url).await;
    let row = sqlx::query("SELECT use_count, expires_at FROM redemptions WHERE token_id = $1")
        .bind(&id[..])
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("use_count"), 2);
    assert!(row.get::<i64, _>("expires_at") >= now() + 590, "extended");
    for node in &nodes {
        node.close().await;
    }
}

/// Concurrent first requests for one key coordinate, spread over two nodes,
/// agree on one key; so do pinned keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_ensure_key_is_atomic_across_nodes() {
    let url = db!("ensure_key_nodes");
    let nodes: [Arc<PostgresStore>; 2] = [Arc::new(open(&url).await), Arc::new(open(&url).await)];
    nodes[0].create_site(new_site("KNOD")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64u8 {
        let node = nodes[usize::from(i) % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut k = new_key("KNOD", "live", TrackType::Hd, i, i);
            k.period = Some(9);
            let coordinate = node.ensure_key(k).await.unwrap();
            let pinned = node
                .ensure_pinned_key(new_key("KNOD", "pinned", TrackType::Sd, 0xEE, i))
                .await
                .unwrap();
            (coordinate, pinned)
        }));
    }
    let (mut kids, mut made, mut pinned_keys, mut pinned_made) = (
        std::collections::BTreeSet::new(),
        0,
        std::collections::BTreeSet::new(),
        0,
    );
    for task in tasks {
        let ((rec, created), (pinned, pinned_created)) = task.await.unwrap();
        kids.insert(rec.kid);
        made += usize::from(created);
        pinned_keys.insert(pinned.key.expose().to_vec());
        pinned_made += usize::from(pinned_created);
    }
    assert_eq!((kids.len(), made), (1, 1));
    assert_eq!((pinned_keys.len(), pinned_made), (1, 1));
    let keys = nodes[1]
        .keys_for_content(&site_id("KNOD"), "live")
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].period, Some(9));
    for node in &nodes {
        node.close().await;
    }
}

/// Two nodes that open a new database at the same moment both migrate it
/// (one after the other, on the migrator's advisory lock) and agree on one
/// KEK check; migrating again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_concurrent_migrations_are_safe() {
    let url = db!("migrations");
    let (a, b, c) = tokio::join!(open(&url), open(&url), open(&url));
    let pool = raw(&url).await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(applied, [(1, true), (2, true)]);
    assert_eq!(count(&pool, "meta").await, 1);
    a.migrate().await.unwrap();
    keyward_store::postgres::migrate(&PostgresOptions::from_url(&url))
        .await
        .unwrap();
    assert_eq!(count(&pool, "_sqlx_migrations").await, 2);
    a.create_site(new_site("MIGR")).await.unwrap();
    assert_eq!(c.sites().await.unwrap().len(), 1);
    // Without migrations at open, a migrated database opens as well.
    let mut options = PostgresOptions::from_url(&url);
    options.migrate = false;
    let d = PostgresStore::open(options, kek(1)).await.unwrap();
    assert_eq!(d.sites().await.unwrap().len(), 1);
    // An edited migration is refused (the checksum no longer matches).
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(a.migrate().await.unwrap_err().code(), "backend");
    for s in [a, b, c, d] {
        s.close().await;
    }
}

/// The pool's connections carry the statement timeout (none when unset) and
/// the pool its size.
#[tokio::test]
async fn pg_pool_settings() {
    let url = db!("pool_settings");
    let store = open(&url).await;
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(shown, "5s");
    assert_eq!(store.pool().options().get_max_connections(), 16);
    store.close().await;
    let mut options = PostgresOptions::from_url(&url);
    options.statement_timeout = Some(Duration::from_millis(150));
    options.max_connections = 2;
    let store = PostgresStore::open(options, kek(1)).await.unwrap();
    assert_eq!(store.pool().options().get_max_connections(), 2);
    let err = sqlx::query("SELECT pg_sleep(1)")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");
    store.close().await;
    let mut options = PostgresOptions::from_url(&url);
    options.statement_timeout = None;
    let store = PostgresStore::open(options, kek(1)).await.unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(shown, "0");
    store.close().await;
}

#[tokio::test]
async fn pg_wrong_kek_is_refused_at_open() {
    let url = db!("wrong_kek");
    let store = open(&url).await;
    store.create_site(new_site("TUTO")).await.unwrap();
    store.close().await;
    let err = PostgresStore::open(PostgresOptions::from_url(&url), kek(2))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "kek_mismatch");
    // The right one still works.
    let store = open(&url).await;
    assert_eq!(store.sites().await.unwrap().len(), 1);
    store.close().await;
}

/// The URL's password appears in no error: not in `Display`, not in `Debug`,
/// not in the detail kept for logs; nor in the options' `Debug`.
#[tokio::test]
async fn pg_password_stays_out_of_errors() {
    let Some(server) = server() else { return };
    let secret = "Sup3r-S3cret_pw";
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = nobody.local_addr().unwrap().port();
    drop(nobody);
    let urls = [
        // Nothing listens there.
        format!("postgres://keyward:{secret}@127.0.0.1:{closed_port}/x"),
        // The server is there, the database is not.
        format!(
            "postgres://keyward:{secret}@127.0.0.1:{}/no_such_db",
            server.port()
        ),
        // Not a URL sqlx takes.
        format!("postgres://keyward:{secret}@127.0.0.1:notaport/x"),
        format!("postgres://keyward@127.0.0.1:{closed_port}/x?password={secret}&sslmode=disable"),
    ];
    for url in urls {
        let mut options = PostgresOptions::from_url(&url);
        options.acquire_timeout = Duration::from_secs(2);
        let shown = format!("{options:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        let err = PostgresStore::open(options.clone(), kek(1))
            .await
            .unwrap_err();
        for text in [
            err.to_string(),
            format!("{err:?}"),
            err.detail().unwrap_or_default().to_owned(),
        ] {
            assert!(!text.contains(secret), "{url}: {text}");
        }
        let err = keyward_store::postgres::migrate(&options)
            .await
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains(secret));
        let err = keyward_store::open(Backend::Postgres {
            options,
            kek: kek(1),
        })
        .await
        .unwrap_err();
        assert!(!format!("{err} {err:?}").contains(secret));
    }
}

// ---- what is stored, and how -------------------------------------------------------------

#[tokio::test]
async fn pg_data_persists_across_reopen() {
    let url = db!("persists");
    let later = now() + 3600;
    let (site, key) = {
        let store = open(&url).await;
        let site = store.create_site(new_site("TUTO")).await.unwrap();
        let key = store
            .generate_key(&site.site_id, "movie", TrackType::Hd, None)
            .await
            .unwrap();
        assert!(
            store
                .redeem("ns", b"token-1", now(), later, 1)
                .await
                .unwrap()
                .accepted
        );
        // Written by the queue, and close waits for it.
        store
            .record_batch(vec![AuditEvent::new("key_generated", "ok")])
            .await
            .unwrap();
        store.close().await;
        (site, key)
    };
    let store = open(&url).await;
    assert_eq!(store.site(&site.site_id).await.unwrap(), site);
    assert_eq!(
        store.key_by_kid(&site.site_id, &key.kid).await.unwrap(),
        key
    );
    let r = store
        .redeem("ns", b"token-1", now(), later, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, false));
    assert_eq!(store.recent(None, 10).await.unwrap().len(), 1);
    store.close().await;
}

/// Both SQL backends store the same bytes: a site row and a key row written
/// by the SQLite store, copied column for column into PostgreSQL, read back
/// by the PostgreSQL store under the same KEK — and a row moved to another
/// site fails to unwrap.
#[tokio::test]
async fn pg_reads_what_sqlite_wrapped() {
    let url = db!("cross_backend");
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    let site = lite.create_site(new_site("XBCK")).await.unwrap();
    let key = lite
        .put_key(new_key("XBCK", "movie", TrackType::Hd, 7, 0x77), false)
        .await
        .unwrap();
    let lite_pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(lite.path()),
    )
    .await
    .unwrap();
    let s = sqlx::query("SELECT * FROM sites")
        .fetch_one(&lite_pool)
        .await
        .unwrap();
    let k = sqlx::query("SELECT * FROM content_keys")
        .fetch_one(&lite_pool)
        .await
        .unwrap();
    let store = open(&url).await;
    let pool = raw(&url).await;
    let insert_site = |id: &'static str| {
        sqlx::query(
            "INSERT INTO sites (site_id, site_key_wrapped, access_key_wrapped, \
             token_window_secs, future_leeway_secs, allowed_drms, cors_origins, fairplay_cert, \
             widevine_service_cert, error_style, callback_url, disabled, created_at, \
             callback_settings) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(id)
        .bind(s.get::<Vec<u8>, _>("site_key_wrapped"))
        .bind(s.get::<Vec<u8>, _>("access_key_wrapped"))
        .bind(s.get::<i64, _>("token_window_secs"))
        .bind(s.get::<i64, _>("future_leeway_secs"))
        .bind(s.get::<String, _>("allowed_drms"))
        .bind(s.get::<String, _>("cors_origins"))
        .bind(s.get::<Option<Vec<u8>>, _>("fairplay_cert"))
        .bind(s.get::<Option<Vec<u8>>, _>("widevine_service_cert"))
        .bind(s.get::<String, _>("error_style"))
        .bind(s.get::<Option<String>, _>("callback_url"))
        .bind(s.get::<bool, _>("disabled"))
        .bind(s.get::<i64, _>("created_at"))
        .bind(s.get::<String, _>("callback_settings"))
    };
    insert_site("XBCK").execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO content_keys (site_id, kid, cid, track_type, key_wrapped, iv, label, \
         created_at, period, pinned) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(k.get::<String, _>("site_id"))
    .bind(k.get::<Vec<u8>, _>("kid"))
    .bind(k.get::<String, _>("cid"))
    .bind(k.get::<String, _>("track_type"))
    .bind(k.get::<Vec<u8>, _>("key_wrapped"))
    .bind(k.get::<Option<Vec<u8>>, _>("iv"))
    .bind(k.get::<Option<String>, _>("label"))
    .bind(k.get::<i64, _>("created_at"))
    .bind(k.get::<Option<i64>, _>("period"))
    .bind(k.get::<i64, _>("pinned") != 0)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(store.site(&site_id("XBCK")).await.unwrap(), site);
    assert_eq!(
        store.key_by_kid(&site_id("XBCK"), &key.kid).await.unwrap(),
        key
    );
    // The same wrapped secrets under another site id: refused.
    insert_site("MOVD").execute(&pool).await.unwrap();
    assert_eq!(
        store.site(&site_id("MOVD")).await.unwrap_err().code(),
        "unwrap_failed"
    );
    // And what PostgreSQL stores is wrapped, not the secret.
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT key_wrapped FROM content_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!wrapped.windows(16).any(|w| w == [0x77; 16]));
    lite.close().await;
    store.close().await;
}

/// Text orders bytewise whatever the database's locale (as SQLite's BINARY):
/// a database created with another collation lists the same order.
#[tokio::test]
async fn pg_orders_bytewise() {
    let url = db!("ordering");
    let store = open(&url).await;
    store.create_site(new_site("ORDR")).await.unwrap();
    for (i, cid) in ["b", "B", "a", "A", "_x", "Z"].iter().enumerate() {
        let n = u8::try_from(i + 1).unwrap();
        store
            .put_key(new_key("ORDR", cid, TrackType::Hd, n, n), false)
            .await
            .unwrap();
    }
    let listed: Vec<String> = store
        .list_keys(&site_id("ORDR"), None)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.cid)
        .collect();
    assert_eq!(listed, ["A", "B", "Z", "_x", "a", "b"]);
    store.close().await;
}

/// A batch larger than one write goes in whole, in order; a batch with one
/// invalid event writes nothing; following by id sees write order.
#[tokio::test]
async fn pg_audit_batches_in_order() {
    let url = db!("audit_batches");
    let store = open(&url).await;
    let events: Vec<AuditEvent> = (0..5000)
        .map(|i| {
            let mut e = AuditEvent::new("license", "ok");
            e.cid = Some(format!("cid-{i}"));
            e.detail = serde_json::json!({ "n": i });
            e
        })
        .collect();
    store.record_batch(events).await.unwrap();
    let recent = store.recent(None, 1000).await.unwrap();
    assert_eq!(recent.len(), 1000);
    assert_eq!(recent[0].event.cid.as_deref(), Some("cid-4999"));
    assert_eq!(recent[0].event.detail, serde_json::json!({ "n": 4999 }));
    let mut q = AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    };
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.follow(&q, after).await.unwrap();
        seen.extend(
            page.records
                .iter()
                .map(|r| r.event.detail["n"].as_i64().unwrap()),
        );
        match page.next {
            Some(n) => after = n,
            None => break,
        }
        q.before = None;
    }
    assert_eq!(seen, (0..5000).collect::<Vec<i64>>());
    let mut bad = AuditEvent::new("license", "ok");
    bad.cid = Some("x".repeat(300));
    assert_eq!(
        store
            .record_batch(vec![AuditEvent::new("license", "ok"), bad])
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    assert_eq!(count(&raw(&url).await, "audit").await, 5000);
    store.close().await;
}

/// Concurrent single records share transactions and each gets its own id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_concurrent_records_get_distinct_ids() {
    let url = db!("audit_concurrent");
    let store = Arc::new(open(&url).await);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = AuditEvent::new("license", "ok");
            e.request_id = Some(format!("r{i}"));
            (i, store.record(e).await.unwrap())
        }));
    }
    let mut ids = std::collections::BTreeMap::new();
    for t in tasks {
        let (i, id) = t.await.unwrap();
        ids.insert(id, i);
    }
    assert_eq!(ids.len(), 300);
    for r in store.recent(None, 1000).await.unwrap() {
        assert_eq!(
            r.event.request_id,
            Some(format!("r{}", ids[&r.id])),
            "id {} is the event it was returned for",
            r.id
        );
    }
    store.close().await;
}

// ---- the audit queue across an outage ------------------------------------------------

/// PostgreSQL stops: batches are kept (the call answers) and written once it
/// is back; single records fail meanwhile; health says so. A server of its
/// own, since it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_audit_queue_survives_an_outage() {
    if server().is_none() {
        return;
    }
    let Some(own) = PostgresServer::start_or_skip("pg_audit_queue_survives_an_outage") else {
        return;
    };
    let url = own.create_database("outage");
    let mut options = PostgresOptions::from_url(&url);
    options.acquire_timeout = Duration::from_secs(1);
    let store = PostgresStore::open(options, kek(1)).await.unwrap();
    let batch = |tag: &str| -> Vec<AuditEvent> {
        (0..10)
            .map(|i| {
                let mut e = AuditEvent::new("license", "ok");
                e.request_id = Some(format!("{tag}-{i}"));
                e
            })
            .collect()
    };
    store.record_batch(batch("before")).await.unwrap();

    own.kill();
    assert_eq!(store.health().await.unwrap_err().code(), "backend");
    // The first batch waits for one failed attempt, then is kept; the next
    // ones are taken at once.
    store.record_batch(batch("during-1")).await.unwrap();
    let started = Instant::now();
    store.record_batch(batch("during-2")).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        store
            .record(AuditEvent::new("license", "ok"))
            .await
            .unwrap_err()
            .code(),
        "backend"
    );
    assert!(store.flush_audit().await.is_err());

    own.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.flush_audit().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the kept events were never written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut written: Vec<String> = store
        .recent(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.event.request_id)
        .collect();
    written.sort();
    let mut want: Vec<String> = ["before", "during-1", "during-2"]
        .iter()
        .flat_map(|t| (0..10).map(move |i| format!("{t}-{i}")))
        .collect();
    want.sort();
    assert_eq!(written, want);
    // Pooled connections broken by the restart fail one query each and are
    // dropped; the probe succeeds once a live one answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.health().await.is_err() {
        assert!(Instant::now() < deadline, "health never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
    assert_eq!(
        store.record_batch(batch("after")).await.unwrap_err().code(),
        "backend"
    );
}

// ---- customers and clients (no conformance function covers them) ---------------------

/// Customers and Studio clients, run against PostgreSQL and, for parity,
/// against SQLite: the same answers from both.
async fn customers_and_clients(store: &dyn Store) {
    use keyward_store::{AuthEnv, ClientSettings, CustomerSettings, NewClient, NewCustomer};
    let new_customer = |id: &str, n: u8, quota: Option<u64>| NewCustomer {
        customer_id: id.to_owned(),
        test_hash: [n; 32],
        production_hash: [n + 100; 32],
        settings: CustomerSettings {
            token_quota: quota,
            ..CustomerSettings::default()
        },
    };
    let c = store
        .create_customer(new_customer("zeta", 1, Some(2)))
        .await
        .unwrap();
    assert_eq!((c.customer_id.as_str(), c.tokens_issued), ("zeta", 0));
    let code =
        |r: Result<keyward_store::Customer, keyward_store::StoreError>| r.unwrap_err().code();
    assert_eq!(
        code(store.create_customer(new_customer("zeta", 2, None)).await),
        "customer_exists"
    );
    assert_eq!(
        code(store.create_customer(new_customer("other", 1, None)).await),
        "customer_exists"
    );
    store
        .create_customer(new_customer("alpha", 3, None))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .customers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.customer_id)
        .collect();
    assert_eq!(ids, ["alpha", "zeta"]);
    let (found, env) = store
        .customer_by_authenticator(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.customer_id.as_str(), env), ("zeta", AuthEnv::Test));
    let (_, env) = store
        .customer_by_authenticator(&[101; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(env, AuthEnv::Production);
    assert!(store
        .customer_by_authenticator(&[9; 32])
        .await
        .unwrap()
        .is_none());
    assert!(store.take_customer_token("zeta").await.unwrap());
    assert!(store.take_customer_token("zeta").await.unwrap());
    assert!(
        !store.take_customer_token("zeta").await.unwrap(),
        "quota of 2 used up"
    );
    assert_eq!(store.customer("zeta").await.unwrap().tokens_issued, 2);
    assert!(
        store.take_customer_token("alpha").await.unwrap(),
        "no quota"
    );
    assert_eq!(
        store
            .take_customer_token("nobody")
            .await
            .unwrap_err()
            .code(),
        "customer_not_found"
    );
    let raised = CustomerSettings {
        token_quota: Some(3),
        ..CustomerSettings::default()
    };
    assert_eq!(
        store
            .update_customer("zeta", raised.clone())
            .await
            .unwrap()
            .settings,
        raised
    );
    assert!(store.take_customer_token("zeta").await.unwrap());
    store
        .rotate_customer_authenticator("zeta", AuthEnv::Test, [50; 32])
        .await
        .unwrap();
    assert!(store
        .customer_by_authenticator(&[1; 32])
        .await
        .unwrap()
        .is_none());
    assert!(store
        .customer_by_authenticator(&[50; 32])
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .rotate_customer_authenticator("zeta", AuthEnv::Production, [103; 32])
            .await
            .unwrap_err()
            .code(),
        "customer_exists",
        "alpha's production hash"
    );
    store.delete_customer("zeta").await.unwrap();
    assert_eq!(code(store.customer("zeta").await), "customer_not_found");
    assert_eq!(
        store.delete_customer("zeta").await.unwrap_err().code(),
        "customer_not_found"
    );

    store.create_site(new_site("CLNT")).await.unwrap();
    let new_client = |name: &str, site: &str, hash: u8| NewClient {
        name: name.to_owned(),
        site_id: site_id(site),
        settings: ClientSettings::default(),
        secret: keyward_store::SiteSecret::from_bytes(&[hash; 32]).unwrap(),
        api_key: ("first".to_owned(), [hash; 32]),
    };
    let app = store
        .create_client(new_client("app", "CLNT", 1))
        .await
        .unwrap();
    assert_eq!((app.api_keys.len(), app.secrets.len()), (1, 1));
    let ccode = |r: Result<keyward_store::Client, keyward_store::StoreError>| r.unwrap_err().code();
    assert_eq!(
        ccode(store.create_client(new_client("app", "CLNT", 2)).await),
        "client_exists"
    );
    assert_eq!(
        ccode(store.create_client(new_client("b", "NONE", 3)).await),
        "site_not_found"
    );
    assert_eq!(
        ccode(store.create_client(new_client("c", "CLNT", 1)).await),
        "client_exists"
    );
    for n in 2..=16u8 {
        store
            .add_api_key("app", &format!("k{n}"), [n + 10; 32])
            .await
            .unwrap();
    }
    let full = store.add_api_key("app", "k17", [99; 32]).await.unwrap_err();
    assert!(matches!(
        full,
        keyward_store::StoreError::InvalidInput {
            field: "api_keys",
            ..
        }
    ));
    assert_eq!(
        store
            .add_api_key("nobody", "k", [98; 32])
            .await
            .unwrap_err()
            .code(),
        "client_not_found"
    );
    let keys = store.client("app").await.unwrap().api_keys;
    assert_eq!(keys.len(), 16);
    assert_eq!(
        store
            .remove_api_key("app", "nosuchid")
            .await
            .unwrap_err()
            .code(),
        "api_key_not_found"
    );
    for k in &keys[1..] {
        store.remove_api_key("app", &k.id).await.unwrap();
    }
    let last = store.remove_api_key("app", &keys[0].id).await.unwrap_err();
    assert!(matches!(
        last,
        keyward_store::StoreError::InvalidInput {
            field: "api_keys",
            ..
        }
    ));
    assert_eq!(
        store
            .client_by_api_key(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .name,
        "app"
    );
    assert!(store.client_by_api_key(&[12; 32]).await.unwrap().is_none());
    for n in 2..=6u8 {
        store
            .add_client_secret(
                "app",
                keyward_store::SiteSecret::from_bytes(&[n; 32]).unwrap(),
            )
            .await
            .unwrap();
    }
    let secrets = store.client("app").await.unwrap().secrets;
    let firsts: Vec<u8> = secrets.iter().map(|s| s.expose()[0]).collect();
    assert_eq!(firsts, [6, 5, 4, 3], "the newest four, newest first");
    assert_eq!(
        ccode(
            store
                .add_client_secret(
                    "nobody",
                    keyward_store::SiteSecret::from_bytes(&[1; 32]).unwrap()
                )
                .await
        ),
        "client_not_found"
    );
    let settings = ClientSettings {
        ttl_secs: 60,
        ..ClientSettings::default()
    };
    assert_eq!(
        store
            .update_client("app", settings.clone())
            .await
            .unwrap()
            .settings,
        settings
    );
    store.delete_client("app").await.unwrap();
    assert_eq!(ccode(store.client("app").await), "client_not_found");
    assert!(store.clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn pg_customers_and_clients() {
    let url = db!("customers_clients");
    let store = open(&url).await;
    customers_and_clients(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_customers_and_clients_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), kek(1)).await.unwrap();
    customers_and_clients(&store).await;
    store.close().await;
}

/// Secrets added at once on two nodes get distinct sequence numbers (the
/// client's row is locked while one is numbered).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_client_secrets_are_numbered_across_nodes() {
    use keyward_store::{ClientSettings, ClientStore as _, NewClient, SiteSecret};
    let url = db!("client_secrets_nodes");
    let nodes: [Arc<PostgresStore>; 2] = [Arc::new(open(&url).await), Arc::new(open(&url).await)];
    nodes[0].create_site(new_site("CSEC")).await.unwrap();
    nodes[0]
        .create_client(NewClient {
            name: "app".into(),
            site_id: site_id("CSEC"),
            settings: ClientSettings::default(),
            secret: SiteSecret::from_bytes(&[1; 32]).unwrap(),
            api_key: ("k".into(), [1; 32]),
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 2..34u8 {
        let node = nodes[usize::from(n) % 2].clone();
        tasks.push(tokio::spawn(async move {
            node.add_client_secret("app", SiteSecret::from_bytes(&[n; 32]).unwrap())
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let pool = raw(&url).await;
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM client_secrets ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(seqs, [30, 31, 32, 33]);
    assert_eq!(nodes[1].client("app").await.unwrap().secrets.len(), 4);
    for node in &nodes {
        node.close().await;
    }
}
