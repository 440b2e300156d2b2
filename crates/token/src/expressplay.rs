//! Intertrust ExpressPlay-compatible license tokens (Widevine and ClearKey).
//!
//! An ExpressPlay customer's backend asks a token endpoint for a licence URL,
//! passing its `customerAuthenticator`, the content key and the rights as
//! query (or www-form-urlencoded body) parameters. The answer is a URL with an
//! opaque `ExpressPlayToken`; the player redeems that URL for a licence.
//!
//! This module is the pure part of that API:
//! * [`Params`]: a strict `application/x-www-form-urlencoded` reader that keeps
//!   broken percent-escapes, repeats and empty values visible, so each can get
//!   its own vendor code instead of being silently "fixed";
//! * [`TokenRequest::from_params`]: every parameter rule of the vendor's
//!   tables, each failure an [`ExpressPlayError`] with the vendor's negative code;
//! * [`seal`] / [`open`]: the stateless token, AES-256-GCM under a server
//!   [`TokenKey`] with a key id so keys can be rotated without breaking live tokens;
//! * [`aes_key_unwrap`] / [`aes_key_wrap`]: RFC 3394 AES Key Wrap, for `kek` + `ek`.
//!
//! Token layout (then base64url without padding):
//! `version (1 byte, 0x01) ‖ key id (4 bytes) ‖ nonce (12) ‖ AES-256-GCM(payload) ‖ tag (16)`,
//! with `version ‖ key id` as associated data. The payload is compact JSON
//! ([`TokenPayload`]); it carries the content key, so it is confidential as well
//! as authenticated. Anything that fails to open is "invalid token" (-4010),
//! whatever the reason, so a caller learns nothing from the difference.

use std::fmt;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::time::Timestamp;
use crate::{ContentKey, DrmType, Kid};

/// The token format version written in the first byte.
pub const TOKEN_VERSION: u8 = 1;
/// Default and maximum token lifetime: 30 days.
pub const MAX_LIFETIME_SECS: i64 = 30 * 86_400;
/// Longest `cookie`, in characters.
pub const MAX_COOKIE_CHARS: usize = 32;
/// Longest name after `^` in a `kid`.
pub const MAX_KEY_NAME_CHARS: usize = 64;
/// Longest `contentId`, in bytes.
pub const MAX_CONTENT_ID_BYTES: usize = 256;
/// Most `wvExtension` parameters in one request.
pub const MAX_WV_EXTENSIONS: usize = 16;
/// Largest decoded `wvExtension` payload, bytes.
pub const MAX_WV_EXTENSION_BYTES: usize = 4096;
/// Longest token accepted by [`open`], characters (a size limit for the parser).
pub const MAX_TOKEN_CHARS: usize = 16 * 1024;
/// Largest `licenseDuration` / `rental.playDuration`: 10 years in seconds.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The vendor's event error codes (Table 18) that this module and the server use.
pub mod codes {
    /// Invalid token expiration time.
    pub const EXPIRATION: i32 = -2002;
    /// Invalid IP address.
    pub const IP_ADDRESS: i32 = -2003;
    /// Invalid content encryption key.
    pub const CONTENT_KEY: i32 = -2005;
    /// Invalid output control flags specified.
    pub const OUTPUT_CONTROL_FLAGS: i32 = -2008;
    /// Authentication token must be supplied.
    pub const AUTH_MISSING: i32 = -2017;
    /// Authentication token invalid.
    pub const AUTH_INVALID: i32 = -2018;
    /// Insufficient tokens available.
    pub const NO_TOKENS: i32 = -2019;
    /// Missing rental period end time.
    pub const RENTAL_END_MISSING: i32 = -2022;
    /// Missing rental play duration.
    pub const RENTAL_PLAY_MISSING: i32 = -2023;
    /// Invalid rental play duration.
    pub const RENTAL_PLAY_INVALID: i32 = -2025;
    /// Content encryption key must be 32 hexadecimal digits long.
    pub const CONTENT_KEY_LENGTH: i32 = -2027;
    /// ExpressPlay Admin error.
    pub const ADMIN: i32 = -2030;
    /// Service account disabled.
    pub const ACCOUNT_DISABLED: i32 = -2031;
    /// Invalid cookie.
    pub const COOKIE: i32 = -2033;
    /// Invalid output control, values out of range.
    pub const OUTPUT_CONTROL_RANGE: i32 = -2034;
    /// No corresponding value specified.
    pub const NO_VALUE: i32 = -2035;
    /// Extension type should be 4 characters.
    pub const EXTENSION_TYPE: i32 = -2036;
    /// Extension payload should be base64 encoded.
    pub const EXTENSION_PAYLOAD: i32 = -2037;
    /// OutputControlFlag must encode 4 bytes.
    pub const FLAGS_LENGTH: i32 = -2040;
    /// Invalid error format specified.
    pub const ERROR_FORMAT: i32 = -3004;
    /// Invalid token.
    pub const INVALID_TOKEN: i32 = -4010;
    /// Missing kid.
    pub const KID_MISSING: i32 = -4018;
    /// Failed to get content key from key storage service.
    pub const KEY_STORAGE: i32 = -4019;
    /// kid must be 32 hexadecimal characters long.
    pub const KID_LENGTH: i32 = -4020;
    /// kid must be (at most) 64 characters long after the '^'.
    pub const KID_NAME_LENGTH: i32 = -4021;
    /// Invalid kid.
    pub const KID_INVALID: i32 = -4022;
    /// Invalid encrypted key or kek.
    pub const KEK: i32 = -4024;
    /// Invalid general flags.
    pub const GENERAL_FLAGS: i32 = -5003;
    /// Invalid key data specified.
    pub const KEY_DATA: i32 = -6005;
    /// Invalid rental duration specified.
    pub const RENTAL_DURATION: i32 = -6007;
    /// Device ID binding is not supported for Widevine.
    pub const DEVICE_BINDING: i32 = -7002;
    /// Missing security level value.
    pub const SECURITY_LEVEL_MISSING: i32 = -7003;
    /// Invalid security level value.
    pub const SECURITY_LEVEL_INVALID: i32 = -7004;
    /// Missing HDCP output control value.
    pub const HDCP_MISSING: i32 = -7006;
    /// Invalid license duration specified.
    pub const LICENSE_DURATION: i32 = -7007;
    /// Failed to generate Widevine license.
    pub const WIDEVINE_LICENSE: i32 = -7008;
    /// Invalid WVExtension parameters specified.
    pub const WV_EXTENSION: i32 = -7009;
    /// Widevine option disabled.
    pub const WIDEVINE_DISABLED: i32 = -7011;
}

