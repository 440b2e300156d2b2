//! Behaviour every store implementation must share, run against each of them.

#![allow(
    dead_code,
    reason = "each test binary uses a subset of the shared helpers"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keyward_store::fairplay::cert_hash;
use keyward_store::{
    AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditStore, ContentKey, Drm, ErrorStyle,
    FairPlayCredentialInfo, FairPlayStore, FpsAsk, FpsSecretKey, KeyStore, Kid, Lifecycle,
    NewContentKey, NewFairPlayCredential, NewSite, NewUpstream, ReplayStore, SiteId, SiteSecret,
    SiteSettings, SiteStore, StatsQuery, StatsStore, Store, StoreError, Stores, StreamGrant,
    StreamStore, TrackType, Upstream, UpstreamInfo, UpstreamSecret, UpstreamStore,
};
use keyward_store::{KeySeed, NewPackager, PackagerKind, PackagerSecret};
use serde_json::json;
use zeroize::Zeroizing;

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
        period: None,
    }
}

/// A stand-in FPS certificate: DER-shaped (starts with a SEQUENCE), distinct per `n`.
pub fn fps_cert(n: u8) -> Vec<u8> {
    let mut der = vec![0x30, 0x82, 0x02, 0x00];
    der.extend((0..512u16).map(|i| (i as u8) ^ n));
    der
}

/// A stand-in PKCS#8 private key, distinct per `n`.
pub fn fps_key(n: u8) -> Vec<u8> {
    let mut der = vec![0x30, 0x82, 0x04, 0xbd];
    der.extend((0..1213u16).map(|i| (i as u8).wrapping_mul(7) ^ n ^ 0x5c));
    der
}

/// A FairPlay credential for `site` from certificate number `n`.
pub fn new_fps(site: &str, n: u8) -> NewFairPlayCredential {
    NewFairPlayCredential {
        site_id: site_id(site),
        cert_der: fps_cert(n),
        private_key: FpsSecretKey::from_der(fps_key(n)).unwrap(),
        ask: FpsAsk::new([n.wrapping_add(0x40); 16]),
        label: Some(format!("cert {n}")),
    }
}

/// The raw parts of a FairPlay credential, as an admin request carries them.
pub struct RawFps {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub ask: Vec<u8>,
    pub label: Option<String>,
}

/// What an admin endpoint or the CLI does with raw input: parse, then add.
pub async fn add_fps_raw(
    store: &dyn FairPlayStore,
    site: &str,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    ask: &[u8],
    label: Option<String>,
) -> Result<FairPlayCredentialInfo, StoreError> {
    store
        .add_fairplay_credential(NewFairPlayCredential {
            site_id: SiteId::parse(site)?,
            cert_der,
            private_key: FpsSecretKey::from_der(key_der)?,
            ask: FpsAsk::from_bytes(ask)?,
            label,
        })
        .await
}

/// The cert hashes a site lists, newest first.
pub async fn fps_hashes(store: &dyn FairPlayStore, site: &str) -> Vec<[u8; 20]> {
    store
        .fairplay_credential_infos(&site_id(site))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.cert_hash)
        .collect()
}

/// The hashes of certificates number `ns`, in that order.
pub fn hashes_of(ns: &[u8]) -> Vec<[u8; 20]> {
    ns.iter().map(|n| cert_hash(&fps_cert(*n))).collect()
}

/// An upstream secret from its text.
pub fn secret(text: &str) -> UpstreamSecret {
    UpstreamSecret::new(text.to_owned()).unwrap()
}

/// The secret values of upstream `name`: distinct per name, easy to spot.
pub fn upstream_secret_values(name: &str) -> [String; 2] {
    [format!("key-of-{name}-Zq8"), format!("pw of {name}! \"x\"")]
}

/// An upstream `name` for `site` and `drm`, appended, with two secrets.
pub fn new_upstream(site: &str, drm: Drm, name: &str) -> NewUpstream {
    let [key, pw] = upstream_secret_values(name);
    NewUpstream {
        site_id: site_id(site),
        drm,
        name: name.to_owned(),
        kind: "ezdrm".to_owned(),
        url: format!("https://{name}.example.com/fps/spc?x=1"),
        settings: json!({ "timeout_ms": 2500, "label": name, "nested": { "a": [1, 2] } }),
        secrets: BTreeMap::from([
            ("api_key".to_owned(), secret(&key)),
            ("password".to_owned(), secret(&pw)),
        ]),
        position: None,
    }
}

/// What an admin endpoint or the CLI does with raw secret texts: parse, then add.
pub async fn add_upstream_raw(
    store: &dyn UpstreamStore,
    mut new: NewUpstream,
    secrets: &[(&str, String)],
) -> Result<UpstreamInfo, StoreError> {
    new.secrets.clear();
    for (name, value) in secrets {
        new.secrets
            .insert((*name).to_owned(), UpstreamSecret::new(value.clone())?);
    }
    store.add_upstream(new).await
}

/// A site's upstream names for `drm`, in order, after checking that the full
/// list and the info list agree and that positions are dense.
pub async fn upstream_names(store: &dyn UpstreamStore, site: &str, drm: Drm) -> Vec<String> {
    let full = store.upstreams(&site_id(site), drm).await.unwrap();
    let infos = store
        .upstream_infos(&site_id(site), Some(drm))
        .await
        .unwrap();
    assert_eq!(
        full.iter().map(Upstream::info).collect::<Vec<_>>(),
        infos,
        "{site} {drm}"
    );
    for (i, up) in full.iter().enumerate() {
        assert_eq!(up.position as usize, i, "{site} {drm}: positions are dense");
        assert_eq!((up.site_id.as_str(), up.drm), (site, drm));
    }
    full.into_iter().map(|up| up.name).collect()
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

/// The events [`audit_search`] writes: (at, site, user, cid, result, kind).
type Row = (
    i64,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
);

const T0: i64 = 1_700_000_000_000;

fn search_rows() -> Vec<Row> {
    vec![
        (T0, "TUTO", Some("alice"), "movie-1", "ok", "license"),
        (
            T0 + 1_000,
            "ABCD",
            Some("alice"),
            "movie-1",
            "ok",
            "license",
        ),
        (
            T0 + 2_000,
            "TUTO",
            Some("bob"),
            "movie-2",
            "1001",
            "license",
        ),
        (T0 + 3_000, "TUTO", None, "movie-1", "ok", "upstream"),
        // Two at the same millisecond: the later insert comes first.
        (
            T0 + 4_000,
            "TUTO",
            Some("alice"),
            "movie-2",
            "7011",
            "license",
        ),
        (
            T0 + 4_000,
            "TUTO",
            Some("alice"),
            "movie-1",
            "ok",
            "license",
        ),
        (T0 + 5_000, "ABCD", Some("bob"), "movie-2", "ok", "license"),
        // Written later but stamped earlier (a slow request): ordered by time.
        (
            T0 + 500,
            "TUTO",
            Some("carol"),
            "movie-3",
            "1001",
            "license",
        ),
        (
            T0 + 6_000,
            "TUTO",
            Some("alice"),
            "movie-1",
            "ok",
            "license",
        ),
        (T0 + 7_000, "TUTO", Some("bob%"), "movie-1", "ok", "license"),
    ]
}

fn search_event(r: &Row) -> AuditEvent {
    let (at, site, user, cid, result, kind) = *r;
    let mut e = AuditEvent::new(kind, result);
    e.at_unix_ms = at;
    e.site_id = Some(site_id(site));
    e.user = user.map(str::to_owned);
    e.cid = Some(cid.to_owned());
    e.drm = Some("Widevine".into());
    e.request_id = Some(format!("req-{at}"));
    e
}

async fn ids(store: &dyn Store, q: &AuditQuery) -> Vec<i64> {
    let page = store.search(q).await.unwrap();
    page.records.iter().map(|r| r.id).collect()
}

fn invalid_field(e: StoreError) -> &'static str {
    assert_eq!(e.code(), "invalid_input", "{e:?}");
    match e {
        StoreError::InvalidInput { field, .. } => field,
        other => panic!("{other:?}"),
    }
}

