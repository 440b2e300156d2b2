//! PallyCon/DoveRunner license token v2: minting and verification.
//!
//! A token is `base64(JSON)` with `drm_type, site_id, user_id, cid, policy,
//! timestamp, hash, response_format, key_rotation`, where `policy` is
//! `base64(AES-256-CBC(site key, fixed IV, policy JSON))` and `hash` is
//! `base64(SHA-256(access key ‖ drm_type ‖ site_id ‖ user_id ‖ cid ‖ policy ‖ timestamp))`
//! over the strings exactly as they appear (pallycon.md §1–§2).
//!
//! Minting writes the JSON in the order of the vendor's tutorial (the seed
//! vector), compact, with `response_format` and `key_rotation` always present.
//! Verification starts from an [`UntrustedToken`], which exposes nothing a
//! caller could mistake for checked data except through
//! [`UntrustedToken::verify`], the only way to get a [`VerifiedToken`].

use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::crypto::{decode_b64_lenient, token_digest, AccessKey, SiteKey, B64};
use crate::error::{SdkCode, TimeVerdict, TokenError, VerifyError};
use crate::json::ObjectWriter;
use crate::jsonread::{J, P};
use crate::{DrmType, Policy, ResponseFormat, SiteId, Timestamp};

/// Largest token (base64 text) keyward reads.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest `user_id` or `cid`, in bytes, keyward mints.
pub const MAX_ID_BYTES: usize = 1024;
/// Default token window: a token is valid for this many seconds after its timestamp.
pub const DEFAULT_WINDOW_SECS: u32 = 600;
/// Default leeway for timestamps ahead of the server clock.
pub const DEFAULT_LEEWAY_SECS: u32 = 60;

/// A site's three credentials, as shown in the vendor console.
#[derive(Clone, Debug)]
pub struct SiteCredentials {
    /// The site id.
    pub site_id: SiteId,
    /// The AES key for policies and auth data.
    pub site_key: SiteKey,
    /// The key mixed into token hashes.
    pub access_key: AccessKey,
}

impl SiteCredentials {
    /// Validates all three (codes 1002, 1004, 1003).
    pub fn new(site_id: &str, site_key: &[u8], access_key: &[u8]) -> Result<Self, TokenError> {
        Ok(Self {
            site_id: crate::ids::parse_site_id(site_id)?,
            site_key: SiteKey::new(site_key)?,
            access_key: AccessKey::new(access_key)?,
        })
    }
}

/// Builds one token. Reads like the SDKs' client: set the fields, then [`mint`](Self::mint).
#[derive(Clone, Debug, Default)]
pub struct TokenBuilder {
    drm_type: Option<DrmType>,
    user_id: Option<String>,
    cid: Option<String>,
    policy_json: Option<String>,
    timestamp: Option<Timestamp>,
    response_format: ResponseFormat,
    key_rotation: bool,
}

impl TokenBuilder {
    /// An empty builder (drm_type defaults to PlayReady as in the SDKs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `drm_type`.
    pub fn drm_type(mut self, d: DrmType) -> Self {
        self.drm_type = Some(d);
        self
    }

    /// Sets `user_id` (required; the vendor suggests `LICENSETOKEN` when there is none).
    pub fn user_id(mut self, u: impl Into<String>) -> Self {
        self.user_id = Some(u.into());
        self
    }

    /// Sets `cid`, the content id used at packaging (required).
    pub fn cid(mut self, c: impl Into<String>) -> Self {
        self.cid = Some(c.into());
        self
    }

    /// Sets the policy from the typed model (serialized compact, documented order).
    pub fn policy(mut self, p: &Policy) -> Self {
        self.policy_json = Some(p.to_json());
        self
    }

    /// Sets the policy from JSON text, validated with the SDKs' rules; the text
    /// itself (without surrounding whitespace) is what gets encrypted, byte for byte.
    pub fn policy_json(mut self, json: &str) -> Result<Self, TokenError> {
        let json = json.trim_matches(|c: char| c.is_ascii_whitespace());
        Policy::from_json(json.as_bytes())?;
        self.policy_json = Some(json.to_owned());
        Ok(self)
    }

    /// Sets the timestamp (default: now).
    pub fn timestamp(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }

    /// Sets `response_format` (default `original`).
    pub fn response_format(mut self, f: ResponseFormat) -> Self {
        self.response_format = f;
        self
    }

