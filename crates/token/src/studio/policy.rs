//! The Studio DRM policy (seed 002): the general section plus `geo_restrictions`,
//! `session`, `fairplay`, `playready` and `widevine`, validated field by field.
//!
//! Validation walks the JSON itself (not serde) so that every refusal names the
//! exact field path (`policy.geo_restrictions.country_code_whitelist[1]`) and
//! carries one of a few stable codes ([`PolicyErrorKind::code`]). Unknown
//! fields are refused and named: a typo such as `ofline` must not silently
//! grant a streaming-only licence where the customer meant something else.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::country;
use crate::Timestamp;

/// Largest duration accepted anywhere in a policy: 10 years, in seconds.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;
/// Renewal interval of online licences (seconds), per the seed: a renewable
/// licence needs `rental_duration_seconds` above this to avoid gaps.
pub const RENEWAL_INTERVAL_SECS: u64 = 1800;
/// Largest `content_id`, bytes.
pub const MAX_CONTENT_ID_LEN: usize = 256;
/// Most `client_data` entries.
pub const MAX_CLIENT_DATA: usize = 32;
/// Most session headers.
pub const MAX_SESSION_HEADERS: usize = 32;
/// Largest session URL, bytes.
pub const MAX_URL_LEN: usize = 2048;

/// What is wrong with one policy field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// A field keyward does not know (refused, never ignored).
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// The JSON type is wrong.
    WrongType {
        /// What was expected, e.g. `"integer"`.
        expected: &'static str,
    },
    /// A number outside its range (negative or absurd durations, levels).
    OutOfRange {
        /// The accepted range, in words.
        range: &'static str,
    },
    /// A value that is not one of the accepted ones (country code, URL, method…).
    InvalidValue {
        /// Why.
        reason: &'static str,
    },
    /// Two fields that cannot go together.
    Conflict {
        /// Why.
        reason: &'static str,
    },
}

impl PolicyErrorKind {
    /// The stable code the HTTP API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyErrorKind::UnknownField => "studio_unknown_field",
            PolicyErrorKind::MissingField => "studio_missing_field",
            PolicyErrorKind::WrongType { .. } => "studio_wrong_type",
            PolicyErrorKind::OutOfRange { .. } => "studio_out_of_range",
            PolicyErrorKind::InvalidValue { .. } => "studio_invalid_value",
            PolicyErrorKind::Conflict { .. } => "studio_policy_conflict",
        }
    }
}

/// A refused policy field: its path and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// The field path, e.g. `policy.widevine.security_level`.
    pub path: String,
    /// What is wrong.
    pub kind: PolicyErrorKind,
}

impl PolicyError {
    fn new(path: impl Into<String>, kind: PolicyErrorKind) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PolicyErrorKind::UnknownField => write!(f, "{}: unknown field", self.path),
            PolicyErrorKind::MissingField => write!(f, "{}: required field missing", self.path),
            PolicyErrorKind::WrongType { expected } => {
                write!(f, "{}: wrong type, expected {expected}", self.path)
            }
            PolicyErrorKind::OutOfRange { range } => {
                write!(f, "{}: out of range, must be {range}", self.path)
            }
            PolicyErrorKind::InvalidValue { reason } => write!(f, "{}: {reason}", self.path),
            PolicyErrorKind::Conflict { reason } => write!(f, "{}: {reason}", self.path),
        }
    }
}

impl std::error::Error for PolicyError {}

type R<T> = Result<T, PolicyError>;

/// The geo section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GeoRestrictions {
    /// Allowed countries, ISO 3166-1 alpha-3. Empty = no country rule.
    pub country_code_whitelist: Vec<String>,
    /// Allowed metro (DMA) codes. Empty = no metro rule.
    pub metro_code_whitelist: Vec<u32>,
    /// Refuse addresses on the configured VPN / Tor lists. Default false.
    pub block_vpn_and_tor: bool,
}

/// How the session webhook is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMethod {
    /// `GET url?sessionId=<id>`.
    Get,
    /// `POST url` with `{"sessionId": id}`.
    Post,
}

/// The session webhook: 200 = allow, anything else = refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// The session id sent to the webhook.
    pub id: String,
    /// The webhook URL (http or https).
    pub url: String,
    /// GET (default) or POST.
    pub method: SessionMethod,
    /// Headers sent with the call.
    pub headers: BTreeMap<String, String>,
}

