//! PlayReady through upstreams: a site with PlayReady upstreams forwards the
//! player's SOAP challenge (keyward having decided the entitlement) and relays
//! the licence byte for byte. Against a mock PlayReady licence server on
//! loopback (axum) that reads the challenge as a server would (media type,
//! SOAPAction, the SOAP body, CustomData), answers a recognisable
//! `AcquireLicenseResponse`, and misbehaves on demand: SOAP faults (0x8004C600,
//! 0x8004C065 revoked), 5xx without a body, resets, garbage. Kind `playready`
//! (CustomData kept or replaced, the Microsoft test server's `cfg=` built from
//! the entitlement) and kind `http-forward` (the raw challenge plus a JWT the
//! mock verifies with its own HS256), through `/ri/playready/licenseManager.do`
//! (token in CustomData or the header) and `/v1/license/playready`.

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
use keyward_drm::playready::PlayReadyChallenge;
use keyward_drm::Kid;
use keyward_token::{DrmType, Policy, Timestamp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PR: &str = "/ri/playready/licenseManager.do";
const NATIVE: &str = "/v1/license/playready";
const ACTION: &str = "\"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense\"";
const XML: &str = "text/xml; charset=utf-8";
const JWT_KEY: &str = "tenant-shared-hs256-key-0123456789-abcdef";
/// A key the credentials carry (not in the store).
const CARRIED_KID: [u8; 16] = [0x44; 16];
const CARRIED_KEY: [u8; 16] = [0x55; 16];

/// One request the mock saw.
#[derive(Clone, Debug)]
struct Seen {
    mode: String,
    headers: HeaderMap,
    query: Option<String>,
    body: Vec<u8>,
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
            .unwrap_or_else(|| panic!("the mock saw no {mode} request"))
    }
}

/// The licence the mock answers: recognisable (the mode's name), and with
/// bytes any re-encoding would change (CRLF, a tab, single quotes, an entity,
/// non-ASCII text, trailing spaces).
fn licence_envelope(tag: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>\r\n\t\
         <soap:Body><AcquireLicenseResponse xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols\"><AcquireLicenseResult>\
         <Response><LicenseResponse xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols/messages\" Id=\"SignedData\">\
         <Version>1</Version><Licenses><License>WE1SAAAAAwAAAAAAAAAA</License></Licenses>\
         <Acknowledgement><TransactionID>{tag}</TransactionID></Acknowledgement><Note>caf\u{e9} &amp; cr\u{e8}me  </Note>\
         </LicenseResponse></Response></AcquireLicenseResult></AcquireLicenseResponse></soap:Body></soap:Envelope>\r\n"
    )
    .into_bytes()
}

/// A SOAP fault as the Microsoft test server answers it.
fn fault(status_code: &str, text: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <soap:Body>\n    <soap:Fault>\n      \
         <faultcode>soap:Server</faultcode>\n      <faultstring>\n        {text}\n      </faultstring>\n      \
         <faultactor>http://mock/rightsmanager.asmx</faultactor>\n      <detail>\n        <Exception>\n          \
         <StatusCode>{status_code}</StatusCode>\n        </Exception>\n      </detail>\n    </soap:Fault>\n  </soap:Body>\n</soap:Envelope>\n"
    )
    .into_bytes()
}

fn revoked_text() -> String {
    format!(
        "System.Web.Services.Protocols.SoapException: Device Certificate Revoked.\n        {}",
        "at Microsoft.Media.Drm.RightsManager.AcquireLicense(XmlDocument challenge)\n        "
            .repeat(8)
    )
}

fn soap(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [("content-type", XML)], body).into_response()
}

