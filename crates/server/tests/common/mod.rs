//! Shared fixtures for the server's integration tests: a real SQLite store in a
//! temporary directory with a few sites and keys, the application built by
//! `keyward_server::router`, token minting, and one-shot request helpers.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the fixtures"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures: a failure is a test failure"
)]

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use keyward_server::config::Secret;
use keyward_server::{AppState, Config};
use keyward_store::{
    ContentKey, Drm, ErrorStyle, KeyStore, Kid, NewContentKey, NewSite, SiteId, SiteSecret,
    SiteSettings, SiteStore, SqliteStore, Store, TrackType,
};
use keyward_token::{
    DrmType, ExternalKey, MpegCencKey, PlaybackPolicy, Policy, SiteCredentials, Timestamp,
    TokenBuilder,
};
use tower::ServiceExt as _;

/// The KEK every test store is opened with.
pub const KEK_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The admin bearer token (when the admin API is on).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The main test site.
pub const SITE: &str = "TEST";
pub const SITE_KEY: &[u8; 32] = b"sitekey-0123456789abcdef-TEST-01";
pub const ACCESS_KEY: &[u8; 32] = b"accesskey-0123456789abcdef-TEST1";

/// A site that answers PallyCon-path errors with real HTTP statuses.
pub const HTTP_SITE: &str = "HTTP";
/// A site with a CORS allow-list.
pub const CORS_SITE: &str = "CORS";
pub const CORS_ORIGIN: &str = "https://good.example";
/// A disabled site.
pub const OFF_SITE: &str = "OFFS";
/// A site with FairPlay and Widevine certificates configured.
pub const CERT_SITE: &str = "CERT";
pub const FPS_CERT: &[u8] = b"\x30\x82\x01\x0aFAKE-FAIRPLAY-DER-CERTIFICATE";
pub const WV_CERT: &[u8] = b"\x08\x05\x12\x20FAKE-WIDEVINE-SERVICE-CERTIFICATE";
/// A site that only allows Widevine.
pub const WV_ONLY_SITE: &str = "WVON";

/// Content with one ALL key.
pub const CID: &str = "movie-1";
pub const KID_ALL: [u8; 16] = [0x11; 16];
pub const KEY_ALL: [u8; 16] = [0xa1; 16];
/// Content with SD, HD and AUDIO keys.
pub const CID_MULTI: &str = "multi-1";
pub const KID_SD: [u8; 16] = [0x21; 16];
pub const KEY_SD: [u8; 16] = [0xb1; 16];
pub const KID_HD: [u8; 16] = [0x22; 16];
pub const KEY_HD: [u8; 16] = [0xb2; 16];
pub const KID_AUDIO: [u8; 16] = [0x23; 16];
pub const KEY_AUDIO: [u8; 16] = [0xb3; 16];
/// Content without any stored key.
pub const CID_EMPTY: &str = "no-keys";

/// The application and what the tests need to look at.
pub struct TestApp {
    pub router: Router,
    pub store: Arc<SqliteStore>,
    pub creds: SiteCredentials,
    pub dir: tempfile::TempDir,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Asserts a PallyCon-dialect refusal: HTTP 200 (unless `status` says
    /// otherwise), JSON `{"errorCode","message"}`.
    pub fn assert_pallycon(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "status; body {}", self.text());
        assert_eq!(self.content_type(), "application/json", "{}", self.text());
        let j = self.json();
        assert_eq!(j["errorCode"], code, "body {}", self.text());
        assert!(
            j["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message missing: {}",
            self.text()
        );
        let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["errorCode", "message"], "exact PallyCon members");
        assert_eq!(self.header("x-keyward-error-code"), Some(code));
    }

    /// Asserts a native refusal: problem+json with `code` and `request_id`.
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "status; body {}", self.text());
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text()
        );
        let j = self.json();
        assert_eq!(j["code"], code, "body {}", self.text());
        assert_eq!(j["status"], status.as_u16(), "body {}", self.text());
        let rid = j["request_id"].as_str().unwrap();
        assert!(!rid.is_empty() && rid != "-", "request_id {rid}");
        assert_eq!(
            self.header("x-request-id"),
            Some(rid),
            "request_id matches header"
        );
        assert!(j["type"].as_str().unwrap().ends_with(code));
        assert!(j["detail"].as_str().is_some());
        assert_eq!(self.header("x-keyward-error-code"), Some(code));
    }
}

