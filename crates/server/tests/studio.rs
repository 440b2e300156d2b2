//! Studio-DRM-style tokens end to end over the router: the token API
//! (`/v2/token`), licences with the token in every transport, single use
//! (sequential, 50 concurrent, across a restart), TTL boundaries, every bad
//! input with its code, geo / VPN rules against a generated `.mmdb`, the
//! session webhook against a loopback server, and statistics.
//!
//! The `.mmdb` fixture is written by [`mmdb`] below: a minimal MaxMind DB
//! writer (binary search tree with 24-bit records, data section, metadata) per
//! the public MaxMind DB format specification 2.0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use keyward_server::GatekeeperConfig;
use keyward_server::{AppState, Config};
use keyward_store::{ClientStore as _, Store};
use keyward_token::studio::{mint, StudioSecret};
use keyward_token::Timestamp;
use serde_json::{json, Value};

const CLIENT: &str = "acme";
const CK: &str = "/v1/license/clearkey";

struct Studio {
    app: TestApp,
    key: String,
}

async fn admin(app: &TestApp, method: &str, uri: &str, body: Value) -> Answer {
    app.send(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn create_client(app: &TestApp, name: &str, settings: Value) -> String {
    let a = admin(
        app,
        "POST",
        "/v1/admin/clients",
        json!({"name": name, "site_id": SITE, "settings": settings, "label": "backend"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    a.json()["api_key"].as_str().unwrap().to_owned()
}

async fn studio_with(cfg: impl FnOnce(&mut Config), settings: Value) -> Studio {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    cfg(&mut c);
    let app = app_with(dir, c).await;
    let key = create_client(&app, CLIENT, settings).await;
    Studio { app, key }
}

async fn studio() -> Studio {
    studio_with(|_| {}, json!({})).await
}

impl Studio {
    async fn mint_raw(&self, key: &str, body: Value, accept_json: bool) -> Answer {
        let mut b = Request::post("/v2/token")
            .header("x-api-key", key)
            .header("content-type", "application/json");
        if accept_json {
            b = b.header("accept", "application/json");
        }
        self.app
            .send(b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn mint(&self, policy: Value) -> String {
        let a = self
            .mint_raw(
                &self.key,
                json!({"clientName": CLIENT, "policy": policy}),
                false,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert!(a.content_type().starts_with("text/plain"));
        a.text()
    }

    /// A ClearKey licence request with the token in `x-vudrm-token`, from `peer`.
    async fn licence_from(&self, token: &str, peer: &str, extra: &[(&str, &str)]) -> Answer {
        let mut b = Request::post(CK).header("x-vudrm-token", token);
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let mut req = b
            .body(Body::from(ck_request(&[KID_ALL], "temporary")))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        self.app.send(req).await
    }

    async fn licence(&self, token: &str) -> Answer {
        self.licence_from(token, "127.0.0.1:50000", &[]).await
    }

    async fn secret(&self) -> StudioSecret {
        let c = self.app.store.client(CLIENT).await.unwrap();
        StudioSecret::new(c.secrets[0].expose()).unwrap()
    }
}

fn ok_jwk(a: &Answer) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
}

#[tokio::test]
async fn mint_then_licence_then_replay_refused() {
    let s = studio().await;
    let tok = s.mint(json!({"content_id": CID})).await;
    assert_eq!(tok.split('|').count(), 5);
    assert!(tok.starts_with("acme|") && tok.contains("|v2|"));
    ok_jwk(&s.licence(&tok).await);
    s.licence(&tok)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_token_used");
    // The alias and the JSON answer.
    let a = s
        .app
        .send(
            Request::post("/v2/generate")
                .header("x-api-key", &s.key)
                .header("accept", "application/json")
                .body(Body::from(
                    json!({"clientName": CLIENT, "policy": {"content_id": CID}}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/json");
    let tok = a.json()["token"].as_str().unwrap().to_owned();
    ok_jwk(&s.licence(&tok).await);
}

#[tokio::test]
async fn every_transport_and_path() {
    let s = studio().await;
    let body = ck_request(&[KID_ALL], "temporary");
    // ?token= on the native path.
    let tok = s.mint(json!({"content_id": CID})).await;
    ok_jwk(
        &s.app
            .post(&format!("{CK}?token={}", q(&tok)), None, body.clone())
            .await,
    );
    // Bearer on the native path (told from a PallyCon token by its shape).
    let tok = s.mint(json!({"content_id": CID})).await;
    let a = s
        .app
        .send(
            Request::post(CK)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    ok_jwk(&a);
    // The PallyCon-compatible ClearKey path, with the header.
    let tok = s.mint(json!({"content_id": CID})).await;
    let a = s
        .app
        .send(
            Request::post("/ri/clearkey/licenseManager.do")
                .header("x-vudrm-token", &tok)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    ok_jwk(&a);
    // The HLS key path: exactly the 16 key bytes.
    let tok = s.mint(json!({"content_id": CID})).await;
    let a = s
        .app
        .send(
            Request::get(format!("/v1/hls-key/{SITE}/{CID}"))
                .header("x-vudrm-token", &tok)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(&a.body[..], &KEY_ALL);
    // A PallyCon token still works next to it.
    ok_jwk(&s.app.post(CK, Some(&ck_token(CID)), body).await);
}

#[tokio::test]
async fn fifty_concurrent_redemptions_one_success() {
    let s = studio().await;
    let tok = s.mint(json!({"content_id": CID})).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let router = s.app.router.clone();
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt as _;
            let mut req = Request::post(CK)
                .header("x-vudrm-token", tok)
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap();
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000 + i))));
            let r = router.oneshot(req).await.unwrap();
            (
                r.status(),
                r.headers()
                    .get("x-keyward-error-code")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (st, code) => {
                assert_eq!(st, StatusCode::FORBIDDEN);
                assert_eq!(code.as_deref(), Some("studio_token_used"));
            }
        }
    }
    assert_eq!(ok, 1, "exactly one of 50 concurrent redemptions succeeds");
}

/// A new process over the same data directory: a new store and router.
async fn restarted(dir: &std::path::Path) -> axum::Router {
    let store = keyward_server::open_store(dir, Some(KEK_HEX))
        .await
        .unwrap();
    let dyn_store: Arc<dyn Store> = Arc::new(store);
    keyward_server::router(AppState::new(dyn_store, config(dir), None))
}

async fn send_to(router: &axum::Router, tok: &str) -> axum::response::Response {
    use tower::ServiceExt as _;
    router
        .clone()
        .oneshot(
            Request::post(CK)
                .header("x-vudrm-token", tok)
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn restart_does_not_reopen_a_used_token() {
    let s = studio().await;
    let tok = s.mint(json!({"content_id": CID})).await;
    let fresh = s.mint(json!({"content_id": CID})).await;
    ok_jwk(&s.licence(&tok).await);
    // While this process runs, a second one on the same database may not
    // decide single use: two deciders could each accept a token once.
    let second = restarted(s.app.dir.path()).await;
    let r = send_to(&second, &fresh).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["x-keyward-error-code"], "store_locked");
    drop(second);
    // A clean stop writes every decision; the next process refuses the used
    // token and accepts the fresh one (the refused attempt did not consume it).
    s.app.store.close().await;
    let router = restarted(s.app.dir.path()).await;
    let r = send_to(&router, &tok).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-keyward-error-code"], "studio_token_used");
    let r = send_to(&router, &fresh).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn after_a_crash_older_unknown_tokens_are_refused_as_unverifiable() {
    let s = studio().await;
    let used = s.mint(json!({"content_id": CID})).await;
    let unknown = s.mint(json!({"content_id": CID})).await;
    ok_jwk(&s.licence(&used).await);
    let secret = s.secret().await;
    s.app.store.sync().await.unwrap();
    // What a process that dies mid-flight leaves: its claim marker (and, in
    // the worst case, its last few milliseconds of decisions unsaved).
    s.app.store.close().await;
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(s.app.store.path()),
    )
    .await
    .unwrap();
    sqlx::query("INSERT INTO meta (name, value) VALUES ('replay_claimed', x'31')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let router = restarted(s.app.dir.path()).await;
    // On record: used, as always.
    let r = send_to(&router, &used).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-keyward-error-code"], "studio_token_used");
    // Not on record, issued before the restart: it may have been used in the
    // lost interval, so the player is told to get a new token.
    let r = send_to(&router, &unknown).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["x-keyward-error-code"],
        "studio_token_unverifiable"
    );
    // A token minted after the restart plays.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let tok = mint(
        CLIENT,
        &secret,
        &json!({"content_id": CID}).to_string(),
        Timestamp::from_unix(Timestamp::now().unix() + 1).unwrap(),
    )
    .unwrap();
    let r = send_to(&router, &tok).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn ttl_boundaries() {
    // TTL 30 s, leeway 5 s: accepted while now <= time + 35.
    let s = studio().await;
    let secret = s.secret().await;
    let now = Timestamp::now().unix();
    let at = |t: i64| Timestamp::from_unix(t).unwrap();
    let p = json!({"content_id": CID}).to_string();
    // Inside the window (one second of slack for the clock ticking).
    let tok = mint(CLIENT, &secret, &p, at(now - 34)).unwrap();
    ok_jwk(&s.licence(&tok).await);
    let tok = mint(CLIENT, &secret, &p, at(now - 37)).unwrap();
    s.licence(&tok)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_token_expired");
    let tok = mint(CLIENT, &secret, &p, at(now + 4)).unwrap();
    ok_jwk(&s.licence(&tok).await);
    let tok = mint(CLIENT, &secret, &p, at(now + 8)).unwrap();
    s.licence(&tok)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_token_not_yet_valid");
}

#[tokio::test]
async fn max_uses_and_grace() {
    let s = studio_with(|_| {}, json!({"max_uses": 3, "grace_secs": 60})).await;
    let secret = s.secret().await;
    let p = json!({"content_id": CID}).to_string();
    // Older than TTL + leeway, but inside the grace window.
    let tok = mint(
        CLIENT,
        &secret,
        &p,
        Timestamp::from_unix(Timestamp::now().unix() - 60).unwrap(),
    )
    .unwrap();
    for _ in 0..3 {
        ok_jwk(&s.licence(&tok).await);
    }
    s.licence(&tok)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_token_used");
}

#[tokio::test]
async fn token_api_bad_input_is_coded() {
    let s = studio().await;
    let cases: Vec<(Value, StatusCode, &str, Option<&str>)> = vec![
        (
            json!({"policy": {}}),
            StatusCode::BAD_REQUEST,
            "studio_missing_field",
            Some("clientName"),
        ),
        (
            json!({"clientName": 7}),
            StatusCode::BAD_REQUEST,
            "studio_wrong_type",
            Some("clientName"),
        ),
        (
            json!({"clientName": "other"}),
            StatusCode::FORBIDDEN,
            "studio_client_mismatch",
            None,
        ),
        (
            json!({"clientName": CLIENT, "extra": 1}),
            StatusCode::BAD_REQUEST,
            "studio_unknown_field",
            Some("extra"),
        ),
        (
            json!({"clientName": CLIENT, "policy": []}),
            StatusCode::BAD_REQUEST,
            "studio_wrong_type",
            Some("policy"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"ofline": true}}),
            StatusCode::BAD_REQUEST,
            "studio_unknown_field",
            Some("policy.ofline"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"offline": "yes"}}),
            StatusCode::BAD_REQUEST,
            "studio_wrong_type",
            Some("policy.offline"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"rental_duration_seconds": -5}}),
            StatusCode::BAD_REQUEST,
            "studio_out_of_range",
            Some("policy.rental_duration_seconds"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"widevine": {"license_duration_seconds": 99_999_999_999u64}}}),
            StatusCode::BAD_REQUEST,
            "studio_out_of_range",
            Some("policy.widevine.license_duration_seconds"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"firstplayback_seconds": 60}}),
            StatusCode::BAD_REQUEST,
            "studio_policy_conflict",
            Some("policy.firstplayback_seconds"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"can_renew": true, "rental_duration_seconds": 600}}),
            StatusCode::BAD_REQUEST,
            "studio_policy_conflict",
            Some("policy.rental_duration_seconds"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"geo_restrictions": {"country_code_whitelist": ["US"]}}}),
            StatusCode::BAD_REQUEST,
            "studio_invalid_value",
            Some("policy.geo_restrictions.country_code_whitelist[0]"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"geo_restrictions": {"metro_code_whitelist": ["501"]}}}),
            StatusCode::BAD_REQUEST,
            "studio_wrong_type",
            Some("policy.geo_restrictions.metro_code_whitelist[0]"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"session": {"id": "s", "url": "file:///etc/passwd"}}}),
            StatusCode::BAD_REQUEST,
            "studio_invalid_value",
            Some("policy.session.url"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"session": {"id": "s", "url": "http://x", "method": "PUT"}}}),
            StatusCode::BAD_REQUEST,
            "studio_invalid_value",
            Some("policy.session.method"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"playready": {"security_level": 1000}}}),
            StatusCode::BAD_REQUEST,
            "studio_out_of_range",
            Some("policy.playready.security_level"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"playready": {"begin_datetime": "2030-02-01T00:00:00", "end_datetime": "2030-01-01T00:00:00"}}}),
            StatusCode::BAD_REQUEST,
            "studio_policy_conflict",
            Some("policy.playready.end_datetime"),
        ),
        (
            json!({"clientName": CLIENT, "policy": {"fairplay": {"license_type": "z"}}}),
            StatusCode::BAD_REQUEST,
            "studio_invalid_value",
            Some("policy.fairplay.license_type"),
        ),
    ];
    for (body, status, code, field) in cases {
        let a = s.mint_raw(&s.key, body.clone(), false).await;
        a.assert_problem(status, code);
        assert_eq!(a.json()["field"].as_str(), field, "{body}");
    }
    // Not JSON.
    let a = s
        .app
        .send(
            Request::post("/v2/token")
                .header("x-api-key", &s.key)
                .body(Body::from("{nope"))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "studio_invalid_body");
    // Missing and wrong API keys.
    let a = s
        .app
        .send(
            Request::post("/v2/token")
                .body(Body::from(json!({"clientName": CLIENT}).to_string()))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "studio_api_key_invalid");
    s.mint_raw("kwk_wrong", json!({"clientName": CLIENT}), false)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_api_key_invalid");
}

