//! Behaviour every store implementation must share, run against each of them.

#![allow(
    dead_code,
    reason = "each test binary uses a subset of the shared helpers"
)]

use std::sync::Arc;
use std::time::Duration;

use keyward_store::{
    AuditEvent, AuditStore, ContentKey, Drm, ErrorStyle, KeyStore, Kid, Lifecycle, NewContentKey,
    NewSite, ReplayStore, SiteId, SiteSecret, SiteSettings, SiteStore, StatsQuery, StatsStore,
    Store, Stores, StreamGrant, StreamStore, TrackType,
};

pub fn site_id(s: &str) -> SiteId {
    SiteId::parse(s).unwrap()
}

pub fn new_site(id: &str) -> NewSite {
    NewSite::generate(site_id(id), SiteSettings::default()).unwrap()
}

pub fn new_key(site: &str, cid: &str, track: TrackType, kid: u8, key: u8) -> NewContentKey {
    NewContentKey {
        site_id: site_id(site),
        cid: cid.to_owned(),
        track_type: track,
        kid: Kid([kid; 16]),
        key: ContentKey::from_slice(&[key; 16]).unwrap(),
        iv: None,
        label: Some(format!("{cid}/{track}")),
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub async fn site_crud(store: &dyn Store) {
    let created = store.create_site(new_site("TUTO")).await.unwrap();
    assert_eq!(created.site_id.as_str(), "TUTO");
    assert_eq!(created.settings, SiteSettings::default());
    assert!(created.created_at > 0);

    let again = store.create_site(new_site("TUTO")).await.unwrap_err();
    assert_eq!(again.code(), "site_exists");

    let fetched = store.site(&site_id("TUTO")).await.unwrap();
    assert_eq!(fetched, created);
    assert_eq!(fetched.site_key, created.site_key);

    store.create_site(new_site("ABCD")).await.unwrap();
    let ids: Vec<String> = store
        .sites()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.site_id.to_string())
        .collect();
    assert_eq!(ids, ["ABCD", "TUTO"]);

    let settings = SiteSettings {
        token_window_secs: 120,
        future_leeway_secs: 5,
        allowed_drms: vec![Drm::Widevine, Drm::ClearKey],
        cors_origins: vec!["https://player.example".into()],
        fairplay_cert: Some(vec![0x30, 0x82, 1, 2]),
        widevine_service_cert: Some(vec![8, 5]),
        error_style: ErrorStyle::HttpStatus,
        callback_url: Some("https://backend.example/cb".into()),
        disabled: true,
        callback: keyward_store::CallbackSettings {
            timeout_ms: 500,
            cache_ttl_secs: 10,
            fallback: keyward_store::CallbackFallback::Allow,
            ..keyward_store::CallbackSettings::default()
        },
    };
    let updated = store
        .update_site(&site_id("TUTO"), settings.clone())
        .await
        .unwrap();
    assert_eq!(updated.settings, settings);
    assert_eq!(updated.site_key, created.site_key, "update keeps secrets");
    assert_eq!(
        store.site(&site_id("TUTO")).await.unwrap().settings,
        settings
    );

    let mut bad = settings.clone();
    bad.callback_url = Some("file:///etc/passwd".into());
    let err = store.update_site(&site_id("TUTO"), bad).await.unwrap_err();
    assert_eq!(err.code(), "invalid_setting");
    assert_eq!(
        store.site(&site_id("TUTO")).await.unwrap().settings,
        settings
    );

    let new_key = SiteSecret::generate().unwrap();
    let new_access = SiteSecret::generate().unwrap();
    let rotated = store
        .rotate_site_secrets(&site_id("TUTO"), new_key.clone(), new_access.clone())
        .await
        .unwrap();
    assert_eq!(rotated.site_key, new_key);
    assert_eq!(rotated.access_key, new_access);
    assert_ne!(rotated.site_key, created.site_key);
    assert_eq!(rotated.settings, settings);
    let fetched = store.site(&site_id("TUTO")).await.unwrap();
    assert_eq!(fetched.site_key, new_key);
    assert_eq!(fetched.access_key, new_access);

    // Secrets never appear in Debug or serialized output.
    let shown = format!("{fetched:?}");
    let json = serde_json::to_string(&fetched).unwrap();
    for secret in [fetched.site_key.expose(), fetched.access_key.expose()] {
        let hex_secret = hex::encode(secret);
        assert!(!shown.contains(&hex_secret));
        assert!(!json.contains(&hex_secret));
        assert!(!shown.contains(&format!("{:?}", &secret[..])));
    }
    assert!(!json.contains("site_key") && !json.contains("access_key"));
    assert!(json.contains("\"token_window_secs\":120"));

    let missing = site_id("NONE");
    assert_eq!(
        store.site(&missing).await.unwrap_err().code(),
        "site_not_found"
    );
    assert_eq!(
        store
            .update_site(&missing, SiteSettings::default())
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );
    assert_eq!(
        store
            .rotate_site_secrets(&missing, new_key, new_access)
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );
    assert_eq!(
        store.delete_site(&missing).await.unwrap_err().code(),
        "site_not_found"
    );

    store.delete_site(&site_id("ABCD")).await.unwrap();
    assert_eq!(
        store.site(&site_id("ABCD")).await.unwrap_err().code(),
        "site_not_found"
    );
    assert_eq!(store.sites().await.unwrap().len(), 1);
}

pub async fn key_crud(store: &dyn Store) {
    let tuto = site_id("TUTO");
    store.create_site(new_site("TUTO")).await.unwrap();
    store.create_site(new_site("ABCD")).await.unwrap();

    let hd = store
        .put_key(new_key("TUTO", "movie", TrackType::Hd, 1, 0xA1), false)
        .await
        .unwrap();
    assert_eq!(hd.key.expose(), &[0xA1; 16]);
    assert_eq!(hd.label.as_deref(), Some("movie/HD"));
    let mut sd_new = new_key("TUTO", "movie", TrackType::Sd, 2, 0xA2);
    sd_new.iv = Some([0x11; 16]);
    let sd = store.put_key(sd_new, false).await.unwrap();
    assert_eq!(sd.iv, Some([0x11; 16]));
    store
        .put_key(new_key("TUTO", "other", TrackType::All, 3, 0xA3), false)
        .await
        .unwrap();
    // Same kid in another site is fine.
    store
        .put_key(new_key("ABCD", "movie", TrackType::Hd, 1, 0xB1), false)
        .await
        .unwrap();

    // Conflicts: same (site, cid, track), or same (site, kid).
    let err = store
        .put_key(new_key("TUTO", "movie", TrackType::Hd, 9, 0xC1), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_conflict");
    let err = store
        .put_key(new_key("TUTO", "new", TrackType::Audio, 1, 0xC2), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_conflict");
    assert_eq!(
        store
            .key_by_kid(&tuto, &Kid([1; 16]))
            .await
            .unwrap()
            .key
            .expose(),
        &[0xA1; 16]
    );

    // Replace removes whatever clashes.
    let replaced = store
        .put_key(new_key("TUTO", "movie", TrackType::Hd, 9, 0xD1), true)
        .await
        .unwrap();
    assert_eq!(replaced.kid, Kid([9; 16]));
    assert_eq!(
        store
            .key_by_kid(&tuto, &Kid([1; 16]))
            .await
            .unwrap_err()
            .code(),
        "key_not_found"
    );
    assert_eq!(
        store
            .key_by_kid(&tuto, &Kid([9; 16]))
            .await
            .unwrap()
            .key
            .expose(),
        &[0xD1; 16]
    );

    // Unknown site.
    let err = store
        .put_key(new_key("NONE", "movie", TrackType::Hd, 4, 0xE1), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "site_not_found");
    // Bad cid.
    let err = store
        .put_key(new_key("TUTO", "", TrackType::Hd, 4, 0xE1), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cid");

    // Generate.
    let generated = store
        .generate_key(&tuto, "movie", TrackType::Audio, Some("gen".into()))
        .await
        .unwrap();
    assert_ne!(generated.key.expose(), &[0u8; 16]);
    assert_eq!(
        store.key_by_kid(&tuto, &generated.kid).await.unwrap(),
        generated
    );
    let err = store
        .generate_key(&tuto, "movie", TrackType::Audio, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_conflict");

    let movie = store.keys_for_content(&tuto, "movie").await.unwrap();
    let tracks: Vec<&str> = movie.iter().map(|k| k.track_type.as_str()).collect();
    assert_eq!(tracks, ["AUDIO", "HD", "SD"]);
    assert!(store
        .keys_for_content(&tuto, "nothing")
        .await
        .unwrap()
        .is_empty());

    // Listings carry no key material, in Debug or JSON.
    let all = store.list_keys(&tuto, None).await.unwrap();
    assert_eq!(all.len(), 4);
    let only_movie = store.list_keys(&tuto, Some("movie")).await.unwrap();
    assert_eq!(only_movie.len(), 3);
    assert_eq!(
        only_movie[2].iv.as_deref(),
        Some("11111111111111111111111111111111")
    );
    let shown = format!("{all:?}");
    let json = serde_json::to_string(&all).unwrap();
    for record in store.keys_for_content(&tuto, "movie").await.unwrap() {
        let key_hex = hex::encode(record.key.expose());
        assert!(!shown.contains(&key_hex), "{shown}");
        assert!(!json.contains(&key_hex), "{json}");
        assert!(!shown.contains(&format!("{:?}", &record.key.expose()[..])));
        assert!(json.contains(&record.kid.to_hex()));
    }
    assert!(!json.contains("\"key\""));

    // Delete.
    store.delete_key(&tuto, &Kid([3; 16])).await.unwrap();
    assert_eq!(
        store
            .delete_key(&tuto, &Kid([3; 16]))
            .await
            .unwrap_err()
            .code(),
        "key_not_found"
    );
    assert_eq!(store.list_keys(&tuto, None).await.unwrap().len(), 3);

    // Deleting a site deletes its keys, not other sites' keys.
    store.delete_site(&tuto).await.unwrap();
    assert!(store.list_keys(&tuto, None).await.unwrap().is_empty());
    assert_eq!(
        store.list_keys(&site_id("ABCD"), None).await.unwrap().len(),
        1
    );
}

pub async fn replay_rules(store: &dyn Store) {
    let later = now() + 3600;
    let id = [7u8; 32];
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, true));
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (2, true));
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (2, false));
    // Namespaces are separate.
    let r = store
        .redeem("expressplay", &id, now(), later, 1)
        .await
        .unwrap();
    assert!(r.accepted);
    // max_uses 0 never accepts.
    let r = store
        .redeem("pallycon", &[1u8; 32], now(), later, 0)
        .await
        .unwrap();
    assert!(!r.accepted);
    assert!(
        store
            .redeem("pallycon", &[1u8; 32], now(), later, 1)
            .await
            .unwrap()
            .accepted
    );
    // An expired entry counts as absent.
    let past = now() - 10;
    assert!(
        store
            .redeem("pallycon", &[2u8; 32], now(), past, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        store
            .redeem("pallycon", &[2u8; 32], now(), past, 1)
            .await
            .unwrap()
            .accepted
    );
    // Bad arguments.
    assert_eq!(
        store
            .redeem("", &id, now(), later, 1)
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    assert_eq!(
        store
            .redeem("ns", &[], now(), later, 1)
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    assert_eq!(
        store
            .redeem("ns", &[0; 65], now(), later, 1)
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );

    // Purge removes exactly the expired entries.
    let purged = store.purge_expired(now()).await.unwrap();
    assert_eq!(purged, 1);
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!(
        (r.use_count, r.accepted),
        (2, false),
        "unexpired entry kept"
    );
    assert_eq!(store.purge_expired(later + 1).await.unwrap(), 3);
    assert!(
        store
            .redeem("pallycon", &id, now(), later, 2)
            .await
            .unwrap()
            .accepted
    );
}

pub async fn concurrent_redeem(store: Arc<dyn Store>) {
    let expires = now() + 600;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .redeem("single-use", &[0x42; 32], now(), expires, 1)
                .await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        let r = task.await.unwrap().unwrap();
        if r.accepted {
            accepted += 1;
            assert_eq!(r.use_count, 1);
        } else {
            assert_eq!(r.use_count, 1);
        }
    }
    assert_eq!(accepted, 1);

    // And with max_uses = 5 exactly five of 50 get through.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .redeem("five-use", &[0x43; 32], now(), expires, 5)
                .await
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        let r = task.await.unwrap().unwrap();
        if r.accepted {
            counts.push(r.use_count);
        }
    }
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5]);
}

