//! Concurrent-stream limits (PallyCon `max_stream_per_user`) on one node: a
//! playback is one token; its per-key requests and renewals hold one slot; the
//! stream over the limit is refused with `stream_limit_reached`, naming the
//! limit and when the oldest slot frees; a ClearKey release frees its slot at
//! once, and a playback that stops renewing frees it after interval + grace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::http::StatusCode;
use common::*;
use keyward_token::{DrmType, Policy, Timestamp};

const RI: &str = "/ri/clearkey/licenseManager.do";
const V1: &str = "/v1/license/clearkey";

/// A ClearKey token of user-1 for `CID` with a stream limit, minted `ago`
/// seconds back (so tokens of one test differ: one token = one playback).
fn limited(limit: u32, renewal: Option<u32>, ago: i64) -> String {
    let renewal = renewal.map_or(String::new(), |r| format!(r#","renewal_duration":{r}"#));
    let policy = Policy::from_json(
        format!(
            r#"{{"policy_version":2,"playback_policy":{{"persistent":false,"max_stream_per_user":{limit}{renewal}}}}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    token_for(
        &creds_of(SITE),
        DrmType::ClearKey,
        CID,
        &policy,
        Timestamp::from_unix(Timestamp::now().unix() - ago).unwrap(),
    )
}

async fn streams_app(grace_secs: u64) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.streams.grace_secs = grace_secs;
    app_with(dir, cfg).await
}

/// A licence was issued (the PallyCon path answers refusals with 200 too).
fn plays(a: &Answer) -> bool {
    a.status == StatusCode::OK && a.json().get("errorCode").is_none()
}

/// Refused for the stream limit, in the PallyCon dialect.
fn refused(a: &Answer) -> bool {
    a.status == StatusCode::OK && a.json()["errorCode"] == "stream_limit_reached"
}

fn licence() -> String {
    ck_request(&[KID_ALL], "temporary")
}

#[tokio::test]
async fn third_playback_is_refused_with_the_limit_and_when_a_slot_frees() {
    let app = streams_app(30).await;
    let (a, b, c) = (
        limited(2, Some(60), 1),
        limited(2, Some(60), 2),
        limited(2, Some(60), 3),
    );
    let want = jwk_set(&[(KID_ALL, KEY_ALL)], "temporary");
    let before = Timestamp::now().unix();
    for t in [&a, &b] {
        let r = app.post(RI, Some(t), licence()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.text(), want);
    }
    // PallyCon dialect: HTTP 200 with the code (as the vendor answers).
    let r = app.post(RI, Some(&c), licence()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["errorCode"], "stream_limit_reached");
    let msg = j["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "Concurrent stream limit reached: 2 of 2 streams are playing; the oldest frees at "
        ),
        "{msg}"
    );
    assert!(msg.ends_with("Z unless it renews"), "{msg}");
    // The oldest slot frees 60 + 30 s after it was taken.
    let when = &msg
        ["Concurrent stream limit reached: 2 of 2 streams are playing; the oldest frees at ".len()
            ..msg.len() - " unless it renews".len()];
    let frees = Timestamp::parse(when).unwrap().unix();
    assert!(
        (before + 90..=before + 92).contains(&frees),
        "{when} vs {before}"
    );
    // Native dialect: problem+json with the same code.
    let r = app.post(V1, Some(&c), licence()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "stream_limit_reached");
    // The playing streams renew (and re-ask) whatever the limit.
    for t in [&a, &b, &a] {
        assert!(plays(&app.post(RI, Some(t), licence()).await));
    }
}

#[tokio::test]
async fn parallel_requests_of_one_playback_take_one_slot() {
    let app = streams_app(30).await;
    let first = limited(2, Some(60), 1);
    assert!(plays(&app.post(RI, Some(&first), licence()).await));
    // A multi-key playback starting: 8 requests at once with one token.
    let second = limited(2, Some(60), 2);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let router = app.router.clone();
        let tok = second.clone();
        tasks.push(tokio::spawn(async move {
            let req = axum::http::Request::post(RI)
                .header("pallycon-customdata-v2", tok)
                .body(axum::body::Body::from(licence()))
                .unwrap();
            let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
            let status = resp.status();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            (status, body)
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(b"{\"keys\""), "{body:?}");
    }
    // Both slots are held: a third playback is refused.
    assert!(refused(
        &app.post(RI, Some(&limited(2, Some(60), 3)), licence())
            .await
    ));
}

#[tokio::test]
async fn a_clearkey_release_frees_the_slot_at_once() {
    let app = streams_app(30).await;
    let (a, b) = (limited(1, Some(60), 1), limited(1, Some(60), 2));
    assert!(plays(&app.post(RI, Some(&a), licence()).await));
    assert!(refused(&app.post(RI, Some(&b), licence()).await));
    // The player's persistent session removal sends a release (kids, no type).
    let release = format!(r#"{{"kids":["{}"]}}"#, b64url(&KID_ALL));
    let r = app.post(RI, Some(&a), release.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), release);
    assert!(plays(&app.post(RI, Some(&b), licence()).await));
}

#[tokio::test]
async fn a_playback_that_stops_renewing_frees_its_slot_after_interval_and_grace() {
    // renewal_duration 1 s + grace 1 s: the slot lasts 2 s after the last licence.
    let app = streams_app(1).await;
    let (a, b) = (limited(1, Some(1), 1), limited(1, Some(1), 2));
    assert!(plays(&app.post(RI, Some(&a), licence()).await));
    // Renewing keeps it.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(plays(&app.post(RI, Some(&a), licence()).await));
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(
        refused(&app.post(RI, Some(&b), licence()).await),
        "a renewed slot is still held"
    );
    // a stops renewing: 2 s later b plays.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = app.post(RI, Some(&b), licence()).await;
    assert!(plays(&r), "{}", r.text());
}

#[tokio::test]
async fn policies_without_a_limit_take_no_slot() {
    let app = streams_app(30).await;
    for ago in 0..5 {
        let t = token_for(
            &creds_of(SITE),
            DrmType::ClearKey,
            CID,
            &streaming(),
            Timestamp::from_unix(Timestamp::now().unix() - ago).unwrap(),
        );
        assert!(plays(&app.post(RI, Some(&t), licence()).await));
    }
    // A limit of 0 never plays.
    let r = app.post(RI, Some(&limited(0, None, 9)), licence()).await;
    assert!(refused(&r));
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Concurrent stream limit reached: 0 of 0 streams are playing"));
}
