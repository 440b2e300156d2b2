//! Studio-DRM-style v2 tokens (seed 002): short-lived, single-use tokens
//! minted by keyward's token API and carrying an encrypted policy.
//!
//! ```text
//! clientName|yyyy-MM-ddThh:mm:ss|v2|<policy>|<hash>
//! ```
//!
//! The vendor's crypto is not public, so keyward defines its own
//! (docs/studio-token.md is the normative description):
//!
//! * keys: from the client's token secret `S` (32 bytes) and its key id
//!   `kid = SHA-256(S)[0..4]`, `enc = HKDF-SHA256(salt = kid, ikm = S,
//!   info = "keyward/studio/v2/enc")` and `mac = …info = "keyward/studio/v2/mac"`,
//!   32 bytes each;
//! * `<policy>` = base64url-nopad(`kid ‖ nonce(12) ‖ AES-256-GCM(enc, nonce,
//!   policy JSON, aad = "client|time|v2")`);
//! * `<hash>` = base64url-nopad(HMAC-SHA256(mac, "client|time|v2|<policy>")),
//!   compared in constant time before anything is decrypted.
//!
//! The key id lets a client's secret rotate while tokens minted under the
//! previous one are still inside their TTL. [`UntrustedStudioToken`] becomes a
//! [`VerifiedStudioToken`] only through [`UntrustedStudioToken::verify`].

pub mod country;
pub mod policy;

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use policy::{
    merge_under, FairPlayLicenseType, FairPlayPolicy, GeoRestrictions, PlayReadyPolicy,
    PolicyError, PolicyErrorKind, SessionMethod, SessionPolicy, StudioPolicy, WidevinePolicy,
};

use crate::Timestamp;

/// The only version this module mints and accepts.
pub const VERSION: &str = "v2";
/// Longest token accepted, bytes (a parser size limit).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest client name, bytes.
pub const MAX_CLIENT_NAME_LEN: usize = 64;
/// Length of a key id, bytes.
pub const KID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const ENC_INFO: &[u8] = b"keyward/studio/v2/enc";
const MAC_INFO: &[u8] = b"keyward/studio/v2/mac";

/// Why a Studio token could not be minted or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudioError {
    /// Not five `|`-separated parts, too long, or a part is not well formed.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The version part is not `v2`.
    #[error("unsupported token version")]
    Version,
    /// The hash does not verify: tampered, or minted under another secret.
    #[error("token hash does not verify")]
    BadHash,
    /// The key id in the token names no secret of this client.
    #[error("token key id is unknown for this client")]
    UnknownKey,
    /// The policy did not decrypt (cannot happen once the hash verified,
    /// unless the minter itself was broken).
    #[error("token policy does not decrypt")]
    Decrypt,
    /// Generation time + TTL + leeway is past.
    #[error("token expired at {expired_at}")]
    Expired {
        /// When it expired.
        expired_at: Timestamp,
    },
    /// Generation time is further in the future than the leeway.
    #[error("token generation time is in the future")]
    NotYetValid,
    /// The decrypted policy is not valid.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    /// Client name empty, too long or with characters outside `A-Za-z0-9._-`.
    #[error("client name must be 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    ClientName,
    /// A token secret shorter than 32 bytes.
    #[error("token secret must be at least 32 bytes")]
    Secret,
}

impl StudioError {
    /// The stable code the HTTP API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            StudioError::Malformed(_) => "studio_token_malformed",
            StudioError::Version => "studio_token_version",
            StudioError::BadHash | StudioError::UnknownKey | StudioError::Decrypt => {
                "studio_token_invalid"
            }
            StudioError::Expired { .. } => "studio_token_expired",
            StudioError::NotYetValid => "studio_token_not_yet_valid",
            StudioError::Policy(p) => p.kind.code(),
            StudioError::ClientName => "studio_invalid_client_name",
            StudioError::Secret => "studio_invalid_secret",
        }
    }
}

/// Whether a client name is acceptable (1–64 of `A-Za-z0-9._-`).
pub fn valid_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CLIENT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Whether a credential has the Studio shape (five `|`-separated parts), which
/// is how it is told apart from a PallyCon token in the same header.
pub fn looks_like_studio_token(s: &str) -> bool {
    s.bytes().filter(|b| *b == b'|').count() == 4
}

/// SHA-256 of an API key: what the store keeps instead of the key.
pub fn api_key_hash(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(key.as_bytes()));
    out
}

