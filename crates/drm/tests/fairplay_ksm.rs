//! keyward's KSM against Apple's FPS Server SDK test SPCs (development
//! credentials, the SDK test DASk) and the CKCs the MIT Go KSM wrote for them
//! (testdata/fairplay-ksm). The Go CKCs carry random content keys; what they
//! prove is agreement on the derivations, not acceptance by an Apple device.

#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    reason = "tests: a failure is a test failure; fixture tables"
)]

use keyward_drm::fairplay::tllv::tag;
use keyward_drm::fairplay::{
    answer, read_request, Ask, CkcContent, CkcFormat, Envelope, FpsCertificate, FpsCredential,
    KeyDuration, OpenedSpc, Spc, SpcKey, SpcSession, SDK_TEST_DASK,
};
use keyward_drm::DrmError;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures/fairplay-ksm")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn credential() -> FpsCredential {
    let cert = FpsCertificate::parse(&read("Development Credentials/dev_certificate.der")).unwrap();
    let key = SpcKey::parse(&read("Development Credentials/dev_private_key.pem"), None).unwrap();
    FpsCredential::new(cert, key, Ask::from_bytes([0; 16])).unwrap()
}

fn session(rel: &str) -> SpcSession {
    let bytes = read(rel);
    let spc = Spc::parse(&bytes).unwrap();
    OpenedSpc::open(&spc, &credential().key)
        .unwrap()
        .unlock(&SDK_TEST_DASK)
        .unwrap()
}

fn counter() -> impl FnMut(&mut [u8]) -> Result<(), DrmError> {
    let mut n = 0u8;
    move |b| {
        for x in b {
            n = n.wrapping_add(37);
            *x = n;
        }
        Ok(())
    }
}

const AABB: &str = "aabbccddeeff";

/// (SPC, asset id, return-request tags, has media playback state).
fn expected() -> Vec<(&'static str, Vec<u8>, Vec<u64>, bool)> {
    let aabb = hex::decode(format!("{AABB}{AABB}{AABB}")).unwrap();
    let common = [tag::ASSET_ID, tag::TRANSACTION_ID];
    let with = |rest: &[u64]| [&common[..], rest].concat();
    let lease = with(&[0xc392_ec58_91ef_a7d0]);
    vec![
        (
            "FPS/spc1.bin",
            aabb.clone(),
            with(&[
                0xf911_f04d_a54b_f599,
                0xba08_cc74_dac9_176d,
                0x130d_994c_b894_b9e3,
                0x66c8_23f3_79b8_7bb5,
                0x18d4_2c5f_8e54_5a4b,
            ]),
            false,
        ),
        (
            "FPS/spc2.bin",
            b"one".to_vec(),
            with(&[tag::STREAMING_INDICATOR]),
            false,
        ),
        (
            "FPS/spc3.bin",
            aabb,
            with(&[
                0x93c8_232c_79b8_1ab5,
                0xcee6_71f4_89b4_0a6b,
                0xf1d1_ebe8_98c0_97d7,
                0xbf91_bc75_abba_19f7,
                0x1247_4185_4671_2c7d,
            ]),
            false,
        ),
        ("FPS-lease/spc1.bin", b"one".to_vec(), lease.clone(), true),
        ("FPS-lease/spc2.bin", b"one".to_vec(), lease.clone(), true),
        ("FPS-lease/spc3.bin", b"one".to_vec(), lease.clone(), true),
        (
            "FPS-lease/spc4.bin",
            b"persistent_twelve".to_vec(),
            lease,
            true,
        ),
    ]
}

#[test]
fn the_development_certificate_reads() {
    let der = FpsCertificate::parse(&read("Development Credentials/dev_certificate.der")).unwrap();
    let pem = FpsCertificate::parse(&read("Development Credentials/certificate.pem")).unwrap();
    assert_eq!(der, pem);
    assert_eq!(
        hex::encode(der.hash),
        "5561980aa51f03aa04bca24556c841a71736c771"
    );
    assert_eq!(der.subject, "C=US,O=Partner2,OU=Partner2,CN=Partner2");
    assert_eq!(der.serial, "6e8053dc638f279d");
    assert_eq!(der.not_before, 1_318_903_042);
    assert_eq!(der.not_after, 1_381_975_042);
    assert_eq!(der.key_bits, 1024);
    assert_eq!(der.der, read("Development Credentials/dev_certificate.der"));
}

