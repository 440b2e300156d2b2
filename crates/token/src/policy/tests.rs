use super::*;

fn code(json: &str) -> u16 {
    Policy::from_json(json.as_bytes())
        .unwrap_err()
        .code()
        .as_u16()
}

#[test]
fn round_trips_exactly() {
    for s in [
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
        r#"{"policy_version":2}"#,
        r#"{"policy_version":2,"playback_policy":{"persistent":true,"license_duration":86400,"expire_date":"2029-01-01T00:00:00Z","allowed_track_types":"SD_HD","rental_duration":1200,"playback_duration":600,"max_stream_per_user":3,"renewal_duration":300}}"#,
        r#"{"policy_version":2,"security_policy":[{"track_type":"ALL","widevine":{"security_level":5,"required_hdcp_version":"HDCP_V2_3","required_cgms_flags":"COPY_NEVER","disable_analog_output":true,"hdcp_srm_rule":"CURRENT_SRM","override_device_revocation":false,"enable_license_cipher":true,"allow_test_device":false},"playready":{"security_level":3000,"digital_video_protection_level":301,"analog_video_protection_level":201,"digital_audio_protection_level":301,"require_hdcp_type_1":true,"enable_license_cipher":false},"fairplay":{"hdcp_enforcement":-1,"allow_airplay":true,"allow_av_adapter":false},"ncg":{"allow_mobile_abnormal_device":false,"allow_external_display":true,"control_hdcp":2},"wiseplay":{"security_level":3,"output_control":3}},{"track_type":"UHD2"}]}"#,
        r#"{"policy_version":2,"external_key":{"mpeg_cenc":[{"track_type":"HD","key_id":"11111111222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"0123456789abcdef0123456789abcdef"}],"hls_aes":[{"track_type":"SD","key_id":"11111111222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"0123456789abcdef0123456789abcdef"}],"ncg":{"track_type":"ALL","cek":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}}}"#,
    ] {
        let p = Policy::from_json(s.as_bytes()).unwrap();
        assert_eq!(p.to_json(), s);
    }
}

#[test]
fn builder_reads_like_the_sdk() {
    let p = Policy::new()
        .playback(
            PlaybackPolicy::default()
                .persistent(true)
                .license_duration(3600),
        )
        .security(
            SecurityPolicy::default()
                .track_type(TrackType::Hd)
                .widevine(
                    WidevineSecurity::default().security_level(WidevineSecurityLevel::HwSecureAll),
                ),
        )
        .external_key(ExternalKey::default().mpeg_cenc(MpegCencKey {
            track_type: TrackType::Hd,
            key_id: Kid([0x11; 16]),
            key: ContentKey::new([0xaa; 16]),
            iv: None,
        }));
    assert_eq!(
        p.to_json(),
        r#"{"policy_version":2,"playback_policy":{"persistent":true,"license_duration":3600},"security_policy":[{"track_type":"HD","widevine":{"security_level":5}}],"external_key":{"mpeg_cenc":[{"track_type":"HD","key_id":"11111111111111111111111111111111","key":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}}"#
    );
    assert!(
        !format!("{p:?}").contains("aaaa"),
        "Debug must not print keys"
    );
}

