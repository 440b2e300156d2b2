//! Sites: the tenants of a keyward instance, their secrets and their settings.
//!
//! A site is what PallyCon/DoveRunner calls a "site": a 4-letter id, a 32-byte
//! `site_key` (encrypts tokens) and a 32-byte `access_key` (authenticates the
//! customer's backend), plus the settings the gatekeeper and the HTTP layer read.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Result, StoreError};
use crate::kek::random_bytes;

/// Largest DER certificate accepted in a site's settings (FairPlay, Widevine).
pub const MAX_CERT_LEN: usize = 64 * 1024;
/// Largest callback URL or CORS origin accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

pub use keyward_types::SiteId;

/// A 32-byte site secret (`site_key` or `access_key`). `Debug` prints `***`, equality is
/// constant-time, and the bytes are zeroized on drop.
#[derive(Clone)]
pub struct SiteSecret(Box<[u8; 32]>);

impl SiteSecret {
    /// Length of a site secret in bytes.
    pub const LEN: usize = 32;

    /// A secret from exactly 32 bytes (`invalid_secret_length` otherwise).
    pub fn from_bytes(bytes: &[u8]) -> Result<SiteSecret> {
        if bytes.len() != Self::LEN {
            return Err(StoreError::InvalidSecretLength {
                expected: Self::LEN,
                actual: bytes.len(),
            });
        }
        let mut secret = SiteSecret(Box::new([0u8; 32]));
        secret.0.copy_from_slice(bytes);
        Ok(secret)
    }

    /// A fresh random secret from the operating system's RNG.
    pub fn generate() -> Result<SiteSecret> {
        let mut bytes = random_bytes::<32>()?;
        let secret = SiteSecret::from_bytes(&bytes);
        bytes.zeroize();
        secret
    }

    /// The secret bytes. Do not log them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SiteSecret {
    fn eq(&self, other: &SiteSecret) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for SiteSecret {}

impl Drop for SiteSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SiteSecret {}

impl fmt::Debug for SiteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A DRM system a site may allow: the shared [`DrmType`](keyward_types::DrmType),
/// under the name this crate has always used. Stored and served by its canonical
/// name (`Widevine`, `PlayReady`, `FairPlay`, `NCG`, `Wiseplay`, `ClearKey`);
/// [`Drm::ALL`] is a new site's default list, in that order.
pub use keyward_types::DrmType as Drm;

/// How license-path errors are answered for a site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorStyle {
    /// HTTP 200 with a PallyCon-style `{"errorCode","message"}` JSON body (the default,
    /// what PallyCon-compatible players expect).
    #[default]
    PallyCon,
    /// A 4xx/5xx HTTP status with the error body.
    HttpStatus,
}

impl ErrorStyle {
    /// The stored name: `PallyCon` or `HttpStatus`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorStyle::PallyCon => "PallyCon",
            ErrorStyle::HttpStatus => "HttpStatus",
        }
    }
}

impl FromStr for ErrorStyle {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<ErrorStyle> {
        match text {
            "PallyCon" => Ok(ErrorStyle::PallyCon),
            "HttpStatus" => Ok(ErrorStyle::HttpStatus),
            _ => Err(StoreError::InvalidSetting {
                field: "error_style",
                reason: "expected PallyCon or HttpStatus",
            }),
        }
    }
}

/// A site's non-secret settings. `update_site` replaces all of them at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteSettings {
    /// How old a token's timestamp may be, in seconds. Default 600. Larger values widen
    /// the replay window of a leaked token.
    pub token_window_secs: u32,
    /// How far in the future a token's timestamp may be (clock skew), in seconds.
    /// Default 60.
    pub future_leeway_secs: u32,
    /// DRMs this site may issue licenses for. Default: all of [`Drm::ALL`].
    pub allowed_drms: Vec<Drm>,
    /// Allowed CORS origins for license paths. Default empty, which means any origin.
    pub cors_origins: Vec<String>,
    /// FairPlay application certificate (DER), served to players. Default none.
    #[serde(with = "base64_bytes")]
    pub fairplay_cert: Option<Vec<u8>>,
    /// Widevine service certificate, served to players. Default none.
    #[serde(with = "base64_bytes")]
    pub widevine_service_cert: Option<Vec<u8>>,
    /// How errors are answered on license paths. Default [`ErrorStyle::PallyCon`].
    pub error_style: ErrorStyle,
    /// Customer callback URL (http or https only). Default none. keyward calls it, so it
    /// is an outbound request to an address the site's operator chose.
    pub callback_url: Option<String>,
    /// A disabled site's tokens and license requests are refused. Default false.
    pub disabled: bool,
    /// How keyward calls the callback URL (timeouts, breaker, cache, fallback).
    pub callback: CallbackSettings,
}

