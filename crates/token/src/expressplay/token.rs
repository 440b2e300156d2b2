//! The sealed token: what it carries ([`TokenPayload`]), the server keys that
//! seal it ([`TokenKey`]), and [`seal`] / [`open`].
//!
//! Layout (then base64url without padding):
//! `version (1 byte) ‖ key id (4 bytes) ‖ nonce (12) ‖ AES-256-GCM(payload) ‖ tag (16)`,
//! with `version ‖ key id` as associated data.

use std::fmt;

use aes::cipher::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::{
    codes, parse_hex, parse_hex16, ExpressPlayError, KeySource, KidSpec, Rental, Result,
    TokenRequest, MAX_TOKEN_CHARS, TOKEN_VERSION,
};
use crate::{ContentKey, DrmType, Kid};

const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Which licence the token is for (which endpoint minted it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenDrm {
    /// `/hms/wv/token` → `/hms/wv/rights/`.
    #[serde(rename = "wv")]
    Widevine,
    /// `/hms/ck/token` → `/hms/ck/rights/`.
    #[serde(rename = "ck")]
    ClearKey,
    /// `/hms/fp/token` → `/hms/fp/rights/`.
    #[serde(rename = "fp")]
    FairPlay,
}

impl From<TokenDrm> for DrmType {
    /// The DRM of the licence the token is redeemed for.
    fn from(d: TokenDrm) -> DrmType {
        match d {
            TokenDrm::Widevine => DrmType::Widevine,
            TokenDrm::ClearKey => DrmType::ClearKey,
            TokenDrm::FairPlay => DrmType::FairPlay,
        }
    }
}

impl TokenDrm {
    /// The path segment: `wv`, `ck` or `fp`.
    pub fn segment(self) -> &'static str {
        match self {
            TokenDrm::Widevine => "wv",
            TokenDrm::ClearKey => "ck",
            TokenDrm::FairPlay => "fp",
        }
    }
}

/// Which authenticator the token was minted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Environment {
    /// The test authenticator.
    #[serde(rename = "test")]
    Test,
    /// The production authenticator.
    #[serde(rename = "prod")]
    Production,
}

/// What a token carries. Field names are short on purpose: the token travels
/// in a URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPayload {
    /// Customer id.
    #[serde(rename = "c")]
    pub customer: String,
    /// Test or production authenticator.
    #[serde(rename = "e")]
    pub env: Environment,
    /// Which licence.
    #[serde(rename = "d")]
    pub drm: TokenDrm,
    /// Key id, 32 lowercase hex (absent for a `^name` kid).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The `^name` key reference (without `^`).
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Content key, 32 lowercase hex (absent for a `^name` kid).
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub content_key: Option<String>,
    /// `contentId`.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// `securityLevel`.
    #[serde(rename = "s")]
    pub security_level: u8,
    /// `hdcpOutputControl`.
    #[serde(rename = "h")]
    pub hdcp_output_control: u8,
    /// `licenseDuration` seconds; absent = unlimited.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub license_duration: Option<u64>,
    /// `wvExtension`s: (type, base64 payload).
    #[serde(rename = "w", default, skip_serializing_if = "Vec::is_empty")]
    pub wv_extensions: Vec<(String, String)>,
    /// Rental rights.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub rental: Option<Rental>,
    /// Issued at, unix seconds.
    #[serde(rename = "t")]
    pub issued_at: i64,
    /// Expires at, unix seconds.
    #[serde(rename = "x")]
    pub expires_at: i64,
    /// `cookie`.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

impl fmt::Debug for TokenPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPayload")
            .field("customer", &self.customer)
            .field("env", &self.env)
            .field("drm", &self.drm)
            .field("kid", &self.kid)
            .field("key_name", &self.key_name)
            .field("content_key", &self.content_key.as_ref().map(|_| "***"))
            .field("content_id", &self.content_id)
            .field("expires_at", &self.expires_at)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl TokenPayload {
    /// The payload for a validated request. `kid` is the request's hex kid (or
    /// `None` for a `^name` kid, then `key_name` is set).
    pub fn new(
        customer: &str,
        env: Environment,
        drm: TokenDrm,
        req: &TokenRequest,
        now: i64,
    ) -> TokenPayload {
        let (kid, key_name) = match &req.kid {
            KidSpec::Hex(k) => (Some(hex16(k.as_bytes())), None),
            KidSpec::Name(n) => (None, Some(n.clone())),
        };
        TokenPayload {
            customer: customer.to_owned(),
            env,
            drm,
            kid,
            key_name,
            content_key: match &req.key {
                KeySource::Plain(k) => Some(hex16(k.expose())),
                KeySource::Store => None,
            },
            content_id: req.content_id.clone(),
            security_level: req.security_level,
            hdcp_output_control: req.hdcp_output_control,
            license_duration: req.license_duration,
            wv_extensions: req.wv_extensions.clone(),
            rental: req.rental,
            issued_at: now,
            expires_at: req.expires_at,
            cookie: req.cookie.clone(),
        }
    }

    /// The carried kid and key, when the token carries them (not `^name`).
    pub fn carried_key(&self) -> Option<(Kid, ContentKey)> {
        Some((
            Kid(parse_hex16(self.kid.as_deref()?)?),
            ContentKey::new(parse_hex16(self.content_key.as_deref()?)?),
        ))
    }

    /// -2002 when the token has expired at `now`.
    pub fn check_expiry(&self, now: i64) -> Result<()> {
        if now >= self.expires_at {
            Err(ExpressPlayError::new(
                codes::EXPIRATION,
                "the token has expired",
            ))
        } else {
            Ok(())
        }
    }
}