/// The mock: `POST /{mode}`.
async fn server(
    State(m): State<Arc<Mock>>,
    Path(mode): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    m.seen.lock().unwrap().push(Seen {
        mode: mode.clone(),
        headers: headers.clone(),
        query: uri.query().map(str::to_owned),
        body: body.to_vec(),
    });
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    match mode.as_str() {
        // What a PlayReady server insists on before anything else.
        "licence" | "licence2" | "cfg" | "forward" | "forward-json" | "probe" => {
            if header("content-type") != XML {
                return soap(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    fault("0x8004c601", "bad media type"),
                );
            }
            if header("soapaction") != ACTION {
                return soap(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    fault("0x8004c601", "no SOAPAction"),
                );
            }
            if PlayReadyChallenge::parse(&body).is_err() {
                return soap(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    fault("0x8004c601", "invalid message"),
                );
            }
            match mode.as_str() {
                "forward" => (
                    [("content-type", "application/vnd.tenant.licence")],
                    b"\x00TENANT-LICENCE\xff\r\n".to_vec(),
                )
                    .into_response(),
                "forward-json" => (
                    [("content-type", "application/json; charset=utf-8")],
                    br#"{"license":"AAEC"}"#.to_vec(),
                )
                    .into_response(),
                "probe" => soap(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    fault("0x8004c601", "The license request is invalid."),
                ),
                _ => soap(StatusCode::OK, licence_envelope(&mode)),
            }
        }
        "fault-internal" => soap(
            StatusCode::INTERNAL_SERVER_ERROR,
            fault("0x8004C600", "Internal error"),
        ),
        "fault-revoked" => soap(
            StatusCode::INTERNAL_SERVER_ERROR,
            fault("0x8004c065", &revoked_text()),
        ),
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "refuse" => (StatusCode::FORBIDDEN, "not for you").into_response(),
        "garbage" => "this is not a licence".into_response(),
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
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

/// A port that accepts and drops every connection (a reset).
async fn resetting() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }
    });
    format!("http://{addr}/x")
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

/// Adds a PlayReady upstream; `spec` holds `kind`, `url` and optionally
/// `settings`, `secrets`.
async fn add(app: &TestApp, site: &str, name: &str, mut spec: Value) {
    spec["name"] = json!(name);
    spec["drm"] = json!("PlayReady");
    let a = admin(
        app,
        "POST",
        &format!("/v1/admin/sites/{site}/upstreams"),
        Some(spec),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
}

fn pr_tok(site: &str, cid: &str, policy: &Policy) -> String {
    token_for(
        &creds_of(site),
        DrmType::PlayReady,
        cid,
        policy,
        Timestamp::now(),
    )
}

fn policy(json: Value) -> Policy {
    Policy::from_json(json.to_string().as_bytes()).unwrap()
}

/// A challenge whose content header (WRMHEADER 4.2) names these key ids.
fn challenge_for(kids: &[[u8; 16]], custom_data: Option<&str>) -> String {
    let kid_elems: String = kids
        .iter()
        .map(|k| {
            format!(
                r#"<KID ALGID="AESCTR" VALUE="{}"></KID>"#,
                STANDARD.encode(Kid::new(*k).to_guid_le())
            )
        })
        .collect();
    let header = format!(
        r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.2.0.0"><DATA><PROTECTINFO><KIDS>{kid_elems}</KIDS></PROTECTINFO></DATA></WRMHEADER>"#
    );
    let default_header = r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>HhEREREREREREREREREREQ==</KID></DATA></WRMHEADER>"#;
    playready_challenge(custom_data).replace(default_header, &header)
}

fn uuid(k: [u8; 16]) -> String {
    Kid::new(k).to_uuid_string()
}

#[tokio::test]
async fn the_challenge_goes_as_it_came_and_the_licence_comes_back_byte_for_byte() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "sdk",
        json!({"kind": "playready", "url": format!("{base}/licence"),
            "settings": {"headers": {"X-Tenant": "t-1"}},
            "secrets": {"Authorization": "Bearer s3cret-upstream"}}),
    )
    .await;
    let tok = pr_tok(SITE, CID, &streaming());
    let want = licence_envelope("licence");

    // The token in CustomData on the PallyCon path.
    let body = playready_challenge(Some(&tok));
    let a = app
        .send(
            Request::post(PR)
                .header("x-request-id", "req-pr-1")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), XML);
    assert_eq!(a.body.to_vec(), want);
    let seen = m.last("licence");
    assert_eq!(
        seen.body,
        body.as_bytes(),
        "the challenge is forwarded as is"
    );
    assert_eq!(seen.headers["content-type"], XML);
    assert_eq!(seen.headers["soapaction"], ACTION);
    assert_eq!(seen.headers["authorization"], "Bearer s3cret-upstream");
    assert_eq!(seen.headers["x-tenant"], "t-1");
    assert_eq!(seen.headers["x-request-id"], "req-pr-1");
    assert_eq!(seen.query, None);
    assert_eq!(
        PlayReadyChallenge::parse(&seen.body)
            .unwrap()
            .custom_data
            .as_deref(),
        Some(tok.as_str()),
        "CustomData passes through"
    );

    // The token in the header, on the PallyCon path and the native one.
    for path in [PR, NATIVE] {
        let body = playready_challenge(None);
        let a = app.post(path, Some(&tok), body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        assert_eq!(a.content_type(), XML);
        assert_eq!(a.body.to_vec(), want, "{path}");
        assert_eq!(m.last("licence").body, body.as_bytes(), "{path}");
    }
    // The generic PallyCon path with a PlayReady token.
    let a = app
        .post(
            "/ri/licenseManager.do",
            None,
            playready_challenge(Some(&tok)),
        )
        .await;
    assert_eq!(a.body.to_vec(), want);
    assert_eq!(m.calls("licence"), 4);

    // What keyward refuses itself never leaves: a malformed challenge, an
    // expired policy, a token for another DRM.
    app.post(PR, Some(&tok), "not xml")
        .await
        .assert_pallycon(StatusCode::OK, "7205");
    let expired = policy(json!({"policy_version": 2,
        "playback_policy": {"persistent": false, "expire_date": "2020-01-01T00:00:00Z"}}));
    app.post(
        PR,
        None,
        playready_challenge(Some(&pr_tok(SITE, CID, &expired))),
    )
    .await
    .assert_pallycon(StatusCode::OK, "7510");
    app.post(PR, None, playready_challenge(Some(&ck_token(CID))))
        .await
        .assert_pallycon(StatusCode::OK, "7018");
    assert_eq!(m.calls("licence"), 4);

    // Another site without upstreams keeps answering 7202.
    let http = pr_tok(HTTP_SITE, CID, &streaming());
    app.post(PR, None, playready_challenge(Some(&http)))
        .await
        .assert_pallycon(StatusCode::NOT_IMPLEMENTED, "7202");
}