/// Every page of `q` from the start, checking each cursor.
async fn all_pages(store: &dyn Store, q: &AuditQuery) -> Vec<AuditRecord> {
    let mut q = q.clone();
    let mut out: Vec<AuditRecord> = Vec::new();
    loop {
        let AuditPage { records, next } = store.search(&q).await.unwrap();
        assert!(records.len() <= q.limit as usize);
        match next {
            Some(n) => {
                assert_eq!(records.len(), q.limit as usize);
                assert_eq!(Some(n), records.last().map(|r| r.id));
            }
            None => {
                out.extend(records);
                return out;
            }
        }
        out.extend(records);
        q.before = next;
    }
}

/// `AuditStore::search`: each filter, exact matching, time bounds (since
/// inclusive, until exclusive), order (time, then id, newest first), the
/// cursor across writes, limits and bounded inputs.
pub async fn audit_search(store: &dyn Store) {
    let rows = search_rows();
    let mut written: Vec<(i64, Row)> = Vec::new();
    for r in &rows {
        written.push((store.record(search_event(r)).await.unwrap(), *r));
    }
    // A non-licence event without site or user.
    let startup = store
        .record(AuditEvent {
            at_unix_ms: T0 + 8_000,
            ..AuditEvent::new("startup", "ok")
        })
        .await
        .unwrap();
    // The oracle: matching ids, newest first by (time, id).
    let expect = |pred: &dyn Fn(&Row) -> bool| -> Vec<i64> {
        let mut m: Vec<(i64, i64)> = written
            .iter()
            .filter(|(_, r)| pred(r))
            .map(|(id, r)| (r.0, *id))
            .collect();
        m.sort_unstable_by(|a, b| b.cmp(a));
        m.into_iter().map(|(_, id)| id).collect()
    };
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };

    // Everything, newest first; the record comes back whole.
    let all = store.search(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.next, None);
    assert_eq!(all.records.len(), rows.len() + 1);
    assert_eq!(all.records[0].id, startup);
    assert_eq!(all.records[0].event.user, None);
    assert_eq!(all.records[0].event.site_id, None);
    let mut want = vec![startup];
    want.extend(expect(&|_| true));
    assert_eq!(ids(store, &AuditQuery::default()).await, want);
    // startup, rows 9, 8, 6, then the tie: row 5 (written later) before row 4.
    assert_eq!(all.records[4].event, search_event(&rows[5]));
    assert_eq!(all.records[5].event, search_event(&rows[4]));
    assert!(all.records[4].id > all.records[5].id);

    // Each filter alone, and together.
    let tuto = site_id("TUTO");
    assert_eq!(
        ids(store, &q(&|q| q.site = Some(tuto.clone()))).await,
        expect(&|r| r.1 == "TUTO")
    );
    assert_eq!(
        ids(store, &q(&|q| q.user = Some("alice".into()))).await,
        expect(&|r| r.2 == Some("alice"))
    );
    assert_eq!(
        ids(store, &q(&|q| q.cid = Some("movie-2".into()))).await,
        expect(&|r| r.3 == "movie-2")
    );
    assert_eq!(
        ids(store, &q(&|q| q.code = Some("1001".into()))).await,
        expect(&|r| r.4 == "1001")
    );
    assert_eq!(
        ids(store, &q(&|q| q.kind = Some("upstream".into()))).await,
        expect(&|r| r.5 == "upstream")
    );
    // One request's events (the rows' request ids are req-<time>).
    assert_eq!(
        ids(
            store,
            &q(&|q| q.request_id = Some(format!("req-{}", rows[4].0)))
        )
        .await,
        expect(&|r| r.0 == rows[4].0)
    );
    assert_eq!(
        ids(store, &q(&|q| q.request_id = Some("req-none".into()))).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(
            store,
            &q(&|q| {
                q.site = Some(tuto.clone());
                q.user = Some("alice".into());
                q.code = Some("ok".into());
                q.cid = Some("movie-1".into());
                q.kind = Some("license".into());
            })
        )
        .await,
        expect(&|r| r.1 == "TUTO"
            && r.2 == Some("alice")
            && r.4 == "ok"
            && r.3 == "movie-1"
            && r.5 == "license")
    );
    // Exact, case-sensitive matches: no prefixes, no wildcards.
    for user in ["ali", "ALICE", "%", "bob_", "_ob%"] {
        assert_eq!(
            ids(store, &q(&|q| q.user = Some(user.into()))).await,
            Vec::<i64>::new(),
            "{user}"
        );
    }
    assert_eq!(
        ids(store, &q(&|q| q.user = Some("bob%".into()))).await,
        expect(&|r| r.2 == Some("bob%"))
    );
    assert!(ids(store, &q(&|q| q.site = Some(site_id("NONE"))))
        .await
        .is_empty());

    // Time bounds: since inclusive, until exclusive.
    assert_eq!(
        ids(store, &q(&|q| q.since_ms = Some(T0 + 4_000))).await,
        [vec![startup], expect(&|r| r.0 >= T0 + 4_000)].concat()
    );
    assert_eq!(
        ids(store, &q(&|q| q.until_ms = Some(T0 + 4_000))).await,
        expect(&|r| r.0 < T0 + 4_000)
    );
    assert_eq!(
        ids(
            store,
            &q(&|q| {
                q.since_ms = Some(T0 + 500);
                q.until_ms = Some(T0 + 4_000);
            })
        )
        .await,
        expect(&|r| (T0 + 500..T0 + 4_000).contains(&r.0))
    );
    // since == until is an empty window; adjacent windows share nothing.
    assert!(ids(
        store,
        &q(&|q| {
            q.since_ms = Some(T0 + 4_000);
            q.until_ms = Some(T0 + 4_000);
        })
    )
    .await
    .is_empty());
    let early = ids(store, &q(&|q| q.until_ms = Some(T0 + 3_000))).await;
    let late = ids(store, &q(&|q| q.since_ms = Some(T0 + 3_000))).await;
    assert_eq!(early.len() + late.len(), rows.len() + 1);
    assert!(early.iter().all(|id| !late.contains(id)));

    // Limits: 1..=1000; a full last page has no cursor.
    let first = store.search(&q(&|q| q.limit = 1)).await.unwrap();
    assert_eq!(first.records.len(), 1);
    assert_eq!(first.next, Some(startup));
    assert!(store.search(&q(&|q| q.limit = 1000)).await.is_ok());
    let exact = store
        .search(&q(&|q| {
            q.code = Some("1001".into());
            q.limit = 2;
        }))
        .await
        .unwrap();
    assert_eq!((exact.records.len(), exact.next), (2, None));
    for bad in [0, 1001, u32::MAX] {
        let e = store.search(&q(&|q| q.limit = bad)).await.unwrap_err();
        assert_eq!(invalid_field(e), "limit");
    }

    // Paging: every record once, in order, whatever the page size.
    for limit in [1, 2, 3, 4, 10, 11, 12] {
        let paged: Vec<i64> = all_pages(store, &q(&|q| q.limit = limit))
            .await
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(paged, want, "limit {limit}");
        let paged: Vec<i64> = all_pages(
            store,
            &q(&|q| {
                q.limit = limit;
                q.site = Some(tuto.clone());
            }),
        )
        .await
        .iter()
        .map(|r| r.id)
        .collect();
        assert_eq!(paged, expect(&|r| r.1 == "TUTO"), "TUTO, limit {limit}");
    }

    // Writes between pages: newer events do not shift the pages after the
    // first; one stamped before the cursor comes once, on a later page.
    let page_q = q(&|q| {
        q.site = Some(tuto.clone());
        q.limit = 3;
    });
    let first = store.search(&page_q).await.unwrap();
    let mut seen: Vec<i64> = first.records.iter().map(|r| r.id).collect();
    let newer = store
        .record(search_event(&(
            T0 + 9_000,
            "TUTO",
            Some("dave"),
            "movie-9",
            "ok",
            "license",
        )))
        .await
        .unwrap();
    let older = store
        .record(search_event(&(
            T0 - 1_000,
            "TUTO",
            Some("erin"),
            "movie-9",
            "ok",
            "license",
        )))
        .await
        .unwrap();
    let mut next = first.next;
    while let Some(cursor) = next {
        let page = store
            .search(&AuditQuery {
                before: Some(cursor),
                ..page_q.clone()
            })
            .await
            .unwrap();
        seen.extend(page.records.iter().map(|r| r.id));
        next = page.next;
    }
    let mut expected = expect(&|r| r.1 == "TUTO");
    expected.push(older);
    assert_eq!(seen, expected);
    assert!(!seen.contains(&newer));
    // A new search starts with the newest.
    assert_eq!(ids(store, &page_q).await[0], newer);

    // The cursor must name a record.
    for bad in [0, -5] {
        let e = store
            .search(&q(&|q| q.before = Some(bad)))
            .await
            .unwrap_err();
        assert_eq!(invalid_field(e), "before");
    }
    let e = store
        .search(&q(&|q| q.before = Some(1_000_000)))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "before");

    // Bounded inputs.
    let cases: Vec<(AuditQuery, &str)> = vec![
        (q(&|q| q.user = Some("u".repeat(1025))), "user"),
        (q(&|q| q.user = Some(String::new())), "user"),
        (q(&|q| q.cid = Some("c".repeat(257))), "cid"),
        (q(&|q| q.cid = Some(String::new())), "cid"),
        (q(&|q| q.code = Some("c".repeat(257))), "code"),
        (q(&|q| q.kind = Some("k".repeat(257))), "kind"),
        (q(&|q| q.request_id = Some("r".repeat(257))), "request_id"),
        (q(&|q| q.request_id = Some(String::new())), "request_id"),
        (
            q(&|q| {
                q.since_ms = Some(T0 + 1);
                q.until_ms = Some(T0);
            }),
            "until",
        ),
    ];
    for (query, field) in cases {
        assert_eq!(
            invalid_field(store.search(&query).await.unwrap_err()),
            field
        );
    }
    assert!(store
        .search(&q(&|q| q.user = Some("u".repeat(1024))))
        .await
        .unwrap()
        .records
        .is_empty());
    // An event's user is bounded too.
    let mut long = AuditEvent::new("license", "ok");
    long.user = Some("u".repeat(1025));
    assert_eq!(invalid_field(store.record(long).await.unwrap_err()), "user");
    let mut max = AuditEvent::new("license", "ok");
    max.user = Some("u".repeat(1024));
    let last = store.record(max).await.unwrap();

    // Following: what was written after an id, in write order, with filters.
    let every: Vec<i64> = {
        let mut v: Vec<i64> = written.iter().map(|(id, _)| *id).collect();
        v.extend([startup, newer, older, last]);
        v
    };
    let follow_all = |q: AuditQuery, after: i64| async move {
        let mut q = q;
        let mut after = after;
        let mut out = Vec::new();
        loop {
            let page = store.follow(&q, after).await.unwrap();
            assert!(page.records.len() <= q.limit as usize);
            out.extend(page.records.iter().map(|r| r.id));
            match page.next {
                Some(n) => {
                    assert_eq!(Some(n), out.last().copied());
                    after = n;
                }
                None => return out,
            }
            q.before = Some(1_000_000); // ignored
        }
    };
    assert_eq!(follow_all(AuditQuery::default(), 0).await, every);
    for limit in [1, 2, 5] {
        assert_eq!(
            follow_all(q(&|q| q.limit = limit), written[3].0).await,
            every
                .iter()
                .copied()
                .filter(|id| *id > written[3].0)
                .collect::<Vec<_>>(),
            "limit {limit}"
        );
    }
    let alice: Vec<i64> = written
        .iter()
        .filter(|(id, r)| r.2 == Some("alice") && *id > written[1].0)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        follow_all(
            q(&|q| {
                q.user = Some("alice".into());
                q.limit = 2;
            }),
            written[1].0
        )
        .await,
        alice
    );
    let done = store.follow(&AuditQuery::default(), last).await.unwrap();
    assert_eq!((done.records.len(), done.next), (0, None));
    assert_eq!(
        invalid_field(store.follow(&q(&|q| q.limit = 0), 0).await.unwrap_err()),
        "limit"
    );
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
        StreamGrant::Full {
            active: 2,
            frees_at_ms: expires_at_ms
        }
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

