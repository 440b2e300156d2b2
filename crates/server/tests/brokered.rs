//! Widevine, PlayReady and FairPlay: the token is verified and the challenge
//! recognised, then a coded "no upstream" refusal; and the certificate paths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use keyward_token::{DrmType, Timestamp};

const RI: &str = "/ri/licenseManager.do";
const PR: &str = "/ri/playready/licenseManager.do";

fn wv() -> String {
    token(DrmType::Widevine, CID, &streaming())
}

fn pr() -> String {
    token(DrmType::PlayReady, CID, &streaming())
}

fn fp() -> String {
    token(DrmType::FairPlay, CID, &streaming())
}

#[tokio::test]
async fn playready_refusals() {
    let app = app().await;
    let before = app.counts().await;
    // Not XML.
    app.post(PR, Some(&pr()), "this is not xml")
        .await
        .assert_pallycon(StatusCode::OK, "7205");
    app.post(PR, None, "<soap:Envelope><unclosed>")
        .await
        .assert_pallycon(StatusCode::OK, "7205");
    // Empty or not UTF-8.
    app.post(PR, Some(&pr()), "")
        .await
        .assert_pallycon(StatusCode::OK, "7204");
    app.post(PR, Some(&pr()), b"\xff\xfe<x/>".to_vec())
        .await
        .assert_pallycon(StatusCode::OK, "7204");
    // SOAP without CustomData and no header.
    app.post(PR, None, playready_challenge(None))
        .await
        .assert_pallycon(StatusCode::OK, "7206");
    // A valid token in CustomData: verified, then "no upstream" with HTTP 200.
    app.post(PR, None, playready_challenge(Some(&pr())))
        .await
        .assert_pallycon(StatusCode::OK, "7202");
    // ... or in the header.
    app.post(PR, Some(&pr()), playready_challenge(None))
        .await
        .assert_pallycon(StatusCode::OK, "7202");
    // A ClearKey token in CustomData: wrong DRM.
    app.post(PR, None, playready_challenge(Some(&ck_token(CID))))
        .await
        .assert_pallycon(StatusCode::OK, "7018");
    // A tampered token in CustomData.
    let mut bad = pr();
    bad.insert(10, 'A');
    let a = app.post(PR, None, playready_challenge(Some(&bad))).await;
    assert_eq!(a.status, StatusCode::OK);
    let code = a.json()["errorCode"].as_str().unwrap().to_owned();
    assert!(["7009", "7013", "7019"].contains(&code.as_str()), "{code}");
    // An HttpStatus site gets the real status.
    let http = token_for(
        &creds_of(HTTP_SITE),
        DrmType::PlayReady,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    app.post(PR, None, playready_challenge(Some(&http)))
        .await
        .assert_pallycon(StatusCode::NOT_IMPLEMENTED, "7202");
    // The generic PallyCon path with a PlayReady token.
    app.post(RI, Some(&pr()), playready_challenge(None))
        .await
        .assert_pallycon(StatusCode::OK, "7202");
    app.post(RI, Some(&pr()), "not xml")
        .await
        .assert_pallycon(StatusCode::OK, "7205");
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn playready_custom_data_on_the_generic_path() {
    // pallycon.md §6.2: for PlayReady the token may travel in the challenge's
    // CustomData; the generic licence URL takes it too.
    let app = app().await;
    app.post(RI, None, playready_challenge(Some(&pr())))
        .await
        .assert_pallycon(StatusCode::OK, "7202");
}

#[tokio::test]
async fn playready_native_is_501() {
    let app = app().await;
    app.post(
        "/v1/license/playready",
        Some(&pr()),
        playready_challenge(None),
    )
    .await
    .assert_problem(StatusCode::NOT_IMPLEMENTED, "7202");
    app.post(
        "/v1/license/playready",
        None,
        playready_challenge(Some(&pr())),
    )
    .await
    .assert_problem(StatusCode::NOT_IMPLEMENTED, "7202");
    app.post("/v1/license/playready", Some(&pr()), "not xml")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7205");
    app.post("/v1/license/playready", None, playready_challenge(None))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7010");
    // Unknown DRM name.
    app.post("/v1/license/betamax", Some(&pr()), "x")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn widevine() {
    let app = app().await;
    let before = app.counts().await;
    // Garbage challenge.
    for body in [
        b"".to_vec(),
        b"garbage".to_vec(),
        vec![0xff; 64],
        vec![0x08],
        vec![0x08, 0x02],
    ] {
        app.post(RI, Some(&wv()), body.clone())
            .await
            .assert_pallycon(StatusCode::OK, "7107");
        app.post("/v1/license/widevine", Some(&wv()), body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "7107");
    }
    // Service certificate request: the site's configured certificate, or 7106.
    app.post(RI, Some(&wv()), vec![0x08, 0x04])
        .await
        .assert_pallycon(StatusCode::OK, "7106");
    app.post("/v1/license/widevine", Some(&wv()), vec![0x08, 0x04])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7106");
    let cert_tok = token_for(
        &creds_of(CERT_SITE),
        DrmType::Widevine,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    for path in [RI, "/v1/license/widevine"] {
        let a = app.post(path, Some(&cert_tok), vec![0x08, 0x04]).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.content_type(), "application/octet-stream");
        assert_eq!(a.body.as_ref(), WV_CERT);
    }
    // A real licence request: recognised, then "no upstream".
    let challenge = widevine_license_request(KID_ALL);
    assert!(matches!(
        keyward_drm::widevine::WidevineChallenge::parse(&challenge).unwrap(),
        keyward_drm::widevine::WidevineChallenge::LicenseRequest { .. }
    ));
    app.post(RI, Some(&wv()), challenge.clone())
        .await
        .assert_pallycon(StatusCode::OK, "7104");
    app.post("/v1/license/widevine", Some(&wv()), challenge.clone())
        .await
        .assert_problem(StatusCode::NOT_IMPLEMENTED, "7104");
    // A Widevine token on the PlayReady path, a ClearKey token on the Widevine path.
    app.post(PR, Some(&wv()), playready_challenge(None))
        .await
        .assert_pallycon(StatusCode::OK, "7018");
    app.post("/v1/license/widevine", Some(&ck_token(CID)), challenge)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7018");
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn fairplay() {
    let app = app().await;
    let spc = fairplay_spc();
    let form = format!("spc={}", q(&b64(&spc)));
    let send = |path: &'static str, body: Vec<u8>| {
        let app = &app;
        async move {
            app.send(
                Request::post(path)
                    .header("pallycon-customdata-v2", fp())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    send(RI, Vec::new())
        .await
        .assert_pallycon(StatusCode::OK, "7305");
    send(RI, b"spc=".to_vec())
        .await
        .assert_pallycon(StatusCode::OK, "7305");
    send(RI, b"\x00\x01garbage\xff".to_vec())
        .await
        .assert_pallycon(StatusCode::OK, "7317");
    // Version 3: a real SPC version keyward does not open.
    send(RI, b"\x00\x00\x00\x03garbage\xff".to_vec())
        .await
        .assert_pallycon(StatusCode::OK, "7318");
    send(RI, b"\x00\x00\x00\x01garbage\xff".to_vec())
        .await
        .assert_pallycon(StatusCode::OK, "7317");
    send(RI, b"spc=%%%".to_vec())
        .await
        .assert_pallycon(StatusCode::OK, "7317");
    send(RI, form.clone().into_bytes())
        .await
        .assert_pallycon(StatusCode::OK, "7301");
    send("/v1/license/fairplay", Vec::new())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7305");
    send("/v1/license/fairplay", b"garbage!".to_vec())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7317");
    send("/v1/license/fairplay", form.into_bytes())
        .await
        .assert_problem(StatusCode::NOT_IMPLEMENTED, "7301");
    // The raw SPC as the body.
    send("/v1/license/fairplay", spc)
        .await
        .assert_problem(StatusCode::NOT_IMPLEMENTED, "7301");
}

#[tokio::test]
async fn certificate_paths() {
    let app = app().await;
    // FairPlay certificate as base64 text.
    let a = app
        .get(&format!("/ri/fpsKeyManager.do?siteId={CERT_SITE}"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type().starts_with("text/plain"));
    assert_eq!(a.text(), b64(FPS_CERT));
    // The docs' lowercase spelling of the parameter.
    let a = app
        .get(&format!("/ri/fpsKeyManager.do?siteid={CERT_SITE}"), None)
        .await;
    assert_eq!(a.text(), b64(FPS_CERT));
    // DER.
    let a = app
        .get(&format!("/ri/fpsCert.do?siteId={CERT_SITE}"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type(), "application/x-x509-ca-cert");
    assert_eq!(a.body.as_ref(), FPS_CERT);
    // Widevine service certificate.
    let a = app
        .get(&format!("/ri/widevineCert.do?siteId={CERT_SITE}"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type(), "application/octet-stream");
    assert_eq!(a.body.as_ref(), WV_CERT);

    for path in [
        "/ri/fpsKeyManager.do",
        "/ri/fpsCert.do",
        "/ri/widevineCert.do",
    ] {
        // Unknown site, malformed site id.
        app.get(&format!("{path}?siteId=NOPE"), None)
            .await
            .assert_pallycon(StatusCode::OK, "1003");
        app.get(&format!("{path}?siteId=%FF%00bad"), None)
            .await
            .assert_pallycon(StatusCode::OK, "1003");
        // Missing parameter.
        app.get(path, None)
            .await
            .assert_pallycon(StatusCode::OK, "9001");
        app.get(&format!("{path}?other=1"), None)
            .await
            .assert_pallycon(StatusCode::OK, "9001");
    }
    // A site without certificates.
    for path in ["/ri/fpsKeyManager.do", "/ri/fpsCert.do"] {
        app.get(&format!("{path}?siteId={SITE}"), None)
            .await
            .assert_pallycon(StatusCode::OK, "7315");
    }
    app.get(&format!("/ri/widevineCert.do?siteId={SITE}"), None)
        .await
        .assert_pallycon(StatusCode::OK, "7113");
}

#[tokio::test]
async fn generic_path_other_drms() {
    let app = app().await;
    let ncg = token(DrmType::Ncg, CID, &streaming());
    app.post(RI, Some(&ncg), "x")
        .await
        .assert_pallycon(StatusCode::OK, "9999");
    app.post(RI, None, "x")
        .await
        .assert_pallycon(StatusCode::OK, "7010");
}
