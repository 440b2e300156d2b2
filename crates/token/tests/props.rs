//! Property tests: round trips for arbitrary inputs, and no panic on arbitrary bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns"
)]

use keyward_token::{
    AllowedTrackTypes, CustomDataV2, DrmType, PlaybackPolicy, Policy, ResponseFormat,
    SiteCredentials, Timestamp, TokenBuilder, UntrustedToken, VerifyOptions,
};
use proptest::prelude::*;

fn creds() -> SiteCredentials {
    SiteCredentials::new(
        "TUTO",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .unwrap()
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(0u64..10_000_000),
        proptest::option::of(0usize..5),
        proptest::option::of(0u32..100),
        proptest::option::of(0i64..4_000_000_000),
    )
        .prop_map(|(persistent, dur, att, streams, exp)| {
            let pb = PlaybackPolicy {
                persistent,
                license_duration: dur,
                allowed_track_types: att.map(|i| AllowedTrackTypes::ALL_VALUES[i]),
                max_stream_per_user: streams,
                expire_date: exp.and_then(Timestamp::from_unix),
                ..PlaybackPolicy::default()
            };
            Policy::new().playback(pb)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn mint_verify_round_trip(
        user in "\\PC{0,64}",
        cid in prop_oneof!["[a-zA-Z0-9_-]{1,200}", "\\PC{1,50}", Just("\"\\\\/\n\t\u{0}".to_string())],
        drm in 0usize..6,
        policy in policy_strategy(),
        secs in 0i64..4_000_000_000,
        rf in 0usize..3,
        rot in any::<bool>(),
    ) {
        let c = creds();
        let t = Timestamp::from_unix(secs).unwrap();
        let m = TokenBuilder::new()
            .drm_type(DrmType::ALL[drm])
            .user_id(user.clone())
            .cid(cid.clone())
            .policy(&policy)
            .timestamp(t)
            .response_format(ResponseFormat::ALL_VALUES[rf])
            .key_rotation(rot)
            .mint(&c)
            .unwrap();
        let v = UntrustedToken::parse(&m.token).unwrap().verify(&c, &VerifyOptions::at(t)).unwrap();
        prop_assert_eq!(v.user_id(), user.as_str());
        prop_assert_eq!(v.cid(), cid.as_str());
        prop_assert_eq!(v.policy(), &policy);
        prop_assert_eq!(v.drm_type(), DrmType::ALL[drm]);
        prop_assert_eq!(v.key_rotation(), rot);
        prop_assert_eq!(Policy::from_json(policy.to_json().as_bytes()).unwrap(), policy);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Policy::from_json(&bytes).map_err(|e| assert!(e.code().as_u16() >= 1000));
        let _ = Policy::from_received_json(&bytes);
        let _ = UntrustedToken::from_json(&bytes).map_err(|e| assert!(e.code() >= 7009));
        if let Ok(s) = std::str::from_utf8(&bytes) {
            if let Ok(t) = UntrustedToken::parse(s) {
                let _ = t.verify(&creds(), &VerifyOptions::now());
            }
            let _ = CustomDataV2::parse(s);
            let _ = Timestamp::parse(s);
        }
    }

    #[test]
    fn arbitrary_json_policies_never_panic(s in r#"\{("[a-z_]{1,12}":(1|-1|true|null|"[A-Z_0-9]{0,8}"|\[\]|\{\}|1\.5),?){0,6}\}"#) {
        let _ = Policy::from_json(s.as_bytes());
        let wrapped = format!(r#"{{"policy_version":2,"playback_policy":{s},"security_policy":[{{"widevine":{s},"playready":{s}}}],"external_key":{{"mpeg_cenc":[{s}]}}}}"#);
        let _ = Policy::from_json(wrapped.as_bytes());
    }
}
