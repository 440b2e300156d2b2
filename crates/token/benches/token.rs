#![allow(
    clippy::unwrap_used,
    reason = "benchmark and probe code: a failure should abort loudly"
)]
//! mint / verify against the raw crypto floor, in one run.
//!
//! `floor` does only what no token implementation can skip, with the same
//! crates: AES-256-CBC encrypt of the policy bytes, base64 of the ciphertext,
//! SHA-256 over the hash input, base64 of the digest and of the token JSON.
//! BENCHMARKS.md records the ratios mint/floor and verify/floor.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keyward_token::{
    AllowedTrackTypes, DrmType, PlaybackPolicy, Policy, SecurityPolicy, SiteCredentials, Timestamp,
    TokenBuilder, TrackType, UntrustedToken, VerifyOptions, WidevineSecurity,
};
use sha2::{Digest, Sha256};

fn typical_policy() -> Policy {
    use keyward_token::policy::{HdcpVersion, WidevineSecurityLevel};
    Policy::new()
        .playback(
            PlaybackPolicy::default()
                .persistent(false)
                .license_duration(3600)
                .allowed_track_types(AllowedTrackTypes::SdHd),
        )
        .security(
            SecurityPolicy::default()
                .track_type(TrackType::All)
                .widevine(
                    WidevineSecurity::default()
                        .security_level(WidevineSecurityLevel::SwSecureCrypto)
                        .required_hdcp_version(HdcpVersion::V1)
                        .disable_analog_output(false),
                ),
        )
}

fn bench(c: &mut Criterion) {
    let creds = SiteCredentials::new(
        "TUTO",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .unwrap();
    let policy = typical_policy();
    let ts = Timestamp::parse("2021-11-11T07:28:41Z").unwrap();
    let mint = || {
        TokenBuilder::new()
            .drm_type(DrmType::Widevine)
            .user_id("test-user")
            .cid("bigbuckbunny")
            .policy(black_box(&policy))
            .timestamp(ts)
            .mint(&creds)
            .unwrap()
    };
    let minted = mint();
    let opts = VerifyOptions::at(ts);

    let mut g = c.benchmark_group("token");
    g.bench_function("floor", |b| {
        let key = *b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
        let policy_json = minted.policy_json.as_bytes();
        let hash_input = format!(
            "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20WidevineTUTOtest-userbigbuckbunny{}{}",
            minted.policy_b64, "2021-11-11T07:28:41Z"
        );
        let token_json = minted.token_json.as_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        b.iter(|| {
            let enc = cbc::Encryptor::<aes::Aes256>::new(&key.into(), b"0123456789abcdef".into());
            let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(black_box(policy_json));
            let ct_b64 = b64.encode(ct);
            let digest = Sha256::digest(black_box(hash_input.as_bytes()));
            let hash_b64 = b64.encode(digest);
            let token = b64.encode(black_box(token_json));
            black_box((ct_b64, hash_b64, token))
        })
    });
    g.bench_function("mint", |b| b.iter(|| black_box(mint())));
    g.bench_function("verify", |b| {
        b.iter(|| {
            let t = UntrustedToken::parse(black_box(&minted.token)).unwrap();
            black_box(t.verify(&creds, &opts).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
