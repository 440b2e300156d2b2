//! The ExpressPlay-compatible token API (`/hms/{wv,ck}/token`) and redemption
//! (`/hms/{wv,ck}/rights/`): every parameter rule and every applicable
//! Table 18 code, in both error formats, with the Table 17 statuses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use keyward_store::customers::hash_authenticator;
use keyward_store::{
    ContentKey, CustomerSettings, CustomerStore as _, KeyStore as _, Kid, NewContentKey,
    NewCustomer, SiteId, TrackType,
};
use keyward_token::expressplay::{
    aes_key_wrap, open, seal, Environment, TokenDrm, TokenKey, TokenPayload,
};

const AUTH: &str = "acme-test-authenticator-00000001";
const AUTH_PROD: &str = "acme-prod-authenticator-00000001";
const KID: [u8; 16] = [0x5a; 16];
const KEY: [u8; 16] = [0xc3; 16];
const LABELLED_KID: [u8; 16] = [0x61; 16];
const LABELLED_KEY: [u8; 16] = [0x62; 16];

async fn customer(app: &TestApp, id: &str, auth: &str, settings: CustomerSettings) {
    app.store
        .create_customer(NewCustomer {
            customer_id: id.into(),
            test_hash: hash_authenticator(auth),
            production_hash: hash_authenticator(&format!("{auth}-prod")),
            settings,
        })
        .await
        .unwrap();
}

fn linked() -> CustomerSettings {
    CustomerSettings {
        site_id: Some(SiteId::parse(SITE).unwrap()),
        ..CustomerSettings::default()
    }
}

async fn ep_app() -> TestApp {
    let app = app().await;
    app.store
        .create_customer(NewCustomer {
            customer_id: "acme".into(),
            test_hash: hash_authenticator(AUTH),
            production_hash: hash_authenticator(AUTH_PROD),
            settings: linked(),
        })
        .await
        .unwrap();
    customer(
        &app,
        "quota",
        "quota-auth",
        CustomerSettings {
            token_quota: Some(1),
            ..CustomerSettings::default()
        },
    )
    .await;
    customer(
        &app,
        "off",
        "off-auth",
        CustomerSettings {
            disabled: true,
            ..CustomerSettings::default()
        },
    )
    .await;
    customer(
        &app,
        "ipco",
        "ip-auth",
        CustomerSettings {
            allowed_ips: vec!["10.0.0.1".into()],
            ..CustomerSettings::default()
        },
    )
    .await;
    customer(&app, "nosite", "nosite-auth", CustomerSettings::default()).await;
    app.store
        .put_key(
            NewContentKey {
                site_id: SiteId::parse(SITE).unwrap(),
                cid: "ep-movie".into(),
                track_type: TrackType::All,
                kid: Kid(LABELLED_KID),
                key: ContentKey::from_slice(&LABELLED_KEY).unwrap(),
                iv: None,
                label: Some("ep-label".into()),
                period: None,
            },
            false,
        )
        .await
        .unwrap();
    app
}

fn base() -> String {
    format!(
        "customerAuthenticator={AUTH}&kid={}&contentKey={}&securityLevel=1&hdcpOutputControl=0",
        hex::encode(KID),
        hex::encode(KEY)
    )
}

async fn get_token(app: &TestApp, drm: &str, query: &str) -> Answer {
    app.get(&format!("/hms/{drm}/token?{query}"), None).await
}

/// Asserts an ExpressPlay refusal in a format.
fn assert_ep(a: &Answer, status: StatusCode, code: i32, json: bool) {
    assert_eq!(a.status, status, "status for {code}; body {}", a.text());
    assert_eq!(
        a.header("x-keyward-error-code"),
        Some(code.to_string().as_str())
    );
    if json {
        assert_eq!(a.content_type(), "application/json", "{}", a.text());
        let j = a.json();
        assert_eq!(j["errorCode"], code, "{}", a.text());
        assert!(j["errorMessage"].as_str().unwrap().len() > 3);
        assert_eq!(j["requestId"].as_str(), a.header("x-request-id"));
    } else {
        assert!(
            a.content_type().starts_with("text/html"),
            "{}",
            a.content_type()
        );
        let t = a.text();
        assert!(
            t.contains(&format!("<p class=\"error-code\">{code}</p>")),
            "{t}"
        );
        assert!(t.contains("error-message"), "{t}");
    }
}

