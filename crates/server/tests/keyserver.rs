//! The key server for packagers: the Widevine key API, PlayReady
//! `AcquirePackagingData`, packager credentials and key seeds — keys made once,
//! returned unchanged, and licensed by keyward's own licence paths.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{app, ck_request, ck_token, jwk_set, ADMIN_TOKEN, SITE};
use keyward_drm::packaging::keyseed;
use keyward_drm::packaging::widevine::sign;
use keyward_drm::playready::{checksum, PlayReadyObject};
use keyward_drm::pssh::WidevinePsshData;
use keyward_store::{KeyStore, Kid, NewPackager, PackagerSecret, PackagerStore, SiteId, TrackType};
use serde_json::{json, Value};
use zeroize::Zeroizing;

const WV_KEY: [u8; 32] = [0x5a; 32];
const WV_IV: [u8; 16] = [0x3c; 16];

async fn add_signer(app: &common::TestApp, name: &str, prefix: Option<&str>) {
    app.store
        .add_packager(NewPackager {
            name: name.into(),
            site_id: SiteId::parse(SITE).unwrap(),
            cid_prefix: prefix.map(Into::into),
            secret: PackagerSecret::Widevine {
                aes_key: Zeroizing::new(WV_KEY),
                aes_iv: WV_IV,
            },
        })
        .await
        .unwrap();
}

async fn add_api_key(app: &common::TestApp, name: &str, prefix: Option<&str>) -> String {
    let secret = PackagerSecret::generate_api_key().unwrap();
    let text = secret.api_key_text(name).unwrap();
    app.store
        .add_packager(NewPackager {
            name: name.into(),
            site_id: SiteId::parse(SITE).unwrap(),
            cid_prefix: prefix.map(Into::into),
            secret,
        })
        .await
        .unwrap();
    text
}

fn envelope(signer: &str, inner: &Value, key: &[u8; 32]) -> String {
    let request = serde_json::to_vec(inner).unwrap();
    json!({
        "request": STANDARD.encode(&request),
        "signature": STANDARD.encode(sign(&request, key, &WV_IV)),
        "signer": signer,
    })
    .to_string()
}