/// The vendor's description of a code (Table 18), without the details.
pub fn description(code: i32) -> &'static str {
    match code {
        -2002 => "Invalid token expiration time",
        -2003 => "Invalid IP address",
        -2005 => "Invalid content encryption key",
        -2008 => "Invalid output control flags specified",
        -2017 => "Authentication token must be supplied",
        -2018 => "Authentication token invalid",
        -2019 => "Insufficient tokens available",
        -2022 => "Missing rental period end time",
        -2023 => "Missing rental play duration",
        -2025 => "Invalid rental play duration",
        -2027 => "Content encryption key must be 32-hexadecimal digits long",
        -2030 => "ExpressPlay Admin error",
        -2031 => "Service Account Disabled",
        -2033 => "Invalid cookie",
        -2034 => "Invalid Output Control, values out of specified range",
        -2035 => "No corresponding value specified",
        -2036 => "Extension type should be 4 characters",
        -2037 => "Extension payload should be Base64 encoded",
        -2040 => "OutputControlFlag must be encode 4 bytes",
        -3004 => "Invalid error format specified",
        -4001 => "Device could not be authenticated",
        -4010 => "Invalid token",
        -4018 => "Missing kid",
        -4019 => "Failed to get content key from key storage service",
        -4020 => "kid must be 32 hexadecimal characters long",
        -4021 => "kid must be 64 characters long after the '^'",
        -4022 => "Invalid kid",
        -4024 => "Invalid encrypted key or kek",
        -5003 => "Invalid general flags",
        -6005 => "Invalid key data specified",
        -6007 => "Invalid rental duration specified",
        -7002 => "Device ID binding is not supported for Widevine",
        -7003 => "Missing security level value",
        -7004 => "Invalid security level value",
        -7006 => "Missing HDCP output control value",
        -7007 => "Invalid license duration specified",
        -7008 => "Failed to generate Widevine license",
        -7009 => "Invalid WVExtension parameters specified",
        -7011 => "Widevine option disabled",
        _ => "Error",
    }
}

/// A refusal with the vendor's negative code. `Display` is the vendor's
/// description followed by `: <details>` when there are details.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}", description(*.code), if .detail.is_empty() { "" } else { ": " }, .detail)]
pub struct ExpressPlayError {
    code: i32,
    detail: String,
}

