//! Callback integration against a real customer callback page on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use keyward_server::{AppState, Config};
use keyward_store::{
    CallbackFallback, CallbackSettings, NewSite, SiteId, SiteSecret, SiteSettings, SiteStore, Store,
};
use keyward_token::{AuthData, DrmType, SiteKey};
use serde_json::{json, Value};
use tower::ServiceExt;

const SK: &[u8; 32] = b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
const AK: &[u8; 32] = b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20";
const KID_B64: &str = "q7onHovPVSu9LoakNKml2Q";

#[derive(Clone)]
enum Behave {
    Allow(Value),
    AllowFull(Value),
    Deny(&'static str, &'static str),
    WrongNonce,
    Garbage,
    OtherKey,
    Slow(u64),
    Status(u16),
    Redirect,
    Huge,
    Raw(Value),
}

#[derive(Clone)]
struct Customer {
    behave: Arc<Mutex<Behave>>,
    calls: Arc<Mutex<Vec<Value>>>,
}

async fn customer(State(c): State<Customer>, body: Bytes) -> Response {
    let key = SiteKey::new(SK).unwrap();
    let data = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "data")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let req: Value = serde_json::from_slice(&key.decrypt_b64(&data).unwrap()).unwrap();
    c.calls.lock().unwrap().push(req.clone());
    let nonce = req["nonce"].clone();
    let enc = |v: Value| key.encrypt_b64(v.to_string().as_bytes());
    let behave = c.behave.lock().unwrap().clone();
    match behave {
        Behave::Allow(pb) => enc(json!({"error_code":"0000","error_message":"ok","playback_policy":pb,"nonce":nonce})).into_response(),
        Behave::AllowFull(mut v) => {
            v["nonce"] = nonce;
            enc(v).into_response()
        }
        Behave::Deny(code, msg) => enc(json!({"error_code":code,"error_message":msg,"nonce":nonce})).into_response(),
        Behave::WrongNonce => enc(json!({"error_code":"0000","error_message":"ok","playback_policy":{"limit":false},"nonce":"nope"})).into_response(),
        Behave::Garbage => "this is not base64 at all!".into_response(),
        Behave::OtherKey => SiteKey::new(&[b'z'; 32]).unwrap().encrypt_b64(b"{}").into_response(),
        Behave::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            enc(json!({"error_code":"0000","playback_policy":{"limit":false},"nonce":nonce})).into_response()
        }
        Behave::Status(s) => (StatusCode::from_u16(s).unwrap(), "error").into_response(),
        Behave::Redirect => (StatusCode::FOUND, [("location", "http://127.0.0.1:1/elsewhere")], "").into_response(),
        Behave::Huge => "A".repeat(200_000).into_response(),
        Behave::Raw(mut v) => {
            if v.get("nonce").is_none() {
                v["nonce"] = nonce;
            }
            enc(v).into_response()
        }
    }
}