/// What to do when the customer's callback cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackFallback {
    /// Refuse the licence (default): an outage of the callback stops playback.
    #[default]
    Deny,
    /// Grant a short streaming licence (`fallback_license_duration_secs`).
    /// Risk: anyone with well-formed auth data plays while the callback is down.
    Allow,
}

/// Per-site settings for callback-mode licences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackSettings {
    /// Time allowed for one callback, milliseconds. Default 3000 (the vendor's).
    pub timeout_ms: u32,
    /// Callbacks in flight at once for the site; more wait up to the timeout. Default 16.
    pub max_concurrent: u32,
    /// Consecutive failures that open the circuit breaker; 0 turns it off. Default 5.
    pub breaker_failures: u32,
    /// How long an open breaker fails fast before one probe is let through, seconds.
    /// Default 30.
    pub breaker_cooldown_secs: u32,
    /// How long a positive answer is reused for the same (user, content, DRM), seconds.
    /// Default 0 (off): every licence asks the callback.
    pub cache_ttl_secs: u32,
    /// The decision while the callback is down. Default deny.
    pub fallback: CallbackFallback,
    /// Licence duration granted by the `allow` fallback, seconds. Default 300.
    pub fallback_license_duration_secs: u32,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        CallbackSettings {
            timeout_ms: 3000,
            max_concurrent: 16,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            cache_ttl_secs: 0,
            fallback: CallbackFallback::Deny,
            fallback_license_duration_secs: 300,
        }
    }
}

impl Default for SiteSettings {
    fn default() -> Self {
        SiteSettings {
            token_window_secs: 600,
            future_leeway_secs: 60,
            allowed_drms: Drm::ALL.to_vec(),
            cors_origins: Vec::new(),
            fairplay_cert: None,
            widevine_service_cert: None,
            error_style: ErrorStyle::PallyCon,
            callback_url: None,
            disabled: false,
            callback: CallbackSettings::default(),
        }
    }
}

impl SiteSettings {
    /// Checks ranges and formats (`invalid_setting` with the field name otherwise).
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason| Err(StoreError::InvalidSetting { field, reason });
        if self.token_window_secs == 0 {
            return bad("token_window_secs", "must be greater than zero");
        }
        for (i, drm) in self.allowed_drms.iter().enumerate() {
            if self.allowed_drms[..i].contains(drm) {
                return bad("allowed_drms", "duplicate DRM");
            }
        }
        for origin in &self.cors_origins {
            if origin.is_empty()
                || origin.len() > MAX_URL_LEN
                || origin.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return bad("cors_origins", "empty, too long or contains whitespace");
            }
        }
        for (field, cert) in [
            ("fairplay_cert", &self.fairplay_cert),
            ("widevine_service_cert", &self.widevine_service_cert),
        ] {
            if let Some(cert) = cert {
                if cert.is_empty() || cert.len() > MAX_CERT_LEN {
                    return bad(field, "empty or larger than 64 KiB");
                }
            }
        }
        let cb = &self.callback;
        if cb.timeout_ms == 0 || cb.timeout_ms > 60_000 {
            return bad("callback.timeout_ms", "must be 1 to 60000");
        }
        if cb.max_concurrent == 0 || cb.max_concurrent > 10_000 {
            return bad("callback.max_concurrent", "must be 1 to 10000");
        }
        if cb.breaker_failures > 0 && cb.breaker_cooldown_secs == 0 {
            return bad(
                "callback.breaker_cooldown_secs",
                "must be greater than zero",
            );
        }
        if cb.fallback == CallbackFallback::Allow && cb.fallback_license_duration_secs == 0 {
            return bad(
                "callback.fallback_license_duration_secs",
                "must be greater than zero",
            );
        }
        if let Some(url) = &self.callback_url {
            if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return bad("callback_url", "too long or contains whitespace");
            }
            let lower = url.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"));
            match rest {
                Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
                _ => {
                    return bad(
                        "callback_url",
                        "must be an http:// or https:// URL with a host",
                    )
                }
            }
        }
        Ok(())
    }

    /// Whether `drm` is allowed for this site.
    pub fn allows(&self, drm: Drm) -> bool {
        self.allowed_drms.contains(&drm)
    }
}

/// Everything needed to create a site.
#[derive(Clone, Debug)]
pub struct NewSite {
    /// The site's id.
    pub site_id: SiteId,
    /// Key that encrypts the site's tokens.
    pub site_key: SiteSecret,
    /// Key that authenticates the site's backend.
    pub access_key: SiteSecret,
    /// Settings.
    pub settings: SiteSettings,
}

impl NewSite {
    /// A new site with freshly generated `site_key` and `access_key`.
    pub fn generate(site_id: SiteId, settings: SiteSettings) -> Result<NewSite> {
        Ok(NewSite {
            site_id,
            site_key: SiteSecret::generate()?,
            access_key: SiteSecret::generate()?,
            settings,
        })
    }
}

