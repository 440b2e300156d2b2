//! CPIX and SPEKE through the router: the SPEKE v2 requests AWS Elemental sends, answered
//! with keys keyward keeps (clear and encrypted for the request's recipient), the
//! PallyCon KMS dialect with keyward's own kids, and every refusal with its code.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{app, ck_request, ck_token, jwk_set, SITE};
use keyward_drm::cpix::{Document, CLEARKEY_SYSTEM_ID};
use keyward_drm::pssh::{PsshBox, SystemId};
use keyward_store::{KeyStore, Kid, NewPackager, PackagerSecret, PackagerStore, SiteId};
use rsa::pkcs8::DecodePrivateKey as _;
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/fixtures");

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

const SPEKE_V2: &str =
    "speke-v2/vod/1_generic_spekev2_dash_widevine_preset_video_1_audio_1_no_rotation.xml";
const VIDEO_KID: &str = "0f083e4e-b831-4a3d-917e-ce78076e54aa";
const AUDIO_KID: &str = "041fdd3a-7f5e-4848-a7cb-65e97758e9a0";

async fn api_key(app: &common::TestApp, name: &str) -> String {
    let secret = PackagerSecret::generate_api_key().unwrap();
    let text = secret.api_key_text(name).unwrap();
    app.store
        .add_packager(NewPackager {
            name: name.into(),
            site_id: SiteId::parse(SITE).unwrap(),
            cid_prefix: None,
            secret,
        })
        .await
        .unwrap();
    text
}

fn basic(api_key: &str) -> String {
    let (name, secret) = api_key.rsplit_once('.').unwrap();
    format!("Basic {}", STANDARD.encode(format!("{name}:{secret}")))
}

async fn speke(
    app: &common::TestApp,
    key: &str,
    body: String,
    version: Option<&str>,
) -> common::Answer {
    let mut b = Request::post("/v1/packager/speke")
        .header("authorization", basic(key))
        .header("content-type", "application/xml");
    if let Some(v) = version {
        b = b.header("x-speke-version", v);
    }
    app.send(b.body(Body::from(body)).unwrap()).await
}

/// Keeps an answer for the XSD check (`scripts/cpix-xsd.sh` sets the variable).
fn sample(name: &str, body: &[u8]) {
    if let Some(dir) = std::env::var_os("KEYWARD_CPIX_SAMPLES") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), body).unwrap();
    }
}

fn kid(uuid: &str) -> Kid {
    Kid::from_hex(uuid).unwrap()
}

