//! Callback-mode auth data (`pallycon-customdata-v2` without a token), and the
//! header value classifier that tells it apart from a license token.
//!
//! Auth data is `base64(JSON {drm_type, site_id, data})` where `data` is
//! `base64(AES-256-CBC(site key, fixed IV, JSON {user_id, cid, oid[, content_type]}))`
//! (pallycon.md §5.1). The legacy `pallycon-customdata` header carries
//! `W|P|F` + the site id + that same encrypted `data`, without the JSON wrapper.
//! Errors use the license server's codes 7007 (cannot parse) and 7008 (cannot
//! decrypt).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::crypto::{decode_b64_lenient, SiteKey, B64};
use crate::json::ObjectWriter;
use crate::pallycon::{UntrustedToken, MAX_TOKEN_BYTES};
use crate::{DrmType, SiteId, VerifyError};

/// Largest `oid` keyward accepts, bytes.
pub const MAX_OID_BYTES: usize = 1024;

/// Why auth data was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthDataError {
    /// 7007: not base64 / JSON of the documented shape, or a bad field.
    #[error("Failed to parse pallycon-customdata: {0}")]
    Parse(String),
    /// 7008: `data` does not decrypt with the site key into the auth JSON.
    #[error("Failed to decrypt pallycon-customdata: {0}")]
    Decrypt(String),
}

impl AuthDataError {
    /// The license server's numeric code.
    pub fn code(&self) -> u16 {
        match self {
            Self::Parse(_) => 7007,
            Self::Decrypt(_) => 7008,
        }
    }
}

/// The decrypted auth info of callback mode.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthData {
    /// The DRM the player asks for.
    pub drm_type: DrmType,
    /// The site.
    pub site_id: SiteId,
    /// The service's user id.
    pub user_id: String,
    /// The content id.
    pub cid: String,
    /// Optional id (an order id, say) passed through to the callback.
    pub oid: Option<String>,
    /// `live` turns on key rotation (server 4.0.0).
    pub content_type: Option<String>,
}

impl AuthData {
    fn inner_json(&self) -> String {
        let mut s = String::with_capacity(64 + self.user_id.len() + self.cid.len());
        let mut o = ObjectWriter::new(&mut s);
        o.str("user_id", &self.user_id);
        o.str("cid", &self.cid);
        o.opt_str("oid", self.oid.as_deref());
        o.opt_str("content_type", self.content_type.as_deref());
        o.end();
        s
    }

    /// The `pallycon-customdata-v2` value: `base64({"drm_type","site_id","data"})`.
    pub fn encode(&self, site_key: &SiteKey) -> String {
        let data = site_key.encrypt_b64(self.inner_json().as_bytes());
        let mut s = String::with_capacity(64 + data.len());
        let mut o = ObjectWriter::new(&mut s);
        o.str("drm_type", self.drm_type.as_str());
        o.str("site_id", self.site_id.as_str());
        o.str("data", &data);
        o.end();
        B64.encode(s)
    }

    /// The legacy `pallycon-customdata` value: `W|P|F` + site id + encrypted data.
    ///
    /// `None` for DRMs the legacy form has no letter for.
    pub fn encode_legacy(&self, site_key: &SiteKey) -> Option<String> {
        let letter = match self.drm_type {
            DrmType::Widevine => 'W',
            DrmType::PlayReady => 'P',
            DrmType::FairPlay => 'F',
            _ => return None,
        };
        let data = site_key.encrypt_b64(self.inner_json().as_bytes());
        Some(format!("{letter}{}{data}", self.site_id))
    }
}

/// Auth data as received: site and DRM claimed, `data` still encrypted.
#[derive(Clone, Debug)]
pub struct UntrustedAuthData {
    drm_type: DrmType,
    site_id: SiteId,
    data: String,
}

