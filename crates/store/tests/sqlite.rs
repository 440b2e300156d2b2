//! The SQLite store against real database files in a temp dir.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use keyward_store::fairplay::cert_hash;
use keyward_store::{AuditStore, FairPlayStore, KeyStore, ReplayStore, UpstreamStore};
use keyward_store::{Drm, StoreError, UpstreamSecret};
use keyward_store::{FpsAsk, FpsSecretKey, NewFairPlayCredential};
use keyward_store::{
    Kek, Kid, NewSite, SiteId, SiteSecret, SiteSettings, SiteStore, SqliteStore, Store, TrackType,
};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use common::{
    fps_cert, fps_hashes, hashes_of, new_fps, new_key, new_site, new_upstream, now, site_id,
    upstream_secret_values,
};

fn kek(byte: u8) -> Kek {
    Kek::from_bytes(&[byte; 32]).unwrap()
}

async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, kek(1)).await.unwrap()
}

/// A separate connection to the same file, for looking under the hood.
async fn raw(store: &SqliteStore) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(store.path()))
        .await
        .unwrap()
}

async fn count(pool: &SqlitePool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_site_crud() {
    let dir = tempfile::tempdir().unwrap();
    common::site_crud(&open(dir.path()).await).await;
}

#[tokio::test]
async fn sqlite_key_crud() {
    let dir = tempfile::tempdir().unwrap();
    common::key_crud(&open(dir.path()).await).await;
}

#[tokio::test]
async fn sqlite_fairplay_credentials() {
    let dir = tempfile::tempdir().unwrap();
    common::fairplay_credentials(&open(dir.path()).await).await;
}

#[tokio::test]
async fn sqlite_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    common::upstreams(&open(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_upstream_adds() {
    let dir = tempfile::tempdir().unwrap();
    common::concurrent_upstream_adds(Arc::new(open(dir.path()).await)).await;
}

#[tokio::test]
async fn sqlite_replay_rules() {
    let dir = tempfile::tempdir().unwrap();
    common::replay_rules(&open(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_redeem_accepts_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(open(dir.path()).await);
    common::concurrent_redeem(store).await;
}

#[tokio::test]
async fn sqlite_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    common::audit_trail(&open(dir.path()).await).await;
}

#[tokio::test]
async fn sqlite_audit_search() {
    let dir = tempfile::tempdir().unwrap();
    common::audit_search(&open(dir.path()).await).await;
}

#[tokio::test]
async fn open_creates_directories_and_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/data");
    let store = SqliteStore::open(&nested, kek(1)).await.unwrap();
    assert_eq!(store.path(), nested.join("keyward.db"));
    assert!(store.path().is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An explicit file name is used as is.
    let file = dir.path().join("x/custom.sqlite");
    let store = SqliteStore::open(&file, kek(1)).await.unwrap();
    assert_eq!(store.path(), file);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw(&store).await)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn wrong_kek_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_site(new_site("TUTO")).await.unwrap();
    store.close().await;
    drop(store);

    let err = SqliteStore::open(dir.path(), kek(2)).await.unwrap_err();
    assert_eq!(err.code(), "kek_mismatch");
    // The right one still works.
    let store = open(dir.path()).await;
    assert_eq!(store.sites().await.unwrap().len(), 1);
}

#[tokio::test]
async fn data_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let later = now() + 3600;
    let (site, key) = {
        let store = open(dir.path()).await;
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
        store
            .record(keyward_store::AuditEvent::new("key_generated", "ok"))
            .await
            .unwrap();
        store.close().await;
        (site, key)
    };
    let store = open(dir.path()).await;
    assert_eq!(store.site(&site.site_id).await.unwrap(), site);
    assert_eq!(
        store.key_by_kid(&site.site_id, &key.kid).await.unwrap(),
        key
    );
    // A used token stays used after a restart.
    let r = store
        .redeem("ns", b"token-1", now(), later, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, false));
    assert_eq!(store.recent(None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn secrets_are_wrapped_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let site = store.create_site(new_site("TUTO")).await.unwrap();
    let key = store
        .put_key(new_key("TUTO", "movie", TrackType::Hd, 1, 0xA7), false)
        .await
        .unwrap();
    let pool = raw(&store).await;
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT key_wrapped FROM content_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(wrapped.len(), 1 + 12 + 16 + 16);
    assert!(!wrapped.windows(16).any(|w| w == key.key.expose()));
    pool.close().await;
    store.close().await;

    // No plaintext secret anywhere in the database files.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(!bytes.is_empty());
    for secret in [
        &key.key.expose()[..],
        &site.site_key.expose()[..],
        &site.access_key.expose()[..],
    ] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
    }
}

#[tokio::test]
async fn wrapped_value_moved_to_another_row_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_site(new_site("TUTO")).await.unwrap();
    store.create_site(new_site("ABCD")).await.unwrap();
    store
        .put_key(new_key("TUTO", "a", TrackType::Hd, 1, 0xA1), false)
        .await
        .unwrap();
    store
        .put_key(new_key("TUTO", "b", TrackType::Hd, 2, 0xA2), false)
        .await
        .unwrap();
    store
        .put_key(new_key("ABCD", "a", TrackType::Hd, 1, 0xB1), false)
        .await
        .unwrap();
    let pool = raw(&store).await;

    // Key of kid 1 copied onto kid 2 in the same site.
    sqlx::query(
        "UPDATE content_keys SET key_wrapped = \
         (SELECT key_wrapped FROM content_keys WHERE site_id = 'TUTO' AND kid = ?1) \
         WHERE site_id = 'TUTO' AND kid = ?2",
    )
    .bind(&[1u8; 16][..])
    .bind(&[2u8; 16][..])
    .execute(&pool)
    .await
    .unwrap();
    let err = store
        .key_by_kid(&site_id("TUTO"), &Kid([2; 16]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unwrap_failed");
    assert_eq!(
        store
            .keys_for_content(&site_id("TUTO"), "b")
            .await
            .unwrap_err()
            .code(),
        "unwrap_failed"
    );
    // Listing metadata still works: it never touches key material.
    assert_eq!(
        store.list_keys(&site_id("TUTO"), None).await.unwrap().len(),
        2
    );

    // Same kid, other site.
    sqlx::query(
        "UPDATE content_keys SET key_wrapped = \
         (SELECT key_wrapped FROM content_keys WHERE site_id = 'TUTO' AND kid = ?1) \
         WHERE site_id = 'ABCD' AND kid = ?1",
    )
    .bind(&[1u8; 16][..])
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        store
            .key_by_kid(&site_id("ABCD"), &Kid([1; 16]))
            .await
            .unwrap_err()
            .code(),
        "unwrap_failed"
    );
    assert_eq!(
        store
            .key_by_kid(&site_id("TUTO"), &Kid([1; 16]))
            .await
            .unwrap()
            .key
            .expose(),
        &[0xA1; 16]
    );

    // A site's access key copied into its site key slot, and across sites.
    sqlx::query("UPDATE sites SET site_key_wrapped = access_key_wrapped WHERE site_id = 'TUTO'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        store.site(&site_id("TUTO")).await.unwrap_err().code(),
        "unwrap_failed"
    );
    sqlx::query(
        "UPDATE sites SET access_key_wrapped = \
         (SELECT access_key_wrapped FROM sites WHERE site_id = 'TUTO') WHERE site_id = 'ABCD'",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        store.site(&site_id("ABCD")).await.unwrap_err().code(),
        "unwrap_failed"
    );
}

/// What an admin endpoint or the CLI does with raw input: parse, then create.
async fn create_from_raw(
    store: &SqliteStore,
    id: &str,
    site_key: &[u8],
    access_key: &[u8],
    settings: SiteSettings,
) -> Result<(), keyward_store::StoreError> {
    let site = NewSite {
        site_id: SiteId::parse(id)?,
        site_key: SiteSecret::from_bytes(site_key)?,
        access_key: SiteSecret::from_bytes(access_key)?,
        settings,
    };
    store.create_site(site).await.map(|_| ())
}

#[tokio::test]
async fn invalid_sites_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let pool = raw(&store).await;
    let good = [7u8; 32];

    for bad_id in ["TUT", "tuto", "TUTO1", "TÜTO", "", "TU_O"] {
        let err = create_from_raw(&store, bad_id, &good, &good, SiteSettings::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_site_id", "{bad_id:?}");
    }
    for len in [31usize, 33, 0, 16] {
        let bad = vec![7u8; len];
        let err = create_from_raw(&store, "TUTO", &bad, &good, SiteSettings::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_secret_length", "site_key {len}");
        let err = create_from_raw(&store, "TUTO", &good, &bad, SiteSettings::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_secret_length", "access_key {len}");
    }
    let bad_settings = SiteSettings {
        callback_url: Some("javascript:alert(1)".into()),
        ..SiteSettings::default()
    };
    let err = create_from_raw(&store, "TUTO", &good, &good, bad_settings)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_setting");

    assert_eq!(count(&pool, "sites").await, 0);
    assert!(store.sites().await.unwrap().is_empty());

    // Rotation to a wrong-length secret cannot be expressed; valid creation works.
    create_from_raw(&store, "TUTO", &good, &good, SiteSettings::default())
        .await
        .unwrap();
    assert_eq!(count(&pool, "sites").await, 1);

    // Invalid keys are refused too, with nothing written.
    let err = store
        .put_key(new_key("TUTO", "a\u{0}b", TrackType::Hd, 1, 1), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cid");
    let err = store
        .put_key(new_key("NONE", "a", TrackType::Hd, 1, 1), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "site_not_found");
    assert_eq!(count(&pool, "content_keys").await, 0);
}

#[tokio::test]
async fn expired_redemptions_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let later = now() + 3600;
    {
        let store = open(dir.path()).await;
        for i in 0..3u8 {
            assert!(
                store
                    .redeem("ns", &[i; 32], now(), now() - 5, 1)
                    .await
                    .unwrap()
                    .accepted
            );
        }
        assert!(
            store
                .redeem("ns", &[9; 32], now(), later, 1)
                .await
                .unwrap()
                .accepted
        );
        // Explicit purge: the three expired entries go, from memory and disk.
        assert_eq!(store.purge_expired(now()).await.unwrap(), 3);
        store.sync().await.unwrap();
        let pool = raw(&store).await;
        assert_eq!(count(&pool, "redemptions").await, 1);
        // The live one is still used; the purged ones count as new again.
        assert!(
            !store
                .redeem("ns", &[9; 32], now(), later, 1)
                .await
                .unwrap()
                .accepted
        );
        for i in 0..2u8 {
            assert!(
                store
                    .redeem("ns", &[i; 32], now(), now() - 5, 1)
                    .await
                    .unwrap()
                    .accepted
            );
        }
        store.close().await;
    }
    // A start loads only unexpired entries and sweeps the expired rows.
    let store = open(dir.path()).await;
    let r = store.redeem("ns", &[9; 32], now(), later, 1).await.unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, false, false));
    let pool = raw(&store).await;
    let mut left = count(&pool, "redemptions").await;
    for _ in 0..100 {
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        left = count(&pool, "redemptions").await;
    }
    assert_eq!(left, 1, "the expired rows are swept after a start");
}

#[tokio::test]
async fn redemptions_reach_the_disk_behind_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let later = now() + 3600;
    for i in 0..50u8 {
        assert!(
            store
                .redeem("ns", &[i; 40], now(), later, 2)
                .await
                .unwrap()
                .accepted
        );
    }
    assert!(
        store
            .redeem("ns", &[7; 40], now(), later, 2)
            .await
            .unwrap()
            .accepted
    );
    store.sync().await.unwrap();
    let pool = raw(&store).await;
    assert_eq!(count(&pool, "redemptions").await, 50);
    let uses: i64 = sqlx::query_scalar("SELECT use_count FROM redemptions WHERE token_id = ?1")
        .bind(&[7u8; 40][..])
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(uses, 2, "the last decision for a token is the row on disk");
    // Without sync: within a few flush intervals.
    assert!(
        store
            .redeem("ns", &[200; 40], now(), later, 1)
            .await
            .unwrap()
            .accepted
    );
    let mut n = 0;
    for _ in 0..100 {
        n = count(&pool, "redemptions").await;
        if n == 51 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(n, 51);
}

#[tokio::test]
async fn one_process_decides_per_database() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).await;
    first.claim_replay().await.unwrap();
    // A second opener (another `keyward serve` on the same file) may read and
    // administer, but not decide single use.
    let second = open(dir.path()).await;
    second.create_site(new_site("TUTO")).await.unwrap();
    assert_eq!(
        second.claim_replay().await.unwrap_err().code(),
        "store_locked"
    );
    let err = second
        .redeem("ns", &[1; 32], now(), now() + 60, 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store_locked");
    assert!(
        first
            .redeem("ns", &[1; 32], now(), now() + 60, 1)
            .await
            .unwrap()
            .accepted
    );
    // Once the first closes, the second takes over and sees its decision.
    first.close().await;
    second.claim_replay().await.unwrap();
    let r = second
        .redeem("ns", &[1; 32], now(), now() + 60, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, false, false));
    second.close().await;
}

