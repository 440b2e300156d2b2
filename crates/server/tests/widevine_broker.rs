//! Widevine through the `widevine-cloud` upstream kind, against a mock of
//! Google's Widevine cloud licence proxy protocol on loopback (axum), written
//! from the protocol description and not from keyward's code: it checks the
//! envelope's signature itself (AES-256-CBC with the configured key and IV,
//! decrypted block by block, of SHA-1 of the message), records the decoded
//! message, and answers `{"status":"OK","license":…}` — or refuses, answers
//! garbage, 5xx, hangs, on demand.
//!
//! What is checked: the translation of entitlements (PallyCon policies with
//! Widevine security levels, HDCP and CGMS per track, persistent and
//! streaming timing, carried and stored keys; ExpressPlay tokens) into the
//! message; the licence relayed byte for byte; the refusal codes; failover;
//! the service certificate fetched once per route and cached; the signing
//! secrets never sent as headers nor shown in any answer; the PallyCon path,
//! the native path and ExpressPlay's `/hms/wv/rights/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes::cipher::{BlockDecrypt as _, KeyInit as _};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use common::*;
use keyward_store::customers::hash_authenticator;
use keyward_store::{CustomerSettings, CustomerStore as _, NewCustomer, SiteId};
use keyward_token::{DrmType, Policy, Timestamp};
use serde_json::{json, Value};
use sha1::Digest as _;

/// The public `widevine_test` signing credentials (shaka-packager
/// `docs/source/tutorials/widevine.rst`; Google's reference proxies).
const KEY_HEX: &str = "1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9";
const IV_HEX: &str = "d58ce954203b7c9a9a9d467f59839249";
/// A secret that is a plain secret header (sent).
const HEADER_SECRET: &str = "hdr-secret-4711";
const PROVIDER: &str = "widevine_test";
const WV: &str = "/v1/license/widevine";
const RI: &str = "/ri/licenseManager.do";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// One call the mock received.
#[derive(Clone)]
struct Seen {
    mode: String,
    headers: HeaderMap,
    /// The decoded `request`: the message, as JSON.
    msg: Value,
    signature_ok: bool,
}

#[derive(Default)]
struct Mock {
    calls: Mutex<HashMap<String, usize>>,
    seen: Mutex<Vec<Seen>>,
    /// The licence bytes answered last, per mode.
    answered: Mutex<HashMap<String, Vec<u8>>>,
}

/// Does `signature` sign `msg` (AES-256-CBC(key, iv, SHA-1(msg)), any
/// padding: the first 20 plaintext bytes are the hash)?
fn signature_ok(msg: &[u8], signature: &[u8]) -> bool {
    let key: [u8; 32] = hex::decode(KEY_HEX).unwrap().try_into().unwrap();
    let mut prev: [u8; 16] = hex::decode(IV_HEX).unwrap().try_into().unwrap();
    if signature.len() < 32 || !signature.len().is_multiple_of(16) {
        return false;
    }
    let cipher = aes::Aes256::new(&key.into());
    let mut plain = Vec::new();
    for block in signature.chunks(16) {
        let mut b = aes::cipher::generic_array::GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        plain.extend(b.iter().zip(prev).map(|(x, p)| x ^ p));
        prev.copy_from_slice(block);
    }
    plain[..20] == sha1::Sha1::digest(msg)[..]
}

/// The licence the mock answers for a payload: recognisable, binary.
fn licence_for(mode: &str, payload: &[u8]) -> Vec<u8> {
    if payload == [0x08, 0x04] {
        let mut c = vec![0x08, 0x05, 0x12];
        c.extend_from_slice(format!("SERVICE-CERT/{mode}").as_bytes());
        return c;
    }
    let mut l = vec![0x08, 0x02, 0x00, 0xff];
    l.extend_from_slice(format!("LICENCE/{mode}/").as_bytes());
    l.extend_from_slice(&sha1::Sha1::digest(payload)[..8]);
    l
}

