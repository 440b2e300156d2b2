//! The edge of the application: CORS, request ids, header limits, meta
//! endpoints, unknown routes and methods, and demo mode.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use keyward_server::AppState;
use keyward_store::Store;
use keyward_token::Timestamp;

#[tokio::test]
async fn cors_preflight_on_licence_paths() {
    let app = app().await;
    for path in [
        "/ri/clearkey/licenseManager.do",
        "/ri/licenseManager.do",
        "/ri/playready/licenseManager.do",
        "/v1/license/clearkey",
        "/v1/hls-key/TEST/movie-1",
    ] {
        let a = app
            .send(
                Request::builder()
                    .method(Method::OPTIONS)
                    .uri(path)
                    .header("origin", "https://player.example")
                    .header("access-control-request-method", "POST")
                    .header(
                        "access-control-request-headers",
                        "pallycon-customdata-v2,content-type",
                    )
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(a.status.is_success(), "{path}: {}", a.status);
        assert_eq!(
            a.header("access-control-allow-origin"),
            Some("https://player.example"),
            "{path}"
        );
        let allowed = a
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("pallycon-customdata-v2"), "{allowed}");
        assert!(allowed.contains("authorization"), "{allowed}");
        let methods = a.header("access-control-allow-methods").unwrap();
        assert!(methods.contains("POST"), "{methods}");
        assert!(a.header("x-request-id").is_some());
    }
    // A real cross-origin answer exposes the request id and error headers.
    let a = app
        .send(
            Request::post("/v1/license/clearkey")
                .header("origin", "https://player.example")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "7010");
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://player.example")
    );
    let exposed = a
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(exposed.contains("x-keyward-error-code"), "{exposed}");
}