/// Sends `query` (appended to a valid base unless it starts with `!`) in both
/// formats and asserts the code.
async fn both(app: &TestApp, drm: &str, query: &str, status: StatusCode, code: i32) {
    let q = match query.strip_prefix('!') {
        Some(full) => full.to_owned(),
        None => format!("{}&{query}", base()),
    };
    let a = get_token(app, drm, &q).await;
    assert_ep(&a, status, code, false);
    let a = get_token(app, drm, &format!("{q}&errorFormat=json")).await;
    assert_ep(&a, status, code, true);
}

fn token_of(url: &str) -> String {
    url.split("ExpressPlayToken=").nth(1).unwrap().to_owned()
}

async fn mint_ok(app: &TestApp, drm: &str, query: &str) -> String {
    let a = get_token(app, drm, query).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "text/uri-list");
    let url = a.text();
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:8080/hms/{drm}/rights/?ExpressPlayToken="
        )),
        "{url}"
    );
    url
}

fn server_key(app: &TestApp) -> TokenKey {
    let text = std::fs::read_to_string(app.dir.path().join("token.key")).unwrap();
    TokenKey::from_hex(&text).unwrap()
}

#[tokio::test]
async fn clearkey_end_to_end_gives_the_exact_jwk_set() {
    let app = ep_app().await;
    let url = mint_ok(
        &app,
        "ck",
        &format!("{}&cookie=sess-1&contentId=c1", base()),
    )
    .await;
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    let a = app.post(path, None, ck_request(&[KID], "temporary")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/json");
    assert_eq!(a.text(), jwk_set(&[(KID, KEY)], "temporary"));
    // Extra kids in the request: only the token's key is released.
    let a = app
        .post(path, None, ck_request(&[[1; 16], KID], "temporary"))
        .await;
    assert_eq!(a.text(), jwk_set(&[(KID, KEY)], "temporary"));
    // Without the trailing slash too.
    let a = app
        .post(
            &path.replace("rights/?", "rights?"),
            None,
            ck_request(&[KID], "temporary"),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // The token carries what was asked.
    let p = open(&[server_key(&app)], &token_of(&url)).unwrap();
    assert_eq!(p.customer, "acme");
    assert_eq!(p.env, Environment::Test);
    assert_eq!(p.cookie.as_deref(), Some("sess-1"));
    assert_eq!(p.content_id.as_deref(), Some("c1"));
    assert_eq!(p.expires_at - p.issued_at, 30 * 86_400, "default lifetime");
    assert_eq!(p.carried_key(), Some((Kid(KID), ContentKey::new(KEY))));
}

#[tokio::test]
async fn post_form_body_and_production_authenticator() {
    let app = ep_app().await;
    let body = base().replace(AUTH, AUTH_PROD);
    let a = app
        .send(
            Request::post("/hms/wv/token")
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let p = open(&[server_key(&app)], &token_of(&a.text())).unwrap();
    assert_eq!(p.env, Environment::Production);
    assert_eq!(p.drm, TokenDrm::Widevine);
    // Parameters split between query and body are merged.
    let a = app
        .send(
            Request::post(format!("/hms/ck/token?customerAuthenticator={AUTH}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(
                    base().replace(&format!("customerAuthenticator={AUTH}&"), ""),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn accepted_variants() {
    let app = ep_app().await;
    // Upper- and lowercase hex, unknown parameters ignored, wvExtensions,
    // licenseDuration, Z times with and without fractions, cookie of 32.
    let future = keyward_token::Timestamp::from_unix(keyward_token::Timestamp::now().unix() + 3600)
        .unwrap()
        .to_string();
    for extra in [
        "unknownParam=1&another=",
        "wvExtension=wudo,AAAAAA%3D%3D&wvExtension=abcd,AQID",
        "licenseDuration=0",
        "licenseDuration=86400",
        "expirationTime=%2B1",
        "expirationTime=%2B2592000",
        &format!("expirationTime={future}"),
        "cookie=12345678901234567890123456789012",
        "generalFlags=0000",
        "rightsType=BuyToOwn",
        "rightsType=Rental&rental.periodEndTime=%2B3600&rental.playDuration=600",
        "contentId=movie%201",
    ] {
        mint_ok(&app, "wv", &format!("{}&{extra}", base())).await;
    }
    let upper = format!(
        "customerAuthenticator={AUTH}&kid={}&contentKey={}&securityLevel=5&hdcpOutputControl=2",
        hex::encode_upper(KID),
        hex::encode_upper(KEY)
    );
    let url = mint_ok(&app, "ck", &upper).await;
    let p = open(&[server_key(&app)], &token_of(&url)).unwrap();
    assert_eq!(p.carried_key(), Some((Kid(KID), ContentKey::new(KEY))));
    assert_eq!((p.security_level, p.hdcp_output_control), (5, 2));
}

#[tokio::test]
async fn authentication_codes() {
    let app = ep_app().await;
    let no_auth = base().replace(&format!("customerAuthenticator={AUTH}&"), "");
    both(
        &app,
        "wv",
        &format!("!{no_auth}"),
        StatusCode::UNAUTHORIZED,
        -2017,
    )
    .await;
    both(
        &app,
        "wv",
        &format!("!{}", base().replace(AUTH, "wrong")),
        StatusCode::UNAUTHORIZED,
        -2018,
    )
    .await;
    both(
        &app,
        "wv",
        &format!("customerAuthenticator={AUTH}"),
        StatusCode::UNAUTHORIZED,
        -2018,
    )
    .await;
    both(
        &app,
        "wv",
        &format!("!{}", base().replace(AUTH, "off-auth")),
        StatusCode::UNAUTHORIZED,
        -2031,
    )
    .await;
    both(
        &app,
        "ck",
        &format!("!{}", base().replace(AUTH, "ip-auth")),
        StatusCode::UNAUTHORIZED,
        -2003,
    )
    .await;
    // The allow-listed address passes; another does not.
    for (ip, ok) in [("10.0.0.1", true), ("10.0.0.2", false)] {
        let mut req = Request::get(format!("/hms/ck/token?{}", base().replace(AUTH, "ip-auth")))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 4000)));
        let a = app.send(req).await;
        if ok {
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        } else {
            assert_ep(&a, StatusCode::UNAUTHORIZED, -2003, false);
        }
    }
}

#[tokio::test]
async fn quota_is_2019() {
    let app = ep_app().await;
    let q = base().replace(AUTH, "quota-auth");
    // A refused request does not use the quota.
    let a = get_token(&app, "wv", &format!("{q}&securityLevel=9")).await;
    assert_ep(&a, StatusCode::BAD_REQUEST, -7004, false);
    mint_ok(&app, "wv", &q).await;
    both(
        &app,
        "wv",
        &format!("!{q}"),
        StatusCode::UNAUTHORIZED,
        -2019,
    )
    .await;
    assert_eq!(app.store.customer("quota").await.unwrap().tokens_issued, 1);
}

#[tokio::test]
async fn parameter_codes_in_both_formats() {
    let app = ep_app().await;
    let bad = StatusCode::BAD_REQUEST;
    let no = |name: &str| {
        let b = base();
        let out: Vec<&str> = b
            .split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect();
        format!("!{}", out.join("&"))
    };
    let long_name = "n".repeat(65);
    let cases: Vec<(String, i32)> = vec![
        // expirationTime
        ("expirationTime=%2B0".into(), -2002),
        ("expirationTime=%2B999999999".into(), -2002),
        ("expirationTime=%2B2592001".into(), -2002),
        ("expirationTime=2006-04-14T12:01:10Z".into(), -2002),
        ("expirationTime=2099-04-14T12:01:10%2B01:00".into(), -2002),
        ("expirationTime=2099-04-14T12:01:10".into(), -2002),
        ("expirationTime=60".into(), -2002),
        ("expirationTime=%2B60&expirationTime=%2B60".into(), -2002),
        ("expirationTime=%ZZ".into(), -2002),
        // contentKey
        (
            format!("{}&contentKey={}", no("contentKey"), "g".repeat(32)),
            -2005,
        ),
        (format!("{}&contentKey=%G1", no("contentKey")), -2005),
        (no("contentKey"), -2005),
        (
            format!("{}&contentKey={}", no("contentKey"), "a".repeat(31)),
            -2027,
        ),
        (
            format!("{}&contentKey={}", no("contentKey"), "a".repeat(33)),
            -2027,
        ),
        ("contentKey=00112233445566778899aabbccddeeff".into(), -2005),
        // output controls
        (
            format!("{}&hdcpOutputControl=x", no("hdcpOutputControl")),
            -2008,
        ),
        (
            format!("{}&hdcpOutputControl=3", no("hdcpOutputControl")),
            -2034,
        ),
        (
            format!("{}&hdcpOutputControl=00", no("hdcpOutputControl")),
            -2034,
        ),
        (no("hdcpOutputControl"), -7006),
        // rentals
        ("rightsType=Rental".into(), -2022),
        ("rightsType=Rental&rental.periodEndTime=%2B60".into(), -2023),
        (
            "rightsType=Rental&rental.periodEndTime=%2B60&rental.playDuration=-5".into(),
            -2025,
        ),
        (
            "rightsType=Rental&rental.periodEndTime=yesterday&rental.playDuration=5".into(),
            -6007,
        ),
        ("rightsType=Lease".into(), -6005),
        // cookie
        (format!("cookie={}", "c".repeat(33)), -2033),
        // empty values
        ("cookie=".into(), -2035),
        (format!("{}&kid=", no("kid")), -2035),
        ("licenseDuration".into(), -2035),
        // extensions
        ("wvExtension=abc,AAAA".into(), -2036),
        ("wvExtension=abcde,AAAA".into(), -2036),
        ("wvExtension=abcd,%21%21".into(), -2037),
        ("wvExtension=abcd".into(), -7009),
        ("wvExtension=abcd,AAAA,AAAA".into(), -7009),
        ("wvExtension=%ZZ".into(), -7009),
        // general flags
        ("generalFlags=00000".into(), -2040),
        ("generalFlags=0001".into(), -5003),
        ("generalFlags=zzzz".into(), -5003),
        // kid
        (no("kid"), -4018),
        (format!("{}&kid={}", no("kid"), "a".repeat(31)), -4020),
        (format!("{}&kid={}", no("kid"), "a".repeat(33)), -4020),
        (format!("{}&kid=%5E{long_name}", no("kid")), -4021),
        (format!("{}&kid=%5E", no("kid")), -4021),
        (format!("{}&kid={}", no("kid"), "z".repeat(32)), -4022),
        (format!("{}&kid=%zz", no("kid")), -4022),
        (format!("kid={}", hex::encode(KID)), -4022),
        (
            no("contentKey").replace(&format!("kid={}", hex::encode(KID)), "kid=%5Enope"),
            -4019,
        ),
        // kek / ek
        (
            format!(
                "{}&kek={}&ek={}",
                no("contentKey"),
                "00".repeat(16),
                "11".repeat(24)
            ),
            -4024,
        ),
        (
            format!("{}&kek={}", no("contentKey"), "00".repeat(16)),
            -4024,
        ),
        (
            format!("{}&kek=abc&ek={}", no("contentKey"), "11".repeat(24)),
            -4024,
        ),
        (
            format!("kek={}&ek={}", "00".repeat(16), "11".repeat(24)),
            -6005,
        ),
        // security level
        (no("securityLevel"), -7003),
        (format!("{}&securityLevel=0", no("securityLevel")), -7004),
        (format!("{}&securityLevel=6", no("securityLevel")), -7004),
        (format!("{}&securityLevel=x", no("securityLevel")), -7004),
        // licence duration
        ("licenseDuration=-1".into(), -7007),
        ("licenseDuration=1.5".into(), -7007),
        ("licenseDuration=999999999999".into(), -7007),
        // device binding
        ("deviceId=abc".into(), -7002),
        // a parameter name with broken encoding
        ("%zz=1".into(), -2030),
        ("contentId=a&contentId=b".into(), -6005),
    ];
    for (q, code) in &cases {
        both(&app, "wv", q, bad, *code).await;
    }
    // The same rules on the ClearKey endpoint.
    both(&app, "ck", "cookie=", bad, -2035).await;
}

#[tokio::test]
async fn error_format_3004_is_answered_in_html() {
    let app = ep_app().await;
    for f in [
        "errorFormat=xml",
        "errorFormat=",
        "errorFormat=json&errorFormat=json",
    ] {
        let a = get_token(&app, "wv", &format!("{}&{f}", base())).await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -3004, false);
    }
    let a = get_token(&app, "wv", &format!("{}&errorFormat=html&kid=1", base())).await;
    assert_ep(&a, StatusCode::BAD_REQUEST, -4022, false);
}

#[tokio::test]
async fn body_that_is_not_form_encoded_is_2030() {
    let app = ep_app().await;
    for json in [false, true] {
        let q = if json { "?errorFormat=json" } else { "" };
        let a = app
            .send(
                Request::post(format!("/hms/wv/token{q}"))
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"kid":"x"}"#))
                    .unwrap(),
            )
            .await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -2030, json);
    }
    // Unknown /hms/ path: 404 in the dialect.
    let a = app.get("/hms/xx/token?errorFormat=json", None).await;
    assert_ep(&a, StatusCode::NOT_FOUND, -2030, true);
}

#[tokio::test]
async fn store_failure_is_2030_500() {
    let app = ep_app().await;
    app.store.close().await;
    for json in [false, true] {
        let f = if json { "&errorFormat=json" } else { "" };
        let a = get_token(&app, "wv", &format!("{}{f}", base())).await;
        assert_ep(&a, StatusCode::INTERNAL_SERVER_ERROR, -2030, json);
        assert!(!a.text().contains("pool"), "no internal text: {}", a.text());
    }
}

#[tokio::test]
async fn kek_and_ek_unwrap_and_wrong_kek() {
    let app = ep_app().await;
    let kek = [0x42u8; 16];
    let ek = aes_key_wrap(&kek, &KEY).unwrap();
    let b = base().replace(&format!("&contentKey={}", hex::encode(KEY)), "");
    let url = mint_ok(
        &app,
        "ck",
        &format!("{b}&kek={}&ek={}", hex::encode(kek), hex::encode(&ek)),
    )
    .await;
    let p = open(&[server_key(&app)], &token_of(&url)).unwrap();
    assert_eq!(p.carried_key(), Some((Kid(KID), ContentKey::new(KEY))));
    // 256-bit KEK, uppercase hex.
    let kek256 = [0x24u8; 32];
    let ek = aes_key_wrap(&kek256, &KEY).unwrap();
    mint_ok(
        &app,
        "ck",
        &format!(
            "{b}&kek={}&ek={}",
            hex::encode_upper(kek256),
            hex::encode_upper(&ek)
        ),
    )
    .await;
    // Wrong KEK.
    both(
        &app,
        "ck",
        &format!(
            "!{b}&kek={}&ek={}",
            hex::encode([0x43u8; 16]),
            hex::encode(&ek)
        ),
        StatusCode::BAD_REQUEST,
        -4024,
    )
    .await;
    // ek unwrapping to 32 bytes is not a content key.
    let ek32 = aes_key_wrap(&kek, &[1u8; 32]).unwrap();
    both(
        &app,
        "ck",
        &format!("!{b}&kek={}&ek={}", hex::encode(kek), hex::encode(&ek32)),
        StatusCode::BAD_REQUEST,
        -4024,
    )
    .await;
}

#[tokio::test]
async fn name_kids_against_the_key_store() {
    let app = ep_app().await;
    let b = |name: &str, auth: &str| {
        format!("customerAuthenticator={auth}&kid=%5E{name}&securityLevel=1&hdcpOutputControl=0")
    };
    // By label, and by content id.
    for (name, kid, key) in [
        ("ep-label", LABELLED_KID, LABELLED_KEY),
        (CID, KID_ALL, KEY_ALL),
    ] {
        let url = mint_ok(&app, "ck", &b(name, AUTH)).await;
        let p = open(&[server_key(&app)], &token_of(&url)).unwrap();
        assert_eq!(p.key_name.as_deref(), Some(name));
        assert_eq!(p.content_key, None, "the token carries the reference only");
        let path = url.trim_start_matches("http://127.0.0.1:8080");
        let a = app.post(path, None, ck_request(&[kid], "temporary")).await;
        assert_eq!(a.text(), jwk_set(&[(kid, key)], "temporary"), "{name}");
    }
    both(
        &app,
        "ck",
        &format!("!{}", b("missing", AUTH)),
        StatusCode::BAD_REQUEST,
        -4019,
    )
    .await;
    both(
        &app,
        "ck",
        &format!("!{}", b(CID, "nosite-auth")),
        StatusCode::BAD_REQUEST,
        -4019,
    )
    .await;
    // A ^name kid with a contentKey: conflicting key data.
    both(
        &app,
        "ck",
        &format!("!{}&contentKey={}", b(CID, AUTH), hex::encode(KEY)),
        StatusCode::BAD_REQUEST,
        -6005,
    )
    .await;
    // The key deleted after minting: -4019 at redemption.
    let url = mint_ok(&app, "ck", &b("ep-label", AUTH)).await;
    app.store
        .delete_key(&SiteId::parse(SITE).unwrap(), &Kid(LABELLED_KID))
        .await
        .unwrap();
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    let a = app
        .post(path, None, ck_request(&[LABELLED_KID], "temporary"))
        .await;
    assert_ep(&a, StatusCode::BAD_REQUEST, -4019, false);
}

#[tokio::test]
async fn invalid_tokens_are_4010() {
    let app = ep_app().await;
    let url = mint_ok(&app, "ck", &base()).await;
    let tok = token_of(&url);
    let body = ck_request(&[KID], "temporary");
    let mut flipped = tok.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    // Another server's key.
    let other = seal(
        &TokenKey::new([9; 32]),
        [0; 12],
        &open(&[server_key(&app)], &tok).unwrap(),
    );
    for (t, why) in [
        (flipped.as_str(), "tampered"),
        (&tok[..tok.len() - 4], "truncated"),
        (&tok[..10], "short"),
        ("not*base64", "garbage"),
        (other.as_str(), "other key"),
    ] {
        for json in [false, true] {
            let f = if json { "&errorFormat=json" } else { "" };
            let a = app
                .post(
                    &format!("/hms/ck/rights/?ExpressPlayToken={}{f}", q(t)),
                    None,
                    body.clone(),
                )
                .await;
            assert_ep(&a, StatusCode::UNAUTHORIZED, -4010, json);
            let _ = why;
        }
    }
    // Missing, repeated, or minted for the other DRM.
    for path in [
        "/hms/ck/rights/".to_owned(),
        format!("/hms/ck/rights/?ExpressPlayToken={tok}&ExpressPlayToken={tok}"),
        format!("/hms/wv/rights/?ExpressPlayToken={tok}"),
    ] {
        let a = app.post(&path, None, body.clone()).await;
        assert_ep(&a, StatusCode::UNAUTHORIZED, -4010, false);
    }
    // Rotation: a token sealed under a previous key is refused unless that key is listed.
    assert!(open(&[TokenKey::new([9; 32]), server_key(&app)], &tok).is_ok());
}

#[tokio::test]
async fn a_widevine_token_with_extensions_is_refused_not_stripped() {
    let app = ep_app().await;
    let url = mint_ok(&app, "wv", &format!("{}&wvExtension=abcd,AQID", base())).await;
    let a = app
        .post(
            &format!(
                "/hms/wv/rights/?ExpressPlayToken={}&errorFormat=json",
                token_of(&url)
            ),
            None,
            widevine_license_request(KID),
        )
        .await;
    assert_eq!(a.json()["errorCode"], -7009, "{}", a.text());
    assert!(a.text().contains("wvExtension"), "{}", a.text());
}

#[tokio::test]
async fn expired_token_is_2002() {
    let app = ep_app().await;
    let url = mint_ok(&app, "ck", &base()).await;
    let key = server_key(&app);
    let mut p: TokenPayload = open(std::slice::from_ref(&key), &token_of(&url)).unwrap();
    p.expires_at = keyward_token::Timestamp::now().unix() - 1;
    let t = seal(&key, [3; 12], &p);
    for json in [false, true] {
        let f = if json { "&errorFormat=json" } else { "" };
        let a = app
            .post(
                &format!("/hms/ck/rights/?ExpressPlayToken={t}{f}"),
                None,
                ck_request(&[KID], "temporary"),
            )
            .await;
        assert_ep(&a, StatusCode::UNAUTHORIZED, -2002, json);
    }
}

#[tokio::test]
async fn clearkey_redemption_refusals() {
    let app = ep_app().await;
    let url = mint_ok(&app, "ck", &base()).await;
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    for json in [false, true] {
        let p = if json {
            format!("{path}&errorFormat=json")
        } else {
            path.to_owned()
        };
        let a = app
            .post(&p, None, ck_request(&[[1; 16]], "temporary"))
            .await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -4022, json);
        let a = app.post(&p, None, "not json").await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -4018, json);
        let a = app
            .post(&p, None, ck_request(&[KID], "persistent-license"))
            .await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -6005, json);
    }
}

