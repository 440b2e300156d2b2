//! Kinds `axinom` and `drmtoday`: keyward decides, then mints the service's
//! JWT per request. Against mock Axinom and DRMtoday services on loopback
//! (axum) that verify each JWT with their own HMAC (HS256/384/512), decode
//! the entitlement message or the customer rights token and record it,
//! answer recognisable licences, and misbehave on demand (errors in
//! `X-AxDRM-ErrorMessage` / `x-dt-resp-code`, 5xx without a body).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use keyward_drm::Kid;
use keyward_token::{DrmType, Policy, Timestamp};
use serde_json::{json, Value};

const RI: &str = "/ri/licenseManager.do";
const WV: &str = "/v1/license/widevine";
const PR: &str = "/v1/license/playready";
const FP: &str = "/v1/license/fairplay";

/// Axinom's communication key (32 bytes) and its id.
const COM_KEY: [u8; 32] = [0x5a; 32];
const COM_KEY_ID: &str = "cc36e85d-2fdf-462c-b395-030907447afc";
/// DRMtoday's shared secret (hex) and its id.
const DT_SECRET_HEX: &str = "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef";
const DT_KID: &str = "dt-key-1";
const HEADER_SECRET: &str = "plain-secret-header-value-77";

const WV_LICENCE: &[u8] = b"\x08\x02\x12\x10AXINOM-WV-LICENCE\xff\x00\r\n";
const DT_LICENCE: &[u8] = b"\x08\x02\x12\x10DRMTODAY-LICENCE\xfe\x00\t";

fn ckc(tag: &[u8]) -> Vec<u8> {
    let mut c = vec![0, 0, 0, 1];
    c.extend_from_slice(&[0x42; 24]);
    c.extend_from_slice(tag);
    c
}

#[derive(Clone, Debug)]
struct Seen {
    mode: String,
    headers: HeaderMap,
    query: Option<String>,
    body: Vec<u8>,
    /// The JWT's header and claims, when it verified.
    jose: Option<Value>,
    claims: Option<Value>,
}

#[derive(Default)]
struct Mock {
    seen: Mutex<Vec<Seen>>,
}

impl Mock {
    fn last(&self, mode: &str) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.mode == mode)
            .cloned()
            .unwrap_or_else(|| panic!("the mock saw no {mode} request"))
    }
    fn calls(&self, mode: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.mode == mode)
            .count()
    }
}