/// The mock licence proxy: `POST /{mode}/cenc/getlicense/{provider}`.
async fn proxy(
    State(m): State<Arc<Mock>>,
    Path((mode, provider)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *m.calls.lock().unwrap().entry(mode.clone()).or_default() += 1;
    let env: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(env["signer"], provider, "signer");
    let raw = unb64(env["request"].as_str().unwrap());
    let ok = signature_ok(&raw, &unb64(env["signature"].as_str().unwrap()));
    let msg: Value = serde_json::from_slice(&raw).unwrap();
    m.seen.lock().unwrap().push(Seen {
        mode: mode.clone(),
        headers,
        msg: msg.clone(),
        signature_ok: ok,
    });
    if !ok {
        return axum::Json(json!({"status": "SIGNATURE_FAILED"})).into_response();
    }
    let payload = unb64(msg["payload"].as_str().unwrap());
    let answer = |l: Vec<u8>| {
        m.answered.lock().unwrap().insert(mode.clone(), l.clone());
        axum::Json(json!({"status": "OK", "license": b64(&l),
            "license_metadata": {"content_id": msg.get("content_id"), "license_type": "STREAMING", "request_type": "NEW"},
            "make": "mock", "model": "proxy", "security_level": 3, "internal_status": 0}))
        .into_response()
    };
    match mode.as_str() {
        "ok" | "ok2" | "ok3" => answer(licence_for(&mode, &payload)),
        "revoked" => {
            axum::Json(json!({"status": "INTERNAL_ERROR", "internal_status": 127})).into_response()
        }
        "badpssh" => {
            axum::Json(json!({"status": "INVALID_PSSH", "internal_status": 152})).into_response()
        }
        "denied" => {
            axum::Json(json!({"status": "ACCESS_DENIED", "internal_status": 7})).into_response()
        }
        "nolicence" => axum::Json(json!({"status": "OK"})).into_response(),
        "garbage" => "<html>gateway says hello</html>".into_response(),
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        // Answers its first call, then fails.
        "once" | "once2" if m.calls(&mode) == 1 => answer(licence_for(&mode, &payload)),
        "once" | "once2" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            answer(licence_for(&mode, &payload))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn mock() -> (String, Arc<Mock>) {
    let m = Arc::new(Mock::default());
    let app = Router::new()
        .route("/{mode}/cenc/getlicense/{provider}", post(proxy))
        .with_state(m.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), m)
}

impl Mock {
    fn calls(&self, mode: &str) -> usize {
        self.calls.lock().unwrap().get(mode).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    fn last(&self, mode: &str) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.mode == mode)
            .cloned()
            .unwrap_or_else(|| panic!("no call to {mode}"))
    }

    fn answered(&self, mode: &str) -> Vec<u8> {
        self.answered.lock().unwrap()[mode].clone()
    }
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

fn route_body(name: &str, url: &str, settings: Value) -> Value {
    let mut s = json!({"provider": PROVIDER});
    for (k, v) in settings.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"name": name, "drm": "Widevine", "kind": "widevine-cloud", "url": url,
        "settings": s,
        "secrets": {"signing_key": KEY_HEX, "signing_iv": IV_HEX, "X-Api-Key": HEADER_SECRET}})
}

