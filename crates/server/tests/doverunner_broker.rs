//! Kind `doverunner`: keyward mints a PallyCon/DoveRunner v2 licence token for
//! the upstream site from the entitlement and forwards the raw challenge with
//! it. Against a mock DoveRunner licence server on loopback (axum) that
//! verifies each token independently — its own AES-256-CBC decryption of the
//! policy (site key, the fixed IV `0123456789abcdef`, PKCS#7) and its own
//! SHA-256 hash check (access key ‖ drm_type ‖ site_id ‖ user_id ‖ cid ‖
//! policy ‖ timestamp), written from the token description, not with
//! keyward-token's code — and answers recognisable licences per DRM, or
//! DoveRunner's `{"errorCode","message"}`, or nothing. A matrix of credentials
//! (PallyCon tokens for Widevine, PlayReady and FairPlay, a Studio token, an
//! ExpressPlay token with its key) checks the translated policy field by
//! field; licences are relayed byte for byte; refusals are coded in the
//! PallyCon and native dialects; failover on a 5xx without a body.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aes::cipher::{BlockDecrypt as _, KeyInit as _};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use keyward_store::customers::hash_authenticator;
use keyward_store::{CustomerSettings, CustomerStore as _, NewCustomer, SiteId};
use keyward_token::{DrmType, Policy, Timestamp};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// The upstream DoveRunner site.
const DOVE: &str = "DOVE";
const DOVE_SITE_KEY: &str = "dove-site-key-0123456789abcdef-X";
const DOVE_ACCESS_KEY: &str = "dove-access-key-0123456789abcdef";
const WV: &str = "/v1/license/widevine";
const PRN: &str = "/v1/license/playready";
const FP: &str = "/v1/license/fairplay";
const RI: &str = "/ri/licenseManager.do";
const CKC_TAIL: &[u8] = b"DOVERUNNER-CKC-\x00\x01\x02\xfe\xff-0123456789";

/// One request the mock saw, with its token opened.
#[derive(Clone, Debug)]
struct Seen {
    mode: String,
    headers: HeaderMap,
    body: Vec<u8>,
    token: Value,
    policy: Value,
}

#[derive(Default)]
struct Mock {
    seen: Mutex<Vec<Seen>>,
}

impl Mock {
    fn calls(&self, mode: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.mode == mode)
            .count()
    }

    fn last(&self, mode: &str) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.mode == mode)
            .cloned()
            .unwrap_or_else(|| panic!("the mock saw no valid {mode} request"))
    }
}

/// AES-256-CBC decryption with PKCS#7, block by block (the mock's own).
fn decrypt_policy(b64: &str) -> Option<Vec<u8>> {
    let ct = STANDARD.decode(b64).ok()?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return None;
    }
    let aes = aes::Aes256::new_from_slice(DOVE_SITE_KEY.as_bytes()).ok()?;
    let mut prev: [u8; 16] = *b"0123456789abcdef";
    let mut out = Vec::with_capacity(ct.len());
    for block in ct.chunks(16) {
        let mut b = aes::cipher::generic_array::GenericArray::clone_from_slice(block);
        aes.decrypt_block(&mut b);
        out.extend(b.iter().zip(prev).map(|(x, p)| x ^ p));
        prev.copy_from_slice(block);
    }
    let pad = usize::from(*out.last()?);
    if !(1..=16).contains(&pad)
        || out[out.len() - pad..]
            .iter()
            .any(|b| usize::from(*b) != pad)
    {
        return None;
    }
    out.truncate(out.len() - pad);
    Some(out)
}