/// FairPlay licence type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FairPlayLicenseType {
    /// `l`: lease.
    Lease,
    /// `p`: persistent.
    Persistent,
    /// `r`: rental.
    Rental,
}

/// The FairPlay section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FairPlayPolicy {
    /// Licence type.
    pub license_type: Option<FairPlayLicenseType>,
    /// Playback window after first play (persistent licences), seconds.
    pub firstplayback_seconds: Option<u64>,
    /// Lease licence duration, seconds.
    pub license_duration_seconds: Option<u64>,
    /// Rental duration, seconds.
    pub rental_duration_seconds: Option<u64>,
}

/// The PlayReady section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlayReadyPolicy {
    /// Licence start.
    pub begin_datetime: Option<Timestamp>,
    /// Licence end.
    pub end_datetime: Option<Timestamp>,
    /// Playback window after first play, seconds.
    pub firstplayback_seconds: Option<u64>,
    /// Minimum client security level: 150, 2000 or 3000.
    pub security_level: Option<u16>,
}

/// The Widevine section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WidevinePolicy {
    /// Playback window after first play, seconds.
    pub firstplayback_seconds: Option<u64>,
    /// Licence duration, seconds.
    pub license_duration_seconds: Option<u64>,
    /// Rental duration, seconds.
    pub rental_duration_seconds: Option<u64>,
    /// Minimum security level, 1 to 5.
    pub security_level: Option<u8>,
}

/// A validated Studio DRM policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StudioPolicy {
    /// Content id the token is for.
    pub content_id: Option<String>,
    /// Compare the request's content id with `content_id` (default: true when
    /// `content_id` is set).
    pub match_content_id: Option<bool>,
    /// Licence validity, seconds.
    pub rental_duration_seconds: Option<u64>,
    /// Playback window after first play, seconds (offline only).
    pub firstplayback_seconds: Option<u64>,
    /// Licence may be stored for offline playback. Default false.
    pub offline: bool,
    /// Licence may be renewed. Default false.
    pub can_renew: bool,
    /// Free key/value pairs for statistics (string, number or boolean values).
    pub client_data: Map<String, Value>,
    /// Geo rules.
    pub geo_restrictions: Option<GeoRestrictions>,
    /// Session webhook.
    pub session: Option<SessionPolicy>,
    /// FairPlay overrides.
    pub fairplay: Option<FairPlayPolicy>,
    /// PlayReady overrides.
    pub playready: Option<PlayReadyPolicy>,
    /// Widevine overrides.
    pub widevine: Option<WidevinePolicy>,
}

impl StudioPolicy {
    /// Validates a policy object; errors name the path under `policy`.
    pub fn from_value(v: &Value) -> R<Self> {
        let root = "policy";
        let m = object(v, root)?;
        let mut p = StudioPolicy::default();
        for (k, val) in m {
            let path = format!("{root}.{k}");
            match k.as_str() {
                "content_id" => {
                    let s = string(val, &path, MAX_CONTENT_ID_LEN)?;
                    if s.is_empty() || s.chars().any(char::is_control) {
                        return Err(PolicyError::new(
                            path,
                            PolicyErrorKind::InvalidValue {
                                reason: "must be 1 to 256 bytes without control characters",
                            },
                        ));
                    }
                    p.content_id = Some(s);
                }
                "match_content_id" => p.match_content_id = Some(boolean(val, &path)?),
                "rental_duration_seconds" => {
                    p.rental_duration_seconds = Some(duration(val, &path)?)
                }
                "firstplayback_seconds" => p.firstplayback_seconds = Some(duration(val, &path)?),
                "offline" => p.offline = boolean(val, &path)?,
                "can_renew" => p.can_renew = boolean(val, &path)?,
                "client_data" => p.client_data = client_data(val, &path)?,
                "geo_restrictions" => p.geo_restrictions = Some(geo(val, &path)?),
                "session" => p.session = Some(session(val, &path)?),
                "fairplay" => p.fairplay = Some(fairplay(val, &path)?),
                "playready" => p.playready = Some(playready(val, &path)?),
                "widevine" => p.widevine = Some(widevine(val, &path)?),
                _ => return Err(PolicyError::new(path, PolicyErrorKind::UnknownField)),
            }
        }
        p.check_consistency()?;
        Ok(p)
    }

