//! HLS AES-128 identity keys: `GET /v1/hls-key/{site}/{cid}[/{track}]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use keyward_token::{AllowedTrackTypes, DrmType, PlaybackPolicy, Policy};

fn assert_key(a: &Answer, key: [u8; 16]) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/octet-stream");
    assert_eq!(a.body.as_ref(), &key[..]);
}

#[tokio::test]
async fn sixteen_raw_bytes_by_header_query_and_bearer() {
    let app = app().await;
    let tok = ck_token(CID);
    let url = format!("/v1/hls-key/{SITE}/{CID}");
    assert_key(&app.get(&url, Some(&tok)).await, KEY_ALL);
    assert_key(
        &app.get(&format!("{url}?pallycon-customdata-v2={}", q(&tok)), None)
            .await,
        KEY_ALL,
    );
    let a = app
        .send(
            Request::get(&url)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_key(&a, KEY_ALL);
    // An NCG token works too.
    let ncg = token(DrmType::Ncg, CID, &streaming());
    assert_key(&app.get(&url, Some(&ncg)).await, KEY_ALL);
}

#[tokio::test]
async fn tolerates_range_and_icy_headers() {
    let app = app().await;
    let tok = ck_token(CID);
    let a = app
        .send(
            Request::get(format!("/v1/hls-key/{SITE}/{CID}"))
                .header("pallycon-customdata-v2", &tok)
                .header("range", "bytes=0-")
                .header("icy-metadata", "1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_key(&a, KEY_ALL);
}

#[tokio::test]
async fn track_keys() {
    let app = app().await;
    let tok = ck_token(CID_MULTI);
    let base = format!("/v1/hls-key/{SITE}/{CID_MULTI}");
    assert_key(&app.get(&format!("{base}/SD"), Some(&tok)).await, KEY_SD);
    assert_key(&app.get(&format!("{base}/hd"), Some(&tok)).await, KEY_HD);
    assert_key(
        &app.get(&format!("{base}/AUDIO"), Some(&tok)).await,
        KEY_AUDIO,
    );
    // Without a track: the preference order picks HD before SD.
    assert_key(&app.get(&base, Some(&tok)).await, KEY_HD);
    // Unknown track name.
    app.get(&format!("{base}/8K"), Some(&tok))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "1013");
    // A track without a key.
    app.get(&format!("{base}/UHD1"), Some(&tok))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7001");
    // SD_ONLY policy refuses the HD key.
    let sd_only = Policy::new().playback(
        PlaybackPolicy::default()
            .persistent(false)
            .allowed_track_types(AllowedTrackTypes::SdOnly),
    );
    let tok = token(DrmType::ClearKey, CID_MULTI, &sd_only);
    app.get(&format!("{base}/HD"), Some(&tok))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7502");
    assert_key(&app.get(&format!("{base}/SD"), Some(&tok)).await, KEY_SD);
}

#[tokio::test]
async fn refusals() {
    let app = app().await;
    let before = app.counts().await;
    let tok = ck_token(CID);
    // cid mismatch
    app.get(&format!("/v1/hls-key/{SITE}/other-movie"), Some(&tok))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7012");
    // site mismatch
    app.get(&format!("/v1/hls-key/{HTTP_SITE}/{CID}"), Some(&tok))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7016");
    // no key
    let empty = ck_token(CID_EMPTY);
    app.get(&format!("/v1/hls-key/{SITE}/{CID_EMPTY}"), Some(&empty))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7001");
    // no token
    app.get(&format!("/v1/hls-key/{SITE}/{CID}"), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7010");
    // another DRM
    let wv = token(DrmType::Widevine, CID, &streaming());
    app.get(&format!("/v1/hls-key/{SITE}/{CID}"), Some(&wv))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7018");
    // a token for an unknown site
    let nope = ck_token_site("NOPE", CID);
    app.get(&format!("/v1/hls-key/NOPE/{CID}"), Some(&nope))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "1003");
    // garbage token
    app.get(&format!("/v1/hls-key/{SITE}/{CID}"), Some("garbage"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7009");
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn hls_keys_carried_in_the_token() {
    let app = app().await;
    let key = [0x5a; 16];
    let policy = Policy::from_json(
        format!(
            r#"{{"policy_version":2,"external_key":{{"hls_aes":[{{"track_type":"ALL","key":"{}","iv":"{}"}}]}}}}"#,
            hex::encode(key),
            hex::encode([0x01; 16])
        )
        .as_bytes(),
    )
    .unwrap();
    let tok = token(DrmType::ClearKey, CID_EMPTY, &policy);
    assert_key(
        &app.get(&format!("/v1/hls-key/{SITE}/{CID_EMPTY}"), Some(&tok))
            .await,
        key,
    );
}