/// FairPlay credentials: add, list (newest first), secrets only in the full
/// listing, duplicates, the per-site limit, removal, validation, cascade.
pub async fn fairplay_credentials(store: &dyn Store) {
    let tuto = site_id("TUTO");
    store.create_site(new_site("TUTO")).await.unwrap();
    store.create_site(new_site("ABCD")).await.unwrap();
    store.create_site(new_site("ZERO")).await.unwrap();

    // A site without credentials lists none.
    assert!(store.fairplay_credentials(&tuto).await.unwrap().is_empty());
    assert!(store
        .fairplay_credential_infos(&tuto)
        .await
        .unwrap()
        .is_empty());

    // Add: the store names each credential by the SHA-1 of its certificate.
    let info = store
        .add_fairplay_credential(new_fps("TUTO", 1))
        .await
        .unwrap();
    assert_eq!(info.site_id, tuto);
    assert_eq!(info.cert_hash, cert_hash(&fps_cert(1)));
    assert_eq!(info.cert_der, fps_cert(1));
    assert_eq!(info.label.as_deref(), Some("cert 1"));
    assert!(info.created_at >= now() - 5 && info.created_at <= now() + 5);
    store
        .add_fairplay_credential(new_fps("TUTO", 2))
        .await
        .unwrap();
    let mut unlabelled = new_fps("TUTO", 3);
    unlabelled.label = None;
    store.add_fairplay_credential(unlabelled).await.unwrap();

    // Newest first, full and info listings alike.
    assert_eq!(fps_hashes(store, "TUTO").await, hashes_of(&[3, 2, 1]));
    let full = store.fairplay_credentials(&tuto).await.unwrap();
    let infos = store.fairplay_credential_infos(&tuto).await.unwrap();
    assert_eq!(full.len(), 3);
    for (n, (cred, info)) in [3u8, 2, 1].iter().zip(full.iter().zip(&infos)) {
        assert_eq!(cred.site_id, tuto);
        assert_eq!(cred.cert_der, fps_cert(*n));
        assert_eq!(cred.cert_hash, cert_hash(&fps_cert(*n)));
        assert_eq!(cred.private_key.expose(), &fps_key(*n)[..]);
        assert_eq!(cred.ask.expose(), &[n + 0x40; 16]);
        assert_eq!(&cred.info(), info);
    }
    assert_eq!(infos[0].label, None);
    assert_eq!(infos[1].label.as_deref(), Some("cert 2"));
    assert_eq!(infos[0].created_at, full[0].created_at);

    // Secrets never show in Debug, nor (being absent) in the listing's JSON.
    let shown = format!("{full:?}");
    let json = serde_json::to_string(&infos).unwrap();
    assert!(shown.contains("FpsSecretKey(<redacted>)") && shown.contains("FpsAsk(<redacted>)"));
    for cred in &full {
        let ask_hex = hex::encode(cred.ask.expose());
        let key_hex = hex::encode(&cred.private_key.expose()[4..20]);
        for text in [&shown, &json] {
            assert!(
                !text.contains(&ask_hex) && !text.contains(&key_hex),
                "{text}"
            );
        }
        assert!(!shown.contains(&format!("{:?}", &cred.ask.expose()[..])));
        assert!(!shown.contains(&format!("{:?}", &cred.private_key.expose()[4..12])));
        assert!(json.contains(&format!(
            "\"cert_hash\":\"{}\"",
            hex::encode(cred.cert_hash)
        )));
    }
    assert!(!json.contains("ask") && !json.contains("private_key") && !json.contains("cert_der"));

    // The same certificate again in the same site: refused, the stored one kept.
    let mut again = new_fps("TUTO", 2);
    again.ask = FpsAsk::new([0xEE; 16]);
    again.label = None;
    let err = store.add_fairplay_credential(again).await.unwrap_err();
    assert_eq!(err.code(), "fairplay_credential_exists");
    assert!(matches!(err, StoreError::FairPlayCredentialExists));
    let full_after = store.fairplay_credentials(&tuto).await.unwrap();
    assert_eq!(full_after, full);

    // The same certificate in another site is another credential.
    store
        .add_fairplay_credential(new_fps("ABCD", 2))
        .await
        .unwrap();
    assert_eq!(fps_hashes(store, "ABCD").await, hashes_of(&[2]));

    // Unknown site, for every method.
    let none = site_id("NONE");
    let err = store
        .add_fairplay_credential(new_fps("NONE", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "site_not_found");
    assert_eq!(
        store.fairplay_credentials(&none).await.unwrap_err().code(),
        "site_not_found"
    );
    assert_eq!(
        store
            .fairplay_credential_infos(&none)
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );
    assert_eq!(
        store
            .remove_fairplay_credential(&none, &cert_hash(&fps_cert(1)))
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );

    // Remove; removing again, or an unknown hash, is not found.
    let two = cert_hash(&fps_cert(2));
    store.remove_fairplay_credential(&tuto, &two).await.unwrap();
    assert_eq!(fps_hashes(store, "TUTO").await, hashes_of(&[3, 1]));
    let err = store
        .remove_fairplay_credential(&tuto, &two)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "fairplay_credential_not_found");
    assert!(matches!(err, StoreError::FairPlayCredentialNotFound));
    assert_eq!(
        store
            .remove_fairplay_credential(&tuto, &[0u8; 20])
            .await
            .unwrap_err()
            .code(),
        "fairplay_credential_not_found"
    );
    assert_eq!(
        store
            .remove_fairplay_credential(&site_id("ZERO"), &two)
            .await
            .unwrap_err()
            .code(),
        "fairplay_credential_not_found"
    );
    // Only that site's copy went.
    assert_eq!(fps_hashes(store, "ABCD").await, hashes_of(&[2]));
    // A removed certificate may come back; it is then the newest.
    store
        .add_fairplay_credential(new_fps("TUTO", 2))
        .await
        .unwrap();
    store
        .add_fairplay_credential(new_fps("TUTO", 4))
        .await
        .unwrap();
    assert_eq!(fps_hashes(store, "TUTO").await, hashes_of(&[4, 2, 3, 1]));

    // At most 8 per site: the 9th is refused and nothing changes.
    for n in 5..=8 {
        store
            .add_fairplay_credential(new_fps("TUTO", n))
            .await
            .unwrap();
    }
    let eight = hashes_of(&[8, 7, 6, 5, 4, 2, 3, 1]);
    assert_eq!(fps_hashes(store, "TUTO").await, eight);
    let full_eight = store.fairplay_credentials(&tuto).await.unwrap();
    let err = store
        .add_fairplay_credential(new_fps("TUTO", 9))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "certificate",
            reason: "a site holds at most 8 FairPlay credentials"
        }
    ));
    // A certificate the full site holds already is still "exists".
    let err = store
        .add_fairplay_credential(new_fps("TUTO", 8))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "fairplay_credential_exists");
    assert_eq!(store.fairplay_credentials(&tuto).await.unwrap(), full_eight);
    // Other sites are not limited by it; after a removal there is room again.
    store
        .add_fairplay_credential(new_fps("ABCD", 9))
        .await
        .unwrap();
    store
        .remove_fairplay_credential(&tuto, &cert_hash(&fps_cert(1)))
        .await
        .unwrap();
    store
        .add_fairplay_credential(new_fps("TUTO", 9))
        .await
        .unwrap();
    assert_eq!(
        fps_hashes(store, "TUTO").await,
        hashes_of(&[9, 8, 7, 6, 5, 4, 2, 3])
    );

    // Refused values: the exact code and field, and nothing stored.
    let with = |change: fn(&mut RawFps)| {
        let mut raw = RawFps {
            cert: fps_cert(1),
            key: fps_key(1),
            ask: vec![0x41; 16],
            label: None,
        };
        change(&mut raw);
        raw
    };
    let cases: Vec<(&str, RawFps, &str, &str)> = vec![
        (
            "empty cert",
            with(|r| r.cert.clear()),
            "invalid_input",
            "certificate",
        ),
        (
            "cert not a SEQUENCE",
            with(|r| r.cert[0] = 0x31),
            "invalid_input",
            "certificate",
        ),
        (
            "oversize cert",
            with(|r| r.cert = vec![0x30; 16_385]),
            "invalid_input",
            "certificate",
        ),
        (
            "15-byte ask",
            with(|r| r.ask.truncate(15)),
            "invalid_key_length",
            "ask",
        ),
        (
            "17-byte ask",
            with(|r| r.ask.push(0)),
            "invalid_key_length",
            "ask",
        ),
        (
            "empty key",
            with(|r| r.key.clear()),
            "invalid_input",
            "private_key",
        ),
        (
            "oversize key",
            with(|r| r.key = vec![0x30; 16_385]),
            "invalid_input",
            "private_key",
        ),
        (
            "label too long",
            with(|r| r.label = Some("x".repeat(65))),
            "invalid_input",
            "label",
        ),
        (
            "empty label",
            with(|r| r.label = Some(String::new())),
            "invalid_input",
            "label",
        ),
        (
            "label with a newline",
            with(|r| r.label = Some("a\nb".into())),
            "invalid_input",
            "label",
        ),
        (
            "label not ASCII",
            with(|r| r.label = Some("clé".into())),
            "invalid_input",
            "label",
        ),
    ];
    for (what, raw, code, field) in cases {
        let err = add_fps_raw(store, "ZERO", raw.cert, raw.key, &raw.ask, raw.label)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{what}");
        let got = match &err {
            StoreError::InvalidInput { field, .. } => *field,
            StoreError::InvalidKeyLength { what, .. } => *what,
            other => panic!("{what}: {other:?}"),
        };
        assert_eq!(got, field, "{what}");
        assert!(fps_hashes(store, "ZERO").await.is_empty(), "{what}");
    }
    // The limits themselves are accepted.
    add_fps_raw(
        store,
        "ZERO",
        vec![0x30; 16_384],
        vec![0x30; 16_384],
        &[0x41; 16],
        Some("~".repeat(64)),
    )
    .await
    .unwrap();
    assert_eq!(
        fps_hashes(store, "ZERO").await,
        vec![cert_hash(&[0x30; 16_384])]
    );
    let cred = &store.fairplay_credentials(&site_id("ZERO")).await.unwrap()[0];
    assert_eq!(cred.private_key.expose(), &[0x30; 16_384][..]);

    // Deleting a site deletes its credentials, and only its.
    store.delete_site(&tuto).await.unwrap();
    assert_eq!(
        store
            .fairplay_credential_infos(&tuto)
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );
    store.create_site(new_site("TUTO")).await.unwrap();
    assert!(store.fairplay_credentials(&tuto).await.unwrap().is_empty());
    assert_eq!(fps_hashes(store, "ABCD").await, hashes_of(&[9, 2]));
}

