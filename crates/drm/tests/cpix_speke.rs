//! SPEKE v1 / v2 requests answered by `cpix::respond`: the AWS verification suite's
//! request documents (awslabs/speke-reference-server, in `testdata/fixtures/speke-v2/`),
//! its negative cases as mutations of them, and keyward-written multi-DRM requests.
//!
//! What the AWS suite asserts of an answer (`spekev2_verification_testsuite/helpers/
//! speke_element_assertions.py`, `test_*.py`) is asserted here without its HTTP harness:
//! the mandatory lists and attributes, `CPIX@version` 2.3 and no `CPIX@id`, one PSSH and
//! one `ContentProtectionData` per Widevine / PlayReady system (whose `cenc:pssh` equals
//! the PSSH), none for FairPlay, `HLSSignalingData` for `media` and `master` whose
//! `METHOD` / `KEYFORMAT` / `KEYFORMATVERSIONS` agree, and the KEYFORMAT of each DRM.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod cpix_support;

use cpix_support::{b64, recipient, speke, texts, unb64};
use keyward_drm::cpix::{
    respond, track_type_of, CpixError, Delivery, Dialect, Document, FairPlayUri, Request,
    ResolvedKey, Signalling, Wants,
};
use keyward_drm::playready::{self, PlayReadyObject, WrmHeaderVersion};
use keyward_drm::pssh::{PsshBox, SystemId, WidevinePsshData};
use keyward_drm::{ContentKey, Kid};
use keyward_types::TrackType;

const GENERAL_1: &str =
    "general/1_generic_spekev2_dash_widevine_preset_video_1_audio_1_no_rotation.xml";
const VOD_1: &str = "vod/1_generic_spekev2_dash_widevine_preset_video_1_audio_1_no_rotation.xml";
const GENERAL_2: &str = "general/2_speke_v1_style_implementation.xml";
const VOD_2: &str = "vod/2_speke_v1_style_implementation.xml";

fn kid(text: &str) -> Kid {
    Kid::from_hex(text).unwrap()
}

/// The kid the test "server" answers with: the requested one with every byte inverted,
/// so that a response still carrying a requested kid is caught.
fn server_kid(requested: Kid) -> Kid {
    Kid::new(requested.0.map(|b| !b))
}

fn server_key(i: usize) -> ContentKey {
    ContentKey::new([0x10 + i as u8; 16])
}

fn resolve(req: &Request) -> Vec<ResolvedKey> {
    req.key_slots()
        .iter()
        .enumerate()
        .map(|(i, s)| ResolvedKey {
            requested_kid: s.requested_kid,
            kid: server_kid(s.requested_kid),
            key: server_key(i),
            iv: None,
        })
        .collect()
}

fn signalling() -> Signalling {
    Signalling {
        playready_la_url: Some("https://drm.example/playready?x=1&y=2".into()),
        playready_header_version: WrmHeaderVersion::V4_0,
        widevine_provider: "keyward".into(),
        fairplay_uri: FairPlayUri::SkdKid,
        hls_aes_key_uri: Some("https://keys.example/hls/{kid}?c={content_id}".into()),
        clearkey_la_url: Some("https://drm.example/clearkey".into()),
    }
}

fn answer(req: &Request) -> (String, Document) {
    let out = respond(req, &resolve(req), &signalling(), Delivery::Clear).unwrap();
    let doc = Document::read(&out, None).unwrap();
    (String::from_utf8(out).unwrap(), doc)
}

fn utf8(bytes: &Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.clone().unwrap()).unwrap()
}