    /// Sets `key_rotation` (default false).
    pub fn key_rotation(mut self, on: bool) -> Self {
        self.key_rotation = on;
        self
    }

    /// Encrypts the policy, hashes, and encodes the token.
    ///
    /// Errors: 1000 no user_id, 1001 no cid, 1005 no policy, and 1000/1001 for ids
    /// longer than [`MAX_ID_BYTES`].
    pub fn mint(&self, creds: &SiteCredentials) -> Result<MintedToken, TokenError> {
        let user_id = self.user_id.as_deref().ok_or_else(|| {
            TokenError::new(
                SdkCode::UserIdRequired,
                "Token err : The userId is Required",
            )
        })?;
        let cid = self.cid.as_deref().ok_or_else(|| {
            TokenError::new(SdkCode::CidRequired, "Token err : The cId is Required")
        })?;
        if user_id.len() > MAX_ID_BYTES {
            return Err(TokenError::new(
                SdkCode::UserIdRequired,
                format!("Token err : The userId is longer than {MAX_ID_BYTES} bytes"),
            ));
        }
        if cid.len() > MAX_ID_BYTES {
            return Err(TokenError::new(
                SdkCode::CidRequired,
                format!("Token err : The cId is longer than {MAX_ID_BYTES} bytes"),
            ));
        }
        let policy_json = self.policy_json.as_deref().ok_or_else(|| {
            TokenError::new(
                SdkCode::PolicyRequired,
                "Token err : The policy is Required",
            )
        })?;
        let timestamp = self.timestamp.unwrap_or_else(Timestamp::now);
        let drm = self.drm_type.unwrap_or(DrmType::PlayReady).as_str();

        let policy_b64 = creds.site_key.encrypt_b64(policy_json.as_bytes());
        let mut ts = String::with_capacity(20);
        timestamp.write_to(&mut ts);
        let digest = token_digest(
            &creds.access_key,
            drm,
            creds.site_id.as_str(),
            user_id,
            cid,
            &policy_b64,
            &ts,
        );
        let hash = B64.encode(digest);

        let mut token_json =
            String::with_capacity(160 + user_id.len() + cid.len() + policy_b64.len());
        let mut o = ObjectWriter::new(&mut token_json);
        o.plain("drm_type", drm);
        o.plain("site_id", creds.site_id.as_str());
        o.str("user_id", user_id);
        o.str("cid", cid);
        o.plain("policy", &policy_b64);
        o.plain("timestamp", &ts);
        o.plain("hash", &hash);
        o.plain("response_format", self.response_format.as_str());
        o.bool("key_rotation", self.key_rotation);
        o.end();
        let token = B64.encode(token_json.as_bytes());
        Ok(MintedToken {
            token,
            token_json,
            policy_json: policy_json.to_owned(),
            policy_b64,
            hash,
            timestamp,
        })
    }
}

/// What [`TokenBuilder::mint`] produced, every intermediate included.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MintedToken {
    /// The token to hand to the player.
    pub token: String,
    /// The JSON inside the token.
    pub token_json: String,
    /// The policy plaintext that was encrypted. Sensitive when it carries keys.
    pub policy_json: String,
    /// The `policy` field (base64 ciphertext).
    pub policy_b64: String,
    /// The `hash` field.
    pub hash: String,
    /// The `timestamp` field.
    pub timestamp: Timestamp,
}

/// How strictly to check a token's timestamp.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// The server time to judge against.
    pub now: Timestamp,
    /// Seconds a token stays valid after its timestamp (default 600).
    pub window_secs: u32,
    /// Seconds a timestamp may run ahead of `now` (default 60).
    pub leeway_secs: u32,
}

impl VerifyOptions {
    /// Defaults with `now` = the system clock.
    pub fn now() -> Self {
        Self::at(Timestamp::now())
    }

