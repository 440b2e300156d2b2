//! The audit search, `GET /v1/admin/audit`: licence rows found by site,
//! user, content id, code, kind and time; pages that show every record once;
//! parameters checked (400 `invalid_input` naming the parameter, without
//! echoing its value); the admin token required.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use keyward_store::{AuditEvent, AuditStore as _, SiteId};
use serde_json::{json, Value};

async fn get(app: &TestApp, uri: &str) -> Answer {
    app.send(
        Request::get(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// One page: (records, next).
async fn page(app: &TestApp, uri: &str) -> (Vec<Value>, Option<i64>) {
    let a = get(app, uri).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    assert_eq!(a.content_type(), "application/json");
    let j = a.json();
    let keys: BTreeSet<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["next", "records"]), "{j}");
    (j["records"].as_array().unwrap().clone(), j["next"].as_i64())
}

async fn studio_client(app: &TestApp) -> String {
    let a = app
        .send(
            Request::post("/v1/admin/clients")
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"name": "acme", "site_id": SITE, "settings": {}}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    a.json()["api_key"].as_str().unwrap().to_owned()
}

async fn studio_token(app: &TestApp, key: &str, cid: &str) -> String {
    let m = app
        .send(
            Request::post("/v2/token")
                .header("x-api-key", key)
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"clientName": "acme", "policy": {"content_id": cid}}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text());
    m.text()
}

async fn studio_licence(app: &TestApp, tok: &str, rid: &str) -> Answer {
    app.send(
        Request::post("/v1/license/clearkey")
            .header("x-vudrm-token", tok)
            .header("x-request-id", rid)
            .body(Body::from(ck_request(&[KID_ALL], "temporary")))
            .unwrap(),
    )
    .await
}