async fn start_customer(b: Behave) -> (String, Customer) {
    let c = Customer {
        behave: Arc::new(Mutex::new(b)),
        calls: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/cb", post(customer))
        .with_state(c.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/cb"), c)
}

async fn gateway(url: &str, cb: CallbackSettings) -> (Router, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_server::open_store(dir.path(), Some(&"11".repeat(32)))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let settings = SiteSettings {
        callback_url: Some(url.into()),
        callback: cb,
        ..SiteSettings::default()
    };
    store
        .create_site(NewSite {
            site_id: SiteId::parse("CBCK").unwrap(),
            site_key: SiteSecret::from_bytes(SK).unwrap(),
            access_key: SiteSecret::from_bytes(AK).unwrap(),
            settings,
        })
        .await
        .unwrap();
    store
        .put_key(
            keyward_store::NewContentKey {
                site_id: SiteId::parse("CBCK").unwrap(),
                cid: "movie-1".into(),
                track_type: keyward_store::TrackType::All,
                kid: keyward_store::Kid::from_hex("abba271e8bcf552bbd2e86a434a9a5d9").unwrap(),
                key: keyward_store::ContentKey::from_slice(
                    &hex::decode("69eaa802a6763af979e8d1940fb88392").unwrap(),
                )
                .unwrap(),
                iv: None,
                label: None,
                period: None,
            },
            false,
        )
        .await
        .unwrap();
    let config = Config {
        cache_ttl_ms: 0,
        ..Config::default()
    };
    (
        keyward_server::router(AppState::new(store.clone(), config, None)),
        store,
        dir,
    )
}

fn auth(user: &str) -> String {
    AuthData {
        drm_type: DrmType::ClearKey,
        site_id: keyward_token::SiteId::parse("CBCK").unwrap(),
        user_id: user.into(),
        cid: "movie-1".into(),
        oid: Some("order-7".into()),
        content_type: None,
    }
    .encode(&SiteKey::new(SK).unwrap())
}

async fn licence(app: &Router, customdata: &str, session: &str) -> (StatusCode, Value) {
    let req = Request::post("/v1/license/clearkey")
        .header("pallycon-customdata-v2", customdata)
        .body(Body::from(format!(
            r#"{{"kids":["{KID_B64}"],"type":"{session}"}}"#
        )))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn fast() -> CallbackSettings {
    CallbackSettings {
        timeout_ms: 400,
        breaker_failures: 0,
        ..CallbackSettings::default()
    }
}

#[tokio::test]
async fn allow_with_each_policy_shape() {
    let (url, cust) = start_customer(Behave::Allow(
        json!({"limit": true, "persistent": false, "duration": 3600}),
    ))
    .await;
    let (app, _s, _d) = gateway(&url, fast()).await;
    let (st, body) = licence(&app, &auth("alice"), "temporary").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"keys":[{"kty":"oct","kid":KID_B64,"k":"aeqoAqZ2Ovl56NGUD7iDkg"}],"type":"temporary"})
    );
    let sent = cust.calls.lock().unwrap()[0].clone();
    assert_eq!(sent["user_id"], "alice");
    assert_eq!(sent["cid"], "movie-1");
    assert_eq!(sent["oid"], "order-7");
    assert_eq!(sent["drm_type"], "ClearKey");
    assert_eq!(sent["nonce"].as_str().unwrap().len(), 32);

    // persistent: true lets a persistent-license session through; false refuses it.
    *cust.behave.lock().unwrap() = Behave::Allow(json!({"limit": false, "persistent": true}));
    let (st, body) = licence(&app, &auth("alice"), "persistent-license").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    *cust.behave.lock().unwrap() = Behave::Allow(json!({"persistent": false}));
    let (st, body) = licence(&app, &auth("alice"), "persistent-license").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("7501"))
    );

    // Full v1 answer: security policy, external key carrying the key, response_user_id.
    *cust.behave.lock().unwrap() = Behave::AllowFull(json!({
        "error_code": "0000", "error_message": "ok", "response_user_id": "alice-2",
        "playback_policy": {"limit": true, "persistent": false, "expire_date": "2099-01-01T00:00:00Z"},
        "security_policy": {"hardware_drm": false, "output_protect": {"allow_external_display": false, "control_hdcp": 1}, "allow_mobile_abnormal_device": false, "playready_security_level": 150},
        "external_key": {"mpeg_cenc": {"key_id": "11111111222222223333333344444444", "key": "aaaaaaaabbbbbbbbccccccccdddddddd"}}
    }));
    let req = Request::post("/v1/license/clearkey")
        .header("pallycon-customdata-v2", auth("alice"))
        .body(Body::from(
            r#"{"kids":["ERERESIiIiIzMzMzRERERA"],"type":"temporary"}"#,
        ))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["keys"][0]["k"], "qqqqqru7u7vMzMzM3d3d3Q");
}

