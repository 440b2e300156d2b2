//! FairPlay Streaming through keyward's own KSM, over the router: Apple's SDK
//! test SPCs with the development credentials stored for the test site, every
//! envelope and answer shape, the PallyCon, Studio and native front doors, the
//! certificate endpoints, the admin API, the D function as a real co-process
//! (healthy, wrong ASk, dead, slow, garbage), and every refusal with its code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::*;
use keyward_drm::fairplay::{OpenedSpc, Spc, SpcKey, SDK_TEST_DASK};
use keyward_server::config::{DaskSettings, DaskSource, UnenforceableOutput};
use keyward_server::Config;
use keyward_store::{
    ContentKey, FairPlayStore as _, FpsAsk, FpsSecretKey, KeyStore as _, Kid, NewContentKey,
    NewFairPlayCredential, SiteId, TrackType,
};
use keyward_token::{DrmType, Policy};
use serde_json::{json, Value};

const FIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fixtures/fairplay-ksm"
);
const DERIVED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fairplay-derived"
);
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/fairplay-dask/sdk-test-dask.sh"
);
const DEV_CERT_HASH: &str = "5561980aa51f03aa04bca24556c841a71736c771";
/// The key stored for content "one" (the asset id of most SDK SPCs).
const KEY_ONE: [u8; 16] = [0x51; 16];
const KID_ONE: [u8; 16] = [0x1d; 16];
const IV_ONE: [u8; 16] = [0x1f; 16];
const FP: &str = "/v1/license/fairplay";

fn fix(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{FIX}/{rel}")).unwrap()
}

fn derived(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DERIVED}/{rel}")).unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap()
}

fn form(spc: &[u8]) -> String {
    format!(
        "spc={}",
        b64(spc)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    )
}

/// An app whose TEST site holds the development credentials and a key for
/// content "one"; `dask` chooses the D function.
async fn fps_app(dask: DaskSource, tune: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.fairplay.dask = DaskSettings {
        source: dask,
        timeout_ms: 500,
        processes: 1,
    };
    tune(&mut cfg);
    let app = app_with(dir, cfg).await;
    let key = SpcKey::parse(&fix("Development Credentials/dev_private_key.pem"), None).unwrap();
    app.store
        .add_fairplay_credential(NewFairPlayCredential {
            site_id: SiteId::parse(SITE).unwrap(),
            cert_der: fix("Development Credentials/dev_certificate.der"),
            private_key: FpsSecretKey::from_der(key.pkcs8_der().to_vec()).unwrap(),
            ask: FpsAsk::new(SDK_TEST_DASK),
            label: Some("dev".into()),
        })
        .await
        .unwrap();
    app.store
        .put_key(
            NewContentKey {
                site_id: SiteId::parse(SITE).unwrap(),
                cid: "one".into(),
                track_type: TrackType::All,
                kid: Kid(KID_ONE),
                key: ContentKey::from_slice(&KEY_ONE).unwrap(),
                iv: Some(IV_ONE),
                label: None,
                period: None,
            },
            false,
        )
        .await
        .unwrap();
    app
}

async fn sdk_app() -> TestApp {
    fps_app(DaskSource::SdkTest, |_| {}).await
}

/// Reads a CKC made for `spc` (with the development key and the SDK DASk):
/// (content key, content IV, duration).
type Duration3 = Option<(u32, u32, u32)>;

fn open_ckc(spc: &[u8], ckc: &[u8]) -> ([u8; 16], [u8; 16], Duration3) {
    let key = SpcKey::parse(&fix("Development Credentials/dev_private_key.pem"), None).unwrap();
    let s = OpenedSpc::open(&Spc::parse(spc).unwrap(), &key)
        .unwrap()
        .unlock(&SDK_TEST_DASK)
        .unwrap();
    let c = s.read_ckc(ckc).unwrap();
    assert_eq!(c.r1, s.r1.to_vec());
    assert_eq!(c.others, s.echoes);
    (*c.content_key, c.content_iv, c.duration)
}