#[tokio::test]
async fn admin_paths_have_no_cors() {
    let app = app().await;
    let a = app
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/v1/admin/sites")
                .header("origin", "https://player.example")
                .header("access-control-request-method", "GET")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.header("access-control-allow-origin"), None);
    let a = app
        .send(
            Request::get("/v1/admin/sites")
                .header("origin", "https://player.example")
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn request_ids_generated_or_propagated() {
    let app = app().await;
    let a = app.get("/healthz", None).await;
    let rid = a.header("x-request-id").unwrap();
    assert_eq!(rid.len(), 36, "uuid: {rid}");
    let b = app.get("/healthz", None).await;
    assert_ne!(b.header("x-request-id"), Some(rid), "unique per request");
    // keyward's own ids are UUIDv7 (version 7, RFC 9562 variant): their text
    // sorts by time, so the audit trail's request-id index grows at its end.
    let id = uuid::Uuid::parse_str(rid).expect("a UUID");
    assert_eq!(id.get_version_num(), 7, "{rid}");
    assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{rid}");
    let mut ids = vec![rid.to_owned(), b.header("x-request-id").unwrap().to_owned()];
    for _ in 0..50 {
        let c = app.get("/healthz", None).await;
        ids.push(c.header("x-request-id").unwrap().to_owned());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids made later sort later");

    let a = app
        .send(
            Request::post("/v1/license/clearkey")
                .header("x-request-id", "client-id-42")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(a.header("x-request-id"), Some("client-id-42"));
    assert_eq!(a.json()["request_id"], "client-id-42");
    // Over-long or unprintable ids are replaced.
    let long = "x".repeat(300);
    let a = app
        .send(
            Request::get("/v1/time")
                .header("x-request-id", &long)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.header("x-request-id").unwrap().len(), 36);
    let a = app
        .send(
            Request::get("/nope")
                .header(
                    "x-request-id",
                    axum::http::HeaderValue::from_bytes(b"id \xff").unwrap(),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let rid = a.header("x-request-id").unwrap().to_owned();
    assert_eq!(rid.len(), 36);
    assert_eq!(a.json()["request_id"], rid.as_str());
    // Every kind of answer carries one.
    for a in [
        app.get("/readyz", None).await,
        app.get("/ri/fpsCert.do", None).await,
        app.get("/v1/hls-key/TEST/movie-1", None).await,
        app.get("/v1/admin/sites", None).await,
    ] {
        assert!(a.header("x-request-id").is_some());
    }
}

#[tokio::test]
async fn headers_over_the_limit_are_7508() {
    let app = app().await;
    let big = "a".repeat(20 * 1024);
    let a = app
        .send(
            Request::post("/v1/license/clearkey")
                .header("x-padding", &big)
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "7508");
    let a = app
        .send(
            Request::post("/ri/clearkey/licenseManager.do")
                .header("pallycon-customdata-v2", &big)
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "7508");
    // Written outside the CORS layer, the refusal still carries CORS headers so a
    // browser player can read its code.
    let a = app
        .send(
            Request::post("/ri/clearkey/licenseManager.do")
                .header("origin", "https://player.example")
                .header("x-padding", &big)
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://player.example")
    );
    assert!(a
        .header("access-control-expose-headers")
        .unwrap()
        .contains("x-keyward-error-code"));
    // Many small headers add up too.
    let mut b = Request::get("/v1/hls-key/TEST/movie-1");
    for i in 0..400 {
        b = b.header(
            format!("x-h{i}"),
            "0123456789012345678901234567890123456789",
        );
    }
    app.send(b.body(Body::empty()).unwrap())
        .await
        .assert_problem(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "7508");
}

#[tokio::test]
async fn meta_endpoints() {
    let app = app().await;
    let a = app.get("/healthz", None).await;
    assert_eq!((a.status, a.text().as_str()), (StatusCode::OK, "ok"));
    let a = app.get("/readyz", None).await;
    assert_eq!((a.status, a.text().as_str()), (StatusCode::OK, "ready"));
    let before = Timestamp::now().unix();
    let a = app.get("/v1/time", None).await;
    let after = Timestamp::now().unix();
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type(), "application/json");
    let j = a.json();
    let now = j["now"].as_str().unwrap();
    let epoch = j["epoch"].as_i64().unwrap();
    assert!(before <= epoch && epoch <= after);
    assert_eq!(now.len(), 20, "{now}");
    assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    assert_eq!(Timestamp::parse(now).unwrap().unix(), epoch);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_coded() {
    let app = app().await;
    for path in [
        "/",
        "/nope",
        "/v1/licence/clearkey",
        "/ri/unknown.do",
        "/demo/token",
    ] {
        app.get(path, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A known path with a method it does not serve.
    for (method, path) in [
        (Method::GET, "/v1/license/clearkey"),
        (Method::PUT, "/ri/licenseManager.do"),
        (Method::DELETE, "/v1/hls-key/TEST/movie-1"),
        (Method::POST, "/healthz"),
    ] {
        let a = app
            .send(
                Request::builder()
                    .method(method.clone())
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        a.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
}

#[tokio::test]
async fn undecodable_path_segments_are_coded() {
    let app = app().await;
    let tok = ck_token(CID);
    for path in [
        "/v1/hls-key/%FF%FE/movie-1",
        "/v1/hls-key/TEST/%C3%28",
        "/v1/hls-key/TEST/movie-1/%FF",
    ] {
        let a = app.get(path, Some(&tok)).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "9001");
    }
    let a = app.post("/v1/license/%FF", Some(&tok), "{}").await;
    a.assert_problem(StatusCode::BAD_REQUEST, "9001");
}

#[tokio::test]
async fn demo_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_server::open_store(dir.path(), Some(KEK_HEX))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let minter = keyward_server::prepare_demo(store.as_ref()).await.unwrap();
    // Preparing twice is fine (restart).
    let _again = keyward_server::prepare_demo(store.as_ref()).await.unwrap();
    let cfg = config(dir.path());
    let router = keyward_server::router(AppState::new(store.clone(), cfg, Some(minter)));
    let app = TestApp {
        router,
        store: Arc::new(
            keyward_server::open_store(dir.path(), Some(KEK_HEX))
                .await
                .unwrap(),
        ),
        creds: creds_of(SITE),
        dir,
    };

    let a = app.get("/demo/", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type().starts_with("text/html"));
    assert!(a.text().to_ascii_lowercase().contains("<html"));
    let a = app.get("/demo", None).await;
    assert!(a.status.is_redirection());
    assert_eq!(a.header("location"), Some("/demo/"));
    let a = app.get("/demo/media/clip.json", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let clip: serde_json::Value = a.json();

    let a = app.get("/demo/token", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type(), "application/json");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let j = a.json();
    assert_eq!(j["site_id"], "DEMO");
    assert_eq!(j["cid"], "keyward-demo");
    assert_eq!(j["drm_type"], "ClearKey");
    assert!(j["notice"].as_str().unwrap().contains("Demo mode only"));
    let tok = j["token"].as_str().unwrap();

    let kid: [u8; 16] = hex::decode(clip["kid"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key: [u8; 16] = hex::decode(clip["key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let a = app
        .post(
            "/ri/clearkey/licenseManager.do",
            Some(tok),
            ck_request(&[kid], "temporary"),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.text(), jwk_set(&[(kid, key)], "temporary"));

    let a = app.get("/demo/no-such-file.js", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_demo_without_demo_mode() {
    let app = app().await;
    for path in ["/demo/token", "/demo/", "/demo"] {
        app.get(path, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
}

/// One credential per request: a repeated credential header, or a header and
/// a query parameter that differ, is refused (7511) instead of the first one
/// winning; the same token in both places is one credential.
#[tokio::test]
async fn ambiguous_credentials_are_refused() {
    let app = app().await;
    let tok = ck_token(CID);
    let other = ck_token(CID_MULTI);
    let body = || Body::from(ck_request(&[KID_ALL], "temporary"));
    let a = app
        .send(
            Request::post("/ri/clearkey/licenseManager.do")
                .header("pallycon-customdata-v2", &tok)
                .header("pallycon-customdata-v2", &tok)
                .body(body())
                .unwrap(),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "7511");
    let a = app
        .send(
            Request::post(format!(
                "/ri/clearkey/licenseManager.do?pallycon-customdata-v2={}",
                q(&other)
            ))
            .header("pallycon-customdata-v2", &tok)
            .body(body())
            .unwrap(),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "7511");
    assert!(!a.text().contains(&tok[..20]), "{}", a.text());
    let a = app
        .send(
            Request::post("/v1/license/clearkey")
                .header("pallycon-customdata-v2", &tok)
                .header("authorization", format!("Bearer {other}"))
                .body(body())
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "7511");
    // The same token in the header and the query: one credential.
    let a = app
        .send(
            Request::post(format!(
                "/ri/clearkey/licenseManager.do?pallycon-customdata-v2={}",
                q(&tok)
            ))
            .header("pallycon-customdata-v2", &tok)
            .body(body())
            .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
}

/// ExpressPlay's token API is server to server: no CORS answers there (the
/// rights paths, which players call, keep theirs).
#[tokio::test]
async fn no_cors_on_the_expressplay_token_api() {
    let app = app().await;
    for path in ["/hms/ck/token", "/hms/wv/token"] {
        let a = app
            .send(
                Request::options(path)
                    .header("origin", "https://evil.example")
                    .header("access-control-request-method", "POST")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(a.header("access-control-allow-origin"), None, "{path}");
        assert_eq!(a.header("access-control-allow-methods"), None, "{path}");
        let a = app
            .send(
                Request::get(format!("{path}?customerAuthenticator=x"))
                    .header("origin", "https://evil.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.header("access-control-allow-origin"), None, "{path}");
    }
}