/// The token opened and checked as a DoveRunner server would: `Err` is
/// DoveRunner's error answer.
fn open_token(headers: &HeaderMap) -> Result<(Value, Value), (&'static str, &'static str)> {
    let raw = headers
        .get("pallycon-customdata-v2")
        .and_then(|v| v.to_str().ok())
        .ok_or(("7010", "Token data not found"))?;
    let tok: Value = STANDARD
        .decode(raw)
        .ok()
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or(("7009", "Token parsing error"))?;
    let s = |k: &str| tok[k].as_str().unwrap_or_default().to_owned();
    if s("site_id") != DOVE {
        return Err(("1003", "Site ID not found"));
    }
    let mut h = Sha256::new();
    for part in [
        DOVE_ACCESS_KEY.to_owned(),
        s("drm_type"),
        s("site_id"),
        s("user_id"),
        s("cid"),
        s("policy"),
        s("timestamp"),
    ] {
        h.update(part.as_bytes());
    }
    if STANDARD.encode(h.finalize()) != s("hash") {
        return Err(("7019", "Token hash mismatch"));
    }
    let ts = Timestamp::parse(&s("timestamp")).map_err(|_| ("7013", "Invalid token JSON"))?;
    if (ts.unix() - Timestamp::now().unix()).abs() > 60 {
        return Err(("7011", "Token time expired"));
    }
    let policy: Value = decrypt_policy(&s("policy"))
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or(("7016", "Invalid token"))?;
    Ok((tok, policy))
}

fn error(code: &str, message: &str) -> Response {
    (
        [("content-type", "application/json")],
        json!({"errorCode": code, "message": message}).to_string(),
    )
        .into_response()
}

/// The Widevine licence the mock answers (binary, recognisable).
fn wv_licence(mode: &str) -> Vec<u8> {
    let mut b = b"\x08\x02\x12\x20DOVERUNNER-WIDEVINE-LICENCE\x00\xff\r\n".to_vec();
    b.extend_from_slice(mode.as_bytes());
    b
}

/// The PlayReady licence: SOAP XML with bytes re-encoding would change.
fn pr_licence(mode: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>\t\
         <soap:Body><AcquireLicenseResponse xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols\"><AcquireLicenseResult>\
         <Response><LicenseResponse><Licenses><License>WE1SAAAAAwAAAAAAAAAA</License></Licenses>\
         <Note>{mode} caf\u{e9} &amp;  </Note></LicenseResponse></Response></AcquireLicenseResult></AcquireLicenseResponse></soap:Body></soap:Envelope>\r\n"
    )
    .into_bytes()
}

/// The CKC the mock answers for an SPC.
fn ckc_for(spc: &[u8]) -> Vec<u8> {
    let mut c = vec![0, 0, 0, 1];
    c.extend_from_slice(&Sha256::digest(spc));
    c.extend_from_slice(CKC_TAIL);
    c
}

/// The mock: `POST /{mode}/ri/licenseManager.do`.
async fn server(
    State(m): State<Arc<Mock>>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match mode.as_str() {
        "down" => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "busy" => return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "forbidden" => return (StatusCode::FORBIDDEN, "no").into_response(),
        _ => {}
    }
    let (token, policy) = match open_token(&headers) {
        Ok(t) => t,
        Err((code, message)) => return error(code, message),
    };
    m.seen.lock().unwrap().push(Seen {
        mode: mode.clone(),
        headers: headers.clone(),
        body: body.to_vec(),
        token: token.clone(),
        policy,
    });
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match mode.as_str() {
        "refuse" => return error("7011", "Token time expired\n(at the upstream)"),
        "empty" => return StatusCode::OK.into_response(),
        _ => {}
    }
    match token["drm_type"].as_str().unwrap_or_default() {
        "Widevine" if ct == "application/octet-stream" => (
            [("content-type", "application/octet-stream")],
            wv_licence(&mode),
        )
            .into_response(),
        "PlayReady" if ct == "application/octet-stream" => (
            [("content-type", "text/xml; charset=utf-8")],
            pr_licence(&mode),
        )
            .into_response(),
        "FairPlay" if ct == "application/x-www-form-urlencoded" => {
            let spc = form_urlencoded::parse(&body)
                .find(|(k, _)| k == "spc")
                .and_then(|(_, v)| STANDARD.decode(v.as_bytes()).ok());
            match spc {
                Some(spc) if !spc.is_empty() => STANDARD.encode(ckc_for(&spc)).into_response(),
                _ => error("7305", "FairPlay SPC is empty"),
            }
        }
        _ => error("9001", "bad request"),
    }
}