/// A stored site. `Debug` masks the secrets and `Serialize` omits them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The site's id.
    pub site_id: SiteId,
    /// Key that encrypts the site's tokens (never serialized).
    #[serde(skip)]
    pub site_key: SiteSecret,
    /// Key that authenticates the site's backend (never serialized).
    #[serde(skip)]
    pub access_key: SiteSecret,
    /// Settings.
    #[serde(flatten)]
    pub settings: SiteSettings,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

/// Storage of sites. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore) and
/// [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait SiteStore: Send + Sync {
    /// Creates a site (`site_exists` if the id is taken, `invalid_setting` for bad
    /// settings).
    async fn create_site(&self, site: NewSite) -> Result<Site>;

    /// The site with this id (`site_not_found` otherwise).
    async fn site(&self, site_id: &SiteId) -> Result<Site>;

    /// All sites, ordered by id.
    async fn sites(&self) -> Result<Vec<Site>>;

    /// Replaces all non-secret settings of a site and returns the updated site.
    async fn update_site(&self, site_id: &SiteId, settings: SiteSettings) -> Result<Site>;

    /// Replaces both secrets of a site and returns the updated site.
    async fn rotate_site_secrets(
        &self,
        site_id: &SiteId,
        site_key: SiteSecret,
        access_key: SiteSecret,
    ) -> Result<Site>;

    /// Deletes a site and its content keys (`site_not_found` if absent). Audit records
    /// and replay entries are kept.
    async fn delete_site(&self, site_id: &SiteId) -> Result<()>;
}

/// Serde helper: optional bytes as standard base64 text.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => {
                serializer.serialize_some(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_id_validation() {
        assert_eq!(SiteId::parse("TUTO").unwrap().as_str(), "TUTO");
        for bad in ["TUT", "tuto", "TUTO1", "TÜTO", "", "TU O", "TUT0"] {
            let err = StoreError::from(SiteId::parse(bad).unwrap_err());
            assert_eq!(err.code(), "invalid_site_id", "{bad}");
            assert_eq!(
                err.to_string(),
                "site id must be exactly 4 ASCII uppercase letters"
            );
        }
        let parsed: SiteId = serde_json::from_str("\"ABCD\"").unwrap();
        assert_eq!(parsed.as_str(), "ABCD");
        assert!(serde_json::from_str::<SiteId>("\"abcd\"").is_err());
    }

    #[test]
    fn secret_lengths_and_masking() {
        for n in [0, 31, 33] {
            let err = SiteSecret::from_bytes(&vec![1u8; n]).unwrap_err();
            assert_eq!(err.code(), "invalid_secret_length");
        }
        let s = SiteSecret::from_bytes(&[0xAB; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s, SiteSecret::from_bytes(&[0xAB; 32]).unwrap());
        assert_ne!(s, SiteSecret::generate().unwrap());
    }

    #[test]
    fn settings_defaults_and_validation() {
        let d = SiteSettings::default();
        assert_eq!(d.token_window_secs, 600);
        assert_eq!(d.future_leeway_secs, 60);
        assert_eq!(d.allowed_drms.len(), 6);
        assert_eq!(d.error_style, ErrorStyle::PallyCon);
        d.validate().unwrap();

        let from_empty: SiteSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(from_empty, d);

        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["allowed_drms"][3], "NCG");

        let mut s = d.clone();
        s.callback_url = Some("ftp://example.com/cb".into());
        assert_eq!(s.validate().unwrap_err().code(), "invalid_setting");
        s.callback_url = Some("https://".into());
        assert!(s.validate().is_err());
        s.callback_url = Some("HTTPS://example.com/cb".into());
        s.validate().unwrap();
        s.callback_url = Some("http://example.com/cb?x=1".into());
        s.validate().unwrap();

        let mut s = d.clone();
        s.allowed_drms = vec![Drm::Widevine, Drm::Widevine];
        assert!(s.validate().is_err());
        let mut s = d;
        s.token_window_secs = 0;
        assert!(s.validate().is_err());
    }

    #[test]
    fn drm_names() {
        for drm in Drm::ALL {
            assert_eq!(drm.as_str().parse::<Drm>().unwrap(), drm);
            let json = serde_json::to_string(&drm).unwrap();
            assert_eq!(json, format!("\"{}\"", drm.as_str()));
        }
        assert_eq!("widevine".parse::<Drm>().unwrap(), Drm::Widevine);
        let err = StoreError::from("Marlin".parse::<Drm>().unwrap_err());
        assert_eq!(err.code(), "invalid_setting");
        assert_eq!(
            err.to_string(),
            "invalid site setting allowed_drms: unknown DRM name"
        );
    }
}