/// A client's token secret with its derived keys. `Debug` prints `***`.
pub struct StudioSecret {
    kid: [u8; KID_LEN],
    mac: Zeroizing<[u8; 32]>,
    /// The policy cipher, keyed once (its round keys are zeroized on drop).
    cipher: Aes256Gcm,
}

impl fmt::Debug for StudioSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StudioSecret(kid={}, ***)", hex_kid(&self.kid))
    }
}

fn hex_kid(kid: &[u8; KID_LEN]) -> String {
    kid.iter().map(|b| format!("{b:02x}")).collect()
}

impl StudioSecret {
    /// Derives the keys from a secret of at least 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, StudioError> {
        if secret.len() < 32 {
            return Err(StudioError::Secret);
        }
        let digest = Sha256::digest(secret);
        let mut kid = [0u8; KID_LEN];
        kid.copy_from_slice(&digest[..KID_LEN]);
        let hk = Hkdf::<Sha256>::new(Some(&kid), secret);
        let mut enc = Zeroizing::new([0u8; 32]);
        let mut mac = Zeroizing::new([0u8; 32]);
        hk.expand(ENC_INFO, enc.as_mut())
            .map_err(|_| StudioError::Secret)?;
        hk.expand(MAC_INFO, mac.as_mut())
            .map_err(|_| StudioError::Secret)?;
        let cipher = Aes256Gcm::new(enc.as_ref().into());
        Ok(Self { kid, mac, cipher })
    }

    /// The key id (`SHA-256(secret)[0..4]`).
    pub fn kid(&self) -> [u8; KID_LEN] {
        self.kid
    }

    /// The key id as 8 hex digits.
    pub fn kid_hex(&self) -> String {
        hex_kid(&self.kid)
    }

    fn hmac(&self, signed: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.mac.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(signed.as_bytes());
        m
    }

    fn cipher(&self) -> &Aes256Gcm {
        &self.cipher
    }
}

/// The `yyyy-MM-ddThh:mm:ss` form (UTC, no zone letter).
pub fn format_time(t: Timestamp) -> String {
    let mut s = String::with_capacity(20);
    t.write_to(&mut s);
    s.pop();
    s
}

fn parse_time(s: &str) -> Option<Timestamp> {
    if s.len() != 19 {
        return None;
    }
    Timestamp::parse(&format!("{s}Z")).ok()
}

/// Mints a token for `client` at `at` with an already validated policy JSON
/// (see [`StudioPolicy::from_value`]), under a fresh random nonce.
pub fn mint(
    client: &str,
    secret: &StudioSecret,
    policy_json: &str,
    at: Timestamp,
) -> Result<String, StudioError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(&nonce);
    mint_with_nonce(client, secret, policy_json, at, n)
}

/// The deterministic core of [`mint`]: the test vectors fix the nonce here.
pub(crate) fn mint_with_nonce(
    client: &str,
    secret: &StudioSecret,
    policy_json: &str,
    at: Timestamp,
    nonce: [u8; NONCE_LEN],
) -> Result<String, StudioError> {
    if !valid_client_name(client) {
        return Err(StudioError::ClientName);
    }
    let head = format!("{client}|{}|{VERSION}", format_time(at));
    let sealed = secret
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: policy_json.as_bytes(),
                aad: head.as_bytes(),
            },
        )
        .map_err(|_| StudioError::Decrypt)?;
    let mut blob = Vec::with_capacity(KID_LEN + NONCE_LEN + sealed.len());
    blob.extend_from_slice(&secret.kid);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    let signed = format!("{head}|{}", URL_SAFE_NO_PAD.encode(&blob));
    let tag = secret.hmac(&signed).finalize().into_bytes();
    let token = format!("{signed}|{}", URL_SAFE_NO_PAD.encode(tag));
    if token.len() > MAX_TOKEN_LEN {
        return Err(StudioError::Malformed("policy too large for a token"));
    }
    Ok(token)
}

/// A parsed, not yet verified token. Nothing in it may be trusted except for
/// choosing which client's secret to verify with.
#[derive(Debug)]
pub struct UntrustedStudioToken<'a> {
    raw: &'a str,
    client: &'a str,
    generated_at: Timestamp,
    signed: &'a str,
    kid: [u8; KID_LEN],
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
    tag: Vec<u8>,
}

