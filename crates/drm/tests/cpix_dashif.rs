//! The DASH-IF CPIX test vectors (Dash-Industry-Forum/cpix-test-vectors, in
//! `testdata/fixtures/cpix-dashif/`) read with `cpix::Document`, the recipient checks,
//! and round trips of keyward's own responses through the reader.
//!
//! Expected key values: `EncryptedContentKeys.xml`'s are the ones its `Readme.md` lists;
//! the others were decrypted independently of this crate with the openssl CLI
//! (`pkeyutl -pkeyopt rsa_padding_mode:oaep`, `enc -aes-256-cbc`, `dgst -sha512 -mac
//! HMAC`), all MACs valid except `Invalid_WrongMac.xml`'s.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod cpix_support;

use cpix_support::{b64, cert, dashif, private_key, recipient, support, unb64};
use keyward_drm::cpix::{
    check_recipient_certificate, respond, AudioFilter, BitrateFilter, CpixError, Delivery,
    Document, Period, ReadOptions, Request, ResolvedKey, Signalling, SignaturePolicy, VideoFilter,
};
use keyward_drm::pssh::{PsshBox, SystemId};
use keyward_drm::{ContentKey, Kid};

fn kid(text: &str) -> Kid {
    Kid::from_hex(text).unwrap()
}