pub async fn audit_trail(store: &dyn Store) {
    for i in 0..5 {
        let mut event = AuditEvent::new("license", if i % 2 == 0 { "ok" } else { "1001" });
        event.site_id = Some(site_id(if i < 3 { "TUTO" } else { "ABCD" }));
        event.cid = Some(format!("cid-{i}"));
        event.drm = Some("Widevine".into());
        event.request_id = Some(format!("req-{i}"));
        event.detail = serde_json::json!({ "n": i, "ip": "127.0.0.1" });
        store.record(event).await.unwrap();
    }
    store
        .record(AuditEvent::new("startup", "ok"))
        .await
        .unwrap();

    let all = store.recent(None, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].event.kind, "startup");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));

    let tuto = store.recent(Some(&site_id("TUTO")), 2).await.unwrap();
    assert_eq!(tuto.len(), 2);
    assert_eq!(tuto[0].event.cid.as_deref(), Some("cid-2"));
    assert_eq!(tuto[0].event.result, "ok");
    assert_eq!(tuto[0].event.detail["n"], 2);
    assert_eq!(tuto[1].event.request_id.as_deref(), Some("req-1"));
    assert_eq!(tuto[1].event.drm.as_deref(), Some("Widevine"));

    let mut huge = AuditEvent::new("license", "ok");
    huge.detail = serde_json::json!({ "blob": "x".repeat(20_000) });
    assert_eq!(
        store.record(huge).await.unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!(store.recent(None, 100).await.unwrap().len(), 6);
}