/// The HLS attributes the AWS suite compares between media and master signalling.
fn hls_attrs(line: &str) -> (String, String, String, String) {
    let (_, attrs) = line.split_once(':').unwrap();
    let get = |name: &str| {
        attrs
            .split(',')
            .find_map(|a| a.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .trim_matches('"')
            .to_owned()
    };
    (
        get("METHOD"),
        get("URI"),
        get("KEYFORMAT"),
        get("KEYFORMATVERSIONS"),
    )
}

/// The AWS suite's generic checks of a SPEKE v2 answer.
fn assert_speke_v2_answer(req: &Request, text: &str, doc: &Document) {
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cpix:CPIX "));
    assert!(text.contains("xmlns:cpix=\"urn:dashif:org:cpix\""));
    assert!(text.contains("xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\""));
    let root_tag = &text[text.find("<cpix:CPIX ").unwrap()..];
    let root_tag = &root_tag[..root_tag.find('>').unwrap()];
    assert!(
        !root_tag.contains(" id=\""),
        "no CPIX@id in a SPEKE v2 answer"
    );
    assert_eq!(doc.version.as_deref(), Some("2.3"));
    assert_eq!(doc.content_id, req.content_id);
    assert_eq!(doc.content_keys.len(), req.content_keys.len());
    for (k, r) in doc.content_keys.iter().zip(&req.content_keys) {
        assert_eq!(k.kid, server_kid(r.kid));
        assert!(k.key.is_some());
        assert_eq!(k.common_encryption_scheme, r.common_encryption_scheme);
    }
    assert_eq!(doc.drm_systems.len(), req.drm_systems.len());
    for (d, r) in doc.drm_systems.iter().zip(&req.drm_systems) {
        assert_eq!(d.kid, server_kid(r.kid));
        assert_eq!(d.system_id, r.system_id);
        match d.system_id {
            SystemId::WIDEVINE | SystemId::PLAYREADY => {
                let pssh = d.pssh.clone().unwrap();
                let b = PsshBox::parse(&pssh).unwrap();
                assert_eq!(b.system_id, d.system_id);
                let cpd = utf8(&d.content_protection_data);
                assert!(cpd.starts_with(&format!(
                    "<pssh xmlns=\"urn:mpeg:cenc:2013\">{}</pssh>",
                    b64(&pssh)
                )));
            }
            SystemId::FAIRPLAY => {
                assert!(d.pssh.is_none() && d.content_protection_data.is_none());
            }
            _ => {}
        }
        let media = utf8(&d.hls_media);
        let master = utf8(&d.hls_master);
        assert!(media.starts_with("#EXT-X-KEY:METHOD="), "{media}");
        assert!(master.starts_with("#EXT-X-SESSION-KEY:METHOD="), "{master}");
        assert_eq!(hls_attrs(&media), hls_attrs(&master));
        let keyformat = hls_attrs(&media).2;
        let expected = match d.system_id {
            SystemId::WIDEVINE => "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
            SystemId::PLAYREADY => "com.microsoft.playready",
            SystemId::FAIRPLAY => "com.apple.streamingkeydelivery",
            _ => unreachable!(),
        };
        assert_eq!(keyformat, expected);
    }
    assert_eq!(doc.usage_rules.len(), req.usage_rules.len());
    for (d, r) in doc.usage_rules.iter().zip(&req.usage_rules) {
        assert_eq!(d.kid, server_kid(r.kid));
        assert_eq!(d.intended_track_type, r.intended_track_type);
        assert_eq!(d.video_filters, r.video_filters);
        assert_eq!(d.audio_filters, r.audio_filters);
        assert_eq!(d.key_period_filters, r.key_period_filters);
    }
    assert_eq!(doc.periods, req.periods);
}

#[test]
fn generic_widevine_video_audio() {
    for name in [GENERAL_1, VOD_1] {
        let req = Request::parse(&speke(name)).unwrap();
        req.check_speke_v2().unwrap();
        assert_eq!(req.dialect(), Dialect::CpixV2);
        assert_eq!(req.content_id.as_deref(), Some("test_case_generic"));
        let slots = req.key_slots();
        let types: Vec<(Option<&str>, Option<TrackType>, Option<u64>)> = slots
            .iter()
            .map(|s| {
                (
                    s.intended_track_type.as_deref(),
                    s.track_type,
                    s.period_index,
                )
            })
            .collect();
        assert_eq!(
            types,
            [
                (Some("VIDEO"), Some(TrackType::AllVideo), None),
                (Some("AUDIO"), Some(TrackType::Audio), None)
            ]
        );
        assert_eq!(
            req.drm_systems[0].wants,
            Wants {
                pssh: true,
                content_protection_data: true,
                hls_media: true,
                hls_master: true,
                ..Wants::default()
            }
        );
        let (text, doc) = answer(&req);
        assert_speke_v2_answer(&req, &text, &doc);

        // Widevine details, for the video key.
        let video = &doc.drm_systems[0];
        let resolved_video = server_kid(kid("0f083e4e-b831-4a3d-917e-ce78076e54aa"));
        let pssh = video.pssh.clone().unwrap();
        let b = PsshBox::parse(&pssh).unwrap();
        assert_eq!(b.version, 0);
        let data = WidevinePsshData::decode(&b.data).unwrap();
        assert_eq!(
            data,
            WidevinePsshData {
                key_ids: vec![resolved_video],
                provider: Some("keyward".into()),
                content_id: Some(b"test_case_generic".to_vec()),
                protection_scheme: Some(u32::from_be_bytes(*b"cenc")),
                ..WidevinePsshData::default()
            }
        );
        assert_eq!(
            utf8(&video.content_protection_data),
            format!("<pssh xmlns=\"urn:mpeg:cenc:2013\">{}</pssh>", b64(&pssh))
        );
        assert_eq!(
            utf8(&video.hls_media),
            format!(
                "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,{}\",KEYID=0x{},KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\"",
                b64(&pssh),
                resolved_video.to_hex().to_uppercase()
            )
        );
        assert_eq!(
            b64(doc.content_keys[1].key.as_ref().unwrap().expose()),
            "EREREREREREREREREREREQ=="
        );
    }
    let req = Request::parse(&speke(GENERAL_1)).unwrap();
    let out = respond(&req, &resolve(&req), &signalling(), Delivery::Clear).unwrap();
    // The whole answer, byte for byte (its parts are checked above, decoded).
    let expected = cpix_support::support("speke_v2_general_1_answer.xml");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(expected).unwrap().trim_end()
    );
}