/// The inner response JSON of a key-API answer (always HTTP 200).
fn inner(a: &common::Answer) -> Value {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/json");
    let outer = a.json();
    serde_json::from_slice(
        &STANDARD
            .decode(outer["response"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn b64_16(v: &Value) -> [u8; 16] {
    STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn shaka_request(cid: &[u8]) -> Value {
    json!({
        "content_id": STANDARD.encode(cid),
        "policy": "",
        "tracks": [{"type": "SD"}, {"type": "HD"}, {"type": "UHD1"}, {"type": "UHD2"}, {"type": "AUDIO"}],
        "drm_types": ["WIDEVINE"],
        "protection_scheme": "CENC",
    })
}

#[tokio::test]
async fn widevine_key_api_makes_keys_once_and_the_licence_path_releases_them() {
    let app = app().await;
    add_signer(&app, "widevine_test", None).await;
    let body = envelope("widevine_test", &shaka_request(b"packaged-1"), &WV_KEY);
    let first = inner(
        &app.post("/cenc/getcontentkey/widevine_test", None, body.clone())
            .await,
    );
    assert_eq!(first["status"], "OK");
    let tracks = first["tracks"].as_array().unwrap();
    let types: Vec<&str> = tracks.iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["SD", "HD", "UHD1", "UHD2", "AUDIO"]);
    // One key per track type, distinct, each stored under its coordinates.
    let site = SiteId::parse(SITE).unwrap();
    let stored = app
        .store
        .keys_for_content(&site, "packaged-1")
        .await
        .unwrap();
    assert_eq!(stored.len(), 5);
    for t in tracks {
        let kid = b64_16(&t["key_id"]);
        let rec = stored.iter().find(|r| r.kid.0 == kid).unwrap();
        assert_eq!(rec.track_type.as_str(), t["type"].as_str().unwrap());
        assert_eq!(&b64_16(&t["key"]), rec.key.expose());
        assert_eq!(rec.period, None);
        let pssh = t["pssh"].as_array().unwrap();
        assert_eq!(
            pssh.len(),
            1,
            "exactly one pssh per track for Widevine signalling"
        );
        let data =
            WidevinePsshData::decode(&STANDARD.decode(pssh[0]["data"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(data.key_ids, [Kid(kid)]);
        assert_eq!(data.content_id.as_deref(), Some(&b"packaged-1"[..]));
        assert_eq!(data.provider.as_deref(), Some("widevine_test"));
    }
    // The same request again (and on the native path): the same keys.
    let again = inner(
        &app.post("/v1/packager/widevine/widevine_test", None, body)
            .await,
    );
    assert_eq!(again["tracks"], first["tracks"]);
    assert_eq!(
        app.store
            .keys_for_content(&site, "packaged-1")
            .await
            .unwrap()
            .len(),
        5
    );

    // keyward licenses what it keyed: the ClearKey path releases the SD key.
    let sd = &tracks[0];
    let (kid, key) = (b64_16(&sd["key_id"]), b64_16(&sd["key"]));
    let lic = app
        .post(
            "/ri/clearkey/licenseManager.do",
            Some(&ck_token("packaged-1")),
            ck_request(&[kid], "temporary"),
        )
        .await;
    assert_eq!(lic.status, StatusCode::OK, "{}", lic.text());
    assert_eq!(lic.text(), jwk_set(&[(kid, key)], "temporary"));
}

#[tokio::test]
async fn widevine_key_api_rotation_gives_a_key_per_track_and_period() {
    let app = app().await;
    add_signer(&app, "rot", None).await;
    let req = json!({
        "content_id": STANDARD.encode("live-1"),
        "tracks": [{"type": "HD"}, {"type": "AUDIO"}],
        "first_crypto_period_index": 5.0,
        "crypto_period_count": 3,
        "protection_scheme": "CBCS",
    });
    let a = inner(
        &app.post(
            "/cenc/getcontentkey/rot",
            None,
            envelope("rot", &req, &WV_KEY),
        )
        .await,
    );
    let tracks = a["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 6);
    let periods: Vec<u64> = tracks
        .iter()
        .map(|t| t["crypto_period_index"].as_u64().unwrap())
        .collect();
    assert_eq!(periods, [5, 5, 6, 6, 7, 7]);
    let mut kids: Vec<[u8; 16]> = tracks.iter().map(|t| b64_16(&t["key_id"])).collect();
    kids.sort_unstable();
    kids.dedup();
    assert_eq!(kids.len(), 6, "a fresh key per track and period");
    let data = WidevinePsshData::decode(
        &STANDARD
            .decode(tracks[2]["pssh"][0]["data"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data.crypto_period_index, Some(6));
    assert_eq!(data.protection_scheme, Some(0x6362_6373));
    // The next window overlaps one period: that period's keys are the same.
    let next = json!({
        "content_id": STANDARD.encode("live-1"),
        "tracks": [{"type": "HD"}, {"type": "AUDIO"}],
        "first_crypto_period_index": 7,
        "crypto_period_count": 2,
    });
    let b = inner(
        &app.post(
            "/cenc/getcontentkey/rot",
            None,
            envelope("rot", &next, &WV_KEY),
        )
        .await,
    );
    assert_eq!(b["tracks"][0]["key_id"], tracks[4]["key_id"]);
    assert_eq!(b["tracks"][1]["key"], tracks[5]["key"]);
    let stored = app
        .store
        .keys_for_content(&SiteId::parse(SITE).unwrap(), "live-1")
        .await
        .unwrap();
    assert_eq!(stored.len(), 8);
    assert!(stored.iter().all(|r| r.period.is_some()));
}

#[tokio::test]
async fn widevine_key_api_refusals_answer_the_protocol_status_and_store_nothing() {
    let app = app().await;
    add_signer(&app, "widevine_test", Some("movies/")).await;
    let api_key = add_api_key(&app, "not-a-signer", None).await;
    assert!(!api_key.is_empty());
    let before = app.counts().await;
    let ok_req = shaka_request(b"movies/1");
    let cases: Vec<(&str, String, &str)> = vec![
        // Signed with another key.
        (
            "/cenc/getcontentkey/widevine_test",
            envelope("widevine_test", &ok_req, &[1u8; 32]),
            "SIGNATURE_FAILED",
        ),
        // A signer keyward does not know.
        (
            "/cenc/getcontentkey/nobody",
            envelope("nobody", &ok_req, &WV_KEY),
            "SIGNATURE_FAILED",
        ),
        // An API-key credential is no signer.
        (
            "/cenc/getcontentkey/not-a-signer",
            envelope("not-a-signer", &ok_req, &WV_KEY),
            "SIGNATURE_FAILED",
        ),
        // The URL names another signer than the envelope.
        (
            "/cenc/getcontentkey/other",
            envelope("widevine_test", &ok_req, &WV_KEY),
            "SIGNATURE_FAILED",
        ),
        // Outside the signer's content-id prefix.
        (
            "/cenc/getcontentkey/widevine_test",
            envelope("widevine_test", &shaka_request(b"series/1"), &WV_KEY),
            "ACCESS_DENIED",
        ),
        (
            "/cenc/getcontentkey/widevine_test",
            envelope(
                "widevine_test",
                &json!({"content_id": STANDARD.encode("movies/1"), "tracks": [{"type": "8K"}]}),
                &WV_KEY,
            ),
            "TRACK_TYPE_UNKNOWN",
        ),
        (
            "/cenc/getcontentkey/widevine_test",
            envelope(
                "widevine_test",
                &json!({"content_id": STANDARD.encode("movies/1")}),
                &WV_KEY,
            ),
            "TRACK_TYPE_MISSING",
        ),
        (
            "/cenc/getcontentkey/widevine_test",
            envelope(
                "widevine_test",
                &json!({"tracks": [{"type": "SD"}]}),
                &WV_KEY,
            ),
            "CONTENT_ID_MISSING",
        ),
        // Binary content ids are not keyward content ids.
        (
            "/cenc/getcontentkey/widevine_test",
            envelope(
                "widevine_test",
                &shaka_request(&[0xff, 0x00, 0x01]),
                &WV_KEY,
            ),
            "MALFORMED_REQUEST",
        ),
        (
            "/cenc/getcontentkey/widevine_test",
            "not json".to_owned(),
            "MALFORMED_REQUEST",
        ),
    ];
    for (uri, body, status) in cases {
        let a = app.post(uri, None, body).await;
        let v = inner(&a);
        assert_eq!(v["status"], status, "{uri}: {v}");
        let message = v["status_message"].as_str().unwrap();
        assert!(
            message.len() < 120 && !message.contains("movies"),
            "{message}"
        );
        assert!(v.get("tracks").is_none());
    }
    assert_eq!(
        app.counts().await,
        before,
        "no refused request stored a key"
    );
    // A body over 64 KiB is refused without reading it all.
    let big = app
        .post(
            "/cenc/getcontentkey/widevine_test",
            None,
            vec![b' '; 70 * 1024],
        )
        .await;
    assert_eq!(inner(&big)["status"], "MALFORMED_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_first_requests_agree_on_one_key_per_track() {
    let app = Arc::new(app().await);
    add_signer(&app, "par", None).await;
    let body = envelope("par", &shaka_request(b"parallel-1"), &WV_KEY);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let app = Arc::clone(&app);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            inner(&app.post("/cenc/getcontentkey/par", None, body).await)["tracks"].clone()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every caller got the same keys"
    );
    let stored = app
        .store
        .keys_for_content(&SiteId::parse(SITE).unwrap(), "parallel-1")
        .await
        .unwrap();
    assert_eq!(stored.len(), 5, "no duplicate keys");
}

#[tokio::test]
async fn a_key_seed_derives_new_keys_with_microsofts_algorithm() {
    let app = app().await;
    add_signer(&app, "seeded", None).await;
    let seed_b64 = keyseed::TEST_KEY_SEED_B64;
    let put = app
        .send(
            Request::put(format!("/v1/admin/sites/{SITE}/key-seed"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from(json!({"key_seed": seed_b64}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text());
    let req = json!({"content_id": STANDARD.encode("seeded-1"), "tracks": [{"type": "SD"}], "drm_types": ["WIDEVINE", "PLAYREADY"]});
    let a = inner(
        &app.post(
            "/cenc/getcontentkey/seeded",
            None,
            envelope("seeded", &req, &WV_KEY),
        )
        .await,
    );
    let t = &a["tracks"][0];
    let kid = Kid(b64_16(&t["key_id"]));
    let key = b64_16(&t["key"]);
    let seed = STANDARD.decode(seed_b64).unwrap();
    assert_eq!(keyseed::derive_key(&seed, &kid).expose(), &key);
    // The PlayReady signalling carries the checksum of that key.
    let pro = PlayReadyObject::parse(
        &STANDARD
            .decode(t["pssh"][1]["data"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let xml = pro.wrm_header_xml().unwrap().unwrap();
    let sum = STANDARD.encode(checksum(&kid, &keyward_drm::ContentKey::new(key)));
    assert!(
        xml.contains(&format!("<CHECKSUM>{sum}</CHECKSUM>")),
        "{xml}"
    );
    assert!(xml.contains("/ri/licenseManager.do</LA_URL>"), "{xml}");
    // Bad seeds are refused and change nothing.
    for bad in [
        json!({"key_seed": "c2hvcnQ="}),
        json!({"key_seed": "!!"}),
        json!({"seed": seed_b64}),
    ] {
        let r = app
            .send(
                Request::put(format!("/v1/admin/sites/{SITE}/key-seed"))
                    .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                    .body(Body::from(bad.to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
    assert!(app
        .store
        .key_seed(&SiteId::parse(SITE).unwrap())
        .await
        .unwrap()
        .is_some());
    let del = app
        .send(
            Request::delete(format!("/v1/admin/sites/{SITE}/key-seed"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert!(app
        .store
        .key_seed(&SiteId::parse(SITE).unwrap())
        .await
        .unwrap()
        .is_none());
}

fn packaging_request(program: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><AcquirePackagingData \
xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols\"><challenge \
xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquirePackagingData/v1.0\"><ProtectionSystems>\
<ProtectionSystemId>9A04F079-9840-4286-AB92-E65BE0885F95</ProtectionSystemId></ProtectionSystems>\
<StreamProtectionRequests><StreamInformation><ProgramIdentifier>{program}</ProgramIdentifier>\
<OffsetFromProgramStart>P0S</OffsetFromProgramStart></StreamInformation></StreamProtectionRequests>\
</challenge></AcquirePackagingData></soap:Body></soap:Envelope>"
    )
}

fn between<'a>(text: &'a str, tag: &str) -> &'a str {
    let start = text.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = text.find(&format!("</{tag}>")).unwrap();
    &text[start..end]
}

#[tokio::test]
async fn playready_packaging_answers_key_and_header_for_every_credential_form() {
    let app = app().await;
    let api_key = add_api_key(&app, "enc-1", None).await;
    let (name, secret) = api_key.rsplit_once('.').unwrap();
    let enc_token = STANDARD.encode(json!({"access_key": api_key, "site_id": SITE}).to_string());
    let forms: Vec<(String, Option<(&str, String)>)> = vec![
        (
            format!("/v1/packager/playready?api_key={}", common::q(&api_key)),
            None,
        ),
        (
            "/v1/packager/playready".into(),
            Some(("x-api-key", api_key.clone())),
        ),
        (
            "/v1/packager/playready".into(),
            Some(("authorization", format!("Bearer {api_key}"))),
        ),
        (
            "/v1/packager/playready".into(),
            Some((
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{name}:{secret}"))),
            )),
        ),
        (
            format!("/v1/packager/playready?enc-token={}", common::q(&enc_token)),
            None,
        ),
    ];
    let mut kids = Vec::new();
    for (uri, header) in forms {
        let mut b = Request::post(&uri).header("content-type", "text/xml; charset=utf-8");
        if let Some((h, v)) = &header {
            b = b.header(*h, v);
        }
        let a = app
            .send(b.body(Body::from(packaging_request("prog-001"))).unwrap())
            .await;
        assert_eq!(a.status, StatusCode::OK, "{uri} {header:?}: {}", a.text());
        assert_eq!(a.content_type(), "text/xml; charset=utf-8");
        let text = a.text();
        let kid = Kid::from_hex(&between(&text, "KeyId").replace('-', "")).unwrap();
        let key: [u8; 16] = STANDARD
            .decode(between(&text, "KeyData"))
            .unwrap()
            .try_into()
            .unwrap();
        let pro =
            PlayReadyObject::parse(&STANDARD.decode(between(&text, "Data")).unwrap()).unwrap();
        let xml = pro.wrm_header_xml().unwrap().unwrap();
        assert!(xml.contains("version=\"4.0.0.0\""), "{xml}");
        let sum = STANDARD.encode(checksum(&kid, &keyward_drm::ContentKey::new(key)));
        assert!(
            xml.contains(&format!("<CHECKSUM>{sum}</CHECKSUM>")),
            "{xml}"
        );
        assert!(text.contains("<ProgramIdentifier>prog-001</ProgramIdentifier>"));
        kids.push(kid);
    }
    assert!(kids.windows(2).all(|w| w[0] == w[1]), "one key per program");
    let stored = app
        .store
        .keys_for_content(&SiteId::parse(SITE).unwrap(), "prog-001")
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].track_type, TrackType::All);
    // Header 4.3 on request.
    let a = app
        .send(
            Request::post(format!(
                "/v1/packager/playready?header_version=4.3&api_key={}",
                common::q(&api_key)
            ))
            .body(Body::from(packaging_request("prog-001")))
            .unwrap(),
        )
        .await;
    let pro =
        PlayReadyObject::parse(&STANDARD.decode(between(&a.text(), "Data")).unwrap()).unwrap();
    assert!(pro
        .wrm_header_xml()
        .unwrap()
        .unwrap()
        .contains("version=\"4.3.0.0\""));
}

#[tokio::test]
async fn playready_packaging_refusals_are_soap_faults_and_store_nothing() {
    let app = app().await;
    let api_key = add_api_key(&app, "enc-2", Some("live/")).await;
    add_signer(&app, "wv-signer", None).await;
    let before = app.counts().await;
    let wrong = format!("{}x", &api_key[..api_key.len() - 1]);
    let other_site_token =
        STANDARD.encode(json!({"access_key": api_key, "site_id": "HTTP"}).to_string());
    let cases: Vec<(String, String, StatusCode, &str)> = vec![
        (
            "/v1/packager/playready".into(),
            packaging_request("live/1"),
            StatusCode::UNAUTHORIZED,
            "soap:Client",
        ),
        (
            format!("/v1/packager/playready?api_key={}", common::q(&wrong)),
            packaging_request("live/1"),
            StatusCode::UNAUTHORIZED,
            "soap:Client",
        ),
        (
            "/v1/packager/playready?api_key=wv-signer.AAAA".into(),
            packaging_request("live/1"),
            StatusCode::UNAUTHORIZED,
            "soap:Client",
        ),
        (
            format!(
                "/v1/packager/playready?enc-token={}",
                common::q(&other_site_token)
            ),
            packaging_request("live/1"),
            StatusCode::UNAUTHORIZED,
            "soap:Client",
        ),
        (
            format!("/v1/packager/playready?api_key={}", common::q(&api_key)),
            packaging_request("vod/1"),
            StatusCode::FORBIDDEN,
            "soap:Client",
        ),
        (
            format!("/v1/packager/playready?api_key={}", common::q(&api_key)),
            "<not-soap/>".into(),
            StatusCode::BAD_REQUEST,
            "soap:Client",
        ),
        (
            format!("/v1/packager/playready?api_key={}", common::q(&api_key)),
            packaging_request(""),
            StatusCode::BAD_REQUEST,
            "soap:Client",
        ),
    ];
    for (uri, body, status, fault) in cases {
        let a = app.post(&uri, None, body).await;
        assert_eq!(a.status, status, "{uri}: {}", a.text());
        let text = a.text();
        assert!(
            text.contains(&format!("<faultcode>{fault}</faultcode>")),
            "{text}"
        );
        assert!(!text.contains(&api_key), "the key is never echoed");
    }
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn admin_api_manages_packager_credentials() {
    let app = app().await;
    let admin = |req: axum::http::request::Builder| {
        req.header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
    };
    let add = app
        .send(
            admin(Request::post(format!("/v1/admin/sites/{SITE}/packagers")))
                .body(Body::from(
                    json!({"name": "enc-9", "kind": "api-key", "cid_prefix": "live/"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(add.status, StatusCode::CREATED, "{}", add.text());
    let v = add.json();
    let key = v["api_key"].as_str().unwrap();
    assert!(
        key.starts_with("enc-9.") && key.len() == "enc-9.".len() + 43,
        "{key}"
    );
    assert_eq!(v["kind"], "api-key");
    assert_eq!(v["cid_prefix"], "live/");
    // The key works at once.
    let ok = app
        .post(
            &format!("/v1/packager/playready?api_key={}", common::q(key)),
            None,
            packaging_request("live/9"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let wv = app
        .send(
            admin(Request::post(format!("/v1/admin/sites/{SITE}/packagers")))
                .body(Body::from(
                    json!({"name": "widevine_test", "kind": "widevine",
                        "aes_key": "1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9",
                        "aes_iv": "d58ce954203b7c9a9a9d467f59839249"})
                    .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(wv.status, StatusCode::CREATED, "{}", wv.text());
    assert!(wv.json().get("api_key").is_none());
    assert!(
        !wv.text().contains("1ae8ccd0"),
        "the signing key is never shown"
    );
    let list = app
        .send(
            admin(Request::get(format!("/v1/admin/sites/{SITE}/packagers")))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<String> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["enc-9", "widevine_test"]);
    assert!(!list.text().contains(&key[6..]), "no secret in listings");
    // Bad inputs: clear codes, nothing added.
    let bad: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"name": "enc-9", "kind": "api-key"}),
            StatusCode::CONFLICT,
            "packager_exists",
        ),
        (
            json!({"name": "x", "kind": "widevine"}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"name": "x", "kind": "widevine", "aes_key": "00", "aes_iv": "00"}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"name": "x", "kind": "api-key", "aes_key": "00"}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"name": "has space", "kind": "api-key"}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"name": "x", "kind": "rsa"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in bad {
        let r = app
            .send(
                admin(Request::post(format!("/v1/admin/sites/{SITE}/packagers")))
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        r.assert_problem(status, code);
    }
    let r = app
        .send(
            admin(Request::post("/v1/admin/sites/NONE/packagers"))
                .body(Body::from(
                    json!({"name": "y", "kind": "api-key"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    r.assert_problem(StatusCode::NOT_FOUND, "site_not_found");
    assert_eq!(app.store.list_packagers(None).await.unwrap().len(), 2);
    // Revoke: the key stops working.
    let del = app
        .send(
            admin(Request::delete("/v1/admin/packagers/enc-9"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = app
        .send(
            admin(Request::get("/v1/admin/packagers/enc-9"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    gone.assert_problem(StatusCode::NOT_FOUND, "packager_not_found");
    let refused = app
        .post(
            &format!("/v1/packager/playready?api_key={}", common::q(key)),
            None,
            packaging_request("live/9"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

/// Key-server requests are counted by protocol, site (`unknown` before the
/// credential verified) and result.
#[tokio::test]
async fn packager_requests_are_counted_in_metrics() {
    let app = app().await;
    add_signer(&app, "counted", None).await;
    let ok = envelope("counted", &shaka_request(b"metric-1"), &WV_KEY);
    let bad = envelope("nobody", &shaka_request(b"metric-1"), &WV_KEY);
    assert_eq!(
        inner(&app.post("/cenc/getcontentkey/counted", None, ok).await)["status"],
        "OK"
    );
    assert_eq!(
        inner(&app.post("/cenc/getcontentkey/nobody", None, bad).await)["status"],
        "SIGNATURE_FAILED"
    );
    let pr = app
        .post("/v1/packager/playready", None, packaging_request("x"))
        .await;
    assert_eq!(pr.status, StatusCode::UNAUTHORIZED);
    let text = app.get("/metrics", None).await.text();
    for line in [
        r#"keyward_packager_requests_total{protocol="widevine-key-api",site="TEST",result="OK"} 1"#,
        r#"keyward_packager_requests_total{protocol="widevine-key-api",site="unknown",result="SIGNATURE_FAILED"} 1"#,
        r#"keyward_packager_requests_total{protocol="playready-packaging",site="unknown",result="packager_unauthorized"} 1"#,
        r#"keyward_packager_duration_seconds_count{protocol="widevine-key-api"} 2"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in\n{}",
            text.lines()
                .filter(|l| l.starts_with("keyward_packager"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