/// Time rules for [`UntrustedStudioToken::verify`].
#[derive(Clone, Copy, Debug)]
pub struct StudioVerifyOptions {
    /// Now.
    pub now: Timestamp,
    /// The client's TTL, seconds.
    pub ttl_secs: u32,
    /// Clock-skew leeway on both ends, seconds.
    pub leeway_secs: u32,
}

/// A token whose hash verified, whose policy decrypted and validated, and
/// whose time window holds.
#[derive(Clone, Debug)]
pub struct VerifiedStudioToken {
    client: String,
    generated_at: Timestamp,
    expires_at: Timestamp,
    policy: StudioPolicy,
    token_id: [u8; 32],
    kid: [u8; KID_LEN],
}

impl VerifiedStudioToken {
    /// The validated policy, by value (no copy).
    pub fn into_policy(self) -> StudioPolicy {
        self.policy
    }

    /// The client name.
    pub fn client(&self) -> &str {
        &self.client
    }
    /// Generation time.
    pub fn generated_at(&self) -> Timestamp {
        self.generated_at
    }
    /// Last second the token is accepted (time + TTL + leeway).
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// The policy.
    pub fn policy(&self) -> &StudioPolicy {
        &self.policy
    }
    /// SHA-256 of the whole token: its identity for single-use bookkeeping.
    pub fn token_id(&self) -> [u8; 32] {
        self.token_id
    }
    /// The key id it was minted under.
    pub fn kid(&self) -> [u8; KID_LEN] {
        self.kid
    }
}

impl<'a> UntrustedStudioToken<'a> {
    /// Splits and decodes the five parts; checks sizes, version and time format.
    pub fn parse(raw: &'a str) -> Result<Self, StudioError> {
        if raw.len() > MAX_TOKEN_LEN {
            return Err(StudioError::Malformed("token too long"));
        }
        let parts: Vec<&str> = raw.split('|').collect();
        if parts.len() != 5 {
            return Err(StudioError::Malformed("a token has five |-separated parts"));
        }
        if !valid_client_name(parts[0]) {
            return Err(StudioError::Malformed("client name"));
        }
        let generated_at = parse_time(parts[1]).ok_or(StudioError::Malformed(
            "generation time is not yyyy-MM-ddThh:mm:ss",
        ))?;
        if parts[2] != VERSION {
            return Err(StudioError::Version);
        }
        let blob = URL_SAFE_NO_PAD
            .decode(parts[3])
            .map_err(|_| StudioError::Malformed("policy part is not base64url"))?;
        if blob.len() < KID_LEN + NONCE_LEN + TAG_LEN {
            return Err(StudioError::Malformed("policy part too short"));
        }
        let tag = URL_SAFE_NO_PAD
            .decode(parts[4])
            .map_err(|_| StudioError::Malformed("hash part is not base64url"))?;
        if tag.len() != 32 {
            return Err(StudioError::Malformed("hash part is not 32 bytes"));
        }
        let mut kid = [0u8; KID_LEN];
        kid.copy_from_slice(&blob[..KID_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&blob[KID_LEN..KID_LEN + NONCE_LEN]);
        let signed_len = raw.len() - parts[4].len() - 1;
        Ok(Self {
            raw,
            client: parts[0],
            generated_at,
            signed: &raw[..signed_len],
            kid,
            nonce,
            sealed: blob[KID_LEN + NONCE_LEN..].to_vec(),
            tag,
        })
    }

    /// The client the token claims (untrusted until verified).
    pub fn untrusted_client(&self) -> &'a str {
        self.client
    }

    /// The key id the token claims.
    pub fn kid(&self) -> [u8; KID_LEN] {
        self.kid
    }

    /// The claimed generation time.
    pub fn untrusted_generated_at(&self) -> Timestamp {
        self.generated_at
    }

