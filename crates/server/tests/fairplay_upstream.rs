//! FairPlay through upstream KSMs: a site without credentials forwards the SPC
//! (keyward having decided the entitlement) to its FairPlay upstreams in order,
//! in each one's envelope, with its headers and secret headers, and relays the
//! CKC byte for byte in the player's envelope. Against a mock KSM on loopback
//! (axum) that speaks the protocol — SPC in, CKC out, built with Apple's SDK
//! development credentials — and misbehaves on demand: refuses, answers
//! garbage, 5xx, hangs, resets. Failover, no failover on a refusal, the
//! breaker, certificate routing, and the admin API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use common::*;
use keyward_drm::fairplay::{CkcContent, OpenedSpc, Spc, SpcKey, SDK_TEST_DASK};
use keyward_token::{DrmType, Policy, Timestamp};
use serde_json::{json, Value};

const FIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fixtures/fairplay-ksm"
);
const FP: &str = "/v1/license/fairplay";
const KEY: [u8; 16] = [0x3c; 16];

fn spc() -> Vec<u8> {
    std::fs::read(format!("{FIX}/FPS/spc2.bin")).unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap()
}

#[derive(Default)]
struct Mock {
    calls: Mutex<HashMap<String, usize>>,
    seen: Mutex<Vec<(String, HeaderMap, Vec<u8>)>>,
    /// The CKC the mock answered last, per mode.
    ckcs: Mutex<HashMap<String, Vec<u8>>>,
}

fn ckc_for(spc: &[u8]) -> Vec<u8> {
    let key = SpcKey::parse(
        &std::fs::read(format!("{FIX}/Development Credentials/dev_private_key.pem")).unwrap(),
        None,
    )
    .unwrap();
    let s = OpenedSpc::open(&Spc::parse(spc).unwrap(), &key)
        .unwrap()
        .unlock(&SDK_TEST_DASK)
        .unwrap();
    let mut n = 7u8;
    s.build_ckc(
        &CkcContent {
            key: &KEY,
            iv: [0; 16],
            duration: None,
        },
        &mut |b| {
            for x in b {
                n = n.wrapping_mul(13).wrapping_add(1);
                *x = n;
            }
            Ok(())
        },
    )
    .unwrap()
}

/// The mock KSM: `POST /{mode}`.
async fn ksm(
    State(m): State<Arc<Mock>>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *m.calls.lock().unwrap().entry(mode.clone()).or_default() += 1;
    m.seen
        .lock()
        .unwrap()
        .push((mode.clone(), headers.clone(), body.to_vec()));
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let answer = |ckc: Vec<u8>| {
        m.ckcs.lock().unwrap().insert(mode.clone(), ckc.clone());
        ckc
    };
    match mode.as_str() {
        "raw" | "raw2" => {
            assert_eq!(ctype, "application/octet-stream");
            answer(ckc_for(&body)).into_response()
        }
        "form" => {
            assert_eq!(ctype, "application/x-www-form-urlencoded");
            let text = String::from_utf8(body.to_vec()).unwrap();
            let v = form_urlencoded::parse(text.as_bytes())
                .find(|(k, _)| k == "spc")
                .unwrap()
                .1
                .into_owned();
            b64(&answer(ckc_for(&unb64(&v)))).into_response()
        }
        "json" => {
            assert_eq!(ctype, "application/json");
            let v: Value = serde_json::from_slice(&body).unwrap();
            let ckc = answer(ckc_for(&unb64(v["spc"].as_str().unwrap())));
            axum::Json(json!({"ckc": b64(&ckc)})).into_response()
        }
        "xml" => format!("<ckc>{}</ckc>", b64(&answer(ckc_for(&body)))).into_response(),
        "refuse" => (StatusCode::FORBIDDEN, "asset not licensed").into_response(),
        "vendor-error" => {
            axum::Json(json!({"errorCode": "7308", "message": "bad asset"})).into_response()
        }
        "garbage" => "this is not a ckc".into_response(),
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            answer(ckc_for(&body)).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn mock() -> (String, Arc<Mock>) {
    let m = Arc::new(Mock::default());
    let app = Router::new()
        .route("/{mode}", post(ksm))
        .with_state(m.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), m)
}

/// A port that accepts and drops every connection (a reset).
async fn resetting() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }
    });
    format!("http://{addr}/x")
}

async fn admin(app: &TestApp, method: &str, uri: &str, body: Option<Value>) -> Answer {
    app.send(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap(),
    )
    .await
}