impl ExpressPlayError {
    /// A refusal with a code (see [`codes`]) and client-safe details.
    pub fn new(code: i32, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// The vendor's negative code.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The details (may be empty).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

type Result<T, E = ExpressPlayError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// One `name=value` pair; the value is `None` when its percent-encoding is
/// broken (a `%` not followed by two hex digits, or bytes that are not UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The decoded name.
    pub name: String,
    /// The decoded value; `None` = broken encoding.
    pub value: Option<String>,
}

/// The parameters of a request, in order, from the query and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<Param>,
    /// A name whose encoding is broken (the request is refused with -2030).
    broken_name: bool,
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict form decoding: `+` is a space, `%XY` a byte; anything else after `%`
/// or non-UTF-8 bytes → `None`.
fn form_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(unhex)?;
                let lo = raw.get(i + 2).copied().and_then(unhex)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Params {
    /// Adds the pairs of an `application/x-www-form-urlencoded` string (a query
    /// string or a body). Empty segments (`a=1&&b=2`) are skipped.
    pub fn extend_from_form(&mut self, raw: &[u8]) {
        for seg in raw.split(|b| *b == b'&') {
            if seg.is_empty() {
                continue;
            }
            let (n, v) = match seg.iter().position(|b| *b == b'=') {
                Some(p) => (&seg[..p], &seg[p + 1..]),
                None => (seg, &b""[..]),
            };
            match form_decode(n) {
                Some(name) => self.pairs.push(Param {
                    name,
                    value: form_decode(v),
                }),
                None => self.broken_name = true,
            }
        }
    }

    /// Parses one form string.
    pub fn from_form(raw: &[u8]) -> Self {
        let mut p = Self::default();
        p.extend_from_form(raw);
        p
    }

    /// Whether some parameter name had broken percent-encoding.
    pub fn has_broken_name(&self) -> bool {
        self.broken_name
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[Param] {
        &self.pairs
    }

    fn all(&self, name: &str) -> Vec<&Param> {
        self.pairs.iter().filter(|p| p.name == name).collect()
    }

    /// The one value of a single-valued parameter: `Ok(None)` when absent;
    /// repeated or broken → `invalid`; empty → -2035.
    pub fn single<'a>(&'a self, name: &str, invalid: i32) -> Result<Option<&'a str>> {
        let all = self.all(name);
        let mut it = all.into_iter();
        let Some(first) = it.next() else {
            return Ok(None);
        };
        if it.next().is_some() {
            return Err(ExpressPlayError::new(
                invalid,
                format!("{name} is given more than once"),
            ));
        }
        match first.value.as_deref() {
            None => Err(ExpressPlayError::new(
                invalid,
                format!("{name} has broken percent-encoding"),
            )),
            Some("") => Err(ExpressPlayError::new(
                codes::NO_VALUE,
                format!("{name} is empty"),
            )),
            Some(v) => Ok(Some(v)),
        }
    }

    /// The parameter named, as for [`Params::single`], but required (`missing` when absent).
    pub fn required<'a>(&'a self, name: &str, invalid: i32, missing: i32) -> Result<&'a str> {
        self.single(name, invalid)?
            .ok_or_else(|| ExpressPlayError::new(missing, format!("{name} is required")))
    }
}

/// How refusals are written (`errorFormat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `text/html` (the default).
    #[default]
    Html,
    /// `application/json`.
    Json,
}

impl ErrorFormat {
    /// Reads `errorFormat`. On error, the refusal (-3004) and the format to
    /// write it in (html, the default).
    pub fn from_params(p: &Params) -> Result<ErrorFormat> {
        match p.single("errorFormat", codes::ERROR_FORMAT) {
            Ok(None) => Ok(ErrorFormat::Html),
            Ok(Some("html")) => Ok(ErrorFormat::Html),
            Ok(Some("json")) => Ok(ErrorFormat::Json),
            Ok(Some(other)) => Err(ExpressPlayError::new(
                codes::ERROR_FORMAT,
                truncate_for_message(other),
            )),
            Err(e) if e.code == codes::NO_VALUE => {
                Err(ExpressPlayError::new(codes::ERROR_FORMAT, "(empty)"))
            }
            Err(e) => Err(e),
        }
    }
}

fn truncate_for_message(s: &str) -> String {
    let t: String = s.chars().take(40).filter(|c| !c.is_control()).collect();
    if s.chars().count() > 40 {
        format!("{t}…")
    } else {
        t
    }
}