/// Licence upstreams: ordered lists per (site, DRM), dense positions, names
/// unique per site, at most 8 per list, secrets only where asked for.
pub async fn upstreams(store: &dyn Store) {
    const FPS: Drm = Drm::FairPlay;
    const WV: Drm = Drm::Widevine;
    const PR: Drm = Drm::PlayReady;
    let tuto = site_id("TUTO");
    let zero = site_id("ZERO");
    for site in ["TUTO", "ABCD", "ZERO"] {
        store.create_site(new_site(site)).await.unwrap();
    }
    let add = |site: &str, drm: Drm, name: &str, position: Option<u32>| {
        let mut new = new_upstream(site, drm, name);
        new.position = position;
        store.add_upstream(new)
    };

    // A site without upstreams lists none.
    assert!(store.upstreams(&tuto, FPS).await.unwrap().is_empty());
    assert!(store.upstream_infos(&tuto, None).await.unwrap().is_empty());
    assert!(store
        .upstream_infos(&tuto, Some(FPS))
        .await
        .unwrap()
        .is_empty());

    // Appended in order; the info returned is what was stored.
    let info = add("TUTO", FPS, "a", None).await.unwrap();
    assert_eq!(info.site_id, tuto);
    assert_eq!(info.drm, FPS);
    assert_eq!(info.name, "a");
    assert_eq!(info.kind, "ezdrm");
    assert_eq!(info.url, "https://a.example.com/fps/spc?x=1");
    assert_eq!(info.settings, new_upstream("TUTO", FPS, "a").settings);
    assert_eq!(info.secret_names, ["api_key", "password"]);
    assert_eq!(info.position, 0);
    assert!(info.created_at >= now() - 5 && info.created_at <= now() + 5);
    assert_eq!(store.upstream(&tuto, "a").await.unwrap().info(), info);
    assert_eq!(add("TUTO", FPS, "b", None).await.unwrap().position, 1);
    assert_eq!(add("TUTO", FPS, "c", None).await.unwrap().position, 2);
    assert_eq!(upstream_names(store, "TUTO", FPS).await, ["a", "b", "c"]);

    // Inserted at a position, the later ones move down; past the end appends.
    assert_eq!(add("TUTO", FPS, "d", Some(1)).await.unwrap().position, 1);
    assert_eq!(
        upstream_names(store, "TUTO", FPS).await,
        ["a", "d", "b", "c"]
    );
    assert_eq!(add("TUTO", FPS, "e", Some(0)).await.unwrap().position, 0);
    assert_eq!(add("TUTO", FPS, "f", Some(99)).await.unwrap().position, 5);
    assert_eq!(add("TUTO", FPS, "g", Some(6)).await.unwrap().position, 6);
    assert_eq!(
        upstream_names(store, "TUTO", FPS).await,
        ["e", "a", "d", "b", "c", "f", "g"]
    );

    // The full list carries the secrets, unwrapped; by name, the same.
    let full = store.upstreams(&tuto, FPS).await.unwrap();
    for up in &full {
        let [key, pw] = upstream_secret_values(&up.name);
        assert_eq!(up.secrets.len(), 2);
        assert_eq!(up.secrets["api_key"].expose(), key);
        assert_eq!(up.secrets["password"].expose(), pw);
        assert_eq!(
            up.url,
            format!("https://{}.example.com/fps/spc?x=1", up.name)
        );
        assert_eq!(&store.upstream(&tuto, &up.name).await.unwrap(), up);
    }

    // Each DRM has its own list; all of a site's are ordered by DRM (in the
    // order of Drm::ALL), then position.
    add("TUTO", WV, "w1", None).await.unwrap();
    assert_eq!(add("TUTO", WV, "w2", Some(0)).await.unwrap().position, 0);
    add("TUTO", PR, "p1", Some(3)).await.unwrap();
    assert_eq!(upstream_names(store, "TUTO", WV).await, ["w2", "w1"]);
    assert_eq!(upstream_names(store, "TUTO", FPS).await.len(), 7);
    let all = store.upstream_infos(&tuto, None).await.unwrap();
    let listed: Vec<(Drm, &str, u32)> = all
        .iter()
        .map(|i| (i.drm, i.name.as_str(), i.position))
        .collect();
    assert_eq!(
        listed,
        [
            (WV, "w2", 0),
            (WV, "w1", 1),
            (PR, "p1", 0),
            (FPS, "e", 0),
            (FPS, "a", 1),
            (FPS, "d", 2),
            (FPS, "b", 3),
            (FPS, "c", 4),
            (FPS, "f", 5),
            (FPS, "g", 6),
        ]
    );
    assert!(store
        .upstream_infos(&tuto, Some(Drm::ClearKey))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .upstreams(&tuto, Drm::ClearKey)
        .await
        .unwrap()
        .is_empty());

    // Secret values never show in Debug, nor in the listing (its Debug or JSON).
    let shown = format!("{full:?} {all:?}");
    let json = serde_json::to_string(&all).unwrap();
    assert!(shown.contains("UpstreamSecret(<redacted>)"), "{shown}");
    for up in &full {
        for value in upstream_secret_values(&up.name) {
            assert!(!shown.contains(&value), "{shown}");
            assert!(!json.contains(&value), "{json}");
        }
        for secret in up.secrets.values() {
            assert!(!shown.contains(secret.expose()) && !json.contains(secret.expose()));
        }
    }
    assert!(json.contains(r#""drm":"FairPlay""#), "{json}");
    assert!(json.contains(r#""drm":"Widevine""#), "{json}");
    assert!(
        json.contains(r#""secret_names":["api_key","password"]"#),
        "{json}"
    );
    assert!(
        !json.contains("key-of") && !json.contains("pw of"),
        "{json}"
    );

    // A name the site holds already, for this DRM or another: refused, and
    // nothing changes.
    let before = store.upstream_infos(&tuto, None).await.unwrap();
    for (drm, name) in [(FPS, "a"), (WV, "a"), (Drm::ClearKey, "a"), (FPS, "w1")] {
        let mut again = new_upstream("TUTO", drm, name);
        again.secrets = BTreeMap::from([("api_key".to_owned(), secret("other"))]);
        again.position = Some(0);
        let err = store.add_upstream(again).await.unwrap_err();
        assert_eq!(err.code(), "upstream_exists", "{drm} {name}");
        assert!(matches!(err, StoreError::UpstreamExists));
    }
    assert_eq!(store.upstream_infos(&tuto, None).await.unwrap(), before);
    assert_eq!(store.upstreams(&tuto, FPS).await.unwrap(), full);
    // The same name in another site is another upstream.
    assert_eq!(add("ABCD", FPS, "a", Some(4)).await.unwrap().position, 0);
    assert_eq!(upstream_names(store, "ABCD", FPS).await, ["a"]);

    // An unknown site, for every method.
    let none = site_id("NONE");
    let err = add("NONE", FPS, "a", None).await.unwrap_err();
    assert_eq!(err.code(), "site_not_found");
    assert!(matches!(err, StoreError::SiteNotFound));
    for err in [
        store.upstreams(&none, FPS).await.unwrap_err(),
        store.upstream_infos(&none, None).await.unwrap_err(),
        store.upstream_infos(&none, Some(FPS)).await.unwrap_err(),
        store.upstream(&none, "a").await.unwrap_err(),
        store.remove_upstream(&none, "a").await.unwrap_err(),
    ] {
        assert_eq!(err.code(), "site_not_found");
    }

    // An unknown name: not found, in a site with upstreams or without.
    for (site, name) in [(&tuto, "nope"), (&tuto, ""), (&zero, "a")] {
        let err = store.upstream(site, name).await.unwrap_err();
        assert_eq!(err.code(), "upstream_not_found", "{site} {name:?}");
        assert!(matches!(err, StoreError::UpstreamNotFound));
        let err = store.remove_upstream(site, name).await.unwrap_err();
        assert_eq!(err.code(), "upstream_not_found", "{site} {name:?}");
    }

    // Removing re-densifies the list it was in, and only that list.
    store.remove_upstream(&tuto, "d").await.unwrap();
    assert_eq!(
        upstream_names(store, "TUTO", FPS).await,
        ["e", "a", "b", "c", "f", "g"]
    );
    store.remove_upstream(&tuto, "e").await.unwrap();
    store.remove_upstream(&tuto, "g").await.unwrap();
    assert_eq!(
        upstream_names(store, "TUTO", FPS).await,
        ["a", "b", "c", "f"]
    );
    assert_eq!(upstream_names(store, "TUTO", WV).await, ["w2", "w1"]);
    assert_eq!(upstream_names(store, "ABCD", FPS).await, ["a"]);
    let err = store.remove_upstream(&tuto, "d").await.unwrap_err();
    assert_eq!(err.code(), "upstream_not_found");
    // A removed name may come back, in another DRM too.
    add("TUTO", WV, "d", Some(1)).await.unwrap();
    assert_eq!(upstream_names(store, "TUTO", WV).await, ["w2", "d", "w1"]);

    // At most 8 per (site, DRM): the 9th is refused, wherever it would go,
    // and nothing changes.
    for name in ["h", "i", "j", "k"] {
        add("TUTO", FPS, name, Some(2)).await.unwrap();
    }
    assert_eq!(
        upstream_names(store, "TUTO", FPS).await,
        ["a", "b", "k", "j", "i", "h", "c", "f"]
    );
    let before = store.upstream_infos(&tuto, None).await.unwrap();
    let full_eight = store.upstreams(&tuto, FPS).await.unwrap();
    for position in [None, Some(0), Some(8)] {
        let err = add("TUTO", FPS, "z", position).await.unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "drm",
                    reason: "a site holds at most 8 upstreams per DRM"
                }
            ),
            "{err:?}"
        );
    }
    // A name the site holds already is still "exists" on a full list.
    let err = add("TUTO", FPS, "a", None).await.unwrap_err();
    assert_eq!(err.code(), "upstream_exists");
    assert_eq!(store.upstream_infos(&tuto, None).await.unwrap(), before);
    assert_eq!(store.upstreams(&tuto, FPS).await.unwrap(), full_eight);
    assert_eq!(
        store.upstream(&tuto, "z").await.unwrap_err().code(),
        "upstream_not_found"
    );
    // Another DRM of the same site, and another site, still accept; after a
    // removal there is room again.
    add("TUTO", Drm::ClearKey, "z", None).await.unwrap();
    add("ABCD", FPS, "z", None).await.unwrap();
    store.remove_upstream(&tuto, "h").await.unwrap();
    add("TUTO", FPS, "l", Some(0)).await.unwrap();
    assert_eq!(
        upstream_names(store, "TUTO", FPS).await,
        ["l", "a", "b", "k", "j", "i", "c", "f"]
    );

    // Refused values: the exact code and field, and nothing stored.
    let base = || new_upstream("ZERO", FPS, "x");
    let with = |change: fn(&mut NewUpstream)| {
        let mut new = base();
        change(&mut new);
        new
    };
    let cases: Vec<(&str, NewUpstream, &str)> = vec![
        ("empty name", with(|n| n.name.clear()), "name"),
        ("name with a space", with(|n| n.name = "a b".into()), "name"),
        ("name with a slash", with(|n| n.name = "a/b".into()), "name"),
        ("name with a pipe", with(|n| n.name = "a|b".into()), "name"),
        ("name not ASCII", with(|n| n.name = "clé".into()), "name"),
        ("name too long", with(|n| n.name = "x".repeat(65)), "name"),
        ("empty kind", with(|n| n.kind.clear()), "kind"),
        (
            "kind in capitals",
            with(|n| n.kind = "EZDRM".into()),
            "kind",
        ),
        ("kind with _", with(|n| n.kind = "ez_drm".into()), "kind"),
        ("kind too long", with(|n| n.kind = "k".repeat(33)), "kind"),
        ("empty url", with(|n| n.url.clear()), "url"),
        ("ftp url", with(|n| n.url = "ftp://host/spc".into()), "url"),
        (
            "url without scheme",
            with(|n| n.url = "host/spc".into()),
            "url",
        ),
        (
            "url without host",
            with(|n| n.url = "https://".into()),
            "url",
        ),
        (
            "url with a space",
            with(|n| n.url = "https://host/a b".into()),
            "url",
        ),
        (
            "url with a newline",
            with(|n| n.url = "https://host/\nx".into()),
            "url",
        ),
        (
            "url too long",
            with(|n| n.url = format!("https://{}", "h".repeat(2041))),
            "url",
        ),
        (
            "settings null",
            with(|n| n.settings = json!(null)),
            "settings",
        ),
        (
            "settings a list",
            with(|n| n.settings = json!([1])),
            "settings",
        ),
        (
            "settings a string",
            with(|n| n.settings = json!("{}")),
            "settings",
        ),
        (
            "settings too big",
            with(|n| n.settings = json!({ "a": "x".repeat(16_384 - 7) })),
            "settings",
        ),
        (
            "empty secret name",
            with(|n| {
                n.secrets.insert(String::new(), secret("v"));
            }),
            "secrets",
        ),
        (
            "secret name with a space",
            with(|n| {
                n.secrets.insert("api key".into(), secret("v"));
            }),
            "secrets",
        ),
        (
            "secret name too long",
            with(|n| {
                n.secrets.insert("s".repeat(65), secret("v"));
            }),
            "secrets",
        ),
        (
            "17 secrets",
            with(|n| n.secrets = (0..17).map(|i| (format!("s{i}"), secret("v"))).collect()),
            "secrets",
        ),
    ];
    let check = |what: &str, err: StoreError, field: &str| {
        assert_eq!(err.code(), "invalid_input", "{what}");
        match err {
            StoreError::InvalidInput { field: got, .. } => assert_eq!(got, field, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    };
    for (what, new, field) in cases {
        check(what, store.add_upstream(new).await.unwrap_err(), field);
        assert!(
            store.upstream_infos(&zero, None).await.unwrap().is_empty(),
            "{what}"
        );
    }
    // Secret values are refused when they are built, as an admin request does.
    for (what, value) in [
        ("empty value", String::new()),
        ("value with a newline", "a\nb".to_owned()),
        ("value with a tab", "a\tb".to_owned()),
        ("value with DEL", "a\u{7f}".to_owned()),
        ("value not ASCII", "clé".to_owned()),
        ("value too long", "v".repeat(8193)),
    ] {
        let err = add_upstream_raw(store, base(), &[("api_key", value)])
            .await
            .unwrap_err();
        check(what, err, "secrets");
        assert!(
            store.upstream_infos(&zero, None).await.unwrap().is_empty(),
            "{what}"
        );
    }
    // An invalid value is refused before the site is even looked up.
    let mut bad_elsewhere = new_upstream("NONE", FPS, "x");
    bad_elsewhere.kind = "Bad".into();
    check(
        "bad kind, unknown site",
        store.add_upstream(bad_elsewhere).await.unwrap_err(),
        "kind",
    );

    // The limits themselves are accepted, and come back as they went in.
    let mut widest = base();
    widest.name = "N".repeat(64);
    widest.kind = "k".repeat(32);
    widest.url = format!("http://{}", "h".repeat(2041));
    widest.settings = json!({ "a": "x".repeat(16_384 - 8) });
    assert_eq!(serde_json::to_vec(&widest.settings).unwrap().len(), 16_384);
    let values: Vec<(String, String)> = (0..16u8)
        .map(|i| {
            let text: String = (0..8192u32)
                .map(|j| char::from(0x20 + ((j + u32::from(i)) % 95) as u8))
                .collect();
            (format!("{}{i:02}", "s".repeat(62)), text)
        })
        .collect();
    let raw: Vec<(&str, String)> = values
        .iter()
        .map(|(name, value)| (name.as_str(), value.clone()))
        .collect();
    let info = add_upstream_raw(store, widest.clone(), &raw).await.unwrap();
    assert_eq!(info.secret_names.len(), 16);
    let stored = store.upstream(&zero, &"N".repeat(64)).await.unwrap();
    assert_eq!(stored.url, widest.url);
    assert_eq!(stored.settings, widest.settings);
    for (name, value) in &values {
        assert_eq!(stored.secrets[name].expose(), value);
    }
    // An upstream without secrets or settings is fine too.
    let mut bare = new_upstream("ZERO", WV, "bare");
    bare.secrets.clear();
    bare.settings = json!({});
    let info = store.add_upstream(bare).await.unwrap();
    assert!(info.secret_names.is_empty());
    let bare = store.upstream(&zero, "bare").await.unwrap();
    assert!(bare.secrets.is_empty());
    assert_eq!(bare.settings, json!({}));

    // Deleting a site deletes its upstreams, and only its.
    store.delete_site(&tuto).await.unwrap();
    assert_eq!(
        store.upstream_infos(&tuto, None).await.unwrap_err().code(),
        "site_not_found"
    );
    assert_eq!(
        store.upstream(&tuto, "a").await.unwrap_err().code(),
        "site_not_found"
    );
    store.create_site(new_site("TUTO")).await.unwrap();
    assert!(store.upstream_infos(&tuto, None).await.unwrap().is_empty());
    assert_eq!(
        store.upstream(&tuto, "a").await.unwrap_err().code(),
        "upstream_not_found"
    );
    assert_eq!(add("TUTO", FPS, "a", Some(3)).await.unwrap().position, 0);
    assert_eq!(upstream_names(store, "ABCD", FPS).await, ["a", "z"]);
}

/// Concurrent adds and removes on one (site, DRM) list: the limit holds and
/// positions stay dense.
pub async fn concurrent_upstream_adds(store: Arc<dyn Store>) {
    store.create_site(new_site("TUTO")).await.unwrap();
    let spawn_add = |i: usize, position: Option<u32>| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut new = new_upstream("TUTO", Drm::FairPlay, &format!("u{i}"));
            new.position = position;
            store.add_upstream(new).await
        })
    };
    let tasks: Vec<_> = (0..16)
        .map(|i| spawn_add(i, [None, Some(0), Some(1), Some(7)][i % 4]))
        .collect();
    let mut added = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => added += 1,
            Err(e) => assert!(
                matches!(e, StoreError::InvalidInput { field: "drm", .. }),
                "{e:?}"
            ),
        }
    }
    assert_eq!(added, 8);
    let names = upstream_names(&*store, "TUTO", Drm::FairPlay).await;
    assert_eq!(names.len(), 8);

    // Four removed while four others are added, at the front.
    let mut tasks = Vec::new();
    for name in names.iter().take(4) {
        let store = store.clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            store.remove_upstream(&site_id("TUTO"), &name).await?;
            Ok::<_, StoreError>(None::<String>)
        }));
    }
    for i in 100..104 {
        let task = spawn_add(i, Some(0));
        tasks.push(tokio::spawn(async move {
            task.await.unwrap().map(|info| Some(info.name))
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    // An add may find the list still full (the removes not done yet): then
    // it is refused, never squeezed in.
    let added: Vec<String> = results
        .into_iter()
        .filter_map(|r: Result<Option<String>, StoreError>| match r {
            Ok(name) => name,
            Err(e) => {
                assert!(
                    matches!(e, StoreError::InvalidInput { field: "drm", .. }),
                    "{e:?}"
                );
                None
            }
        })
        .collect();
    let after = upstream_names(&*store, "TUTO", Drm::FairPlay).await;
    assert_eq!(after.len(), 4 + added.len());
    assert!(after.len() <= 8);
    for name in &names[4..] {
        assert!(after.contains(name), "{name}");
    }
    for name in &added {
        assert!(after.contains(name), "{name}");
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
    let fairplay: Arc<dyn FairPlayStore> = stores.fairplay.clone();
    let upstreams: Arc<dyn UpstreamStore> = stores.upstreams.clone();
    stores.health().await.unwrap();

    sites.create_site(new_site("TUTO")).await.unwrap();
    keys.put_key(new_key("TUTO", "movie", TrackType::All, 1, 2), false)
        .await
        .unwrap();
    fairplay
        .add_fairplay_credential(new_fps("TUTO", 1))
        .await
        .unwrap();
    assert_eq!(
        stores
            .all
            .fairplay_credentials(&site_id("TUTO"))
            .await
            .unwrap()[0]
            .ask
            .expose(),
        &[0x41; 16]
    );
    upstreams
        .add_upstream(new_upstream("TUTO", Drm::FairPlay, "primary"))
        .await
        .unwrap();
    assert_eq!(
        stores
            .all
            .upstreams(&site_id("TUTO"), Drm::FairPlay)
            .await
            .unwrap()[0]
            .secrets["api_key"]
            .expose(),
        "key-of-primary-Zq8"
    );
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

/// Keys at (site, cid, track type, period) coordinates: made once, returned
/// unchanged, periods apart, kid clashes refused.
pub async fn key_coordinates(store: &dyn Store) {
    store.create_site(new_site("KSRV")).await.unwrap();
    let mut first = new_key("KSRV", "movie", TrackType::Hd, 1, 11);
    first.period = None;
    let (made, created) = store.ensure_key(first.clone()).await.unwrap();
    assert!(created);
    assert_eq!(made.kid, Kid([1; 16]));
    assert_eq!(made.period, None);

    // Same coordinates, another candidate: the stored key comes back.
    let other = new_key("KSRV", "movie", TrackType::Hd, 2, 22);
    let (again, created) = store.ensure_key(other).await.unwrap();
    assert!(!created);
    assert_eq!(again.kid, Kid([1; 16]));
    assert_eq!(again.key.expose(), &[11u8; 16]);

    // Periods are their own coordinates; period 0 is not "no period".
    for (period, kid) in [(0u64, 3u8), (1, 4), (u64::try_from(i64::MAX).unwrap(), 5)] {
        let mut k = new_key("KSRV", "movie", TrackType::Hd, kid, kid);
        k.period = Some(period);
        let (rec, created) = store.ensure_key(k).await.unwrap();
        assert!(created, "period {period}");
        assert_eq!(rec.period, Some(period));
    }
    let mut too_big = new_key("KSRV", "movie", TrackType::Hd, 9, 9);
    too_big.period = Some(u64::MAX);
    assert_eq!(
        store.ensure_key(too_big).await.unwrap_err().code(),
        "invalid_input"
    );

    // A candidate whose kid is taken elsewhere: key_conflict, nothing written.
    let mut clash = new_key("KSRV", "movie", TrackType::Audio, 1, 99);
    clash.period = Some(7);
    assert_eq!(
        store.ensure_key(clash).await.unwrap_err().code(),
        "key_conflict"
    );
    let all = store
        .keys_for_content(&site_id("KSRV"), "movie")
        .await
        .unwrap();
    let periods: Vec<Option<u64>> = all.iter().map(|r| r.period).collect();
    assert_eq!(periods, vec![None, Some(0), Some(1), Some(i64::MAX as u64)]);
    let listed = store
        .list_keys(&site_id("KSRV"), Some("movie"))
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|i| i.period).collect::<Vec<_>>(), periods);
    assert_eq!(
        serde_json::to_value(&listed[1]).unwrap()["period"],
        serde_json::json!(0)
    );
    assert!(serde_json::to_value(&listed[0])
        .unwrap()
        .get("period")
        .is_none());

    // put_key without replace clashes on the same period only.
    let mut p1 = new_key("KSRV", "movie", TrackType::Hd, 6, 6);
    p1.period = Some(1);
    assert_eq!(
        store.put_key(p1.clone(), false).await.unwrap_err().code(),
        "key_conflict"
    );
    p1.period = Some(2);
    store.put_key(p1, false).await.unwrap();

    let mut unknown = new_key("NONE", "movie", TrackType::Hd, 8, 8);
    unknown.period = None;
    assert_eq!(
        store.ensure_key(unknown).await.unwrap_err().code(),
        "site_not_found"
    );

    // Pinned keys (the packager chose the kid): unique by kid only, beside the
    // keyward-chosen key at the same coordinates.
    let pinned = new_key("KSRV", "movie", TrackType::Hd, 0x20, 0x20);
    let (rec, created) = store.ensure_pinned_key(pinned.clone()).await.unwrap();
    assert!(created);
    assert!(rec.pinned);
    assert_eq!(rec.kid, Kid([0x20; 16]));
    let mut again = pinned.clone();
    again.key = ContentKey::from_slice(&[0x77; 16]).unwrap();
    let (rec, created) = store.ensure_pinned_key(again).await.unwrap();
    assert!(!created, "the stored key comes back, not the new candidate");
    assert_eq!(rec.key.expose(), &[0x20; 16]);
    let second = new_key("KSRV", "movie", TrackType::Hd, 0x21, 0x21);
    assert!(
        store.ensure_pinned_key(second).await.unwrap().1,
        "a packager may re-key"
    );
    // The coordinates' own key is still the first one.
    let (coord, created) = store
        .ensure_key(new_key("KSRV", "movie", TrackType::Hd, 0x22, 0x22))
        .await
        .unwrap();
    assert!(!created);
    assert!(!coord.pinned);
    assert_eq!(coord.kid, Kid([1; 16]));
    let listed = store
        .list_keys(&site_id("KSRV"), Some("movie"))
        .await
        .unwrap();
    assert_eq!(listed.iter().filter(|k| k.pinned).count(), 2);
    let json =
        serde_json::to_value(listed.iter().find(|k| k.kid == Kid([0x20; 16])).unwrap()).unwrap();
    assert_eq!(json["pinned"], serde_json::json!(true));
    // A pinned kid of another content: conflict.
    let other = new_key("KSRV", "other", TrackType::Hd, 0x20, 0x20);
    assert_eq!(
        store.ensure_pinned_key(other).await.unwrap_err().code(),
        "key_conflict"
    );
    // A keyward-chosen key at fresh coordinates works beside pinned ones.
    let (fresh, created) = store
        .ensure_key(new_key("KSRV", "fresh", TrackType::Hd, 0x23, 0x23))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(fresh.kid, Kid([0x23; 16]));
    assert_eq!(
        store
            .ensure_pinned_key(new_key("NONE", "x", TrackType::Hd, 0x30, 0x30))
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );
}

/// Many concurrent first requests for one coordinate agree on one key.
pub async fn concurrent_ensure_key(store: Arc<dyn Store>) {
    store.create_site(new_site("KCON")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64u8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut k = new_key("KCON", "live", TrackType::Sd, i, i);
            k.period = Some(42);
            store.ensure_key(k).await.unwrap()
        }));
    }
    let mut kids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (rec, made) = t.await.unwrap();
        kids.insert(rec.kid);
        created += usize::from(made);
    }
    assert_eq!(kids.len(), 1, "every caller got the same key");
    assert_eq!(created, 1, "exactly one caller stored it");
    assert_eq!(
        store
            .keys_for_content(&site_id("KCON"), "live")
            .await
            .unwrap()
            .len(),
        1
    );
}