/// The site the tests use: HTTP_SITE, which holds no FairPlay credential.
async fn add(app: &TestApp, name: &str, url: &str, settings: Value) {
    let a = admin(
        app,
        "POST",
        &format!("/v1/admin/sites/{HTTP_SITE}/upstreams"),
        Some(
            json!({"name": name, "drm": "FairPlay", "kind": "fairplay-ksm", "url": url,
            "settings": settings, "secrets": {"Authorization": "Bearer s3cret-upstream"}}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
}

fn tok(policy: &Policy) -> String {
    token_for(
        &creds_of(HTTP_SITE),
        DrmType::FairPlay,
        "one",
        policy,
        Timestamp::now(),
    )
}

async fn licence(app: &TestApp, body: impl Into<Body>) -> Answer {
    app.send(
        Request::post(FP)
            .header("authorization", format!("Bearer {}", tok(&streaming())))
            .header("x-request-id", "req-42")
            .body(body.into())
            .unwrap(),
    )
    .await
}

fn calls(m: &Mock, mode: &str) -> usize {
    m.calls.lock().unwrap().get(mode).copied().unwrap_or(0)
}

#[tokio::test]
async fn every_envelope_reaches_the_upstream_and_the_ckc_comes_back_byte_for_byte() {
    let (base, m) = mock().await;
    for (mode, settings) in [
        ("raw", json!({"headers": {"X-Api-Key": "plain-1"}})),
        ("form", json!({"envelope": "form"})),
        ("json", json!({"envelope": "json"})),
        ("xml", json!({})),
    ] {
        let app = common::app().await;
        add(&app, "ksm", &format!("{base}/{mode}"), settings).await;
        // The player sends a raw SPC and gets the raw CKC.
        let a = licence(&app, spc()).await;
        assert_eq!(a.status, StatusCode::OK, "{mode}: {}", a.text());
        assert_eq!(a.content_type(), "application/octet-stream");
        let sent = m.ckcs.lock().unwrap().get(mode).cloned().unwrap();
        assert_eq!(a.body.to_vec(), sent, "{mode}");
        // The player's form gets base64 of the same bytes.
        let form = format!("spc={}", q(&b64(&spc())));
        let a = licence(&app, form).await;
        let sent = m.ckcs.lock().unwrap().get(mode).cloned().unwrap();
        assert_eq!(unb64(&a.text()), sent, "{mode}");
    }
    // What the upstream saw: the SPC in its envelope, the secret and plain
    // headers, the request id.
    let seen = m.seen.lock().unwrap();
    let (_, h, body) = seen.iter().find(|(mode, _, _)| mode == "raw").unwrap();
    assert_eq!(body, &spc());
    assert_eq!(h["authorization"], "Bearer s3cret-upstream");
    assert_eq!(h["x-api-key"], "plain-1");
    assert_eq!(h["x-request-id"], "req-42");
}

#[tokio::test]
async fn failover_on_5xx_timeout_and_reset_but_never_after_a_refusal() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, "down", &format!("{base}/down"), json!({})).await;
    add(
        &app,
        "slow",
        &format!("{base}/slow"),
        json!({"timeout_ms": 300}),
    )
    .await;
    add(&app, "reset", &resetting().await, json!({})).await;
    add(&app, "good", &format!("{base}/raw2"), json!({})).await;
    let t = std::time::Instant::now();
    let a = licence(&app, spc()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(a.body.to_vec(), m.ckcs.lock().unwrap()["raw2"]);
    assert_eq!(
        (calls(&m, "down"), calls(&m, "slow"), calls(&m, "raw2")),
        (1, 1, 1)
    );
    // The audit trail has every attempt of that licence: route, result, latency.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let site = keyward_store::SiteId::parse(HTTP_SITE).unwrap();
    let mut trail: Vec<_> = keyward_store::AuditStore::recent(app.store.as_ref(), Some(&site), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| e.kind == "upstream" && e.request_id.as_deref() == Some("req-42"))
        .collect();
    trail.sort_by_key(|e| e.at_unix_ms);
    let seen: Vec<(String, String)> = trail
        .iter()
        .map(|e| {
            (
                e.detail["route"].as_str().unwrap().to_owned(),
                e.result.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("down", "5xx without a body"),
            ("slow", "timed out"),
            ("reset", "connection failed"),
            ("good", "ok"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(trail[3].detail["status"], 200);
    assert_eq!(trail[3].drm.as_deref(), Some("FairPlay"));
    assert!(trail[1].detail["ms"].as_u64().unwrap() >= 290);

    // A definite refusal is the answer: the next upstream is not asked.
    let (base2, m2) = mock().await;
    for (mode, word) in [
        ("refuse", "HTTP 403"),
        ("vendor-error", "code 7308"),
        ("garbage", "not a CKC"),
    ] {
        let app = common::app().await;
        add(&app, "first", &format!("{base2}/{mode}"), json!({})).await;
        add(&app, "second", &format!("{base2}/raw"), json!({})).await;
        let a = licence(&app, spc()).await;
        a.assert_problem(StatusCode::BAD_GATEWAY, "7324");
        assert!(a.text().contains(word), "{mode}: {}", a.text());
        assert_eq!(calls(&m2, "raw"), 0, "{mode}");
    }

    // Nobody answers: a coded 503, the reasons in the log only.
    let app = common::app().await;
    add(&app, "down", &format!("{base}/down"), json!({})).await;
    add(&app, "reset", &resetting().await, json!({})).await;
    let a = licence(&app, spc()).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7323");
    assert!(!a.text().contains("reset"), "{}", a.text());
}

#[tokio::test]
async fn the_breaker_opens_skips_the_route_and_recovers() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        "down",
        &format!("{base}/down"),
        json!({"breaker_failures": 2, "breaker_cooldown_secs": 1}),
    )
    .await;
    add(&app, "good", &format!("{base}/raw"), json!({})).await;
    for _ in 0..5 {
        assert_eq!(licence(&app, spc()).await.status, StatusCode::OK);
    }
    // Two failures opened it; the other three skipped it.
    assert_eq!(calls(&m, "down"), 2);
    assert_eq!(calls(&m, "raw"), 5);
    let a = admin(
        &app,
        "GET",
        &format!("/v1/admin/sites/{HTTP_SITE}/upstreams/down"),
        None,
    )
    .await;
    assert_eq!(
        a.json()["breaker"],
        json!({"consecutive_failures": 2, "open": true})
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // One probe after the cool-down (it fails again and re-opens).
    assert_eq!(licence(&app, spc()).await.status, StatusCode::OK);
    assert_eq!(calls(&m, "down"), 3);
}

#[tokio::test]
async fn routing_by_certificate_and_what_is_refused_before_forwarding() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        "other-cert",
        &format!("{base}/raw"),
        json!({"cert_hashes": ["0000000000000000000000000000000000000000"]}),
    )
    .await;
    let a = licence(&app, spc()).await;
    a.assert_problem(StatusCode::FORBIDDEN, "7320");
    assert_eq!(calls(&m, "raw"), 0);
    add(
        &app,
        "dev-cert",
        &format!("{base}/raw"),
        json!({"cert_hashes": ["5561980AA51F03AA04BCA24556C841A71736C771"]}),
    )
    .await;
    assert_eq!(licence(&app, spc()).await.status, StatusCode::OK);
    assert_eq!(calls(&m, "raw"), 1);
    // Output rules cannot travel with a raw SPC: refused, the upstream not asked.
    let hdcp = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false},"security_policy":[{"track_type":"ALL","fairplay":{"hdcp_enforcement":1}}]}"#,
    )
    .unwrap();
    let a = app
        .send(
            Request::post(FP)
                .header("authorization", format!("Bearer {}", tok(&hdcp)))
                .body(Body::from(spc()))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "7322");
    assert_eq!(calls(&m, "raw"), 1);
    // A malformed SPC never leaves keyward.
    licence(&app, b"spc=".to_vec())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7305");
    assert_eq!(calls(&m, "raw"), 1);
}

