//! The admin API: authentication, sites, keys, export rules, and that every
//! refused call leaves the store as it was.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use common::*;
use keyward_token::{DrmType, SiteCredentials, Timestamp};

fn admin(method: Method, uri: &str, body: Option<&str>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap()
}

/// Every text form a 32-byte secret or 16-byte key could leak in.
fn spellings(secret: &[u8]) -> Vec<String> {
    let mut v = vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        b64(secret),
        b64url(secret),
    ];
    if let Ok(s) = std::str::from_utf8(secret) {
        v.push(s.to_owned());
    }
    v
}

fn assert_no_secret(body: &str, secret: &[u8]) {
    for s in spellings(secret) {
        assert!(!body.contains(&s), "secret material {s} in {body}");
    }
}

#[tokio::test]
async fn admin_disabled_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.admin_token = None;
    let app = app_with(dir, cfg).await;
    let before = app.counts().await;
    for (m, uri, body) in [
        (Method::GET, "/v1/admin/sites", None),
        (
            Method::POST,
            "/v1/admin/sites",
            Some(r#"{"site_id":"ABCD"}"#),
        ),
        (Method::GET, "/v1/admin/sites/TEST", None),
        (Method::DELETE, "/v1/admin/sites/TEST", None),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys",
            Some(r#"{"cid":"x"}"#),
        ),
        (Method::GET, "/v1/admin/audit", None),
    ] {
        app.send(admin(m, uri, body))
            .await
            .assert_problem(StatusCode::NOT_FOUND, "admin_disabled");
    }
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn missing_or_wrong_bearer_is_401() {
    let app = app().await;
    let before = app.counts().await;
    let auths: [Option<String>; 6] = [
        None,
        Some(String::new()),
        Some("Bearer ".into()),
        Some("Bearer wrong-token-0123456789abc".into()),
        Some(format!("Bearer {ADMIN_TOKEN}x")),
        Some(format!("Basic {ADMIN_TOKEN}")),
    ];
    for auth in auths {
        for (m, uri, body) in [
            (Method::GET, "/v1/admin/sites", ""),
            (Method::POST, "/v1/admin/sites", r#"{"site_id":"ABCD"}"#),
            (Method::PUT, "/v1/admin/sites/TEST", r#"{"disabled":true}"#),
            (Method::DELETE, "/v1/admin/sites/TEST", ""),
            (Method::POST, "/v1/admin/sites/TEST/keys", r#"{"cid":"x"}"#),
            (
                Method::DELETE,
                "/v1/admin/sites/TEST/keys/11111111111111111111111111111111",
                "",
            ),
            (
                Method::GET,
                "/v1/admin/sites/TEST/keys/11111111111111111111111111111111?export=true",
                "",
            ),
        ] {
            let mut b = Request::builder().method(m).uri(uri);
            if let Some(a) = &auth {
                b = b.header("authorization", a);
            }
            let a = app.send(b.body(Body::from(body)).unwrap()).await;
            a.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
            assert_no_secret(&a.text(), &KEY_ALL);
        }
    }
    // A non-UTF-8 authorization header is just wrong, not a 500.
    let a = app
        .send(
            Request::get("/v1/admin/sites")
                .header(
                    "authorization",
                    axum::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.counts().await, before);
    // The site still works (not disabled or deleted).
    let a = app
        .post(
            "/v1/license/clearkey",
            Some(&ck_token(CID)),
            ck_request(&[KID_ALL], "temporary"),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
}

fn secret_bytes(v: &serde_json::Value) -> Vec<u8> {
    let s = v.as_str().unwrap();
    if s.len() == 32 {
        s.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }
}

#[tokio::test]
async fn site_and_key_lifecycle() {
    let app = app().await;
    let (sites0, keys0) = app.counts().await;

    // Create with generated secrets: returned once, and they work.
    let a = app
        .send(admin(
            Method::POST,
            "/v1/admin/sites",
            Some(r#"{"site_id":"NEWS"}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.content_type(), "application/json");
    let j = a.json();
    assert_eq!(j["site_id"], "NEWS");
    let site_key = secret_bytes(&j["site_key"]);
    let access_key = secret_bytes(&j["access_key"]);
    assert_eq!((site_key.len(), access_key.len()), (32, 32));
    assert_ne!(site_key, access_key);
    assert_eq!(app.counts().await, (sites0 + 1, keys0));

    // Create with given secrets.
    let a = app
        .send(admin(
            Method::POST,
            "/v1/admin/sites",
            Some(r#"{"site_id":"GIVN","site_key":"abcdefghijklmnopqrstuvwxyz012345","access_key":"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345","settings":{"token_window_secs":300}}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.json()["site_key"], "abcdefghijklmnopqrstuvwxyz012345");
    assert_eq!(a.json()["token_window_secs"], 300);

    // Listing and reading never show secrets.
    for uri in [
        "/v1/admin/sites",
        "/v1/admin/sites/NEWS",
        "/v1/admin/sites/TEST",
    ] {
        let a = app.send(admin(Method::GET, uri, None)).await;
        assert_eq!(a.status, StatusCode::OK);
        let body = a.text();
        for secret in [
            &site_key[..],
            &access_key[..],
            SITE_KEY,
            ACCESS_KEY,
            b"abcdefghijklmnopqrstuvwxyz012345",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
        ] {
            assert_no_secret(&body, secret);
        }
        assert!(
            !body.contains("site_key") && !body.contains("access_key"),
            "{body}"
        );
    }
    let list = app
        .send(admin(Method::GET, "/v1/admin/sites", None))
        .await
        .json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"NEWS") && ids.contains(&"TEST"), "{ids:?}");

    // Import a key; the answer has no key material.
    let kid = "0123456789abcdef0123456789abcdef";
    let key = "fedcba9876543210fedcba9876543210";
    let a = app
        .send(admin(
            Method::POST,
            "/v1/admin/sites/NEWS/keys",
            Some(&format!(
                r#"{{"cid":"film","kid":"{kid}","key":"{key}","label":"main"}}"#
            )),
        ))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.json()["kid"], kid);
    assert_eq!(a.json()["cid"], "film");
    assert!(a.json().get("key").is_none());
    assert_no_secret(&a.text(), &hex::decode(key).unwrap());
    // Generate one (export asked: the key is in the answer).
    let a = app
        .send(admin(
            Method::POST,
            "/v1/admin/sites/NEWS/keys?export=true",
            Some(r#"{"cid":"film","track_type":"AUDIO"}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let gen_kid = a.json()["kid"].as_str().unwrap().to_owned();
    let gen_key = hex::decode(a.json()["key"].as_str().unwrap()).unwrap();
    assert_eq!(gen_key.len(), 16);
    assert_eq!(a.json()["track_type"], "AUDIO");
    // Generate without export: no material.
    let a = app
        .send(admin(
            Method::POST,
            "/v1/admin/sites/NEWS/keys",
            Some(r#"{"cid":"film-2"}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert!(a.json().get("key").is_none());
    assert_eq!(app.counts().await, (sites0 + 2, keys0 + 3));

    // List keys: metadata only.
    let a = app
        .send(admin(Method::GET, "/v1/admin/sites/NEWS/keys", None))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json().as_array().unwrap().len(), 3);
    assert_no_secret(&a.text(), &hex::decode(key).unwrap());
    assert_no_secret(&a.text(), &gen_key);
    assert!(!a.text().contains("\"key\""));
    let a = app
        .send(admin(
            Method::GET,
            "/v1/admin/sites/NEWS/keys?cid=film",
            None,
        ))
        .await;
    assert_eq!(a.json().as_array().unwrap().len(), 2);
    // Get: material only with export=true.
    let a = app
        .send(admin(
            Method::GET,
            &format!("/v1/admin/sites/NEWS/keys/{kid}"),
            None,
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.json().get("key").is_none());
    assert_no_secret(&a.text(), &hex::decode(key).unwrap());
    let a = app
        .send(admin(
            Method::GET,
            &format!("/v1/admin/sites/NEWS/keys/{kid}?export=true"),
            None,
        ))
        .await;
    assert_eq!(a.json()["key"], key);

    // The generated secrets and the imported key serve a licence at once.
    let creds = SiteCredentials::new("NEWS", &site_key, &access_key).unwrap();
    let tok = token_for(
        &creds,
        DrmType::ClearKey,
        "film",
        &streaming(),
        Timestamp::now(),
    );
    let kid_b: [u8; 16] = hex::decode(kid).unwrap().try_into().unwrap();
    let key_b: [u8; 16] = hex::decode(key).unwrap().try_into().unwrap();
    let a = app
        .post(
            "/v1/license/clearkey",
            Some(&tok),
            ck_request(&[kid_b], "temporary"),
        )
        .await;
    assert_eq!(a.text(), jwk_set(&[(kid_b, key_b)], "temporary"));

    // Delete the key: the licence is refused at once (no stale cache).
    let a = app
        .send(admin(
            Method::DELETE,
            &format!("/v1/admin/sites/NEWS/keys/{kid}"),
            None,
        ))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    app.post(
        "/v1/license/clearkey",
        Some(&tok),
        ck_request(&[kid_b], "temporary"),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "7001");
    let _ = gen_kid;

    // Update settings: disabling applies at once.
    let a = app
        .send(admin(
            Method::PUT,
            "/v1/admin/sites/NEWS",
            Some(r#"{"disabled":true}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["disabled"], true);
    app.post(
        "/v1/license/clearkey",
        Some(&tok),
        ck_request(&[kid_b], "temporary"),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "1004");

    // Delete the site.
    let a = app
        .send(admin(Method::DELETE, "/v1/admin/sites/NEWS", None))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    app.post(
        "/v1/license/clearkey",
        Some(&tok),
        ck_request(&[kid_b], "temporary"),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "1003");
    let (sites, _) = app.counts().await;
    assert_eq!(sites, sites0 + 1);

    // Audit answers a page: {"records": [...], "next": cursor or null}
    // (tests/audit.rs has the search itself).
    let a = app
        .send(admin(Method::GET, "/v1/admin/audit?limit=5", None))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.json()["records"].is_array(), "{}", a.text());
    assert!(a.json().get("next").is_some(), "{}", a.text());
}

#[tokio::test]
async fn refused_admin_calls_change_nothing() {
    let app = app().await;
    let kid = hex::encode(KID_ALL);
    let cases: Vec<(Method, String, Option<String>, StatusCode, &str)> = vec![
        // Duplicate site.
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some(r#"{"site_id":"TEST"}"#.into()),
            StatusCode::CONFLICT,
            "site_exists",
        ),
        // Bad site ids.
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some(r#"{"site_id":"test"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_site_id",
        ),
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some(r#"{"site_id":"TOOLONG"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_site_id",
        ),
        (
            Method::GET,
            "/v1/admin/sites/ab1".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_site_id",
        ),
        (
            Method::DELETE,
            "/v1/admin/sites/t3st".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_site_id",
        ),
        // Bad bodies.
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some("not json".into()),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some(r#"{"site_id":"ABCD","extra":1}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some(r#"{"site_id":"ABCD","site_key":"short"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_secret_length",
        ),
        (
            Method::POST,
            "/v1/admin/sites".into(),
            Some(r#"{"site_id":"ABCD","settings":{"token_window_secs":0}}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_setting",
        ),
        (
            Method::PUT,
            "/v1/admin/sites/TEST".into(),
            Some(r#"{"callback_url":"ftp://x"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_setting",
        ),
        (
            Method::PUT,
            "/v1/admin/sites/NONE".into(),
            Some(r#"{"disabled":true}"#.into()),
            StatusCode::NOT_FOUND,
            "1003",
        ),
        // Unknown site or key.
        (
            Method::GET,
            "/v1/admin/sites/NONE".into(),
            None,
            StatusCode::NOT_FOUND,
            "1003",
        ),
        (
            Method::DELETE,
            "/v1/admin/sites/NONE".into(),
            None,
            StatusCode::NOT_FOUND,
            "1003",
        ),
        (
            Method::POST,
            "/v1/admin/sites/NONE/keys".into(),
            Some(r#"{"cid":"x"}"#.into()),
            StatusCode::NOT_FOUND,
            "1003",
        ),
        (
            Method::GET,
            "/v1/admin/sites/TEST/keys/99999999999999999999999999999999".into(),
            None,
            StatusCode::NOT_FOUND,
            "7001",
        ),
        (
            Method::DELETE,
            "/v1/admin/sites/TEST/keys/99999999999999999999999999999999".into(),
            None,
            StatusCode::NOT_FOUND,
            "7001",
        ),
        // Key conflicts and bad key input.
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys".into(),
            Some(format!(
                r#"{{"cid":"{CID}","kid":"{kid}","key":"00000000000000000000000000000000"}}"#
            )),
            StatusCode::CONFLICT,
            "key_conflict",
        ),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys".into(),
            Some(r#"{"cid":"x","kid":"zz","key":"00000000000000000000000000000000"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys".into(),
            Some(r#"{"cid":"x","kid":"00000000000000000000000000000001"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys".into(),
            Some(r#"{"cid":"x","kid":"00000000000000000000000000000001","key":"0011"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys".into(),
            Some(r#"{"cid":"","track_type":"ALL"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_cid",
        ),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys".into(),
            Some(r#"{"cid":"x","track_type":"8K"}"#.into()),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            Method::GET,
            "/v1/admin/sites/TEST/keys/not-hex?export=true".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_key_length",
        ),
        // Undecodable path segments.
        (
            Method::GET,
            "/v1/admin/sites/%FF%FE".into(),
            None,
            StatusCode::BAD_REQUEST,
            "9001",
        ),
        (
            Method::DELETE,
            "/v1/admin/sites/TEST/keys/%FF".into(),
            None,
            StatusCode::BAD_REQUEST,
            "9001",
        ),
        // Wrong method.
        (
            Method::PATCH,
            "/v1/admin/sites/TEST".into(),
            Some("{}".into()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    let before = app.counts().await;
    let site_before = app
        .send(admin(Method::GET, "/v1/admin/sites/TEST", None))
        .await
        .text();
    for (m, uri, body, status, code) in cases {
        let a = app.send(admin(m.clone(), &uri, body.as_deref())).await;
        assert_eq!(a.status, status, "{m} {uri}: {}", a.text());
        a.assert_problem(status, code);
        assert_eq!(app.counts().await, before, "{m} {uri} changed the store");
        assert_no_secret(&a.text(), &KEY_ALL);
    }
    let site_after = app
        .send(admin(Method::GET, "/v1/admin/sites/TEST", None))
        .await
        .text();
    assert_eq!(site_before, site_after);
    // Oversized admin body.
    let big = format!(
        r#"{{"site_id":"ABCD","x":"{}"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let a = app
        .send(admin(Method::POST, "/v1/admin/sites", Some(&big)))
        .await;
    a.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "7505");
    assert_eq!(app.counts().await, before);
}

/// `PUT` changes only the settings the body names: an empty body, an array,
/// a string or `null` is refused with a coded 400 and changes nothing, and
/// `{}` or a one-field object never clears the others (docs: OpenAPI `put`).
#[tokio::test]
async fn put_changes_only_the_settings_it_names() {
    let app = app().await;
    let get = || async {
        app.send(admin(Method::GET, "/v1/admin/sites/TEST", None))
            .await
            .json()
    };
    let a = app
        .send(admin(
            Method::PUT,
            "/v1/admin/sites/TEST",
            Some(r#"{"cors_origins":["https://a.example"],"token_window_secs":300,"callback":{"timeout_ms":1500}}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let set = get().await;
    assert_eq!(
        set["cors_origins"],
        serde_json::json!(["https://a.example"])
    );
    assert_eq!(set["token_window_secs"], 300);
    assert_eq!(set["callback"]["timeout_ms"], 1500);
    // Nested objects merge field by field.
    assert_eq!(set["callback"]["max_concurrent"], 16);
    for body in ["", "[]", "\"x\"", "null", "1", "[{}]"] {
        let a = app
            .send(admin(Method::PUT, "/v1/admin/sites/TEST", Some(body)))
            .await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_body");
        assert_eq!(get().await, set, "body {body:?} changed the site");
    }
    let a = app
        .send(admin(Method::PUT, "/v1/admin/sites/TEST", Some("{}")))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(get().await, set, "{{}} changed the site");
    let a = app
        .send(admin(
            Method::PUT,
            "/v1/admin/sites/TEST",
            Some(r#"{"disabled":true}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let after = get().await;
    assert_eq!(after["disabled"], true);
    assert_eq!(after["cors_origins"], set["cors_origins"]);
    assert_eq!(after["token_window_secs"], 300);
    // null resets an optional field.
    let a = app
        .send(admin(
            Method::PUT,
            "/v1/admin/sites/TEST",
            Some(r#"{"callback_url":"https://cb.example/x"}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = app
        .send(admin(
            Method::PUT,
            "/v1/admin/sites/TEST",
            Some(r#"{"callback_url":null}"#),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(get().await["callback_url"], serde_json::Value::Null);
}

/// A secret pasted into the wrong JSON slot (unknown field name, wrong-typed
/// value, enum value) is never reflected in the refusal.
#[tokio::test]
async fn refusals_never_reflect_pasted_secrets() {
    let app = app().await;
    let secret = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
    for (m, uri, body) in [
        (
            Method::POST,
            "/v1/admin/sites",
            format!(r#"{{"site_id":"ABCD","{secret}":1}}"#),
        ),
        (
            Method::POST,
            "/v1/admin/sites",
            format!(r#"{{"site_id":"ABCD","settings":{{"token_window_secs":"{secret}"}}}}"#),
        ),
        (
            Method::POST,
            "/v1/admin/sites",
            format!(r#"{{"site_id":"ABCD","settings":{{"error_style":"{secret}"}}}}"#),
        ),
        (
            Method::PUT,
            "/v1/admin/sites/TEST",
            format!(r#"{{"{secret}":true}}"#),
        ),
        (
            Method::PUT,
            "/v1/admin/sites/TEST",
            format!(r#"{{"allowed_drms":["{secret}"]}}"#),
        ),
        (
            Method::POST,
            "/v1/admin/sites/TEST/keys",
            format!(r#"{{"cid":"x","track_type":"{secret}"}}"#),
        ),
    ] {
        let a = app.send(admin(m.clone(), uri, Some(&body))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{m} {uri}: {}", a.text());
        assert!(
            !a.text().contains(secret) && !a.text().contains(&secret[..12]),
            "{m} {uri} reflected the secret: {}",
            a.text()
        );
    }
}

/// Every admin route answers a method it does not serve with the coded 405
/// (found by the admin-body fuzz target on the customer routes).
#[tokio::test]
async fn wrong_methods_on_admin_routes_are_coded() {
    let app = app().await;
    for (m, uri) in [
        (Method::PATCH, "/v1/admin/customers"),
        (Method::PATCH, "/v1/admin/customers/acme"),
        (Method::GET, "/v1/admin/customers/acme/rotate"),
        (Method::PATCH, "/v1/admin/clients/acme"),
        (Method::PATCH, "/v1/admin/sites/TEST/keys"),
    ] {
        let a = app.send(admin(m.clone(), uri, None)).await;
        a.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
}