#[tokio::test]
async fn custom_data_is_replaced_when_configured() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "replace",
        json!({"kind": "playready", "url": format!("{base}/licence"),
            "settings": {"custom_data": "User=tenant&id=<42>"}}),
    )
    .await;
    let tok = pr_tok(SITE, CID, &streaming());
    // In the challenge: replaced, every other byte kept.
    let body = playready_challenge(Some(&tok));
    let a = app.post(PR, None, body.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), licence_envelope("licence"));
    let seen = m.last("licence");
    assert_eq!(
        String::from_utf8(seen.body.clone()).unwrap(),
        body.replace(&tok, "User=tenant&amp;id=&lt;42&gt;")
    );
    assert_eq!(
        PlayReadyChallenge::parse(&seen.body)
            .unwrap()
            .custom_data
            .as_deref(),
        Some("User=tenant&id=<42>")
    );
    // Absent (the token in the header): added.
    let a = app
        .post(NATIVE, Some(&tok), playready_challenge(None))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let seen = m.last("licence");
    assert_eq!(
        PlayReadyChallenge::parse(&seen.body)
            .unwrap()
            .custom_data
            .as_deref(),
        Some("User=tenant&id=<42>")
    );
    assert!(!String::from_utf8(seen.body).unwrap().contains(&tok));
}

/// A policy with a PlayReady security level, persistence and optionally a
/// carried key.
fn cfg_policy(persist: bool, sl: u16, carried: bool) -> Policy {
    let mut p = json!({"policy_version": 2,
        "playback_policy": {"persistent": persist},
        "security_policy": [{"track_type": "ALL", "playready": {"security_level": sl}}]});
    if carried {
        p["external_key"] = json!({"mpeg_cenc": [{"track_type": "ALL",
            "key_id": hex::encode(CARRIED_KID), "key": hex::encode(CARRIED_KEY)}]});
    }
    policy(p)
}