/// The customer authenticator (`customerAuthenticator`): -2017 when absent,
/// -2018 when repeated or broken, -2035 when empty.
pub fn authenticator(p: &Params) -> Result<&str> {
    p.required(
        "customerAuthenticator",
        codes::AUTH_INVALID,
        codes::AUTH_MISSING,
    )
}

// ---------------------------------------------------------------------------
// The token request
// ---------------------------------------------------------------------------

/// Which licence the token is for (which endpoint minted it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenDrm {
    /// `/hms/wv/token` → `/hms/wv/rights/`.
    #[serde(rename = "wv")]
    Widevine,
    /// `/hms/ck/token` → `/hms/ck/rights/`.
    #[serde(rename = "ck")]
    ClearKey,
}

impl From<TokenDrm> for DrmType {
    /// The DRM of the licence the token is redeemed for.
    fn from(d: TokenDrm) -> DrmType {
        match d {
            TokenDrm::Widevine => DrmType::Widevine,
            TokenDrm::ClearKey => DrmType::ClearKey,
        }
    }
}

impl TokenDrm {
    /// The path segment: `wv` or `ck`.
    pub fn segment(self) -> &'static str {
        match self {
            TokenDrm::Widevine => "wv",
            TokenDrm::ClearKey => "ck",
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

/// The `kid` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KidSpec {
    /// 32 hex digits (either case).
    Hex(Kid),
    /// `^name`: a key in the server's key store (the name without `^`).
    Name(String),
}

/// Where the content key comes from. `Debug` prints `Plain(***)` for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `contentKey`, or `ek` unwrapped with `kek`.
    Plain(ContentKey),
    /// The key store, by the `^name` kid.
    Store,
}

/// A rental (`rightsType=Rental`, from the vendor's PlayReady token API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rental {
    /// Rental period end, unix seconds.
    #[serde(rename = "e")]
    pub period_end: i64,
    /// Play duration from first play, seconds.
    #[serde(rename = "p")]
    pub play_duration: u64,
}

/// A validated token request (everything but the authenticator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The key id.
    pub kid: KidSpec,
    /// The content key's source.
    pub key: KeySource,
    /// `contentId`.
    pub content_id: Option<String>,
    /// `securityLevel` 1–5.
    pub security_level: u8,
    /// `hdcpOutputControl` 0–2.
    pub hdcp_output_control: u8,
    /// `licenseDuration` seconds; `None` = unlimited.
    pub license_duration: Option<u64>,
    /// `wvExtension` (type, base64 payload as given), in order.
    pub wv_extensions: Vec<(String, String)>,
    /// Rental rights, when `rightsType=Rental`.
    pub rental: Option<Rental>,
    /// Token expiry, unix seconds.
    pub expires_at: i64,
    /// `cookie`.
    pub cookie: Option<String>,
}

fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = unhex(b[2 * i])? << 4 | unhex(b[2 * i + 1])?;
    }
    Some(out)
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|c| Some(unhex(c[0])? << 4 | unhex(c[1])?))
        .collect()
}

