//! Licence request rate limits on one node (`[rate_limits]`, in-process
//! buckets): a site over its burst is refused with 429 `rate_limited` naming
//! when to retry, other sites are not, and the bucket refills.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::http::StatusCode;
use common::*;

const V1: &str = "/v1/license/clearkey";
const RI: &str = "/ri/clearkey/licenseManager.do";

#[tokio::test]
async fn a_site_over_its_rate_gets_coded_429s_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rate_limits.site_per_second = 5;
    cfg.rate_limits.site_burst = 3;
    let app = app_with(dir, cfg).await;
    let tok = ck_token(CID);
    let body = ck_request(&[KID_ALL], "temporary");
    for i in 0..3 {
        let a = app.post(V1, Some(&tok), body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "request {i}: {}", a.text());
    }
    let a = app.post(V1, Some(&tok), body.clone()).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text());
    let j = a.json();
    assert_eq!(j["code"], "rate_limited");
    assert_eq!(j["status"], 429);
    let msg = j["detail"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "Too many licence requests for this site (at most 5 a second, 3 at once); retry in "
        ),
        "{msg}"
    );
    assert!(msg.ends_with(" ms"), "{msg}");
    // The PallyCon dialect carries the same code.
    let a = app.post(RI, Some(&tok), body.clone()).await;
    assert_eq!(a.json()["errorCode"], "rate_limited");
    // Another site has its own bucket.
    let other = ck_token_site(CORS_SITE, CID);
    let a = app.post(V1, Some(&other), body.clone()).await;
    assert_ne!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text());
    // One request comes back every 200 ms.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let a = app.post(V1, Some(&tok), body.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn no_limits_by_default() {
    let app = app().await;
    let tok = ck_token(CID);
    for _ in 0..50 {
        let a = app
            .post(V1, Some(&tok), ck_request(&[KID_ALL], "temporary"))
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
}
