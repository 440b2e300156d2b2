#![allow(
    clippy::unwrap_used,
    reason = "benchmark and probe code: a failure should abort loudly"
)]
//! Profiling probe (not a benchmark): parse and verify one token many times.
#![allow(missing_docs, reason = "probe binary")]
use keyward_token::*;
fn main() {
    let creds = SiteCredentials::new(
        "TUTO",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .unwrap();
    let pj = r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600,"allowed_track_types":"SD_HD"},"security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"required_hdcp_version":"HDCP_V1","disable_analog_output":false}}]}"#;
    let ts = Timestamp::parse("2021-11-11T07:28:41Z").unwrap();
    let m = TokenBuilder::new()
        .drm_type(DrmType::Widevine)
        .user_id("test-user")
        .cid("bigbuckbunny")
        .policy_json(pj)
        .unwrap()
        .timestamp(ts)
        .mint(&creds)
        .unwrap();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20000);
    for _ in 0..n {
        let t = UntrustedToken::parse(std::hint::black_box(&m.token)).unwrap();
        std::hint::black_box(t.verify(&creds, &VerifyOptions::at(ts)).unwrap());
    }
}