/// Concurrent-stream slots: limit, renewal, release, expiry, validation.
pub async fn stream_slots(store: &dyn StreamStore) {
    let tuto = site_id("TUTO");
    let abcd = site_id("ABCD");
    let ttl = Duration::from_secs(60);

    let first = store
        .acquire_stream(&tuto, "alice", "tv", 2, ttl)
        .await
        .unwrap();
    let StreamGrant::Granted {
        active,
        expires_at_ms,
    } = first
    else {
        panic!("first stream refused: {first:?}");
    };
    assert_eq!(active, 1);
    assert!(expires_at_ms >= now() * 1000 + 59_000);
    assert!(store
        .acquire_stream(&tuto, "alice", "phone", 2, ttl)
        .await
        .unwrap()
        .is_granted());
    assert_eq!(
        store
            .acquire_stream(&tuto, "alice", "laptop", 2, ttl)
            .await
            .unwrap(),
        StreamGrant::Full { active: 2 }
    );
    // Held slots renew whatever the limit; other users and sites are separate.
    assert!(matches!(
        store
            .acquire_stream(&tuto, "alice", "tv", 1, ttl)
            .await
            .unwrap(),
        StreamGrant::Granted { active: 2, .. }
    ));
    assert!(store
        .acquire_stream(&tuto, "bob", "laptop", 1, ttl)
        .await
        .unwrap()
        .is_granted());
    assert!(store
        .acquire_stream(&abcd, "alice", "laptop", 1, ttl)
        .await
        .unwrap()
        .is_granted());
    assert_eq!(store.active_streams(&tuto, "alice").await.unwrap(), 2);
    assert!(!store
        .acquire_stream(&tuto, "carol", "tv", 0, ttl)
        .await
        .unwrap()
        .is_granted());

    assert!(store
        .renew_stream(&tuto, "alice", "phone", ttl)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .renew_stream(&tuto, "alice", "laptop", ttl)
            .await
            .unwrap(),
        None
    );
    assert!(store.release_stream(&tuto, "alice", "phone").await.unwrap());
    assert!(!store.release_stream(&tuto, "alice", "phone").await.unwrap());
    assert!(store
        .acquire_stream(&tuto, "alice", "laptop", 2, ttl)
        .await
        .unwrap()
        .is_granted());

    // A lease runs out by itself.
    let short = Duration::from_millis(50);
    assert!(store
        .acquire_stream(&tuto, "dave", "tv", 1, short)
        .await
        .unwrap()
        .is_granted());
    assert!(!store
        .acquire_stream(&tuto, "dave", "phone", 1, short)
        .await
        .unwrap()
        .is_granted());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(store.active_streams(&tuto, "dave").await.unwrap(), 0);
    assert_eq!(
        store.renew_stream(&tuto, "dave", "tv", ttl).await.unwrap(),
        None
    );
    assert!(store
        .acquire_stream(&tuto, "dave", "phone", 1, ttl)
        .await
        .unwrap()
        .is_granted());

    // Bad arguments.
    for (user, stream, ttl) in [
        ("", "tv", ttl),
        ("eve", "", ttl),
        ("eve", "tv", Duration::ZERO),
        ("eve", "tv", Duration::from_secs(86_401)),
    ] {
        assert_eq!(
            store
                .acquire_stream(&tuto, user, stream, 1, ttl)
                .await
                .unwrap_err()
                .code(),
            "invalid_input"
        );
    }
}