#[tokio::test]
async fn the_test_server_cfg_is_built_from_the_entitlement() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "test-server",
        json!({"kind": "playready", "url": format!("{base}/cfg"),
            "settings": {"test_server_cfg": true}}),
    )
    .await;
    // The matrix: persist × security level × carried or stored key.
    for persist in [false, true] {
        for sl in [150u16, 2000, 3000] {
            for carried in [true, false] {
                let tok = pr_tok(SITE, CID, &cfg_policy(persist, sl, carried));
                let (kid, key) = if carried {
                    (CARRIED_KID, CARRIED_KEY)
                } else {
                    (KID_ALL, KEY_ALL)
                };
                let body = challenge_for(&[kid], Some(&tok));
                let a = app.post(PR, None, body.clone()).await;
                let case = format!("persist {persist}, sl {sl}, carried {carried}");
                assert_eq!(a.status, StatusCode::OK, "{case}: {}", a.text());
                assert_eq!(a.body.to_vec(), licence_envelope("cfg"), "{case}");
                let seen = m.last("cfg");
                assert_eq!(seen.body, body.as_bytes(), "{case}");
                assert_eq!(
                    seen.query.as_deref(),
                    Some(
                        format!(
                            "cfg=(kid:{},contentkey:{},sl:{sl},persist:{persist})",
                            uuid(kid),
                            STANDARD.encode(key)
                        )
                        .as_str()
                    ),
                    "{case}"
                );
            }
        }
    }

    // Several keys, each with its track's rules; durations become dates.
    let multi = policy(json!({"policy_version": 2,
        "playback_policy": {"persistent": true, "license_duration": 3600, "playback_duration": 600},
        "security_policy": [
            {"track_type": "HD", "playready": {"security_level": 3000, "digital_video_protection_level": 300,
                "require_hdcp_type_1": true}},
            {"track_type": "ALL", "playready": {"security_level": 2000, "analog_video_protection_level": 200}}]}));
    let before = Timestamp::now().unix();
    let a = app
        .post(
            NATIVE,
            Some(&pr_tok(SITE, CID_MULTI, &multi)),
            challenge_for(&[KID_SD, KID_HD], None),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let q = m.last("cfg").query.unwrap();
    let q = q.strip_prefix("cfg=").unwrap();
    let groups: Vec<&str> = q.split("),(").collect();
    assert_eq!(groups.len(), 2, "{q}");
    assert!(
        groups[0].starts_with(&format!(
            "(kid:{},contentkey:{},sl:2000,avopl:200,persist:true,expiration:",
            uuid(KID_SD),
            STANDARD.encode(KEY_SD)
        )),
        "{q}"
    );
    assert!(
        groups[1].starts_with(&format!(
            "kid:{},contentkey:{},sl:3000,ucvopl:300,dvop:(guid:ABB2C6F1-E663-4625-A945-972D17B231E7,data:AAAAAQ==),persist:true,expiration:",
            uuid(KID_HD),
            STANDARD.encode(KEY_HD)
        )),
        "{q}"
    );
    assert!(groups[1].ends_with(",firstexp:600)"), "{q}");
    // expiration: now + license_duration, yyyymmddhhmmss (UTC).
    let exp = groups[0]
        .split(',')
        .find_map(|p| p.strip_prefix("expiration:"))
        .unwrap();
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &exp[0..4],
        &exp[4..6],
        &exp[6..8],
        &exp[8..10],
        &exp[10..12],
        &exp[12..14]
    );
    let at = Timestamp::parse(&iso).unwrap().unix();
    assert!((before + 3600..=before + 3605).contains(&at), "{exp}");

    // What cannot be said is refused, and the upstream is not asked.
    let calls = m.calls("cfg");
    let cipher = policy(
        json!({"policy_version": 2, "playback_policy": {"persistent": false},
        "security_policy": [{"track_type": "ALL", "playready": {"security_level": 150, "enable_license_cipher": true}}]}),
    );
    let a = app
        .post(
            NATIVE,
            Some(&pr_tok(SITE, CID, &cipher)),
            challenge_for(&[KID_ALL], None),
        )
        .await;
    a.assert_problem(StatusCode::FORBIDDEN, "7209");
    assert!(a.text().contains("licence cipher"), "{}", a.text());
    // A key id without a key (the test server would make one from its seed).
    app.post(
        PR,
        Some(&pr_tok(SITE, CID, &streaming())),
        challenge_for(&[[0x99; 16]], None),
    )
    .await
    .assert_pallycon(StatusCode::OK, "7001");
    // A key of a track the policy does not release.
    let sd_only = policy(json!({"policy_version": 2,
        "playback_policy": {"persistent": false, "allowed_track_types": "SD_ONLY"}}));
    app.post(
        PR,
        Some(&pr_tok(SITE, CID_MULTI, &sd_only)),
        challenge_for(&[KID_HD], None),
    )
    .await
    .assert_pallycon(StatusCode::OK, "7502");
    // Another content's key is not this content's.
    app.post(
        PR,
        Some(&pr_tok(SITE, CID, &streaming())),
        challenge_for(&[KID_SD], None),
    )
    .await
    .assert_pallycon(StatusCode::OK, "7001");
    assert_eq!(m.calls("cfg"), calls);
}

