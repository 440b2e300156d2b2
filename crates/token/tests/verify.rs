//! Verification refusals, each with its license-server code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns"
)]

use base64::Engine as _;
use keyward_token::{
    DrmType, Policy, SiteCredentials, Timestamp, TokenBuilder, UntrustedToken, VerifyOptions,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn creds() -> SiteCredentials {
    SiteCredentials::new(
        "TUTO",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn minted() -> keyward_token::MintedToken {
    TokenBuilder::new()
        .drm_type(DrmType::Widevine)
        .user_id("test-user")
        .cid("bigbuckbunny")
        .policy(&Policy::new())
        .timestamp(ts("2021-11-11T07:28:41Z"))
        .mint(&creds())
        .unwrap()
}

fn verify_code(token: &str, now: &str) -> u16 {
    match UntrustedToken::parse(token) {
        Err(e) => e.code(),
        Ok(t) => t
            .verify(&creds(), &VerifyOptions::at(ts(now)))
            .map(|_| 0)
            .unwrap_or_else(|e| e.code()),
    }
}

fn rewrite(json: &str) -> String {
    B64.encode(json)
}

#[test]
fn window_edges() {
    let m = minted();
    assert_eq!(verify_code(&m.token, "2021-11-11T07:28:41Z"), 0);
    assert_eq!(
        verify_code(&m.token, "2021-11-11T07:38:41Z"),
        0,
        "600 s is inside"
    );
    assert_eq!(verify_code(&m.token, "2021-11-11T07:38:42Z"), 7011);
    assert_eq!(
        verify_code(&m.token, "2021-11-11T07:27:41Z"),
        0,
        "60 s ahead is inside the leeway"
    );
    assert_eq!(verify_code(&m.token, "2021-11-11T07:27:40Z"), 7011);
    let t = UntrustedToken::parse(&m.token).unwrap();
    let mut o = VerifyOptions::at(ts("2021-11-11T08:28:41Z"));
    o.window_secs = 3600;
    assert!(t.verify(&creds(), &o).is_ok());
    let e = t
        .verify(&creds(), &VerifyOptions::at(ts("2021-11-11T08:28:41Z")))
        .unwrap_err();
    assert_eq!(e.to_string(), "Token is expired: token age 3600 s exceeds the 600 s window (server time 2021-11-11T08:28:41Z)");
}

#[test]
fn tampering_is_7019() {
    let m = minted();
    let now = "2021-11-11T07:30:00Z";
    for (from, to) in [
        ("\"test-user\"", "\"test-usex\""),
        ("\"bigbuckbunny\"", "\"bigbuckbunnz\""),
        ("2021-11-11T07:28:41Z", "2021-11-11T07:28:42Z"),
        ("\"Widevine\"", "\"PlayReady\""),
    ] {
        assert_eq!(
            verify_code(&rewrite(&m.token_json.replace(from, to)), now),
            7019,
            "{from}"
        );
    }
    let mut h = m.hash.clone().into_bytes();
    h[0] = if h[0] == b'A' { b'B' } else { b'A' };
    let tampered = m
        .token_json
        .replace(&m.hash, std::str::from_utf8(&h).unwrap());
    assert_eq!(verify_code(&rewrite(&tampered), now), 7019);
    // Swapped user_id/cid values.
    let swapped = m
        .token_json
        .replace("\"test-user\"", "\"TMP\"")
        .replace("\"bigbuckbunny\"", "\"test-user\"")
        .replace("\"TMP\"", "\"bigbuckbunny\"");
    assert_eq!(verify_code(&rewrite(&swapped), now), 7019);
    // Wrong access key.
    let other =
        SiteCredentials::new("TUTO", b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC", &[b'x'; 32]).unwrap();
    let e = UntrustedToken::parse(&m.token)
        .unwrap()
        .verify(&other, &VerifyOptions::at(ts(now)))
        .unwrap_err();
    assert_eq!(e.code(), 7019);
}

#[test]
fn drm_type_case_and_legacy_forms() {
    let now = "2021-11-11T07:30:00Z";
    let m = minted();
    // Lowercase drm_type as in the vendor's own demo tokens: hash computed with the
    // canonical spelling still verifies.
    assert_eq!(
        verify_code(
            &rewrite(&m.token_json.replace("\"Widevine\"", "\"widevine\"")),
            now
        ),
        0
    );
    // The legacy `token` key, MIME line breaks, and the base64 `+` sent as a space.
    let legacy = rewrite(&m.token_json.replace("\"policy\"", "\"token\""));
    assert_eq!(verify_code(&legacy, now), 0);
    let wrapped: String = legacy
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert_eq!(verify_code(&wrapped, now), 0);
    // Unknown drm_type: the hash covers it, so a token minted with it fails on type.
    let c = creds();
    let ct = c.site_key.encrypt_b64(br#"{"policy_version":2}"#);
    let hash = keyward_token::crypto::token_hash(
        &c.access_key,
        "Foo",
        "TUTO",
        "u",
        "c",
        &ct,
        "2021-11-11T07:28:41Z",
    );
    let j = format!(
        r#"{{"drm_type":"Foo","site_id":"TUTO","user_id":"u","cid":"c","policy":"{ct}","timestamp":"2021-11-11T07:28:41Z","hash":"{hash}"}}"#
    );
    assert_eq!(verify_code(&rewrite(&j), now), 7018);
    // Policy that does not decrypt (7016) and that decrypts to garbage (7013).
    for (plain, want) in [
        (None, 7016),
        (Some(&b"not json"[..]), 7013),
        (
            Some(&br#"{"policy_version":2,"playback_policy":"x"}"#[..]),
            7013,
        ),
    ] {
        let ct = match plain {
            None => "AAAAAAAAAAAAAAAAAAAAAA==".to_string(),
            Some(p) => c.site_key.encrypt_b64(p),
        };
        let hash = keyward_token::crypto::token_hash(
            &c.access_key,
            "Widevine",
            "TUTO",
            "u",
            "c",
            &ct,
            "2021-11-11T07:28:41Z",
        );
        let j = format!(
            r#"{{"drm_type":"Widevine","site_id":"TUTO","user_id":"u","cid":"c","policy":"{ct}","timestamp":"2021-11-11T07:28:41Z","hash":"{hash}"}}"#
        );
        assert_eq!(verify_code(&rewrite(&j), now), want);
    }
}

#[test]
fn malformed_tokens() {
    let now = "2021-11-11T07:30:00Z";
    assert_eq!(verify_code("", now), 7009);
    assert_eq!(verify_code("%%%", now), 7009);
    assert_eq!(verify_code(&B64.encode([0xff, 0xfe, 0x00]), now), 7009);
    assert_eq!(verify_code(&rewrite("{\"drm_type\":"), now), 7009);
    assert_eq!(verify_code(&rewrite("[]"), now), 7013);
    assert_eq!(verify_code(&rewrite(r#"{"site_id":"TUTO"}"#), now), 7013);
    assert_eq!(
        verify_code(
            &rewrite(
                r#"{"site_id":1,"user_id":"u","cid":"c","policy":"p","timestamp":"t","hash":"h"}"#
            ),
            now
        ),
        7013
    );
    let m = minted();
    let dup = m.token_json.replacen("{", r#"{"cid":"other","#, 1);
    assert_eq!(
        verify_code(&rewrite(&dup), now),
        7009,
        "duplicate members are refused"
    );
    let both = m.token_json.replacen("{", r#"{"token":"x","#, 1);
    assert_eq!(verify_code(&rewrite(&both), now), 7013);
    let bad_ts = m
        .token_json
        .replace("2021-11-11T07:28:41Z", "2021-11-11 07:28:41");
    // The hash is checked first, so a changed timestamp is a hash mismatch.
    assert_eq!(verify_code(&rewrite(&bad_ts), now), 7019);
    assert_eq!(verify_code(&"A".repeat(70_000), now), 7009);
    // Another site's token.
    let other = SiteCredentials::new(
        "ABCD",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .unwrap();
    let e = UntrustedToken::parse(&m.token)
        .unwrap()
        .verify(&other, &VerifyOptions::at(ts(now)))
        .unwrap_err();
    assert_eq!(e.code(), 7016);
}

#[test]
fn errors_never_show_secrets() {
    let c = creds();
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("lU5D8s3P") && !dbg.contains("LT2FVJDp"),
        "{dbg}"
    );
    let m = minted();
    let e = UntrustedToken::parse(&m.token)
        .unwrap()
        .verify(&c, &VerifyOptions::at(ts("2030-01-01T00:00:00Z")))
        .unwrap_err();
    assert!(!e.to_string().contains("lU5D8s3P"));
}