#[tokio::test]
async fn bad_tokens_at_licence_time_are_coded() {
    let s = studio().await;
    let tok = s.mint(json!({"content_id": CID})).await;
    let parts: Vec<&str> = tok.split('|').collect();
    let with = |i: usize, v: &str| {
        let mut p: Vec<String> = parts.iter().map(|x| (*x).to_owned()).collect();
        p[i] = v.to_owned();
        p.join("|")
    };
    // Four or six parts (a header value is a Studio token whatever its shape).
    s.licence(&parts[..4].join("|"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_token_malformed");
    s.licence(&format!("{tok}|x"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_token_malformed");
    s.licence(&with(2, "v1"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_token_version");
    s.licence(&with(1, "2025-13-01T00:00:00"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_token_malformed");
    // Tampered policy and hash.
    let mut pol = parts[3].to_owned().into_bytes();
    let i = pol.len() / 2;
    pol[i] = if pol[i] == b'A' { b'B' } else { b'A' };
    s.licence(&with(3, &String::from_utf8(pol).unwrap()))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_token_invalid");
    s.licence(&with(4, &"A".repeat(43)))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_token_invalid");
    // Unknown client; another client's token passed off under this name.
    s.licence(&with(0, "nobody"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_unknown_client");
    let key2 = create_client(&s.app, "other", json!({})).await;
    let a = s
        .mint_raw(
            &key2,
            json!({"clientName": "other", "policy": {"content_id": CID}}),
            false,
        )
        .await;
    let other_tok = a.text();
    let renamed = other_tok.replacen("other|", "acme|", 1);
    s.licence(&renamed)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_token_invalid");
    // The untouched token was never consumed by the failed attempts.
    ok_jwk(&s.licence(&tok).await);
}

#[tokio::test]
async fn content_id_and_offline_rules() {
    let s = studio().await;
    // The HLS key path names a content id: it must match the token's.
    let tok = s.mint(json!({"content_id": CID})).await;
    let a = s
        .app
        .get(
            &format!("/v1/hls-key/{SITE}/{CID_MULTI}?token={}", q(&tok)),
            None,
        )
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "studio_content_mismatch");
    let tok = s
        .mint(json!({"content_id": CID, "match_content_id": false}))
        .await;
    let a = s
        .app
        .get(
            &format!("/v1/hls-key/{SITE}/{CID_MULTI}?token={}", q(&tok)),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    // No content id anywhere.
    let tok = s.mint(json!({})).await;
    s.licence(&tok)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_content_missing");
    // offline → persistent-license allowed; otherwise 7501.
    let persist = ck_request(&[KID_ALL], "persistent-license");
    let tok = s.mint(json!({"content_id": CID, "offline": false})).await;
    s.app
        .send(
            Request::post(CK)
                .header("x-vudrm-token", &tok)
                .body(Body::from(persist.clone()))
                .unwrap(),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7501");
    let tok = s
        .mint(json!({"content_id": CID, "offline": true, "firstplayback_seconds": 3600}))
        .await;
    let a = s
        .app
        .send(
            Request::post(CK)
                .header("x-vudrm-token", &tok)
                .body(Body::from(persist))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.text(),
        jwk_set(&[(KID_ALL, KEY_ALL)], "persistent-license")
    );
}

#[tokio::test]
async fn default_policy_and_content_prefixes() {
    let s = studio_with(
        |_| {},
        json!({"default_policy": {"content_id": CID, "client_data": {"plan": "basic"}}, "content_prefixes": ["movie-"]}),
    )
    .await;
    // The default supplies content_id.
    let tok = s.mint(json!({})).await;
    ok_jwk(&s.licence(&tok).await);
    let a = s
        .mint_raw(
            &s.key,
            json!({"clientName": CLIENT, "policy": {"content_id": "series-1"}}),
            false,
        )
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "studio_content_not_allowed");
}

// --- geo and VPN ---------------------------------------------------------------

/// A minimal MaxMind DB writer (IPv4 tree, 24-bit records).
mod mmdb {
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }

    fn ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
        let (first, ext) = if ty <= 7 {
            (ty << 5, None)
        } else {
            (0, Some(ty - 7))
        };
        let (s, extra): (u8, Vec<u8>) = if size < 29 {
            (size as u8, vec![])
        } else if size < 285 {
            (29, vec![(size - 29) as u8])
        } else {
            let v = size - 285;
            (30, vec![(v >> 8) as u8, v as u8])
        };
        out.push(first | s);
        if let Some(e) = ext {
            out.push(e);
        }
        out.extend(extra);
    }

    /// The subset of the data format the fixture needs.
    pub enum V {
        S(&'static str),
        U16(u16),
        U32(u32),
        U64(u64),
        Arr(Vec<V>),
        Map(Vec<(&'static str, V)>),
    }

    fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(8);
        ctrl(out, ty, 8 - first);
        out.extend_from_slice(&bytes[first..]);
    }

    pub fn enc(out: &mut Vec<u8>, v: &V) {
        match v {
            V::S(s) => {
                ctrl(out, 2, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            V::U16(n) => uint(out, 5, u64::from(*n)),
            V::U32(n) => uint(out, 6, u64::from(*n)),
            V::U64(n) => uint(out, 9, *n),
            V::Arr(items) => {
                ctrl(out, 11, items.len());
                for i in items {
                    enc(out, i);
                }
            }
            V::Map(pairs) => {
                ctrl(out, 7, pairs.len());
                for (k, val) in pairs {
                    enc(out, &V::S(k));
                    enc(out, val);
                }
            }
        }
    }

    /// Networks (a.b.c.d, prefix) → record, as a `.mmdb` file.
    pub fn build(nets: &[([u8; 4], u8, V)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        for (ip, prefix, rec) in nets {
            let off = data.len();
            enc(&mut data, rec);
            let bits = u32::from_be_bytes(*ip);
            let mut node = 0usize;
            for i in 0..*prefix {
                let bit = ((bits >> (31 - i)) & 1) as usize;
                if i + 1 == *prefix {
                    nodes[node][bit] = Rec::Data(off);
                } else {
                    node = match nodes[node][bit] {
                        Rec::Node(n) => n,
                        _ => {
                            nodes.push([Rec::Empty, Rec::Empty]);
                            let n = nodes.len() - 1;
                            nodes[node][bit] = Rec::Node(n);
                            n
                        }
                    };
                }
            }
        }
        let count = nodes.len();
        let mut out = Vec::new();
        for n in &nodes {
            for r in n {
                let v = match r {
                    Rec::Empty => count,
                    Rec::Node(i) => *i,
                    Rec::Data(off) => count + 16 + off,
                } as u32;
                out.extend_from_slice(&v.to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        enc(
            &mut out,
            &V::Map(vec![
                ("binary_format_major_version", V::U16(2)),
                ("binary_format_minor_version", V::U16(0)),
                ("build_epoch", V::U64(1_700_000_000)),
                ("database_type", V::S("keyward-test-City")),
                (
                    "description",
                    V::Map(vec![("en", V::S("keyward test fixture"))]),
                ),
                ("ip_version", V::U16(4)),
                ("languages", V::Arr(vec![V::S("en")])),
                ("node_count", V::U32(count as u32)),
                ("record_size", V::U16(24)),
            ]),
        );
        out
    }

    pub fn city(iso: &'static str, metro: Option<u16>) -> V {
        let mut m = vec![("country", V::Map(vec![("iso_code", V::S(iso))]))];
        if let Some(mc) = metro {
            m.push(("location", V::Map(vec![("metro_code", V::U16(mc))])));
        }
        V::Map(m)
    }
}

async fn geo_studio(dir: &std::path::Path) -> Studio {
    let db = dir.join("geo.mmdb");
    std::fs::write(
        &db,
        mmdb::build(&[
            ([1, 1, 1, 0], 24, mmdb::city("US", Some(501))),
            ([2, 2, 2, 0], 24, mmdb::city("US", Some(803))),
            ([3, 3, 3, 0], 24, mmdb::city("DE", None)),
        ]),
    )
    .unwrap();
    let vpn = dir.join("vpn.txt");
    std::fs::write(&vpn, "# test list\n1.1.1.128/25\n").unwrap();
    studio_with(
        |c| {
            c.gatekeeper = GatekeeperConfig {
                geoip_db: Some(db),
                vpn_lists: vec![vpn],
                trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
                session_timeout_ms: 300,
            };
        },
        json!({}),
    )
    .await
}

#[tokio::test]
async fn geo_country_metro_vpn_and_forwarded_for() {
    let fixtures = tempfile::tempdir().unwrap();
    let s = geo_studio(fixtures.path()).await;
    let usa =
        json!({"content_id": CID, "geo_restrictions": {"country_code_whitelist": ["USA", "GBR"]}});
    ok_jwk(
        &s.licence_from(&s.mint(usa.clone()).await, "1.1.1.1:1000", &[])
            .await,
    );
    s.licence_from(&s.mint(usa.clone()).await, "3.3.3.3:1000", &[])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_geo_country");
    // Not in the database at all.
    s.licence_from(&s.mint(usa.clone()).await, "9.9.9.9:1000", &[])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_geo_country");
    // Metro codes.
    let metro = json!({"content_id": CID, "geo_restrictions": {"metro_code_whitelist": [501]}});
    ok_jwk(
        &s.licence_from(&s.mint(metro.clone()).await, "1.1.1.2:1000", &[])
            .await,
    );
    let a = s
        .licence_from(&s.mint(metro.clone()).await, "2.2.2.2:1000", &[])
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "studio_geo_metro");
    assert!(a.json()["detail"]
        .as_str()
        .unwrap()
        .contains("metro_code_whitelist"));
    // VPN / Tor list.
    let vpn = json!({"content_id": CID, "geo_restrictions": {"block_vpn_and_tor": true}});
    s.licence_from(&s.mint(vpn.clone()).await, "1.1.1.200:1000", &[])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_vpn_blocked");
    ok_jwk(
        &s.licence_from(&s.mint(vpn.clone()).await, "1.1.1.20:1000", &[])
            .await,
    );
    // The list file changes: reloaded.
    let list = fixtures.path().join("vpn.txt");
    std::fs::write(&list, "1.1.1.0/28\n").unwrap();
    let f = std::fs::File::options().write(true).open(&list).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    // The gatekeeper re-checks the files at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.licence_from(&s.mint(vpn.clone()).await, "1.1.1.5:1000", &[])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_vpn_blocked");
    ok_jwk(
        &s.licence_from(&s.mint(vpn).await, "1.1.1.200:1000", &[])
            .await,
    );
    // X-Forwarded-For from an untrusted peer is ignored (spoofing)…
    s.licence_from(
        &s.mint(usa.clone()).await,
        "3.3.3.3:1000",
        &[("x-forwarded-for", "1.1.1.1")],
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "studio_geo_country");
    // …and believed from a trusted proxy.
    ok_jwk(
        &s.licence_from(
            &s.mint(usa.clone()).await,
            "10.0.0.1:1000",
            &[("x-forwarded-for", "3.3.3.3, 1.1.1.1")],
        )
        .await,
    );
}

#[tokio::test]
async fn geo_rules_without_a_database_fail_closed() {
    let s = studio().await;
    let t = s
        .mint(json!({"content_id": CID, "geo_restrictions": {"country_code_whitelist": ["USA"]}}))
        .await;
    s.licence_from(&t, "1.1.1.1:1", &[])
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "studio_geo_unavailable");
    let t = s
        .mint(json!({"content_id": CID, "geo_restrictions": {"block_vpn_and_tor": true}}))
        .await;
    s.licence_from(&t, "1.1.1.1:1", &[])
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "studio_vpn_unavailable");
}

// --- session webhook -------------------------------------------------------------

#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Call>>>);

/// (method, query or body, API_KEY header).
type Call = (String, String, Option<String>);

async fn webhook() -> (SocketAddr, Calls) {
    use axum::extract::{Path, RawQuery, State};
    use axum::routing::any;
    async fn h(
        State(c): State<Calls>,
        Path(kind): Path<String>,
        method: axum::http::Method,
        RawQuery(q): RawQuery,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> StatusCode {
        let api = headers
            .get("api_key")
            .map(|v| v.to_str().unwrap().to_owned());
        let what = if method == axum::http::Method::GET {
            q.unwrap_or_default()
        } else {
            body
        };
        c.0.lock().unwrap().push((method.to_string(), what, api));
        match kind.as_str() {
            "ok" => StatusCode::OK,
            "deny" => StatusCode::FORBIDDEN,
            "hang" => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                StatusCode::OK
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    let calls = Calls::default();
    let app = axum::Router::new()
        .route("/{kind}", any(h))
        .with_state(calls.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, calls)
}

#[tokio::test]
async fn session_webhook_allows_only_200() {
    let fixtures = tempfile::tempdir().unwrap();
    let s = geo_studio(fixtures.path()).await;
    let (addr, calls) = webhook().await;
    let sess = |kind: &str, method: &str| json!({"content_id": CID, "session": {"id": "sess-1", "url": format!("http://{addr}/{kind}"), "method": method, "headers": {"API_KEY": "k1"}}});
    ok_jwk(&s.licence(&s.mint(sess("ok", "GET")).await).await);
    ok_jwk(&s.licence(&s.mint(sess("ok", "POST")).await).await);
    {
        let c = calls.0.lock().unwrap();
        assert_eq!(
            c[0],
            ("GET".into(), "sessionId=sess-1".into(), Some("k1".into()))
        );
        assert_eq!(c[1].0, "POST");
        assert_eq!(
            serde_json::from_str::<Value>(&c[1].1).unwrap(),
            json!({"sessionId": "sess-1"})
        );
        assert_eq!(c[1].2.as_deref(), Some("k1"));
    }
    for m in ["GET", "POST"] {
        s.licence(&s.mint(sess("deny", m)).await)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "studio_session_denied");
        s.licence(&s.mint(sess("err", m)).await)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "studio_session_denied");
    }
    let started = std::time::Instant::now();
    s.licence(&s.mint(sess("hang", "GET")).await)
        .await
        .assert_problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "studio_session_unavailable",
        );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nothing listening.
    let dead = json!({"content_id": CID, "session": {"id": "x", "url": "http://127.0.0.1:9/none"}});
    s.licence(&s.mint(dead).await).await.assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "studio_session_unavailable",
    );
}

// --- statistics and admin ----------------------------------------------------------

#[tokio::test]
async fn stats_count_per_day_and_drm_with_client_data_filter() {
    let s = studio().await;
    for plan in ["gold", "gold", "basic"] {
        let t = s
            .mint(json!({"content_id": CID, "client_data": {"plan": plan, "n": 1}}))
            .await;
        ok_jwk(&s.licence(&t).await);
    }
    // A refused licence (no such key) is recorded with its code.
    let t = s.mint(json!({"content_id": CID_EMPTY})).await;
    assert_eq!(s.licence(&t).await.status, StatusCode::NOT_FOUND);
    // So is a front-door refusal once the token verified (here a reuse), with
    // the client's client_data; a token that does not verify is not
    // attributed to any client.
    let t = s
        .mint(json!({"content_id": CID, "client_data": {"plan": "gold"}}))
        .await;
    ok_jwk(&s.licence(&t).await);
    s.licence(&t)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_token_used");
    let mut forged = t.clone();
    forged.push('A');
    assert_ne!(s.licence(&forged).await.status, StatusCode::OK);
    let get = |q: String| {
        let key = s.key.clone();
        let app = &s.app;
        async move {
            app.send(
                Request::get(format!("/v2/stats{q}"))
                    .header("x-api-key", key)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    // Audit records are written off the request path.
    let mut j = Value::Null;
    for _ in 0..50 {
        let a = get(String::new()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        j = a.json();
        if j["issued"] == 4 && j["counts"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(j["issued"], 4, "{j}");
    let today = keyward_token::studio::format_time(Timestamp::now())[..10].to_owned();
    let counts = j["counts"].as_array().unwrap();
    assert_eq!(counts.len(), 3, "{j}");
    assert!(
        counts.contains(&json!({"day": today, "drm": "ClearKey", "result": "ok", "count": 4})),
        "{j}"
    );
    assert!(
        counts.contains(&json!({"day": today, "drm": "ClearKey", "result": "7001", "count": 1})),
        "{j}"
    );
    assert!(
        counts.contains(
            &json!({"day": today, "drm": "ClearKey", "result": "studio_token_used", "count": 1})
        ),
        "{j}"
    );
    let j = get("?client_data_key=plan&client_data_value=gold".into())
        .await
        .json();
    assert_eq!(j["issued"], 3, "{j}");
    let j = get("?client_data_key=n&client_data_value=1".into())
        .await
        .json();
    assert_eq!(j["issued"], 3, "{j}");
    let j = get(format!("?from={today}&to={today}")).await.json();
    assert_eq!(j["issued"], 4, "{j}");
    let j = get("?from=2000-01-01&to=2000-01-02".into()).await.json();
    assert_eq!(j["issued"], 0, "{j}");
    get("?from=yesterday".into())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_invalid_value");
    get("?client_data_key=plan".into())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_missing_field");
    s.app
        .send(Request::get("/v2/stats").body(Body::empty()).unwrap())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_api_key_invalid");
}

#[tokio::test]
async fn admin_api_keys_rotate_and_secret_rotation_keeps_live_tokens() {
    let s = studio().await;
    let a = admin(
        &s.app,
        "GET",
        &format!("/v1/admin/clients/{CLIENT}"),
        json!(null),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let j = a.json();
    assert_eq!(j["settings"]["ttl_secs"], 30);
    assert_eq!(j["settings"]["max_uses"], 1);
    assert!(
        !a.text().contains("secret"),
        "no secret material: {}",
        a.text()
    );
    let old_id = j["api_keys"][0]["id"].as_str().unwrap().to_owned();
    // A second key, then the first removed.
    let a = admin(
        &s.app,
        "POST",
        &format!("/v1/admin/clients/{CLIENT}/api-keys"),
        json!({"label": "new"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let new_key = a.json()["api_key"].as_str().unwrap().to_owned();
    // The old key works (and its client is now cached) until it is removed…
    assert_eq!(
        s.mint_raw(&s.key, json!({"clientName": CLIENT}), false)
            .await
            .status,
        StatusCode::OK
    );
    let a = admin(
        &s.app,
        "DELETE",
        &format!("/v1/admin/clients/{CLIENT}/api-keys/{old_id}"),
        json!(null),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    // …and not a moment longer.
    s.mint_raw(&s.key, json!({"clientName": CLIENT}), false)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "studio_api_key_invalid");
    let live = s
        .mint_raw(
            &new_key,
            json!({"clientName": CLIENT, "policy": {"content_id": CID}}),
            false,
        )
        .await
        .text();
    // The last key cannot go.
    let id = admin(
        &s.app,
        "GET",
        &format!("/v1/admin/clients/{CLIENT}"),
        json!(null),
    )
    .await
    .json()["api_keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin(
        &s.app,
        "DELETE",
        &format!("/v1/admin/clients/{CLIENT}/api-keys/{id}"),
        json!(null),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    // Secret rotation: the live token (old key id) still verifies.
    let a = admin(
        &s.app,
        "POST",
        &format!("/v1/admin/clients/{CLIENT}/secret"),
        json!(null),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["kids"].as_array().unwrap().len(), 2);
    ok_jwk(&s.licence(&live).await);
    let fresh = s
        .mint_raw(
            &new_key,
            json!({"clientName": CLIENT, "policy": {"content_id": CID}}),
            false,
        )
        .await
        .text();
    assert_ne!(
        fresh.split('|').nth(3).unwrap()[..6],
        live.split('|').nth(3).unwrap()[..6]
    );
    ok_jwk(&s.licence(&fresh).await);
    // Bad admin input.
    admin(
        &s.app,
        "POST",
        "/v1/admin/clients",
        json!({"name": "bad name", "site_id": SITE}),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    admin(
        &s.app,
        "POST",
        "/v1/admin/clients",
        json!({"name": CLIENT, "site_id": SITE}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "client_exists");
    admin(
        &s.app,
        "POST",
        "/v1/admin/clients",
        json!({"name": "x", "site_id": "NOPE"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "site_not_found");
    let a = admin(
        &s.app,
        "POST",
        "/v1/admin/clients",
        json!({"name": "y", "site_id": SITE, "settings": {"default_policy": {"ofline": true}}}),
    )
    .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "studio_unknown_field");
    admin(&s.app, "DELETE", "/v1/admin/clients/none", json!(null))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "client_not_found");
    // Without the admin token.
    let a = s
        .app
        .send(
            Request::get("/v1/admin/clients")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// The native ClearKey path reads `?cid=` like the PallyCon ClearKey path: a
/// token locked to one content cannot fetch another's key, and a token
/// without a content id plays the content the request names.
#[tokio::test]
async fn native_clearkey_path_honours_the_cid_query() {
    let s = studio().await;
    let send = |tok: String, query: String| {
        let app = &s.app;
        async move {
            app.send(
                Request::post(format!("{CK}{query}"))
                    .header("x-vudrm-token", tok)
                    .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                    .unwrap(),
            )
            .await
        }
    };
    let locked = s.mint(json!({"content_id": CID})).await;
    send(locked, format!("?cid={CID_MULTI}"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_content_mismatch");
    let open = s.mint(json!({})).await;
    ok_jwk(&send(open, format!("?cid={CID}")).await);
    // Without ?cid= the token still names nothing.
    let open = s.mint(json!({})).await;
    send(open, String::new())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "studio_content_missing");
    // A PallyCon token for CID with ?cid=CID_MULTI: the vendor's 7012.
    let a = s
        .app
        .send(
            Request::post(format!("{CK}?cid={CID_MULTI}"))
                .header("pallycon-customdata-v2", ck_token(CID))
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "7012");
}

/// Every licence path runs the same pipeline, so a Studio token's outcome on
/// a PallyCon path (here PlayReady, refused until an upstream exists) is
/// counted in its client's statistics like on the native paths.
#[tokio::test]
async fn outcomes_on_pallycon_paths_are_counted() {
    let s = studio().await;
    let tok = s.mint(json!({"content_id": CID})).await;
    let a = s
        .app
        .send(
            Request::post("/ri/playready/licenseManager.do")
                .header("x-vudrm-token", &tok)
                .body(Body::from(playready_challenge(None)))
                .unwrap(),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "7202");
    let today = keyward_token::studio::format_time(Timestamp::now())[..10].to_owned();
    let want = json!({"day": today, "drm": "PlayReady", "result": "7202", "count": 1});
    let mut j = Value::Null;
    for _ in 0..50 {
        let a = s
            .app
            .send(
                Request::get("/v2/stats")
                    .header("x-api-key", &s.key)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        j = a.json();
        if j["counts"].as_array().is_some_and(|c| c.contains(&want)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(j["counts"].as_array().unwrap().contains(&want), "{j}");
}