#[tokio::test]
async fn after_an_unclean_stop_unknown_older_tokens_are_unverifiable() {
    let dir = tempfile::tempdir().unwrap();
    let later = now() + 3600;
    let before = now() - 20;
    {
        let store = open(dir.path()).await;
        assert!(
            store
                .redeem("ns", &[1; 32], before, later, 1)
                .await
                .unwrap()
                .accepted
        );
        store.close().await;
    }
    // A clean close leaves no fence: an unknown older token is simply new.
    {
        let store = open(dir.path()).await;
        let r = store
            .redeem("ns", &[2; 32], before, later, 1)
            .await
            .unwrap();
        assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, true, false));
        store.close().await;
    }
    // What a process that died leaves behind: its claim marker. (Its last
    // decisions, up to one flush interval, would be missing from the table.)
    {
        let store = open(dir.path()).await;
        let pool = raw(&store).await;
        sqlx::query("INSERT INTO meta (name, value) VALUES ('replay_claimed', x'31')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        store.close().await;
    }
    let store = open(dir.path()).await;
    let pool = raw(&store).await;
    let rows_before = count(&pool, "redemptions").await;
    // On record: refused as used, as always.
    let r = store
        .redeem("ns", &[1; 32], before, later, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, false, false));
    // Not on record and issued before this start: it may have been used in
    // the lost interval, so it is refused as unverifiable, and nothing is written.
    let r = store
        .redeem("ns", &[3; 32], before, later, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (0, false, true));
    store.sync().await.unwrap();
    assert_eq!(count(&pool, "redemptions").await, rows_before);
    // Issued after this start: accepted.
    let r = store
        .redeem("ns", &[4; 32], now() + 2, later, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, true, false));
    store.close().await;
    // That close was clean: the fence is gone on the next start.
    let store = open(dir.path()).await;
    let r = store
        .redeem("ns", &[3; 32], before, later, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, true, false));
    store.close().await;
}