#[test]
fn every_sdk_spc_opens_with_a_valid_integrity_tag() {
    let c = credential();
    for (rel, asset, returns, state) in expected() {
        let bytes = read(rel);
        let spc = Spc::parse(&bytes).unwrap();
        assert_eq!(spc.header.version, 1);
        assert_eq!(spc.header.cert_hash, c.certificate.hash, "{rel}");
        let opened = OpenedSpc::open(&spc, &c.key).unwrap();
        assert_eq!(opened.asset_id(), &asset[..], "{rel}");
        assert_eq!(opened.r2().len(), 21);
        let s = opened.unlock(&SDK_TEST_DASK).unwrap();
        assert_eq!(s.asset_id, asset, "{rel}");
        assert_eq!(s.return_tags, returns, "{rel}");
        assert_eq!(s.playback_state.is_some(), state, "{rel}");
        assert_eq!(s.protocol_version_used, Some(1), "{rel}");
        assert_eq!(
            s.echoes.iter().map(|t| t.tag).collect::<Vec<_>>(),
            returns,
            "{rel}"
        );
        // Echo values are the SPC's, byte for byte.
        for e in &s.echoes {
            assert_eq!(opened.get(e.tag), Some(&e.value[..]));
        }
    }
}

#[test]
fn spc2_and_lease_spc4_share_session_keys_but_not_echoes() {
    let a = session("FPS/spc2.bin");
    let b = session("FPS-lease/spc4.bin");
    assert_eq!(a.r1, b.r1);
    assert_eq!(a.anti_replay, b.anti_replay);
    assert_ne!(a.echoes, b.echoes);
}

/// (CKC, its SPC, content key, (lease, rental, key type)).
const GO_CKCS: [(&str, &str, &str, Option<(u32, u32, u32)>); 6] = [
    (
        "FPS/ckc1.bin",
        "FPS/spc1.bin",
        "d0c361861ec0cfda1dd8ee544f7e5412",
        None,
    ),
    (
        "FPS/ckc2.bin",
        "FPS/spc2.bin",
        "844b38449b3a8ca01d84eba465ff3403",
        None,
    ),
    (
        "FPS/ckc3.bin",
        "FPS/spc3.bin",
        "efdc0902996be777c0a5c12da40a4889",
        None,
    ),
    (
        "FPS-lease/ckc1.bin",
        "FPS-lease/spc1.bin",
        "39000cc4d8aad792f0cd04cb7e94cfce",
        Some((0x9acb_0442, 0xf0c5_341e, 0x1a4b_de7e)),
    ),
    (
        "FPS-lease/ckc2.bin",
        "FPS-lease/spc2.bin",
        "fca95ade1799ed93a3288e7b361f2f8e",
        Some((0xaa20_9b8e, 0x700e_0976, 0x1a4b_de7e)),
    ),
    (
        "FPS-lease/ckc3.bin",
        "FPS-lease/spc3.bin",
        "1b58d9b59701474e1d89e2e8ebcd191b",
        Some((0x6cb5_0b02, 0xafd3_a30c, 0x1a4b_de7e)),
    ),
];

#[test]
fn the_go_ksm_ckcs_read_back() {
    for (ckc, spc, key, duration) in GO_CKCS {
        let s = session(spc);
        let back = s.read_ckc(&read(ckc)).unwrap();
        assert_eq!(hex::encode(*back.content_key), key, "{ckc}");
        assert_eq!(back.r1, s.r1.to_vec(), "{ckc}");
        assert_eq!(back.others, s.echoes, "{ckc}");
        assert_eq!(back.duration, duration, "{ckc}");
    }
    // A CKC read against another SPC's session does not decode.
    let other = session("FPS/spc1.bin");
    assert!(other.read_ckc(&read("FPS/ckc2.bin")).is_err());
}