#[tokio::test]
async fn admin_api_validates_lists_without_secrets_and_removes() {
    let app = common::app().await;
    let base = format!("/v1/admin/sites/{HTTP_SITE}/upstreams");
    let ok = json!({"name": "ksm-a", "drm": "FairPlay", "kind": "fairplay-ksm",
        "url": "https://ksm.example.com/fps", "settings": {"envelope": "form", "timeout_ms": 2000},
        "secrets": {"Authorization": "Bearer very-secret-value"}});
    let a = admin(&app, "POST", &base, Some(ok.clone())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let j = a.json();
    assert_eq!(j["name"], "ksm-a");
    assert_eq!(j["secret_names"], json!(["Authorization"]));
    for a in [
        a,
        admin(&app, "GET", &base, None).await,
        admin(&app, "GET", &format!("{base}/ksm-a"), None).await,
    ] {
        assert!(!a.text().contains("very-secret-value"), "{}", a.text());
    }
    admin(&app, "POST", &base, Some(ok.clone()))
        .await
        .assert_problem(StatusCode::CONFLICT, "upstream_exists");
    for (field, value, word) in [
        ("kind", json!("no-such-kind"), "unknown upstream kind"),
        ("kind", json!("widevine-cloud"), "serves Widevine"),
        ("drm", json!("Widevine"), "serves FairPlay"),
        ("settings", json!({"envelope": "soap"}), "settings"),
        ("settings", json!({"timeout_ms": 0}), "timeout_ms"),
        ("settings", json!({"cert_hashes": ["xyz"]}), "cert_hashes"),
        ("settings", json!({"nope": 1}), "settings"),
        ("url", json!("ftp://x"), "url"),
        ("secrets", json!({"bad header": "v"}), "header names"),
    ] {
        let mut b = ok.clone();
        b[field] = value;
        b["name"] = json!("other");
        let a = admin(&app, "POST", &base, Some(b)).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
        assert!(a.text().contains(word), "{field}: {}", a.text());
    }
    assert_eq!(
        admin(&app, "GET", &base, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let a = admin(&app, "DELETE", &format!("{base}/ksm-a"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    admin(&app, "DELETE", &format!("{base}/ksm-a"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "upstream_not_found");
    // Without upstreams (and credentials) the site answers 7301 again.
    licence(&app, spc())
        .await
        .assert_problem(StatusCode::NOT_IMPLEMENTED, "7301");
}