/// Health before close, not after; close twice is fine.
pub async fn lifecycle(store: &dyn Lifecycle) {
    store.health().await.unwrap();
    store.close().await;
    assert_eq!(store.health().await.unwrap_err().code(), "backend");
    store.close().await;
}

/// The factory's handles work one concern at a time, as `Arc<dyn …>`.
pub async fn per_concern_handles(stores: Stores) {
    let sites: Arc<dyn SiteStore> = stores.sites.clone();
    let keys: Arc<dyn KeyStore> = stores.keys.clone();
    let replay: Arc<dyn ReplayStore> = stores.replay.clone();
    let streams: Arc<dyn StreamStore> = stores.streams.clone();
    let audit: Arc<dyn AuditStore> = stores.audit.clone();
    let stats: Arc<dyn StatsStore> = stores.stats.clone();
    stores.health().await.unwrap();

    sites.create_site(new_site("TUTO")).await.unwrap();
    keys.put_key(new_key("TUTO", "movie", TrackType::All, 1, 2), false)
        .await
        .unwrap();
    // What one handle wrote, another (and the bundle) sees.
    assert_eq!(
        stores
            .all
            .keys_for_content(&site_id("TUTO"), "movie")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        replay
            .redeem("ns", b"id", now(), now() + 60, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(streams
        .acquire_stream(&site_id("TUTO"), "u", "s", 1, Duration::from_secs(5))
        .await
        .unwrap()
        .is_granted());
    let mut event = AuditEvent::new("license", "ok");
    event.drm = Some("ClearKey".into());
    event.detail = serde_json::json!({ "client": "app" });
    audit.record(event).await.unwrap();
    let rows = stats
        .license_stats(&StatsQuery {
            client: "app".into(),
            ..StatsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].drm.as_str(), rows[0].count), ("ClearKey", 1));
    assert_eq!(
        stores
            .customers
            .customer("nobody")
            .await
            .unwrap_err()
            .code(),
        "customer_not_found"
    );
    assert_eq!(
        stores.clients.client("nobody").await.unwrap_err().code(),
        "client_not_found"
    );
    stores.close().await;
    assert!(stores.health().await.is_err());
}