#[tokio::test]
async fn kek_file_round_trip_opens_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (kek, generated) = Kek::load_or_generate(dir.path()).unwrap();
    assert!(generated);
    let store = SqliteStore::open(dir.path(), kek).await.unwrap();
    store.create_site(new_site("TUTO")).await.unwrap();
    store.close().await;
    let (kek, generated) = Kek::load_or_generate(dir.path()).unwrap();
    assert!(!generated);
    let store = SqliteStore::open(dir.path(), kek).await.unwrap();
    assert_eq!(store.sites().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_audit_batches_cross_chunks_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let events: Vec<keyward_store::AuditEvent> = (0..300)
        .map(|i| {
            let mut e = keyward_store::AuditEvent::new("license", "ok");
            e.cid = Some(format!("cid-{i}"));
            e.detail = serde_json::json!({"n": i});
            e
        })
        .collect();
    store.record_batch(events).await.unwrap();
    let recent = store.recent(None, 1000).await.unwrap();
    assert_eq!(recent.len(), 300);
    // Newest first: the last event of the batch comes back first.
    assert_eq!(recent[0].event.cid.as_deref(), Some("cid-299"));
    assert_eq!(recent[299].event.cid.as_deref(), Some("cid-0"));
    assert_eq!(recent[0].event.detail, serde_json::json!({"n": 299}));
    // An invalid event refuses the whole batch and writes nothing.
    let mut bad = keyward_store::AuditEvent::new("license", "ok");
    bad.cid = Some("x".repeat(300));
    let ok = keyward_store::AuditEvent::new("license", "ok");
    assert!(store.record_batch(vec![ok, bad]).await.is_err());
    assert_eq!(store.recent(None, 1000).await.unwrap().len(), 300);
}