/// The mock's own JWS check: (header, claims) when the HMAC verifies.
fn verify(jwt: &str, key: &[u8]) -> Option<(Value, Value)> {
    let mut parts = jwt.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let input = format!("{h}.{c}");
    let tag = match header["alg"].as_str()? {
        "HS256" => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        "HS384" => {
            let mut m = Hmac::<sha2::Sha384>::new_from_slice(key).ok()?;
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(key).ok()?;
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => return None,
    };
    if URL_SAFE_NO_PAD.decode(s).ok()? != tag {
        return None;
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    Some((header, claims))
}

/// `POST /{mode}`: modes starting `ax` are Axinom, `dt` DRMtoday.
async fn server(
    State(m): State<Arc<Mock>>,
    Path(mode): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (jwt, key) = if mode.starts_with("ax") {
        (header("x-axdrm-message"), COM_KEY.to_vec())
    } else {
        (
            header("x-dt-auth-token"),
            hex::decode(DT_SECRET_HEX).unwrap(),
        )
    };
    let verified = verify(jwt, &key);
    m.seen.lock().unwrap().push(Seen {
        mode: mode.clone(),
        headers: headers.clone(),
        query: uri.query().map(str::to_owned),
        body: body.to_vec(),
        jose: verified.as_ref().map(|v| v.0.clone()),
        claims: verified.as_ref().map(|v| v.1.clone()),
    });
    let ax_error = |status: StatusCode, text: &str| {
        (status, [("x-axdrm-errormessage", text.to_owned())], "").into_response()
    };
    let dt_error = |status: StatusCode, code: &str| {
        (status, [("x-dt-resp-code", code.to_owned())], "").into_response()
    };
    match mode.as_str() {
        "ax-wv" | "ax-wv2" | "ax-pr" | "ax-fp" => {
            if verified.is_none() {
                return ax_error(StatusCode::UNAUTHORIZED, "License token signature invalid");
            }
            let device = [
                ("x-axdrm-identity", "device-xyz"),
                ("x-axdrm-deviceinfo", "model=secret-phone"),
            ];
            match mode.as_str() {
                "ax-pr" => (
                    StatusCode::OK,
                    device,
                    [("content-type", "text/xml; charset=utf-8")],
                    b"<?xml version=\"1.0\"?>\r\n<soap:Envelope>AXINOM-PR \xc3\xa9</soap:Envelope>\r\n"
                        .to_vec(),
                )
                    .into_response(),
                "ax-fp" => (StatusCode::OK, device, ckc(b"AXINOM-CKC")).into_response(),
                _ => (
                    StatusCode::OK,
                    device,
                    [("content-type", "application/octet-stream")],
                    WV_LICENCE.to_vec(),
                )
                    .into_response(),
            }
        }
        "ax-refuse" => ax_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Entitlement message invalid: key not found{}",
                " x".repeat(300)
            ),
        ),
        "dt-wv" | "dt-pr" | "dt-fp" => {
            if verified.is_none() {
                return dt_error(StatusCode::FORBIDDEN, "40001");
            }
            match mode.as_str() {
                "dt-fp" => STANDARD.encode(ckc(b"DRMTODAY-CKC")).into_response(),
                "dt-pr" => (
                    [("content-type", "text/xml; charset=utf-8")],
                    b"<soap:Envelope>DRMTODAY-PR</soap:Envelope>".to_vec(),
                )
                    .into_response(),
                _ => DT_LICENCE.to_vec().into_response(),
            }
        }
        "dt-refuse" => dt_error(StatusCode::FORBIDDEN, "40002\t"),
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn mock() -> (String, Arc<Mock>) {
    let m = Arc::new(Mock::default());
    let app = Router::new()
        .route("/{mode}", post(server))
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

async fn try_add(app: &TestApp, site: &str, drm: &str, name: &str, spec: Value) -> Answer {
    let mut spec = spec;
    spec["name"] = json!(name);
    spec["drm"] = json!(drm);
    admin(
        app,
        "POST",
        &format!("/v1/admin/sites/{site}/upstreams"),
        Some(spec),
    )
    .await
}

async fn add_axinom(app: &TestApp, site: &str, drm: &str, name: &str, url: String) {
    let a = try_add(
        app,
        site,
        drm,
        name,
        json!({"kind": "axinom", "url": url,
            "settings": {"communication_key_id": COM_KEY_ID},
            "secrets": {"keyward-communication-key": STANDARD.encode(COM_KEY), "X-Api-Key": HEADER_SECRET}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
}

async fn add_drmtoday(app: &TestApp, site: &str, drm: &str, name: &str, url: String, alg: &str) {
    let a = try_add(
        app,
        site,
        drm,
        name,
        json!({"kind": "drmtoday", "url": url,
            "settings": {"merchant": "client_dev", "key_id": DT_KID, "jwt_alg": alg},
            "secrets": {"keyward-shared-secret": DT_SECRET_HEX, "X-Api-Key": HEADER_SECRET}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
}

fn policy(json: &str) -> Policy {
    Policy::from_json(json.as_bytes()).unwrap()
}

fn uuid(k: [u8; 16]) -> String {
    Kid::new(k).to_uuid_string()
}

/// Secrets never travel as headers (the plain secret header does) and the
/// signing secrets are nowhere in the request.
fn headers_ok(s: &Seen) {
    assert!(
        s.claims.is_some(),
        "{}: the mock could not verify the JWT",
        s.mode
    );
    for name in ["keyward-communication-key", "keyward-shared-secret"] {
        assert!(s.headers.get(name).is_none(), "{name} sent as a header");
    }
    let ax = STANDARD.encode(COM_KEY).to_ascii_lowercase();
    for (_, v) in &s.headers {
        let v = v.to_str().unwrap_or("").to_ascii_lowercase();
        assert!(!v.contains(&ax) && !v.contains(DT_SECRET_HEX), "{v}");
    }
    assert_eq!(s.headers["x-api-key"], HEADER_SECRET);
}

/// Nothing secret and no upstream device header in an answer to the player.
fn answer_ok(a: &Answer) {
    let text = a.text().to_ascii_lowercase();
    let ax = STANDARD.encode(COM_KEY).to_ascii_lowercase();
    for s in [ax.as_str(), DT_SECRET_HEX, HEADER_SECRET] {
        assert!(!text.contains(s), "secret in the answer: {}", a.text());
    }
    for (k, v) in &a.headers {
        assert!(!k.as_str().starts_with("x-axdrm"), "relayed {k}");
        let v = v.to_str().unwrap_or("").to_ascii_lowercase();
        assert!(!v.contains(&ax) && !v.contains(DT_SECRET_HEX) && !v.contains("secret-phone"));
    }
}

fn ax_message(s: &Seen) -> Value {
    let c = s.claims.clone().unwrap();
    assert_eq!(c["version"], 1);
    assert_eq!(c["com_key_id"], COM_KEY_ID);
    let begin = Timestamp::parse(c["begin_date"].as_str().unwrap()).unwrap();
    let end = Timestamp::parse(c["expiration_date"].as_str().unwrap()).unwrap();
    assert_eq!(end.unix() - begin.unix(), 60);
    assert!((begin.unix() - Timestamp::now().unix()).abs() < 30);
    assert_eq!(s.jose.as_ref().unwrap()["alg"], "HS256");
    let m = c["message"].clone();
    assert_eq!(m["type"], "entitlement_message");
    assert_eq!(m["version"], 2);
    m
}

#[tokio::test]
async fn axinom_widevine_translates_a_matrix_of_tokens_and_relays_the_licence() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add_axinom(&app, SITE, "Widevine", "axinom", format!("{base}/ax-wv")).await;
    let sd = uuid(KID_SD);
    let hd = uuid(KID_HD);
    let audio = uuid(KID_AUDIO);
    let cases: Vec<(&str, Value)> = vec![
        // Streaming, one hour, per-track levels and HDCP.
        (
            r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600},
            "security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"required_hdcp_version":"HDCP_NONE"}},
                               {"track_type":"HD","widevine":{"security_level":5,"required_hdcp_version":"HDCP_V2_2","required_cgms_flags":"COPY_NEVER"}}]}"#,
            json!({"type": "entitlement_message", "version": 2,
                "license": {"duration": 3600, "allow_persistence": false, "widevine": {"allow_renewal": false}},
                "content_keys_source": {"inline": [
                    {"id": sd, "usage_policy": "Policy 1"},
                    {"id": hd, "usage_policy": "Policy 2"},
                    {"id": audio, "usage_policy": "Policy 1"}]},
                "content_key_usage_policies": [
                    {"name": "Policy 1", "widevine": {"device_security_level": "SW_SECURE_CRYPTO", "hdcp": "NONE"}},
                    {"name": "Policy 2", "widevine": {"device_security_level": "HW_SECURE_ALL", "hdcp": "2.2", "cgms-a": "never"}}]}),
        ),
        // Offline rental: persistent, rental and playback windows, renewals,
        // SD and HD (audio is always released).
        (
            r#"{"policy_version":2,"playback_policy":{"persistent":true,"rental_duration":86400,"playback_duration":7200,
                "renewal_duration":300,"allowed_track_types":"SD_HD"},
            "security_policy":[{"track_type":"ALL","widevine":{"security_level":3,"required_hdcp_version":"HDCP_V1"}}]}"#,
            json!({"type": "entitlement_message", "version": 2,
                "license": {"duration": 86400, "allow_persistence": true,
                    "widevine": {"playback_duration": 7200, "allow_renewal": true, "renewal_delay": 300}},
                "content_keys_source": {"inline": [
                    {"id": sd, "usage_policy": "Policy 1"},
                    {"id": hd, "usage_policy": "Policy 1"},
                    {"id": audio, "usage_policy": "Policy 1"}]},
                "content_key_usage_policies": [
                    {"name": "Policy 1", "widevine": {"device_security_level": "HW_SECURE_CRYPTO", "hdcp": "1.0"}}]}),
        ),
        // No rules at all: an absolute end, ids without policies.
        (
            r#"{"policy_version":2,"playback_policy":{"persistent":false,"expire_date":"2099-01-02T03:04:05Z"}}"#,
            json!({"type": "entitlement_message", "version": 2,
                "license": {"expiration_datetime": "2099-01-02T03:04:05Z", "allow_persistence": false,
                    "widevine": {"allow_renewal": false}},
                "content_keys_source": {"inline": [{"id": sd}, {"id": hd}, {"id": audio}]}}),
        ),
    ];
    let challenge = widevine_license_request(KID_SD);
    for (i, (p, want)) in cases.iter().enumerate() {
        for path in [RI, WV] {
            let tok = token(DrmType::Widevine, CID_MULTI, &policy(p));
            let req = if path == RI {
                Request::post(path).header("pallycon-customdata-v2", tok)
            } else {
                Request::post(path).header("authorization", format!("Bearer {tok}"))
            };
            let a = app
                .send(req.body(Body::from(challenge.clone())).unwrap())
                .await;
            assert_eq!(a.status, StatusCode::OK, "case {i} {path}: {}", a.text());
            assert_eq!(a.body.to_vec(), WV_LICENCE, "byte for byte");
            assert_eq!(a.content_type(), "application/octet-stream");
            answer_ok(&a);
            let s = m.last("ax-wv");
            headers_ok(&s);
            assert_eq!(s.body, challenge, "the challenge as it came");
            assert_eq!(s.headers["content-type"], "application/octet-stream");
            assert_eq!(ax_message(&s), *want, "case {i} {path}");
        }
    }
}

#[tokio::test]
async fn axinom_refusals_failover_and_what_cannot_be_expressed() {
    let (base, m) = mock().await;
    let app = common::app().await;
    // Errors in both dialects, with X-AxDRM-ErrorMessage bounded.
    add_axinom(
        &app,
        SITE,
        "Widevine",
        "refuse",
        format!("{base}/ax-refuse"),
    )
    .await;
    add_axinom(
        &app,
        HTTP_SITE,
        "Widevine",
        "refuse",
        format!("{base}/ax-refuse"),
    )
    .await;
    let challenge = widevine_license_request(KID_ALL);
    let a = app
        .send(
            Request::post(RI)
                .header(
                    "pallycon-customdata-v2",
                    token(DrmType::Widevine, CID, &streaming()),
                )
                .body(Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "7612");
    let msg = a.json()["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("key not found") && msg.contains("HTTP 400"),
        "{msg}"
    );
    assert!(msg.len() < 400, "bounded: {msg}");
    answer_ok(&a);
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::Widevine,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    let a = app
        .send(
            Request::post(WV)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::BAD_GATEWAY, "7612");
    assert_eq!(m.calls("ax-refuse"), 2, "a refusal is final: no failover");

    // Failover on a 5xx without a body; every route down is 7613.
    let app = common::app().await;
    add_axinom(
        &app,
        HTTP_SITE,
        "Widevine",
        "primary",
        format!("{base}/down"),
    )
    .await;
    add_axinom(
        &app,
        HTTP_SITE,
        "Widevine",
        "backup",
        format!("{base}/ax-wv2"),
    )
    .await;
    let a = send_wv(&app, streaming()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), WV_LICENCE);
    let s = m.last("ax-wv2");
    headers_ok(&s);
    assert_eq!(
        ax_message(&s)["content_keys_source"]["inline"],
        json!([{"id": uuid(KID_ALL)}]),
        "the store's key id, never the key"
    );
    assert!(
        !String::from_utf8_lossy(&s.claims.unwrap().to_string().into_bytes())
            .contains(&STANDARD.encode(KEY_ALL))
    );
    let app = common::app().await;
    add_axinom(&app, HTTP_SITE, "Widevine", "a", format!("{base}/down")).await;
    add_axinom(&app, HTTP_SITE, "Widevine", "b", format!("{base}/down")).await;
    let a = send_wv(&app, streaming()).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7613");

    // Refused before anything is sent: disabled analog outputs, a content
    // without keys (7001).
    let before = m.calls("ax-wv2");
    let app = common::app().await;
    add_axinom(&app, HTTP_SITE, "Widevine", "ax", format!("{base}/ax-wv2")).await;
    let a = send_wv(
        &app,
        policy(
            r#"{"policy_version":2,"playback_policy":{"persistent":false},
            "security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"disable_analog_output":true}}]}"#,
        ),
    )
    .await;
    a.assert_problem(StatusCode::FORBIDDEN, "7611");
    assert_eq!(m.calls("ax-wv2"), before);
    // A stream limit is keyward's own (its gatekeeper enforces it): served.
    let a = send_wv(
        &app,
        policy(r#"{"policy_version":2,"playback_policy":{"persistent":false,"max_stream_per_user":2}}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());

    // A route asking keyward to send keys is refused when added.
    let a = try_add(
        &app,
        HTTP_SITE,
        "Widevine",
        "keys",
        json!({"kind": "axinom", "url": format!("{base}/ax-wv"),
            "settings": {"communication_key_id": COM_KEY_ID, "key_source": "keyward"},
            "secrets": {"keyward-communication-key": STANDARD.encode(COM_KEY)}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    assert!(a.text().contains("not publicly documented"), "{}", a.text());
    for bad in [
        json!({"kind": "axinom", "url": "http://127.0.0.1:1/x", "settings": {"communication_key_id": "nope"},
            "secrets": {"keyward-communication-key": STANDARD.encode(COM_KEY)}}),
        json!({"kind": "axinom", "url": "http://127.0.0.1:1/x", "settings": {"communication_key_id": COM_KEY_ID}}),
        json!({"kind": "drmtoday", "url": "http://127.0.0.1:1/x", "settings": {"merchant": "m", "key_id": "k", "jwt_alg": "RS256"},
            "secrets": {"keyward-shared-secret": DT_SECRET_HEX}}),
        json!({"kind": "drmtoday", "url": "http://127.0.0.1:1/x", "settings": {"key_id": "k"},
            "secrets": {"keyward-shared-secret": DT_SECRET_HEX}}),
    ] {
        let a = try_add(&app, HTTP_SITE, "Widevine", "bad", bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    // Listing never shows the secrets.
    let a = admin(
        &app,
        "GET",
        &format!("/v1/admin/sites/{HTTP_SITE}/upstreams"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    answer_ok(&a);
}

/// A Widevine licence request for CID on HTTP_SITE (native path).
async fn send_wv(app: &TestApp, p: Policy) -> Answer {
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::Widevine,
        CID,
        &p,
        Timestamp::now(),
    );
    app.send(
        Request::post(WV)
            .header("authorization", format!("Bearer {tok}"))
            .body(Body::from(widevine_license_request(KID_ALL)))
            .unwrap(),
    )
    .await
}

/// A challenge whose content header (WRMHEADER 4.2) names one key id.
fn pr_challenge(kid: [u8; 16]) -> String {
    let header = format!(
        r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.2.0.0"><DATA><PROTECTINFO><KIDS><KID ALGID="AESCTR" VALUE="{}"></KID></KIDS></PROTECTINFO></DATA></WRMHEADER>"#,
        STANDARD.encode(Kid::new(kid).to_guid_le())
    );
    let default_header = r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>HhEREREREREREREREREREQ==</KID></DATA></WRMHEADER>"#;
    playready_challenge(None).replace(default_header, &header)
}

#[tokio::test]
async fn axinom_playready_and_fairplay() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add_axinom(&app, SITE, "PlayReady", "ax", format!("{base}/ax-pr")).await;
    let p = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":true,"license_duration":600},
        "security_policy":[{"track_type":"ALL","playready":{"security_level":3000,"digital_video_protection_level":300,"analog_video_protection_level":200}}]}"#,
    );
    let body = pr_challenge(KID_ALL);
    let a = app
        .send(
            Request::post(PR)
                .header(
                    "authorization",
                    format!("Bearer {}", token(DrmType::PlayReady, CID, &p)),
                )
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.body.to_vec(),
        b"<?xml version=\"1.0\"?>\r\n<soap:Envelope>AXINOM-PR \xc3\xa9</soap:Envelope>\r\n"
            .to_vec()
    );
    answer_ok(&a);
    let s = m.last("ax-pr");
    headers_ok(&s);
    assert_eq!(s.body, body.as_bytes());
    assert_eq!(s.headers["content-type"], "text/xml; charset=utf-8");
    assert!(s.headers.get("soapaction").is_some());
    assert_eq!(
        ax_message(&s),
        json!({"type": "entitlement_message", "version": 2,
            "license": {"duration": 600, "allow_persistence": true},
            "content_keys_source": {"inline": [{"id": uuid(KID_ALL), "usage_policy": "Policy 1"}]},
            "content_key_usage_policies": [{"name": "Policy 1", "playready": {
                "min_device_security_level": 3000, "uncompressed_digital_video_opl": 300, "analog_video_opl": 200}}]})
    );

    // FairPlay: the raw SPC goes as is, HDCP travels in the message (no
    // 7322), the raw CKC comes back.
    add_axinom(&app, HTTP_SITE, "FairPlay", "ax", format!("{base}/ax-fp")).await;
    let p = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":120},
        "security_policy":[{"track_type":"ALL","fairplay":{"hdcp_enforcement":0,"allow_airplay":false}}]}"#,
    );
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::FairPlay,
        CID,
        &p,
        Timestamp::now(),
    );
    let a = app
        .send(
            Request::post(FP)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::from(fairplay_spc()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), ckc(b"AXINOM-CKC"));
    answer_ok(&a);
    let s = m.last("ax-fp");
    headers_ok(&s);
    assert_eq!(s.body, fairplay_spc());
    assert_eq!(
        ax_message(&s),
        json!({"type": "entitlement_message", "version": 2,
            "license": {"duration": 120, "allow_persistence": false},
            "content_keys_source": {"inline": [{"id": uuid(KID_ALL), "usage_policy": "Policy 1"}]},
            "content_key_usage_policies": [{"name": "Policy 1", "fairplay": {"hdcp": "TYPE0", "allow_airplay": false}}]})
    );
}

fn dt_claims(s: &Seen, alg: &str) -> (Value, Value) {
    let jose = s.jose.clone().unwrap();
    assert_eq!(jose["alg"], alg);
    assert_eq!(jose["kid"], DT_KID);
    let c = s.claims.clone().unwrap();
    assert!(c["jti"].as_str().is_some_and(|j| j.len() == 36));
    assert!((c["iat"].as_i64().unwrap() - Timestamp::now().unix()).abs() < 30);
    let opt: Value = serde_json::from_str(c["optData"].as_str().unwrap()).unwrap();
    assert_eq!(opt["merchant"], "client_dev");
    assert_eq!(opt["userId"], "user-1");
    let custom: Value = serde_json::from_slice(
        &STANDARD
            .decode(s.headers["x-dt-custom-data"].as_bytes())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        custom,
        json!({"userId": "user-1", "sessionId": opt["sessionId"], "merchant": "client_dev"})
    );
    let crt: Value = serde_json::from_str(c["crt"].as_str().unwrap()).unwrap();
    let crt = crt.as_array().unwrap();
    assert_eq!(crt.len(), 1);
    (opt, crt[0].clone())
}

#[tokio::test]
async fn drmtoday_translates_tokens_into_the_crt_for_every_drm() {
    let (base, m) = mock().await;
    let app = common::app().await;
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "HS256",
            r#"{"policy_version":2,"playback_policy":{"persistent":true}}"#,
            json!({"assetId": CID_MULTI, "profile": {"purchase": {}}, "storeLicense": true}),
        ),
        (
            "HS384",
            r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600,"playback_duration":1800},
            "security_policy":[{"track_type":"HD","widevine":{"security_level":5,"required_hdcp_version":"HDCP_V2_2"}},
                               {"track_type":"ALL","widevine":{"security_level":1}}]}"#,
            json!({"assetId": CID_MULTI,
                "profile": {"rental": {"relativeExpiration": "PT3600S", "playDuration": 1_800_000}},
                "storeLicense": false,
                "outputProtection": {"digital": true, "analogue": false, "enforce": true},
                "op": {"config": {"SD": {"WidevineM": {"minSL": 1}}, "HD": {"WidevineM": {"minSL": 5, "requireHDCP": "HDCP_V2_2"}},
                    "UHD1": {"WidevineM": {"minSL": 1}}, "UHD2": {"WidevineM": {"minSL": 1}}, "AUDIO": {"WidevineM": {"minSL": 1}}}}}),
        ),
        (
            "HS512",
            r#"{"policy_version":2,"playback_policy":{"persistent":false,"expire_date":"2099-01-02T03:04:05Z","allowed_track_types":"SD_ONLY"},
            "security_policy":[{"track_type":"ALL","widevine":{"required_cgms_flags":"COPY_ONCE"}}]}"#,
            json!({"assetId": CID_MULTI,
                "profile": {"rental": {"absoluteExpiration": "2099-01-02T03:04:05Z"}},
                "storeLicense": false,
                "outputProtection": {"digital": false, "analogue": true, "enforce": true}}),
        ),
    ];
    let challenge = widevine_license_request(KID_SD);
    for (alg, p, want) in &cases {
        let app = common::app().await;
        add_drmtoday(&app, SITE, "Widevine", "dt", format!("{base}/dt-wv"), alg).await;
        for path in [RI, WV] {
            let tok = token(DrmType::Widevine, CID_MULTI, &policy(p));
            let req = if path == RI {
                Request::post(path).header("pallycon-customdata-v2", tok)
            } else {
                Request::post(path).header("authorization", format!("Bearer {tok}"))
            };
            let a = app
                .send(req.body(Body::from(challenge.clone())).unwrap())
                .await;
            assert_eq!(a.status, StatusCode::OK, "{alg} {path}: {}", a.text());
            assert_eq!(a.body.to_vec(), DT_LICENCE, "byte for byte");
            answer_ok(&a);
            let s = m.last("dt-wv");
            headers_ok(&s);
            assert_eq!(s.body, challenge);
            assert_eq!(s.query.as_deref(), Some("specConform=true"));
            let (_, crt) = dt_claims(&s, alg);
            assert_eq!(crt, *want, "{alg} {path}");
        }
    }
    drop(app);

    // PlayReady: the SOAP challenge, the licence byte for byte.
    let app = common::app().await;
    add_drmtoday(
        &app,
        SITE,
        "PlayReady",
        "dt",
        format!("{base}/dt-pr"),
        "HS256",
    )
    .await;
    let p = policy(
        r#"{"policy_version":2,"playback_policy":{"persistent":false},
        "security_policy":[{"track_type":"ALL","playready":{"security_level":2000,"digital_video_protection_level":270}}]}"#,
    );
    let body = pr_challenge(KID_ALL);
    let a = app
        .send(
            Request::post(PR)
                .header(
                    "authorization",
                    format!("Bearer {}", token(DrmType::PlayReady, CID, &p)),
                )
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.body.to_vec(),
        b"<soap:Envelope>DRMTODAY-PR</soap:Envelope>".to_vec()
    );
    let s = m.last("dt-pr");
    headers_ok(&s);
    assert_eq!(s.body, body.as_bytes());
    let (_, crt) = dt_claims(&s, "HS256");
    assert_eq!(
        crt["op"]["config"]["HD"],
        json!({"PlayReadyM": {"minSL": 2000, "uncompressedDigitalVideoOpl": 270}})
    );
    assert_eq!(crt["outputProtection"]["digital"], true);

    // FairPlay: spc=<base64>&assetId=…; the base64 CKC comes back raw.
    add_drmtoday(
        &app,
        HTTP_SITE,
        "FairPlay",
        "dt",
        format!("{base}/dt-fp"),
        "HS256",
    )
    .await;
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::FairPlay,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    let a = app
        .send(
            Request::post(FP)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::from(fairplay_spc()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), ckc(b"DRMTODAY-CKC"));
    answer_ok(&a);
    let s = m.last("dt-fp");
    headers_ok(&s);
    assert_eq!(
        s.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(&s.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(form[0], ("spc".to_owned(), STANDARD.encode(fairplay_spc())));
    assert_eq!(form[1], ("assetId".to_owned(), CID.to_owned()));
    let (_, crt) = dt_claims(&s, "HS256");
    assert_eq!(crt["assetId"], CID);
}

#[tokio::test]
async fn drmtoday_refusals_and_failover() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add_drmtoday(
        &app,
        SITE,
        "Widevine",
        "dt",
        format!("{base}/dt-refuse"),
        "HS256",
    )
    .await;
    add_drmtoday(
        &app,
        HTTP_SITE,
        "Widevine",
        "dt",
        format!("{base}/dt-refuse"),
        "HS256",
    )
    .await;
    let challenge = widevine_license_request(KID_ALL);
    let a = app
        .send(
            Request::post(RI)
                .header(
                    "pallycon-customdata-v2",
                    token(DrmType::Widevine, CID, &streaming()),
                )
                .body(Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    a.assert_pallycon(StatusCode::OK, "7622");
    let msg = a.json()["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("x-dt-resp-code 40002") && msg.contains("HTTP 403"),
        "{msg}"
    );
    answer_ok(&a);
    let tok = token_for(
        &creds_of(HTTP_SITE),
        DrmType::Widevine,
        CID,
        &streaming(),
        Timestamp::now(),
    );
    let a = app
        .send(
            Request::post(WV)
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::from(challenge.clone()))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::BAD_GATEWAY, "7622");

    let app = common::app().await;
    add_drmtoday(
        &app,
        HTTP_SITE,
        "Widevine",
        "primary",
        format!("{base}/down"),
        "HS256",
    )
    .await;
    add_drmtoday(
        &app,
        HTTP_SITE,
        "Widevine",
        "backup",
        format!("{base}/dt-wv"),
        "HS256",
    )
    .await;
    let a = send_wv(&app, streaming()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), DT_LICENCE);
    headers_ok(&m.last("dt-wv"));
    // What the token cannot say is refused before anything is sent.
    let before = m.calls("dt-wv");
    for p in [
        r#"{"policy_version":2,"playback_policy":{"persistent":false,"renewal_duration":60}}"#,
        r#"{"policy_version":2,"playback_policy":{"persistent":false,"playback_duration":60}}"#,
    ] {
        let a = send_wv(&app, policy(p)).await;
        a.assert_problem(StatusCode::FORBIDDEN, "7621");
    }
    assert_eq!(m.calls("dt-wv"), before);
    // A stream limit is keyward's own (its gatekeeper enforces it): served.
    let a = send_wv(
        &app,
        policy(r#"{"policy_version":2,"playback_policy":{"persistent":false,"max_stream_per_user":1}}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());

    let app = common::app().await;
    add_drmtoday(
        &app,
        HTTP_SITE,
        "Widevine",
        "a",
        format!("{base}/down"),
        "HS256",
    )
    .await;
    add_drmtoday(
        &app,
        HTTP_SITE,
        "Widevine",
        "b",
        format!("{base}/down"),
        "HS256",
    )
    .await;
    let a = send_wv(&app, streaming()).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7623");
}
