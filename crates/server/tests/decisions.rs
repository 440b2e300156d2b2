//! The decision debugger: every licence decision is kept (bounded) with its outcome,
//! the stage that refused, time per stage and the credential's non-secret facts, and
//! is served on the admin API by request id.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, b64url, ck_request, ck_token, ADMIN_TOKEN, CID, KEY_ALL, KID_ALL};
use serde_json::Value;

async fn licence(app: &common::TestApp, rid: &str, token: Option<&str>) -> common::Answer {
    let mut b = Request::post("/ri/clearkey/licenseManager.do").header("x-request-id", rid);
    if let Some(t) = token {
        b = b.header("pallycon-customdata-v2", t);
    }
    app.send(
        b.body(Body::from(ck_request(&[KID_ALL], "temporary")))
            .unwrap(),
    )
    .await
}

async fn admin(app: &common::TestApp, uri: &str) -> common::Answer {
    app.send(
        Request::get(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn every_decision_is_explained_by_request_id() {
    let app = app().await;
    let token = ck_token(CID);
    assert_eq!(
        licence(&app, "req-granted", Some(&token)).await.status,
        StatusCode::OK
    );
    licence(&app, "req-no-token", None).await;
    let other_cid = ck_token("some-other-content");
    licence(&app, "req-no-key", Some(&other_cid)).await;

    let d = admin(&app, "/v1/admin/decisions/req-granted").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    let v = d.json();
    assert_eq!(v["outcome"], "granted");
    assert_eq!(v["code"], "ok");
    assert!(v.get("refused_at").is_none());
    assert_eq!(v["front_door"], "pallycon");
    assert_eq!(v["back_door"], "clearkey");
    assert_eq!(v["credential"]["site"], common::SITE);
    assert_eq!(v["credential"]["cid"], CID);
    assert_eq!(v["credential"]["drm"], "ClearKey");
    assert_eq!(v["credential"]["origin"], "pallycon");
    let stages: Vec<(&str, &str)> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("front_door", "passed"),
            ("gatekeeper", "passed"),
            ("back_door", "passed")
        ]
    );
    // Nothing secret: not the key, not the kid material, not the token.
    let text = d.text();
    assert!(!text.contains(&b64url(&KEY_ALL)) && !text.contains(&hex::encode(KEY_ALL)));
    assert!(!text.contains(&token[..40]));

    let v = admin(&app, "/v1/admin/decisions/req-no-token").await.json();
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["code"], "7010");
    assert_eq!(v["refused_at"], "front_door");
    assert_eq!(v["gatekeeper_checks"], serde_json::json!([]));
    assert!(
        v.get("credential").is_none(),
        "nothing from an unverified credential"
    );

    let v = admin(&app, "/v1/admin/decisions/req-no-key").await.json();
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["refused_at"], "back_door", "{v}");
    assert_eq!(v["credential"]["cid"], "some-other-content");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("some-other-content"));

    // Refused by a gatekeeper check: which one, after which passed.
    let r = app
        .send(
            Request::post(format!("/ri/clearkey/licenseManager.do?cid=not-{CID}"))
                .header("x-request-id", "req-wrong-cid")
                .header("pallycon-customdata-v2", &token)
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap(),
        )
        .await;
    r.assert_pallycon(StatusCode::OK, "7012");
    let v = admin(&app, "/v1/admin/decisions/req-wrong-cid")
        .await
        .json();
    assert_eq!(v["refused_at"], "gatekeeper");
    assert_eq!(
        v["gatekeeper_checks"],
        serde_json::json!([{"check": "endpoint", "result": "passed"}, {"check": "content_id", "result": "refused"}])
    );

    // Newest first; filtered; bounded parameters.
    let list = admin(&app, "/v1/admin/decisions?outcome=refused")
        .await
        .json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req-wrong-cid", "req-no-key", "req-no-token"]);
    let all: Value = admin(&app, "/v1/admin/decisions?limit=1").await.json();
    assert_eq!(all.as_array().unwrap().len(), 1);
    admin(&app, "/v1/admin/decisions?limit=0")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    admin(&app, "/v1/admin/decisions?outcome=maybe")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    admin(&app, "/v1/admin/decisions/not-a-request")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "decision_not_found");
    // Admin only.
    let anon = app.get("/v1/admin/decisions/req-granted", None).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_ring_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.decisions_ring = 0;
    let app = common::app_with(dir, cfg).await;
    licence(&app, "req-1", Some(&ck_token(CID))).await;
    admin(&app, "/v1/admin/decisions/req-1")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "decision_not_found");
    assert_eq!(
        admin(&app, "/v1/admin/decisions").await.json(),
        serde_json::json!([])
    );
}