/// The test configuration (admin API on).
pub fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        kek: Some(Secret::new(KEK_HEX)),
        ..Config::default()
    }
}

async fn add_site(store: &SqliteStore, id: &str, settings: SiteSettings) {
    store
        .create_site(NewSite {
            site_id: SiteId::parse(id).unwrap(),
            site_key: SiteSecret::from_bytes(&site_key_of(id)).unwrap(),
            access_key: SiteSecret::from_bytes(&access_key_of(id)).unwrap(),
            settings,
        })
        .await
        .unwrap();
}

/// The site key of a test site (TEST has the constants, others derived).
pub fn site_key_of(id: &str) -> [u8; 32] {
    if id == SITE {
        return *SITE_KEY;
    }
    let mut k = *SITE_KEY;
    k[28..32].copy_from_slice(id.as_bytes());
    k
}

/// The access key of a test site.
pub fn access_key_of(id: &str) -> [u8; 32] {
    if id == SITE {
        return *ACCESS_KEY;
    }
    let mut k = *ACCESS_KEY;
    k[28..32].copy_from_slice(id.as_bytes());
    k
}

/// Credentials of a test site (also for a site that does not exist).
pub fn creds_of(id: &str) -> SiteCredentials {
    SiteCredentials::new(id, &site_key_of(id), &access_key_of(id)).unwrap()
}

async fn add_key(
    store: &SqliteStore,
    site: &str,
    cid: &str,
    t: TrackType,
    kid: [u8; 16],
    key: [u8; 16],
) {
    store
        .put_key(
            NewContentKey {
                site_id: SiteId::parse(site).unwrap(),
                cid: cid.into(),
                track_type: t,
                kid: Kid(kid),
                key: ContentKey::from_slice(&key).unwrap(),
                iv: None,
                label: None,
                period: None,
            },
            false,
        )
        .await
        .unwrap();
}

/// Opens a fresh store with the fixture sites and keys.
pub async fn seeded_store(dir: &std::path::Path) -> SqliteStore {
    let store = keyward_server::open_store(dir, Some(KEK_HEX))
        .await
        .unwrap();
    add_site(&store, SITE, SiteSettings::default()).await;
    add_site(
        &store,
        HTTP_SITE,
        SiteSettings {
            error_style: ErrorStyle::HttpStatus,
            ..SiteSettings::default()
        },
    )
    .await;
    add_site(
        &store,
        CORS_SITE,
        SiteSettings {
            cors_origins: vec![CORS_ORIGIN.into()],
            ..SiteSettings::default()
        },
    )
    .await;
    add_site(
        &store,
        OFF_SITE,
        SiteSettings {
            disabled: true,
            ..SiteSettings::default()
        },
    )
    .await;
    add_site(
        &store,
        CERT_SITE,
        SiteSettings {
            fairplay_cert: Some(FPS_CERT.to_vec()),
            widevine_service_cert: Some(WV_CERT.to_vec()),
            ..SiteSettings::default()
        },
    )
    .await;
    add_site(
        &store,
        WV_ONLY_SITE,
        SiteSettings {
            allowed_drms: vec![Drm::Widevine],
            ..SiteSettings::default()
        },
    )
    .await;
    for site in [SITE, HTTP_SITE, CORS_SITE, OFF_SITE] {
        add_key(&store, site, CID, TrackType::All, KID_ALL, KEY_ALL).await;
    }
    add_key(&store, SITE, CID_MULTI, TrackType::Sd, KID_SD, KEY_SD).await;
    add_key(&store, SITE, CID_MULTI, TrackType::Hd, KID_HD, KEY_HD).await;
    add_key(
        &store,
        SITE,
        CID_MULTI,
        TrackType::Audio,
        KID_AUDIO,
        KEY_AUDIO,
    )
    .await;
    store
}

