//! keyward's CKCs, read by the independent oracle (`tests/fps_oracle`, written
//! from the protocol description with another RSA implementation): for every
//! SDK SPC, the oracle opens the SPC itself, decrypts keyward's CKC, and finds
//! the content key, content IV, R1, every requested echo byte for byte, and the
//! duration exactly when the client sent a media playback state.

#![allow(clippy::unwrap_used)]

mod fps_oracle;

use keyward_drm::fairplay::{
    CkcContent, FpsCertificate, KeyDuration, OpenedSpc, Spc, SpcKey, SDK_TEST_DASK,
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fixtures/fairplay-ksm"
);

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{rel}")).unwrap()
}

#[test]
fn the_oracle_reads_keywards_ckcs() {
    let pem = read("Development Credentials/dev_private_key.pem");
    let key = SpcKey::parse(&pem, None).unwrap();
    let cert = FpsCertificate::parse(&read("Development Credentials/dev_certificate.der")).unwrap();
    let pem = String::from_utf8(pem).unwrap();
    let spcs = [
        "FPS/spc1.bin",
        "FPS/spc2.bin",
        "FPS/spc3.bin",
        "FPS-lease/spc1.bin",
        "FPS-lease/spc2.bin",
        "FPS-lease/spc3.bin",
        "FPS-lease/spc4.bin",
    ];
    for (i, rel) in spcs.into_iter().enumerate() {
        let bytes = read(rel);
        let oracle_spc = fps_oracle::open_spc(&bytes, &pem, SDK_TEST_DASK).unwrap();
        assert_eq!(oracle_spc.cert_hash, cert.hash);
        let spc = Spc::parse(&bytes).unwrap();
        let session = OpenedSpc::open(&spc, &key)
            .unwrap()
            .unlock(&SDK_TEST_DASK)
            .unwrap();
        let content_key = [i as u8 + 1; 16];
        let content_iv = [0xa0 + i as u8; 16];
        for duration in [
            None,
            Some(KeyDuration::Lease { seconds: 900 }),
            Some(KeyDuration::Rental { seconds: 172_800 }),
        ] {
            let mut seed = i as u8;
            let ckc = session
                .build_ckc(
                    &CkcContent {
                        key: &content_key,
                        iv: content_iv,
                        duration,
                    },
                    &mut |b| {
                        for x in b {
                            seed = seed.wrapping_mul(31).wrapping_add(7);
                            *x = seed;
                        }
                        Ok(())
                    },
                )
                .unwrap();
            let got = fps_oracle::read_ckc(&ckc, &oracle_spc).unwrap();
            assert_eq!(got.content_key, content_key, "{rel}");
            assert_eq!(got.content_iv, content_iv, "{rel}");
            assert_eq!(got.r1, oracle_spc.r1.to_vec(), "{rel}");
            fps_oracle::echo_ok(&oracle_spc, &got).unwrap();
            let want = match (duration, oracle_spc.has_playback_state) {
                (Some(KeyDuration::Lease { seconds }), true) => Some((seconds, 0, 0x1a4b_de7e)),
                (Some(KeyDuration::Rental { seconds }), true) => Some((0, seconds, 0x3dfe_45a0)),
                _ => None,
            };
            assert_eq!(got.duration, want, "{rel} {duration:?}");
            // Nothing else: key, R1, the echoes, the duration.
            assert_eq!(
                got.tllvs.len(),
                2 + oracle_spc.return_tags.len() + usize::from(want.is_some()),
                "{rel}"
            );
        }
    }
}