impl UntrustedAuthData {
    fn from_object(o: &Map<String, Value>) -> Result<Self, AuthDataError> {
        let field = |k: &str| -> Result<&str, AuthDataError> {
            o.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| AuthDataError::Parse(format!("auth data has no string {k}")))
        };
        let drm_type = match o.get("drm_type") {
            None => DrmType::PlayReady,
            Some(_) => DrmType::parse_ignore_case(field("drm_type")?)
                .map_err(|_| AuthDataError::Parse("auth data drm_type is not a DRM type".into()))?,
        };
        let site_id = SiteId::parse(field("site_id")?).map_err(|_| {
            AuthDataError::Parse("auth data site_id is not 4 uppercase letters".into())
        })?;
        Ok(Self {
            drm_type,
            site_id,
            data: field("data")?.to_owned(),
        })
    }

    /// Parses the legacy header: one of `W`, `P`, `F`, four site-id letters, data.
    pub fn parse_legacy(value: &str) -> Result<Self, AuthDataError> {
        let v = value.trim();
        if v.len() > MAX_TOKEN_BYTES {
            return Err(AuthDataError::Parse(
                "pallycon-customdata is too large".into(),
            ));
        }
        let drm_type = match v.as_bytes().first() {
            Some(b'W') => DrmType::Widevine,
            Some(b'P') => DrmType::PlayReady,
            Some(b'F') => DrmType::FairPlay,
            _ => {
                return Err(AuthDataError::Parse(
                    "pallycon-customdata must start with W, P or F".into(),
                ))
            }
        };
        let site = v
            .get(1..5)
            .ok_or_else(|| AuthDataError::Parse("pallycon-customdata is too short".into()))?;
        let site_id = SiteId::parse(site).map_err(|_| {
            AuthDataError::Parse("pallycon-customdata site id is not 4 uppercase letters".into())
        })?;
        let data = v.get(5..).unwrap_or_default();
        if data.is_empty() {
            return Err(AuthDataError::Parse(
                "pallycon-customdata has no data".into(),
            ));
        }
        Ok(Self {
            drm_type,
            site_id,
            data: data.to_owned(),
        })
    }

    /// The claimed site (look up its key, then [`open`](Self::open)).
    pub fn site_id(&self) -> &SiteId {
        &self.site_id
    }

    /// The claimed DRM.
    pub fn drm_type(&self) -> DrmType {
        self.drm_type
    }

    /// Decrypts and validates the inner auth JSON.
    pub fn open(&self, site_key: &SiteKey) -> Result<AuthData, AuthDataError> {
        let plain = site_key.decrypt_b64(&self.data).ok_or_else(|| {
            AuthDataError::Decrypt("data does not decrypt with the site key".into())
        })?;
        let v: Value = serde_json::from_slice(&plain)
            .map_err(|_| AuthDataError::Decrypt("decrypted data is not JSON".into()))?;
        let Value::Object(o) = v else {
            return Err(AuthDataError::Parse(
                "auth info is not a JSON object".into(),
            ));
        };
        let text = |k: &str, required: bool| -> Result<Option<String>, AuthDataError> {
            match o.get(k) {
                None | Some(Value::Null) if !required => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                None | Some(Value::Null) => {
                    Err(AuthDataError::Parse(format!("auth info has no {k}")))
                }
                Some(_) => Err(AuthDataError::Parse(format!(
                    "auth info {k} is not a string"
                ))),
            }
        };
        let user_id = text("user_id", true)?.unwrap_or_default();
        let cid = text("cid", true)?.unwrap_or_default();
        if cid.is_empty() {
            return Err(AuthDataError::Parse("auth info cid is empty".into()));
        }
        let oid = text("oid", false)?;
        if oid.as_ref().is_some_and(|o| o.len() > MAX_OID_BYTES) {
            return Err(AuthDataError::Parse(format!(
                "auth info oid is longer than {MAX_OID_BYTES} bytes"
            )));
        }
        if user_id.len() > crate::pallycon::MAX_ID_BYTES
            || cid.len() > crate::pallycon::MAX_ID_BYTES
        {
            return Err(AuthDataError::Parse(
                "auth info user_id or cid is too long".into(),
            ));
        }
        Ok(AuthData {
            drm_type: self.drm_type,
            site_id: self.site_id.clone(),
            user_id,
            cid,
            oid,
            content_type: text("content_type", false)?,
        })
    }
}

/// What a `pallycon-customdata-v2` value holds: a license token or auth data.
#[derive(Clone, Debug)]
pub enum CustomDataV2 {
    /// A license token (has `policy`/`token` and `hash`).
    LicenseToken(UntrustedToken),
    /// Callback-mode auth data (has `data`).
    AuthData(UntrustedAuthData),
}