/// A decimal integer without sign, leading `+`, spaces or overflow.
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `expirationTime`-style time: RFC 3339 in the `Z` zone (fractional seconds
/// allowed and dropped) or `+seconds` relative to `now`.
fn parse_time(s: &str, now: i64) -> Option<i64> {
    if let Some(rel) = s.strip_prefix('+') {
        let secs = i64::try_from(parse_uint(rel)?).ok()?;
        return now.checked_add(secs);
    }
    let whole = match (s.find('.'), s.strip_suffix('Z')) {
        (Some(dot), Some(body)) => {
            let frac = &body[dot + 1..];
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("{}Z", &s[..dot])
        }
        (Some(_), None) => return None,
        (None, _) => s.to_owned(),
    };
    Timestamp::parse(&whole).ok().map(Timestamp::unix)
}

impl TokenRequest {
    /// Applies every parameter rule, in a fixed order (the first failure is
    /// answered). `now` is unix seconds.
    ///
    /// Unknown parameters are ignored (as `customerAuthenticator` and
    /// `errorFormat` are here: the caller reads them first).
    pub fn from_params(p: &Params, now: i64) -> Result<TokenRequest> {
        use codes::*;
        // generalFlags: 4 hex characters, only '0000'.
        if let Some(f) = p.single("generalFlags", GENERAL_FLAGS)? {
            if f.len() != 4 {
                return Err(ExpressPlayError::new(
                    FLAGS_LENGTH,
                    "generalFlags must be 4 hexadecimal characters",
                ));
            }
            if f != "0000" {
                return Err(ExpressPlayError::new(
                    GENERAL_FLAGS,
                    "'0000' is the only allowed value",
                ));
            }
        }
        if p.single("deviceId", DEVICE_BINDING)?.is_some() {
            return Err(ExpressPlayError::new(DEVICE_BINDING, ""));
        }

        // kid: 32 hex or ^name.
        let kid_text = p.required("kid", KID_INVALID, KID_MISSING)?;
        let kid = if let Some(name) = kid_text.strip_prefix('^') {
            let n = name.chars().count();
            if n == 0 || n > MAX_KEY_NAME_CHARS {
                return Err(ExpressPlayError::new(
                    KID_NAME_LENGTH,
                    format!("the name after '^' must have 1 to {MAX_KEY_NAME_CHARS} characters"),
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(ExpressPlayError::new(
                    KID_INVALID,
                    "control characters in the key name",
                ));
            }
            KidSpec::Name(name.to_owned())
        } else if kid_text.len() != 32 {
            return Err(ExpressPlayError::new(
                KID_LENGTH,
                format!("got {} characters", kid_text.chars().count()),
            ));
        } else {
            KidSpec::Hex(Kid(parse_hex16(kid_text).ok_or_else(|| {
                ExpressPlayError::new(KID_INVALID, "kid is not hexadecimal")
            })?))
        };

        // The key: contentKey, kek + ek, or the ^name kid's stored key.
        let content_key = p.single("contentKey", CONTENT_KEY)?;
        let kek = p.single("kek", KEK)?;
        let ek = p.single("ek", KEK)?;
        let key = match (content_key, kek, ek) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ExpressPlayError::new(
                    KEY_DATA,
                    "give contentKey, or kek and ek, not both",
                ))
            }
            (Some(ck), None, None) => {
                if matches!(kid, KidSpec::Name(_)) {
                    return Err(ExpressPlayError::new(
                        KEY_DATA,
                        "a ^name kid takes its key from the key store; do not give contentKey",
                    ));
                }
                if !ck.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ExpressPlayError::new(
                        CONTENT_KEY,
                        "contentKey is not hexadecimal",
                    ));
                }
                if ck.len() != 32 {
                    return Err(ExpressPlayError::new(
                        CONTENT_KEY_LENGTH,
                        format!("got {} digits", ck.len()),
                    ));
                }
                KeySource::Plain(ContentKey::new(parse_hex16(ck).ok_or_else(|| {
                    ExpressPlayError::new(CONTENT_KEY, "contentKey is not hexadecimal")
                })?))
            }
            (None, Some(kek), Some(ek)) => {
                let mut kek = parse_hex(kek)
                    .ok_or_else(|| ExpressPlayError::new(KEK, "kek is not hexadecimal"))?;
                let wrapped = parse_hex(ek)
                    .ok_or_else(|| ExpressPlayError::new(KEK, "ek is not hexadecimal"))?;
                let key = aes_key_unwrap(&kek, &wrapped);
                kek.zeroize();
                let mut key = key.map_err(|e| ExpressPlayError::new(KEK, e.to_string()))?;
                let out = ContentKey::from_slice(&key);
                key.zeroize();
                KeySource::Plain(out.map_err(|_| {
                    ExpressPlayError::new(KEK, "ek does not unwrap to a 16-byte key")
                })?)
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(ExpressPlayError::new(
                    KEK,
                    "kek and ek must be given together",
                ))
            }
            (None, None, None) => match kid {
                KidSpec::Name(_) => KeySource::Store,
                KidSpec::Hex(_) => {
                    return Err(ExpressPlayError::new(
                        CONTENT_KEY,
                        "contentKey is required unless kek and ek or a ^name kid are given",
                    ))
                }
            },
        };

        let content_id = p.single("contentId", KEY_DATA)?.map(str::to_owned);
        if let Some(c) = &content_id {
            if c.len() > MAX_CONTENT_ID_BYTES || c.chars().any(char::is_control) {
                return Err(ExpressPlayError::new(
                    KEY_DATA,
                    format!("contentId must be 1 to {MAX_CONTENT_ID_BYTES} bytes of text"),
                ));
            }
        }

        let sl = p.required(
            "securityLevel",
            SECURITY_LEVEL_INVALID,
            SECURITY_LEVEL_MISSING,
        )?;
        let security_level = match sl {
            "1" | "2" | "3" | "4" | "5" => sl.as_bytes()[0] - b'0',
            _ => {
                return Err(ExpressPlayError::new(
                    SECURITY_LEVEL_INVALID,
                    "allowed values are 1 to 5",
                ))
            }
        };

        let h = p.required("hdcpOutputControl", OUTPUT_CONTROL_FLAGS, HDCP_MISSING)?;
        let hdcp_output_control = match parse_uint(h) {
            None => {
                return Err(ExpressPlayError::new(
                    OUTPUT_CONTROL_FLAGS,
                    "hdcpOutputControl is not a number",
                ))
            }
            Some(v @ 0..=2) if h.len() == 1 => v as u8,
            Some(_) => {
                return Err(ExpressPlayError::new(
                    OUTPUT_CONTROL_RANGE,
                    "allowed values are 0, 1, 2",
                ))
            }
        };

        let license_duration = match p.single("licenseDuration", LICENSE_DURATION)? {
            None => None,
            Some(d) => match parse_uint(d) {
                Some(v) if v <= MAX_DURATION_SECS => Some(v),
                _ => {
                    return Err(ExpressPlayError::new(
                        LICENSE_DURATION,
                        format!("licenseDuration must be 0 to {MAX_DURATION_SECS} seconds"),
                    ))
                }
            },
        };

        let mut wv_extensions = Vec::new();
        for ext in p.all("wvExtension") {
            let v = ext.value.as_deref().ok_or_else(|| {
                ExpressPlayError::new(WV_EXTENSION, "wvExtension has broken percent-encoding")
            })?;
            if v.is_empty() {
                return Err(ExpressPlayError::new(NO_VALUE, "wvExtension is empty"));
            }
            let mut parts = v.split(',');
            let (Some(t), Some(payload), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ExpressPlayError::new(WV_EXTENSION, "expected type,payload"));
            };
            if t.chars().count() != 4 || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ExpressPlayError::new(EXTENSION_TYPE, ""));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map_err(|_| ExpressPlayError::new(EXTENSION_PAYLOAD, ""))?;
            if decoded.len() > MAX_WV_EXTENSION_BYTES {
                return Err(ExpressPlayError::new(
                    WV_EXTENSION,
                    format!("payload larger than {MAX_WV_EXTENSION_BYTES} bytes"),
                ));
            }
            wv_extensions.push((t.to_owned(), payload.to_owned()));
            if wv_extensions.len() > MAX_WV_EXTENSIONS {
                return Err(ExpressPlayError::new(
                    WV_EXTENSION,
                    format!("at most {MAX_WV_EXTENSIONS} extensions"),
                ));
            }
        }

        let rental = match p.single("rightsType", KEY_DATA)? {
            None | Some("BuyToOwn") => None,
            Some("Rental") => {
                let end =
                    p.required("rental.periodEndTime", RENTAL_DURATION, RENTAL_END_MISSING)?;
                let play = p.required(
                    "rental.playDuration",
                    RENTAL_PLAY_INVALID,
                    RENTAL_PLAY_MISSING,
                )?;
                let period_end = parse_time(end, now).filter(|e| *e > now).ok_or_else(|| {
                    ExpressPlayError::new(
                        RENTAL_DURATION,
                        "rental.periodEndTime must be a future RFC 3339 Z time or +seconds",
                    )
                })?;
                let play_duration = parse_uint(play)
                    .filter(|d| (1..=MAX_DURATION_SECS).contains(d))
                    .ok_or_else(|| {
                        ExpressPlayError::new(
                            RENTAL_PLAY_INVALID,
                            format!("rental.playDuration must be 1 to {MAX_DURATION_SECS} seconds"),
                        )
                    })?;
                Some(Rental {
                    period_end,
                    play_duration,
                })
            }
            Some(_) => {
                return Err(ExpressPlayError::new(
                    KEY_DATA,
                    "rightsType must be BuyToOwn or Rental",
                ))
            }
        };

        let expires_at = match p.single("expirationTime", EXPIRATION)? {
            None => now + MAX_LIFETIME_SECS,
            Some(t) => {
                let at = parse_time(t, now).ok_or_else(|| {
                    ExpressPlayError::new(
                        EXPIRATION,
                        "expected RFC 3339 in the Z zone (2006-04-14T12:01:10Z) or +seconds",
                    )
                })?;
                if at <= now {
                    return Err(ExpressPlayError::new(
                        EXPIRATION,
                        "the time is not in the future",
                    ));
                }
                if at - now > MAX_LIFETIME_SECS {
                    return Err(ExpressPlayError::new(
                        EXPIRATION,
                        "the maximum token lifetime is 30 days",
                    ));
                }
                at
            }
        };

        let cookie = p.single("cookie", COOKIE)?.map(str::to_owned);
        if let Some(c) = &cookie {
            if c.chars().count() > MAX_COOKIE_CHARS || c.chars().any(char::is_control) {
                return Err(ExpressPlayError::new(
                    COOKIE,
                    format!("at most {MAX_COOKIE_CHARS} printable characters"),
                ));
            }
        }

        Ok(TokenRequest {
            kid,
            key,
            content_id,
            security_level,
            hdcp_output_control,
            license_duration,
            wv_extensions,
            rental,
            expires_at,
            cookie,
        })
    }
}