#[tokio::test]
async fn soap_faults_are_coded_refusals_and_relayed_on_native_paths() {
    let (base, m) = mock().await;
    for (mode, status_code, words) in [
        ("fault-internal", "0x8004C600", "Internal error"),
        (
            "fault-revoked",
            "0x8004c065",
            "SoapException: Device Certificate Revoked. at Microsoft",
        ),
    ] {
        let app = common::app().await;
        for site in [SITE, HTTP_SITE] {
            add(
                &app,
                site,
                "first",
                json!({"kind": "playready", "url": format!("{base}/{mode}")}),
            )
            .await;
            add(
                &app,
                site,
                "second",
                json!({"kind": "playready", "url": format!("{base}/licence2")}),
            )
            .await;
        }
        // PallyCon path: 7207 with the fault's code and (bounded) text; 200,
        // or the real status for a site that asks for it.
        for (site, status) in [(SITE, StatusCode::OK), (HTTP_SITE, StatusCode::BAD_GATEWAY)] {
            let a = app
                .post(
                    PR,
                    None,
                    playready_challenge(Some(&pr_tok(site, CID, &streaming()))),
                )
                .await;
            a.assert_pallycon(status, "7207");
            let msg = a.json()["message"].as_str().unwrap().to_owned();
            assert!(msg.contains(status_code), "{mode}: {msg}");
            assert!(msg.contains(words), "{mode}: {msg}");
            assert!(msg.chars().count() < 300, "{mode}: bounded: {msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
        // Native path: the fault itself, as the upstream sent it.
        let a = app
            .post(
                NATIVE,
                Some(&pr_tok(SITE, CID, &streaming())),
                playready_challenge(None),
            )
            .await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", a.text());
        assert_eq!(a.content_type(), XML);
        assert_eq!(a.header("x-keyward-error-code"), Some("7207"));
        let want = if mode == "fault-revoked" {
            fault(status_code, &revoked_text())
        } else {
            fault(status_code, "Internal error")
        };
        assert_eq!(a.body.to_vec(), want, "{mode}");
        // A fault is an answer: the next upstream is not asked.
        assert_eq!(m.calls("licence2"), 0, "{mode}");
    }
}

#[tokio::test]
async fn failover_on_5xx_without_a_body_and_resets_never_after_an_answer() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "down",
        json!({"kind": "playready", "url": format!("{base}/down")}),
    )
    .await;
    add(
        &app,
        SITE,
        "reset",
        json!({"kind": "playready", "url": resetting().await}),
    )
    .await;
    add(
        &app,
        SITE,
        "good",
        json!({"kind": "playready", "url": format!("{base}/licence")}),
    )
    .await;
    let tok = pr_tok(SITE, CID, &streaming());
    let a = app.post(PR, None, playready_challenge(Some(&tok))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body.to_vec(), licence_envelope("licence"));
    assert_eq!((m.calls("down"), m.calls("licence")), (1, 1));

    // Definite answers that are no licence: 7207, no failover.
    for (mode, word) in [
        ("refuse", "HTTP 403"),
        ("garbage", "neither a licence nor a SOAP fault"),
        ("boom", "HTTP 500"),
    ] {
        let app = common::app().await;
        add(
            &app,
            SITE,
            "first",
            json!({"kind": "playready", "url": format!("{base}/{mode}")}),
        )
        .await;
        add(
            &app,
            SITE,
            "second",
            json!({"kind": "playready", "url": format!("{base}/licence2")}),
        )
        .await;
        let a = app
            .post(NATIVE, Some(&tok), playready_challenge(None))
            .await;
        a.assert_problem(StatusCode::BAD_GATEWAY, "7207");
        assert!(a.text().contains(word), "{mode}: {}", a.text());
        assert_eq!(m.calls("licence2"), 0, "{mode}");
    }

    // Nobody answers: 7208 (503 native; 200 on the PallyCon path).
    let app = common::app().await;
    add(
        &app,
        SITE,
        "down",
        json!({"kind": "playready", "url": format!("{base}/down")}),
    )
    .await;
    add(
        &app,
        SITE,
        "reset",
        json!({"kind": "playready", "url": resetting().await}),
    )
    .await;
    let a = app
        .post(NATIVE, Some(&tok), playready_challenge(None))
        .await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "7208");
    assert!(!a.text().contains("reset"), "{}", a.text());
    app.post(PR, None, playready_challenge(Some(&tok)))
        .await
        .assert_pallycon(StatusCode::OK, "7208");
}

