//! Property: whatever bytes and header values reach a licence route, the
//! answer is never a 500 (or any unexpected 5xx) and a refusal always carries
//! a code in the route's dialect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use common::*;
use keyward_token::DrmType;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/ri/licenseManager.do"),
    ("POST", "/ri/playready/licenseManager.do"),
    ("POST", "/ri/clearkey/licenseManager.do"),
    (
        "GET",
        "/ri/clearkey/licenseManager.do?siteId=TEST&cid=movie-1",
    ),
    ("GET", "/ri/fpsKeyManager.do?siteId=CERT"),
    ("GET", "/ri/fpsCert.do?siteId=TEST"),
    ("GET", "/ri/widevineCert.do?siteId=NOPE"),
    ("POST", "/v1/license/clearkey"),
    ("POST", "/v1/license/widevine"),
    ("POST", "/v1/license/playready"),
    ("POST", "/v1/license/fairplay"),
    ("GET", "/v1/hls-key/TEST/movie-1"),
    ("GET", "/v1/hls-key/TEST/multi-1/HD"),
];

const HEADERS: &[&str] = &[
    "pallycon-customdata-v2",
    "pallycon-customdata",
    "authorization",
    "origin",
    "x-request-id",
    "range",
    "content-type",
];

/// Bytes `HeaderValue::from_bytes` accepts: visible ASCII, space, tab, obs-text.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')],
        0..300,
    )
}

fn tokens() -> Vec<Option<String>> {
    vec![
        None,
        Some(ck_token(CID)),
        Some(token(DrmType::Widevine, CID, &streaming())),
        Some(token(DrmType::PlayReady, CID, &streaming())),
        Some(token(DrmType::FairPlay, CID, &streaming())),
        Some(token(DrmType::Ncg, CID, &streaming())),
        Some(ck_token_site(HTTP_SITE, CID)),
        Some(ck_token_site(CORS_SITE, CID)),
    ]
}

/// Bodies: raw bytes, and shapes that get past the first checks of each parser.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        (
            prop::collection::vec("[A-Za-z0-9_+/=-]{0,30}", 0..40),
            prop_oneof![
                Just("temporary".to_owned()),
                Just("persistent-license".to_owned()),
                ".{0,12}"
            ],
            any::<bool>()
        )
            .prop_map(|(kids, t, with_type)| {
                let kids: Vec<String> = kids.iter().map(|k| format!("\"{k}\"")).collect();
                if with_type {
                    format!(r#"{{"kids":[{}],"type":"{t}"}}"#, kids.join(","))
                } else {
                    format!(r#"{{"kids":[{}]}}"#, kids.join(","))
                }
                .into_bytes()
            }),
        "[ -~]{0,200}".prop_map(|cd| playready_challenge(Some(&cd)).into_bytes()),
        prop::collection::vec(any::<u8>(), 0..400).prop_map(|tail| {
            let mut v = vec![0x08, 0x01, 0x12];
            v.extend(tail);
            v
        }),
        "[A-Za-z0-9+/=%]{0,400}".prop_map(|s| format!("spc={s}").into_bytes()),
    ]
}

fn check(route: &str, a: &Answer) -> Result<(), TestCaseError> {
    prop_assert_ne!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", a.text());
    prop_assert!(
        !a.status.is_server_error()
            || a.status == StatusCode::NOT_IMPLEMENTED
            || a.status == StatusCode::SERVICE_UNAVAILABLE,
        "{route}: {} {}",
        a.status,
        a.text()
    );
    prop_assert!(a.header("x-request-id").is_some());
    let coded = serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|j| {
            j.get("errorCode")
                .or_else(|| j.get("code"))
                .and_then(|c| c.as_str().map(str::to_owned))
        });
    match coded {
        Some(code) => {
            prop_assert!(!code.is_empty());
            prop_assert_eq!(a.header("x-keyward-error-code"), Some(code.as_str()));
            if route.starts_with("/v1/") {
                prop_assert_eq!(a.content_type(), "application/problem+json");
            } else {
                prop_assert_eq!(a.content_type(), "application/json");
            }
        }
        None => {
            // Not a refusal: must be a real answer.
            prop_assert_eq!(a.status, StatusCode::OK, "{}: {}", route, a.text());
            prop_assert!(!a.body.is_empty());
            prop_assert!(a.header("x-keyward-error-code").is_none());
        }
    }
    Ok(())
}

#[test]
fn licence_routes_never_answer_500() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(app());
    let toks = tokens();
    let strategy = (
        0..ROUTES.len(),
        0..toks.len(),
        proptest::option::of((0..HEADERS.len(), header_bytes())),
        bodies(),
    );
    let mut runner = TestRunner::new(PropConfig {
        cases: 768,
        failure_persistence: None,
        ..PropConfig::default()
    });
    runner
        .run(&strategy, |(r, t, extra, body)| {
            let (method, route) = ROUTES[r];
            let mut b = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(route);
            if let Some(tok) = &toks[t] {
                b = b.header("pallycon-customdata-v2", tok);
            }
            if let Some((h, bytes)) = &extra {
                let v = HeaderValue::from_bytes(bytes).unwrap();
                b = b.header(HeaderName::from_static(HEADERS[*h]), v);
            }
            let req = b.body(Body::from(body)).unwrap();
            let a = rt.block_on(app.send(req));
            check(route, &a)
        })
        .unwrap();
    // Nothing a licence request does changes the store.
    let (sites, keys) = rt.block_on(app.counts());
    assert_eq!((sites, keys), (6, 7));
}

#[test]
fn arbitrary_tokens_never_answer_500() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(app());
    // Token-shaped text: base64 of JSON-ish objects with arbitrary members.
    let token_text = prop_oneof![
        "[ -~]{0,200}",
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| b64(&b)),
        (
            "[A-Za-z]{0,8}",
            "[A-Z]{0,5}",
            "[ -~]{0,20}",
            "[ -~]{0,30}",
            "[0-9TZ:-]{0,22}"
        )
            .prop_map(|(drm, site, cid, policy, ts)| {
                b64(format!(
                r#"{{"drm_type":"{drm}","site_id":"{site}","user_id":"u","cid":"{cid}","policy":"{policy}","timestamp":"{ts}","hash":"x"}}"#
            )
            .as_bytes())
            }),
    ];
    let mut runner = TestRunner::new(PropConfig {
        cases: 512,
        failure_persistence: None,
        ..PropConfig::default()
    });
    runner
        .run(&(0..ROUTES.len(), token_text), |(r, tok)| {
            let (method, route) = ROUTES[r];
            let mut b = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(route);
            if let Ok(v) = HeaderValue::from_str(&tok) {
                b = b.header("pallycon-customdata-v2", v);
            }
            let req = b
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap();
            let a = rt.block_on(app.send(req));
            check(route, &a)?;
            // Same token as a query parameter.
            let sep = if route.contains('?') { '&' } else { '?' };
            let uri = format!("{route}{sep}pallycon-customdata-v2={}", q(&tok));
            let req = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(uri)
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap();
            let a = rt.block_on(app.send(req));
            check(route, &a)
        })
        .unwrap();
}