#[test]
fn shape_mistakes_map_to_instance_codes() {
    assert_eq!(code(r#"{"policy_version":2,"playback_policy":"x"}"#), 1006);
    assert_eq!(code(r#"{"policy_version":2,"security_policy":3}"#), 1007);
    assert_eq!(
        code(r#"{"policy_version":2,"security_policy":["x"]}"#),
        1007
    );
    assert_eq!(code(r#"{"policy_version":2,"external_key":"x"}"#), 1008);
    assert_eq!(code(r#"{"policy_version":2,"external_policy":{}}"#), 1018);
    assert_eq!(
        code(r#"{"policy_version":2,"security_policy":[{"widevine":[]}]}"#),
        1014
    );
    assert_eq!(
        code(r#"{"policy_version":2,"security_policy":[{"playready":1}]}"#),
        1015
    );
    assert_eq!(
        code(r#"{"policy_version":2,"security_policy":[{"wiseplay":"x"}]}"#),
        1057
    );
    assert_eq!(
        code(r#"{"policy_version":2,"security_policy":[{"track_type":"XL"}]}"#),
        1013
    );
    assert_eq!(
        code(r#"{"policy_version":2,"external_key":{"mpeg_cenc":[1]}}"#),
        1019
    );
    assert_eq!(code(r#"[]"#), 1005);
    assert_eq!(code(r#"{"policy_version":2"#), 1005);
    assert_eq!(code(r#"{"policy_version":3}"#), 1005);
    assert_eq!(code(""), 1005);
}

#[test]
fn scalar_codes() {
    let pb = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"playback_policy":{{{f}}}}}"#
        ))
    };
    assert_eq!(pb(r#""persistent":"true""#), 1009);
    assert_eq!(pb(r#""license_duration":-1"#), 1010);
    assert_eq!(pb(r#""license_duration":true"#), 1010);
    assert_eq!(pb(r#""license_duration":1.0"#), 1010);
    assert_eq!(pb(r#""expire_date":"2023-02-29T00:00:00Z""#), 1011);
    assert_eq!(pb(r#""expire_date":"2024-13-01T00:00:00Z""#), 1011);
    assert_eq!(pb(r#""playback_duration":"5""#), 1050);
    assert_eq!(pb(r#""max_stream_per_user":99999999999"#), 1053);
    assert_eq!(pb(r#""renewal_duration":"abc""#), 1056);
    let wv = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"security_policy":[{{"widevine":{{{f}}}}}]}}"#
        ))
    };
    assert_eq!(wv(r#""security_level":6"#), 1022);
    assert_eq!(wv(r#""security_level":0"#), 1022);
    assert_eq!(wv(r#""security_level":false"#), 1022);
    assert_eq!(wv(r#""required_hdcp_version":"hdcp_v1""#), 1023);
    assert_eq!(wv(r#""required_cgms_flags":"NEVER""#), 1024);
    assert_eq!(wv(r#""enable_license_cipher":"no""#), 1054);
    assert_eq!(wv(r#""allow_test_device":0"#), 1059);
    let pr = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"security_policy":[{{"playready":{{{f}}}}}]}}"#
        ))
    };
    assert_eq!(pr(r#""security_level":100"#), 1027);
    assert_eq!(pr(r#""analog_video_protection_level":250"#), 1029);
    assert_eq!(pr(r#""digital_audio_protection_level":270"#), 1030);
    assert_eq!(pr(r#""require_hdcp_type1":1"#), 1032);
    let fp = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"security_policy":[{{"fairplay":{{{f}}}}}]}}"#
        ))
    };
    assert_eq!(fp(r#""hdcp_enforcement":2"#), 1033);
    assert_eq!(fp(r#""allow_airplay":"yes""#), 1034);
    let ncg = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"security_policy":[{{"ncg":{{{f}}}}}]}}"#
        ))
    };
    assert_eq!(ncg(r#""allow_external_display":1"#), 1037);
    let wp = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"security_policy":[{{"wiseplay":{{{f}}}}}]}}"#
        ))
    };
    assert_eq!(wp(r#""security_level":4"#), 1060);
    assert_eq!(wp(r#""output_control":4"#), 1061);
    let hls = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"external_key":{{"hls_aes":[{{{f}}}]}}}}"#
        ))
    };
    assert_eq!(
        hls(r#""key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"0123456789abcdef0123456789abcdef""#),
        1043
    );
    assert_eq!(
        hls(
            r#""track_type":"SD","key_id":"123","key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"0123456789abcdef0123456789abcdef""#
        ),
        1052
    );
    let mpeg = |f: &str| {
        code(&format!(
            r#"{{"policy_version":2,"external_key":{{"mpeg_cenc":[{{{f}}}]}}}}"#
        ))
    };
    assert_eq!(
        mpeg(
            r#""track_type":"SD","key_id":"11111111222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"xyz""#
        ),
        1042
    );
}

#[test]
fn tolerated_spellings() {
    let p = Policy::from_json(br#"{"policy_version":2,"external_policy":{"mpeg_cenc":[{"track_type":"SD","key_id":"11111111222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":null}]}}"#).unwrap();
    assert_eq!(
        p.external_key.as_ref().unwrap().mpeg_cenc.as_ref().unwrap()[0].iv,
        None
    );
    let q = Policy::from_json(br#"{"policy_version":2,"externalkey":{"mpeg_cenc":[{"track_type":"SD","key_id":"11111111222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd"}]}}"#).unwrap();
    assert_eq!(p, q);
    let pr = Policy::from_json(
        br#"{"policy_version":2,"security_policy":[{"playready":{"require_hdcp_type1":true}}]}"#,
    )
    .unwrap();
    assert_eq!(
        pr.security.unwrap()[0]
            .playready
            .as_ref()
            .unwrap()
            .require_hdcp_type_1,
        Some(true)
    );
    // Python's True == 1 and 150.0 == 150 for levels.
    let b = Policy::from_json(br#"{"policy_version":2,"security_policy":[{"widevine":{"security_level":true},"playready":{"security_level":150.0}}]}"#).unwrap();
    let e = &b.security.unwrap()[0];
    assert_eq!(
        e.widevine.as_ref().unwrap().security_level,
        Some(WidevineSecurityLevel::SwSecureCrypto)
    );
    assert_eq!(
        e.playready.as_ref().unwrap().security_level,
        Some(PlayReadySecurityLevel::L150)
    );
    // Uppercase hex: the SDKs refuse it (1040); a server reading a received token accepts it.
    let upper = br#"{"policy_version":2,"external_key":{"mpeg_cenc":[{"track_type":"SD","key_id":"ABCDEF00222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd"}]}}"#;
    assert_eq!(Policy::from_json(upper).unwrap_err().code().as_u16(), 1040);
    let ok = Policy::from_received_json(upper).unwrap();
    assert_eq!(
        ok.external_key.unwrap().mpeg_cenc.unwrap()[0]
            .key_id
            .to_string(),
        "abcdef00222222223333333344444444"
    );
}

#[test]
fn legacy_v1_and_empty() {
    let empty = Policy::from_json(b"{}").unwrap();
    assert_eq!(empty.version, PolicyVersion::V1);
    assert_eq!(empty.effective_playback(), PlaybackPolicy::default());
    let v1 = Policy::from_json(br#"{"playback_policy":{"limit":true,"persistent":false,"duration":3600},"security_policy":{"hardware_drm":true,"output_protect":{"allow_external_display":false,"control_hdcp":2},"allow_mobile_abnormal_device":false,"playready_security_level":2000},"external_key":{"mpeg_cenc":{"key_id":"11111111222222223333333344444444","key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"0123456789abcdef0123456789abcdef"},"hls_aes":{"key":"aaaaaaaabbbbbbbbccccccccdddddddd","iv":"0123456789abcdef0123456789abcdef"}}}"#).unwrap();
    assert_eq!(v1.playback.as_ref().unwrap().license_duration, Some(3600));
    let sec = &v1.security.as_ref().unwrap()[0];
    assert_eq!(sec.track_type, Some(TrackType::All));
    assert_eq!(
        sec.widevine.as_ref().unwrap().security_level,
        Some(WidevineSecurityLevel::HwSecureAll)
    );
    assert_eq!(
        sec.widevine.as_ref().unwrap().required_hdcp_version,
        Some(HdcpVersion::V2_2)
    );
    assert_eq!(
        sec.playready.as_ref().unwrap().security_level,
        Some(PlayReadySecurityLevel::L2000)
    );
    let ek = v1.external_key.unwrap();
    assert_eq!(ek.mpeg_cenc.unwrap()[0].track_type, TrackType::All);
    assert_eq!(ek.hls_aes.unwrap()[0].key_id, None);
    // limit false: unlimited whatever the duration says.
    let unl = Policy::from_json(br#"{"playback_policy":{"limit":false,"duration":60}}"#).unwrap();
    assert_eq!(unl.playback.unwrap().license_duration, None);
}

#[test]
fn track_permissions() {
    use AllowedTrackTypes as A;
    use TrackType as T;
    assert!(A::All.permits(T::Uhd2) && A::All.permits(T::All));
    assert!(A::SdOnly.permits(T::Sd) && A::SdOnly.permits(T::Audio));
    assert!(
        !A::SdOnly.permits(T::Hd) && !A::SdOnly.permits(T::All) && !A::SdOnly.permits(T::AllVideo)
    );
    assert!(A::SdHd.permits(T::Hd) && !A::SdHd.permits(T::Uhd1));
    assert!(A::SdUhd1.permits(T::Uhd1) && !A::SdUhd1.permits(T::Uhd2));
    assert!(A::SdUhd2.permits(T::Uhd2) && !A::SdUhd2.permits(T::All));
}

#[test]
fn security_lookup() {
    let p = Policy::from_json(br#"{"policy_version":2,"security_policy":[{"track_type":"ALL","widevine":{"security_level":1}},{"track_type":"ALL_VIDEO","widevine":{"security_level":3}},{"track_type":"UHD1","widevine":{"security_level":5}}]}"#).unwrap();
    let lvl = |t| {
        p.security_for(t)
            .unwrap()
            .widevine
            .as_ref()
            .unwrap()
            .security_level
            .unwrap()
            .as_i64()
    };
    assert_eq!(lvl(TrackType::Uhd1), 5);
    assert_eq!(lvl(TrackType::Hd), 3);
    assert_eq!(lvl(TrackType::Audio), 1);
}