// ---------------------------------------------------------------------------
// The sealed token
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// RFC 3394 AES Key Wrap
// ---------------------------------------------------------------------------

/// Why an RFC 3394 unwrap failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyWrapError {
    /// The KEK is not 16, 24 or 32 bytes.
    #[error("kek must be 16, 24 or 32 bytes")]
    KekLength,
    /// The wrapped data is not a multiple of 8 bytes, at least 24.
    #[error("ek must be a multiple of 8 bytes, at least 24")]
    DataLength,
    /// The integrity check failed: wrong KEK or altered data.
    #[error("ek does not unwrap under this kek")]
    Integrity,
}

const IV_3394: [u8; 8] = [0xa6; 8];

enum AnyAes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl AnyAes {
    fn new(kek: &[u8]) -> Result<AnyAes, KeyWrapError> {
        match kek.len() {
            16 => aes::Aes128::new_from_slice(kek).map(AnyAes::A128),
            24 => aes::Aes192::new_from_slice(kek).map(AnyAes::A192),
            32 => aes::Aes256::new_from_slice(kek).map(AnyAes::A256),
            _ => return Err(KeyWrapError::KekLength),
        }
        .map_err(|_| KeyWrapError::KekLength)
    }
    fn encrypt(&self, b: &mut [u8; 16]) {
        let block = GenericArray::from_mut_slice(b);
        match self {
            AnyAes::A128(c) => c.encrypt_block(block),
            AnyAes::A192(c) => c.encrypt_block(block),
            AnyAes::A256(c) => c.encrypt_block(block),
        }
    }
    fn decrypt(&self, b: &mut [u8; 16]) {
        let block = GenericArray::from_mut_slice(b);
        match self {
            AnyAes::A128(c) => c.decrypt_block(block),
            AnyAes::A192(c) => c.decrypt_block(block),
            AnyAes::A256(c) => c.decrypt_block(block),
        }
    }
}