#[tokio::test]
async fn a_failed_commit_keeps_decisions_and_retries_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let later = now() + 3600;
    assert!(
        store
            .redeem("ns", &[1; 32], now(), later, 1)
            .await
            .unwrap()
            .accepted
    );
    store.sync().await.unwrap();
    let pool = raw(&store).await;
    // The table disappears under the writer: its commits fail.
    sqlx::query("ALTER TABLE redemptions RENAME TO redemptions_hidden")
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        store
            .redeem("ns", &[2; 32], now(), later, 1)
            .await
            .unwrap()
            .accepted
    );
    assert_eq!(store.sync().await.unwrap_err().code(), "backend");
    // The decision holds in memory meanwhile.
    let r = store.redeem("ns", &[2; 32], now(), later, 1).await.unwrap();
    assert_eq!((r.use_count, r.accepted), (1, false));
    // Once writes work again, the queued row is written: nothing was lost.
    sqlx::query("ALTER TABLE redemptions_hidden RENAME TO redemptions")
        .execute(&pool)
        .await
        .unwrap();
    store.sync().await.unwrap();
    assert_eq!(count(&pool, "redemptions").await, 2);
    store.close().await;
    // And the close was clean: the next start has no fence and knows both.
    let store = open(dir.path()).await;
    for id in [[1u8; 32], [2; 32]] {
        let r = store.redeem("ns", &id, now() - 60, later, 1).await.unwrap();
        assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, false, false));
    }
    store.close().await;
}

#[tokio::test]
async fn sqlite_stream_slots() {
    let dir = tempfile::tempdir().unwrap();
    common::stream_slots(&open(dir.path()).await).await;
}

#[tokio::test]
async fn sqlite_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.claim_replay().await.unwrap();
    common::lifecycle(&store).await;
    // A clean close released the replay lock: the next process may decide.
    let again = open(dir.path()).await;
    again.claim_replay().await.unwrap();
    again.close().await;
}

#[tokio::test]
async fn sqlite_from_the_factory() {
    let dir = tempfile::tempdir().unwrap();
    let stores = keyward_store::open(keyward_store::Backend::Sqlite {
        data_dir: dir.path().to_path_buf(),
        kek: kek(1),
    })
    .await
    .unwrap();
    common::per_concern_handles(stores).await;
    // The factory opened the usual file under the usual KEK.
    let reopened = open(dir.path()).await;
    assert_eq!(reopened.sites().await.unwrap().len(), 1);
    reopened.close().await;
}

/// After an unclean stop, a record read back may be behind by the uses of the
/// last write-behind window: an n-use token with uses left is refused as
/// unverifiable, not trusted (3 allowed uses once played 4 times). And the
/// fence is exact: a token issued by the restarted process, even within its
/// first second, is never fenced.
#[tokio::test]
async fn after_an_unclean_stop_stale_counts_are_not_trusted_and_new_tokens_are() {
    let dir = tempfile::tempdir().unwrap();
    let later = now() + 3600;
    let before = now() - 20;
    {
        let store = open(dir.path()).await;
        let r = store
            .redeem("ns", &[5; 32], before, later, 3)
            .await
            .unwrap();
        assert_eq!((r.use_count, r.accepted), (1, true));
        store.close().await;
    }
    // The process dies before its next use reaches the table: what is left is
    // its claim marker and a count of 1.
    {
        let store = open(dir.path()).await;
        let pool = raw(&store).await;
        sqlx::query("INSERT INTO meta (name, value) VALUES ('replay_claimed', x'31')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        store.close().await;
    }
    let store = open(dir.path()).await;
    store.claim_replay().await.unwrap();
    // Minted by this process right after its start: trusted.
    let r = store.redeem("ns", &[6; 32], now(), later, 1).await.unwrap();
    assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, true, false));
    // On record with uses left, but the record may be stale: refused.
    for _ in 0..3 {
        let r = store
            .redeem("ns", &[5; 32], before, later, 3)
            .await
            .unwrap();
        assert_eq!((r.use_count, r.accepted, r.unverifiable), (1, false, true));
    }
    store.close().await;
}