/// Adds a route to `site` for mock mode `mode`.
async fn add(app: &TestApp, site: &str, name: &str, base: &str, mode: &str, settings: Value) {
    let url = format!("{base}/{mode}/cenc/getlicense/{PROVIDER}");
    let a = admin(
        app,
        "POST",
        &format!("/v1/admin/sites/{site}/upstreams"),
        Some(route_body(name, &url, settings)),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert!(!a.text().contains(KEY_HEX) && !a.text().contains(IV_HEX));
}

fn policy(json: &str) -> Policy {
    Policy::from_json(json.as_bytes()).unwrap()
}

fn wv_token(cid: &str, p: &Policy) -> String {
    token(DrmType::Widevine, cid, p)
}

/// Asserts nothing secret is in an answer.
fn no_secrets(a: &Answer) {
    let text = a.text().to_ascii_lowercase();
    for s in [KEY_HEX, IV_HEX, HEADER_SECRET] {
        assert!(!text.contains(s), "secret in the answer: {}", a.text());
    }
    for (_, v) in &a.headers {
        let v = v.to_str().unwrap_or("").to_ascii_lowercase();
        assert!(!v.contains(KEY_HEX) && !v.contains(IV_HEX) && !v.contains(HEADER_SECRET));
    }
}

/// The signing secrets never travel as headers; other secrets do.
fn headers_ok(s: &Seen) {
    assert!(s.signature_ok, "the mock could not verify the signature");
    assert!(s.headers.get("signing_key").is_none());
    assert!(s.headers.get("signing_iv").is_none());
    for (_, v) in &s.headers {
        let v = v.to_str().unwrap_or("").to_ascii_lowercase();
        assert!(!v.contains(KEY_HEX) && !v.contains(IV_HEX), "{v}");
    }
    assert_eq!(s.headers["x-api-key"], HEADER_SECRET);
    assert_eq!(s.headers["content-type"], "application/json");
}

/// `content_key_specs` sorted by track type, for comparison.
fn specs(msg: &Value) -> Vec<Value> {
    let mut v = msg["content_key_specs"]
        .as_array()
        .unwrap_or_else(|| panic!("no content_key_specs in {msg}"))
        .clone();
    v.sort_by_key(|s| s["track_type"].as_str().unwrap().to_owned());
    v
}

fn spec(
    track: &str,
    level: Option<u8>,
    protection: Value,
    key: Option<([u8; 16], [u8; 16])>,
) -> Value {
    let mut s = json!({"track_type": track});
    if let Some(l) = level {
        s["security_level"] = json!(l);
    }
    if protection.as_object().is_some_and(|o| !o.is_empty()) {
        s["required_output_protection"] = protection;
    }
    if let Some((kid, key)) = key {
        s["key_id"] = json!(b64(&kid));
        s["key"] = json!(b64(&key));
    }
    s
}

#[tokio::test]
async fn pallycon_path_relays_the_licence_and_sends_the_translated_message() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "google",
        &base,
        "ok",
        json!({"policy_name": "keyward-test", "session_init": {"purchase_id": "p-9"}}),
    )
    .await;
    let p = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600},
        "security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"required_hdcp_version":"HDCP_NONE"}},
                           {"track_type":"HD","widevine":{"security_level":5,"required_hdcp_version":"HDCP_V2_2","required_cgms_flags":"COPY_NEVER"}}]}"#,
    );
    let challenge = widevine_license_request(KID_SD);
    let a = app
        .send(
            Request::post(RI)
                .header("pallycon-customdata-v2", wv_token(CID_MULTI, &p))
                .header("x-request-id", "req-wv-1")
                .body(Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/octet-stream");
    assert_eq!(a.body.to_vec(), m.answered("ok"), "byte for byte");
    assert_eq!(a.body.to_vec(), licence_for("ok", &challenge));
    no_secrets(&a);
    let seen = m.last("ok");
    headers_ok(&seen);
    assert_eq!(seen.headers["x-request-id"], "req-wv-1");
    let msg = &seen.msg;
    assert_eq!(msg["payload"], b64(&challenge));
    assert_eq!(msg["provider"], PROVIDER);
    assert_eq!(msg["content_id"], b64(CID_MULTI.as_bytes()));
    assert_eq!(msg["policy_name"], "keyward-test");
    assert_eq!(msg["session_init"], json!({"purchase_id": "p-9"}));
    assert!(
        msg.get("allowed_track_types").is_none(),
        "never both: {msg}"
    );
    assert_eq!(
        specs(msg),
        vec![
            spec(
                "AUDIO",
                Some(1),
                json!({"hdcp": "HDCP_NONE"}),
                Some((KID_AUDIO, KEY_AUDIO))
            ),
            spec(
                "HD",
                Some(5),
                json!({"hdcp": "HDCP_V2_2", "cgms_flags": "COPY_NEVER"}),
                Some((KID_HD, KEY_HD))
            ),
            spec(
                "SD",
                Some(1),
                json!({"hdcp": "HDCP_NONE"}),
                Some((KID_SD, KEY_SD))
            ),
        ]
    );
    assert_eq!(
        msg["policy_overrides"],
        json!({"can_play": true, "can_persist": false, "can_renew": false, "license_duration_seconds": 3600})
    );
    let keys: Vec<&String> = msg.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "content_id",
            "content_key_specs",
            "payload",
            "policy_name",
            "policy_overrides",
            "provider",
            "session_init"
        ]
    );
}