#[tokio::test]
async fn speke_v2_keeps_the_encoders_kids_and_answers_the_same_keys_again() {
    let app = app().await;
    let key = api_key(&app, "mediapackage").await;
    let a = speke(&app, &key, fixture(SPEKE_V2), Some("2.0")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type(), "application/xml");
    assert!(a
        .header("speke-user-agent")
        .unwrap()
        .starts_with("keyward/"));
    sample("server-speke-v2.xml", &a.body);
    let doc = Document::read(&a.body, None).unwrap();
    assert_eq!(doc.content_id.as_deref(), Some("test_case_generic"));
    let kids: Vec<Kid> = doc.content_keys.iter().map(|k| k.kid).collect();
    assert_eq!(
        kids,
        [kid(VIDEO_KID), kid(AUDIO_KID)],
        "SPEKE keeps the encoder's kids"
    );
    // The keys are keyward's: stored, pinned, with the usage rules' track types.
    let site = SiteId::parse(SITE).unwrap();
    for k in &doc.content_keys {
        let rec = app.store.key_by_kid(&site, &k.kid).await.unwrap();
        assert_eq!(Some(&rec.key), k.key.as_ref());
        assert!(rec.pinned);
        assert_eq!(rec.cid, "test_case_generic");
    }
    assert_eq!(
        app.store
            .key_by_kid(&site, &kid(AUDIO_KID))
            .await
            .unwrap()
            .track_type
            .as_str(),
        "AUDIO"
    );
    // Widevine signalling: a pssh box naming the kid.
    let wv = doc
        .drm_systems
        .iter()
        .find(|d| d.kid == kid(VIDEO_KID) && d.system_id == SystemId::WIDEVINE)
        .unwrap();
    let pssh = PsshBox::parse(wv.pssh.as_deref().unwrap()).unwrap();
    assert_eq!(pssh.system_id, SystemId::WIDEVINE);
    // Again: the same keys, nothing new stored.
    let again = speke(&app, &key, fixture(SPEKE_V2), Some("2.0")).await;
    let doc2 = Document::read(&again.body, None).unwrap();
    assert_eq!(
        doc2.content_keys
            .iter()
            .map(|k| k.key.clone())
            .collect::<Vec<_>>(),
        doc.content_keys
            .iter()
            .map(|k| k.key.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        app.store
            .list_keys(&site, Some("test_case_generic"))
            .await
            .unwrap()
            .len(),
        2
    );
    // And the licence path releases them.
    let video = doc.content_keys[0].key.clone().unwrap();
    let lic = app
        .post(
            "/ri/clearkey/licenseManager.do",
            Some(&ck_token("test_case_generic")),
            ck_request(&[kid(VIDEO_KID).0], "temporary"),
        )
        .await;
    assert_eq!(
        lic.text(),
        jwk_set(&[(kid(VIDEO_KID).0, *video.expose())], "temporary")
    );
}

#[tokio::test]
async fn encrypted_delivery_for_the_requests_recipient() {
    let app = app().await;
    let key = api_key(&app, "encoder").await;
    let cert = std::fs::read(format!("{FIXTURES}/cpix-dashif/Cert1.cer")).unwrap();
    let delivery = format!(
        "<cpix:DeliveryDataList><cpix:DeliveryData><cpix:DeliveryKey><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></cpix:DeliveryKey></cpix:DeliveryData></cpix:DeliveryDataList>",
        STANDARD.encode(&cert)
    );
    let body = fixture(SPEKE_V2).replacen(
        "<cpix:ContentKeyList>",
        &format!("{delivery}<cpix:ContentKeyList>"),
        1,
    );
    let a = speke(&app, &key, body, Some("2.0")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    sample("server-speke-v2-encrypted.xml", &a.body);
    let text = a.text();
    assert!(!text.contains("PlainValue"), "no key in the clear");
    assert_eq!(
        text.matches("DocumentKey").count(),
        2,
        "one DocumentKey (open + close) for one recipient"
    );
    // Without the private key the keys stay closed; with it: the stored keys.
    let closed = Document::read(&a.body, None).unwrap();
    assert!(closed
        .content_keys
        .iter()
        .all(|k| k.encrypted && k.key.is_none()));
    let pem = std::fs::read_to_string(format!("{FIXTURES}/cpix-dashif/Cert1.key.pem")).unwrap();
    let private = rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap();
    let doc = Document::read(&a.body, Some(&private)).unwrap();
    let site = SiteId::parse(SITE).unwrap();
    for k in &doc.content_keys {
        assert!(k.encrypted);
        let rec = app.store.key_by_kid(&site, &k.kid).await.unwrap();
        assert_eq!(Some(&rec.key), k.key.as_ref());
    }
    // A weak recipient certificate is refused, and no key is made.
    let weak = std::fs::read(format!("{FIXTURES}/cpix-dashif/WeakCert_Sha1.cer")).unwrap();
    let body = fixture(SPEKE_V2)
        .replace("test_case_generic", "weak-cert")
        .replacen(
            "<cpix:ContentKeyList>",
            &delivery
                .replace(&STANDARD.encode(&cert), &STANDARD.encode(&weak))
                .replace(
                    "</cpix:DeliveryDataList>",
                    "</cpix:DeliveryDataList><cpix:ContentKeyList>",
                ),
            1,
        );
    let r = speke(&app, &key, body, Some("2.0")).await;
    r.assert_problem(StatusCode::BAD_REQUEST, "cpix_weak_certificate");
    assert!(app
        .store
        .list_keys(&site, Some("weak-cert"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn pallycon_kms_dialect_chooses_keywards_own_kids() {
    let app = app().await;
    let key = api_key(&app, "kms").await;
    let token = STANDARD.encode(json!({"access_key": key, "site_id": SITE}).to_string());
    let request = fixture(SPEKE_V2).replace("test_case_generic", "pallycon-cid");
    let mut answers = Vec::new();
    for path in [
        format!("/v1/cpix/pallycon/getKey/{token}"),
        format!("/v2/cpix/pallycon/getKey/{token}"),
        format!("/cpix/pallycon/getKey/{token}"),
        format!("/cpix/getKey?enc-token={}", common::q(&token)),
    ] {
        let a = app.post(&path, None, request.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        sample("server-pallycon.xml", &a.body);
        let doc = Document::read(&a.body, None).unwrap();
        let kids: Vec<Kid> = doc.content_keys.iter().map(|k| k.kid).collect();
        assert!(!kids.contains(&kid(VIDEO_KID)), "keyward chose the kids");
        answers.push(kids);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "the same keys on every path"
    );
    let listed = app
        .store
        .list_keys(&SiteId::parse(SITE).unwrap(), Some("pallycon-cid"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| !k.pinned));
    // Two content keys asking keyward for the same track type: a clear 400, no key.
    let two_audio = request
        .replace("pallycon-cid", "pallycon-dup")
        .replace("intendedTrackType=\"VIDEO\"", "intendedTrackType=\"AUDIO\"");
    let a = app
        .post(
            &format!("/v1/cpix/pallycon/getKey/{token}"),
            None,
            two_audio,
        )
        .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "cpix_duplicate_kid");
    assert!(app
        .store
        .list_keys(&SiteId::parse(SITE).unwrap(), Some("pallycon-dup"))
        .await
        .unwrap()
        .is_empty());
    // An enc-token for another site, or garbage: 401 problem+json (JSON = error for PallyCon clients).
    let other = STANDARD.encode(json!({"access_key": key, "site_id": "HTTP"}).to_string());
    for path in [
        format!("/v1/cpix/pallycon/getKey/{other}"),
        "/v1/cpix/pallycon/getKey/not-base64!".to_owned(),
    ] {
        let a = app.post(&path, None, request.clone()).await;
        a.assert_problem(StatusCode::UNAUTHORIZED, "packager_unauthorized");
    }
}

#[tokio::test]
async fn refusals_have_codes_and_make_no_key() {
    let app = app().await;
    let key = api_key(&app, "enc").await;
    let before = app.counts().await;
    let cases: Vec<(String, Option<&str>, StatusCode, &str)> = vec![
        (
            fixture("speke-v2/vod/3_negative_wrong_version_spekev2_dash_widevine.xml"),
            Some("2.0"),
            StatusCode::BAD_REQUEST,
            "cpix_unsupported_version",
        ),
        (
            fixture("speke-v2/vod/4_spekev2_negative_preset_shared_video.xml"),
            Some("2.0"),
            StatusCode::BAD_REQUEST,
            "cpix_speke_contract",
        ),
        (
            fixture("speke-v2/vod/5_spekev2_negative_preset_shared_audio.xml"),
            Some("2.0"),
            StatusCode::BAD_REQUEST,
            "cpix_speke_contract",
        ),
        (
            "<not-cpix/>".into(),
            None,
            StatusCode::BAD_REQUEST,
            "cpix_malformed",
        ),
        (
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x/>".into(),
            None,
            StatusCode::BAD_REQUEST,
            "cpix_malformed",
        ),
        (
            fixture(SPEKE_V2),
            Some("3.0"),
            StatusCode::BAD_REQUEST,
            "cpix_speke_contract",
        ),
        (
            fixture(SPEKE_V2).replace(" contentId=\"test_case_generic\"", ""),
            Some("2.0"),
            StatusCode::BAD_REQUEST,
            "cpix_speke_contract",
        ),
        (
            fixture(SPEKE_V2).replace(" contentId=\"test_case_generic\"", ""),
            None,
            StatusCode::BAD_REQUEST,
            "cpix_malformed",
        ),
        (
            fixture("cpix-dashif/Invalid_BadDocumentSignature.xml"),
            None,
            StatusCode::BAD_REQUEST,
            "cpix_signature_unsupported",
        ),
    ];
    for (body, version, status, code) in cases {
        let a = speke(&app, &key, body, version).await;
        assert_eq!(a.status, status, "{code}: {}", a.text());
        a.assert_problem(status, code);
        assert!(a.header("speke-user-agent").is_some());
    }
    // Unauthenticated: 401 on both CPIX routes.
    let a = app.post("/v1/packager/cpix", None, fixture(SPEKE_V2)).await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "packager_unauthorized");
    let a = speke(&app, "enc.wrong", fixture(SPEKE_V2), Some("2.0")).await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "packager_unauthorized");
    // Over 1 MiB: 413.
    let big = format!(
        "<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\">{}</cpix:CPIX>",
        " ".repeat(1024 * 1024 + 1)
    );
    let a = speke(&app, &key, big, None).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn native_cpix_fills_clearkey_signalling_and_can_choose_kids() {
    let app = app().await;
    let key = api_key(&app, "cpix-client").await;
    let doc_in = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><CPIX xmlns="urn:dashif:org:cpix" version="2.3" contentId="native-1">
<ContentKeyList><ContentKey kid="{VIDEO_KID}" commonEncryptionScheme="cenc"/></ContentKeyList>
<DRMSystemList><DRMSystem kid="{VIDEO_KID}" systemId="{}"><PSSH/><ContentProtectionData/></DRMSystem></DRMSystemList>
</CPIX>"#,
        Kid(CLEARKEY_SYSTEM_ID.0).to_uuid_string()
    );
    let a = app
        .send(
            Request::post("/v1/packager/cpix")
                .header("x-api-key", &key)
                .body(Body::from(doc_in.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    sample("server-cpix-clearkey.xml", &a.body);
    let doc = Document::read(&a.body, None).unwrap();
    assert_eq!(doc.content_keys[0].kid, kid(VIDEO_KID));
    let ck = &doc.drm_systems[0];
    let pssh = PsshBox::parse(ck.pssh.as_deref().unwrap()).unwrap();
    assert_eq!(pssh.key_ids, [kid(VIDEO_KID)]);
    let cpd = String::from_utf8(ck.content_protection_data.clone().unwrap()).unwrap();
    assert!(cpd.contains("/ri/clearkey/licenseManager.do"), "{cpd}");
    // ?kids=keyward: keyward's own kid for another content.
    let a = app
        .send(
            Request::post("/v1/packager/cpix?kids=keyward")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::from(doc_in.replace("native-1", "native-2")))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let doc = Document::read(&a.body, None).unwrap();
    assert_ne!(doc.content_keys[0].kid, kid(VIDEO_KID));
    // The packager's kid already belongs to native-1: honouring it for another content
    // is a conflict.
    let a = app
        .send(
            Request::post("/v1/packager/cpix")
                .header("x-api-key", &key)
                .body(Body::from(doc_in.replace("native-1", "native-3")))
                .unwrap(),
        )
        .await;
    a.assert_problem(StatusCode::CONFLICT, "key_conflict");
    let heartbeat = app.get("/v1/packager/speke/heartbeat", None).await;
    assert_eq!(heartbeat.status, StatusCode::OK);
    assert_eq!(heartbeat.text(), "OK");
}

/// A SPEKE v1 request (AWS namespace, live key period, HLS AES-128, FairPlay,
/// PlayReady and Widevine systems), as MediaPackage v1 sends it: no
/// X-Speke-Version, the content id in CPIX@id.
const SPEKE_V1: &str = r#"<cpix:CPIX id="live-abc" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:speke="urn:aws:amazon:com:speke">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="98ee5596-cd3e-a20d-163a-e382420c6eff" explicitIV="OFj2IjCsPJFfMAxmQxLGPw=="></cpix:ContentKey>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="81376844-f976-481e-a84e-cc25d39b0b33">
      <cpix:ContentProtectionData/><cpix:URIExtXKey></cpix:URIExtXKey><speke:KeyFormat></speke:KeyFormat><speke:KeyFormatVersions></speke:KeyFormatVersions>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2">
      <cpix:URIExtXKey></cpix:URIExtXKey><speke:KeyFormat></speke:KeyFormat><speke:KeyFormatVersions></speke:KeyFormatVersions>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="9a04f079-9840-4286-ab92-e65be0885f95">
      <cpix:PSSH/><speke:ProtectionHeader/>
    </cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="keyPeriod_1" index="11425"/></cpix:ContentKeyPeriodList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="98ee5596-cd3e-a20d-163a-e382420c6eff"><cpix:KeyPeriodFilter periodId="keyPeriod_1"/></cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>"#;

#[tokio::test]
async fn speke_v1_live_request_gets_the_aws_placements_and_a_period_key() {
    let app = app().await;
    let key = api_key(&app, "mediapackage-v1").await;
    let a = speke(&app, &key, SPEKE_V1.to_owned(), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.header("speke-user-agent").is_some());
    sample("server-speke-v1.xml", &a.body);
    let doc = Document::read(&a.body, None).unwrap();
    let k = kid("98ee5596-cd3e-a20d-163a-e382420c6eff");
    assert_eq!(doc.content_keys[0].kid, k);
    let rec = app
        .store
        .key_by_kid(&SiteId::parse(SITE).unwrap(), &k)
        .await
        .unwrap();
    assert_eq!(rec.cid, "live-abc");
    assert_eq!(rec.period, Some(11425));
    assert_eq!(
        rec.iv,
        Some(
            STANDARD
                .decode("OFj2IjCsPJFfMAxmQxLGPw==")
                .unwrap()
                .try_into()
                .unwrap()
        )
    );
    let fairplay = doc
        .drm_systems
        .iter()
        .find(|d| d.system_id == SystemId::FAIRPLAY)
        .unwrap();
    assert_eq!(
        String::from_utf8(fairplay.uri_ext_x_key.clone().unwrap()).unwrap(),
        format!("skd://{}", hex::encode(k.0))
    );
    assert_eq!(
        fairplay.speke_key_format.as_deref(),
        Some(&b"com.apple.streamingkeydelivery"[..])
    );
    let aes = doc
        .drm_systems
        .iter()
        .find(|d| Kid(d.system_id.0).to_uuid_string() == "81376844-f976-481e-a84e-cc25d39b0b33")
        .unwrap();
    let uri = String::from_utf8(aes.uri_ext_x_key.clone().unwrap()).unwrap();
    assert!(
        uri.ends_with(&format!("/v1/hls-key/{SITE}/live-abc")),
        "{uri}"
    );
    let pr = doc
        .drm_systems
        .iter()
        .find(|d| d.system_id == SystemId::PLAYREADY)
        .unwrap();
    assert!(!pr.speke_protection_header.as_ref().unwrap().is_empty());
}