fn hex16(b: &[u8; 16]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for x in b {
        s.push(char::from(H[usize::from(x >> 4)]));
        s.push(char::from(H[usize::from(x & 15)]));
    }
    s
}

/// A 32-byte token sealing key. `Debug` prints the key id only.
#[derive(Clone)]
pub struct TokenKey {
    key: [u8; 32],
    id: [u8; 4],
}

impl TokenKey {
    /// A key from 32 bytes; its id is the first 4 bytes of SHA-256(key).
    pub fn new(key: [u8; 32]) -> TokenKey {
        let digest = Sha256::digest(key);
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        TokenKey { key, id }
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<TokenKey> {
        let bytes = parse_hex(text.trim())?;
        let arr: [u8; 32] = bytes.as_slice().try_into().ok()?;
        Some(TokenKey::new(arr))
    }

    /// The key id written into tokens.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }
}

impl Drop for TokenKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey(id {}, ***)", hex16_4(&self.id))
    }
}

fn hex16_4(b: &[u8; 4]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Seals a payload under `key` with `nonce` (12 random bytes in production;
/// fixed in test vectors). Never reuse a nonce with the same key.
pub fn seal(key: &TokenKey, nonce: [u8; 12], payload: &TokenPayload) -> String {
    let plain = serde_json::to_vec(payload).unwrap_or_default();
    let mut header = [0u8; HEADER_LEN];
    header[0] = TOKEN_VERSION;
    header[1..].copy_from_slice(&key.id);
    let cipher = Aes256Gcm::new(GenericArray::from_slice(&key.key));
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    // Encryption with a valid key and a small payload cannot fail.
    if let Ok(ct) = cipher.encrypt(
        Nonce::from_slice(&nonce),
        Payload {
            msg: &plain,
            aad: &header,
        },
    ) {
        out.extend_from_slice(&ct);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

/// Opens a token with any of `keys` (current first, then previous ones).
/// Every failure is -4010 with a short reason.
pub fn open(keys: &[TokenKey], token: &str) -> Result<TokenPayload> {
    let invalid = |why: &str| ExpressPlayError::new(codes::INVALID_TOKEN, why);
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(invalid("the token is empty or too long"));
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid("not base64url"))?;
    if raw.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(invalid("truncated"));
    }
    if raw[0] != TOKEN_VERSION {
        return Err(invalid("unknown version"));
    }
    let key = keys
        .iter()
        .find(|k| k.id[..] == raw[1..HEADER_LEN])
        .ok_or_else(|| invalid("unknown key"))?;
    let cipher = Aes256Gcm::new(GenericArray::from_slice(&key.key));
    let mut plain = cipher
        .decrypt(
            Nonce::from_slice(&raw[HEADER_LEN..HEADER_LEN + NONCE_LEN]),
            Payload {
                msg: &raw[HEADER_LEN + NONCE_LEN..],
                aad: &raw[..HEADER_LEN],
            },
        )
        .map_err(|_| invalid("authentication failed"))?;
    let payload = serde_json::from_slice(&plain).map_err(|_| invalid("bad payload"));
    plain.zeroize();
    payload
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::expressplay::Params;

    fn params(q: &str) -> Params {
        Params::from_form(q.as_bytes())
    }

    /// The committed vector: fixed key, nonce and time, byte for byte.
    #[test]
    fn sealed_token_vector() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/expressplay.json")).unwrap();
        let key = TokenKey::from_hex(v["key"].as_str().unwrap()).unwrap();
        assert_eq!(hex16_4(&key.id()), v["key_id"].as_str().unwrap());
        let nonce: [u8; 12] = parse_hex(v["nonce"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let now = v["now"].as_i64().unwrap();
        let req = TokenRequest::from_params(&params(v["query"].as_str().unwrap()), now).unwrap();
        let payload = TokenPayload::new(
            v["customer"].as_str().unwrap(),
            Environment::Test,
            TokenDrm::ClearKey,
            &req,
            now,
        );
        let token = seal(&key, nonce, &payload);
        assert_eq!(token, v["token"].as_str().unwrap());
        let opened = open(std::slice::from_ref(&key), &token).unwrap();
        assert_eq!(opened, payload);
        assert_eq!(
            serde_json::to_string(&opened).unwrap(),
            v["payload_json"].as_str().unwrap()
        );
        // Any bit flipped, truncation, another key: invalid.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .unwrap();
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&t);
            assert_eq!(
                open(std::slice::from_ref(&key), &s).unwrap_err().code(),
                -4010
            );
        }
        assert_eq!(
            open(std::slice::from_ref(&key), &token[..token.len() - 1])
                .unwrap_err()
                .code(),
            -4010
        );
        let other = TokenKey::new([7u8; 32]);
        assert_eq!(
            open(std::slice::from_ref(&other), &token)
                .unwrap_err()
                .code(),
            -4010
        );
        // Rotation: the old key listed after the new one still opens it.
        assert!(open(&[other, key], &token).is_ok());
    }
}