/// Verifies an HS256 JWT with the shared key, independently of keyward's
/// signer, and returns its claims.
fn verify_jwt(jwt: &str, key: &[u8]) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(parts[0].as_bytes());
    mac.update(b".");
    mac.update(parts[1].as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
        .expect("the JWT's signature verifies with the shared key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn http_forward_vouches_with_a_jwt_the_tenant_verifies() {
    let (base, m) = mock().await;
    let app = common::app().await;
    add(
        &app,
        SITE,
        "tenant",
        json!({"kind": "http-forward", "url": format!("{base}/forward"),
            "settings": {"jwt": true, "headers": {"X-Tenant": "t-1"}},
            "secrets": {"keyward-jwt-key": JWT_KEY, "X-Api-Key": "api-secret"}}),
    )
    .await;
    let p = policy(json!({"policy_version": 2,
        "playback_policy": {"persistent": true, "license_duration": 3600, "max_stream_per_user": 2},
        "security_policy": [{"track_type": "ALL", "playready": {"security_level": 2000}}],
        "external_key": {"mpeg_cenc": [{"track_type": "ALL",
            "key_id": hex::encode(CARRIED_KID), "key": hex::encode(CARRIED_KEY)}]}}));
    let tok = pr_tok(SITE, CID, &p);
    let mut jtis = Vec::new();
    for (path, header) in [(PR, None), (NATIVE, Some(tok.as_str()))] {
        let body = if header.is_some() {
            challenge_for(&[KID_ALL], None)
        } else {
            challenge_for(&[KID_ALL], Some(&tok))
        };
        let before = Timestamp::now().unix();
        let a = app.post(path, header, body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        // Bytes relayed; a media type outside the safe set becomes octets.
        assert_eq!(a.body.as_ref(), b"\x00TENANT-LICENCE\xff\r\n");
        assert_eq!(a.content_type(), "application/octet-stream");
        let seen = m.last("forward");
        assert_eq!(seen.body, body.as_bytes());
        assert_eq!(seen.headers["content-type"], XML);
        assert_eq!(seen.headers["soapaction"], ACTION);
        assert_eq!(seen.headers["x-api-key"], "api-secret");
        assert_eq!(seen.headers["x-tenant"], "t-1");
        // The signing key never travels.
        assert!(!seen.headers.contains_key("keyward-jwt-key"));
        for (_, v) in &seen.headers {
            assert!(!v.to_str().unwrap_or("").contains(JWT_KEY));
        }
        let jwt = seen.headers["authorization"]
            .to_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_owned();
        let c = verify_jwt(&jwt, JWT_KEY.as_bytes());
        assert_eq!(c["iss"], "keyward");
        let iat = c["iat"].as_i64().unwrap();
        assert!((before..=before + 5).contains(&iat));
        assert_eq!(c["exp"].as_i64().unwrap(), iat + 60);
        jtis.push(c["jti"].as_str().unwrap().to_owned());
        assert_eq!(c["site"], SITE);
        assert_eq!(c["sub"], "user-1");
        assert_eq!(c["cid"], CID);
        assert_eq!(c["drm"], "PlayReady");
        assert_eq!(c["origin"], "pallycon-token");
        // Key ids keyward releases: the carried one, and the stored key the
        // challenge names. Never a key.
        assert_eq!(c["kids"], json!([uuid(CARRIED_KID), uuid(KID_ALL)]));
        let text = c.to_string().to_lowercase();
        for key in [CARRIED_KEY, KEY_ALL] {
            assert!(!text.contains(&hex::encode(key)), "{text}");
            assert!(!c.to_string().contains(&STANDARD.encode(key)), "{text}");
            assert!(!c.to_string().contains(&URL_SAFE_NO_PAD.encode(key)));
        }
        assert_eq!(c["tracks"], "ALL");
        assert_eq!(c["timing"]["persistent"], true);
        assert_eq!(c["timing"]["license_duration"], 3600);
        assert_eq!(c["stream_limit"], 2);
        assert_eq!(
            c["output"],
            json!([{"track": "ALL", "rule": {"security_level": 2000, "digital_video_opl": null,
                "analog_video_opl": null, "digital_audio_opl": null, "hdcp_type1": null, "license_cipher": null}}])
        );
        assert_eq!(
            c["challenge_sha256"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(&seen.body))
        );
    }
    assert_ne!(jtis[0], jtis[1], "a new jti per request");

    // Another header carries the bare JWT; a JSON answer keeps its type.
    let app = common::app().await;
    add(
        &app,
        SITE,
        "tenant",
        json!({"kind": "http-forward", "url": format!("{base}/forward-json"),
            "settings": {"jwt": true, "jwt_header": "X-Keyward-Jwt"},
            "secrets": {"keyward-jwt-key": JWT_KEY, "Authorization": "Basic dGVuYW50"}}),
    )
    .await;
    let a = app
        .post(NATIVE, Some(&tok), challenge_for(&[KID_ALL], None))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/json");
    assert_eq!(a.text(), r#"{"license":"AAEC"}"#);
    let seen = m.last("forward-json");
    assert_eq!(seen.headers["authorization"], "Basic dGVuYW50");
    let c = verify_jwt(
        seen.headers["x-keyward-jwt"].to_str().unwrap(),
        JWT_KEY.as_bytes(),
    );
    assert_eq!(c["cid"], CID);

    // A refusal is upstream_refused with the status; a fault is 7207 as for
    // kind playready.
    for (mode, code, word) in [
        ("boom", "upstream_refused", "HTTP 500"),
        ("refuse", "upstream_refused", "HTTP 403"),
        ("fault-revoked", "7207", "0x8004c065"),
    ] {
        let app = common::app().await;
        add(
            &app,
            SITE,
            "tenant",
            json!({"kind": "http-forward", "url": format!("{base}/{mode}")}),
        )
        .await;
        let a = app.post(PR, None, playready_challenge(Some(&tok))).await;
        a.assert_pallycon(StatusCode::OK, code);
        assert!(a.text().contains(word), "{mode}: {}", a.text());
        if code == "upstream_refused" {
            app.post(NATIVE, Some(&tok), playready_challenge(None))
                .await
                .assert_problem(StatusCode::BAD_GATEWAY, code);
        }
    }
}

#[tokio::test]
async fn admin_api_checks_kinds_drms_and_settings() {
    let (base, m) = mock().await;
    let app = common::app().await;
    let up = format!("/v1/admin/sites/{SITE}/upstreams");
    for (body, word) in [
        (
            json!({"drm": "FairPlay", "kind": "http-forward"}),
            "serves Widevine and PlayReady, not FairPlay",
        ),
        (
            json!({"drm": "Widevine", "kind": "playready"}),
            "serves PlayReady, not Widevine",
        ),
        (
            json!({"drm": "PlayReady", "kind": "fairplay-ksm"}),
            "serves FairPlay",
        ),
        (
            json!({"drm": "PlayReady", "kind": "playready", "settings": {"custom_data": ""}}),
            "custom_data",
        ),
        (
            json!({"drm": "PlayReady", "kind": "playready", "settings": {"cfg": true}}),
            "settings",
        ),
        (
            json!({"drm": "PlayReady", "kind": "http-forward", "settings": {"jwt": true}}),
            "keyward-jwt-key",
        ),
        (
            json!({"drm": "PlayReady", "kind": "http-forward",
                "secrets": {"keyward-jwt-key": JWT_KEY}}),
            "settings.jwt",
        ),
        (
            json!({"drm": "PlayReady", "kind": "http-forward", "settings": {"jwt": true},
                "secrets": {"keyward-jwt-key": JWT_KEY, "Authorization": "x"}}),
            "jwt_header",
        ),
    ] {
        let mut b = body.clone();
        b["name"] = json!("x");
        b["url"] = json!(format!("{base}/licence"));
        let a = admin(&app, "POST", &up, Some(b)).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_input");
        assert!(a.text().contains(word), "{body}: {}", a.text());
    }
    // The private secret is listed by name only, like every secret.
    add(
        &app,
        SITE,
        "fwd",
        json!({"kind": "http-forward", "url": format!("{base}/forward"),
            "settings": {"jwt": true}, "secrets": {"keyward-jwt-key": JWT_KEY}}),
    )
    .await;
    let a = admin(&app, "GET", &format!("{up}/fwd"), None).await;
    assert_eq!(a.json()["secret_names"], json!(["keyward-jwt-key"]));
    assert!(!a.text().contains(JWT_KEY));
    // Removed: 7202 again.
    let a = admin(&app, "DELETE", &format!("{up}/fwd"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    app.post(
        NATIVE,
        Some(&pr_tok(SITE, CID, &streaming())),
        playready_challenge(None),
    )
    .await
    .assert_problem(StatusCode::NOT_IMPLEMENTED, "7202");
    assert_eq!(m.seen.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn probes_speak_each_kinds_protocol() {
    let (base, m) = mock().await;
    let upstream = |kind: &str, url: String, settings: Value, secrets: &[(&str, &str)]| {
        keyward_store::Upstream {
            site_id: keyward_store::SiteId::parse(SITE).unwrap(),
            drm: keyward_store::Drm::PlayReady,
            name: format!("{kind}-probe"),
            kind: kind.into(),
            url,
            settings,
            secrets: secrets
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        keyward_store::UpstreamSecret::new((*v).to_owned()).unwrap(),
                    )
                })
                .collect(),
            position: 0,
            created_at: 0,
        }
    };
    // kind playready: a minimal challenge; the server's fault shows it answers.
    let report = keyward_server::probe_upstream(upstream(
        "playready",
        format!("{base}/probe"),
        json!({}),
        &[],
    ))
    .await
    .unwrap();
    assert!(report.contains("HTTP 500"), "{report}");
    assert!(report.contains("<soap:Envelope"), "{report}");
    assert_eq!(m.last("probe").headers["soapaction"], ACTION);
    // kind http-forward: an empty challenge with a probe JWT.
    let report = keyward_server::probe_upstream(upstream(
        "http-forward",
        format!("{base}/refuse"),
        json!({"jwt": true}),
        &[("keyward-jwt-key", JWT_KEY)],
    ))
    .await
    .unwrap();
    assert!(report.contains("HTTP 403"), "{report}");
    let seen = m.last("refuse");
    assert!(seen.body.is_empty());
    let c = verify_jwt(
        seen.headers["authorization"]
            .to_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap(),
        JWT_KEY.as_bytes(),
    );
    assert_eq!(c["probe"], true);
    assert!(c.get("sub").is_none() && c.get("kids").is_none());
    assert!(!seen.headers.contains_key("keyward-jwt-key"));
}