    /// Verifies the hash (constant time), the key id, the time window, then
    /// decrypts and validates the policy.
    pub fn verify(
        &self,
        secret: &StudioSecret,
        opts: &StudioVerifyOptions,
    ) -> Result<VerifiedStudioToken, StudioError> {
        secret
            .hmac(self.signed)
            .verify_slice(&self.tag)
            .map_err(|_| StudioError::BadHash)?;
        if secret.kid != self.kid {
            return Err(StudioError::UnknownKey);
        }
        let leeway = i64::from(opts.leeway_secs);
        let expires = self.generated_at.unix() + i64::from(opts.ttl_secs) + leeway;
        let expires_at = Timestamp::from_unix(expires).unwrap_or(self.generated_at);
        if opts.now.unix() > expires {
            return Err(StudioError::Expired {
                expired_at: expires_at,
            });
        }
        if self.generated_at.unix() > opts.now.unix() + leeway {
            return Err(StudioError::NotYetValid);
        }
        let head_len = self.signed.rfind('|').unwrap_or(0);
        let plain = secret
            .cipher()
            .decrypt(
                Nonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.sealed,
                    aad: &self.signed.as_bytes()[..head_len],
                },
            )
            .map_err(|_| StudioError::Decrypt)?;
        let value: serde_json::Value =
            serde_json::from_slice(&plain).map_err(|_| StudioError::Decrypt)?;
        let policy = StudioPolicy::from_value(&value)?;
        let mut token_id = [0u8; 32];
        token_id.copy_from_slice(&Sha256::digest(self.raw.as_bytes()));
        Ok(VerifiedStudioToken {
            client: self.client.to_owned(),
            generated_at: self.generated_at,
            expires_at,
            policy,
            token_id,
            kid: self.kid,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        secret_hex: String,
        client: String,
        time: String,
        nonce_hex: String,
        policy: String,
        kid_hex: String,
        token: String,
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The committed vectors: minting with the fixed nonce gives the token byte
    /// for byte, and the token verifies back to the policy.
    #[test]
    fn vectors() {
        let text = include_str!("../tests/vectors/studio.json");
        let vectors: Vec<Vector> = serde_json::from_str(text).unwrap();
        assert!(!vectors.is_empty());
        for v in vectors {
            let secret = StudioSecret::new(&unhex(&v.secret_hex)).unwrap();
            assert_eq!(secret.kid_hex(), v.kid_hex, "{}", v.name);
            let at = parse_time(&v.time).unwrap();
            let mut nonce = [0u8; 12];
            nonce.copy_from_slice(&unhex(&v.nonce_hex));
            let token = mint_with_nonce(&v.client, &secret, &v.policy, at, nonce).unwrap();
            assert_eq!(token, v.token, "{}", v.name);
            let opts = StudioVerifyOptions {
                now: at,
                ttl_secs: 30,
                leeway_secs: 0,
            };
            let t = UntrustedStudioToken::parse(&v.token).unwrap();
            let verified = t.verify(&secret, &opts).unwrap();
            let want = StudioPolicy::from_value(&serde_json::from_str(&v.policy).unwrap()).unwrap();
            assert_eq!(verified.policy(), &want, "{}", v.name);
        }
    }

    /// Prints vectors for the JSON file: `cargo test -p keyward-token
    /// print_vectors -- --ignored --nocapture`.
    #[test]
    #[ignore = "generator for tests/vectors/studio.json"]
    fn print_vectors() {
        let cases = [
            ("minimal", "acme", r#"{"content_id":"movie-1"}"#),
            (
                "full",
                "acme-tv.eu_1",
                r#"{"can_renew":true,"client_data":{"plan":"gold"},"content_id":"movie-1","geo_restrictions":{"block_vpn_and_tor":true,"country_code_whitelist":["USA","GBR"],"metro_code_whitelist":[501]},"offline":true,"firstplayback_seconds":3600,"rental_duration_seconds":86400,"session":{"id":"s-1","method":"POST","url":"https://example.com/session","headers":{"API_KEY":"k"}},"playready":{"security_level":2000},"widevine":{"security_level":"1"},"fairplay":{"license_type":"r","rental_duration_seconds":600}}"#,
            ),
            ("empty policy", "x", "{}"),
        ];
        let secret_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let mut out = Vec::new();
        for (name, client, policy) in cases {
            let secret = StudioSecret::new(&unhex(secret_hex)).unwrap();
            let at = parse_time("2025-03-01T12:00:00").unwrap();
            let nonce = [0x24u8; 12];
            let token = mint_with_nonce(client, &secret, policy, at, nonce).unwrap();
            out.push(serde_json::json!({
                "name": name, "secret_hex": secret_hex, "client": client,
                "time": "2025-03-01T12:00:00", "nonce_hex": "242424242424242424242424",
                "policy": policy, "kid_hex": secret.kid_hex(), "token": token,
            }));
        }
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    }
}