/// `n` random bytes (from site secrets: the OS RNG).
fn random(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    while out.len() < n {
        out.extend_from_slice(SiteSecret::generate().unwrap().expose());
    }
    out.truncate(n);
    out
}

#[tokio::test]
async fn fairplay_secrets_are_wrapped_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_site(new_site("TUTO")).await.unwrap();
    let mut cert = random(700);
    cert[0] = 0x30;
    let mut key = random(1217);
    key[0] = 0x30;
    let ask = random(16);
    store
        .add_fairplay_credential(NewFairPlayCredential {
            site_id: site_id("TUTO"),
            cert_der: cert.clone(),
            private_key: FpsSecretKey::from_der(key.clone()).unwrap(),
            ask: FpsAsk::from_bytes(&ask).unwrap(),
            label: None,
        })
        .await
        .unwrap();
    let pool = raw(&store).await;
    let (hash, key_wrapped, ask_wrapped): (Vec<u8>, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT cert_hash, key_wrapped, ask_wrapped FROM fairplay_credentials")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(hash, cert_hash(&cert));
    assert_eq!(key_wrapped.len(), 1 + 12 + key.len() + 16);
    assert_eq!(ask_wrapped.len(), 1 + 12 + 16 + 16);
    pool.close().await;
    store.close().await;

    // Every file of the database (main file, WAL, shared memory) read raw.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    // The certificate is public and stored as is: the scan does see row data.
    assert!(found(&cert));
    assert!(!found(&ask), "the ASk is stored in clear");
    assert!(!found(&key), "the private key is stored in clear");
    for chunk in key.chunks_exact(16) {
        assert!(!found(chunk), "part of the private key is stored in clear");
    }
}

#[tokio::test]
async fn fairplay_wrapped_values_moved_to_another_row_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for site in ["TUTO", "ABCD", "WXYZ"] {
        store.create_site(new_site(site)).await.unwrap();
    }
    for (site, n) in [("TUTO", 1), ("TUTO", 2), ("ABCD", 1), ("WXYZ", 1)] {
        store
            .add_fairplay_credential(new_fps(site, n))
            .await
            .unwrap();
    }
    let pool = raw(&store).await;
    let one = cert_hash(&fps_cert(1));
    let unwrap_error = |r: keyward_store::Result<Vec<keyward_store::FairPlayCredential>>| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), "unwrap_failed");
        e.to_string()
    };

    // Both secrets of TUTO's certificate 1 copied onto the same certificate in WXYZ.
    sqlx::query(
        "UPDATE fairplay_credentials SET \
           key_wrapped = (SELECT key_wrapped FROM fairplay_credentials \
                          WHERE site_id = 'TUTO' AND cert_hash = ?1), \
           ask_wrapped = (SELECT ask_wrapped FROM fairplay_credentials \
                          WHERE site_id = 'TUTO' AND cert_hash = ?1) \
         WHERE site_id = 'WXYZ' AND cert_hash = ?1",
    )
    .bind(&one[..])
    .execute(&pool)
    .await
    .unwrap();
    let shown = unwrap_error(store.fairplay_credentials(&site_id("WXYZ")).await);
    assert!(shown.contains("FairPlay private key"), "{shown}");
    // The source row is untouched.
    assert_eq!(
        store
            .fairplay_credentials(&site_id("TUTO"))
            .await
            .unwrap()
            .len(),
        2
    );

    // The key and the ASk of one row swapped with each other.
    sqlx::query(
        "UPDATE fairplay_credentials SET key_wrapped = ask_wrapped, ask_wrapped = key_wrapped \
         WHERE site_id = 'ABCD'",
    )
    .execute(&pool)
    .await
    .unwrap();
    unwrap_error(store.fairplay_credentials(&site_id("ABCD")).await);

    // Only the ASk of certificate 1 copied onto certificate 2 in the same site.
    sqlx::query(
        "UPDATE fairplay_credentials SET ask_wrapped = \
           (SELECT ask_wrapped FROM fairplay_credentials WHERE site_id = 'TUTO' AND cert_hash = ?1) \
         WHERE site_id = 'TUTO' AND cert_hash != ?1",
    )
    .bind(&one[..])
    .execute(&pool)
    .await
    .unwrap();
    let shown = unwrap_error(store.fairplay_credentials(&site_id("TUTO")).await);
    assert!(shown.contains("FairPlay ASk"), "{shown}");

    // Listing never touches the secrets, so it still works everywhere.
    assert_eq!(fps_hashes(&store, "TUTO").await, hashes_of(&[2, 1]));
    assert_eq!(fps_hashes(&store, "ABCD").await, hashes_of(&[1]));
    assert_eq!(fps_hashes(&store, "WXYZ").await, hashes_of(&[1]));

    // A certificate swapped under its hash is corrupt (the hash binds the
    // secrets to the certificate): refused, listed or not.
    sqlx::query("UPDATE fairplay_credentials SET cert_der = ?1 WHERE site_id = 'ABCD'")
        .bind(fps_cert(3))
        .execute(&pool)
        .await
        .unwrap();
    for err in [
        store
            .fairplay_credential_infos(&site_id("ABCD"))
            .await
            .unwrap_err(),
        store
            .fairplay_credentials(&site_id("ABCD"))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.code(), "backend");
        assert_eq!(
            err.detail(),
            Some("stored cert_der does not match its cert_hash")
        );
    }

    // The schema refuses a hash that is not 20 bytes.
    let bad = sqlx::query(
        "INSERT INTO fairplay_credentials \
         (site_id, cert_hash, cert_der, key_wrapped, ask_wrapped, created_at, seq) \
         VALUES ('TUTO', x'00', x'30', x'00', x'00', 0, 99)",
    )
    .execute(&pool)
    .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn fairplay_credentials_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = open(dir.path()).await;
        store.create_site(new_site("TUTO")).await.unwrap();
        for n in [1, 2, 3] {
            store
                .add_fairplay_credential(new_fps("TUTO", n))
                .await
                .unwrap();
        }
        store
            .remove_fairplay_credential(&site_id("TUTO"), &cert_hash(&fps_cert(2)))
            .await
            .unwrap();
        let before = store.fairplay_credentials(&site_id("TUTO")).await.unwrap();
        store.close().await;
        before
    };
    let store = open(dir.path()).await;
    let after = store.fairplay_credentials(&site_id("TUTO")).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after[0].ask.expose(), &[0x43; 16]);
    // Insertion order carries on across the restart.
    store
        .add_fairplay_credential(new_fps("TUTO", 2))
        .await
        .unwrap();
    assert_eq!(fps_hashes(&store, "TUTO").await, hashes_of(&[2, 3, 1]));
    store.close().await;
    // Under another KEK the database does not even open.
    assert_eq!(
        SqliteStore::open(dir.path(), kek(2))
            .await
            .unwrap_err()
            .code(),
        "kek_mismatch"
    );
}