#[test]
fn speke_v1_style_single_key() {
    for name in [GENERAL_2, VOD_2] {
        let req = Request::parse(&speke(name)).unwrap();
        req.check_speke_v2().unwrap();
        // SPEKE v2 request shaped like v1: still CPIX 2.3, not the SPEKE v1 dialect.
        assert_eq!(req.dialect(), Dialect::CpixV2);
        let slots = req.key_slots();
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].track_type, Some(TrackType::All));
        let live = name.starts_with("general/");
        assert_eq!(slots[0].period_index, live.then_some(0));
        let (text, doc) = answer(&req);
        assert_speke_v2_answer(&req, &text, &doc);
        let pssh = PsshBox::parse(doc.drm_systems[0].pssh.as_deref().unwrap()).unwrap();
        let data = WidevinePsshData::decode(&pssh.data).unwrap();
        assert_eq!(data.crypto_period_index, live.then_some(0));
        if live {
            assert_eq!(doc.periods.len(), 1);
            assert_eq!(doc.periods[0].index, Some(0));
            assert_eq!(
                doc.usage_rules[0].key_period_filters,
                ["keyPeriod_2a50937e-4f6d-4794-9e77-f9ed86d4443c"]
            );
        }
    }
}

#[test]
fn aws_negative_fixtures_are_refused_with_specific_errors() {
    for name in [
        "general/3_negative_wrong_version_spekev2_dash_widevine.xml",
        "vod/3_negative_wrong_version_spekev2_dash_widevine.xml",
    ] {
        assert_eq!(
            Request::parse(&speke(name)).unwrap_err(),
            CpixError::UnsupportedVersion,
            "{name}"
        );
    }
    // general/4 also filters on a period its ContentKeyPeriodList does not define.
    assert_eq!(
        Request::parse(&speke("general/4_spekev2_negative_preset_shared_video.xml")).unwrap_err(),
        CpixError::UnknownPeriod
    );
    let all_filters = CpixError::SpekeContract {
        reason:
            "an ALL rule carries exactly one VideoFilter and one AudioFilter, without attributes",
    };
    for name in [
        "vod/4_spekev2_negative_preset_shared_video.xml",
        "general/5_spekev2_negative_preset_shared_audio.xml",
        "vod/5_spekev2_negative_preset_shared_audio.xml",
    ] {
        let req = Request::parse(&speke(name)).unwrap();
        let err = req.check_speke_v2().unwrap_err();
        assert_eq!(err, all_filters, "{name}");
        assert_eq!(err.code(), "cpix_speke_contract");
    }
}