#[tokio::test]
async fn widevine_redemption_verifies_then_refuses() {
    let app = ep_app().await;
    let url = mint_ok(&app, "wv", &format!("{}&cookie=wv-cookie", base())).await;
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    for json in [false, true] {
        let p = if json {
            format!("{path}&errorFormat=json")
        } else {
            path.to_owned()
        };
        let a = app.post(&p, None, widevine_license_request(KID)).await;
        assert_ep(&a, StatusCode::NOT_IMPLEMENTED, -7011, json);
        let a = app.post(&p, None, &b"\x01\x02garbage"[..]).await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -7008, json);
        let a = app.post(&p, None, widevine_license_request([7; 16])).await;
        assert_ep(&a, StatusCode::BAD_REQUEST, -4022, json);
    }
    // A ClearKey token is not redeemable for Widevine.
    let ck = mint_ok(&app, "ck", &base()).await;
    let a = app
        .post(
            &format!("/hms/wv/rights/?ExpressPlayToken={}", token_of(&ck)),
            None,
            widevine_license_request(KID),
        )
        .await;
    assert_ep(&a, StatusCode::UNAUTHORIZED, -4010, false);
}

#[tokio::test]
async fn cors_applies_to_rights_paths() {
    let app = ep_app().await;
    let a = app
        .send(
            Request::options("/hms/ck/rights/?ExpressPlayToken=x")
                .header("origin", "https://player.example")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(a.status.is_success(), "{:?}", a.status);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://player.example")
    );
    let a = app
        .send(
            Request::post("/hms/ck/rights/?ExpressPlayToken=x")
                .header("origin", "https://player.example")
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
}

#[tokio::test]
async fn admin_api_creates_rotates_and_deletes_customers() {
    let app = ep_app().await;
    let admin = |m: &str, uri: &str, body: &str| {
        Request::builder()
            .method(m)
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let a = app
        .send(admin(
            "POST",
            "/v1/admin/customers",
            r#"{"customer_id":"newco","settings":{"site_id":"TEST","token_quota":5}}"#,
        ))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let j = a.json();
    let test_auth = j["test_authenticator"].as_str().unwrap().to_owned();
    assert_eq!(j["settings"]["token_quota"], 5);
    let q = base().replace(AUTH, &test_auth);
    mint_ok(&app, "wv", &q).await;
    // Listing never shows authenticators.
    let a = app.send(admin("GET", "/v1/admin/customers", "")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.text().contains(&test_auth));
    assert!(a.text().contains("newco"));
    // Rotate: the old authenticator stops working.
    let a = app
        .send(admin(
            "POST",
            "/v1/admin/customers/newco/rotate",
            r#"{"env":"test"}"#,
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let fresh = a.json()["authenticator"].as_str().unwrap().to_owned();
    let a = get_token(&app, "wv", &q).await;
    assert_ep(&a, StatusCode::UNAUTHORIZED, -2018, false);
    mint_ok(&app, "wv", &base().replace(AUTH, &fresh)).await;
    // Disable via PUT.
    let a = app
        .send(admin(
            "PUT",
            "/v1/admin/customers/newco",
            r#"{"disabled":true}"#,
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = get_token(&app, "wv", &base().replace(AUTH, &fresh)).await;
    assert_ep(&a, StatusCode::UNAUTHORIZED, -2031, false);
    // Delete; then 404.
    let a = app
        .send(admin("DELETE", "/v1/admin/customers/newco", ""))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = app
        .send(admin("GET", "/v1/admin/customers/newco", ""))
        .await;
    a.assert_problem(StatusCode::NOT_FOUND, "customer_not_found");
    // Without the admin token.
    let a = app.get("/v1/admin/customers", None).await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}