/// `n` random printable ASCII characters (no space, so a match is not a fluke).
fn random_printable(n: usize) -> String {
    random(n)
        .into_iter()
        .map(|b| char::from(0x21 + b % 94))
        .collect()
}

#[tokio::test]
async fn upstream_secrets_are_wrapped_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_site(new_site("TUTO")).await.unwrap();
    let key = random_printable(48);
    let password = random_printable(4096);
    let mut new = new_upstream("TUTO", Drm::FairPlay, "primary");
    new.settings = serde_json::json!({ "marker": "plain-settings-marker-4711" });
    new.secrets = BTreeMap::from([
        (
            "api_key".to_owned(),
            UpstreamSecret::new(key.clone()).unwrap(),
        ),
        (
            "password".to_owned(),
            UpstreamSecret::new(password.clone()).unwrap(),
        ),
    ]);
    store.add_upstream(new).await.unwrap();
    let mut bare = new_upstream("TUTO", Drm::FairPlay, "bare");
    bare.secrets.clear();
    store.add_upstream(bare).await.unwrap();

    let pool = raw(&store).await;
    let rows: Vec<(String, String, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT name, secret_names, secrets_wrapped FROM upstreams ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let (name, names, wrapped) = &rows[0];
    assert_eq!(
        (name.as_str(), names.as_str()),
        ("primary", r#"["api_key","password"]"#)
    );
    let plain_len = serde_json::to_string(&BTreeMap::from([
        ("api_key", key.as_str()),
        ("password", password.as_str()),
    ]))
    .unwrap()
    .len();
    assert_eq!(wrapped.as_ref().unwrap().len(), 1 + 12 + plain_len + 16);
    // No secrets: NULL, not a wrapped empty map.
    assert_eq!(rows[1], ("bare".to_owned(), "[]".to_owned(), None));
    pool.close().await;
    store.close().await;

    // Every file of the database (main file, WAL, shared memory) read raw.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    // Settings are not secret and stored as is: the scan does see row data.
    assert!(found(b"plain-settings-marker-4711"));
    assert!(!found(key.as_bytes()), "the API key is stored in clear");
    assert!(
        !found(password.as_bytes()),
        "the password is stored in clear"
    );
    for chunk in password.as_bytes().chunks_exact(16) {
        assert!(!found(chunk), "part of the password is stored in clear");
    }
}

#[tokio::test]
async fn upstream_wrapped_secrets_moved_to_another_row_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for site in ["TUTO", "ABCD"] {
        store.create_site(new_site(site)).await.unwrap();
    }
    for (site, drm, name) in [
        ("TUTO", Drm::FairPlay, "a"),
        ("TUTO", Drm::FairPlay, "b"),
        ("TUTO", Drm::Widevine, "w"),
        ("ABCD", Drm::FairPlay, "a"),
    ] {
        store
            .add_upstream(new_upstream(site, drm, name))
            .await
            .unwrap();
    }
    let pool = raw(&store).await;
    let (tuto, abcd) = (site_id("TUTO"), site_id("ABCD"));
    let copy =
        |from_site: &'static str, from: &'static str, to_site: &'static str, to: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query(
                    "UPDATE upstreams SET secrets_wrapped = \
                   (SELECT secrets_wrapped FROM upstreams WHERE site_id = ?1 AND name = ?2) \
                 WHERE site_id = ?3 AND name = ?4",
                )
                .bind(from_site)
                .bind(from)
                .bind(to_site)
                .bind(to)
                .execute(&pool)
                .await
                .unwrap();
            }
        };
    let unwrap_failed = |e: StoreError| {
        assert_eq!(e.code(), "unwrap_failed", "{e:?}");
        assert!(e.to_string().contains("upstream secrets"), "{e}");
    };

    // TUTO's "a" secrets copied onto "b" in the same site and list (same
    // secret names, so only the binding tells them apart).
    copy("TUTO", "a", "TUTO", "b").await;
    unwrap_failed(store.upstream(&tuto, "b").await.unwrap_err());
    unwrap_failed(store.upstreams(&tuto, Drm::FairPlay).await.unwrap_err());
    // The source row, and the other list, are untouched.
    store.upstream(&tuto, "a").await.unwrap();
    store.upstreams(&tuto, Drm::Widevine).await.unwrap();
    // Listing never touches the secrets, so it still works.
    assert_eq!(store.upstream_infos(&tuto, None).await.unwrap().len(), 3);

    // The same name in another site.
    copy("TUTO", "a", "ABCD", "a").await;
    unwrap_failed(store.upstream(&abcd, "a").await.unwrap_err());

    // A row renamed (the wrapped value moves with it to another name).
    sqlx::query("UPDATE upstreams SET name = 'w2' WHERE site_id = 'TUTO' AND name = 'w'")
        .execute(&pool)
        .await
        .unwrap();
    unwrap_failed(store.upstream(&tuto, "w2").await.unwrap_err());

    // Secrets dropped from a row that lists them: corrupt, not "no secrets".
    sqlx::query(
        "UPDATE upstreams SET secrets_wrapped = NULL WHERE site_id = 'TUTO' AND name = 'a'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = store.upstream(&tuto, "a").await.unwrap_err();
    assert_eq!(err.code(), "backend");
    assert_eq!(
        err.detail(),
        Some("stored secret_names do not match the wrapped secrets")
    );

    // The schema refuses a negative position.
    let bad = sqlx::query(
        "INSERT INTO upstreams (site_id, name, drm, position, kind, url, settings, \
         secret_names, created_at) \
         VALUES ('TUTO', 'neg', 'FairPlay', -1, 'k', 'https://h', '{}', '[]', 0)",
    )
    .execute(&pool)
    .await;
    assert!(bad.is_err());
    pool.close().await;
    store.close().await;
}