    fn check_consistency(&self) -> R<()> {
        let offline_only = |path: &str, v: Option<u64>| -> R<()> {
            if v.is_some() && !self.offline {
                return Err(PolicyError::new(
                    path,
                    PolicyErrorKind::Conflict {
                        reason: "firstplayback_seconds cannot be used when offline is false",
                    },
                ));
            }
            Ok(())
        };
        offline_only("policy.firstplayback_seconds", self.firstplayback_seconds)?;
        if let Some(f) = &self.fairplay {
            offline_only(
                "policy.fairplay.firstplayback_seconds",
                f.firstplayback_seconds,
            )?;
        }
        if let Some(pr) = &self.playready {
            offline_only(
                "policy.playready.firstplayback_seconds",
                pr.firstplayback_seconds,
            )?;
            if let (Some(b), Some(e)) = (pr.begin_datetime, pr.end_datetime) {
                if b >= e {
                    return Err(PolicyError::new(
                        "policy.playready.end_datetime",
                        PolicyErrorKind::Conflict {
                            reason: "end_datetime must be after begin_datetime",
                        },
                    ));
                }
            }
        }
        if let Some(w) = &self.widevine {
            offline_only(
                "policy.widevine.firstplayback_seconds",
                w.firstplayback_seconds,
            )?;
        }
        if self.can_renew {
            // The seed: renewal happens every 1800 s, so a renewable licence
            // needs a rental duration above that, or playback has gaps.
            let (path, rental) = match self
                .widevine
                .as_ref()
                .and_then(|w| w.rental_duration_seconds)
            {
                Some(r) => ("policy.widevine.rental_duration_seconds", Some(r)),
                None => (
                    "policy.rental_duration_seconds",
                    self.rental_duration_seconds,
                ),
            };
            if rental.is_none_or(|r| r <= RENEWAL_INTERVAL_SECS) {
                return Err(PolicyError::new(
                    path,
                    PolicyErrorKind::Conflict {
                        reason: "can_renew needs rental_duration_seconds greater than 1800 (licences renew every 1800 s)",
                    },
                ));
            }
        }
        Ok(())
    }

    /// Whether a licence request's content id must equal `content_id`.
    pub fn must_match_content(&self) -> bool {
        self.content_id.is_some() && self.match_content_id != Some(false)
    }
}

/// Deep-merges `base` under `over`: objects merge key by key, any other value
/// in `over` wins. Used for a client's default policy under the request's.
pub fn merge_under(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(bv) => merge_under(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, o) => o.clone(),
    }
}

fn wrong(path: &str, expected: &'static str) -> PolicyError {
    PolicyError::new(path, PolicyErrorKind::WrongType { expected })
}

fn object<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| wrong(path, "object"))
}

fn boolean(v: &Value, path: &str) -> R<bool> {
    v.as_bool().ok_or_else(|| wrong(path, "boolean"))
}

fn string(v: &Value, path: &str, max: usize) -> R<String> {
    let s = v.as_str().ok_or_else(|| wrong(path, "string"))?;
    if s.len() > max {
        return Err(PolicyError::new(
            path,
            PolicyErrorKind::OutOfRange {
                range: "a shorter string",
            },
        ));
    }
    Ok(s.to_owned())
}

/// A whole number of seconds, 0 to [`MAX_DURATION_SECS`].
fn duration(v: &Value, path: &str) -> R<u64> {
    let range = PolicyErrorKind::OutOfRange {
        range: "0 to 315360000 seconds (10 years)",
    };
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                if u > MAX_DURATION_SECS {
                    return Err(PolicyError::new(path, range));
                }
                Ok(u)
            } else if n.as_i64().is_some()
                || n.as_f64()
                    .is_some_and(|f| f < 0.0 || f > MAX_DURATION_SECS as f64)
            {
                // Negative, or a float beyond any sensible duration.
                Err(PolicyError::new(path, range))
            } else {
                Err(wrong(path, "integer"))
            }
        }
        _ => Err(wrong(path, "integer")),
    }
}