#[tokio::test]
async fn translation_of_entitlements() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let ask = |cid: &'static str, p: Policy, kid: [u8; 16]| {
        let app = &app;
        async move {
            let a = app
                .post(WV, Some(&wv_token(cid, &p)), widevine_license_request(kid))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            no_secrets(&a);
        }
    };
    let carried_kid = [0x71; 16];
    let carried_key = [0x72; 16];
    // A key carried in the token (content unknown to the store), every
    // Widevine output rule, a persistent rental.
    ask(
        "carried-1",
        policy(&format!(
            r#"{{"policy_version":2,"playback_policy":{{"persistent":true,"rental_duration":7200,"playback_duration":3600}},
            "security_policy":[{{"track_type":"ALL","widevine":{{"security_level":5,"required_hdcp_version":"HDCP_V2_3",
              "required_cgms_flags":"COPY_ONCE","disable_analog_output":true,"hdcp_srm_rule":"CURRENT_SRM"}}}}],
            "external_key":{{"mpeg_cenc":[{{"track_type":"ALL","key_id":"{}","key":"{}"}}]}}}}"#,
            hex::encode(carried_kid),
            hex::encode(carried_key)
        )),
        carried_kid,
    )
    .await;
    let msg = m.last("ok").msg;
    assert_eq!(msg["content_id"], b64(b"carried-1"));
    assert_eq!(
        specs(&msg),
        vec![spec(
            "SD",
            Some(5),
            json!({"hdcp": "HDCP_V2_3", "cgms_flags": "COPY_ONCE", "hdcp_srm_rule": "CURRENT_SRM", "disable_analog_output": true}),
            Some((carried_kid, carried_key))
        )]
    );
    assert_eq!(
        msg["policy_overrides"],
        json!({"can_play": true, "can_persist": true, "can_renew": false,
            "rental_duration_seconds": 7200, "playback_duration_seconds": 3600})
    );

    // One stored key for every track, rules per track: the key gets the
    // strictest of them; renewals.
    ask(
        CID,
        policy(
            r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":600,"renewal_duration":300},
            "security_policy":[{"track_type":"SD","widevine":{"security_level":1,"required_hdcp_version":"HDCP_V1"}},
                               {"track_type":"HD","widevine":{"security_level":3,"required_hdcp_version":"HDCP_V2"}},
                               {"track_type":"AUDIO","widevine":{"security_level":1,"required_hdcp_version":"HDCP_NONE"}}]}"#,
        ),
        KID_ALL,
    )
    .await;
    let msg = m.last("ok").msg;
    assert_eq!(
        specs(&msg),
        vec![spec(
            "SD",
            Some(3),
            json!({"hdcp": "HDCP_V2"}),
            Some((KID_ALL, KEY_ALL))
        )]
    );
    assert_eq!(
        msg["policy_overrides"],
        json!({"can_play": true, "can_persist": false, "can_renew": true,
            "license_duration_seconds": 600, "renewal_delay_seconds": 300})
    );

    // allowed_track_types leaves the HD key out; no rules, no output fields.
    ask(
        CID_MULTI,
        policy(r#"{"policy_version":2,"playback_policy":{"persistent":false,"allowed_track_types":"SD_ONLY"}}"#),
        KID_SD,
    )
    .await;
    let msg = m.last("ok").msg;
    assert_eq!(
        specs(&msg),
        vec![
            spec("AUDIO", None, json!({}), Some((KID_AUDIO, KEY_AUDIO))),
            spec("SD", None, json!({}), Some((KID_SD, KEY_SD))),
        ]
    );
    assert!(msg.get("allowed_track_types").is_none());
    assert_eq!(
        msg["policy_overrides"],
        json!({"can_play": true, "can_persist": false, "can_renew": false})
    );

    // Every HDCP and CGMS value, on the HD track.
    for (hdcp, cgms) in [
        ("HDCP_NONE", "CGMS_NONE"),
        ("HDCP_V1", "COPY_FREE"),
        ("HDCP_V2", "COPY_ONCE"),
        ("HDCP_V2_1", "COPY_NEVER"),
        ("HDCP_V2_2", "CGMS_NONE"),
        ("HDCP_V2_3", "COPY_FREE"),
        ("HDCP_NO_DIGITAL_OUTPUT", "COPY_NEVER"),
    ] {
        ask(
            CID_MULTI,
            policy(&format!(
                r#"{{"policy_version":2,"playback_policy":{{"persistent":false}},
                "security_policy":[{{"track_type":"HD","widevine":{{"security_level":4,"required_hdcp_version":"{hdcp}","required_cgms_flags":"{cgms}"}}}}]}}"#
            )),
            KID_HD,
        )
        .await;
        let s = specs(&m.last("ok").msg);
        assert_eq!(
            s[1],
            spec(
                "HD",
                Some(4),
                json!({"hdcp": hdcp, "cgms_flags": cgms}),
                Some((KID_HD, KEY_HD))
            ),
            "{hdcp}"
        );
        assert_eq!(
            s[2],
            spec("SD", None, json!({}), Some((KID_SD, KEY_SD))),
            "no rule for SD"
        );
    }

    // An absolute end caps the licence duration.
    let end = Timestamp::from_unix(Timestamp::now().unix() + 3600).unwrap();
    ask(
        CID,
        policy(&format!(
            r#"{{"policy_version":2,"playback_policy":{{"persistent":false,"expire_date":"{}"}}}}"#,
            end
        )),
        KID_ALL,
    )
    .await;
    let d = m.last("ok").msg["policy_overrides"]["license_duration_seconds"]
        .as_u64()
        .unwrap();
    assert!((3590..=3600).contains(&d), "{d}");
    for s in m.seen.lock().unwrap().iter() {
        headers_ok(s);
    }
}