#[tokio::test]
async fn upstreams_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let tuto = site_id("TUTO");
    let before = {
        let store = open(dir.path()).await;
        store.create_site(new_site("TUTO")).await.unwrap();
        for name in ["a", "b", "c"] {
            store
                .add_upstream(new_upstream("TUTO", Drm::FairPlay, name))
                .await
                .unwrap();
        }
        store
            .add_upstream(new_upstream("TUTO", Drm::PlayReady, "p"))
            .await
            .unwrap();
        store.remove_upstream(&tuto, "a").await.unwrap();
        let before = (
            store.upstreams(&tuto, Drm::FairPlay).await.unwrap(),
            store.upstream_infos(&tuto, None).await.unwrap(),
        );
        store.close().await;
        before
    };
    let store = open(dir.path()).await;
    let after = (
        store.upstreams(&tuto, Drm::FairPlay).await.unwrap(),
        store.upstream_infos(&tuto, None).await.unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(
        after.0[0].secrets["api_key"].expose(),
        upstream_secret_values("b")[0]
    );
    // Positions carry on across the restart.
    let mut front = new_upstream("TUTO", Drm::FairPlay, "a");
    front.position = Some(0);
    store.add_upstream(front).await.unwrap();
    assert_eq!(
        common::upstream_names(&store, "TUTO", Drm::FairPlay).await,
        ["a", "b", "c"]
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_key_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    common::key_coordinates(&open(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_ensure_key() {
    let dir = tempfile::tempdir().unwrap();
    common::concurrent_ensure_key(Arc::new(open(dir.path()).await)).await;
}

#[tokio::test]
async fn sqlite_packagers() {
    let dir = tempfile::tempdir().unwrap();
    common::packagers(&open(dir.path()).await).await;
}

/// Migration 8 rebuilds `content_keys`: a database at version 7 with keys
/// opens at version 8 with the same keys (still unwrapping: site and kid are
/// unchanged), no period, and the new coordinates index.
#[tokio::test]
async fn migration_8_keeps_existing_keys() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        store.create_site(common::new_site("MIGR")).await.unwrap();
        for (i, track) in [TrackType::Sd, TrackType::Audio].into_iter().enumerate() {
            let n = u8::try_from(i).unwrap() + 1;
            store
                .put_key(common::new_key("MIGR", "film", track, n, n), false)
                .await
                .unwrap();
        }
        // Take the database back to version 7's shape, on one connection.
        let pool = raw(&store).await;
        store.close().await;
        let mut conn = pool.acquire().await.unwrap();
        for sql in [
            "CREATE TABLE old_keys (site_id TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE, \
             kid BLOB NOT NULL CHECK (length(kid) = 16), cid TEXT NOT NULL, track_type TEXT NOT NULL, \
             key_wrapped BLOB NOT NULL, iv BLOB CHECK (iv IS NULL OR length(iv) = 16), label TEXT, \
             created_at INTEGER NOT NULL, PRIMARY KEY (site_id, kid), UNIQUE (site_id, cid, track_type))",
            "INSERT INTO old_keys SELECT site_id, kid, cid, track_type, key_wrapped, iv, label, created_at \
             FROM content_keys",
            "DROP TABLE content_keys",
            "ALTER TABLE old_keys RENAME TO content_keys",
            "DROP TABLE packagers",
            "DROP TABLE key_seeds",
            "DELETE FROM _sqlx_migrations WHERE version = 8",
        ] {
            sqlx::query(sql).execute(&mut *conn).await.unwrap();
        }
        drop(conn);
        pool.close().await;
    }
    let store = open(dir.path()).await;
    let keys = store
        .keys_for_content(&common::site_id("MIGR"), "film")
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].track_type, TrackType::Audio);
    assert_eq!(keys[0].key.expose(), &[2u8; 16]);
    assert_eq!(keys[1].key.expose(), &[1u8; 16]);
    assert!(keys.iter().all(|k| k.period.is_none()));
    let pool = raw(&store).await;
    let index: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'content_keys_coordinates'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(index, 1);
    assert_eq!(count(&pool, "packagers").await, 0);
}