fn client_data(v: &Value, path: &str) -> R<Map<String, Value>> {
    let m = object(v, path)?;
    if m.len() > MAX_CLIENT_DATA {
        return Err(PolicyError::new(
            path,
            PolicyErrorKind::OutOfRange {
                range: "at most 32 entries",
            },
        ));
    }
    for (k, val) in m {
        let p = format!("{path}.{k}");
        if k.is_empty()
            || k.len() > 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err(PolicyError::new(
                p,
                PolicyErrorKind::InvalidValue {
                    reason: "client_data keys are 1 to 64 characters of A-Z a-z 0-9 _ - .",
                },
            ));
        }
        match val {
            Value::String(s) if s.len() <= 256 => {}
            Value::Number(_) | Value::Bool(_) => {}
            Value::String(_) => {
                return Err(PolicyError::new(
                    p,
                    PolicyErrorKind::OutOfRange {
                        range: "at most 256 bytes",
                    },
                ))
            }
            _ => return Err(wrong(&p, "string, number or boolean")),
        }
    }
    Ok(m.clone())
}

fn geo(v: &Value, path: &str) -> R<GeoRestrictions> {
    let mut g = GeoRestrictions::default();
    for (k, val) in object(v, path)? {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "country_code_whitelist" => {
                let arr = val
                    .as_array()
                    .ok_or_else(|| wrong(&p, "array of strings"))?;
                for (i, c) in arr.iter().enumerate() {
                    let ip = format!("{p}[{i}]");
                    let s = c.as_str().ok_or_else(|| wrong(&ip, "string"))?;
                    if !country::is_alpha3(s) {
                        return Err(PolicyError::new(
                            ip,
                            PolicyErrorKind::InvalidValue {
                                reason: "not an ISO 3166-1 alpha-3 country code (three uppercase letters, e.g. USA)",
                            },
                        ));
                    }
                    g.country_code_whitelist.push(s.to_owned());
                }
            }
            "metro_code_whitelist" => {
                let arr = val
                    .as_array()
                    .ok_or_else(|| wrong(&p, "array of integers"))?;
                for (i, c) in arr.iter().enumerate() {
                    let ip = format!("{p}[{i}]");
                    let n = match c {
                        Value::Number(n) if n.is_u64() || n.is_i64() => n.as_i64().unwrap_or(-1),
                        _ => return Err(wrong(&ip, "integer")),
                    };
                    if !(1..=999).contains(&n) {
                        return Err(PolicyError::new(
                            ip,
                            PolicyErrorKind::OutOfRange { range: "1 to 999" },
                        ));
                    }
                    g.metro_code_whitelist.push(n as u32);
                }
            }
            "block_vpn_and_tor" => g.block_vpn_and_tor = boolean(val, &p)?,
            _ => return Err(PolicyError::new(p, PolicyErrorKind::UnknownField)),
        }
    }
    Ok(g)
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn session(v: &Value, path: &str) -> R<SessionPolicy> {
    let (mut id, mut url, mut method, mut headers) =
        (None, None, SessionMethod::Get, BTreeMap::new());
    for (k, val) in object(v, path)? {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "id" => {
                let s = string(val, &p, 256)?;
                if s.is_empty() || s.chars().any(char::is_control) {
                    return Err(PolicyError::new(
                        p,
                        PolicyErrorKind::InvalidValue {
                            reason: "must be 1 to 256 bytes without control characters",
                        },
                    ));
                }
                id = Some(s);
            }
            "url" => {
                let s = string(val, &p, MAX_URL_LEN)?;
                if !is_http_url(&s) {
                    return Err(PolicyError::new(
                        p,
                        PolicyErrorKind::InvalidValue {
                            reason: "must be an absolute http:// or https:// URL",
                        },
                    ));
                }
                url = Some(s);
            }
            "method" => {
                let s = val.as_str().ok_or_else(|| wrong(&p, "string"))?;
                method = match s.to_ascii_uppercase().as_str() {
                    "GET" => SessionMethod::Get,
                    "POST" => SessionMethod::Post,
                    _ => {
                        return Err(PolicyError::new(
                            p,
                            PolicyErrorKind::InvalidValue {
                                reason: "must be GET or POST",
                            },
                        ))
                    }
                };
            }
            "headers" => {
                let m = object(val, &p)?;
                if m.len() > MAX_SESSION_HEADERS {
                    return Err(PolicyError::new(
                        p,
                        PolicyErrorKind::OutOfRange {
                            range: "at most 32 headers",
                        },
                    ));
                }
                for (hk, hv) in m {
                    let hp = format!("{p}.{hk}");
                    let s = string(hv, &hp, 4096)?;
                    if hk.is_empty() || !hk.bytes().all(is_token_char) {
                        return Err(PolicyError::new(
                            hp,
                            PolicyErrorKind::InvalidValue {
                                reason: "not a valid HTTP header name",
                            },
                        ));
                    }
                    if !s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
                        return Err(PolicyError::new(
                            hp,
                            PolicyErrorKind::InvalidValue {
                                reason: "header values must be printable ASCII",
                            },
                        ));
                    }
                    headers.insert(hk.clone(), s);
                }
            }
            _ => return Err(PolicyError::new(p, PolicyErrorKind::UnknownField)),
        }
    }
    Ok(SessionPolicy {
        id: id
            .ok_or_else(|| PolicyError::new(format!("{path}.id"), PolicyErrorKind::MissingField))?,
        url: url.ok_or_else(|| {
            PolicyError::new(format!("{path}.url"), PolicyErrorKind::MissingField)
        })?,
        method,
        headers,
    })
}