#[tokio::test]
async fn keys_held_by_the_upstream() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "google",
        &base,
        "ok",
        json!({"key_source": "upstream", "track_type_for_all": "HD"}),
    )
    .await;
    // No rules: only the released tracks.
    for (p, words) in [
        (
            r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
            "SD_UHD2",
        ),
        (
            r#"{"policy_version":2,"playback_policy":{"persistent":false,"allowed_track_types":"SD_HD"}}"#,
            "SD_HD",
        ),
    ] {
        let a = app
            .post(
                WV,
                Some(&wv_token(CID_EMPTY, &policy(p))),
                widevine_license_request([0x44; 16]),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let msg = m.last("ok").msg;
        assert_eq!(msg["allowed_track_types"], words);
        assert!(msg.get("content_key_specs").is_none(), "never both: {msg}");
    }
    // Rules: a spec per released track, without key material.
    let p = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":false,"allowed_track_types":"SD_HD"},
        "security_policy":[{"track_type":"ALL_VIDEO","widevine":{"security_level":3}},{"track_type":"HD","widevine":{"security_level":5,"required_hdcp_version":"HDCP_V1"}}]}"#,
    );
    let a = app
        .post(
            WV,
            Some(&wv_token(CID_MULTI, &p)),
            widevine_license_request(KID_HD),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let msg = m.last("ok").msg;
    assert!(msg.get("allowed_track_types").is_none());
    assert_eq!(
        specs(&msg),
        vec![
            spec("AUDIO", None, json!({}), None),
            spec("HD", Some(5), json!({"hdcp": "HDCP_V1"}), None),
            spec("SD", Some(3), json!({}), None),
        ]
    );
    // A key carried in the token is still sent; its ALL key is named HD here.
    let p = policy_with_cenc([0x55; 16], [0x66; 16]);
    let a = app
        .post(
            WV,
            Some(&wv_token(CID_MULTI, &p)),
            widevine_license_request([0x55; 16]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        specs(&m.last("ok").msg),
        vec![spec("HD", None, json!({}), Some(([0x55; 16], [0x66; 16])))]
    );
}

#[tokio::test]
async fn refusals_in_codes_never_with_secrets() {
    let (base, m) = mock().await;
    let streaming = streaming();
    for (mode, status, code, word) in [
        (
            "revoked",
            StatusCode::FORBIDDEN,
            "7110",
            "INTERNAL_ERROR, internal status 127",
        ),
        ("badpssh", StatusCode::BAD_REQUEST, "7112", "INVALID_PSSH"),
        ("denied", StatusCode::BAD_GATEWAY, "7103", "ACCESS_DENIED"),
        ("boom", StatusCode::BAD_GATEWAY, "7103", "HTTP 500"),
        ("garbage", StatusCode::BAD_GATEWAY, "7111", "not its JSON"),
        (
            "nolicence",
            StatusCode::BAD_GATEWAY,
            "7111",
            "without a licence",
        ),
        ("down", StatusCode::SERVICE_UNAVAILABLE, "7115", "retry"),
    ] {
        let app = common::app().await;
        add(&app, SITE, "first", &base, mode, json!({})).await;
        add(&app, HTTP_SITE, "first", &base, mode, json!({})).await;
        let a = app
            .post(
                WV,
                Some(&wv_token(CID, &streaming)),
                widevine_license_request(KID_ALL),
            )
            .await;
        a.assert_problem(status, code);
        assert!(a.text().contains(word), "{mode}: {}", a.text());
        no_secrets(&a);
        // The PallyCon dialect: HTTP 200 by default, the real status for an
        // HttpStatus site.
        let a = app
            .post(
                RI,
                Some(&wv_token(CID, &streaming)),
                widevine_license_request(KID_ALL),
            )
            .await;
        a.assert_pallycon(StatusCode::OK, code);
        no_secrets(&a);
        let http = token_for(
            &creds_of(HTTP_SITE),
            DrmType::Widevine,
            CID,
            &streaming,
            Timestamp::now(),
        );
        let a = app
            .post(RI, Some(&http), widevine_license_request(KID_ALL))
            .await;
        a.assert_pallycon(status, code);
        no_secrets(&a);
    }
    // Refused before any call: a rule the protocol cannot carry, keys
    // missing, a challenge for another content's key.
    let app = common::app().await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let before = m.total();
    let cipher = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":false},
        "security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"enable_license_cipher":true}}]}"#,
    );
    let a = app
        .post(
            WV,
            Some(&wv_token(CID, &cipher)),
            widevine_license_request(KID_ALL),
        )
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "7114");
    assert!(a.text().contains("enable_license_cipher"), "{}", a.text());
    app.post(
        WV,
        Some(&wv_token(CID_EMPTY, &streaming)),
        widevine_license_request([0x44; 16]),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "7001");
    app.post(
        WV,
        Some(&wv_token(CID, &streaming)),
        widevine_license_request([0x44; 16]),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "7001");
    app.post(WV, Some(&wv_token(CID, &streaming)), b"garbage".to_vec())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "7107");
    assert_eq!(m.total(), before, "nothing was forwarded");
}

#[tokio::test]
async fn failover_on_5xx_and_timeout_never_after_a_definite_answer() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, SITE, "down", &base, "down", json!({})).await;
    add(
        &app,
        SITE,
        "slow",
        &base,
        "slow",
        json!({"timeout_ms": 300}),
    )
    .await;
    add(&app, SITE, "good", &base, "ok2", json!({})).await;
    let challenge = widevine_license_request(KID_ALL);
    let t = std::time::Instant::now();
    let a = app
        .post(WV, Some(&wv_token(CID, &streaming())), challenge.clone())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(a.body.to_vec(), licence_for("ok2", &challenge));
    assert_eq!(
        (m.calls("down"), m.calls("slow"), m.calls("ok2")),
        (1, 1, 1)
    );
    // Each route got its own signed request.
    for mode in ["down", "slow", "ok2"] {
        headers_ok(&m.last(mode));
    }
    // A refusal is the answer: the second route is not asked.
    let app = common::app().await;
    add(&app, SITE, "first", &base, "denied", json!({})).await;
    add(&app, SITE, "second", &base, "ok3", json!({})).await;
    app.post(WV, Some(&wv_token(CID, &streaming())), challenge)
        .await
        .assert_problem(StatusCode::BAD_GATEWAY, "7103");
    assert_eq!(m.calls("ok3"), 0);
}