/// The app over a seeded store, admin API on, demo off.
pub async fn app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    app_with(dir, cfg).await
}

/// The app over a seeded store with a given configuration.
pub async fn app_with(dir: tempfile::TempDir, cfg: Config) -> TestApp {
    let store = Arc::new(seeded_store(dir.path()).await);
    let dyn_store: Arc<dyn Store> = store.clone();
    let router = keyward_server::router(AppState::new(dyn_store, cfg, None));
    TestApp {
        router,
        store,
        creds: creds_of(SITE),
        dir,
    }
}

impl TestApp {
    /// Sends one request through the router.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// POST with an optional `pallycon-customdata-v2` header.
    pub async fn post(&self, uri: &str, token: Option<&str>, body: impl Into<Body>) -> Answer {
        let mut b = Request::post(uri);
        if let Some(t) = token {
            b = b.header("pallycon-customdata-v2", t);
        }
        self.send(b.body(body.into()).unwrap()).await
    }

    /// GET with an optional `pallycon-customdata-v2` header.
    pub async fn get(&self, uri: &str, token: Option<&str>) -> Answer {
        let mut b = Request::get(uri);
        if let Some(t) = token {
            b = b.header("pallycon-customdata-v2", t);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// (sites, keys) in the store, to show a refused call changed nothing.
    pub async fn counts(&self) -> (usize, usize) {
        let sites = self.store.sites().await.unwrap();
        let mut keys = 0;
        for s in &sites {
            keys += self.store.list_keys(&s.site_id, None).await.unwrap().len();
        }
        (sites.len(), keys)
    }
}

/// A token for the TEST site.
pub fn token(drm: DrmType, cid: &str, policy: &Policy) -> String {
    token_for(&creds_of(SITE), drm, cid, policy, Timestamp::now())
}

/// A token with everything chosen.
pub fn token_for(
    creds: &SiteCredentials,
    drm: DrmType,
    cid: &str,
    policy: &Policy,
    at: Timestamp,
) -> String {
    TokenBuilder::new()
        .drm_type(drm)
        .user_id("user-1")
        .cid(cid)
        .policy(policy)
        .timestamp(at)
        .mint(creds)
        .unwrap()
        .token
}

/// The minimal streaming policy.
pub fn streaming() -> Policy {
    Policy::new().playback(PlaybackPolicy::default().persistent(false))
}

/// A ClearKey token for `cid` with the streaming policy.
pub fn ck_token(cid: &str) -> String {
    token(DrmType::ClearKey, cid, &streaming())
}

/// A ClearKey token for `cid` on another site.
pub fn ck_token_site(site: &str, cid: &str) -> String {
    token_for(
        &creds_of(site),
        DrmType::ClearKey,
        cid,
        &streaming(),
        Timestamp::now(),
    )
}

/// A policy carrying one MPEG-CENC key.
pub fn policy_with_cenc(kid: [u8; 16], key: [u8; 16]) -> Policy {
    let json = format!(
        r#"{{"policy_version":2,"playback_policy":{{"persistent":false}},"external_key":{{"mpeg_cenc":[{{"track_type":"ALL","key_id":"{}","key":"{}"}}]}}}}"#,
        hex::encode(kid),
        hex::encode(key)
    );
    let p = Policy::from_json(json.as_bytes()).unwrap();
    // The typed model must agree with what we wrote.
    let ext: &ExternalKey = p.external_key.as_ref().unwrap();
    let k: &MpegCencKey = &ext.mpeg_cenc.as_ref().unwrap()[0];
    assert_eq!(k.key_id.0, kid);
    p
}

/// A ClearKey request body for KIDs.
pub fn ck_request(kids: &[[u8; 16]], session: &str) -> String {
    let list: Vec<String> = kids
        .iter()
        .map(|k| format!("\"{}\"", URL_SAFE_NO_PAD.encode(k)))
        .collect();
    format!(r#"{{"kids":[{}],"type":"{session}"}}"#, list.join(","))
}

/// The exact JWK set keyward answers.
pub fn jwk_set(pairs: &[([u8; 16], [u8; 16])], session: &str) -> String {
    let keys: Vec<String> = pairs
        .iter()
        .map(|(kid, key)| {
            format!(
                r#"{{"kty":"oct","kid":"{}","k":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(kid),
                URL_SAFE_NO_PAD.encode(key)
            )
        })
        .collect();
    format!(r#"{{"keys":[{}],"type":"{session}"}}"#, keys.join(","))
}

/// Unpadded base64url.
pub fn b64url(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Standard base64.
pub fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

/// Percent-encodes a query value.
pub fn q(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Minimal protobuf writing for Widevine challenges.
pub mod pb {
    /// A varint.
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    /// A varint field.
    pub fn varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
        varint(out, field << 3);
        varint(out, v);
    }
    /// A length-delimited field.
    pub fn bytes_field(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, (field << 3) | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
}

/// A minimal valid Widevine `SignedMessage` carrying a new `LicenseRequest`
/// for one KID (WidevinePsshData in the content identification).
pub fn widevine_license_request(kid: [u8; 16]) -> Vec<u8> {
    let pssh_data = keyward_drm::pssh::WidevinePsshData {
        key_ids: vec![keyward_drm::Kid::new(kid)],
        ..Default::default()
    }
    .encode();
    let mut wpd = Vec::new();
    pb::bytes_field(&mut wpd, 1, &pssh_data);
    pb::varint_field(&mut wpd, 2, 1); // STREAMING
    let mut ci = Vec::new();
    pb::bytes_field(&mut ci, 1, &wpd);
    let mut lr = Vec::new();
    pb::bytes_field(&mut lr, 1, b"\x08\x01\x12\x05token"); // client_id
    pb::bytes_field(&mut lr, 2, &ci);
    pb::varint_field(&mut lr, 3, 1); // NEW
    let mut signed = Vec::new();
    pb::varint_field(&mut signed, 1, 1); // LICENSE_REQUEST
    pb::bytes_field(&mut signed, 2, &lr);
    pb::bytes_field(&mut signed, 3, &[0xaa; 32]); // signature
    signed
}

/// A Widevine licence release (`LicenseRequest` type RELEASE naming an
/// existing licence, no PSSH), as a CDM sends it when a persistent session is
/// removed.
pub fn widevine_release_request() -> Vec<u8> {
    let mut existing = Vec::new();
    pb::bytes_field(&mut existing, 1, b"license-id-1");
    let mut ci = Vec::new();
    pb::bytes_field(&mut ci, 3, &existing);
    let mut lr = Vec::new();
    pb::bytes_field(&mut lr, 1, b"\x08\x01\x12\x05token"); // client_id
    pb::bytes_field(&mut lr, 2, &ci);
    pb::varint_field(&mut lr, 3, 3); // RELEASE
    let mut signed = Vec::new();
    pb::varint_field(&mut signed, 1, 1); // LICENSE_REQUEST
    pb::bytes_field(&mut signed, 2, &lr);
    pb::bytes_field(&mut signed, 3, &[0xaa; 32]); // signature
    signed
}

/// A PlayReady SOAP challenge, with `CustomData` when given.
pub fn playready_challenge(custom_data: Option<&str>) -> String {
    let cd = custom_data
        .map(|c| format!("<CustomData>{c}</CustomData>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><AcquireLicense xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols"><challenge><Challenge xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols/messages"><LA xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols" Id="SignedData" xml:space="preserve"><Version>1</Version><ContentHeader><WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>HhEREREREREREREREREREQ==</KID></DATA></WRMHEADER></ContentHeader>{cd}</LA></Challenge></challenge></AcquireLicense></soap:Body></soap:Envelope>"#
    )
}

/// The first Apple FairPlay SDK SPC vector.
pub fn fairplay_spc() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/fairplay-ksm/FPS/spc1.bin"
    );
    std::fs::read(path).unwrap()
}

/// Parses a JWK set answer into (kid, key) byte pairs.
pub fn jwk_pairs(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                URL_SAFE_NO_PAD.decode(k["kid"].as_str().unwrap()).unwrap(),
                URL_SAFE_NO_PAD.decode(k["k"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}