/// The AWS suite's `test_negative_cases.py`, as mutations of the generic request.
#[test]
fn aws_negative_mutations() {
    let base = String::from_utf8(speke(GENERAL_1)).unwrap();
    let check = |xml: &str| -> CpixError {
        match Request::parse(xml.as_bytes()) {
            Err(e) => e,
            Ok(req) => req.check_speke_v2().unwrap_err(),
        }
    };
    let contract = |reason| CpixError::SpekeContract { reason };
    let cut = |text: &str, open: &str, close: &str| -> String {
        let mut out = text.to_owned();
        while let Some(a) = out.find(open) {
            let b = out[a..].find(close).unwrap() + a + close.len();
            out.replace_range(a..b, "");
        }
        out
    };
    assert_eq!(check("").code(), "cpix_malformed");
    assert_eq!(check("not xml").code(), "cpix_malformed");

    // Mandatory elements removed.
    let no_keys = cut(&base, "<cpix:ContentKeyList>", "</cpix:ContentKeyList>");
    assert_eq!(check(&no_keys).code(), "cpix_unknown_kid");
    let no_key = cut(&base, "<cpix:ContentKey ", "</cpix:ContentKey>");
    assert_eq!(check(&no_key).code(), "cpix_unknown_kid");
    let no_drm_list = cut(&base, "<cpix:DRMSystemList>", "</cpix:DRMSystemList>");
    assert_eq!(
        check(&no_drm_list),
        contract("DRMSystemList is missing or empty")
    );
    let no_drm = cut(&base, "<cpix:DRMSystem ", "</cpix:DRMSystem>");
    assert_eq!(
        check(&no_drm),
        contract("DRMSystemList is missing or empty")
    );
    let no_rules = cut(
        &base,
        "<cpix:ContentKeyUsageRuleList>",
        "</cpix:ContentKeyUsageRuleList>",
    );
    assert_eq!(
        check(&no_rules),
        contract("ContentKeyUsageRuleList is missing or empty")
    );
    let no_rule = cut(
        &base,
        "<cpix:ContentKeyUsageRule ",
        "</cpix:ContentKeyUsageRule>",
    );
    assert_eq!(
        check(&no_rule),
        contract("ContentKeyUsageRuleList is missing or empty")
    );

    // Mandatory attributes removed.
    let no_scheme = base.replace(" commonEncryptionScheme=\"cenc\"", "");
    assert_eq!(
        check(&no_scheme),
        contract("a ContentKey has no commonEncryptionScheme")
    );
    let no_key_kid = base.replace("<cpix:ContentKey kid=", "<cpix:ContentKey x=");
    assert_eq!(check(&no_key_kid).code(), "cpix_malformed");
    let no_system = base.replace(" systemId=", " x=");
    assert_eq!(check(&no_system).code(), "cpix_malformed");
    let no_drm_kid = base.replace("<cpix:DRMSystem kid=", "<cpix:DRMSystem x=");
    assert_eq!(check(&no_drm_kid).code(), "cpix_malformed");
    let no_rule_kid = base.replace(
        "<cpix:ContentKeyUsageRule kid=",
        "<cpix:ContentKeyUsageRule x=",
    );
    assert_eq!(check(&no_rule_kid).code(), "cpix_malformed");
    let no_type = base
        .replace(" intendedTrackType=\"VIDEO\"", "")
        .replace(" intendedTrackType=\"AUDIO\"", "");
    assert_eq!(
        check(&no_type),
        contract("a ContentKeyUsageRule has no intendedTrackType")
    );

    // Both filters removed.
    let no_filters = base
        .replace("<cpix:VideoFilter />", "")
        .replace("<cpix:AudioFilter />", "");
    assert_eq!(
        check(&no_filters),
        contract("a rule's VideoFilter and AudioFilter count differs from the parts of its intendedTrackType")
    );
    // Same intendedTrackType twice.
    let twice = base.replace("intendedTrackType=\"AUDIO\"", "intendedTrackType=\"VIDEO\"");
    assert_eq!(
        check(&twice),
        contract("two ContentKeyUsageRules share an intendedTrackType")
    );
    // Mixed schemes, unknown scheme.
    let mixed = base.replacen(
        "commonEncryptionScheme=\"cenc\"",
        "commonEncryptionScheme=\"cbcs\"",
        1,
    );
    assert_eq!(
        check(&mixed),
        contract("the ContentKeys use different commonEncryptionSchemes")
    );
    let odd = base.replace(
        "commonEncryptionScheme=\"cenc\"",
        "commonEncryptionScheme=\"ctr\"",
    );
    assert_eq!(
        check(&odd),
        contract("ContentKey@commonEncryptionScheme is not cenc, cbc1, cens or cbcs")
    );
    // FairPlay on cenc keys.
    let fairplay = base.replace(
        "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
        "94ce86fb-07ff-4f43-adb8-93d2fa968ca2",
    );
    assert_eq!(
        check(&fairplay),
        contract("FairPlay needs an AES-CBC scheme (cbcs), not cenc or cens")
    );
    // Wrong or missing version, missing content id.
    assert_eq!(
        check(&base.replace("version=\"2.3\"", "version=\"2.2\"")),
        CpixError::UnsupportedVersion
    );
    assert_eq!(
        check(&base.replace(" version=\"2.3\"", "")),
        CpixError::UnsupportedVersion
    );
    assert_eq!(
        check(&base.replace(" contentId=\"test_case_generic\"", "")),
        contract("CPIX@contentId is missing or empty")
    );
    // Undefined kid in a usage rule (not a SPEKE rule: any CPIX request).
    let stray = base.replacen(
        "<cpix:ContentKeyUsageRule kid=\"0f083e4e",
        "<cpix:ContentKeyUsageRule kid=\"ff083e4e",
        1,
    );
    assert_eq!(
        check(&stray),
        CpixError::UnknownKid {
            element: "ContentKeyUsageRule",
            kid: kid("ff083e4e-b831-4a3d-917e-ce78076e54aa")
        }
    );
}

/// A SPEKE v2 request for Widevine, PlayReady and FairPlay, `cbcs` (as the AWS suite's
/// `test_case_1_p_v_1_a_1/7_widevine_playready_fairplay.xml`, written here).
const MULTI_DRM_CBCS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<c:CPIX contentId="multi drm/1" version="2.3" xmlns:c="urn:dashif:org:cpix" xmlns:p="urn:ietf:params:xml:ns:keyprov:pskc">
  <c:ContentKeyList>
    <c:ContentKey kid="873f3740-2508-4a2d-94bc-9b0f86649251" commonEncryptionScheme="cbcs"/>
    <c:ContentKey kid="0c54f2b0-b433-45a4-ae73-664438bb0b4e" commonEncryptionScheme="cbcs"/>
  </c:ContentKeyList>
  <c:DRMSystemList>
    <c:DRMSystem kid="873f3740-2508-4a2d-94bc-9b0f86649251" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><c:PSSH/><c:ContentProtectionData/><c:HLSSignalingData playlist="media"/><c:HLSSignalingData playlist="master"/></c:DRMSystem>
    <c:DRMSystem kid="873f3740-2508-4a2d-94bc-9b0f86649251" systemId="9a04f079-9840-4286-ab92-e65be0885f95"><c:PSSH/><c:ContentProtectionData/><c:HLSSignalingData playlist="media"/><c:HLSSignalingData playlist="master"/></c:DRMSystem>
    <c:DRMSystem kid="873f3740-2508-4a2d-94bc-9b0f86649251" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2"><c:HLSSignalingData playlist="media"/><c:HLSSignalingData playlist="master"/></c:DRMSystem>
    <c:DRMSystem kid="0c54f2b0-b433-45a4-ae73-664438bb0b4e" systemId="9a04f079-9840-4286-ab92-e65be0885f95"><c:PSSH/><c:ContentProtectionData/><c:HLSSignalingData playlist="media"/><c:HLSSignalingData playlist="master"/></c:DRMSystem>
    <c:DRMSystem kid="0c54f2b0-b433-45a4-ae73-664438bb0b4e" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2"><c:HLSSignalingData playlist="media"/><c:HLSSignalingData playlist="master"/></c:DRMSystem>
  </c:DRMSystemList>
  <c:ContentKeyPeriodList><c:ContentKeyPeriod id="keyPeriod_2e19ac38-22d3-4bb2-b290-95a72f4732ef" index="7"/></c:ContentKeyPeriodList>
  <c:ContentKeyUsageRuleList>
    <c:ContentKeyUsageRule kid="873f3740-2508-4a2d-94bc-9b0f86649251" intendedTrackType="VIDEO"><c:KeyPeriodFilter periodId="keyPeriod_2e19ac38-22d3-4bb2-b290-95a72f4732ef"/><c:VideoFilter/></c:ContentKeyUsageRule>
    <c:ContentKeyUsageRule kid="0c54f2b0-b433-45a4-ae73-664438bb0b4e" intendedTrackType="AUDIO"><c:KeyPeriodFilter periodId="keyPeriod_2e19ac38-22d3-4bb2-b290-95a72f4732ef"/><c:AudioFilter/></c:ContentKeyUsageRule>
  </c:ContentKeyUsageRuleList>