async fn mock() -> (String, Arc<Mock>) {
    let m = Arc::new(Mock::default());
    let app = Router::new()
        .route("/{mode}/ri/licenseManager.do", post(server))
        .with_state(m.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), m)
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

/// Adds a `doverunner` upstream of SITE for a DRM, at `{base}/{mode}/ri/licenseManager.do`.
async fn add(app: &TestApp, drm: &str, name: &str, base: &str, mode: &str, settings: Value) {
    let mut s = json!({"site_id": DOVE});
    for (k, v) in settings.as_object().unwrap() {
        s[k] = v.clone();
    }
    let a = admin(
        app,
        "POST",
        &format!("/v1/admin/sites/{SITE}/upstreams"),
        Some(json!({"name": name, "drm": drm, "kind": "doverunner",
            "url": format!("{base}/{mode}/ri/licenseManager.do"), "settings": s,
            "secrets": {"keyward-site-key": DOVE_SITE_KEY, "keyward-access-key": DOVE_ACCESS_KEY,
                "X-Api-Key": "plain-secret-header"}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
}

fn policy(j: Value) -> Policy {
    Policy::from_json(j.to_string().as_bytes()).unwrap()
}

fn tok(drm: DrmType, cid: &str, p: &Policy) -> String {
    token(drm, cid, p)
}

/// The private secrets never travel; the token does; plain secrets do.
fn headers_ok(s: &Seen) {
    for (name, value) in &s.headers {
        let v = value.to_str().unwrap_or_default();
        assert!(!name.as_str().starts_with("keyward-"), "{name} sent");
        assert!(
            !v.contains(DOVE_SITE_KEY) && !v.contains(DOVE_ACCESS_KEY),
            "{name} carries a private secret"
        );
    }
    assert_eq!(s.headers["x-api-key"], "plain-secret-header");
    assert_eq!(s.token["site_id"], DOVE);
    assert_eq!(s.token["response_format"], "original");
}

fn no_secrets(a: &Answer) {
    let text = String::from_utf8_lossy(&a.body);
    assert!(!text.contains(DOVE_SITE_KEY) && !text.contains(DOVE_ACCESS_KEY));
}

/// `external_key.mpeg_cenc` as (track, kid, key) hex, sorted.
fn cenc(p: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = p["external_key"]["mpeg_cenc"]
        .as_array()
        .unwrap_or_else(|| panic!("no mpeg_cenc in {p}"))
        .iter()
        .map(|k| {
            (
                k["track_type"].as_str().unwrap().to_owned(),
                k["key_id"].as_str().unwrap().to_owned(),
                k["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn row(t: &str, kid: [u8; 16], key: [u8; 16]) -> (String, String, String) {
    (t.to_owned(), hex::encode(kid), hex::encode(key))
}

#[tokio::test]
async fn a_pallycon_widevine_token_becomes_the_same_policy_for_doverunner() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, "Widevine", "dove", &base, "ok", json!({})).await;
    let security = json!([
        {"track_type": "HD", "widevine": {"security_level": 5, "required_hdcp_version": "HDCP_V2_2",
            "required_cgms_flags": "COPY_NEVER", "disable_analog_output": true, "hdcp_srm_rule": "CURRENT_SRM"},
         "playready": {"security_level": 3000}},
        {"track_type": "ALL", "widevine": {"security_level": 1, "required_hdcp_version": "HDCP_NONE",
            "override_device_revocation": false}},
        {"track_type": "SD", "playready": {"security_level": 2000}}
    ]);
    let playback = json!({"persistent": true, "license_duration": 86400, "rental_duration": 7200,
        "playback_duration": 3600, "allowed_track_types": "SD_HD", "renewal_duration": 300});
    let p = policy(
        json!({"policy_version": 2, "playback_policy": playback, "security_policy": security}),
    );
    let t = tok(DrmType::Widevine, CID_MULTI, &p);
    let challenge = widevine_license_request(KID_HD);
    for (path, dialect) in [(RI, "pallycon"), (WV, "native")] {
        let a = app.post(path, Some(&t), challenge.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{dialect}: {}", a.text());
        assert_eq!(a.content_type(), "application/octet-stream");
        assert_eq!(
            a.body.to_vec(),
            wv_licence("ok"),
            "{dialect}: byte for byte"
        );
        no_secrets(&a);
        let s = m.last("ok");
        headers_ok(&s);
        assert_eq!(s.body, challenge, "the raw challenge");
        assert_eq!(s.headers["content-type"], "application/octet-stream");
        assert_eq!(s.token["drm_type"], "Widevine");
        assert_eq!(s.token["user_id"], "user-1");
        assert_eq!(s.token["cid"], CID_MULTI);
        assert_eq!(s.policy["policy_version"], 2);
        assert_eq!(s.policy["playback_policy"], playback);
        // The Widevine sections, as they came; the PlayReady ones say nothing
        // about a Widevine licence.
        assert_eq!(
            s.policy["security_policy"],
            json!([
                {"track_type": "HD", "widevine": security[0]["widevine"]},
                {"track_type": "ALL", "widevine": security[1]["widevine"]}
            ])
        );
        // keyward's keys for the content (SD, HD and audio: all released by SD_HD).
        assert_eq!(
            cenc(&s.policy),
            vec![
                row("AUDIO", KID_AUDIO, KEY_AUDIO),
                row("HD", KID_HD, KEY_HD),
                row("SD", KID_SD, KEY_SD)
            ]
        );
    }
    assert_eq!(m.calls("ok"), 2);

    // Keys the token carries go first (no duplicate from the store), and an
    // absolute end without a duration is the expire_date.
    let p = policy(json!({"policy_version": 2,
        "playback_policy": {"persistent": false, "expire_date": "2099-01-01T00:00:00Z"},
        "external_key": {"mpeg_cenc": [{"track_type": "ALL", "key_id": hex::encode([0x44; 16]),
            "key": hex::encode([0x55; 16]), "iv": hex::encode([0x66; 16])}]}}));
    let a = app
        .post(
            WV,
            Some(&tok(DrmType::Widevine, CID, &p)),
            challenge.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let s = m.last("ok");
    assert_eq!(
        s.policy["playback_policy"],
        json!({"persistent": false, "expire_date": "2099-01-01T00:00:00Z"})
    );
    assert_eq!(s.policy.get("security_policy"), None);
    assert_eq!(
        cenc(&s.policy),
        vec![
            row("ALL", [0x11; 16], [0xa1; 16]),
            row("ALL", [0x44; 16], [0x55; 16])
        ]
    );
    let carried = s.policy["external_key"]["mpeg_cenc"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == hex::encode([0x44; 16]))
        .unwrap()
        .clone();
    assert_eq!(carried["iv"], hex::encode([0x66; 16]));

    // The client SDKs' device info goes to DoveRunner as the player sent it;
    // without it, no such header.
    let meta = "eyJkZXZpY2VfaW5mbyI6eyJkZXZpY2VfbW9kZWwiOiJQaXhlbCA4In19";
    let a = app
        .send(
            Request::post(WV)
                .header("pallycon-customdata-v2", &t)
                .header("pallycon-client-meta", meta)
                .body(axum::body::Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(m.last("ok").headers["pallycon-client-meta"], meta);
    app.post(WV, Some(&t), challenge.clone()).await;
    assert!(m.last("ok").headers.get("pallycon-client-meta").is_none());
}

#[tokio::test]
async fn key_source_upstream_sends_no_keys_and_the_certificate_request_needs_none() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        "Widevine",
        "dove",
        &base,
        "kms",
        json!({"key_source": "upstream"}),
    )
    .await;
    let t = tok(DrmType::Widevine, CID, &streaming());
    let a = app
        .post(WV, Some(&t), widevine_license_request(KID_ALL))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let s = m.last("kms");
    assert_eq!(
        s.policy,
        json!({"policy_version": 2, "playback_policy": {"persistent": false}})
    );
    assert_eq!(s.token["cid"], CID);

    // The service certificate comes from the route (fetched once), with a token.
    let a = app.post(WV, Some(&t), vec![0x08, 0x04]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), wv_licence("kms"));
    assert_eq!(m.last("kms").body, vec![0x08, 0x04]);
}

#[tokio::test]
async fn playready_through_doverunner() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, "PlayReady", "dove", &base, "ok", json!({})).await;
    let security = json!([{"playready": {"security_level": 3000, "digital_video_protection_level": 300,
        "analog_video_protection_level": 200, "digital_audio_protection_level": 250,
        "require_hdcp_type_1": true}, "widevine": {"security_level": 5}}]);
    let p = policy(
        json!({"policy_version": 2, "playback_policy": {"persistent": false, "license_duration": 600},
        "security_policy": security}),
    );
    let t = tok(DrmType::PlayReady, CID, &p);
    let body = playready_challenge(None);
    for path in [PRN, "/ri/playready/licenseManager.do"] {
        let a = app.post(path, Some(&t), body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        assert_eq!(a.content_type(), "text/xml; charset=utf-8");
        assert_eq!(a.body.to_vec(), pr_licence("ok"), "{path}: byte for byte");
        let s = m.last("ok");
        headers_ok(&s);
        assert_eq!(s.body, body.as_bytes());
        assert_eq!(s.headers["content-type"], "application/octet-stream");
        assert_eq!(s.token["drm_type"], "PlayReady");
        assert_eq!(
            s.policy["security_policy"],
            json!([{"playready": security[0]["playready"]}])
        );
        assert_eq!(
            s.policy["playback_policy"],
            json!({"persistent": false, "license_duration": 600})
        );
        // The challenge's key id resolved in the store.
        assert_eq!(cenc(&s.policy), vec![row("ALL", KID_ALL, KEY_ALL)]);
    }
}

#[tokio::test]
async fn fairplay_through_doverunner_with_the_output_rules_in_the_token() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, "FairPlay", "dove", &base, "ok", json!({})).await;
    // Rules keyward's own KSM would refuse (7322) travel in the token.
    let security = json!([{"fairplay": {"hdcp_enforcement": 1, "allow_airplay": false,
        "allow_av_adapter": true}}]);
    let p = policy(
        json!({"policy_version": 2, "playback_policy": {"persistent": false},
        "security_policy": security}),
    );
    let t = tok(DrmType::FairPlay, CID, &p);
    let spc = fairplay_spc();
    let want = ckc_for(&spc);
    // The native path: raw SPC in, raw CKC out.
    let a = app.post(FP, Some(&t), spc.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), want, "the raw CKC, byte for byte");
    let s = m.last("ok");
    headers_ok(&s);
    assert_eq!(
        s.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        String::from_utf8(s.body.clone()).unwrap(),
        format!("spc={}", q(&STANDARD.encode(&spc)))
    );
    assert_eq!(s.token["drm_type"], "FairPlay");
    assert_eq!(s.policy["security_policy"], security);
    assert_eq!(
        s.policy["external_key"],
        json!({"hls_aes": [{"track_type": "ALL", "key_id": hex::encode(KID_ALL),
            "key": hex::encode(KEY_ALL), "iv": hex::encode([0u8; 16])}]})
    );
    // The PallyCon path: the player's form in, base64 of the same CKC out.
    let form = format!("spc={}", q(&STANDARD.encode(&spc)));
    let a = app.post(RI, Some(&t), form).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(STANDARD.decode(a.text().trim()).unwrap(), want);
}

#[tokio::test]
async fn studio_and_expressplay_credentials_reach_doverunner() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, "Widevine", "dove", &base, "ok", json!({})).await;

    // A Studio token: the client stands in for the user.
    let a = admin(
        &app,
        "POST",
        "/v1/admin/clients",
        Some(json!({"name": "acme", "site_id": SITE, "settings": {}, "label": "backend"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let key = a.json()["api_key"].as_str().unwrap().to_owned();
    let a = app
        .send(
            Request::post("/v2/token")
                .header("x-api-key", key)
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"clientName": "acme", "policy": {"content_id": CID, "offline": true,
                        "rental_duration_seconds": 86400, "firstplayback_seconds": 3600,
                        "widevine": {"security_level": 3}}})
                    .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let studio = a.text();
    let challenge = widevine_license_request(KID_ALL);
    let a = app
        .send(
            Request::post(WV)
                .header("x-vudrm-token", &studio)
                .body(Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), wv_licence("ok"));
    let s = m.last("ok");
    headers_ok(&s);
    assert_eq!(s.token["user_id"], "acme");
    assert_eq!(s.token["cid"], CID);
    assert_eq!(
        s.policy["playback_policy"],
        json!({"persistent": true, "license_duration": 86400, "rental_duration": 86400,
            "playback_duration": 3600})
    );
    assert_eq!(
        s.policy["security_policy"],
        json!([{"widevine": {"security_level": 3}}])
    );
    assert_eq!(cenc(&s.policy), vec![row("ALL", KID_ALL, KEY_ALL)]);

    // An ExpressPlay token: its key is the licence's, its expiry caps it.
    const AUTH: &str = "acme-test-authenticator-00000001";
    const EP_KID: [u8; 16] = [0x5a; 16];
    const EP_KEY: [u8; 16] = [0xc3; 16];
    app.store
        .create_customer(NewCustomer {
            customer_id: "acme".into(),
            test_hash: hash_authenticator(AUTH),
            production_hash: hash_authenticator("acme-prod-authenticator-00000001"),
            settings: CustomerSettings {
                site_id: Some(SiteId::parse(SITE).unwrap()),
                ..CustomerSettings::default()
            },
        })
        .await
        .unwrap();
    let a = app
        .get(
            &format!(
                "/hms/wv/token?customerAuthenticator={AUTH}&kid={}&contentKey={}&securityLevel=5&hdcpOutputControl=1&contentId=ep-content",
                hex::encode(EP_KID),
                hex::encode(EP_KEY)
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let path = a
        .text()
        .trim_start_matches("http://127.0.0.1:8080")
        .to_owned();
    let challenge = widevine_license_request(EP_KID);
    let a = app.post(&path, None, challenge.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), wv_licence("ok"));
    let s = m.last("ok");
    headers_ok(&s);
    assert_eq!(s.token["user_id"], "acme");
    assert_eq!(s.token["cid"], "ep-content");
    assert_eq!(cenc(&s.policy), vec![row("ALL", EP_KID, EP_KEY)]);
    assert_eq!(
        s.policy["security_policy"],
        json!([{"widevine": {"security_level": 5, "required_hdcp_version": "HDCP_V1"}}])
    );
    let pb = &s.policy["playback_policy"];
    assert_eq!(pb["persistent"], false);
    assert!(
        pb["license_duration"].as_u64().is_some_and(|d| d > 0) || pb["expire_date"].is_string(),
        "the token's expiry bounds the licence: {pb}"
    );
}

#[tokio::test]
async fn doverunner_refusals_are_coded_and_failover_only_when_nothing_answered() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, "Widevine", "refuser", &base, "refuse", json!({})).await;
    let t = tok(DrmType::Widevine, CID, &streaming());
    let challenge = widevine_license_request(KID_ALL);
    // PallyCon dialect: HTTP 200, our code, the upstream's in the message.
    let a = app.post(RI, Some(&t), challenge.clone()).await;
    a.assert_pallycon(StatusCode::OK, "7602");
    let msg = a.json()["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("7011") && msg.contains("Token time expired"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    // Native: 502 problem+json.
    app.post(WV, Some(&t), challenge.clone())
        .await
        .assert_problem(StatusCode::BAD_GATEWAY, "7602");
    assert_eq!(m.calls("refuse"), 2);

    // Failover: a 5xx without a body goes to the next route; an errorCode
    // answer does not.
    let app = common::app().await;
    add(&app, "Widevine", "down", &base, "down", json!({})).await;
    add(&app, "Widevine", "ok", &base, "ok", json!({})).await;
    let a = app.post(WV, Some(&t), challenge.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), wv_licence("ok"));

    let app = common::app().await;
    add(&app, "Widevine", "refuser", &base, "refuse", json!({})).await;
    add(&app, "Widevine", "ok", &base, "ok", json!({})).await;
    let before = m.calls("ok");
    app.post(WV, Some(&t), challenge.clone())
        .await
        .assert_problem(StatusCode::BAD_GATEWAY, "7602");
    assert_eq!(m.calls("ok"), before, "no failover after a refusal");

    // Nothing answered anywhere: the back door's own code (7115).
    let app = common::app().await;
    add(&app, "Widevine", "down", &base, "down", json!({})).await;
    app.post(WV, Some(&t), challenge.clone())
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7115");

    // 503 with a body: 7603; another status: 7602; an empty 200: 7604.
    for (mode, status, code) in [
        ("busy", StatusCode::SERVICE_UNAVAILABLE, "7603"),
        ("forbidden", StatusCode::BAD_GATEWAY, "7602"),
        ("empty", StatusCode::BAD_GATEWAY, "7604"),
    ] {
        let app = common::app().await;
        add(&app, "Widevine", mode, &base, mode, json!({})).await;
        app.post(WV, Some(&t), challenge.clone())
            .await
            .assert_problem(status, code);
    }

    // Wrong upstream credentials: DoveRunner's hash error, carried.
    let app = common::app().await;
    let a = admin(
        &app,
        "POST",
        &format!("/v1/admin/sites/{SITE}/upstreams"),
        Some(json!({"name": "wrong", "drm": "Widevine", "kind": "doverunner",
            "url": format!("{base}/ok/ri/licenseManager.do"), "settings": {"site_id": DOVE},
            "secrets": {"keyward-site-key": DOVE_SITE_KEY, "keyward-access-key": "another-access-key-0123456789abc"}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let a = app.post(RI, Some(&t), challenge.clone()).await;
    a.assert_pallycon(StatusCode::OK, "7602");
    assert!(a.json()["message"].as_str().unwrap().contains("7019"));
}

#[tokio::test]
async fn admin_api_checks_doverunner_settings_and_never_returns_the_keys() {
    let app = common::app().await;
    let add = |settings: Value, secrets: Value, drm: &str| {
        json!({"name": "dove", "drm": drm, "kind": "doverunner",
            "url": "https://license.pallycon.com/ri/licenseManager.do",
            "settings": settings, "secrets": secrets})
    };
    let both = json!({"keyward-site-key": DOVE_SITE_KEY, "keyward-access-key": DOVE_ACCESS_KEY});
    let uri = format!("/v1/admin/sites/{SITE}/upstreams");
    for (settings, secrets, drm) in [
        (json!({}), both.clone(), "Widevine"),
        (json!({"site_id": "dove"}), both.clone(), "Widevine"),
        (
            json!({"site_id": DOVE, "key_source": "kms"}),
            both.clone(),
            "Widevine",
        ),
        (
            json!({"site_id": DOVE}),
            json!({"keyward-site-key": DOVE_SITE_KEY}),
            "Widevine",
        ),
        (json!({"site_id": DOVE}), both.clone(), "ClearKey"),
    ] {
        let a = admin(&app, "POST", &uri, Some(add(settings, secrets, drm))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    }
    let a = admin(
        &app,
        "POST",
        &uri,
        Some(add(json!({"site_id": DOVE}), both, "FairPlay")),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let a = admin(&app, "GET", &uri, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let text = a.text();
    assert!(text.contains("doverunner"));
    assert!(!text.contains(DOVE_SITE_KEY) && !text.contains(DOVE_ACCESS_KEY));
}