#[test]
fn keywards_ckc_carries_the_same_key_and_echoes() {
    for (_, spc, key, go_duration) in GO_CKCS {
        let s = session(spc);
        let ck: [u8; 16] = hex::decode(key).unwrap().try_into().unwrap();
        let ckc = s
            .build_ckc(
                &CkcContent {
                    key: &ck,
                    iv: [9; 16],
                    duration: Some(KeyDuration::Rental { seconds: 86_400 }),
                },
                &mut counter(),
            )
            .unwrap();
        assert_eq!(&ckc[..8], &[0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!((ckc.len() - 28) % 16, 0);
        let back = s.read_ckc(&ckc).unwrap();
        assert_eq!(*back.content_key, ck, "{spc}");
        assert_eq!(back.content_iv, [9; 16]);
        assert_eq!(back.r1, s.r1.to_vec());
        assert_eq!(back.others, s.echoes);
        // Durations only for clients that sent a media playback state.
        assert_eq!(
            back.duration,
            go_duration.map(|_| (0, 86_400, 0x3dfe_45a0)),
            "{spc}"
        );
        // The Go CKC for the same SPC agrees on everything but the random parts.
        let go = s.read_ckc(&read(&spc.replace("spc", "ckc"))).unwrap();
        assert_eq!(go.others, back.others);
        assert_eq!(*go.content_key, ck);
    }
}

#[test]
fn a_lease_is_written_as_a_lease() {
    let s = session("FPS-lease/spc1.bin");
    let ckc = s
        .build_ckc(
            &CkcContent {
                key: &[1; 16],
                iv: [0; 16],
                duration: Some(KeyDuration::Lease { seconds: 3600 }),
            },
            &mut counter(),
        )
        .unwrap();
    assert_eq!(
        s.read_ckc(&ckc).unwrap().duration,
        Some((3600, 0, 0x1a4b_de7e))
    );
    let none = s
        .build_ckc(
            &CkcContent {
                key: &[1; 16],
                iv: [0; 16],
                duration: None,
            },
            &mut counter(),
        )
        .unwrap();
    assert_eq!(s.read_ckc(&none).unwrap().duration, None);
}

#[test]
fn refusals_carry_their_codes() {
    let c = credential();
    let bytes = read("FPS/spc1.bin");
    let open = |b: &[u8]| -> Result<SpcSession, DrmError> {
        let spc = Spc::parse(b)?;
        OpenedSpc::open(&spc, &c.key)?.unlock(&SDK_TEST_DASK)
    };
    // Wrong DASk (wrong ASk or D function): integrity.
    let spc = Spc::parse(&bytes).unwrap();
    let opened = OpenedSpc::open(&spc, &c.key).unwrap();
    assert_eq!(opened.unlock(&[0; 16]).unwrap_err().code(), 7319);
    // Truncated.
    assert_eq!(open(&bytes[..bytes.len() - 16]).unwrap_err().code(), 7317);
    assert_eq!(open(&bytes[..100]).unwrap_err().code(), 7317);
    assert_eq!(open(&[]).unwrap_err().code(), 7305);
    // Another version.
    for v in [0u8, 2, 3, 0xff] {
        let mut b = bytes.clone();
        b[3] = v;
        let code = open(&b).unwrap_err().code();
        assert!(
            code == 7318 || (matches!(v, 0 | 2) && code == 7317),
            "version {v}: {code}"
        );
    }
    let mut v3 = bytes.clone();
    v3[3] = 3;
    assert_eq!(
        open(&v3).unwrap_err().to_string(),
        "FairPlay SPC version 3 is not supported: keyward opens version 1 (RSA-1024 certificates)"
    );
    // The wrapped key altered: the private key does not open it.
    let mut k = bytes.clone();
    k[24 + 64] ^= 1;
    assert_eq!(open(&k).unwrap_err().code(), 7316);
}

/// A bit flipped in a region the KSM can verify is refused: the version, the
/// wrapped key (RSA-OAEP), the payload length, the R1 integrity TLLV, and the
/// last two cipher blocks of SK..R1 (the integrity value depends on exactly
/// those). SPC version 1 has no MAC over the rest: a flip in the SK..R1 IV or
/// SK, in R1, or in an opaque TLLV garbles a value only the client can check
/// (it fails to read the CKC); with the SDK test D function R2 is not checked
/// either (a real D function derives another DASk from an altered R2). A flip
/// anywhere never panics.
#[test]
fn flipped_bits_in_verifiable_regions_are_refused() {
    let c = credential();
    for rel in ["FPS-lease/spc2.bin", "FPS/spc1.bin"] {
        let bytes = read(rel);
        let spc = Spc::parse(&bytes).unwrap();
        let spc_key = c.key.unwrap(spc.wrapped_key).unwrap();
        let mut plain = spc.payload.to_vec();
        cbc_decrypt(&spc_key, &spc.header.iv, &mut plain);
        let mut protected = Vec::new();
        let mut at = 0;
        while at + 16 <= plain.len() {
            let t = u64::from_be_bytes(plain[at..at + 8].try_into().unwrap());
            let block = u32::from_be_bytes(plain[at + 8..at + 12].try_into().unwrap()) as usize;
            if t == tag::SK_R1 {
                // value = IV 16 ‖ 96 encrypted; integrity = last block, CBC
                // also reads the one before.
                protected.push((at + 16 + 16 + 64, at + 16 + 112));
            }
            if t == tag::R1_INTEGRITY {
                protected.push((at + 16, at + 32));
            }
            at += 16 + block;
        }
        assert_eq!(protected.len(), 2);
        let mut positions: Vec<usize> = (0..4).chain(24..152).chain(172..176).collect();
        for (from, to) in protected {
            // A flipped ciphertext bit garbles its own plaintext block.
            positions.extend((from..to).map(|p| p + 176));
        }
        for pos in positions {
            let mut b = bytes.clone();
            b[pos] ^= 0x10;
            let r = Spc::parse(&b)
                .and_then(|s| OpenedSpc::open(&s, &c.key))
                .and_then(|o| o.unlock(&SDK_TEST_DASK));
            assert!(r.is_err(), "{rel}: flip at {pos} accepted");
        }
        for pos in (0..bytes.len()).step_by(3) {
            let mut b = bytes.clone();
            b[pos] ^= 0x01;
            let _ = Spc::parse(&b)
                .and_then(|s| OpenedSpc::open(&s, &c.key))
                .and_then(|o| o.unlock(&SDK_TEST_DASK));
        }
    }
}

fn cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    use aes::cipher::{BlockDecrypt as _, KeyInit as _};
    let cipher = aes::Aes128::new(key.into());
    let mut prev = *iv;
    for block in data.chunks_exact_mut(16) {
        let ct: [u8; 16] = block.try_into().unwrap();
        cipher.decrypt_block(block.into());
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        prev = ct;
    }
}

#[test]
fn every_envelope_round_trips() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let spc = read("FPS/spc2.bin");
    let b64 = STANDARD.encode(&spc);
    let enc = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let ckc = b"\x00\x00\x00\x01ckc-bytes".to_vec();
    let cases: Vec<(Vec<u8>, Envelope, &str, Vec<u8>)> = vec![
        (spc.clone(), Envelope::Raw, "application/octet-stream", ckc.clone()),
        (
            b64.clone().into_bytes(),
            Envelope::Base64,
            "text/plain",
            STANDARD.encode(&ckc).into_bytes(),
        ),
        (
            format!("spc={enc}&assetId=one").into_bytes(),
            Envelope::Form,
            "text/plain",
            STANDARD.encode(&ckc).into_bytes(),
        ),
        (
            format!(r#"{{"spc":"{b64}","assetId":"one"}}"#).into_bytes(),
            Envelope::Json,
            "application/json",
            format!(r#"{{"ckc":"{}"}}"#, STANDARD.encode(&ckc)).into_bytes(),
        ),
        (
            format!(r#"{{"fairplay-streaming-request":{{"version":1,"create-ckc":[{{"id":7,"spc":"{b64}"}}]}}}}"#)
                .into_bytes(),
            Envelope::Apple {
                list: "create-ckc",
                id: serde_json::json!(7),
            },
            "application/json",
            format!(
                r#"{{"fairplay-streaming-response":{{"create-ckc":[{{"ckc":"{}","id":7}}],"version":1}}}}"#,
                STANDARD.encode(&ckc)
            )
            .into_bytes(),
        ),
        (
            format!(r#"{{"fairplay-streaming-request":{{"version":1,"streaming-keys":[{{"id":"a","uri":"skd://one","spc":"{b64}"}}]}}}}"#)
                .into_bytes(),
            Envelope::Apple {
                list: "streaming-keys",
                id: serde_json::json!("a"),
            },
            "application/json",
            format!(
                r#"{{"fairplay-streaming-response":{{"streaming-keys":[{{"ckc":"{}","id":"a"}}],"version":1}}}}"#,
                STANDARD.encode(&ckc)
            )
            .into_bytes(),
        ),
    ];
    for (body, envelope, ctype, out) in cases {
        let r = read_request(&body).unwrap();
        assert_eq!(r.spc, spc);
        assert_eq!(r.envelope, envelope);
        let (t, b) = answer(&r.envelope, CkcFormat::Auto, &ckc);
        assert_eq!(t, ctype);
        assert_eq!(String::from_utf8_lossy(&b), String::from_utf8_lossy(&out));
    }
    let (t, b) = answer(&Envelope::Form, CkcFormat::Xml, &ckc);
    assert_eq!(t, "text/xml");
    assert_eq!(
        b,
        format!("<ckc>{}</ckc>", STANDARD.encode(&ckc)).into_bytes()
    );
    assert_eq!(answer(&Envelope::Json, CkcFormat::Raw, &ckc).1, ckc);
    // Apple JSON with two SPCs, none, or a non-string spc.
    for bad in [
        format!(
            r#"{{"fairplay-streaming-request":{{"create-ckc":[{{"spc":"{b64}"}},{{"spc":"{b64}"}}]}}}}"#
        ),
        r#"{"fairplay-streaming-request":{"create-ckc":[{"spc":5}]}}"#.to_owned(),
        r#"{"fairplay-streaming-request":{"version":1}}"#.to_owned(),
        r#"{"fairplay-streaming-request":{"create-ckc":[{"id":[1],"spc":"AAAA"}]}}"#.to_owned(),
    ] {
        assert_eq!(
            read_request(bad.as_bytes()).unwrap_err().code(),
            7317,
            "{bad}"
        );
    }
    assert_eq!(
        read_request(br#"{"fairplay-streaming-request":{"create-ckc":[]}}"#)
            .unwrap_err()
            .code(),
        7305
    );
}

#[test]
fn credential_inputs_are_checked() {
    let key_pem = read("Development Credentials/dev_private_key.pem");
    let cert = FpsCertificate::parse(&read("Development Credentials/dev_certificate.der")).unwrap();
    let key = SpcKey::parse(&key_pem, None).unwrap();
    assert!(key.matches(&cert));
    assert_eq!(format!("{key:?}"), "SpcKey(1024 bits, <redacted>)");
    // PKCS#8 DER round trip.
    let again = SpcKey::parse(key.pkcs8_der(), None).unwrap();
    assert!(again.matches(&cert));
    for (bytes, code) in [
        (b"".to_vec(), 7303),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
            7303,
        ),
        (vec![0x30; 20], 7303),
        (vec![b'A'; 20_000], 7303),
    ] {
        assert_eq!(SpcKey::parse(&bytes, None).unwrap_err().code(), code);
    }
    for bytes in [b"".to_vec(), b"not a cert".to_vec(), key_pem.clone()] {
        assert_eq!(FpsCertificate::parse(&bytes).unwrap_err().code(), 7315);
    }
    assert_eq!(
        Ask::parse_hex(b" d87ce7a26081de2e8eb8acef3a6dc179\n")
            .unwrap()
            .expose(),
        &SDK_TEST_DASK
    );
    for bad in [&b"d87ce7"[..], b"zz7ce7a26081de2e8eb8acef3a6dc179", b""] {
        assert_eq!(Ask::parse_hex(bad).unwrap_err().code(), 7303);
    }
    assert_eq!(format!("{:?}", Ask::from_bytes([1; 16])), "Ask(<redacted>)");
}

fn derived(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fairplay-derived")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_private_key_encoding_reads() {
    let cert = FpsCertificate::parse(&read("Development Credentials/dev_certificate.der")).unwrap();
    let pass = derived("passphrase.txt");
    let pass = pass.trim_ascii();
    for (name, passphrase) in [
        ("dev_key_pkcs8.pem", None),
        ("dev_key_pkcs8.der", None),
        ("dev_key_encrypted.pem", Some(pass)),
    ] {
        let k = SpcKey::parse(&derived(name), passphrase).unwrap();
        assert!(k.matches(&cert), "{name}");
    }
    let no_pass = SpcKey::parse(&derived("dev_key_encrypted.pem"), None).unwrap_err();
    assert_eq!(no_pass.code(), 7303);
    assert!(
        no_pass.to_string().contains("--key-passphrase-file"),
        "{no_pass}"
    );
    let wrong = SpcKey::parse(&derived("dev_key_encrypted.pem"), Some(b"nope")).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "unusable FairPlay private key: the passphrase does not open the key, or its cipher is not supported"
    );
    // OpenSSL's legacy PEM encryption (what `openssl genrsa -aes256` wrote
    // before OpenSSL 3): AES-128 here, AES-256 below.
    let legacy = SpcKey::parse(&derived("dev_key_legacy_encrypted.pem"), Some(pass)).unwrap();
    assert!(legacy.matches(&cert));
    let legacy256 = SpcKey::parse(&derived("dev_key_legacy_aes256.pem"), Some(pass)).unwrap();
    assert!(legacy256.matches(&cert));
    for (name, why) in [
        (
            "dev_key_legacy_encrypted.pem",
            "the passphrase does not open the key",
        ),
        ("dev_key_legacy_des3.pem", "not AES-CBC"),
    ] {
        let e = SpcKey::parse(&derived(name), Some(b"wrong-passphrase")).unwrap_err();
        assert_eq!(e.code(), 7303);
        assert!(e.to_string().contains(why), "{e}");
    }
    assert!(
        SpcKey::parse(&derived("dev_key_legacy_encrypted.pem"), None)
            .unwrap_err()
            .to_string()
            .contains("--key-passphrase-file")
    );
    // A key of another certificate.
    let other = SpcKey::parse(&derived("other_key.pem"), None).unwrap();
    let e = FpsCredential::new(cert.clone(), other.clone(), Ask::from_bytes([0; 16])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unusable FairPlay private key: the private key does not belong to the certificate"
    );
    // It does not open the development SPCs.
    let bytes = read("FPS/spc1.bin");
    let spc = Spc::parse(&bytes).unwrap();
    assert_eq!(OpenedSpc::open(&spc, &other).unwrap_err().code(), 7316);
    // An RSA-2048 credential reads (version-2 certificates), but cannot open a
    // version-1 SPC.
    let big_cert = FpsCertificate::parse(&derived("rsa2048_cert.pem")).unwrap();
    let big = SpcKey::parse(&derived("rsa2048_key.pem"), None).unwrap();
    assert_eq!(big_cert.key_bits, 2048);
    assert!(big.matches(&big_cert));
    assert_eq!(OpenedSpc::open(&spc, &big).unwrap_err().code(), 7316);
}
