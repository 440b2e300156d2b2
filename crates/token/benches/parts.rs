#![allow(
    clippy::unwrap_used,
    reason = "benchmark and probe code: a failure should abort loudly"
)]
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keyward_token::*;

fn bench(c: &mut Criterion) {
    let creds = SiteCredentials::new(
        "TUTO",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .unwrap();
    let pj = r#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600,"allowed_track_types":"SD_HD"},"security_policy":[{"track_type":"ALL","widevine":{"security_level":1,"required_hdcp_version":"HDCP_V1","disable_analog_output":false}}]}"#;
    let policy = Policy::from_json(pj.as_bytes()).unwrap();
    let ts = Timestamp::parse("2021-11-11T07:28:41Z").unwrap();
    let m = TokenBuilder::new()
        .drm_type(DrmType::Widevine)
        .user_id("test-user")
        .cid("bigbuckbunny")
        .policy(&policy)
        .timestamp(ts)
        .mint(&creds)
        .unwrap();
    let mut g = c.benchmark_group("parts");
    g.bench_function("encrypt_b64", |b| {
        b.iter(|| creds.site_key.encrypt_b64(black_box(pj.as_bytes())))
    });
    g.bench_function("decrypt_b64", |b| {
        b.iter(|| creds.site_key.decrypt_b64(black_box(&m.policy_b64)))
    });
    // The token hash of a policy (base64) for the other fields of `m`.
    let hash = |policy_b64: &str| {
        crypto::token_hash(
            &creds.access_key,
            "Widevine",
            "TUTO",
            "test-user",
            "bigbuckbunny",
            policy_b64,
            "2021-11-11T07:28:41Z",
        )
    };
    g.bench_function("hash", |b| b.iter(|| hash(black_box(&m.policy_b64))));
    g.bench_function("to_json", |b| b.iter(|| black_box(&policy).to_json()));
    g.bench_function("policy_parse", |b| {
        b.iter(|| Policy::from_received_json(black_box(pj.as_bytes())).unwrap())
    });
    g.bench_function("token_parse", |b| {
        b.iter(|| UntrustedToken::parse(black_box(&m.token)).unwrap())
    });
    let t = UntrustedToken::parse(&m.token).unwrap();
    g.bench_function("hash_matches", |b| {
        b.iter(|| black_box(&t).hash_matches(&creds.access_key))
    });
    g.finish();

    // The work every implementation must do for the Python SDK README's policy
    // (1,828 bytes of JSON, see bench/python): AES-256-CBC + base64 of the
    // policy, SHA-256 over the hash input, base64 of the ~2.6 KB token JSON.
    // Their sum is the floor under any mint of that policy (docs/python.md).
    let big = vec![b'a'; 1828];
    let big_b64 = creds.site_key.encrypt_b64(&big);
    let token_json = vec![b'x'; 2600];
    let mut g = c.benchmark_group("readme_policy_floor");
    g.bench_function("encrypt_b64_1828", |b| {
        b.iter(|| creds.site_key.encrypt_b64(black_box(&big)))
    });
    g.bench_function("hash", |b| b.iter(|| hash(black_box(&big_b64))));
    g.bench_function("token_b64_2600", |b| {
        use base64::Engine as _;
        b.iter(|| base64::engine::general_purpose::STANDARD.encode(black_box(&token_json)))
    });
    g.finish();
}
criterion_group!(benches, bench);
criterion_main!(benches);
