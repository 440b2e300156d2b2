//! Tests against third-party data under `testdata/`: Apple's FairPlay SDK SPCs and the
//! PallyCon KMS CPIX examples (Widevine and PlayReady PSSH rebuilt byte for byte).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed fixture read or decode should abort the test"
)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyward_drm::fairplay::{spc_from_body, Spc, SpcHeader, SPC_HEADER_LEN};
use keyward_drm::playready::{
    checksum, HeaderKey, PlayReadyHeader, PlayReadyObject, WrmHeaderInfo, WrmHeaderVersion,
};
use keyward_drm::pssh::{PsshBox, SystemId, WidevinePsshData};
use keyward_drm::{ContentKey, Kid};
use serde_json::Value;

const FAIRPLAY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fixtures/fairplay-ksm"
);
const KMS_VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/vectors/pallycon_kms_cpix_examples.jsonl"
);

/// SHA-1 of `Development Credentials/dev_certificate.der` (protocols.md §4.2).
const DEV_CERT_SHA1: &str = "5561980aa51f03aa04bca24556c841a71736c771";

fn spc_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["FPS", "FPS-lease"] {
        let entries = std::fs::read_dir(format!("{FAIRPLAY}/{dir}")).expect("fixture dir");
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("spc") && name.ends_with(".bin") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_sdk_spc_parses() {
    let files = spc_files();
    assert_eq!(files.len(), 7, "{files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let spc = Spc::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(spc.header.version, 1, "{}", path.display());
        assert_eq!(
            hex::encode(spc.header.cert_hash),
            DEV_CERT_SHA1,
            "{}",
            path.display()
        );
        assert_eq!(
            spc.header.payload_len as usize,
            bytes.len() - SPC_HEADER_LEN
        );
        assert_eq!(spc.header.iv.as_slice(), &bytes[8..24]);
        assert_eq!(spc.wrapped_key.len(), 128);

        // Every request form a player may use yields the same bytes.
        let b64 = STANDARD.encode(&bytes);
        let form = format!(
            "spc={}",
            b64.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        );
        for body in [bytes.clone(), b64.clone().into_bytes(), form.into_bytes()] {
            assert_eq!(spc_from_body(&body).unwrap(), bytes, "{}", path.display());
        }

        // Truncations and corruptions are refused with 7317, never a panic.
        for cut in [1, 16, SPC_HEADER_LEN - 1, SPC_HEADER_LEN, bytes.len() - 1] {
            let err = SpcHeader::parse(&bytes[..cut]).unwrap_err();
            assert_eq!(err.code(), 7317, "{} cut {cut}", path.display());
        }
    }
}

#[test]
fn sdk_spc1_header_fields() {
    let bytes = std::fs::read(format!("{FAIRPLAY}/FPS/spc1.bin")).unwrap();
    let header = SpcHeader::parse(&bytes).unwrap();
    assert_eq!(bytes.len(), 2864);
    assert_eq!(header.payload_len, 0xa80);
    assert_eq!(hex::encode(&header.iv[..8]), "5d1644eaec11f983");
}

fn kms_records() -> Vec<Value> {
    std::fs::read_to_string(KMS_VECTORS)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

#[test]
fn pallycon_kms_vectors_rebuild_byte_for_byte() {
    let records = kms_records();
    assert_eq!(records.len(), 4);
    for record in records {
        let name = text(&record, "name").unwrap();
        let inputs = &record["inputs"];
        let expected = &record["expected"];
        let kid = Kid::from_hex(text(inputs, "kid_hex").unwrap()).unwrap();
        let key_bytes = hex::decode(text(inputs, "key_hex").unwrap()).unwrap();
        let key = ContentKey::from_slice(&key_bytes).unwrap();
        let cid = text(inputs, "cid").unwrap();
        let period = inputs["period_index"].as_u64();

        // Widevine PSSH (pallycon.md §8.3).
        let mut content_id = cid.as_bytes().to_vec();
        if let Some(p) = period {
            content_id.extend_from_slice(format!("{p:016x}").as_bytes());
        }
        let wv = WidevinePsshData {
            algorithm: Some(1),
            key_ids: vec![kid],
            provider: Some("inkaentworks".into()),
            content_id: Some(content_id),
            track_type: text(inputs, "intended_track_type").map(str::to_owned),
            crypto_period_index: period.map(|p| p as u32),
            protection_scheme: None,
        };
        let wv_box = PsshBox::v0(SystemId::WIDEVINE, wv.encode()).to_bytes();
        assert_eq!(
            STANDARD.encode(&wv_box),
            text(expected, "widevine_pssh_b64").unwrap(),
            "{name}"
        );

        // PlayReady: checksum, KID, header, PRO and pssh.
        assert_eq!(
            STANDARD.encode(checksum(&kid, &key)),
            text(expected, "playready_checksum_b64").unwrap(),
            "{name}"
        );
        assert_eq!(
            STANDARD.encode(kid.to_guid_le()),
            text(expected, "playready_kid_le_b64").unwrap(),
            "{name}"
        );
        let want_xml = text(expected, "playready_wrmheader").unwrap();
        let info = WrmHeaderInfo::parse(want_xml).unwrap();
        assert_eq!(info.key_ids, vec![kid], "{name}");
        let version = match info.version.as_deref() {
            Some("4.0.0.0") => WrmHeaderVersion::V4_0,
            Some("4.3.0.0") => WrmHeaderVersion::V4_3,
            other => panic!("{name}: unexpected version {other:?}"),
        };
        let header = PlayReadyHeader {
            version,
            keys: vec![HeaderKey::aes_ctr(kid, &key)],
            la_url: info.la_url.clone(),
            custom_attributes: period
                .map(|p| vec![("PERIOD_INDEX".to_owned(), p.to_string())])
                .unwrap_or_default(),
        };
        assert_eq!(header.wrm_header_xml().unwrap(), want_xml, "{name}");
        let pssh = header.to_pssh().unwrap();
        let want_pssh = text(expected, "playready_pssh_b64").unwrap();
        assert_eq!(STANDARD.encode(&pssh), want_pssh, "{name}");

        // And read back from the published bytes.
        let parsed = PsshBox::parse(&STANDARD.decode(want_pssh).unwrap()).unwrap();
        assert_eq!(parsed.system_id, SystemId::PLAYREADY);
        let pro = PlayReadyObject::parse(&parsed.data).unwrap();
        assert_eq!(
            pro.wrm_header_xml().unwrap().as_deref(),
            Some(want_xml),
            "{name}"
        );
    }
}
