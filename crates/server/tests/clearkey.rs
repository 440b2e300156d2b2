//! W3C ClearKey licences on the PallyCon path (`/ri/clearkey/licenseManager.do`)
//! and the native path (`/v1/license/clearkey`): successes byte for byte, and
//! every refusal with its code, status and dialect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use keyward_token::{AllowedTrackTypes, DrmType, PlaybackPolicy, Policy, Timestamp};

const RI: &str = "/ri/clearkey/licenseManager.do";
const V1: &str = "/v1/license/clearkey";

#[tokio::test]
async fn licence_on_both_paths_is_the_exact_jwk_set() {
    let app = app().await;
    let tok = ck_token(CID);
    let body = ck_request(&[KID_ALL], "temporary");
    let want = jwk_set(&[(KID_ALL, KEY_ALL)], "temporary");
    for path in [RI, V1, "/ri/licenseManager.do"] {
        let a = app.post(path, Some(&tok), body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        assert_eq!(a.content_type(), "application/json");
        assert_eq!(a.text(), want, "{path}");
        assert!(a.header("x-request-id").is_some());
    }
    // The token in the query parameter and, on the native path, as a bearer.
    let a = app
        .post(
            &format!("{RI}?pallycon-customdata-v2={}", q(&tok)),
            None,
            body.clone(),
        )
        .await;
    assert_eq!(a.text(), want);
    let a = app
        .send(
            Request::post(V1)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text(), want);
}

#[tokio::test]
async fn chromium_request_padded_and_standard_alphabet_kids() {
    let app = app().await;
    let tok = ck_token(CID);
    // Padded, standard alphabet: the same KID.
    let body = format!(r#"{{"kids":["{}"],"type":"temporary"}}"#, b64(&KID_ALL));
    let a = app.post(RI, Some(&tok), body).await;
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
}

#[tokio::test]
async fn release_message_is_acknowledged() {
    let app = app().await;
    let tok = ck_token(CID);
    let body = format!(r#"{{"kids":["{}"]}}"#, b64url(&KID_ALL));
    for (path, native) in [(RI, false), (V1, true)] {
        let a = app.post(path, Some(&tok), body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{native}");
        assert_eq!(a.content_type(), "application/json");
        assert_eq!(a.text(), format!(r#"{{"kids":["{}"]}}"#, b64url(&KID_ALL)));
    }
}

#[tokio::test]
async fn missing_token_is_7010() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    app.post(RI, None, body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7010");
    app.post(V1, None, body.clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7010");
    // Blank header counts as missing.
    app.post(RI, Some("   "), body)
        .await
        .assert_pallycon(StatusCode::OK, "7010");
}

#[tokio::test]
async fn malformed_bodies_get_their_codes() {
    let app = app().await;
    let tok = ck_token(CID);
    let too_many: Vec<[u8; 16]> = (0..300u16)
        .map(|i| {
            let mut k = [0u8; 16];
            k[..2].copy_from_slice(&i.to_be_bytes());
            k
        })
        .collect();
    let full = ck_request(&[KID_ALL], "temporary");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "7401"),
        (b"garbage \x00\xff".to_vec(), "7401"),
        (b"[1,2,3]".to_vec(), "7401"),
        (full.as_bytes()[..full.len() / 2].to_vec(), "7401"), // truncated
        (b"\xff\xfe\x00{".to_vec(), "7401"),
        (b"{}".to_vec(), "7402"),
        (br#"{"kids":[],"type":"temporary"}"#.to_vec(), "7402"),
        (br#"{"type":"temporary"}"#.to_vec(), "7402"),
        (
            br#"{"kids":["not-a-kid"],"type":"temporary"}"#.to_vec(),
            "7403",
        ),
        (br#"{"kids":[42],"type":"temporary"}"#.to_vec(), "7403"),
        (ck_request(&too_many, "temporary").into_bytes(), "7404"),
        (
            format!(r#"{{"kids":["{}"],"type":"forever"}}"#, b64url(&KID_ALL)).into_bytes(),
            "7405",
        ),
        (
            format!(r#"{{"kids":["{}"],"type":1}}"#, b64url(&KID_ALL)).into_bytes(),
            "7405",
        ),
        (br#"{"kids":"abc"}"#.to_vec(), "7407"),
    ];
    let before = app.counts().await;
    for (body, code) in cases {
        app.post(RI, Some(&tok), body.clone())
            .await
            .assert_pallycon(StatusCode::OK, code);
        app.post(V1, Some(&tok), body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, code);
    }
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn oversized_body_is_7505_413() {
    let app = app().await;
    let tok = ck_token(CID);
    let big = vec![b' '; 64 * 1024 + 1];
    app.post(RI, Some(&tok), big.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7505");
    app.post(V1, Some(&tok), big.clone())
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "7505");
    // Same with a Content-Length announcing it.
    let a = app
        .send(
            Request::post(V1)
                .header("pallycon-customdata-v2", &tok)
                .header("content-length", big.len().to_string())
                .body(Body::from(big))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "7505");
    // Exactly at the limit is read (and then judged as JSON).
    let mut at_limit = ck_request(&[KID_ALL], "temporary").into_bytes();
    at_limit.resize(64 * 1024, b' ');
    let a = app.post(V1, Some(&tok), at_limit).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn unknown_kid_is_7001() {
    let app = app().await;
    let tok = ck_token(CID);
    let body = ck_request(&[[0x99; 16]], "temporary");
    app.post(RI, Some(&tok), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7001");
    app.post(V1, Some(&tok), body)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7001");
    // Content without keys at all.
    let tok = ck_token(CID_EMPTY);
    app.post(V1, Some(&tok), ck_request(&[KID_ALL], "temporary"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7001");
}

#[tokio::test]
async fn token_for_another_site() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    // A site keyward does not know.
    let tok = ck_token_site("NOPE", CID);
    app.post(RI, Some(&tok), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "1003");
    app.post(V1, Some(&tok), body.clone())
        .await
        .assert_problem(StatusCode::NOT_FOUND, "1003");
    // A valid token for TEST, but the request names another site.
    let tok = ck_token(CID);
    app.post(&format!("{RI}?siteId=HTTP"), Some(&tok), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7016");
    // Signed with another site's keys but claiming TEST: the hash fails.
    let forged = token_for(
        &keyward_token::SiteCredentials::new("TEST", &site_key_of("HTTP"), &access_key_of("HTTP"))
            .unwrap(),
        DrmType::ClearKey,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    app.post(V1, Some(&forged), body)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7019");
}

#[tokio::test]
async fn token_for_another_cid_is_7012() {
    let app = app().await;
    let tok = ck_token(CID);
    app.get(&format!("{RI}?siteId=TEST&cid=other-movie"), Some(&tok))
        .await
        .assert_pallycon(StatusCode::OK, "7012");
    app.post(
        &format!("{RI}?cid=other-movie"),
        Some(&tok),
        ck_request(&[KID_ALL], "temporary"),
    )
    .await
    .assert_pallycon(StatusCode::OK, "7012");
}

#[tokio::test]
async fn token_for_another_drm_is_7018() {
    let app = app().await;
    let tok = token(DrmType::Widevine, CID, &streaming());
    let body = ck_request(&[KID_ALL], "temporary");
    app.post(RI, Some(&tok), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7018");
    app.post(V1, Some(&tok), body.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7018");
    // A site that does not enable ClearKey.
    let tok = ck_token_site(WV_ONLY_SITE, CID);
    app.post(V1, Some(&tok), body)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7018");
}

#[tokio::test]
async fn tampered_token_is_7019() {
    let app = app().await;
    let tok = ck_token(CID);
    let json = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &tok).unwrap(),
    )
    .unwrap();
    // Change the cid without re-hashing.
    let tampered = json.replace(CID, "movie-2");
    assert_ne!(tampered, json);
    let tampered = b64(tampered.as_bytes());
    let body = ck_request(&[KID_ALL], "temporary");
    app.post(RI, Some(&tampered), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7019");
    app.post(V1, Some(&tampered), body.clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7019");
    // Flip one character of the hash itself.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let hash = v["hash"].as_str().unwrap();
    let first = if hash.starts_with('A') { "B" } else { "A" };
    let bad_hash = json.replace(hash, &format!("{first}{}", &hash[1..]));
    app.post(V1, Some(&b64(bad_hash.as_bytes())), body.clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7019");
    // Not a token at all.
    app.post(V1, Some("!!!not base64!!!"), body.clone())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7009");
    app.post(RI, Some(&b64(b"{\"a\":1}")), body)
        .await
        .assert_pallycon(StatusCode::OK, "7013");
}

#[tokio::test]
async fn expired_and_future_tokens_are_7011() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    let now = Timestamp::now().unix();
    for offset in [-3600, -601, 3600, 120] {
        let at = Timestamp::from_unix(now + offset).unwrap();
        let tok = token_for(&creds_of(SITE), DrmType::ClearKey, CID, &streaming(), at);
        let a = app.post(RI, Some(&tok), body.clone()).await;
        a.assert_pallycon(StatusCode::OK, "7011");
        let msg = a.json()["message"].as_str().unwrap().to_owned();
        assert!(msg.contains("server time"), "{msg}");
        let age_words = if offset < 0 {
            "token age"
        } else {
            "in the future"
        };
        assert!(msg.contains(age_words), "age in message: {msg}");
        app.post(V1, Some(&tok), body.clone())
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "7011");
    }
    // Inside the window and the leeway.
    for offset in [-500, 30] {
        let at = Timestamp::from_unix(now + offset).unwrap();
        let tok = token_for(&creds_of(SITE), DrmType::ClearKey, CID, &streaming(), at);
        let a = app.post(RI, Some(&tok), body.clone()).await;
        assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
    }
}

#[tokio::test]
async fn persistent_license_needs_a_persistent_policy() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "persistent-license");
    let tok = ck_token(CID);
    app.post(RI, Some(&tok), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7501");
    app.post(V1, Some(&tok), body.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7501");
    let persistent = Policy::new().playback(PlaybackPolicy::default().persistent(true));
    let tok = token(DrmType::ClearKey, CID, &persistent);
    let a = app.post(V1, Some(&tok), body).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.text(),
        jwk_set(&[(KID_ALL, KEY_ALL)], "persistent-license")
    );
}

#[tokio::test]
async fn allowed_track_types_limit_the_keys() {
    let app = app().await;
    let sd_only = Policy::new().playback(
        PlaybackPolicy::default()
            .persistent(false)
            .allowed_track_types(AllowedTrackTypes::SdOnly),
    );
    let tok = token(DrmType::ClearKey, CID_MULTI, &sd_only);
    // SD and audio are released.
    let a = app
        .post(
            V1,
            Some(&tok),
            ck_request(&[KID_SD, KID_AUDIO], "temporary"),
        )
        .await;
    assert_eq!(
        a.text(),
        jwk_set(&[(KID_SD, KEY_SD), (KID_AUDIO, KEY_AUDIO)], "temporary")
    );
    // HD is not.
    app.post(V1, Some(&tok), ck_request(&[KID_SD, KID_HD], "temporary"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7502");
    app.post(RI, Some(&tok), ck_request(&[KID_HD], "temporary"))
        .await
        .assert_pallycon(StatusCode::OK, "7502");
    // An ALL key is not released under SD_ONLY either.
    let tok = token(DrmType::ClearKey, CID, &sd_only);
    app.post(V1, Some(&tok), ck_request(&[KID_ALL], "temporary"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7502");
    // The GET form answers with what the policy releases.
    let tok = token(DrmType::ClearKey, CID_MULTI, &sd_only);
    let a = app
        .get(&format!("{RI}?siteId=TEST&cid={CID_MULTI}"), Some(&tok))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let mut pairs = jwk_pairs(&a.body);
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            (KID_SD.to_vec(), KEY_SD.to_vec()),
            (KID_AUDIO.to_vec(), KEY_AUDIO.to_vec())
        ]
    );
    // Nothing the policy releases: 7001.
    let tok = token(DrmType::ClearKey, CID, &sd_only);
    app.get(&format!("{RI}?siteId=TEST&cid={CID}"), Some(&tok))
        .await
        .assert_pallycon(StatusCode::OK, "7001");
}

#[tokio::test]
async fn keys_carried_in_the_token_are_used() {
    let app = app().await;
    let kid = [0x77; 16];
    let key = [0x78; 16];
    let tok = token(DrmType::ClearKey, CID_EMPTY, &policy_with_cenc(kid, key));
    let before = app.counts().await;
    let a = app
        .post(V1, Some(&tok), ck_request(&[kid], "temporary"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.text(), jwk_set(&[(kid, key)], "temporary"));
    // And by the GET form.
    let a = app
        .get(&format!("{RI}?siteId=TEST&cid={CID_EMPTY}"), Some(&tok))
        .await;
    assert_eq!(a.text(), jwk_set(&[(kid, key)], "temporary"));
    // The token's key wins over a stored key with the same KID.
    let tok = token(DrmType::ClearKey, CID, &policy_with_cenc(KID_ALL, key));
    let a = app
        .post(V1, Some(&tok), ck_request(&[KID_ALL], "temporary"))
        .await;
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, key)], "temporary"));
    assert_eq!(app.counts().await, before, "carried keys are not stored");
}

#[tokio::test]
async fn disabled_site_is_1004() {
    let app = app().await;
    let tok = ck_token_site(OFF_SITE, CID);
    let body = ck_request(&[KID_ALL], "temporary");
    app.post(RI, Some(&tok), body.clone())
        .await
        .assert_pallycon(StatusCode::OK, "1004");
    app.post(V1, Some(&tok), body)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "1004");
}

#[tokio::test]
async fn site_cors_list_refuses_other_origins_with_7503() {
    let app = app().await;
    let tok = ck_token_site(CORS_SITE, CID);
    let body = ck_request(&[KID_ALL], "temporary");
    let with_origin = |origin: &str| {
        Request::post(V1)
            .header("pallycon-customdata-v2", &tok)
            .header("origin", origin)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    app.send(with_origin("https://evil.example"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7503");
    let a = app.send(with_origin(CORS_ORIGIN)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
    assert_eq!(a.header("access-control-allow-origin"), Some(CORS_ORIGIN));
    // No Origin: not a browser, allowed.
    let a = app.post(V1, Some(&tok), body.clone()).await;
    assert_eq!(a.status, StatusCode::OK);
    // A site without a list takes any origin.
    let tok = ck_token(CID);
    let a = app
        .send(
            Request::post(RI)
                .header("pallycon-customdata-v2", &tok)
                .header("origin", "https://anything.example")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://anything.example")
    );
}

#[tokio::test]
async fn get_form_returns_every_releasable_key() {
    let app = app().await;
    let tok = ck_token(CID_MULTI);
    let a = app
        .get(&format!("{RI}?siteId=TEST&cid={CID_MULTI}"), Some(&tok))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/json");
    let mut pairs = jwk_pairs(&a.body);
    pairs.sort();
    let mut want = vec![
        (KID_SD.to_vec(), KEY_SD.to_vec()),
        (KID_HD.to_vec(), KEY_HD.to_vec()),
        (KID_AUDIO.to_vec(), KEY_AUDIO.to_vec()),
    ];
    want.sort();
    assert_eq!(pairs, want);
    assert!(a.text().ends_with(r#"],"type":"temporary"}"#));
    // Token in the query as well.
    let a = app
        .get(
            &format!(
                "{RI}?siteId=TEST&cid={CID}&pallycon-customdata-v2={}",
                q(&ck_token(CID))
            ),
            None,
        )
        .await;
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
}

#[tokio::test]
async fn http_status_site_answers_real_statuses_on_pallycon_paths() {
    let app = app().await;
    let tok = ck_token_site(HTTP_SITE, CID);
    app.post(RI, Some(&tok), ck_request(&[[0x99; 16]], "temporary"))
        .await
        .assert_pallycon(StatusCode::NOT_FOUND, "7001");
    app.post(RI, Some(&tok), b"nope".to_vec())
        .await
        .assert_pallycon(StatusCode::BAD_REQUEST, "7401");
    app.post(RI, Some(&tok), ck_request(&[KID_ALL], "persistent-license"))
        .await
        .assert_pallycon(StatusCode::FORBIDDEN, "7501");
    app.get(&format!("{RI}?cid=other"), Some(&tok))
        .await
        .assert_pallycon(StatusCode::FORBIDDEN, "7012");
    let wv = token_for(
        &creds_of(HTTP_SITE),
        DrmType::Widevine,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    app.post(RI, Some(&wv), ck_request(&[KID_ALL], "temporary"))
        .await
        .assert_pallycon(StatusCode::FORBIDDEN, "7018");
    let old = token_for(
        &creds_of(HTTP_SITE),
        DrmType::ClearKey,
        CID,
        &streaming(),
        Timestamp::from_unix(Timestamp::now().unix() - 7200).unwrap(),
    );
    app.post(RI, Some(&old), ck_request(&[KID_ALL], "temporary"))
        .await
        .assert_pallycon(StatusCode::UNAUTHORIZED, "7011");
    // And success is still the JWK set.
    let a = app
        .post(RI, Some(&tok), ck_request(&[KID_ALL], "temporary"))
        .await;
    assert_eq!(a.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
}

#[tokio::test]
async fn non_utf8_token_header_is_7509() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    let value = axum::http::HeaderValue::from_bytes(b"tok\xff\xfeen").unwrap();
    for (path, native) in [(RI, false), (V1, true)] {
        let a = app
            .send(
                Request::post(path)
                    .header("pallycon-customdata-v2", value.clone())
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        if native {
            a.assert_problem(StatusCode::BAD_REQUEST, "7509");
        } else {
            a.assert_pallycon(StatusCode::OK, "7509");
        }
    }
    // The bearer and legacy headers as well.
    let a = app
        .send(
            Request::post(V1)
                .header("authorization", value.clone())
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "7509");
    let a = app
        .send(
            Request::post(V1)
                .header("pallycon-customdata", value)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "7509");
}