fn widevine_secret(n: u8) -> PackagerSecret {
    PackagerSecret::Widevine {
        aes_key: Zeroizing::new([n; 32]),
        aes_iv: [n ^ 0xff; 16],
    }
}

/// Packager credentials and key seeds.
pub async fn packagers(store: &dyn Store) {
    store.create_site(new_site("PKGA")).await.unwrap();
    store.create_site(new_site("PKGB")).await.unwrap();
    let wv = store
        .add_packager(NewPackager {
            name: "widevine_test".into(),
            site_id: site_id("PKGA"),
            cid_prefix: None,
            secret: widevine_secret(1),
        })
        .await
        .unwrap();
    assert_eq!(wv.kind, PackagerKind::Widevine);
    let api = PackagerSecret::generate_api_key().unwrap();
    let info = store
        .add_packager(NewPackager {
            name: "encoder-1".into(),
            site_id: site_id("PKGB"),
            cid_prefix: Some("live/".into()),
            secret: api.clone(),
        })
        .await
        .unwrap();
    assert_eq!(info.cid_prefix.as_deref(), Some("live/"));
    // Names are unique across sites.
    let dup = store
        .add_packager(NewPackager {
            name: "widevine_test".into(),
            site_id: site_id("PKGB"),
            cid_prefix: None,
            secret: widevine_secret(2),
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), "packager_exists");
    let missing_site = store
        .add_packager(NewPackager {
            name: "x".into(),
            site_id: site_id("NOPE"),
            cid_prefix: None,
            secret: widevine_secret(2),
        })
        .await
        .unwrap_err();
    assert_eq!(missing_site.code(), "site_not_found");
    let bad_name = store
        .add_packager(NewPackager {
            name: "has space".into(),
            site_id: site_id("PKGA"),
            cid_prefix: None,
            secret: widevine_secret(2),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_name.code(), "invalid_input");

    let got = store.packager("widevine_test").await.unwrap();
    match &got.secret {
        PackagerSecret::Widevine { aes_key, aes_iv } => {
            assert_eq!(**aes_key, [1u8; 32]);
            assert_eq!(*aes_iv, [0xfe; 16]);
        }
        PackagerSecret::ApiKey(_) => panic!("kind changed"),
    }
    let got = store.packager("encoder-1").await.unwrap();
    let PackagerSecret::ApiKey(secret) = &api else {
        panic!()
    };
    assert!(got.secret.api_key_matches(&secret[..]));
    assert_eq!(
        store.packager("nobody").await.unwrap_err().code(),
        "packager_not_found"
    );
    assert_eq!(
        store.packager("bad name").await.unwrap_err().code(),
        "packager_not_found"
    );

    let all = store.list_packagers(None).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["encoder-1", "widevine_test"]
    );
    let a = store.list_packagers(Some(&site_id("PKGA"))).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(
        store.site_packagers(&site_id("PKGB")).await.unwrap().len(),
        1
    );

    store.remove_packager("widevine_test").await.unwrap();
    assert_eq!(
        store
            .remove_packager("widevine_test")
            .await
            .unwrap_err()
            .code(),
        "packager_not_found"
    );
    assert_eq!(store.list_packagers(None).await.unwrap().len(), 1);

    // Key seeds.
    assert!(store.key_seed(&site_id("PKGA")).await.unwrap().is_none());
    let seed = KeySeed::from_slice(b"XVBovsmzhP9gRIZxWfFta3VVRPzVEWmJsazEJ46I").unwrap();
    store
        .set_key_seed(&site_id("PKGA"), Some(seed))
        .await
        .unwrap();
    let back = store.key_seed(&site_id("PKGA")).await.unwrap().unwrap();
    assert_eq!(
        &back.expose()[..],
        &b"XVBovsmzhP9gRIZxWfFta3VVRPzVEWmJsazEJ46I"[..30]
    );
    store.set_key_seed(&site_id("PKGA"), None).await.unwrap();
    assert!(store.key_seed(&site_id("PKGA")).await.unwrap().is_none());
    assert_eq!(
        store
            .set_key_seed(&site_id("NOPE"), None)
            .await
            .unwrap_err()
            .code(),
        "site_not_found"
    );

    // Deleting a site takes its credentials and seed with it.
    store
        .set_key_seed(
            &site_id("PKGB"),
            Some(KeySeed::from_slice(&[3u8; 30]).unwrap()),
        )
        .await
        .unwrap();
    store.delete_site(&site_id("PKGB")).await.unwrap();
    assert!(store.list_packagers(None).await.unwrap().is_empty());
    store.create_site(new_site("PKGB")).await.unwrap();
    assert!(store.key_seed(&site_id("PKGB")).await.unwrap().is_none());
}