/// RFC 3394 §2.2.2 key unwrap (default IV `A6A6A6A6A6A6A6A6`).
pub fn aes_key_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    let cipher = AnyAes::new(kek)?;
    if !wrapped.len().is_multiple_of(8) || wrapped.len() < 24 || wrapped.len() > 1024 {
        return Err(KeyWrapError::DataLength);
    }
    let n = wrapped.len() / 8 - 1;
    let mut a = [0u8; 8];
    a.copy_from_slice(&wrapped[..8]);
    let mut r = wrapped[8..].to_vec();
    let mut b = [0u8; 16];
    for j in (0..6u64).rev() {
        for i in (1..=n).rev() {
            let t = (n as u64) * j + i as u64;
            let tb = t.to_be_bytes();
            for k in 0..8 {
                b[k] = a[k] ^ tb[k];
            }
            b[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            cipher.decrypt(&mut b);
            a.copy_from_slice(&b[..8]);
            r[(i - 1) * 8..i * 8].copy_from_slice(&b[8..]);
        }
    }
    b.zeroize();
    if a == IV_3394 {
        Ok(r)
    } else {
        r.zeroize();
        Err(KeyWrapError::Integrity)
    }
}

/// RFC 3394 §2.2.1 key wrap (default IV), for tests and tools.
pub fn aes_key_wrap(kek: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    let cipher = AnyAes::new(kek)?;
    if !plain.len().is_multiple_of(8) || plain.len() < 16 || plain.len() > 1016 {
        return Err(KeyWrapError::DataLength);
    }
    let n = plain.len() / 8;
    let mut a = IV_3394;
    let mut r = plain.to_vec();
    let mut b = [0u8; 16];
    for j in 0..6u64 {
        for i in 1..=n {
            b[..8].copy_from_slice(&a);
            b[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            cipher.encrypt(&mut b);
            let t = ((n as u64) * j + i as u64).to_be_bytes();
            for k in 0..8 {
                a[k] = b[k] ^ t[k];
            }
            r[(i - 1) * 8..i * 8].copy_from_slice(&b[8..]);
        }
    }
    b.zeroize();
    let mut out = a.to_vec();
    out.extend_from_slice(&r);
    r.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        parse_hex(&s.replace(' ', "")).unwrap()
    }

    /// RFC 3394 §4.1 – §4.6, every vector of the RFC.
    #[test]
    fn rfc3394_vectors() {
        let cases = [
            (
                "000102030405060708090A0B0C0D0E0F",
                "00112233445566778899AABBCCDDEEFF",
                "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5",
            ),
            (
                "000102030405060708090A0B0C0D0E0F1011121314151617",
                "00112233445566778899AABBCCDDEEFF",
                "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF",
                "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7",
            ),
            (
                "000102030405060708090A0B0C0D0E0F1011121314151617",
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
            ),
        ];
        for (kek, key, wrapped) in cases {
            assert_eq!(aes_key_unwrap(&h(kek), &h(wrapped)).unwrap(), h(key));
            assert_eq!(aes_key_wrap(&h(kek), &h(key)).unwrap(), h(wrapped));
        }
        let mut bad = h("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
        bad[10] ^= 1;
        let kek = h("000102030405060708090A0B0C0D0E0F");
        assert_eq!(aes_key_unwrap(&kek, &bad), Err(KeyWrapError::Integrity));
        assert_eq!(
            aes_key_unwrap(&kek[..15], &bad),
            Err(KeyWrapError::KekLength)
        );
        assert_eq!(
            aes_key_unwrap(&kek, &bad[..20]),
            Err(KeyWrapError::DataLength)
        );
    }

    fn params(q: &str) -> Params {
        Params::from_form(q.as_bytes())
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn strict_form_decoding() {
        let p = params("a=%41%2b+b&b=%zz&%4=x&c");
        assert_eq!(p.pairs()[0].value.as_deref(), Some("A+ b"));
        assert_eq!(p.pairs()[1].value, None);
        assert!(p.has_broken_name());
        assert_eq!(p.pairs()[2].name, "c");
        assert_eq!(p.pairs()[2].value.as_deref(), Some(""));
        assert_eq!(params("x=%ff").pairs()[0].value, None, "not UTF-8");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("+60", NOW), Some(NOW + 60));
        assert_eq!(parse_time("2006-04-14T12:01:10Z", NOW), Some(1_145_016_070));
        assert_eq!(
            parse_time("2006-04-14T12:01:10.250Z", NOW),
            Some(1_145_016_070)
        );
        for bad in [
            "2006-04-14T12:01:10+01:00",
            "2006-04-14T12:01:10",
            "+-1",
            "+",
            "60",
            "+1e3",
            "2006-04-14T12:01:10.Z",
        ] {
            assert_eq!(parse_time(bad, NOW), None, "{bad}");
        }
    }

    #[test]
    fn request_rules() {
        let base = "kid=0123456789abcdef0123456789ABCDEF&contentKey=00112233445566778899aabbccddeeff&securityLevel=1&hdcpOutputControl=0";
        let r = TokenRequest::from_params(&params(base), NOW).unwrap();
        assert_eq!(r.expires_at, NOW + MAX_LIFETIME_SECS);
        assert_eq!(r.license_duration, None);
        let code = |q: &str| {
            TokenRequest::from_params(&params(&format!("{base}&{q}")), NOW)
                .unwrap_err()
                .code()
        };
        assert_eq!(code("expirationTime=+0"), -2002);
        assert_eq!(code("expirationTime=+999999999"), -2002);
        assert_eq!(code("cookie=123456789012345678901234567890123"), -2033);
        assert_eq!(code("generalFlags=0001"), -5003);
        assert_eq!(code("generalFlags=000"), -2040);
        assert_eq!(code("wvExtension=abc,AAAA"), -2036);
        assert_eq!(code("wvExtension=abcd,!!"), -2037);
        assert_eq!(code("wvExtension=abcd"), -7009);
        assert_eq!(code("securityLevel=2"), -7004, "repeated");
        assert_eq!(code("rightsType=Rental"), -2022);
    }

    /// The committed vector: fixed key, nonce and time, byte for byte.
    #[test]
    fn sealed_token_vector() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../tests/vectors/expressplay.json")).unwrap();
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