#[tokio::test]
async fn service_certificate_is_fetched_once_per_route_and_cached() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let t = wv_token(CID, &streaming());
    for path in [WV, RI, WV, RI] {
        let a = app.post(path, Some(&t), vec![0x08, 0x04]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.content_type(), "application/octet-stream");
        assert_eq!(a.body.to_vec(), licence_for("ok", &[0x08, 0x04]));
        no_secrets(&a);
    }
    assert_eq!(m.calls("ok"), 1, "asked once, then served from the cache");
    let seen = m.last("ok");
    headers_ok(&seen);
    assert_eq!(
        seen.msg,
        json!({"payload": "CAQ="}),
        "the certificate request is the payload alone"
    );

    // A site with a configured certificate serves it; its routes are not asked.
    add(&app, CERT_SITE, "google", &base, "ok2", json!({})).await;
    let cert_tok = token_for(
        &creds_of(CERT_SITE),
        DrmType::Widevine,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    let a = app.post(WV, Some(&cert_tok), vec![0x08, 0x04]).await;
    assert_eq!(a.body.as_ref(), WV_CERT);
    assert_eq!(m.calls("ok2"), 0);

    // The first route that answers gives the certificate (its own), cached
    // per route: another site's route to the same service is asked once too.
    add(&app, HTTP_SITE, "down", &base, "down", json!({})).await;
    add(&app, HTTP_SITE, "backup", &base, "ok3", json!({})).await;
    let http = token_for(
        &creds_of(HTTP_SITE),
        DrmType::Widevine,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    for _ in 0..3 {
        let a = app.post(WV, Some(&http), vec![0x08, 0x04]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.body.to_vec(), licence_for("ok3", &[0x08, 0x04]));
    }
    assert_eq!(m.calls("ok3"), 1);
    assert_eq!(
        m.calls("down"),
        3,
        "a failing route is tried again (its breaker is not open yet)"
    );

    // A route whose breaker opened: the next route's certificate (the one
    // that now issues the licences); with no other route, its cached one.
    let app = common::app().await;
    add(
        &app,
        SITE,
        "once",
        &base,
        "once",
        json!({"breaker_failures": 1, "breaker_cooldown_secs": 600}),
    )
    .await;
    let a = app.post(WV, Some(&t), vec![0x08, 0x04]).await;
    assert_eq!(a.body.to_vec(), licence_for("once", &[0x08, 0x04]));
    app.post(WV, Some(&t), widevine_license_request(KID_ALL))
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7115");
    assert_eq!(m.calls("once"), 2);
    let a = app.post(WV, Some(&t), vec![0x08, 0x04]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.body.to_vec(),
        licence_for("once", &[0x08, 0x04]),
        "cached, breaker open"
    );
    assert_eq!(m.calls("once"), 2, "an open breaker is not asked");
    // (An admin change starts a site's breakers afresh: both routes first.)
    let app = common::app().await;
    add(
        &app,
        SITE,
        "once",
        &base,
        "once2",
        json!({"breaker_failures": 1, "breaker_cooldown_secs": 600}),
    )
    .await;
    add(&app, SITE, "backup", &base, "ok", json!({})).await;
    let a = app.post(WV, Some(&t), vec![0x08, 0x04]).await;
    assert_eq!(a.body.to_vec(), licence_for("once2", &[0x08, 0x04]));
    let before = m.calls("ok");
    let challenge = widevine_license_request(KID_ALL);
    let a = app.post(WV, Some(&t), challenge.clone()).await;
    assert_eq!(
        a.body.to_vec(),
        licence_for("ok", &challenge),
        "failed over"
    );
    let a = app.post(WV, Some(&t), vec![0x08, 0x04]).await;
    assert_eq!(
        a.body.to_vec(),
        licence_for("ok", &[0x08, 0x04]),
        "the backup's certificate"
    );
    assert_eq!((m.calls("once2"), m.calls("ok")), (2, before + 2));

    // Nobody answers: 7115.
    let app = common::app().await;
    add(&app, SITE, "down", &base, "down", json!({})).await;
    app.post(WV, Some(&t), vec![0x08, 0x04])
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7115");
    // A refusal of the certificate request is the answer, and is not cached.
    let app = common::app().await;
    add(&app, SITE, "denied", &base, "denied", json!({})).await;
    let before = m.calls("denied");
    for _ in 0..2 {
        app.post(WV, Some(&t), vec![0x08, 0x04])
            .await
            .assert_problem(StatusCode::BAD_GATEWAY, "7103");
    }
    assert_eq!(m.calls("denied"), before + 2);
}

#[tokio::test]
async fn without_routes_nothing_changes() {
    let app = common::app().await;
    app.post(
        WV,
        Some(&wv_token(CID, &streaming())),
        widevine_license_request(KID_ALL),
    )
    .await
    .assert_problem(StatusCode::NOT_IMPLEMENTED, "7104");
    app.post(WV, Some(&wv_token(CID, &streaming())), vec![0x08, 0x04])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "7106");
}