fn fp_token(cid: &str) -> String {
    token(DrmType::FairPlay, cid, &streaming())
}

async fn native(app: &TestApp, uri: &str, token: &str, body: impl Into<Body>) -> Answer {
    app.send(
        Request::post(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(body.into())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn pallycon_token_spc_form_answers_a_base64_ckc() {
    let app = sdk_app().await;
    let spc = fix("FPS/spc2.bin");
    let a = app
        .post("/ri/licenseManager.do", Some(&fp_token("one")), form(&spc))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "text/plain");
    let (key, iv, duration) = open_ckc(&spc, &unb64(&a.text()));
    assert_eq!(key, KEY_ONE);
    assert_eq!(iv, IV_ONE);
    assert_eq!(duration, None);
    // `<ckc>` on request.
    let a = app
        .post(
            "/ri/licenseManager.do?ckc_format=xml",
            Some(&fp_token("one")),
            form(&spc),
        )
        .await;
    let t = a.text();
    assert!(t.starts_with("<ckc>") && t.ends_with("</ckc>"), "{t}");
    assert_eq!(open_ckc(&spc, &unb64(&t[5..t.len() - 6])).0, KEY_ONE);
    let a = app
        .post(
            "/ri/licenseManager.do?ckc_format=nope",
            Some(&fp_token("one")),
            form(&spc),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "9001");
}

#[tokio::test]
async fn every_envelope_on_the_native_path() {
    let app = sdk_app().await;
    let spc = fix("FPS/spc2.bin");
    let tok = fp_token("one");
    // Raw in, raw out.
    let a = native(&app, FP, &tok, spc.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/octet-stream");
    assert_eq!(open_ckc(&spc, &a.body).0, KEY_ONE);
    // Bare base64.
    let a = native(&app, FP, &tok, b64(&spc)).await;
    assert_eq!(open_ckc(&spc, &unb64(&a.text())).0, KEY_ONE);
    // JSON.
    let a = native(
        &app,
        FP,
        &tok,
        json!({"spc": b64(&spc), "assetId": "one"}).to_string(),
    )
    .await;
    assert_eq!(a.content_type(), "application/json");
    assert_eq!(
        open_ckc(&spc, &unb64(a.json()["ckc"].as_str().unwrap())).0,
        KEY_ONE
    );
    // Apple's JSON.
    let body = json!({"fairplay-streaming-request": {"version": 1, "create-ckc": [{"id": 3, "spc": b64(&spc)}]}});
    let a = native(&app, FP, &tok, body.to_string()).await;
    let j = a.json();
    let item = &j["fairplay-streaming-response"]["create-ckc"][0];
    assert_eq!(item["id"], 3);
    assert_eq!(
        open_ckc(&spc, &unb64(item["ckc"].as_str().unwrap())).0,
        KEY_ONE
    );
    // Forced raw for a form.
    let a = native(&app, &format!("{FP}?ckc_format=raw"), &tok, form(&spc)).await;
    assert_eq!(open_ckc(&spc, &a.body).0, KEY_ONE);
}

#[tokio::test]
async fn lease_spcs_get_the_policy_duration() {
    let app = sdk_app().await;
    let policy = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600}}"#,
    )
    .unwrap();
    let tok = token(DrmType::FairPlay, "one", &policy);
    for rel in ["FPS-lease/spc1.bin", "FPS/spc2.bin"] {
        let spc = fix(rel);
        let a = native(&app, FP, &tok, spc.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{rel}: {}", a.text());
        let (_, _, d) = open_ckc(&spc, &a.body);
        // Only the client that sent a media playback state gets a duration.
        let want = rel.contains("lease").then_some((3600, 0, 0x1a4b_de7e));
        assert_eq!(d, want, "{rel}");
    }
    let offline = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":true,"rental_duration":86400,"playback_duration":7200}}"#,
    )
    .unwrap();
    let spc = fix("FPS-lease/spc2.bin");
    let a = native(
        &app,
        FP,
        &token(DrmType::FairPlay, "one", &offline),
        spc.clone(),
    )
    .await;
    assert_eq!(open_ckc(&spc, &a.body).2, Some((0, 7200, 0x3dfe_45a0)));
}

