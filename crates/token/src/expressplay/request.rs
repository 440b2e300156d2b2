//! The token request: every parameter rule of the vendor's tables, applied in a
//! fixed order, each failure an [`ExpressPlayError`] with the vendor's code.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::{
    codes, parse_hex, parse_hex16, ExpressPlayError, Params, Result, MAX_CONTENT_ID_BYTES,
    MAX_COOKIE_CHARS, MAX_DURATION_SECS, MAX_KEY_NAME_CHARS, MAX_LIFETIME_SECS, MAX_WV_EXTENSIONS,
    MAX_WV_EXTENSION_BYTES,
};
use crate::crypto::aes_key_unwrap;
use crate::time::Timestamp;
use crate::{ContentKey, Kid};

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
        Self::parse(p, now, true)
    }

    /// As [`TokenRequest::from_params`] for a token of `drm`: `securityLevel`
    /// and `hdcpOutputControl` are Widevine parameters, required for Widevine
    /// and ClearKey tokens as before, optional for FairPlay tokens (default
    /// 1 and 0, checked the same way when given).
    ///
    /// # Errors
    /// As [`TokenRequest::from_params`].
    pub fn from_params_for(p: &Params, now: i64, drm: super::TokenDrm) -> Result<TokenRequest> {
        Self::parse(p, now, drm != super::TokenDrm::FairPlay)
    }

    fn parse(p: &Params, now: i64, widevine_required: bool) -> Result<TokenRequest> {
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

        let sl = if widevine_required {
            p.required(
                "securityLevel",
                SECURITY_LEVEL_INVALID,
                SECURITY_LEVEL_MISSING,
            )?
        } else {
            p.single("securityLevel", SECURITY_LEVEL_INVALID)?
                .unwrap_or("1")
        };
        let security_level = match sl {
            "1" | "2" | "3" | "4" | "5" => sl.as_bytes()[0] - b'0',
            _ => {
                return Err(ExpressPlayError::new(
                    SECURITY_LEVEL_INVALID,
                    "allowed values are 1 to 5",
                ))
            }
        };

        let h = if widevine_required {
            p.required("hdcpOutputControl", OUTPUT_CONTROL_FLAGS, HDCP_MISSING)?
        } else {
            p.single("hdcpOutputControl", OUTPUT_CONTROL_FLAGS)?
                .unwrap_or("0")
        };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn params(q: &str) -> Params {
        Params::from_form(q.as_bytes())
    }

    const NOW: i64 = 1_700_000_000;

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
}