const AUTH: &str = "acme-test-authenticator-00000001";
const EP_KID: [u8; 16] = [0x5a; 16];
const EP_KEY: [u8; 16] = [0xc3; 16];

async fn ep_customer(app: &TestApp) {
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
}

async fn ep_rights_path(app: &TestApp, extra: &str) -> String {
    let a = app
        .get(
            &format!(
                "/hms/wv/token?customerAuthenticator={AUTH}&kid={}&contentKey={}&securityLevel=5&hdcpOutputControl=1{extra}",
                hex::encode(EP_KID),
                hex::encode(EP_KEY)
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    a.text()
        .trim_start_matches("http://127.0.0.1:8080")
        .to_owned()
}

fn assert_ep(a: &Answer, status: StatusCode, code: i32) {
    assert_eq!(a.status, status, "{}", a.text());
    assert_eq!(
        a.header("x-keyward-error-code"),
        Some(code.to_string().as_str())
    );
    assert_eq!(a.json()["errorCode"], code, "{}", a.text());
}

#[tokio::test]
async fn expressplay_widevine_rights_go_through_the_cloud() {
    let (base, m) = mock().await;
    let app = common::app().await;
    ep_customer(&app).await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let path = ep_rights_path(&app, "&contentId=ep-content").await;
    let challenge = widevine_license_request(EP_KID);
    let a = app.post(&path, None, challenge.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), licence_for("ok", &challenge));
    no_secrets(&a);
    let seen = m.last("ok");
    headers_ok(&seen);
    let msg = seen.msg;
    assert_eq!(msg["content_id"], b64(b"ep-content"));
    assert_eq!(
        specs(&msg),
        vec![spec(
            "SD",
            Some(5),
            json!({"hdcp": "HDCP_V1"}),
            Some((EP_KID, EP_KEY))
        )]
    );
    let o = &msg["policy_overrides"];
    assert_eq!(
        (&o["can_play"], &o["can_persist"], &o["can_renew"]),
        (&json!(true), &json!(false), &json!(false))
    );
    assert!(
        o["license_duration_seconds"].as_u64().unwrap() > 0,
        "capped by the token's expiry: {o}"
    );
    // The service certificate, through the same route.
    let a = app.post(&path, None, vec![0x08, 0x04]).await;
    assert_eq!(a.body.to_vec(), licence_for("ok", &[0x08, 0x04]));
    // A challenge for another kid: -4022, nothing forwarded.
    let before = m.total();
    let a = app
        .post(
            &format!("{path}&errorFormat=json"),
            None,
            widevine_license_request([7; 16]),
        )
        .await;
    assert_ep(&a, StatusCode::BAD_REQUEST, -4022);
    assert_eq!(m.total(), before);

    // The upstream's refusals in ExpressPlay's codes.
    for (mode, status, code) in [
        ("revoked", StatusCode::FORBIDDEN, -7008),
        ("badpssh", StatusCode::BAD_REQUEST, -7008),
        ("denied", StatusCode::BAD_GATEWAY, -2030),
        ("garbage", StatusCode::BAD_GATEWAY, -2030),
        ("down", StatusCode::SERVICE_UNAVAILABLE, -2030),
    ] {
        let app = common::app().await;
        ep_customer(&app).await;
        add(&app, SITE, "first", &base, mode, json!({})).await;
        let path = ep_rights_path(&app, "").await;
        let a = app
            .post(
                &format!("{path}&errorFormat=json"),
                None,
                widevine_license_request(EP_KID),
            )
            .await;
        assert_ep(&a, status, code);
        no_secrets(&a);
    }
}

#[tokio::test]
async fn admin_api_validates_widevine_cloud_routes() {
    let app = common::app().await;
    let base = format!("/v1/admin/sites/{SITE}/upstreams");
    let ok = route_body(
        "google",
        "https://license.uat.widevine.com/cenc/getlicense/widevine_test",
        json!({}),
    );
    for (field, value, word) in [
        ("settings", json!({}), "provider"),
        ("settings", json!({"provider": "bad provider!"}), "provider"),
        ("settings", json!({"provider": PROVIDER, "nope": 1}), "nope"),
        (
            "settings",
            json!({"provider": PROVIDER, "key_source": "cloud"}),
            "key_source",
        ),
        (
            "settings",
            json!({"provider": PROVIDER, "track_type_for_all": "ALL"}),
            "track_type_for_all",
        ),
        ("secrets", json!({"signing_key": KEY_HEX}), "signing_iv"),
        ("secrets", json!({"signing_iv": IV_HEX}), "signing_key"),
        ("drm", json!("FairPlay"), "serves Widevine"),
    ] {
        let mut b = ok.clone();
        b[field] = value;
        let a = admin(&app, "POST", &base, Some(b)).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
        assert!(a.text().contains(word), "{field} {word}: {}", a.text());
    }
    let a = admin(&app, "POST", &base, Some(ok)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(
        a.json()["secret_names"],
        json!(["X-Api-Key", "signing_iv", "signing_key"])
    );
    for a in [
        a,
        admin(&app, "GET", &base, None).await,
        admin(&app, "GET", &format!("{base}/google"), None).await,
    ] {
        no_secrets(&a);
    }
}

/// Rotated content (a key per crypto period, as the Widevine key API or CPIX made
/// them): only the period keys the challenge names go upstream, beside the
/// content's unrotated keys.
#[tokio::test]
async fn rotated_content_sends_the_named_period_keys_only() {
    use keyward_store::{ContentKey, KeyStore as _, Kid, NewContentKey, TrackType};
    let (base, m) = mock().await;
    let app = common::app().await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let site = SiteId::parse(SITE).unwrap();
    let cid = "rotated-1";
    for (period, n) in [(Some(4u64), 0x44u8), (Some(5), 0x55), (None, 0x66)] {
        app.store
            .put_key(
                NewContentKey {
                    site_id: site.clone(),
                    cid: cid.into(),
                    track_type: if period.is_some() {
                        TrackType::Hd
                    } else {
                        TrackType::Audio
                    },
                    kid: Kid([n; 16]),
                    key: ContentKey::from_slice(&[n ^ 0xff; 16]).unwrap(),
                    iv: None,
                    label: None,
                    period,
                },
                false,
            )
            .await
            .unwrap();
    }
    let p = policy(r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#);
    let challenge = widevine_license_request([0x55; 16]);
    let a = app
        .send(
            Request::post(RI)
                .header("pallycon-customdata-v2", wv_token(cid, &p))
                .body(Body::from(challenge))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let msg = m.last("ok").msg;
    let kids: Vec<String> = msg["content_key_specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key_id"].as_str().unwrap().to_owned())
        .collect();
    let mut want = vec![b64(&[0x55; 16]), b64(&[0x66; 16])];
    let mut got = kids.clone();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "period 5 (named) and the unrotated key; not period 4"
    );
}

#[tokio::test]
async fn a_widevine_release_frees_the_stream_slot() {
    let (base, _m) = mock().await;
    let app = common::app().await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let limited = |ago: i64| {
        token_for(
            &creds_of(SITE),
            DrmType::Widevine,
            CID_MULTI,
            &policy(
                r#"{"policy_version":2,"playback_policy":{"persistent":true,"max_stream_per_user":1,"renewal_duration":60}}"#,
            ),
            Timestamp::from_unix(Timestamp::now().unix() - ago).unwrap(),
        )
    };
    let (a, b) = (limited(1), limited(2));
    let send = |tok: String, body: Vec<u8>| {
        let app = &app;
        async move {
            app.send(
                Request::post(WV)
                    .header("authorization", format!("Bearer {tok}"))
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let r = send(a.clone(), widevine_license_request(KID_SD)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(b.clone(), widevine_license_request(KID_SD)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "stream_limit_reached");
    // A renewal keeps the slot; the release (persistent session removed) frees it.
    let r = send(a.clone(), widevine_release_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(b, widevine_license_request(KID_SD)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Now the first playback is the one over the limit.
    let r = send(a, widevine_license_request(KID_SD)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_best_effort_site_gets_the_licence_without_the_rule_the_upstream_cannot_express() {
    let (base, m) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.best_effort_sites = vec![SITE.to_owned()];
    let app = app_with(dir, cfg).await;
    add(&app, SITE, "google", &base, "ok", json!({})).await;
    let cipher = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":false},
        "security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"enable_license_cipher":true}}]}"#,
    );
    let challenge = widevine_license_request(KID_ALL);
    let a = app
        .post(WV, Some(&wv_token(CID, &cipher)), challenge.clone())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), licence_for("ok", &challenge));
    // The rest of the rule went: security level 1; the cipher did not.
    let seen = m.last("ok");
    let specs = specs(&seen.msg);
    assert!(!specs.is_empty());
    for s in &specs {
        assert_eq!(s["security_level"], 1, "{s}");
        assert!(s.get("enable_license_cipher").is_none(), "{s}");
    }
    // Without the opt-in the same licence is refused (7114): see
    // refusals_in_codes_never_with_secrets.
}