    /// Defaults with a fixed `now`.
    pub fn at(now: Timestamp) -> Self {
        Self {
            now,
            window_secs: DEFAULT_WINDOW_SECS,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// A token as received: decoded and shaped, nothing checked.
///
/// Every accessor is prefixed `untrusted_` because the values are what the
/// client sent; only [`UntrustedToken::verify`] yields data to act on.
#[derive(Clone, Debug)]
pub struct UntrustedToken {
    /// The decoded token JSON; fields point into it when they had no escapes.
    json: String,
    drm_type: Option<Text>,
    site_id: Text,
    user_id: Text,
    cid: Text,
    policy: Text,
    timestamp: Text,
    hash: Text,
    response_format: Option<Text>,
    key_rotation: Option<bool>,
    legacy_policy_key: bool,
}

/// A string field of the token: a span of the JSON text (no escapes, the
/// common case, no allocation) or an unescaped copy.
#[derive(Clone, Debug, Default)]
enum Text {
    #[default]
    Empty,
    Span(usize, usize),
    Owned(String),
}

impl UntrustedToken {
    /// Decodes `base64(JSON)` (whitespace and MIME line breaks tolerated).
    ///
    /// 7009 for bad base64, UTF-8 or JSON syntax; 7013 for a JSON object of the
    /// wrong shape or with a required field missing.
    pub fn parse(token: &str) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Parse(format!(
                "token is larger than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let bytes = decode_b64_lenient(token)
            .ok_or_else(|| VerifyError::Parse("token is not base64".into()))?;
        let json = String::from_utf8(bytes)
            .map_err(|_| VerifyError::Parse("token JSON is not UTF-8".into()))?;
        Self::from_string(json)
    }

    /// Parses the token JSON itself (already base64-decoded).
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| VerifyError::Parse("token JSON is not UTF-8".into()))?;
        Self::from_string(text.to_owned())
    }

    pub(crate) fn from_string(json: String) -> Result<Self, VerifyError> {
        let base = json.as_ptr() as usize;
        let text = json.trim_matches(|c: char| c.is_ascii_whitespace());
        let span = |v: &J<'_>| -> Option<Text> {
            match v {
                J::Str(std::borrow::Cow::Borrowed(s)) => {
                    let at = s.as_ptr() as usize - base;
                    Some(Text::Span(at, at + s.len()))
                }
                J::Str(std::borrow::Cow::Owned(s)) => Some(Text::Owned(s.clone())),
                _ => None,
            }
        };
        let mut drm_type = None;
        let mut response_format = None;
        let mut key_rotation = None;
        let mut legacy_policy_key = false;
        let mut slots: [Text; 6] = Default::default();
        let mut seen = 0u8;
        let mut shape: Option<VerifyError> = None;
        let walked = P::members(text, |k, p| {
            let v = p.take()?;
            if shape.is_some() {
                return Ok(());
            }
            let not_string = || VerifyError::InvalidJson(format!("token {k} is not a string"));
            let (slot, bit) = match k {
                "drm_type" => {
                    drm_type = span(&v);
                    if drm_type.is_none() {
                        shape = Some(not_string());
                    }
                    return Ok(());
                }
                "response_format" => {
                    response_format = span(&v);
                    if response_format.is_none() {
                        shape = Some(not_string());
                    }
                    return Ok(());
                }
                "key_rotation" => {
                    key_rotation = v.as_bool();
                    if key_rotation.is_none() {
                        shape = Some(VerifyError::InvalidJson(
                            "token key_rotation is not a boolean".into(),
                        ));
                    }
                    return Ok(());
                }
                "site_id" => (0, 1),
                "user_id" => (1, 2),
                "cid" => (2, 4),
                "policy" => (3, 8),
                "token" => {
                    legacy_policy_key = true;
                    (3, 16)
                }
                "timestamp" => (4, 32),
                "hash" => (5, 64),
                _ => return Ok(()),
            };
            match span(&v) {
                Some(t) => {
                    slots[slot] = t;
                    seen |= bit;
                }
                None => shape = Some(not_string()),
            }
            Ok(())
        });
        if let Err(e) = walked {
            // An array or scalar at the top is JSON, just not a token.
            return Err(
                if e.what == "expected an object" && crate::jsonread::parse(text).is_ok() {
                    VerifyError::InvalidJson("token JSON is not an object".into())
                } else {
                    VerifyError::Parse(format!("token is not JSON ({e})"))
                },
            );
        }
        if let Some(e) = shape {
            return Err(e);
        }
        if seen & 8 != 0 && seen & 16 != 0 {
            return Err(VerifyError::InvalidJson(
                "token has both policy and token".into(),
            ));
        }
        for (bit, name) in [
            (1, "site_id"),
            (2, "user_id"),
            (4, "cid"),
            (8 | 16, "policy"),
            (32, "timestamp"),
            (64, "hash"),
        ] {
            if seen & bit == 0 {
                return Err(VerifyError::InvalidJson(format!("token has no {name}")));
            }
        }
        let [site_id, user_id, cid, policy, timestamp, hash] = slots;
        Ok(Self {
            json,
            drm_type,
            site_id,
            user_id,
            cid,
            policy,
            timestamp,
            hash,
            response_format,
            key_rotation,
            legacy_policy_key: legacy_policy_key && seen & 8 == 0,
        })
    }

    fn text<'s>(&'s self, t: &'s Text) -> &'s str {
        match t {
            Text::Empty => "",
            Text::Span(a, b) => self.json.get(*a..*b).unwrap_or(""),
            Text::Owned(s) => s,
        }
    }

    /// The claimed site id (look up the site's keys with it, then verify).
    pub fn untrusted_site_id(&self) -> &str {
        self.text(&self.site_id)
    }

    /// The claimed drm_type, as sent (absent = PlayReady).
    pub fn untrusted_drm_type(&self) -> Option<&str> {
        self.drm_type.as_ref().map(|t| self.text(t))
    }

    /// The claimed user id.
    pub fn untrusted_user_id(&self) -> &str {
        self.text(&self.user_id)
    }

    /// The claimed content id.
    pub fn untrusted_cid(&self) -> &str {
        self.text(&self.cid)
    }

    /// The claimed timestamp string.
    pub fn untrusted_timestamp(&self) -> &str {
        self.text(&self.timestamp)
    }

    /// The `policy` ciphertext as sent.
    pub fn untrusted_policy_b64(&self) -> &str {
        self.text(&self.policy)
    }

    /// The hash as sent.
    pub fn untrusted_hash(&self) -> &str {
        self.text(&self.hash)
    }

    /// `response_format` as sent.
    pub fn untrusted_response_format(&self) -> Option<&str> {
        self.response_format.as_ref().map(|t| self.text(t))
    }

    /// `key_rotation` as sent.
    pub fn untrusted_key_rotation(&self) -> Option<bool> {
        self.key_rotation
    }

    /// Whether the policy came under the legacy `token` key.
    pub fn uses_legacy_policy_key(&self) -> bool {
        self.legacy_policy_key
    }

    /// Whether the hash matches (constant-time), trying the drm_type as sent
    /// and then its canonical spelling (the server ignores its case).
    pub fn hash_matches(&self, access_key: &AccessKey) -> bool {
        let received = decode_b64_lenient(self.text(&self.hash)).unwrap_or_default();
        let check = |drm: &str| -> bool {
            let d = token_digest(
                access_key,
                drm,
                self.text(&self.site_id),
                self.text(&self.user_id),
                self.text(&self.cid),
                self.text(&self.policy),
                self.text(&self.timestamp),
            );
            received.len() == d.len() && bool::from(received.ct_eq(&d))
        };
        let sent = self.drm_type.as_ref().map(|t| self.text(t)).unwrap_or("");
        if check(sent) {
            return true;
        }
        match DrmType::parse_ignore_case(sent) {
            Ok(d) if d.as_str() != sent => check(d.as_str()),
            _ => false,
        }
    }

    /// The timestamp judged against the options (7013 if it is not `yyyy-mm-ddThh:mm:ssZ`).
    pub fn time_verdict(&self, opts: &VerifyOptions) -> Result<TimeVerdict, VerifyError> {
        let ts = Timestamp::parse(self.text(&self.timestamp)).map_err(|_| {
            VerifyError::InvalidJson("timestamp is not yyyy-mm-ddThh:mm:ssZ".into())
        })?;
        Ok(TimeVerdict {
            age_secs: opts.now.unix() - ts.unix(),
            window_secs: opts.window_secs,
            leeway_secs: opts.leeway_secs,
            now: opts.now,
        })
    }

    /// Checks everything, in this order: site, hash (7019), drm_type (7018),
    /// timestamp (7013 format, 7011 window), response_format (7013), policy
    /// decryption (7016) and parsing (7013).
    pub fn verify(
        &self,
        creds: &SiteCredentials,
        opts: &VerifyOptions,
    ) -> Result<VerifiedToken, VerifyError> {
        if self.text(&self.site_id) != creds.site_id.as_str() {
            return Err(VerifyError::Invalid("token is for another site".into()));
        }
        if !self.hash_matches(&creds.access_key) {
            return Err(VerifyError::HashMismatch);
        }
        let drm_type = match self.drm_type.as_ref().map(|t| self.text(t)) {
            None => DrmType::PlayReady,
            Some(s) => DrmType::parse_ignore_case(s).map_err(|_| {
                VerifyError::DrmType(format!("'{}' is not a DRM type", truncate(s, 32)))
            })?,
        };
        let verdict = self.time_verdict(opts)?;
        if !verdict.is_valid() {
            return Err(VerifyError::Expired(verdict));
        }
        let response_format = match self.response_format.as_ref().map(|t| self.text(t)) {
            None => ResponseFormat::Original,
            Some(s) => ResponseFormat::ALL_VALUES
                .iter()
                .copied()
                .find(|f| f.as_str().eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    VerifyError::InvalidJson(format!(
                        "response_format '{}' is not original, custom or json",
                        truncate(s, 32)
                    ))
                })?,
        };
        let (policy_json, policy) = open_policy(self.text(&self.policy), &creds.site_key)?;
        let timestamp = Timestamp::from_unix(opts.now.unix() - verdict.age_secs)
            .ok_or_else(|| VerifyError::InvalidJson("timestamp out of range".into()))?;
        Ok(VerifiedToken {
            drm_type,
            site_id: creds.site_id.clone(),
            user_id: self.text(&self.user_id).to_owned(),
            cid: self.text(&self.cid).to_owned(),
            timestamp,
            time: verdict,
            policy,
            policy_json,
            response_format,
            key_rotation: self.key_rotation.unwrap_or(false),
        })
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub(crate) fn open_policy(
    policy_b64: &str,
    site_key: &SiteKey,
) -> Result<(String, Policy), VerifyError> {
    let plain = site_key.decrypt_b64(policy_b64).ok_or_else(|| {
        VerifyError::Invalid("the policy cannot be decrypted with the site key".into())
    })?;
    let mut plain = plain;
    // Move the plaintext out (no copy); the emptied buffer is zeroized on drop.
    let text = String::from_utf8(std::mem::take(&mut *plain))
        .map_err(|_| VerifyError::InvalidJson("the policy is not UTF-8".into()))?;
    let policy = Policy::from_received_json(text.as_bytes()).map_err(|e| {
        VerifyError::InvalidJson(format!("policy: {} (SDK code {})", e.message(), e.code()))
    })?;
    Ok((text, policy))
}

/// A token whose hash, window and policy have been checked.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    drm_type: DrmType,
    site_id: SiteId,
    user_id: String,
    cid: String,
    timestamp: Timestamp,
    time: TimeVerdict,
    policy: Policy,
    policy_json: String,
    response_format: ResponseFormat,
    key_rotation: bool,
}

impl VerifiedToken {
    /// The DRM the token was minted for.
    pub fn drm_type(&self) -> DrmType {
        self.drm_type
    }
    /// The site.
    pub fn site_id(&self) -> &SiteId {
        &self.site_id
    }
    /// The user.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    /// The content id.
    pub fn cid(&self) -> &str {
        &self.cid
    }
    /// The token's timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// How the timestamp compared with the server clock.
    pub fn time_verdict(&self) -> TimeVerdict {
        self.time
    }
    /// The decrypted policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// The decrypted policy text exactly as minted. Sensitive when it carries keys.
    pub fn policy_json(&self) -> &str {
        &self.policy_json
    }
    /// How the licence answer is to be shaped.
    pub fn response_format(&self) -> ResponseFormat {
        self.response_format
    }
    /// Whether key rotation was asked for.
    pub fn key_rotation(&self) -> bool {
        self.key_rotation
    }
}

/// Operations that skip a check. Use only where the caller has a reason.
pub mod dangerous {
    use super::*;

    /// Decrypts and parses a token's policy *without* checking its hash or
    /// window — for `keyward token inspect`, which shows an operator holding the
    /// keys what a failing token carries.
    pub fn open_policy_unverified(
        token: &UntrustedToken,
        site_key: &SiteKey,
    ) -> Result<(String, Policy), VerifyError> {
        open_policy(token.text(&token.policy), site_key)
    }
}