#[tokio::test]
async fn the_key_comes_from_the_token_or_a_kid_asset() {
    let app = sdk_app().await;
    // PallyCon external_key.hls_aes wins over the store.
    let carried = [0x77u8; 16];
    let policy = Policy::from_json(
        format!(
            r#"{{"policy_version":2,"playback_policy":{{"persistent":false}},"external_key":{{"hls_aes":[{{"track_type":"ALL","key":"{}","iv":"{}"}}]}}}}"#,
            hex::encode(carried),
            hex::encode([0x12u8; 16])
        )
        .as_bytes(),
    )
    .unwrap();
    let spc = fix("FPS/spc2.bin");
    let a = native(
        &app,
        FP,
        &token(DrmType::FairPlay, "one", &policy),
        spc.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let (key, iv, _) = open_ckc(&spc, &a.body);
    assert_eq!((key, iv), (carried, [0x12; 16]));
}

#[tokio::test]
async fn refusals_carry_their_codes_and_change_nothing() {
    let app = sdk_app().await;
    let before = app.counts().await;
    let spc = fix("FPS/spc2.bin");
    // The asset ("one") is not the entitled content.
    native(&app, FP, &fp_token("other"), spc.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7308");
    // SPC1's asset is binary: neither a content id nor a KID of the content.
    native(&app, FP, &fp_token("one"), fix("FPS/spc1.bin"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7308");
    // Truncated, empty, another version, garbage base64.
    native(&app, FP, &fp_token("one"), spc[..spc.len() - 16].to_vec())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7317");
    native(&app, FP, &fp_token("one"), Vec::new())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7305");
    let mut v3 = spc.clone();
    v3[3] = 3;
    let a = native(&app, FP, &fp_token("one"), v3).await;
    a.assert_problem(StatusCode::BAD_REQUEST, "7318");
    assert!(a.json()["detail"].as_str().unwrap().contains("version 3"));
    // The wrapped key altered.
    let mut k = spc.clone();
    k[100] ^= 1;
    native(&app, FP, &fp_token("one"), k)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7316");
    // The integrity value altered (inside the SK..R1 TLLV's last blocks).
    // An unknown certificate hash.
    let mut h = spc.clone();
    h[160] ^= 1;
    let a = native(&app, FP, &fp_token("one"), h).await;
    a.assert_problem(StatusCode::FORBIDDEN, "7320");
    // Expired token.
    let old = token_for(
        &creds_of(SITE),
        DrmType::FairPlay,
        "one",
        &streaming(),
        keyward_token::Timestamp::from_unix(keyward_token::Timestamp::now().unix() - 3600).unwrap(),
    );
    native(&app, FP, &old, spc.clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "7011");
    // HDCP asked: not enforceable → refused, never silently dropped.
    let hdcp = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false},"security_policy":[{"track_type":"ALL","fairplay":{"hdcp_enforcement":1,"allow_airplay":true,"allow_av_adapter":true}}]}"#,
    )
    .unwrap();
    let a = native(
        &app,
        FP,
        &token(DrmType::FairPlay, "one", &hdcp),
        spc.clone(),
    )
    .await;
    a.assert_problem(StatusCode::FORBIDDEN, "7322");
    assert!(a.json()["detail"].as_str().unwrap().contains("HDCP"));
    let airplay = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false},"security_policy":[{"track_type":"ALL","fairplay":{"hdcp_enforcement":-1,"allow_airplay":false,"allow_av_adapter":true}}]}"#,
    )
    .unwrap();
    native(
        &app,
        FP,
        &token(DrmType::FairPlay, "one", &airplay),
        spc.clone(),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "7322");
    // PallyCon dialect on the PallyCon path.
    app.post(
        "/ri/licenseManager.do",
        Some(&fp_token("other")),
        form(&spc),
    )
    .await
    .assert_pallycon(StatusCode::OK, "7308");
    assert_eq!(app.counts().await, before);
    // The permissive default FairPlay policy of the Java SDK is fine.
    let default = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false},"security_policy":[{"track_type":"ALL","fairplay":{"hdcp_enforcement":-1,"allow_airplay":true,"allow_av_adapter":true}}]}"#,
    )
    .unwrap();
    let a = native(
        &app,
        FP,
        &token(DrmType::FairPlay, "one", &default),
        spc.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn unenforceable_output_can_be_warned_instead() {
    let app = fps_app(DaskSource::SdkTest, |c| {
        c.fairplay.unenforceable_output = UnenforceableOutput::Warn;
    })
    .await;
    let hdcp = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false},"security_policy":[{"track_type":"ALL","fairplay":{"hdcp_enforcement":0}}]}"#,
    )
    .unwrap();
    let spc = fix("FPS/spc2.bin");
    let a = native(
        &app,
        FP,
        &token(DrmType::FairPlay, "one", &hdcp),
        spc.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn a_site_without_credentials_still_answers_7301() {
    let app = sdk_app().await;
    let spc = fix("FPS/spc2.bin");
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::FairPlay,
        "one",
        &streaming(),
        keyward_token::Timestamp::now(),
    );
    native(&app, FP, &tok, spc)
        .await
        .assert_problem(StatusCode::NOT_IMPLEMENTED, "7301");
}