/// `http://` or `https://`, a non-empty host, no whitespace or control characters.
pub fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("http://") {
        r
    } else if let Some(r) = lower.strip_prefix("https://") {
        r
    } else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    !host.is_empty() && !host.starts_with(':') && s.bytes().all(|b| b.is_ascii_graphic())
}

fn fairplay(v: &Value, path: &str) -> R<FairPlayPolicy> {
    let mut f = FairPlayPolicy::default();
    for (k, val) in object(v, path)? {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "license_type" => {
                f.license_type = Some(match val.as_str().ok_or_else(|| wrong(&p, "string"))? {
                    "l" => FairPlayLicenseType::Lease,
                    "p" => FairPlayLicenseType::Persistent,
                    "r" => FairPlayLicenseType::Rental,
                    _ => {
                        return Err(PolicyError::new(
                            p,
                            PolicyErrorKind::InvalidValue {
                                reason: "must be l (lease), p (persistent) or r (rental)",
                            },
                        ))
                    }
                })
            }
            "firstplayback_seconds" => f.firstplayback_seconds = Some(duration(val, &p)?),
            "license_duration_seconds" => f.license_duration_seconds = Some(duration(val, &p)?),
            "rental_duration_seconds" => f.rental_duration_seconds = Some(duration(val, &p)?),
            _ => return Err(PolicyError::new(p, PolicyErrorKind::UnknownField)),
        }
    }
    Ok(f)
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC), a trailing `Z` tolerated.
pub fn parse_datetime(s: &str) -> Option<Timestamp> {
    match s.len() {
        19 => Timestamp::parse(&format!("{s}Z")).ok(),
        20 => Timestamp::parse(s).ok(),
        _ => None,
    }
}

fn playready(v: &Value, path: &str) -> R<PlayReadyPolicy> {
    let mut pr = PlayReadyPolicy::default();
    for (k, val) in object(v, path)? {
        let p = format!("{path}.{k}");
        let dt = |val: &Value| -> R<Timestamp> {
            let s = val.as_str().ok_or_else(|| wrong(&p, "string"))?;
            parse_datetime(s).ok_or_else(|| {
                PolicyError::new(
                    p.clone(),
                    PolicyErrorKind::InvalidValue {
                        reason: "must be a date and time YYYY-MM-DDTHH:MM:SS (UTC)",
                    },
                )
            })
        };
        match k.as_str() {
            "begin_datetime" => pr.begin_datetime = Some(dt(val)?),
            "end_datetime" => pr.end_datetime = Some(dt(val)?),
            "firstplayback_seconds" => pr.firstplayback_seconds = Some(duration(val, &p)?),
            "security_level" => {
                let n = val.as_u64().ok_or_else(|| wrong(&p, "integer"))?;
                if ![150, 2000, 3000].contains(&n) {
                    return Err(PolicyError::new(
                        p,
                        PolicyErrorKind::OutOfRange {
                            range: "150, 2000 or 3000",
                        },
                    ));
                }
                pr.security_level = Some(n as u16);
            }
            _ => return Err(PolicyError::new(p, PolicyErrorKind::UnknownField)),
        }
    }
    Ok(pr)
}