/// `(kid, base64 key)` of a read document, keys that were not read as `"-"`.
fn keys(doc: &Document) -> Vec<(String, String)> {
    doc.content_keys
        .iter()
        .map(|k| {
            (
                k.kid.to_uuid_string(),
                k.key.as_ref().map_or("-".to_owned(), |v| b64(v.expose())),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const ENCRYPTED_KEYS: [(&str, &str); 4] = [
    (
        "bd5adf51-cf04-410f-aac3-ec63a69e929e",
        "3rWoHYasQubO6HbJGrGtLw==",
    ),
    (
        "d2920429-87ab-41e6-a4c5-a8c836b6312e",
        "O5w9FdZiwmQK4uIXzAziaQ==",
    ),
    (
        "e17ba4b8-faff-4d30-bcba-7485e3f2e884",
        "Cwu/3hSBBRQ7SurBdZD5ow==",
    ),
    (
        "0ae6b9ad-92d2-4ebe-882b-1d07dee70715",
        "FB6/Eck9Y9SXy6bY8UU/Mw==",
    ),
];

const MULTI_RECIPIENT_KEYS: [(&str, &str); 4] = [
    (
        "bc365b99-0667-446f-b417-ff0398c9a4c4",
        "gMMdXMudvuGpYW5k3lzf/g==",
    ),
    (
        "1e25f2a7-76a9-4570-bc1a-d8181800d529",
        "WUxnvQjGw28bA3cgW/1jfg==",
    ),
    (
        "2e4e6c21-c0d7-4a1c-80af-bff3d7cc5270",
        "cCudMIPMQkak1l+oCVXT2A==",
    ),
    (
        "8ad35bd4-53ab-437b-8f42-6e1ea8e2f0d8",
        "zqvOfAja51IUSRV385bvoA==",
    ),
];

const COMPLEX_KEYS: [(&str, &str); 4] = [
    (
        "b4c3188b-eddd-453d-9bc2-1cbca7566239",
        "b1pkxdNYqPxljV68gohWcw==",
    ),
    (
        "c6294999-5f48-445f-bcce-f7e5f736d7c6",
        "moOVrJvuhUUQ4LpPusAd5g==",
    ),
    (
        "b181a4df-2c38-41a4-993f-90b2f21343f6",
        "67gabJtKDWd2crHr+JQT1A==",
    ),
    (
        "a466cdfd-e556-4b1d-8098-c1a4aa78997a",
        "rRuRUWAibaUtai0qQnb71g==",
    ),
];

const EVEN_MORE_COMPLEX_KEYS: [(&str, &str); 4] = [
    (
        "152ae2e0-f455-486e-81d1-6df5fc5d7179",
        "B+DoDP4r/j1NEr7b2aKXlw==",
    ),
    (
        "0cbe1c84-5c54-4ce8-8893-ff77f7d793e1",
        "CedOXHsXc3xQ+HQuJOJZ+g==",
    ),
    (
        "486a8d08-29f7-42f5-9a9a-a1ab9b0685ad",
        "ADq3douHS0QrY1omNB1njA==",
    ),
    (
        "84044421-a871-4999-8931-289aa6f4a607",
        "JlZWL6tfkh6e8k9U1IOC8A==",
    ),
];

#[test]
fn encrypted_content_keys_open_with_cert1_only() {
    let xml = dashif("EncryptedContentKeys.xml");
    let doc = Document::read(&xml, Some(&private_key("Cert1"))).unwrap();
    assert_eq!(keys(&doc), pairs(&ENCRYPTED_KEYS));
    assert!(doc.content_keys.iter().all(|k| k.encrypted));
    assert_eq!(doc.recipients.len(), 1);
    assert_eq!(doc.recipients[0].certificate_der, cert("Cert1"));

    // Without a key the document still reads; the encrypted keys have no value.
    let doc = Document::read(&xml, None).unwrap();
    assert_eq!(doc.content_keys.len(), 4);
    assert!(doc
        .content_keys
        .iter()
        .all(|k| k.key.is_none() && k.encrypted));

    // Another recipient's key is not addressed.
    let err = Document::read(&xml, Some(&private_key("Cert2"))).unwrap_err();
    assert_eq!(err.code(), "cpix_no_recipient_key");
}

#[test]
fn multiple_recipients_each_open_the_same_keys() {
    let xml = dashif("EncryptedContentKeysWithMultipleRecipients.xml");
    for stem in ["Cert1", "Cert2", "Cert3", "Cert4"] {
        let doc = Document::read(&xml, Some(&private_key(stem))).unwrap();
        assert_eq!(keys(&doc), pairs(&MULTI_RECIPIENT_KEYS), "{stem}");
        let certs: Vec<Vec<u8>> = doc
            .recipients
            .iter()
            .map(|r| r.certificate_der.clone())
            .collect();
        assert_eq!(
            certs,
            vec![cert("Cert1"), cert("Cert2"), cert("Cert3"), cert("Cert4")]
        );
    }
    let err = Document::read(&xml, Some(&private_key("WeakCert_Sha1"))).unwrap_err();
    assert_eq!(err.code(), "cpix_no_recipient_key");
}

#[test]
fn clear_content_keys_only() {
    let doc = Document::read(&dashif("ClearContentKeysOnly.xml"), None).unwrap();
    assert_eq!(
        keys(&doc),
        pairs(&[
            (
                "40d02dd1-61a3-4787-a155-572325d47b80",
                "gPxt0PMwrHM4TdjwdQmhhQ=="
            ),
            (
                "0a30ea4f-539d-4b02-94b2-2b3fba2576d3",
                "x/gaoS/fDi8BqGNIhkixwQ=="
            ),
            (
                "9f7908fa-5d5c-4097-ba53-50edc2235fbc",
                "3iv9lYwafpe0uEmxDc6PSw=="
            ),
            (
                "fac2cbf5-889c-412b-a385-04a29d409bdc",
                "1OZVZZoYFSU2X/7qT3sHwg=="
            ),
        ])
    );
    assert!(doc.content_keys.iter().all(|k| !k.encrypted));
    // A recipient key is not needed and not refused for clear keys.
    assert!(Document::read(
        &dashif("ClearContentKeysOnly.xml"),
        Some(&private_key("Cert1"))
    )
    .is_ok());
    // Read as a request, the keys are reported as carrying values.
    let req = Request::parse(&dashif("ClearContentKeysOnly.xml")).unwrap();
    assert_eq!(req.content_keys.len(), 4);
    assert!(req.content_keys.iter().all(|k| k.has_value));
}

#[test]
fn wrong_mac_is_refused_when_decrypting_only() {
    let xml = dashif("Invalid_WrongMac.xml");
    let err = Document::read(&xml, Some(&private_key("Cert1"))).unwrap_err();
    assert_eq!(
        err,
        CpixError::BadMac {
            kid: kid("5ad2b739-4f46-48df-9a44-aab8c35abf71")
        }
    );
    assert_eq!(err.code(), "cpix_bad_mac");
    // Loading without decrypting succeeds, as the vector's description requires.
    let doc = Document::read(&xml, None).unwrap();
    assert_eq!(doc.content_keys.len(), 1);
    assert!(doc.content_keys[0].key.is_none());
}

fn trusted_all() -> Vec<Vec<u8>> {
    ["Cert1", "Cert2", "Cert3", "Cert4"]
        .iter()
        .map(|s| cert(s))
        .collect()
}

#[test]
fn invalid_signatures_are_refused_under_both_policies() {
    let trusted = trusted_all();
    for name in [
        "Invalid_BadDocumentSignature.xml",
        "Invalid_BadContentKeysSignature.xml",
    ] {
        let xml = dashif(name);
        let refused = Document::read(&xml, Some(&private_key("Cert1"))).unwrap_err();
        assert_eq!(refused.code(), "cpix_signature_unsupported", "{name}");
        let verify = ReadOptions {
            recipient: Some(&private_key("Cert1")),
            signatures: SignaturePolicy::Verify {
                trusted_signers: &trusted,
            },
        };
        let err = Document::read_with(&xml, &verify).unwrap_err();
        assert!(
            matches!(
                err,
                CpixError::BadSignature {
                    reason: "a reference digest does not match: the signed content was altered",
                    ..
                }
            ),
            "{name}: {err:?}"
        );
        assert_eq!(err.code(), "cpix_bad_signature");
        // Requests carrying signatures are refused too.
        assert_eq!(
            Request::parse(&xml).unwrap_err().code(),
            "cpix_signature_unsupported"
        );
    }
}

#[test]
fn complex_verifies_with_its_signers_and_reads_everything() {
    let xml = dashif("Complex.xml");
    assert_eq!(
        Document::read(&xml, None).unwrap_err().code(),
        "cpix_signature_unsupported"
    );
    let signers = vec![cert("Cert3"), cert("Cert4")];
    let key = private_key("Cert1");
    let doc = Document::read_with(
        &xml,
        &ReadOptions {
            recipient: Some(&key),
            signatures: SignaturePolicy::Verify {
                trusted_signers: &signers,
            },
        },
    )
    .unwrap();
    // Four lists signed by Cert3 and Cert4 each, and the document by Cert4.
    assert_eq!(doc.verified_signatures, 9);
    assert_eq!(keys(&doc), pairs(&COMPLEX_KEYS));
    assert_eq!(doc.recipients.len(), 2);
    assert_eq!(doc.drm_systems.len(), 12);
    assert_eq!(doc.usage_rules.len(), 2);
    assert!(doc.periods.is_empty());

    // Widevine, PlayReady, FairPlay for each key, in that order.
    let wv = &doc.drm_systems[0];
    assert_eq!(wv.system_id, SystemId::WIDEVINE);
    assert_eq!(wv.kid, kid("b4c3188b-eddd-453d-9bc2-1cbca7566239"));
    assert_eq!(
        String::from_utf8(wv.content_protection_data.clone().unwrap()).unwrap(),
        "<pssh xmlns=\"urn:mpeg:cenc:2013\">AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSELTDGIvt3UU9m8IcvKdWYjlI49yVmwY=</pssh>"
    );
    assert_eq!(
        String::from_utf8(wv.hls_media.clone().unwrap()).unwrap(),
        "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSELTDGIvt3UU9m8IcvKdWYjlI49yVmwY=\",KEYID=0xB4C3188BEDDD453D9BC21CBCA7566239,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""
    );
    assert!(String::from_utf8(wv.hls_master.clone().unwrap())
        .unwrap()
        .starts_with("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES-CTR,"));
    let pr = &doc.drm_systems[1];
    assert_eq!(pr.system_id, SystemId::PLAYREADY);
    let pro = unb64(pr.smooth_streaming.as_deref().unwrap());
    let pro = keyward_drm::playready::PlayReadyObject::parse(&pro).unwrap();
    // The WRMHEADER names the kid as a little-endian GUID.
    assert!(pro
        .wrm_header_xml()
        .unwrap()
        .unwrap()
        .contains("<KID>ixjDtN3tPUWbwhy8p1ZiOQ==</KID>"));
    let fp = &doc.drm_systems[2];
    assert_eq!(fp.system_id, SystemId::FAIRPLAY);
    assert_eq!(
        String::from_utf8(fp.hls_master.clone().unwrap()).unwrap(),
        "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://b4c3188b-eddd-453d-9bc2-1cbca7566239\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\""
    );

    let r0 = &doc.usage_rules[0];
    assert_eq!(r0.kid, kid("b4c3188b-eddd-453d-9bc2-1cbca7566239"));
    assert_eq!(
        r0.label_filters,
        [
            "EncryptedStream",
            "CencStream",
            "滆 柦柋牬 趉軨鄇 鶊鵱, 緳廞徲 鋑鋡髬 溮煡煟 綡蒚"
        ]
    );
    assert_eq!(
        r0.audio_filters,
        [
            AudioFilter {
                min_channels: Some(1),
                max_channels: Some(2)
            },
            AudioFilter {
                min_channels: Some(8),
                max_channels: Some(10)
            }
        ]
    );
    assert_eq!(
        r0.bitrate_filters,
        [
            BitrateFilter {
                min_bitrate: Some(1000),
                max_bitrate: Some(5_000_000)
            },
            BitrateFilter {
                min_bitrate: Some(10_000_000),
                max_bitrate: Some(32_000_000)
            }
        ]
    );
    let r1 = &doc.usage_rules[1];
    assert_eq!(r1.kid, kid("a466cdfd-e556-4b1d-8098-c1a4aa78997a"));
    assert_eq!(
        r1.video_filters,
        [
            VideoFilter {
                min_pixels: Some(1000),
                max_pixels: Some(2_073_600),
                hdr: Some(true),
                wcg: Some(false),
                min_fps: Some(10),
                max_fps: Some(30)
            },
            VideoFilter {
                min_pixels: Some(1000),
                max_pixels: Some(16_777_216),
                hdr: Some(false),
                wcg: Some(false),
                min_fps: Some(30),
                max_fps: Some(200)
            }
        ]
    );
    assert!(r1.audio_filters.is_empty());

    // Any change to signed content breaks a digest.
    let text = String::from_utf8(xml.clone()).unwrap();
    let altered = text.replacen("CencStream", "CencStreaM", 1);
    let err = Document::read_with(
        altered.as_bytes(),
        &ReadOptions {
            recipient: None,
            signatures: SignaturePolicy::Verify {
                trusted_signers: &signers,
            },
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "cpix_bad_signature");

    // Only one of the two signers trusted: the other's signatures are refused.
    let only4 = vec![cert("Cert4")];
    let err = Document::read_with(
        &xml,
        &ReadOptions {
            recipient: None,
            signatures: SignaturePolicy::Verify {
                trusted_signers: &only4,
            },
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "cpix_untrusted_signer");
}

#[test]
fn even_more_complex_reads_through_utf16_prefixes_and_comments() {
    let xml = dashif("EvenMoreComplex.xml");
    assert_eq!(&xml[..2], &[0xff, 0xfe], "the vector is UTF-16LE");
    assert_eq!(
        Document::read(&xml, None).unwrap_err().code(),
        "cpix_signature_unsupported"
    );
    // The upstream Readme says Cert3 / Cert4 signed it as they did Complex.xml, but the
    // KeyInfo certificates are Cert1 (five signatures) and Cert2 (the sixth).
    let signers = vec![cert("Cert1"), cert("Cert2")];
    for stem in ["Cert1", "Cert2"] {
        let key = private_key(stem);
        let doc = Document::read_with(
            &xml,
            &ReadOptions {
                recipient: Some(&key),
                signatures: SignaturePolicy::Verify {
                    trusted_signers: &signers,
                },
            },
        )
        .unwrap();
        assert_eq!(doc.verified_signatures, 6);
        assert_eq!(keys(&doc), pairs(&EVEN_MORE_COMPLEX_KEYS), "{stem}");
        assert_eq!(doc.drm_systems.len(), 12);
        assert_eq!(doc.usage_rules.len(), 2);
        assert_eq!(doc.recipients.len(), 2);
        assert_eq!(
            doc.usage_rules[0].label_filters,
            [
                "EncryptedStream",
                "CencStream",
                "滆 柦柋牬 趉軨鄇 鶊鵱, 緳廞徲 鋑鋡髬 溮煡煟 綡蒚"
            ]
        );
    }
}

#[test]
fn empty_document_and_recipients_without_keys() {
    let doc = Document::read(&dashif("EmptyDocument.xml"), None).unwrap();
    assert!(doc.content_keys.is_empty() && doc.drm_systems.is_empty());
    assert!(doc.usage_rules.is_empty() && doc.periods.is_empty() && doc.recipients.is_empty());
    assert_eq!(doc.version, None);

    let xml = dashif("RecipientsWithoutContentKeys.xml");
    let doc = Document::read(&xml, Some(&private_key("Cert3"))).unwrap();
    assert!(doc.content_keys.is_empty());
    let certs: Vec<Vec<u8>> = doc
        .recipients
        .iter()
        .map(|r| r.certificate_der.clone())
        .collect();
    assert_eq!(certs, vec![cert("Cert3"), cert("Cert4")]);
}

#[test]
fn key_rotation_vectors() {
    let single = Document::read(&dashif("KeyRotationMultiKeySinglePeriod.xml"), None).unwrap();
    assert_eq!(single.id.as_deref(), Some("test"));
    assert_eq!(
        keys(&single),
        pairs(&[
            (
                "7ce7f10d-a91b-41b9-b331-7999fd1abf4c",
                "s/zSNTG4TR2jY04srqSqFQ=="
            ),
            (
                "988395ce-667a-443a-b9cc-58ad7875a687",
                "B9mye8sHQJSOhOkbpKKpNg=="
            ),
        ])
    );
    // These vectors write explicitIV as a UUID; keyward reads it as the 16 bytes.
    assert_eq!(
        single.content_keys[0].explicit_iv,
        Some(kid("f45bcebb-f0df-4a34-bf4e-c24edfcf6289").0)
    );
    assert_eq!(
        single.periods,
        [Period {
            id: Some("now".into()),
            index: Some(1),
            start: None,
            end: None
        }]
    );
    assert_eq!(single.usage_rules.len(), 2);
    assert_eq!(single.usage_rules[0].key_period_filters, ["now"]);
    assert_eq!(
        single.usage_rules[0].video_filters,
        [VideoFilter::default()]
    );
    assert_eq!(
        single.usage_rules[1].audio_filters,
        [AudioFilter::default()]
    );

    let multi = Document::read(&dashif("KeyRotationMultiKeyMulitPeriod.xml"), None).unwrap();
    assert_eq!(multi.content_keys.len(), 4);
    assert_eq!(multi.periods.len(), 2);
    assert_eq!(multi.periods[1].id.as_deref(), Some("next"));
    assert_eq!(multi.periods[1].index, Some(2));
    assert_eq!(multi.usage_rules.len(), 4);
    assert_eq!(
        b64(multi.content_keys[3].key.as_ref().unwrap().expose()),
        "87uye8sHQJSOhOkbpKKpgg=="
    );

    // As a request, each key's slot carries its period's index.
    let req = Request::parse(&dashif("KeyRotationMultiKeyMulitPeriod.xml")).unwrap();
    let idx: Vec<Option<u64>> = req.key_slots().iter().map(|s| s.period_index).collect();
    assert_eq!(idx, [Some(1), Some(1), Some(2), Some(2)]);
}

#[test]
fn usage_rules_based_on_labels() {
    let doc = Document::read(&dashif("UsageRulesBasedOnLabels.xml"), None).unwrap();
    assert_eq!(doc.content_keys.len(), 4);
    let labels: Vec<(String, Vec<String>)> = doc
        .usage_rules
        .iter()
        .map(|r| (r.kid.to_uuid_string(), r.label_filters.clone()))
        .collect();
    let expect: Vec<(String, Vec<String>)> = [
        (
            "ba6c62d6-4a49-4aa4-8869-ce4d2727a2b5",
            &["AllAudioStreams", "Audio", "PositionalAudio", "Stereo"][..],
        ),
        (
            "ba6c62d6-4a49-4aa4-8869-ce4d2727a2b5",
            &["Commentary", "Telephony", "Speech"][..],
        ),
        ("37e3de05-9a3b-4c69-8970-63c17a95e0b7", &["SD-Video"][..]),
        ("53abdba2-f210-43cb-bc90-f18f9a890a02", &["HD-Video"][..]),
        (
            "7ae8e96f-309e-42c3-a510-24023d923373",
            &["UHD-Video", "3D-Video", "WCG-Video", "HDR-Video"][..],
        ),
    ]
    .iter()
    .map(|(k, l)| ((*k).to_owned(), l.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    assert_eq!(labels, expect);
}

#[test]
fn weak_and_unusable_recipient_certificates() {
    let weak = |der: &[u8]| check_recipient_certificate(der).unwrap_err();
    assert_eq!(
        weak(&cert("WeakCert_Sha1")),
        CpixError::WeakCertificate {
            reason: "the certificate is signed with SHA-1"
        }
    );
    assert_eq!(
        weak(&support("small_rsa1024.cer")),
        CpixError::WeakCertificate {
            reason: "the RSA key is shorter than 2048 bits"
        }
    );
    assert_eq!(
        weak(&support("md5_signed.cer")),
        CpixError::WeakCertificate {
            reason: "the certificate is signed with MD5"
        }
    );
    assert_eq!(weak(&support("ec_p256.cer")).code(), "cpix_bad_certificate");
    assert_eq!(weak(b"not a certificate").code(), "cpix_bad_certificate");
    // RSA-2048 is SPEKE's mandated size: keyward's floor, so the vectors' "small key"
    // certificate (2048-bit, SHA-512) is accepted.
    check_recipient_certificate(&cert("WeakCert_SmallKey")).unwrap();
    for stem in ["Cert1", "Cert2", "Cert3", "Cert4"] {
        check_recipient_certificate(&cert(stem)).unwrap();
    }
}

// ---- keyward's own responses read back ----

const REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX contentId="movie-1" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="11111111-1111-1111-1111-111111111111" commonEncryptionScheme="cenc"/>
    <cpix:ContentKey kid="22222222-2222-2222-2222-222222222222" commonEncryptionScheme="cenc"/>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="11111111-1111-1111-1111-111111111111" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:PSSH/></cpix:DRMSystem>
    <cpix:DRMSystem kid="22222222-2222-2222-2222-222222222222" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:PSSH/></cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="11111111-1111-1111-1111-111111111111" intendedTrackType="VIDEO"><cpix:VideoFilter/></cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="22222222-2222-2222-2222-222222222222" intendedTrackType="AUDIO"><cpix:AudioFilter/></cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>"#;

fn resolved() -> Vec<ResolvedKey> {
    vec![
        ResolvedKey {
            requested_kid: kid("11111111111111111111111111111111"),
            kid: kid("a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"),
            key: ContentKey::new([0x0a; 16]),
            iv: Some([0x0b; 16]),
        },
        ResolvedKey {
            requested_kid: kid("22222222222222222222222222222222"),
            kid: kid("b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"),
            key: ContentKey::new([0x0c; 16]),
            iv: None,
        },
    ]
}

#[test]
fn clear_response_reads_back() {
    let req = Request::parse(REQUEST.as_bytes()).unwrap();
    let out = respond(&req, &resolved(), &Signalling::default(), Delivery::Clear).unwrap();
    let doc = Document::read(&out, None).unwrap();
    assert_eq!(
        keys(&doc),
        pairs(&[
            (
                "a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1",
                "CgoKCgoKCgoKCgoKCgoKCg=="
            ),
            (
                "b2b2b2b2-b2b2-b2b2-b2b2-b2b2b2b2b2b2",
                "DAwMDAwMDAwMDAwMDAwMDA=="
            ),
        ])
    );
    assert_eq!(doc.content_keys[0].explicit_iv, Some([0x0b; 16]));
    assert_eq!(doc.content_keys[1].explicit_iv, None);
    assert_eq!(doc.content_id.as_deref(), Some("movie-1"));
    let pssh = PsshBox::parse(doc.drm_systems[1].pssh.as_deref().unwrap()).unwrap();
    let data = keyward_drm::pssh::WidevinePsshData::decode(&pssh.data).unwrap();
    assert_eq!(data.key_ids, [kid("b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2")]);
    assert_eq!(
        doc.usage_rules[1].kid,
        kid("b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2")
    );
}

#[test]
fn encrypted_response_round_trip_for_two_recipients() {
    let req = Request::parse(REQUEST.as_bytes()).unwrap();
    let recipients = [recipient("Cert1"), recipient("Cert2")];
    let out = respond(
        &req,
        &resolved(),
        &Signalling::default(),
        Delivery::Encrypted {
            recipients: &recipients,
        },
    )
    .unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(text.matches("<cpix:DeliveryData>").count(), 2);
    assert_eq!(text.matches("<cpix:DocumentKey ").count(), 2);
    assert_eq!(text.matches("<cpix:MACMethod ").count(), 2);
    assert_eq!(text.matches("<pskc:ValueMAC>").count(), 2);
    assert!(!text.contains("PlainValue"));
    // Neither the keys nor their base64 appear.
    assert!(!text.contains("CgoKCgoKCgoKCgoKCgoKCg"));
    for stem in ["Cert1", "Cert2"] {
        let doc = Document::read(&out, Some(&private_key(stem))).unwrap();
        assert_eq!(
            keys(&doc),
            pairs(&[
                (
                    "a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1",
                    "CgoKCgoKCgoKCgoKCgoKCg=="
                ),
                (
                    "b2b2b2b2-b2b2-b2b2-b2b2-b2b2b2b2b2b2",
                    "DAwMDAwMDAwMDAwMDAwMDA=="
                ),
            ]),
            "{stem}"
        );
        assert!(doc.content_keys.iter().all(|k| k.encrypted));
    }
    assert_eq!(
        Document::read(&out, Some(&private_key("Cert3")))
            .unwrap_err()
            .code(),
        "cpix_no_recipient_key"
    );

    // Tamper with the second key's CipherValue: its MAC no longer matches.
    let values = cpix_support::texts(&text, "enc:CipherValue");
    // Two wrapped secrets per recipient, then one value per key.
    assert_eq!(values.len(), 2 * 2 + 2);
    let victim = &values[5];
    let mut bytes = unb64(victim);
    bytes[20] ^= 1;
    let tampered = text.replacen(victim.as_str(), &b64(&bytes), 1);
    let err = Document::read(tampered.as_bytes(), Some(&private_key("Cert2"))).unwrap_err();
    assert_eq!(
        err,
        CpixError::BadMac {
            kid: kid("b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2")
        }
    );
}

#[test]
fn weak_recipients_are_refused_when_responding() {
    let req = Request::parse(REQUEST.as_bytes()).unwrap();
    let weak = [recipient("Cert1"), recipient("WeakCert_Sha1")];
    let err = respond(
        &req,
        &resolved(),
        &Signalling::default(),
        Delivery::Encrypted { recipients: &weak },
    )
    .unwrap_err();
    assert_eq!(err.code(), "cpix_weak_certificate");
    let empty: [keyward_drm::cpix::Recipient; 0] = [];
    let err = respond(
        &req,
        &resolved(),
        &Signalling::default(),
        Delivery::Encrypted { recipients: &empty },
    )
    .unwrap_err();
    assert_eq!(err.code(), "cpix_bad_certificate");
}

#[test]
fn debug_output_never_shows_keys() {
    let r = resolved();
    let shown = format!("{r:?}");
    assert!(!shown.contains("0a, 0a") && !shown.contains("10, 10") && !shown.contains("CgoK"));
    let doc = Document::read(&dashif("ClearContentKeysOnly.xml"), None).unwrap();
    let shown = format!("{doc:?}");
    assert!(!shown.contains("gPxt0PMwrHM4TdjwdQmhhQ"));
    assert!(!shown.contains(&hex::encode(unb64("gPxt0PMwrHM4TdjwdQmhhQ=="))));
}

// ---- robustness ----

mod never_panic {
    use super::cpix_support::{dashif, private_key, speke};
    use keyward_drm::cpix::{Document, ReadOptions, Request, SignaturePolicy};
    use proptest::prelude::*;

    fn inputs() -> Vec<Vec<u8>> {
        vec![
            dashif("EncryptedContentKeys.xml"),
            dashif("KeyRotationMultiKeyMulitPeriod.xml"),
            dashif("UsageRulesBasedOnLabels.xml"),
            dashif("Invalid_BadContentKeysSignature.xml"),
            speke("general/1_generic_spekev2_dash_widevine_preset_video_1_audio_1_no_rotation.xml"),
        ]
    }

    /// Every outcome is `Ok` or a coded error whose message is short (no input echoed).
    fn check<T>(r: Result<T, keyward_drm::cpix::CpixError>) {
        if let Err(e) = r {
            assert!(e.code().starts_with("cpix_"));
            assert!(e.to_string().len() < 400, "{e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

        #[test]
        fn mutated_documents_never_panic(
            which in 0usize..5,
            edits in proptest::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    b"<>&;\"'=/ :#xa-0\xff\x00".to_vec())),
                1..6),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = inputs().swap_remove(which);
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if truncate {
                let n = cut.index(bytes.len());
                bytes.truncate(n);
            }
            check(Request::parse(&bytes));
            if let Ok(req) = Request::parse(&bytes) {
                let _ = req.key_slots();
                check(req.check_speke_v2());
            }
            check(Document::read(&bytes, None));
            let trusted = vec![super::cert("Cert1")];
            check(Document::read_with(&bytes, &ReadOptions {
                recipient: None,
                signatures: SignaturePolicy::Verify { trusted_signers: &trusted },
            }));
        }
    }

    #[test]
    fn mutated_encrypted_document_with_recipient() {
        // A few deterministic corruptions of the encrypted document, read with its key.
        let key = private_key("Cert1");
        let base = dashif("EncryptedContentKeys.xml");
        for at in (100..base.len()).step_by(base.len() / 23) {
            let mut bytes = base.clone();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            check(Document::read(&bytes, Some(&key)));
        }
    }
}