#[tokio::test]
async fn no_d_function_is_a_coded_503() {
    let app = fps_app(DaskSource::None, |_| {}).await;
    let a = native(&app, FP, &fp_token("one"), fix("FPS/spc2.bin")).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7321");
    assert!(a.json()["detail"]
        .as_str()
        .unwrap()
        .contains("fairplay.dask"));
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn cmd(p: &Path) -> DaskSource {
    DaskSource::Command(vec![p.display().to_string()])
}

#[tokio::test]
async fn the_example_co_process_is_a_working_d_function() {
    let app = fps_app(DaskSource::Command(vec![EXAMPLE.into()]), |_| {}).await;
    let spc = fix("FPS/spc2.bin");
    for _ in 0..5 {
        let a = native(&app, FP, &fp_token("one"), spc.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(open_ckc(&spc, &a.body).0, KEY_ONE);
    }
}

#[tokio::test]
async fn a_failing_d_function_is_refused_fast_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let spc = fix("FPS/spc2.bin");
    // Answers with the DASk only for the right ASk (a real D function depends on
    // it): the wrong ASk gives another DASk, and the SPC fails its integrity check.
    let picky = script(
        dir.path(),
        "picky.sh",
        "while read r2 ask; do if [ \"$ask\" = d87ce7a26081de2e8eb8acef3a6dc179 ]; then echo d87ce7a26081de2e8eb8acef3a6dc179; else echo 00000000000000000000000000000000; fi; done",
    );
    let app = fps_app(cmd(&picky), |_| {}).await;
    let a = native(&app, FP, &fp_token("one"), spc.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    // The same certificate under another site id, with a wrong ASk.
    app.store
        .remove_fairplay_credential(&SiteId::parse(SITE).unwrap(), &hex_hash())
        .await
        .unwrap();
    let key = SpcKey::parse(&fix("Development Credentials/dev_private_key.pem"), None).unwrap();
    app.store
        .add_fairplay_credential(NewFairPlayCredential {
            site_id: SiteId::parse(SITE).unwrap(),
            cert_der: fix("Development Credentials/dev_certificate.der"),
            private_key: FpsSecretKey::from_der(key.pkcs8_der().to_vec()).unwrap(),
            ask: FpsAsk::new([9; 16]),
            label: None,
        })
        .await
        .unwrap();
    // The cache holds the old credential for the TTL; the admin path would
    // invalidate. Wait it out.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    native(&app, FP, &fp_token("one"), spc.clone())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7319");

    // Dies after each answer: the next request restarts it.
    let dying = script(
        dir.path(),
        "dying.sh",
        "read r2 ask; echo d87ce7a26081de2e8eb8acef3a6dc179",
    );
    let app = fps_app(cmd(&dying), |_| {}).await;
    let mut ok = 0;
    let mut refused = 0;
    for _ in 0..6 {
        let a = native(&app, FP, &fp_token("one"), spc.clone()).await;
        match a.status {
            StatusCode::OK => ok += 1,
            _ => {
                a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7321");
                refused += 1;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    assert!(ok >= 3, "ok {ok} refused {refused}");

    // Slow: refused at the timeout (500 ms), not hung.
    let slow = script(
        dir.path(),
        "slow.sh",
        "while read r2 ask; do sleep 5; echo d87ce7a26081de2e8eb8acef3a6dc179; done",
    );
    let app = fps_app(cmd(&slow), |_| {}).await;
    let t = std::time::Instant::now();
    let a = native(&app, FP, &fp_token("one"), spc.clone()).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7321");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    assert!(a.json()["detail"].as_str().unwrap().contains("timeout"));

    // Garbage, and an ERR line.
    for (name, body, word) in [
        (
            "garbage.sh",
            "while read r2 ask; do echo not-hex-at-all; done",
            "garbage",
        ),
        (
            "err.sh",
            "while read r2 ask; do echo ERR no; done",
            "refused",
        ),
        (
            "huge.sh",
            "while read r2 ask; do head -c 100000 /dev/zero | tr '\\0' a; echo; done",
            "garbage",
        ),
    ] {
        let p = script(dir.path(), name, body);
        let app = fps_app(cmd(&p), |_| {}).await;
        let a = native(&app, FP, &fp_token("one"), spc.clone()).await;
        a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7321");
        let detail = a.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(word), "{name}: {detail}");
        // Never the ASk or the DASk in an answer.
        assert!(!a.text().contains("d87ce7a2"), "{name}");
    }
    // A program that does not exist.
    let app = fps_app(
        DaskSource::Command(vec!["/nonexistent/d-function".into()]),
        |_| {},
    )
    .await;
    native(&app, FP, &fp_token("one"), spc.clone())
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7321");
}

fn hex_hash() -> [u8; 20] {
    let mut h = [0u8; 20];
    hex::decode_to_slice(DEV_CERT_HASH, &mut h).unwrap();
    h
}

#[tokio::test]
async fn certificate_endpoints_serve_the_newest_credential() {
    let app = sdk_app().await;
    let der = fix("Development Credentials/dev_certificate.der");
    let a = app
        .get(&format!("/ri/fpsCert.do?siteId={SITE}"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(&a.body[..], &der[..]);
    let a = app
        .get(&format!("/ri/fpsKeyManager.do?siteId={SITE}"), None)
        .await;
    assert_eq!(unb64(&a.text()), der);
    let a = app.get(&format!("/v1/fairplay/cert/{SITE}"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type(), "application/pkix-cert");
    assert_eq!(&a.body[..], &der[..]);
    // A site with neither credentials nor a configured certificate.
    app.get(&format!("/v1/fairplay/cert/{HTTP_SITE}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7315");
    app.get("/v1/fairplay/cert/NOPE", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "1003");
}

async fn admin(app: &TestApp, method: &str, uri: &str, body: Option<Value>) -> Answer {
    app.send(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn admin_api_adds_lists_and_removes_without_showing_secrets() {
    let app = sdk_app().await;
    let base = format!("/v1/admin/sites/{HTTP_SITE}/fairplay");
    let pem = |b: Vec<u8>| String::from_utf8(b).unwrap();
    let add = json!({
        "certificate": b64(&fix("Development Credentials/dev_certificate.der")),
        "private_key": pem(derived("dev_key_encrypted.pem")),
        "key_passphrase": "keyward-test",
        "ask": "d87ce7a26081de2e8eb8acef3a6dc179",
        "label": "2026"
    });
    let a = admin(&app, "POST", &base, Some(add.clone())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let j = a.json();
    assert_eq!(j["cert_hash"], DEV_CERT_HASH);
    assert_eq!(j["subject"], "C=US,O=Partner2,OU=Partner2,CN=Partner2");
    assert_eq!(j["serial"], "6e8053dc638f279d");
    assert_eq!(j["not_after"], "2013-10-17T01:57:22Z");
    assert_eq!(j["key_bits"], 1024);
    assert_eq!(j["label"], "2026");
    // Secrets are nowhere.
    for a in [a, admin(&app, "GET", &base, None).await] {
        let t = a.text();
        assert!(
            !t.contains("d87ce7a2") && !t.contains("PRIVATE") && !t.contains("ask\""),
            "{t}"
        );
    }
    let list = admin(&app, "GET", &base, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The site now answers FairPlay (through the admin path's cache drop).
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::FairPlay,
        "one",
        &streaming(),
        keyward_token::Timestamp::now(),
    );
    native(&app, FP, &tok, fix("FPS/spc2.bin"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7001");
    // Duplicates, bad inputs.
    admin(&app, "POST", &base, Some(add.clone()))
        .await
        .assert_problem(StatusCode::CONFLICT, "fairplay_credential_exists");
    for (field, value, word) in [
        (
            "private_key",
            json!(pem(derived("other_key.pem"))),
            "does not belong",
        ),
        ("key_passphrase", json!("wrong"), "passphrase"),
        ("ask", json!("abcd"), "32 hex digits"),
        ("certificate", json!("!!!"), "certificate"),
        (
            "private_key",
            json!(pem(derived("dev_key_legacy_des3.pem"))),
            "openssl pkcs8",
        ),
    ] {
        let mut body = add.clone();
        body[field] = value;
        let a = admin(
            &app,
            "POST",
            &format!("/v1/admin/sites/{CORS_SITE}/fairplay"),
            Some(body),
        )
        .await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
        assert!(
            a.json()["detail"].as_str().unwrap().contains(word),
            "{field}: {}",
            a.text()
        );
    }
    assert_eq!(
        admin(
            &app,
            "GET",
            &format!("/v1/admin/sites/{CORS_SITE}/fairplay"),
            None
        )
        .await
        .json(),
        json!([])
    );
    admin(
        &app,
        "POST",
        "/v1/admin/sites/NOPE/fairplay",
        Some(add.clone()),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "site_not_found");
    // Remove.
    let a = admin(&app, "DELETE", &format!("{base}/{DEV_CERT_HASH}"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    admin(&app, "DELETE", &format!("{base}/{DEV_CERT_HASH}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "fairplay_credential_not_found");
    admin(&app, "DELETE", &format!("{base}/xyz"), None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
    native(&app, FP, &tok, fix("FPS/spc2.bin"))
        .await
        .assert_problem(StatusCode::NOT_IMPLEMENTED, "7301");
}

#[tokio::test]
async fn an_spc_for_another_certificate_of_the_site_is_7320_until_it_is_added() {
    let app = sdk_app().await;
    // Replace the site's credential with an unrelated certificate.
    app.store
        .remove_fairplay_credential(&SiteId::parse(SITE).unwrap(), &hex_hash())
        .await
        .unwrap();
    let a = admin(
        &app,
        "POST",
        &format!("/v1/admin/sites/{SITE}/fairplay"),
        Some(json!({
            "certificate": String::from_utf8(derived("other_cert.pem")).unwrap(),
            "private_key": String::from_utf8(derived("other_key.pem")).unwrap(),
            "ask": "00112233445566778899aabbccddeeff",
        })),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let a = native(&app, FP, &fp_token("one"), fix("FPS/spc2.bin")).await;
    a.assert_problem(StatusCode::FORBIDDEN, "7320");
    assert!(a.json()["detail"].as_str().unwrap().contains(DEV_CERT_HASH));
}

#[tokio::test]
async fn a_studio_token_licenses_fairplay_once() {
    let app = sdk_app().await;
    let a = admin(
        &app,
        "POST",
        "/v1/admin/clients",
        Some(json!({"name": "acme", "site_id": SITE, "settings": {}, "label": "backend"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let api_key = a.json()["api_key"].as_str().unwrap().to_owned();
    let mint = |policy: Value| {
        let app = &app;
        let api_key = api_key.clone();
        async move {
            let a = app
                .send(
                    Request::post("/v2/token")
                        .header("x-api-key", api_key)
                        .header("content-type", "application/json")
                        .body(Body::from(
                            json!({"clientName": "acme", "policy": policy}).to_string(),
                        ))
                        .unwrap(),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            a.text()
        }
    };
    let tok = mint(json!({"content_id": "one", "fairplay": {"license_type": "l", "license_duration_seconds": 900}})).await;
    let spc = fix("FPS-lease/spc3.bin");
    let send = |tok: String| {
        let app = &app;
        let spc = spc.clone();
        async move {
            app.send(
                Request::post(FP)
                    .header("x-vudrm-token", tok)
                    .body(Body::from(form(&spc)))
                    .unwrap(),
            )
            .await
        }
    };
    let a = send(tok.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let (key, _, d) = open_ckc(&spc, &unb64(&a.text()));
    assert_eq!(key, KEY_ONE);
    assert_eq!(d, Some((900, 0, 0x1a4b_de7e)));
    // Single use.
    send(tok)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "studio_token_used");
    // A token for other content.
    let other = mint(json!({"content_id": "two"})).await;
    send(other)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7308");
}

#[tokio::test]
async fn an_expressplay_fairplay_token_carries_its_key_into_the_ckc() {
    use keyward_store::customers::hash_authenticator;
    use keyward_store::{CustomerSettings, CustomerStore as _, NewCustomer};
    let app = sdk_app().await;
    for (id, auth, site) in [
        ("acme", "acme-auth", Some(SITE)),
        ("loose", "loose-auth", None),
    ] {
        app.store
            .create_customer(NewCustomer {
                customer_id: id.into(),
                test_hash: hash_authenticator(auth),
                production_hash: hash_authenticator(&format!("{auth}-prod")),
                settings: CustomerSettings {
                    site_id: site.map(|s| SiteId::parse(s).unwrap()),
                    ..CustomerSettings::default()
                },
            })
            .await
            .unwrap();
    }
    let key = [0xc7u8; 16];
    let mint = |auth: &'static str| {
        let app = &app;
        async move {
            let a = app
                .get(
                    &format!(
                        "/hms/fp/token?customerAuthenticator={auth}&kid={}&contentKey={}&errorFormat=json",
                        hex::encode([0xe1u8; 16]),
                        hex::encode(key)
                    ),
                    None,
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            let url = a.text();
            assert!(url.contains("/hms/fp/rights/?ExpressPlayToken="), "{url}");
            url[url.find("/hms/").unwrap()..].to_owned()
        }
    };
    let path = mint("acme-auth").await;
    // The asset id is whatever the player's skd:// says: the token's key is the licence.
    for rel in ["FPS/spc2.bin", "FPS/spc1.bin"] {
        let spc = fix(rel);
        let a = app.post(&path, None, form(&spc)).await;
        assert_eq!(a.status, StatusCode::OK, "{rel}: {}", a.text());
        assert_eq!(open_ckc(&spc, &unb64(&a.text())).0, key, "{rel}");
    }
    // The token is for FairPlay only.
    let ck = path.replace("/hms/fp/", "/hms/ck/");
    let a = app
        .post(&format!("{ck}&errorFormat=json"), None, "{}")
        .await;
    assert_eq!(a.json()["errorCode"], -4010, "{}", a.text());
    // A customer without a site has no FairPlay credentials.
    let loose = mint("loose-auth").await;
    let a = app
        .post(
            &format!("{loose}&errorFormat=json"),
            None,
            form(&fix("FPS/spc2.bin")),
        )
        .await;
    assert_eq!(a.json()["errorCode"], -2030, "{}", a.text());
    assert!(a.text().contains("FairPlay"), "{}", a.text());
}
