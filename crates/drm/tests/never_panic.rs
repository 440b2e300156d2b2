//! Property tests: arbitrary bytes (and mutations of valid inputs) fed to every parser
//! never panic and always end in `Ok` or an error with that parser's documented code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed fixture read or decode should abort the test"
)]

use keyward_drm::clearkey::ClearKeyMessage;
use keyward_drm::fairplay::{spc_from_body, Spc};
use keyward_drm::playready::{PlayReadyChallenge, PlayReadyObject, WrmHeaderInfo};
use keyward_drm::pssh::{PsshBox, WidevinePsshData};
use keyward_drm::widevine::WidevineChallenge;
use keyward_drm::{DrmError, Kid};
use proptest::prelude::*;

fn code_in<T>(result: Result<T, DrmError>, allowed: &[u16]) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => allowed.contains(&e.code()) && !e.to_string().is_empty(),
    }
}

fn all_parsers(bytes: &[u8]) {
    assert!(code_in(
        ClearKeyMessage::parse(bytes),
        &[7401, 7402, 7403, 7404, 7405, 7406, 7407]
    ));
    assert!(code_in(PsshBox::parse_all(bytes), &[7112]));
    assert!(code_in(WidevinePsshData::decode(bytes), &[7112]));
    assert!(code_in(WidevineChallenge::parse(bytes), &[7107]));
    assert!(code_in(PlayReadyChallenge::parse(bytes), &[7204, 7205]));
    if let Ok(pro) = PlayReadyObject::parse(bytes) {
        assert!(code_in(pro.wrm_header_xml(), &[7112]));
    }
    assert!(code_in(PlayReadyObject::parse(bytes), &[7112]));
    assert!(code_in(
        WrmHeaderInfo::parse(&String::from_utf8_lossy(bytes)),
        &[7112]
    ));
    assert!(code_in(spc_from_body(bytes), &[7305, 7317, 7318]));
    assert!(code_in(Spc::parse(bytes), &[7305, 7317, 7318]));
}

/// Valid seeds to mutate, so the properties reach past the first length check.
fn seeds() -> Vec<Vec<u8>> {
    let kid = Kid::new([0xab; 16]);
    let mut wv = Vec::new();
    // SignedMessage{type:1, msg: LicenseRequest{content_id: {widevine_pssh_data:{pssh_data}}}}
    let data = WidevinePsshData {
        key_ids: vec![kid],
        ..Default::default()
    }
    .encode();
    let mut wpd = vec![0x0a, data.len() as u8];
    wpd.extend_from_slice(&data);
    let mut ci = vec![0x0a, wpd.len() as u8];
    ci.extend_from_slice(&wpd);
    let mut lr = vec![0x12, ci.len() as u8];
    lr.extend_from_slice(&ci);
    wv.extend_from_slice(&[0x08, 0x01, 0x12, lr.len() as u8]);
    wv.extend_from_slice(&lr);
    let mut spc = vec![0, 0, 0, 1, 0, 0, 0, 0];
    spc.extend_from_slice(&[7; 16 + 128 + 20]);
    spc.extend_from_slice(&16u32.to_be_bytes());
    spc.extend_from_slice(&[9; 16]);
    vec![
        br#"{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}"#.to_vec(),
        keyward_drm::pssh::common_pssh(&[kid, kid]),
        wv,
        concat!(
            r#"<soap:Envelope xmlns:soap="s"><soap:Body><AcquireLicense><challenge><Challenge><LA>"#,
            r#"<ContentHeader><WRMHEADER version="4.0.0.0"><DATA><KID>Hie6q8+LK1W9LoakNKml2Q==</KID>"#,
            "</DATA></WRMHEADER></ContentHeader><CustomData>t&amp;k</CustomData></LA></Challenge>",
            "</challenge></AcquireLicense></soap:Body></soap:Envelope>"
        )
        .as_bytes()
        .to_vec(),
        spc,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_parsers(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[<>/=\"&;#a-zA-Z0-9 {}\\[\\]:,]{0,512}") {
        all_parsers(text.as_bytes());
    }

    #[test]
    fn mutated_seeds_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seeds().swap_remove(which);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        all_parsers(&bytes);
        let end = cut.index(bytes.len() + 1);
        all_parsers(&bytes[..end]);
    }

    #[test]
    fn clearkey_round_trips(kids in proptest::collection::vec(any::<[u8; 16]>(), 1..=32)) {
        let kids: Vec<Kid> = kids.into_iter().map(Kid::new).collect();
        let ack = keyward_drm::clearkey::release_ack(&kids);
        let mut unique = kids.clone();
        let mut seen = std::collections::HashSet::new();
        unique.retain(|k| seen.insert(*k));
        prop_assert_eq!(
            ClearKeyMessage::parse(ack.as_bytes()).unwrap(),
            ClearKeyMessage::Release { kids: unique }
        );
    }

    #[test]
    fn common_pssh_round_trips(kids in proptest::collection::vec(any::<[u8; 16]>(), 0..40)) {
        let kids: Vec<Kid> = kids.into_iter().map(Kid::new).collect();
        let bytes = keyward_drm::pssh::common_pssh(&kids);
        prop_assert_eq!(PsshBox::parse(&bytes).unwrap(), PsshBox::common(&kids));
    }
}
