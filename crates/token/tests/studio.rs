//! Studio tokens: mint → verify round trips over arbitrary policies, names and
//! secrets, and refusals for every kind of damage.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use keyward_token::studio::{
    mint, StudioError, StudioPolicy, StudioSecret, StudioVerifyOptions, UntrustedStudioToken,
};
use keyward_token::Timestamp;
use proptest::prelude::*;
use serde_json::json;

fn opts(now: i64) -> StudioVerifyOptions {
    StudioVerifyOptions {
        now: Timestamp::from_unix(now).unwrap(),
        ttl_secs: 30,
        leeway_secs: 5,
    }
}

proptest! {
    #[test]
    fn mint_verify_round_trip(
        client in "[A-Za-z0-9._-]{1,64}",
        secret in proptest::collection::vec(any::<u8>(), 32..64),
        at in 0i64..4_000_000_000,
        cid in "[a-z0-9-]{1,40}",
        offline in any::<bool>(),
        rental in proptest::option::of(0u64..1_000_000),
        data in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,20}", 0..5),
        skew in -5i64..=35,
    ) {
        let mut p = json!({"content_id": cid, "offline": offline, "client_data": data});
        if let Some(r) = rental { p["rental_duration_seconds"] = json!(r); }
        let s = StudioSecret::new(&secret).unwrap();
        let t = Timestamp::from_unix(at).unwrap();
        let token = mint(&client, &s, &p.to_string(), t).unwrap();
        let parsed = UntrustedStudioToken::parse(&token).unwrap();
        prop_assert_eq!(parsed.untrusted_client(), client.as_str());
        let v = parsed.verify(&s, &opts(at + skew)).unwrap();
        prop_assert_eq!(v.policy(), &StudioPolicy::from_value(&p).unwrap());
        prop_assert_eq!(v.client(), client.as_str());
        // Two mints of the same policy differ (fresh nonce).
        let again = mint(&client, &s, &p.to_string(), t).unwrap();
        prop_assert_ne!(again, token);
    }

    #[test]
    fn any_single_byte_change_is_refused(pos in 0usize..200, b in any::<u8>()) {
        let s = StudioSecret::new(&[7u8; 32]).unwrap();
        let token = mint("acme", &s, r#"{"content_id":"c"}"#, Timestamp::from_unix(1_000).unwrap()).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = pos % bytes.len();
        prop_assume!(bytes[i] != b);
        bytes[i] = b;
        if let Ok(text) = String::from_utf8(bytes) {
            let r = UntrustedStudioToken::parse(&text).and_then(|t| t.verify(&s, &opts(1_000)));
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,300}") {
        let _ = UntrustedStudioToken::parse(&s);
    }
}

#[test]
fn refusals_have_their_codes() {
    let s = StudioSecret::new(&[7u8; 32]).unwrap();
    let other = StudioSecret::new(&[8u8; 32]).unwrap();
    let at = Timestamp::from_unix(1_000_000).unwrap();
    let token = mint("acme", &s, r#"{"content_id":"c"}"#, at).unwrap();
    let code = |t: &str, sec: &StudioSecret, now: i64| {
        UntrustedStudioToken::parse(t)
            .and_then(|u| u.verify(sec, &opts(now)))
            .map(|_| ())
            .unwrap_err()
            .code()
    };
    assert_eq!(code("a|b|c", &s, 1_000_000), "studio_token_malformed");
    assert_eq!(
        code(&token.replacen("|v2|", "|v3|", 1), &s, 1_000_000),
        "studio_token_version"
    );
    assert_eq!(code(&token, &other, 1_000_000), "studio_token_invalid");
    // Another client's name on this token: the hash no longer verifies.
    assert_eq!(
        code(&token.replacen("acme", "acmf", 1), &s, 1_000_000),
        "studio_token_invalid"
    );
    // TTL 30 + leeway 5: accepted through +35 s, refused at +36 s.
    assert!(UntrustedStudioToken::parse(&token)
        .unwrap()
        .verify(&s, &opts(1_000_035))
        .is_ok());
    assert_eq!(code(&token, &s, 1_000_036), "studio_token_expired");
    assert_eq!(
        code(&token, &s, 1_000_000 - 6),
        "studio_token_not_yet_valid"
    );
    let mut parts: Vec<String> = token.split('|').map(str::to_owned).collect();
    parts[4] = "A".repeat(43);
    assert_eq!(
        code(&parts.join("|"), &s, 1_000_000),
        "studio_token_invalid"
    );
    assert!(matches!(
        StudioSecret::new(&[0u8; 16]),
        Err(StudioError::Secret)
    ));
}