</c:CPIX>"#;

#[test]
fn multi_drm_cbcs_playready_and_fairplay() {
    let req = Request::parse(MULTI_DRM_CBCS.as_bytes()).unwrap();
    req.check_speke_v2().unwrap();
    let (text, doc) = answer(&req);
    assert_speke_v2_answer(&req, &text, &doc);
    let video = server_kid(kid("873f3740-2508-4a2d-94bc-9b0f86649251"));

    // PlayReady, AES-CBC: a WRMHEADER 4.3 with ALGID AESCBC and no checksum.
    let pr = &doc.drm_systems[1];
    let pssh = PsshBox::parse(pr.pssh.as_deref().unwrap()).unwrap();
    assert_eq!(pssh.system_id, SystemId::PLAYREADY);
    let header = PlayReadyObject::parse(&pssh.data)
        .unwrap()
        .wrm_header_xml()
        .unwrap()
        .unwrap();
    assert_eq!(
        header,
        format!(
            "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" version=\"4.3.0.0\"><DATA><PROTECTINFO><KIDS><KID ALGID=\"AESCBC\" VALUE=\"{}\"></KID></KIDS></PROTECTINFO><LA_URL>https://drm.example/playready?x=1&amp;y=2</LA_URL></DATA></WRMHEADER>",
            b64(&video.to_guid_le())
        )
    );
    assert_eq!(
        utf8(&pr.content_protection_data),
        format!(
            "<pssh xmlns=\"urn:mpeg:cenc:2013\">{}</pssh><pro xmlns=\"urn:microsoft:playready\">{}</pro>",
            b64(pr.pssh.as_deref().unwrap()),
            b64(&pssh.data)
        )
    );
    assert_eq!(
        utf8(&pr.hls_media),
        format!(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"data:text/plain;charset=UTF-16;base64,{}\",KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\"",
            b64(&pssh.data)
        )
    );

    // FairPlay: skd://<kid hex>, what the FairPlay back door maps to the key.
    let fp = &doc.drm_systems[2];
    assert_eq!(
        utf8(&fp.hls_media),
        format!(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://{}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
            video.to_hex()
        )
    );
    assert_eq!(
        utf8(&fp.hls_master),
        format!(
            "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://{}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
            video.to_hex()
        )
    );
    // Widevine: cbcs in the PSSH data, the period index as the crypto period.
    let wv = PsshBox::parse(doc.drm_systems[0].pssh.as_deref().unwrap()).unwrap();
    let data = WidevinePsshData::decode(&wv.data).unwrap();
    assert_eq!(data.protection_scheme, Some(u32::from_be_bytes(*b"cbcs")));
    assert_eq!(data.crypto_period_index, Some(7));
    assert_eq!(data.content_id.as_deref(), Some(&b"multi drm/1"[..]));
    assert!(utf8(&doc.drm_systems[0].hls_media).starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES,URI="));
}

#[test]
fn playready_cenc_header_carries_the_checksum() {
    let xml = MULTI_DRM_CBCS.replace("cbcs", "cenc").replace(
        "<c:DRMSystem kid=\"873f3740-2508-4a2d-94bc-9b0f86649251\" systemId=\"94ce86fb-07ff-4f43-adb8-93d2fa968ca2\"><c:HLSSignalingData playlist=\"media\"/><c:HLSSignalingData playlist=\"master\"/></c:DRMSystem>",
        "",
    );
    let xml = xml.replace(
        "<c:DRMSystem kid=\"0c54f2b0-b433-45a4-ae73-664438bb0b4e\" systemId=\"94ce86fb-07ff-4f43-adb8-93d2fa968ca2\"><c:HLSSignalingData playlist=\"media\"/><c:HLSSignalingData playlist=\"master\"/></c:DRMSystem>",
        "",
    );
    let req = Request::parse(xml.as_bytes()).unwrap();
    req.check_speke_v2().unwrap();
    let (text, doc) = answer(&req);
    assert_speke_v2_answer(&req, &text, &doc);
    for (i, requested) in [
        "873f3740-2508-4a2d-94bc-9b0f86649251",
        "0c54f2b0-b433-45a4-ae73-664438bb0b4e",
    ]
    .iter()
    .enumerate()
    {
        let resolved = server_kid(kid(requested));
        let pr = doc
            .drm_systems
            .iter()
            .find(|d| d.system_id == SystemId::PLAYREADY && d.kid == resolved)
            .unwrap();
        let pssh = PsshBox::parse(pr.pssh.as_deref().unwrap()).unwrap();
        let header = PlayReadyObject::parse(&pssh.data)
            .unwrap()
            .wrm_header_xml()
            .unwrap()
            .unwrap();
        let sum = playready::checksum(&resolved, &server_key(i));
        assert_eq!(
            header,
            format!(
                "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" version=\"4.0.0.0\"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>{}</KID><CHECKSUM>{}</CHECKSUM><LA_URL>https://drm.example/playready?x=1&amp;y=2</LA_URL></DATA></WRMHEADER>",
                b64(&resolved.to_guid_le()),
                b64(&sum)
            )
        );
        assert!(utf8(&pr.hls_media).starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,"));
    }
}

/// A SPEKE v1 request (no CPIX@version, the AWS namespace under an unusual prefix),
/// shaped like the AWS SPEKE v1 documentation's live example.
const SPEKE_V1: &str = r#"<cpix:CPIX id="abc123" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:aws="urn:aws:amazon:com:speke">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="98ee5596-cd3e-a20d-163a-e382420c6eff" explicitIV="OFj2IjCsPJFfMAxmQxLGPw=="></cpix:ContentKey>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="81376844-f976-481e-a84e-cc25d39b0b33">
      <cpix:ContentProtectionData/>
      <cpix:URIExtXKey></cpix:URIExtXKey>
      <aws:KeyFormat></aws:KeyFormat>
      <aws:KeyFormatVersions></aws:KeyFormatVersions>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2">
      <cpix:URIExtXKey></cpix:URIExtXKey>
      <aws:KeyFormat></aws:KeyFormat>
      <aws:KeyFormatVersions></aws:KeyFormatVersions>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="9a04f079-9840-4286-ab92-e65be0885f95">
      <cpix:PSSH/>
      <aws:ProtectionHeader/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed">
      <cpix:PSSH></cpix:PSSH>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="e2719d58-a985-b3c9-781a-b030af78d30e">
      <cpix:PSSH/><cpix:ContentProtectionData/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="98ee5596-cd3e-a20d-163a-e382420c6eff" systemId="3d5e6d35-9b9a-41e8-b843-dd3c6e72c42c">
      <cpix:PSSH/>
    </cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyPeriodList>
    <cpix:ContentKeyPeriod id="keyPeriod_e64248f6-f307-4ba7-aba0-6f6bb9d5ed3f" index="11425"/>
  </cpix:ContentKeyPeriodList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="98ee5596-cd3e-a20d-163a-e382420c6eff">
      <cpix:KeyPeriodFilter periodId="keyPeriod_e64248f6-f307-4ba7-aba0-6f6bb9d5ed3f"/>
    </cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>"#;

#[test]
fn speke_v1_request_gets_v1_placements() {
    let req = Request::parse(SPEKE_V1.as_bytes()).unwrap();
    assert_eq!(req.dialect(), Dialect::SpekeV1);
    assert_eq!(req.id.as_deref(), Some("abc123"));
    assert_eq!(req.content_id_or_id(), Some("abc123"));
    let wisplay = SystemId(kid("3d5e6d35-9b9a-41e8-b843-dd3c6e72c42c").0);
    assert_eq!(req.unsupported_systems(), [wisplay]);
    let slots = req.key_slots();
    assert_eq!(slots[0].period_index, Some(11425));
    assert_eq!(slots[0].track_type, Some(TrackType::All));
    assert_eq!(
        slots[0].explicit_iv.map(|iv| b64(&iv)).as_deref(),
        Some("OFj2IjCsPJFfMAxmQxLGPw==")
    );
    // SPEKE v1 is not SPEKE v2.
    assert_eq!(
        req.check_speke_v2().unwrap_err(),
        CpixError::UnsupportedVersion
    );

    let (text, doc) = answer(&req);
    assert!(text.contains(" id=\"abc123\""));
    assert!(text.contains("xmlns:speke=\"urn:aws:amazon:com:speke\""));
    let k = server_kid(kid("98ee5596-cd3e-a20d-163a-e382420c6eff"));
    assert_eq!(doc.content_keys[0].kid, k);
    assert_eq!(
        doc.content_keys[0]
            .explicit_iv
            .map(|iv| b64(&iv))
            .as_deref(),
        Some("OFj2IjCsPJFfMAxmQxLGPw==")
    );

    // HLS AES-128: the key URI, "identity", version 1; no ContentProtectionData.
    let aes = &doc.drm_systems[0];
    assert_eq!(
        utf8(&aes.uri_ext_x_key),
        format!("https://keys.example/hls/{}?c=abc123", k.to_hex())
    );
    assert_eq!(utf8(&aes.speke_key_format), "identity");
    assert_eq!(utf8(&aes.speke_key_format_versions), "1");
    assert!(aes.content_protection_data.is_none() && aes.hls_media.is_none());

    // FairPlay.
    let fp = &doc.drm_systems[1];
    assert_eq!(utf8(&fp.uri_ext_x_key), format!("skd://{}", k.to_hex()));
    assert_eq!(utf8(&fp.speke_key_format), "com.apple.streamingkeydelivery");
    assert_eq!(utf8(&fp.speke_key_format_versions), "1");

    // PlayReady: PSSH around the PRO, speke:ProtectionHeader = the PRO.
    let pr = &doc.drm_systems[2];
    let pssh = PsshBox::parse(pr.pssh.as_deref().unwrap()).unwrap();
    assert_eq!(pr.speke_protection_header.as_deref(), Some(&pssh.data[..]));
    let header = PlayReadyObject::parse(&pssh.data)
        .unwrap()
        .wrm_header_xml()
        .unwrap()
        .unwrap();
    assert!(header.contains(&format!(
        "<CHECKSUM>{}</CHECKSUM>",
        b64(&playready::checksum(&k, &server_key(0)))
    )));

    // Widevine.
    let wv = PsshBox::parse(doc.drm_systems[3].pssh.as_deref().unwrap()).unwrap();
    assert_eq!(wv.system_id, SystemId::WIDEVINE);
    let data = WidevinePsshData::decode(&wv.data).unwrap();
    assert_eq!(data.key_ids, [k]);
    assert_eq!(data.content_id.as_deref(), Some(&b"abc123"[..]));
    assert_eq!(data.crypto_period_index, Some(11425));

    // Clear Key: v1 common box listing the kid, DASH-IF Laurl.
    let ck = &doc.drm_systems[4];
    let pssh = PsshBox::parse(ck.pssh.as_deref().unwrap()).unwrap();
    assert_eq!(pssh, PsshBox::common(&[k]));
    assert_eq!(
        utf8(&ck.content_protection_data),
        format!(
            "<pssh xmlns=\"urn:mpeg:cenc:2013\">{}</pssh><Laurl xmlns=\"https://dashif.org/CPS\" Lic_type=\"EME-1.0\">https://drm.example/clearkey</Laurl>",
            b64(ck.pssh.as_deref().unwrap())
        )
    );

    // Unknown system: echoed with the resolved kid, without signalling.
    let other = &doc.drm_systems[5];
    assert_eq!(other.system_id, wisplay);
    assert_eq!(other.kid, k);
    assert!(other.pssh.is_none());
    assert!(text.contains(&format!(
        "<cpix:DRMSystem kid=\"{}\" systemId=\"3d5e6d35-9b9a-41e8-b843-dd3c6e72c42c\"></cpix:DRMSystem>",
        k.to_uuid_string()
    )));
    assert_eq!(doc.periods[0].index, Some(11425));
    assert_eq!(doc.usage_rules[0].kid, k);
}

#[test]
fn empty_drm_system_gets_everything_keyward_has() {
    let xml = r#"<CPIX xmlns="urn:dashif:org:cpix" contentId="c1" version="2.3">
      <ContentKeyList><ContentKey kid="681e5b39-49e8-4c7d-8e6a-32b07a2e7a2e"/></ContentKeyList>
      <DRMSystemList>
        <DRMSystem kid="681e5b39-49e8-4c7d-8e6a-32b07a2e7a2e" systemId="9A04F079-9840-4286-AB92-E65BE0885F95"/>
        <DRMSystem kid="681e5b39-49e8-4c7d-8e6a-32b07a2e7a2e" systemId="94CE86FB-07FF-4F43-ADB8-93D2FA968CA2"/>
      </DRMSystemList></CPIX>"#;
    let req = Request::parse(xml.as_bytes()).unwrap();
    assert_eq!(req.drm_systems[0].wants, Wants::default());
    let (_, doc) = answer(&req);
    let pr = &doc.drm_systems[0];
    assert!(pr.pssh.is_some() && pr.content_protection_data.is_some());
    assert!(pr.hls_media.is_some() && pr.hls_master.is_some());
    let pssh = PsshBox::parse(pr.pssh.as_deref().unwrap()).unwrap();
    assert_eq!(
        pr.smooth_streaming.as_deref(),
        Some(b64(&pssh.data).as_str())
    );
    let fp = &doc.drm_systems[1];
    assert!(fp.pssh.is_none());
    assert!(utf8(&fp.uri_ext_x_key).starts_with("skd://"));
    assert!(fp.hls_media.is_some() && fp.hls_master.is_some());
}

#[test]
fn resolution_errors() {
    let req = Request::parse(&speke(GENERAL_1)).unwrap();
    let s = signalling();
    let mut r = resolve(&req);
    let missing = r.pop().unwrap();
    assert_eq!(
        respond(&req, &r, &s, Delivery::Clear).unwrap_err(),
        CpixError::UnresolvedKey {
            kid: missing.requested_kid
        }
    );
    let mut dup = resolve(&req);
    dup[1].kid = dup[0].kid;
    let err = respond(&req, &dup, &s, Delivery::Clear).unwrap_err();
    assert_eq!(err.code(), "cpix_duplicate_kid");
    assert!(!err.is_client_error());
    let mut stranger = resolve(&req);
    stranger[1].requested_kid = Kid::new([9; 16]);
    assert_eq!(
        respond(&req, &stranger, &s, Delivery::Clear)
            .unwrap_err()
            .code(),
        "cpix_unknown_kid"
    );
    // AES-128 requested without a key URI configured.
    let v1 = Request::parse(SPEKE_V1.as_bytes()).unwrap();
    let err = respond(
        &v1,
        &resolve(&v1),
        &Signalling {
            hls_aes_key_uri: None,
            ..signalling()
        },
        Delivery::Clear,
    )
    .unwrap_err();
    assert_eq!(
        err,
        CpixError::Signalling {
            system: "81376844-f976-481e-a84e-cc25d39b0b33".into(),
            reason: "no HLS AES-128 key URI is configured"
        }
    );
}

#[test]
fn intended_track_type_mapping() {
    let cases = [
        (None, Some(TrackType::All)),
        (Some("ALL"), Some(TrackType::All)),
        (Some("VIDEO"), Some(TrackType::AllVideo)),
        (Some("SD"), Some(TrackType::Sd)),
        (Some("HD"), Some(TrackType::Hd)),
        (Some("UHD"), Some(TrackType::Uhd1)),
        (Some("UHD1"), Some(TrackType::Uhd1)),
        (Some("UHD2"), Some(TrackType::Uhd2)),
        (Some("AUDIO"), Some(TrackType::Audio)),
        (Some("STEREO_AUDIO"), Some(TrackType::Audio)),
        (Some("MULTICHANNEL_AUDIO"), Some(TrackType::Audio)),
        (Some("MULTICHANNEL_AUDIO_3_6"), Some(TrackType::Audio)),
        (Some("MULTICHANNEL_AUDIO_7"), Some(TrackType::Audio)),
        (Some("SD+HD"), None),
        (Some("HD1"), None),
        (Some("hd"), None),
    ];
    for (text, expected) in cases {
        assert_eq!(track_type_of(text), expected, "{text:?}");
    }
}

#[test]
fn encrypted_speke_v2_answer_reads_back() {
    let req = Request::parse(&speke(GENERAL_1)).unwrap();
    let recipients = [recipient("Cert1")];
    let out = respond(
        &req,
        &resolve(&req),
        &signalling(),
        Delivery::Encrypted {
            recipients: &recipients,
        },
    )
    .unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(texts(&text, "cpix:DocumentKey").len(), 1);
    let doc = Document::read(&out, Some(&cpix_support::private_key("Cert1"))).unwrap();
    assert_eq!(
        b64(doc.content_keys[0].key.as_ref().unwrap().expose()),
        b64(&[0x10; 16])
    );
    assert_eq!(
        b64(doc.content_keys[1].key.as_ref().unwrap().expose()),
        b64(&[0x11; 16])
    );
    assert_speke_v2_answer(&req, &text, &doc);
    assert_eq!(
        unb64(&texts(&text, "ds:X509Certificate")[0]),
        cpix_support::cert("Cert1")
    );
}

/// Writes sample answers for XSD validation (`testdata/cpix-xsd/validate.py`) when
/// `KEYWARD_CPIX_SAMPLES` names a directory; does nothing otherwise.
#[test]
fn write_samples_for_xsd_validation() {
    let Some(dir) = std::env::var_os("KEYWARD_CPIX_SAMPLES") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, xml: &[u8], delivery: Delivery<'_>| {
        let req = Request::parse(xml).unwrap();
        let out = respond(&req, &resolve(&req), &signalling(), delivery).unwrap();
        std::fs::write(dir.join(name), out).unwrap();
    };
    let recipients = [recipient("Cert1"), recipient("Cert2")];
    write("speke-v2-clear.xml", &speke(GENERAL_1), Delivery::Clear);
    write(
        "speke-v2-live-clear.xml",
        &speke(GENERAL_2),
        Delivery::Clear,
    );
    write(
        "speke-v2-multi-drm-encrypted.xml",
        MULTI_DRM_CBCS.as_bytes(),
        Delivery::Encrypted {
            recipients: &recipients,
        },
    );
    write("speke-v1-clear.xml", SPEKE_V1.as_bytes(), Delivery::Clear);
    write(
        "speke-v1-encrypted.xml",
        SPEKE_V1.as_bytes(),
        Delivery::Encrypted {
            recipients: &recipients,
        },
    );
}