/// Migration 9 adds `audit.user_id` and the search indexes: rows written at
/// version 8 stay readable (no user) and searchable by everything else, and
/// the searches use the indexes rather than scanning the table.
#[tokio::test]
async fn migration_9_keeps_old_audit_rows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        let pool = raw(&store).await;
        store.close().await;
        let mut conn = pool.acquire().await.unwrap();
        for sql in [
            "DROP INDEX audit_at",
            "DROP INDEX audit_site_at",
            "DROP INDEX audit_user_at",
            "ALTER TABLE audit DROP COLUMN user_id",
            "DELETE FROM _sqlx_migrations WHERE version = 9",
            "INSERT INTO audit (at_unix_ms, site_id, kind, cid, drm, result, request_id, detail) \
             VALUES (1700000000000, 'MIGR', 'license', 'film', 'Widevine', '1001', 'old-1', \
             '{\"source\":\"studio\",\"client\":\"app\"}')",
        ] {
            sqlx::query(sql).execute(&mut *conn).await.unwrap();
        }
        drop(conn);
        pool.close().await;
    }
    let store = open(dir.path()).await;
    let page = store
        .search(&keyward_store::AuditQuery {
            site: Some(common::site_id("MIGR")),
            code: Some("1001".into()),
            ..keyward_store::AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    let old = &page.records[0].event;
    assert_eq!(old.user, None);
    assert_eq!(old.request_id.as_deref(), Some("old-1"));
    assert_eq!(old.detail["client"], "app");
    let by_user = keyward_store::AuditQuery {
        user: Some("app".into()),
        ..keyward_store::AuditQuery::default()
    };
    assert!(store.search(&by_user).await.unwrap().records.is_empty());
    // The plans: newest first by time through an index, no sort, no scan.
    let pool = raw(&store).await;
    for (sql, index) in [
        (
            "SELECT id FROM audit WHERE 1 = 1 ORDER BY at_unix_ms DESC, id DESC LIMIT 101",
            "audit_at",
        ),
        (
            "SELECT id FROM audit WHERE 1 = 1 AND site_id = 'MIGR' AND at_unix_ms >= 5 \
             ORDER BY at_unix_ms DESC, id DESC LIMIT 101",
            "audit_site_at",
        ),
        (
            "SELECT id FROM audit WHERE 1 = 1 AND site_id = 'MIGR' AND user_id = 'app' \
             ORDER BY at_unix_ms DESC, id DESC LIMIT 101",
            "audit_user_at",
        ),
        (
            "SELECT id FROM audit WHERE 1 = 1 AND site_id = 'MIGR' AND at_unix_ms <= 9 \
             AND (at_unix_ms < 9 OR id < 3) ORDER BY at_unix_ms DESC, id DESC LIMIT 101",
            "audit_site_at (site_id=? AND at_unix_ms<?)",
        ),
        // Following: by id, through the rowid or the (site, id) index.
        (
            "SELECT id FROM audit WHERE 1 = 1 AND id > 5 ORDER BY id ASC LIMIT 101",
            "INTEGER PRIMARY KEY (rowid>?)",
        ),
        (
            "SELECT id FROM audit WHERE 1 = 1 AND site_id = 'MIGR' AND id > 5 \
             ORDER BY id ASC LIMIT 101",
            "audit_site_id (site_id=? AND id>?)",
        ),
    ] {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&pool)
            .await
            .unwrap();
        let detail: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
            .collect();
        let text = detail.join(" | ");
        assert!(text.contains(index), "{sql}: {text}");
        assert!(!text.contains("TEMP B-TREE"), "{sql} sorts: {text}");
    }
}