#[tokio::test]
async fn refusals_carry_the_vendor_codes() {
    let (url, cust) = start_customer(Behave::Deny("2301", "subscription expired")).await;
    let (app, _s, _d) = gateway(&url, fast()).await;
    let (st, body) = licence(&app, &auth("bob"), "temporary").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("8002"))
    );
    assert_eq!(
        body["detail"],
        r#"{"ERROR":"2301","MESSAGE":"subscription expired"}"#
    );

    let cases: Vec<(Behave, &str)> = vec![
        (Behave::WrongNonce, "8004"),
        (Behave::Garbage, "8706"),
        (Behave::OtherKey, "8706"),
        (Behave::Slow(1500), "8701"),
        (Behave::Status(500), "8701"),
        (Behave::Redirect, "8701"),
        (Behave::Huge, "8706"),
        (Behave::Raw(json!({"error_message": "no code"})), "8706"),
        (
            Behave::Raw(json!({"error_code": 0, "playback_policy": {}})),
            "8706",
        ),
        (Behave::Raw(json!({"error_code": "0000"})), "8706"),
        (
            Behave::Raw(json!({"error_code": "0000", "playback_policy": "x"})),
            "8707",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "playback_policy": {"limit": true, "duration": "long"}}),
            ),
            "8707",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "policy_version": 2, "playback_policy": {"persistent": false}}),
            ),
            "8707",
        ),
        (
            Behave::Raw(json!({"error_code": "0000", "playback_policy": {"license_duration": 60}})),
            "8707",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "playback_policy": {"limit": true, "expire_date": "2024-13-01T00:00:00Z"}}),
            ),
            "8708",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "playback_policy": {"limit": true, "expire_date": "2001-01-01T00:00:00Z"}}),
            ),
            "8711",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "playback_policy": {}, "security_policy": {"output_protect": {"control_hdcp": 7}}}),
            ),
            "8712",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "playback_policy": {}, "external_key": {"mpeg_cenc": {"key_id": "zz", "key": "aa"}}}),
            ),
            "8706",
        ),
        (
            Behave::Raw(
                json!({"error_code": "0000", "playback_policy": {}, "response_user_id": 5}),
            ),
            "8706",
        ),
    ];
    for (b, code) in cases {
        *cust.behave.lock().unwrap() = b;
        let (_st, body) = licence(&app, &auth("bob"), "temporary").await;
        assert_eq!(body["code"].as_str(), Some(code), "{body}");
    }
    // Extra members are ignored.
    *cust.behave.lock().unwrap() = Behave::Raw(
        json!({"error_code": "0000", "playback_policy": {"limit": false}, "extra": [1, 2]}),
    );
    assert_eq!(
        licence(&app, &auth("bob"), "temporary").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unreachable_and_misconfigured() {
    // Nothing listens on port 1.
    let (app, _s, _d) = gateway("http://127.0.0.1:1/cb", fast()).await;
    let (st, body) = licence(&app, &auth("carol"), "temporary").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("8701"))
    );

    // A site without a callback URL.
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_server::open_store(dir.path(), Some(&"11".repeat(32)))
        .await
        .unwrap();
    store
        .create_site(NewSite {
            site_id: SiteId::parse("CBCK").unwrap(),
            site_key: SiteSecret::from_bytes(SK).unwrap(),
            access_key: SiteSecret::from_bytes(AK).unwrap(),
            settings: SiteSettings::default(),
        })
        .await
        .unwrap();
    let app = keyward_server::router(AppState::new(Arc::new(store), Config::default(), None));
    let (_st, body) = licence(&app, &auth("carol"), "temporary").await;
    assert_eq!(body["code"].as_str(), Some("8705"));
    // Auth data for an unknown site, undecodable and undecryptable auth data.
    let other_site = AuthData {
        drm_type: DrmType::ClearKey,
        site_id: keyward_token::SiteId::parse("NOPE").unwrap(),
        user_id: "u".into(),
        cid: "movie-1".into(),
        oid: None,
        content_type: None,
    }
    .encode(&SiteKey::new(SK).unwrap());
    assert_eq!(
        licence(&app, &other_site, "temporary").await.1["code"].as_str(),
        Some("1003")
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad_json = b64.encode(r#"{"drm_type":"ClearKey","site_id":"CBCK","data":5}"#);
    assert_eq!(
        licence(&app, &bad_json, "temporary").await.1["code"].as_str(),
        Some("7007")
    );
    let bad_data =
        b64.encode(r#"{"drm_type":"ClearKey","site_id":"CBCK","data":"AAAAAAAAAAAAAAAAAAAAAA=="}"#);
    assert_eq!(
        licence(&app, &bad_data, "temporary").await.1["code"].as_str(),
        Some("7008")
    );
    let long_oid = AuthData {
        drm_type: DrmType::ClearKey,
        site_id: keyward_token::SiteId::parse("CBCK").unwrap(),
        user_id: "u".into(),
        cid: "movie-1".into(),
        oid: Some("o".repeat(5000)),
        content_type: None,
    }
    .encode(&SiteKey::new(SK).unwrap());
    assert_eq!(
        licence(&app, &long_oid, "temporary").await.1["code"].as_str(),
        Some("7007")
    );
}

#[tokio::test]
async fn breaker_opens_fails_fast_and_closes() {
    let (url, cust) = start_customer(Behave::Status(500)).await;
    let cb = CallbackSettings {
        timeout_ms: 400,
        breaker_failures: 3,
        breaker_cooldown_secs: 1,
        ..CallbackSettings::default()
    };
    let (app, _s, _d) = gateway(&url, cb).await;
    for _ in 0..3 {
        let (_st, body) = licence(&app, &auth("dave"), "temporary").await;
        assert_eq!(body["code"].as_str(), Some("8701"));
    }
    assert_eq!(cust.calls.lock().unwrap().len(), 3);
    // Open: fails fast without calling.
    let (_st, body) = licence(&app, &auth("dave"), "temporary").await;
    assert!(
        body["detail"].as_str().unwrap().contains("circuit open"),
        "{body}"
    );
    assert_eq!(cust.calls.lock().unwrap().len(), 3);
    // After the cooldown one probe goes through; success closes the circuit.
    *cust.behave.lock().unwrap() = Behave::Allow(json!({"limit": false}));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        licence(&app, &auth("dave"), "temporary").await.0,
        StatusCode::OK
    );
    assert_eq!(
        licence(&app, &auth("dave"), "temporary").await.0,
        StatusCode::OK
    );
    assert_eq!(cust.calls.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn positive_cache_and_fallback() {
    let (url, cust) = start_customer(Behave::Allow(json!({"limit": false}))).await;
    let cb = CallbackSettings {
        timeout_ms: 400,
        breaker_failures: 0,
        cache_ttl_secs: 60,
        ..CallbackSettings::default()
    };
    let (app, _s, _d) = gateway(&url, cb).await;
    assert_eq!(
        licence(&app, &auth("erin"), "temporary").await.0,
        StatusCode::OK
    );
    assert_eq!(
        licence(&app, &auth("erin"), "temporary").await.0,
        StatusCode::OK
    );
    assert_eq!(
        cust.calls.lock().unwrap().len(),
        1,
        "second answer from the cache"
    );
    // Denials are never cached.
    *cust.behave.lock().unwrap() = Behave::Deny("1", "no");
    assert_eq!(
        licence(&app, &auth("frank"), "temporary").await.1["code"].as_str(),
        Some("8002")
    );
    assert_eq!(
        licence(&app, &auth("frank"), "temporary").await.1["code"].as_str(),
        Some("8002")
    );
    assert_eq!(cust.calls.lock().unwrap().len(), 3);

    // Fallback allow while the callback is down.
    let cb = CallbackSettings {
        timeout_ms: 300,
        breaker_failures: 0,
        fallback: CallbackFallback::Allow,
        fallback_license_duration_secs: 120,
        ..CallbackSettings::default()
    };
    let (app, _s, _d) = gateway("http://127.0.0.1:1/cb", cb).await;
    assert_eq!(
        licence(&app, &auth("gina"), "temporary").await.0,
        StatusCode::OK
    );
    // A decision (deny) is not an outage: fallback does not apply.
    let (url, _c) = start_customer(Behave::Deny("9", "no")).await;
    let cb = CallbackSettings {
        fallback: CallbackFallback::Allow,
        ..fast()
    };
    let (app, _s, _d) = gateway(&url, cb).await;
    assert_eq!(
        licence(&app, &auth("gina"), "temporary").await.1["code"].as_str(),
        Some("8002")
    );
}

#[tokio::test]
async fn example_page_end_to_end_over_http() {
    let key = SiteKey::new(SK).unwrap();
    let app = keyward_server::callback_example::router(
        keyward_server::callback_example::ExampleCallback {
            site_key: key,
            allowed_users: vec!["alice".into()],
            playback_policy: json!({"limit": true, "persistent": false, "duration": 600}),
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let (gw, _s, _d) = gateway(&format!("http://{addr}/callback"), fast()).await;
    let gl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gaddr = gl.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(gl, gw).await.unwrap() });
    let client = reqwest::Client::new();
    let ok = client
        .post(format!("http://{gaddr}/ri/clearkey/licenseManager.do"))
        .header("pallycon-customdata-v2", auth("alice"))
        .body(format!(r#"{{"kids":["{KID_B64}"],"type":"temporary"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.text().await.unwrap(),
        format!(
            r#"{{"keys":[{{"kty":"oct","kid":"{KID_B64}","k":"aeqoAqZ2Ovl56NGUD7iDkg"}}],"type":"temporary"}}"#
        )
    );
    let denied = client
        .post(format!("http://{gaddr}/ri/clearkey/licenseManager.do"))
        .header("pallycon-customdata-v2", auth("mallory"))
        .body(format!(r#"{{"kids":["{KID_B64}"],"type":"temporary"}}"#))
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&denied.text().await.unwrap()).unwrap();
    assert_eq!(v["errorCode"], "8002");
    assert_eq!(
        v["message"],
        r#"{"ERROR":"1001","MESSAGE":"user mallory may not play"}"#
    );
}