async fn explain(app: &common::TestApp, body: Value) -> common::Answer {
    app.send(
        Request::post("/v1/admin/explain")
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// `POST /v1/admin/explain`: a dry run of a pasted credential says which rule would
/// refuse it, runs nothing with side effects, and leaves the token usable.
#[tokio::test]
async fn a_pasted_token_is_explained_without_side_effects() {
    use keyward_token::{DrmType, Timestamp};
    let app = app().await;
    let token = ck_token(CID);
    let a = explain(
        &app,
        serde_json::json!({"credential": token, "drm": "clearkey"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let v = a.json();
    assert_eq!(v["verdict"], "passes_dry_run");
    assert_eq!(v["credential"]["cid"], CID);
    let checks: Vec<(&str, &str)> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("endpoint", "passed"),
            ("content_id", "passed"),
            ("origin", "not_run"),
            ("geo_vpn", "not_applicable"),
            ("single_use", "not_applicable"),
            ("session_webhook", "not_applicable"),
            ("callback", "not_applicable"),
            ("streams", "not_applicable"),
        ]
    );
    // Refusals: where and why.
    let expired = common::token_for(
        &common::creds_of(common::SITE),
        DrmType::ClearKey,
        CID,
        &common::streaming(),
        Timestamp::from_unix(Timestamp::now().unix() - 7200).unwrap(),
    );
    let v = explain(&app, serde_json::json!({"credential": expired}))
        .await
        .json();
    assert_eq!(v["verdict"], "refused");
    assert_eq!(v["refused_at"], "front_door");
    assert_eq!(v["code"], "7011");
    let v = explain(
        &app,
        serde_json::json!({"credential": token, "cid": "another-content"}),
    )
    .await
    .json();
    assert_eq!(v["verdict"], "refused");
    assert_eq!(v["refused_at"], "gatekeeper");
    assert_eq!(v["code"], "7012");
    let v = explain(
        &app,
        serde_json::json!({"credential": token, "drm": "widevine"}),
    )
    .await
    .json();
    assert_eq!(v["refused_at"], "gatekeeper", "{v}");
    // Bad requests.
    explain(&app, serde_json::json!({"credential": token, "drm": "ncg"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    explain(&app, serde_json::json!({"token": token}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_body");
    explain(&app, serde_json::json!({"credential": "x\ny"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    // The dry runs took nothing: the same token still gets its licence, and no
    // decision was recorded for them.
    assert_eq!(
        licence(&app, "after-dry-runs", Some(&token)).await.status,
        StatusCode::OK
    );
    let all = admin(&app, "/v1/admin/decisions").await.json();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let anon = app.post("/v1/admin/explain", None, "{}").await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

/// Polls until the audit writer has kept the request's decision (it writes in
/// batches off the request path).
async fn audited_decision(app: &common::TestApp, rid: &str) -> common::Answer {
    for _ in 0..100 {
        let d = admin(app, &format!("/v1/admin/decisions/{rid}")).await;
        if d.status == StatusCode::OK {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    admin(app, &format!("/v1/admin/decisions/{rid}")).await
}

#[tokio::test]
async fn opted_in_sites_keep_their_decisions_in_the_audit_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    // No ring at all: a record can only come from the audit store.
    cfg.decisions_ring = 0;
    cfg.decisions_audit_sites = vec![common::SITE.to_owned()];
    let app = common::app_with(dir, cfg).await;
    let token = ck_token(CID);
    assert_eq!(
        licence(&app, "req-audited-ok", Some(&token)).await.status,
        StatusCode::OK
    );
    licence(&app, "req-audited-no-key", Some(&ck_token("other-content"))).await;
    // Another site's decision is not kept.
    let other = common::ck_token_site(common::CORS_SITE, CID);
    licence(&app, "req-not-opted-in", Some(&other)).await;

    let d = audited_decision(&app, "req-audited-ok").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    let v = d.json();
    assert_eq!(v["request_id"], "req-audited-ok");
    assert_eq!(v["outcome"], "granted");
    assert_eq!(v["code"], "ok");
    assert_eq!(v["front_door"], "pallycon");
    assert_eq!(v["back_door"], "clearkey");
    assert_eq!(v["credential"]["site"], common::SITE);
    assert_eq!(v["credential"]["cid"], CID);
    // Never the token or a key.
    assert!(!d.text().contains(&token));
    assert!(!d.text().contains(&b64url(&KEY_ALL)));

    let d = audited_decision(&app, "req-audited-no-key").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    assert_eq!(d.json()["code"], "7001", "{}", d.text());
    assert_eq!(d.json()["refused_at"], "back_door");

    // The rows are searchable like any audit event.
    let rows = admin(
        &app,
        "/v1/admin/audit?kind=decision&request_id=req-audited-no-key",
    )
    .await;
    assert_eq!(rows.status, StatusCode::OK, "{}", rows.text());
    let records = rows.json()["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["kind"], "decision");
    assert_eq!(records[0]["result"], "7001");
    assert_eq!(records[0]["site_id"], common::SITE);
    assert_eq!(records[0]["user"], "user-1");
    assert_eq!(records[0]["detail"]["refused_at"], "back_door");

    let d = admin(&app, "/v1/admin/decisions/req-not-opted-in").await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    assert_eq!(d.json()["code"], "decision_not_found");
}