/// Waits until the audit writer has stored `n` events of the site.
async fn wait_for(app: &TestApp, site: &str, n: usize) {
    let site = SiteId::parse(site).unwrap();
    let t0 = std::time::Instant::now();
    while app.store.recent(Some(&site), 1000).await.unwrap().len() < n {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn licence_rows_are_found_by_site_user_cid_code_kind_and_time() {
    let app = app().await;
    let key = studio_client(&app).await;
    let tok = studio_token(&app, &key, CID).await;
    assert_eq!(
        studio_licence(&app, &tok, "aud-1").await.status,
        StatusCode::OK
    );
    // Single use: the second licence is refused, with a code.
    let again = studio_licence(&app, &tok, "aud-2").await;
    assert_ne!(again.status, StatusCode::OK);
    let code = again.json()["code"].as_str().unwrap().to_owned();
    wait_for(&app, SITE, 2).await;

    let (rows, next) = page(&app, "/v1/admin/audit?site=TEST&user=acme").await;
    assert_eq!(next, None);
    assert_eq!(rows.len(), 2, "{rows:?}");
    // Newest first: the refusal, then the grant.
    assert_eq!(rows[0]["result"], code.as_str());
    assert_eq!(rows[0]["request_id"], "aud-2");
    assert_eq!(rows[1]["result"], "ok");
    assert_eq!(rows[1]["request_id"], "aud-1");
    for r in &rows {
        assert_eq!(r["user"], "acme");
        assert_eq!(r["kind"], "license");
        assert_eq!(r["cid"], CID);
        assert_eq!(r["site_id"], SITE);
        assert_eq!(r["drm"], "ClearKey");
        assert_eq!(r["detail"]["client"], "acme");
        assert!(r["at_unix_ms"].as_i64().unwrap() > 1_600_000_000_000);
    }
    let one = |uri: &'static str| {
        let app = &app;
        async move { page(app, uri).await.0.len() }
    };
    assert_eq!(one("/v1/admin/audit?code=ok").await, 1);
    let refused = format!("/v1/admin/audit?site=TEST&code={code}");
    assert_eq!(page(&app, &refused).await.0[0]["request_id"], "aud-2");
    assert_eq!(one("/v1/admin/audit?cid=movie-1&kind=license").await, 2);
    assert_eq!(one("/v1/admin/audit?cid=other").await, 0);
    assert_eq!(one("/v1/admin/audit?user=nobody").await, 0);
    assert_eq!(one("/v1/admin/audit?user=ACME").await, 0);
    assert_eq!(one("/v1/admin/audit?site=ABCD&user=acme").await, 0);
    assert_eq!(one("/v1/admin/audit?kind=upstream").await, 0);
    // Empty values are as good as none.
    assert_eq!(one("/v1/admin/audit?site=&user=&code=&since=").await, 2);
    // Time bounds, RFC 3339 or unix seconds.
    assert_eq!(one("/v1/admin/audit?since=2100-01-01T00:00:00Z").await, 0);
    assert_eq!(one("/v1/admin/audit?since=0&until=4102444800").await, 2);
    assert_eq!(
        one("/v1/admin/audit?until=2020-01-01T09:00:00%2B09:00").await,
        0
    );
    let at = rows[1]["at_unix_ms"].as_i64().unwrap();
    let since = format!(
        "/v1/admin/audit?user=acme&since={}",
        keyward_store::audit::format_time_ms(at)
    );
    assert_eq!(page(&app, &since).await.0.len(), 2, "since is inclusive");
    let until = format!(
        "/v1/admin/audit?user=acme&until={}",
        keyward_store::audit::format_time_ms(at)
    );
    assert_eq!(page(&app, &until).await.0.len(), 0, "until is exclusive");
    // The short form of before: ?site=&limit= still answers.
    let (rows, next) = page(&app, "/v1/admin/audit?site=TEST&limit=1").await;
    assert_eq!((rows.len(), next), (1, rows[0]["id"].as_i64()));
}

#[tokio::test]
async fn pages_show_every_record_once_while_events_arrive() {
    let app = app().await;
    let site = SiteId::parse(SITE).unwrap();
    let t0 = 1_700_000_000_000;
    let mut written = Vec::new();
    for i in 0..25 {
        let mut e = AuditEvent::new("license", if i % 5 == 0 { "7011" } else { "ok" });
        e.at_unix_ms = t0 + i * 1000;
        e.site_id = Some(site.clone());
        e.user = Some(format!("user-{}", i % 3));
        e.cid = Some("movie-1".into());
        written.push(app.store.record(e).await.unwrap());
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/admin/audit?site=TEST&limit=10".to_owned();
    let mut sizes = Vec::new();
    loop {
        let (rows, next) = page(&app, &uri).await;
        sizes.push(rows.len());
        seen.extend(ids(&rows));
        // A newer event between pages does not shift the next page.
        let mut e = AuditEvent::new("license", "ok");
        e.at_unix_ms = t0 + 100_000 + i64::try_from(seen.len()).unwrap();
        e.site_id = Some(site.clone());
        app.store.record(e).await.unwrap();
        match next {
            Some(n) => {
                assert_eq!(Some(n), seen.last().copied());
                uri = format!("/v1/admin/audit?site=TEST&limit=10&before={n}");
            }
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    written.reverse();
    assert_eq!(seen, written);

    // The same with a filter: user-1's events, three at a time.
    let mut seen = Vec::new();
    let mut uri = "/v1/admin/audit?user=user-1&limit=3".to_owned();
    loop {
        let (rows, next) = page(&app, &uri).await;
        assert!(rows.iter().all(|r| r["user"] == "user-1"));
        seen.extend(ids(&rows));
        let Some(n) = next else { break };
        uri = format!("/v1/admin/audit?user=user-1&limit=3&before={n}");
    }
    let want: Vec<i64> = written
        .iter()
        .enumerate()
        .filter(|(i, _)| (24 - i) % 3 == 1)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_parameter() {
    let app = app().await;
    let long_user = "u".repeat(1025);
    let long_cid = "c".repeat(257);
    let cases: Vec<(String, &str)> = vec![
        ("limit=0".into(), "limit"),
        ("limit=1001".into(), "limit"),
        ("limit=ten".into(), "limit"),
        ("limit=-1".into(), "limit"),
        ("since=yesterday".into(), "since"),
        ("since=2024-13-01T00:00:00Z".into(), "since"),
        ("until=2024-05-01".into(), "until"),
        ("until=1e9".into(), "until"),
        ("since=1700000001&until=1700000000".into(), "until"),
        ("before=0".into(), "before"),
        ("before=abc".into(), "before"),
        ("before=999999".into(), "before"),
        (format!("user={long_user}"), "user"),
        (format!("cid={long_cid}"), "cid"),
        (format!("code={long_cid}"), "code"),
        (format!("kind={long_cid}"), "kind"),
        ("user=a&user=b".into(), "user"),
        ("usr=alice".into(), "usr"),
    ];
    for (query, name) in cases {
        let a = get(&app, &format!("/v1/admin/audit?{query}")).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
        let detail = a.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(name), "{query}: {detail}");
        assert!(detail.len() < 200, "{query}: {detail}");
    }
    // An unknown parameter's long or odd name is not echoed either.
    let odd = format!("/v1/admin/audit?{}=1", "x".repeat(300));
    let a = get(&app, &odd).await;
    a.assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    assert!(!a.text().contains("xxxxxxxxxx"), "{}", a.text());
    // A bad site id is the admin API's usual refusal.
    get(&app, "/v1/admin/audit?site=test")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_site_id");
}

#[tokio::test]
async fn the_search_needs_the_admin_token() {
    let app = app().await;
    for auth in [None, Some("Bearer wrong"), Some("Basic x")] {
        let mut b = Request::get("/v1/admin/audit?user=acme&limit=5");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        app.send(b.body(Body::empty()).unwrap())
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

/// A PallyCon ClearKey licence request naming content `movie-1`.
async fn licence(app: &TestApp, cid: &str, kids: [u8; 16]) -> Answer {
    app.post(
        "/ri/clearkey/licenseManager.do?cid=movie-1",
        Some(&ck_token(cid)),
        ck_request(&[kids], "temporary"),
    )
    .await
}

/// `audit_all_licences`: PallyCon-token licences (granted and refused by the
/// gatekeeper or back door) are audited too, findable by user and content id; off
/// by default.
#[tokio::test]
async fn every_licence_is_audited_when_the_operator_asks() {
    // Off (the default): no row for a PallyCon licence.
    let off = app().await;
    assert_eq!(licence(&off, CID, KID_ALL).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let site = SiteId::parse(SITE).unwrap();
    assert!(off.store.recent(Some(&site), 10).await.unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.audit_all_licences = true;
    let app = app_with(dir, cfg).await;
    assert_eq!(licence(&app, CID, KID_ALL).await.status, StatusCode::OK);
    // Refused at the gatekeeper: the request names another content id (7012).
    let refused = licence(&app, "other-content", KID_ALL).await;
    refused.assert_pallycon(StatusCode::OK, "7012");
    wait_for(&app, SITE, 2).await;
    let (records, _) = page(&app, &format!("/v1/admin/audit?site={SITE}&user=user-1")).await;
    let results: Vec<&str> = records
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["7012", "ok"], "newest first: {records:?}");
    assert!(records
        .iter()
        .all(|r| r["kind"] == "license" && r["detail"]["source"] == "pallycon"));
    assert!(records.iter().all(|r| r["drm"] == "ClearKey"));
    let (by_cid, _) = page(
        &app,
        &format!("/v1/admin/audit?site={SITE}&cid={CID}&code=ok"),
    )
    .await;
    assert_eq!(by_cid.len(), 1);
}