/// Refusal of a `pallycon-customdata-v2` value.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustomDataError {
    /// The value looked like a token and failed as one.
    #[error(transparent)]
    Token(#[from] VerifyError),
    /// The value looked like auth data and failed as such.
    #[error(transparent)]
    AuthData(#[from] AuthDataError),
}

impl CustomDataError {
    /// The license server's numeric code.
    pub fn code(&self) -> u16 {
        match self {
            Self::Token(e) => e.code(),
            Self::AuthData(e) => e.code(),
        }
    }
}

impl CustomDataV2 {
    /// Decodes the value and tells the two forms apart by their fields.
    pub fn parse(value: &str) -> Result<Self, CustomDataError> {
        if value.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Parse(format!(
                "value is larger than {MAX_TOKEN_BYTES} bytes"
            ))
            .into());
        }
        let bytes = decode_b64_lenient(value)
            .ok_or_else(|| VerifyError::Parse("value is not base64".into()))?;
        // Auth data has a `data` member and no `hash`. A token never has the
        // bytes `"data"` unless some string value is exactly `data`, so the full
        // JSON peek runs only then.
        if memchr::memmem::find(&bytes, b"\"data\"").is_some() {
            if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&bytes) {
                if o.contains_key("data") && !o.contains_key("hash") {
                    return Ok(Self::AuthData(UntrustedAuthData::from_object(&o)?));
                }
            }
        }
        // Hand the decoded buffer over instead of copying it again.
        let json = String::from_utf8(bytes)
            .map_err(|_| VerifyError::Parse("token JSON is not UTF-8".into()))?;
        Ok(Self::LicenseToken(UntrustedToken::from_string(json)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SiteKey {
        SiteKey::new(b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC").unwrap()
    }

    fn sample() -> AuthData {
        AuthData {
            drm_type: DrmType::Widevine,
            site_id: SiteId::parse("DEMO").unwrap(),
            user_id: "test".into(),
            cid: "test cid".into(),
            oid: None,
            content_type: None,
        }
    }

    #[test]
    fn round_trip_v2_and_legacy() {
        let a = sample();
        let enc = a.encode(&key());
        let outer = String::from_utf8(B64.decode(&enc).unwrap()).unwrap();
        assert!(
            outer.starts_with(r#"{"drm_type":"Widevine","site_id":"DEMO","data":""#),
            "{outer}"
        );
        let CustomDataV2::AuthData(u) = CustomDataV2::parse(&enc).unwrap() else {
            panic!()
        };
        assert_eq!(u.site_id().as_str(), "DEMO");
        assert_eq!(u.open(&key()).unwrap(), a);
        // The seed's example auth info decrypts to exactly the documented JSON.
        let data = key().encrypt_b64(br#"{"user_id":"test", "cid":"test cid"}"#);
        let legacy = format!("WDEMO{data}");
        assert_eq!(
            UntrustedAuthData::parse_legacy(&legacy)
                .unwrap()
                .open(&key())
                .unwrap(),
            a
        );
        assert_eq!(
            a.encode_legacy(&key())
                .unwrap()
                .chars()
                .take(5)
                .collect::<String>(),
            "WDEMO"
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(CustomDataV2::parse("!!").unwrap_err().code(), 7009);
        let no_site = B64.encode(r#"{"drm_type":"Widevine","data":"xx"}"#);
        assert_eq!(CustomDataV2::parse(&no_site).unwrap_err().code(), 7007);
        let bad = B64.encode(r#"{"drm_type":"Widevine","site_id":"DEMO","data":"AAAA"}"#);
        let CustomDataV2::AuthData(u) = CustomDataV2::parse(&bad).unwrap() else {
            panic!()
        };
        assert_eq!(u.open(&key()).unwrap_err().code(), 7008);
        let other = SiteKey::new(&[b'x'; 32]).unwrap();
        let enc = sample().encode(&other);
        let CustomDataV2::AuthData(u) = CustomDataV2::parse(&enc).unwrap() else {
            panic!()
        };
        assert_eq!(u.open(&key()).unwrap_err().code(), 7008);
        let no_cid = key().encrypt_b64(br#"{"user_id":"u"}"#);
        let v = B64.encode(format!(
            r#"{{"drm_type":"Widevine","site_id":"DEMO","data":"{no_cid}"}}"#
        ));
        let CustomDataV2::AuthData(u) = CustomDataV2::parse(&v).unwrap() else {
            panic!()
        };
        assert_eq!(u.open(&key()).unwrap_err().code(), 7007);
        assert_eq!(
            UntrustedAuthData::parse_legacy("XDEMOabc")
                .unwrap_err()
                .code(),
            7007
        );
        assert_eq!(
            UntrustedAuthData::parse_legacy("Wdemoabc")
                .unwrap_err()
                .code(),
            7007
        );
        assert_eq!(
            UntrustedAuthData::parse_legacy("WDEMO").unwrap_err().code(),
            7007
        );
    }
}