fn widevine(v: &Value, path: &str) -> R<WidevinePolicy> {
    let mut w = WidevinePolicy::default();
    for (k, val) in object(v, path)? {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "firstplayback_seconds" => w.firstplayback_seconds = Some(duration(val, &p)?),
            "license_duration_seconds" => w.license_duration_seconds = Some(duration(val, &p)?),
            "rental_duration_seconds" => w.rental_duration_seconds = Some(duration(val, &p)?),
            "security_level" => {
                // The seed types it as a string; an integer is accepted too.
                let n = match val {
                    Value::String(s) => s.parse::<u64>().ok(),
                    Value::Number(n) => n.as_u64(),
                    _ => return Err(wrong(&p, "string or integer 1-5")),
                };
                match n {
                    Some(n @ 1..=5) => w.security_level = Some(n as u8),
                    _ => {
                        return Err(PolicyError::new(
                            p,
                            PolicyErrorKind::OutOfRange { range: "1 to 5" },
                        ))
                    }
                }
            }
            _ => return Err(PolicyError::new(p, PolicyErrorKind::UnknownField)),
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> (String, &'static str) {
        let e = StudioPolicy::from_value(&v).unwrap_err();
        (e.path, e.kind.code())
    }

    #[test]
    fn every_field_parses() {
        let p = StudioPolicy::from_value(&json!({
            "content_id": "c1", "match_content_id": true, "rental_duration_seconds": 3600,
            "firstplayback_seconds": 60, "offline": true, "can_renew": true,
            "client_data": {"plan": "gold", "n": 3},
            "geo_restrictions": {"country_code_whitelist": ["USA", "GBR"], "metro_code_whitelist": [501], "block_vpn_and_tor": true},
            "session": {"id": "s1", "url": "https://example.com/s", "method": "POST", "headers": {"API_KEY": "k"}},
            "fairplay": {"license_type": "p", "firstplayback_seconds": 10, "license_duration_seconds": 20, "rental_duration_seconds": 30},
            "playready": {"begin_datetime": "2030-01-01T00:00:00", "end_datetime": "2030-02-01T00:00:00", "firstplayback_seconds": 5, "security_level": 2000},
            "widevine": {"firstplayback_seconds": 5, "license_duration_seconds": 6, "rental_duration_seconds": 3600, "security_level": "3"}
        }))
        .unwrap();
        assert!(p.offline && p.can_renew && p.must_match_content());
        assert_eq!(p.widevine.unwrap().security_level, Some(3));
        assert_eq!(p.session.unwrap().method, SessionMethod::Post);
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(
            err(json!({"ofline": true})),
            ("policy.ofline".into(), "studio_unknown_field")
        );
        assert_eq!(err(json!({"offline": "yes"})).1, "studio_wrong_type");
        assert_eq!(
            err(json!({"rental_duration_seconds": -1})).1,
            "studio_out_of_range"
        );
        assert_eq!(
            err(json!({"rental_duration_seconds": 1e12})).1,
            "studio_out_of_range"
        );
        assert_eq!(
            err(json!({"rental_duration_seconds": 1.5})).1,
            "studio_wrong_type"
        );
        assert_eq!(
            err(json!({"firstplayback_seconds": 5})).1,
            "studio_policy_conflict"
        );
        assert_eq!(
            err(json!({"geo_restrictions": {"country_code_whitelist": ["USA", "US"]}})),
            (
                "policy.geo_restrictions.country_code_whitelist[1]".into(),
                "studio_invalid_value"
            )
        );
        assert_eq!(
            err(json!({"session": {"id": "x", "url": "ftp://x"}})).1,
            "studio_invalid_value"
        );
        assert_eq!(
            err(json!({"session": {"url": "http://x"}})).1,
            "studio_missing_field"
        );
        assert_eq!(
            err(json!({"can_renew": true, "rental_duration_seconds": 1800})).1,
            "studio_policy_conflict"
        );
        assert_eq!(
            err(json!({"playready": {"security_level": 100}})).1,
            "studio_out_of_range"
        );
        assert_eq!(
            err(json!({"widevine": {"security_level": "9"}})).1,
            "studio_out_of_range"
        );
        assert_eq!(
            err(json!({"fairplay": {"license_type": "x"}})).1,
            "studio_invalid_value"
        );
        assert_eq!(err(json!([])).1, "studio_wrong_type");
    }

    #[test]
    fn merge_keeps_request_values() {
        let m = merge_under(
            &json!({"offline": false, "geo_restrictions": {"block_vpn_and_tor": true}}),
            &json!({"offline": true, "geo_restrictions": {"country_code_whitelist": ["USA"]}}),
        );
        assert_eq!(
            m,
            json!({"offline": true, "geo_restrictions": {"block_vpn_and_tor": true, "country_code_whitelist": ["USA"]}})
        );
    }
}
