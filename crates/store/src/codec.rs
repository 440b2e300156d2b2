//! The row codec every SQL backend shares: how a value is written into a column
//! and read back, and how each secret is wrapped under the KEK with the associated
//! data that binds it to its row.
//!
//! Nothing here knows a database driver. A backend reads a row into the plain
//! column structs below ([`SiteRow`], [`KeyRow`], [`FairPlayRow`], [`UpstreamRow`]) or passes single columns to the
//! functions, and gets typed values back; writing goes the other way. The SQLite
//! and PostgreSQL backends both use it, so they store the same bytes for the same
//! value (and a value wrapped by one unwraps in the other).
//!
//! Reading is strict: a stored value that does not decode is a `backend` error
//! (the database holds something keyward did not write), never a default.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::fairplay::{
    cert_hash, FairPlayCredential, FairPlayCredentialInfo, FpsAsk, FpsSecretKey, CERT_HASH_LEN,
};
use crate::kek::{Kek, WrapContext};
use crate::keys::{ContentKey, ContentKeyRecord, KeyInfo, Kid, TrackType};
use crate::packagers::{KeySeed, Packager, PackagerInfo, PackagerKind, PackagerSecret};
use crate::sites::{Drm, ErrorStyle, Site, SiteId, SiteSecret, SiteSettings};
use crate::upstreams::{Upstream, UpstreamInfo, UpstreamSecret};

/// What the `kek_check` meta row holds, wrapped: proof at open time that the KEK
/// is the one the database was created with.
pub(crate) const KEK_CHECK_NAME: &str = "kek_check";
const KEK_CHECK_PLAINTEXT: &[u8] = b"keyward kek check v1";

/// The value to store as the KEK check (random nonce: any one value is fine; the
/// first writer wins).
pub(crate) fn kek_check_value(kek: &Kek) -> Result<Vec<u8>> {
    kek.wrap(&WrapContext::KekCheck, KEK_CHECK_PLAINTEXT)
}

/// `kek_mismatch` unless `stored` is a KEK check wrapped under `kek`.
pub(crate) fn verify_kek_check(kek: &Kek, stored: &[u8]) -> Result<()> {
    match kek.unwrap(&WrapContext::KekCheck, stored) {
        Ok(plain) if plain.as_slice() == KEK_CHECK_PLAINTEXT => Ok(()),
        _ => Err(StoreError::KekMismatch),
    }
}

/// A stored text column that must parse, or the row is corrupt.
fn stored<T, E>(parsed: std::result::Result<T, E>, column: &'static str) -> Result<T> {
    parsed.map_err(|_| StoreError::backend(format!("stored {column} is invalid")))
}

/// A site id read from a row.
pub(crate) fn site_id_from_column(text: &str) -> Result<SiteId> {
    stored(SiteId::parse(text), "site_id")
}

/// An integer column that must fit a `u32` setting.
pub(crate) fn u32_from_column(value: i64, column: &'static str) -> Result<u32> {
    u32::try_from(value).map_err(|_| StoreError::backend(format!("{column} out of range")))
}

/// A 16-byte binary column (kid, IV).
pub(crate) fn array16_from_column(bytes: &[u8], column: &'static str) -> Result<[u8; 16]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::backend(format!("{column} is not 16 bytes")))
}

/// A 20-byte binary column (a FairPlay cert hash).
pub(crate) fn array20_from_column(bytes: &[u8], column: &'static str) -> Result<[u8; 20]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::backend(format!("{column} is not 20 bytes")))
}

/// A value stored as JSON text (settings objects, lists).
pub(crate) fn json_column<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

/// A JSON text column read back.
pub(crate) fn from_json_column<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(StoreError::backend)
}

/// The `sites` table's columns, as any SQL backend stores them.
#[derive(Debug)]
pub(crate) struct SiteRow {
    /// `site_id`.
    pub(crate) site_id: String,
    /// `site_key_wrapped`.
    pub(crate) site_key_wrapped: Vec<u8>,
    /// `access_key_wrapped`.
    pub(crate) access_key_wrapped: Vec<u8>,
    /// The non-secret settings.
    pub(crate) settings: SettingsColumns,
    /// `created_at`, unix seconds.
    pub(crate) created_at: i64,
}

/// A site's non-secret settings as columns (JSON text for lists and objects).
#[derive(Debug)]
pub(crate) struct SettingsColumns {
    /// `token_window_secs`.
    pub(crate) token_window_secs: i64,
    /// `future_leeway_secs`.
    pub(crate) future_leeway_secs: i64,
    /// `allowed_drms`: JSON list of DRM names.
    pub(crate) allowed_drms: String,
    /// `cors_origins`: JSON list of origins.
    pub(crate) cors_origins: String,
    /// `fairplay_cert`, DER bytes.
    pub(crate) fairplay_cert: Option<Vec<u8>>,
    /// `widevine_service_cert`, bytes.
    pub(crate) widevine_service_cert: Option<Vec<u8>>,
    /// `error_style`: `PallyCon` or `HttpStatus`.
    pub(crate) error_style: String,
    /// `callback_url`.
    pub(crate) callback_url: Option<String>,
    /// `disabled`.
    pub(crate) disabled: bool,
    /// `callback_settings`: JSON object.
    pub(crate) callback_settings: String,
}

impl SettingsColumns {
    /// The columns for `s` (which the caller has validated).
    pub(crate) fn encode(s: &SiteSettings) -> Result<SettingsColumns> {
        Ok(SettingsColumns {
            token_window_secs: i64::from(s.token_window_secs),
            future_leeway_secs: i64::from(s.future_leeway_secs),
            allowed_drms: json_column(&s.allowed_drms)?,
            cors_origins: json_column(&s.cors_origins)?,
            fairplay_cert: s.fairplay_cert.clone(),
            widevine_service_cert: s.widevine_service_cert.clone(),
            error_style: s.error_style.as_str().to_owned(),
            callback_url: s.callback_url.clone(),
            disabled: s.disabled,
            callback_settings: json_column(&s.callback)?,
        })
    }

    /// The settings these columns hold.
    pub(crate) fn decode(self) -> Result<SiteSettings> {
        Ok(SiteSettings {
            token_window_secs: u32_from_column(self.token_window_secs, "token_window_secs")?,
            future_leeway_secs: u32_from_column(self.future_leeway_secs, "future_leeway_secs")?,
            allowed_drms: from_json_column(&self.allowed_drms)?,
            cors_origins: from_json_column(&self.cors_origins)?,
            fairplay_cert: self.fairplay_cert,
            widevine_service_cert: self.widevine_service_cert,
            error_style: stored(self.error_style.parse::<ErrorStyle>(), "error_style")?,
            callback_url: self.callback_url,
            disabled: self.disabled,
            callback: from_json_column(&self.callback_settings)?,
        })
    }
}

/// The two site secrets wrapped for the site's row: (`site_key`, `access_key`).
pub(crate) fn wrap_site_secrets(
    kek: &Kek,
    site_id: &SiteId,
    site_key: &SiteSecret,
    access_key: &SiteSecret,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let site_id = site_id.as_str();
    Ok((
        kek.wrap(&WrapContext::SiteKey { site_id }, site_key.expose())?,
        kek.wrap(&WrapContext::AccessKey { site_id }, access_key.expose())?,
    ))
}

impl SiteRow {
    /// The site, its secrets unwrapped (`unwrap_failed` if a secret was altered
    /// or moved from another row).
    pub(crate) fn decode(self, kek: &Kek) -> Result<Site> {
        let site_id = site_id_from_column(&self.site_id)?;
        let id = site_id.as_str();
        let site_key = SiteSecret::from_bytes(&kek.unwrap(
            &WrapContext::SiteKey { site_id: id },
            &self.site_key_wrapped,
        )?)?;
        let access_key = SiteSecret::from_bytes(&kek.unwrap(
            &WrapContext::AccessKey { site_id: id },
            &self.access_key_wrapped,
        )?)?;
        Ok(Site {
            site_id,
            site_key,
            access_key,
            settings: self.settings.decode()?,
            created_at: self.created_at,
        })
    }
}

/// The `content_keys` table's columns, as any SQL backend stores them.
#[derive(Debug)]
pub(crate) struct KeyRow {
    /// `site_id`.
    pub(crate) site_id: String,
    /// `kid`, 16 bytes.
    pub(crate) kid: Vec<u8>,
    /// `cid`.
    pub(crate) cid: String,
    /// `track_type`: the wire name.
    pub(crate) track_type: String,
    /// `key_wrapped` (absent when a listing did not select it).
    pub(crate) key_wrapped: Option<Vec<u8>>,
    /// `iv`, 16 bytes.
    pub(crate) iv: Option<Vec<u8>>,
    /// `label`.
    pub(crate) label: Option<String>,
    /// `created_at`, unix seconds.
    pub(crate) created_at: i64,
    /// `period`: NULL without rotation.
    pub(crate) period: Option<i64>,
    /// `pinned`: 1 when a packager chose the kid.
    pub(crate) pinned: bool,
}

/// A key period as the SQL backends store it.
pub(crate) fn period_column(period: Option<u64>) -> Option<i64> {
    period.map(|p| i64::try_from(p).unwrap_or(i64::MAX))
}

/// A content key wrapped for its row (bound to its site and kid).
pub(crate) fn wrap_content_key(
    kek: &Kek,
    site_id: &SiteId,
    kid: &Kid,
    key: &ContentKey,
) -> Result<Vec<u8>> {
    kek.wrap(
        &WrapContext::ContentKey {
            site_id: site_id.as_str(),
            kid: kid.as_bytes(),
        },
        key.expose(),
    )
}

impl KeyRow {
    /// The key's metadata, without touching the key column.
    pub(crate) fn info(&self) -> Result<KeyInfo> {
        Ok(KeyInfo {
            site_id: site_id_from_column(&self.site_id)?,
            cid: self.cid.clone(),
            track_type: stored(TrackType::parse(&self.track_type), "track_type")?,
            kid: Kid(array16_from_column(&self.kid, "kid")?),
            iv: self.iv.as_ref().map(hex::encode),
            label: self.label.clone(),
            created_at: self.created_at,
            period: match self.period {
                None => None,
                Some(p) => Some(
                    u64::try_from(p)
                        .map_err(|_| StoreError::backend("stored period is negative"))?,
                ),
            },
            pinned: self.pinned,
        })
    }

    /// The whole record, the key unwrapped (`unwrap_failed` if it was altered or
    /// moved from another row).
    pub(crate) fn decode(self, kek: &Kek) -> Result<ContentKeyRecord> {
        let info = self.info()?;
        let wrapped = self
            .key_wrapped
            .as_deref()
            .ok_or_else(|| StoreError::backend("key_wrapped was not selected"))?;
        let key = ContentKey::from_slice(&kek.unwrap(
            &WrapContext::ContentKey {
                site_id: info.site_id.as_str(),
                kid: info.kid.as_bytes(),
            },
            wrapped,
        )?)?;
        Ok(ContentKeyRecord {
            site_id: info.site_id,
            cid: info.cid,
            track_type: info.track_type,
            kid: info.kid,
            key,
            iv: self
                .iv
                .as_deref()
                .map(|iv| array16_from_column(iv, "iv"))
                .transpose()?,
            label: info.label,
            created_at: info.created_at,
            period: info.period,
            pinned: info.pinned,
        })
    }
}

/// A Studio client's token secret wrapped for its row (bound to the client and
/// the secret's sequence number).
pub(crate) fn wrap_client_secret(
    kek: &Kek,
    client: &str,
    seq: i64,
    secret: &SiteSecret,
) -> Result<Vec<u8>> {
    kek.wrap(&WrapContext::ClientSecret { client, seq }, secret.expose())
}

/// A Studio client's token secret read back.
pub(crate) fn unwrap_client_secret(
    kek: &Kek,
    client: &str,
    seq: i64,
    wrapped: &[u8],
) -> Result<SiteSecret> {
    SiteSecret::from_bytes(&kek.unwrap(&WrapContext::ClientSecret { client, seq }, wrapped)?)
}

/// A FairPlay credential's two secrets wrapped for its row: (`key_wrapped`,
/// `ask_wrapped`), each bound to the site, the cert hash and which secret it is.
pub(crate) fn wrap_fairplay_secrets(
    kek: &Kek,
    site_id: &SiteId,
    cert_hash: &[u8; CERT_HASH_LEN],
    private_key: &FpsSecretKey,
    ask: &FpsAsk,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let site_id = site_id.as_str();
    Ok((
        kek.wrap(
            &WrapContext::FpsKey { site_id, cert_hash },
            private_key.expose(),
        )?,
        kek.wrap(&WrapContext::FpsAsk { site_id, cert_hash }, ask.expose())?,
    ))
}

/// A FairPlay credential's two secrets read back (`unwrap_failed` if either was
/// altered or moved from another row or slot).
pub(crate) fn unwrap_fairplay_secrets(
    kek: &Kek,
    site_id: &SiteId,
    cert_hash: &[u8; CERT_HASH_LEN],
    key_wrapped: &[u8],
    ask_wrapped: &[u8],
) -> Result<(FpsSecretKey, FpsAsk)> {
    let site_id = site_id.as_str();
    let key = kek.unwrap(&WrapContext::FpsKey { site_id, cert_hash }, key_wrapped)?;
    let ask = kek.unwrap(&WrapContext::FpsAsk { site_id, cert_hash }, ask_wrapped)?;
    // What unwraps was wrapped by keyward from checked values; a length that
    // no longer fits means the database holds something else.
    let private_key = FpsSecretKey::from_der(key.to_vec())
        .map_err(|_| StoreError::backend("stored FairPlay private key has a bad length"))?;
    let ask = FpsAsk::from_bytes(&ask)
        .map_err(|_| StoreError::backend("stored FairPlay ASk has a bad length"))?;
    Ok((private_key, ask))
}

/// The `fairplay_credentials` table's columns, as any SQL backend stores them.
#[derive(Debug)]
pub(crate) struct FairPlayRow {
    /// `site_id`.
    pub(crate) site_id: String,
    /// `cert_hash`, 20 bytes: SHA-1 of `cert_der`.
    pub(crate) cert_hash: Vec<u8>,
    /// `cert_der`.
    pub(crate) cert_der: Vec<u8>,
    /// `key_wrapped` (absent when a listing did not select it).
    pub(crate) key_wrapped: Option<Vec<u8>>,
    /// `ask_wrapped` (absent when a listing did not select it).
    pub(crate) ask_wrapped: Option<Vec<u8>>,
    /// `label`.
    pub(crate) label: Option<String>,
    /// `created_at`, unix seconds.
    pub(crate) created_at: i64,
}

impl FairPlayRow {
    /// The credential without its secrets, without touching the secret columns.
    /// A certificate that does not hash to the stored cert hash is a `backend`
    /// error: the hash is what binds the wrapped secrets to the certificate.
    pub(crate) fn info(self) -> Result<FairPlayCredentialInfo> {
        let site_id = site_id_from_column(&self.site_id)?;
        let hash = array20_from_column(&self.cert_hash, "cert_hash")?;
        if cert_hash(&self.cert_der) != hash {
            return Err(StoreError::backend(
                "stored cert_der does not match its cert_hash",
            ));
        }
        Ok(FairPlayCredentialInfo {
            site_id,
            cert_hash: hash,
            cert_der: self.cert_der,
            label: self.label,
            created_at: self.created_at,
        })
    }

    /// The whole credential, its secrets unwrapped (`unwrap_failed` if one was
    /// altered or moved from another row).
    pub(crate) fn decode(mut self, kek: &Kek) -> Result<FairPlayCredential> {
        let not_selected = || StoreError::backend("a wrapped FairPlay secret was not selected");
        let key_wrapped = self.key_wrapped.take().ok_or_else(not_selected)?;
        let ask_wrapped = self.ask_wrapped.take().ok_or_else(not_selected)?;
        let info = self.info()?;
        let (private_key, ask) = unwrap_fairplay_secrets(
            kek,
            &info.site_id,
            &info.cert_hash,
            &key_wrapped,
            &ask_wrapped,
        )?;
        Ok(FairPlayCredential {
            site_id: info.site_id,
            cert_hash: info.cert_hash,
            cert_der: info.cert_der,
            private_key,
            ask,
            label: info.label,
            created_at: info.created_at,
        })
    }
}

/// A DRM read from a row (its canonical name).
pub(crate) fn drm_from_column(text: &str) -> Result<Drm> {
    stored(Drm::parse(text), "drm")
}

/// A licence upstream's secrets wrapped for its row: the whole map as one
/// compact JSON object (`{"name":"value",…}`), bound to the site and the
/// upstream's name. `None` when it has no secrets (the column is then NULL).
pub(crate) fn wrap_upstream_secrets(
    kek: &Kek,
    site_id: &SiteId,
    name: &str,
    secrets: &BTreeMap<String, UpstreamSecret>,
) -> Result<Option<Vec<u8>>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    // Sized up front (printable ASCII escapes to at most two bytes), so the
    // buffer never grows and leaves a stray copy behind; zeroized on drop.
    let capacity = 2 + secrets
        .iter()
        .map(|(k, v)| 2 * k.len() + 2 * v.expose().len() + 6)
        .sum::<usize>();
    let mut json = Zeroizing::new(Vec::with_capacity(capacity));
    let plain: BTreeMap<&str, &str> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    serde_json::to_writer(&mut *json, &plain).map_err(StoreError::backend)?;
    let context = WrapContext::UpstreamSecrets {
        site_id: site_id.as_str(),
        name,
    };
    kek.wrap(&context, &json).map(Some)
}

/// A licence upstream's secrets read back (`unwrap_failed` if they were
/// altered or moved from another row).
pub(crate) fn unwrap_upstream_secrets(
    kek: &Kek,
    site_id: &SiteId,
    name: &str,
    wrapped: &[u8],
) -> Result<BTreeMap<String, UpstreamSecret>> {
    let context = WrapContext::UpstreamSecrets {
        site_id: site_id.as_str(),
        name,
    };
    let json = kek.unwrap(&context, wrapped)?;
    // What unwraps was wrapped by keyward from checked values; anything else
    // means the database holds something keyward did not write.
    let plain: BTreeMap<String, String> = serde_json::from_slice(&json)
        .map_err(|_| StoreError::backend("stored upstream secrets are not a JSON object"))?;
    plain
        .into_iter()
        .map(|(k, v)| {
            UpstreamSecret::new(v)
                .map(|secret| (k, secret))
                .map_err(|_| StoreError::backend("a stored upstream secret is invalid"))
        })
        .collect()
}

/// The `upstreams` table's columns, as any SQL backend stores them, except
/// `secrets_wrapped`, which [`UpstreamRow::decode`] takes apart (listings do
/// not select it).
#[derive(Debug)]
pub(crate) struct UpstreamRow {
    /// `site_id`.
    pub(crate) site_id: String,
    /// `name`.
    pub(crate) name: String,
    /// `drm`: the DRM's canonical name.
    pub(crate) drm: String,
    /// `position`, 0-based within (site, drm).
    pub(crate) position: i64,
    /// `kind`.
    pub(crate) kind: String,
    /// `url`.
    pub(crate) url: String,
    /// `settings`: JSON object.
    pub(crate) settings: String,
    /// `secret_names`: JSON list of the secrets' names, sorted.
    pub(crate) secret_names: String,
    /// `created_at`, unix seconds.
    pub(crate) created_at: i64,
}

impl UpstreamRow {
    /// The upstream without its secret values, without touching the wrapped
    /// column.
    pub(crate) fn info(self) -> Result<UpstreamInfo> {
        let settings: serde_json::Value = from_json_column(&self.settings)?;
        if !settings.is_object() {
            return Err(StoreError::backend("stored settings is not a JSON object"));
        }
        Ok(UpstreamInfo {
            site_id: site_id_from_column(&self.site_id)?,
            drm: drm_from_column(&self.drm)?,
            name: self.name,
            kind: self.kind,
            url: self.url,
            settings,
            secret_names: from_json_column(&self.secret_names)?,
            position: u32_from_column(self.position, "position")?,
            created_at: self.created_at,
        })
    }

    /// The whole upstream, its secrets unwrapped from `secrets_wrapped` (the
    /// column's value; `None` for NULL). `unwrap_failed` if they were altered or
    /// moved from another row; `backend` if they do not name the secrets that
    /// `secret_names` lists (a NULL column where secrets are listed, say).
    pub(crate) fn decode(self, kek: &Kek, secrets_wrapped: Option<&[u8]>) -> Result<Upstream> {
        let info = self.info()?;
        let secrets = match secrets_wrapped {
            Some(wrapped) => unwrap_upstream_secrets(kek, &info.site_id, &info.name, wrapped)?,
            None => BTreeMap::new(),
        };
        if !secrets.keys().eq(info.secret_names.iter()) {
            return Err(StoreError::backend(
                "stored secret_names do not match the wrapped secrets",
            ));
        }
        Ok(Upstream {
            site_id: info.site_id,
            drm: info.drm,
            name: info.name,
            kind: info.kind,
            url: info.url,
            settings: info.settings,
            secrets,
            position: info.position,
            created_at: info.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::{Drm, NewSite};

    fn kek(b: u8) -> Kek {
        Kek::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn site_rows_round_trip_and_bind_their_secrets() {
        let k = kek(1);
        let mut settings = SiteSettings {
            allowed_drms: vec![Drm::ClearKey, Drm::Ncg],
            error_style: ErrorStyle::HttpStatus,
            fairplay_cert: Some(vec![1, 2, 3]),
            ..SiteSettings::default()
        };
        settings.callback.timeout_ms = 1234;
        let new = NewSite::generate(SiteId::parse("TUTO").unwrap(), settings.clone()).unwrap();
        let cols = SettingsColumns::encode(&new.settings).unwrap();
        assert_eq!(cols.allowed_drms, r#"["ClearKey","NCG"]"#);
        assert_eq!(cols.error_style, "HttpStatus");
        let (sk, ak) = wrap_site_secrets(&k, &new.site_id, &new.site_key, &new.access_key).unwrap();
        let row = |sk: Vec<u8>, ak: Vec<u8>, id: &str| SiteRow {
            site_id: id.into(),
            site_key_wrapped: sk,
            access_key_wrapped: ak,
            settings: SettingsColumns::encode(&settings).unwrap(),
            created_at: 7,
        };
        let site = row(sk.clone(), ak.clone(), "TUTO").decode(&k).unwrap();
        assert_eq!(site.settings, settings);
        assert_eq!(site.site_key, new.site_key);
        assert_eq!(site.access_key, new.access_key);
        assert_eq!(site.created_at, 7);

        // Swapped secrets, another site's row, another KEK: refused.
        let swapped = row(ak.clone(), sk.clone(), "TUTO").decode(&k).unwrap_err();
        assert_eq!(swapped.code(), "unwrap_failed");
        let moved = row(sk.clone(), ak.clone(), "ABCD").decode(&k).unwrap_err();
        assert_eq!(moved.code(), "unwrap_failed");
        assert_eq!(
            row(sk, ak, "TUTO").decode(&kek(2)).unwrap_err().code(),
            "unwrap_failed"
        );
    }

    #[test]
    fn corrupt_columns_are_backend_errors_not_defaults() {
        let mut cols = SettingsColumns::encode(&SiteSettings::default()).unwrap();
        cols.error_style = "Loud".into();
        let e = cols.decode().unwrap_err();
        assert_eq!(e.code(), "backend");
        assert_eq!(e.detail(), Some("stored error_style is invalid"));
        assert_eq!(site_id_from_column("tuto").unwrap_err().code(), "backend");
        assert_eq!(u32_from_column(-1, "x").unwrap_err().code(), "backend");
        assert!(array16_from_column(&[0; 15], "kid").is_err());
        let row = KeyRow {
            site_id: "TUTO".into(),
            kid: vec![1; 16],
            cid: "c".into(),
            track_type: "hd".into(),
            key_wrapped: None,
            iv: None,
            label: None,
            created_at: 0,
            period: None,
            pinned: false,
        };
        assert_eq!(
            row.info().unwrap_err().detail(),
            Some("stored track_type is invalid")
        );
    }

    #[test]
    fn key_rows_round_trip_and_bind_their_key() {
        let k = kek(3);
        let site = SiteId::parse("TUTO").unwrap();
        let kid = Kid([9; 16]);
        let key = ContentKey::new([0x42; 16]);
        let wrapped = wrap_content_key(&k, &site, &kid, &key).unwrap();
        let row = |kid: [u8; 16], wrapped: &[u8]| KeyRow {
            site_id: "TUTO".into(),
            kid: kid.to_vec(),
            cid: "movie".into(),
            track_type: "UHD1".into(),
            key_wrapped: Some(wrapped.to_vec()),
            iv: Some(vec![5; 16]),
            label: Some("l".into()),
            created_at: 3,
            period: Some(4),
            pinned: true,
        };
        let rec = row([9; 16], &wrapped).decode(&k).unwrap();
        assert_eq!(rec.key, key);
        assert_eq!(rec.track_type, TrackType::Uhd1);
        assert_eq!(rec.iv, Some([5; 16]));
        assert_eq!(rec.period, Some(4));
        assert!(rec.pinned);
        assert_eq!(rec.info().iv.as_deref(), Some("05".repeat(16).as_str()));
        let moved = row([8; 16], &wrapped).decode(&k).unwrap_err();
        assert_eq!(moved.code(), "unwrap_failed");
    }

    #[test]
    fn kek_check_and_client_secrets() {
        let value = kek_check_value(&kek(1)).unwrap();
        verify_kek_check(&kek(1), &value).unwrap();
        assert_eq!(
            verify_kek_check(&kek(2), &value).unwrap_err().code(),
            "kek_mismatch"
        );
        let secret = SiteSecret::from_bytes(&[6; 32]).unwrap();
        let w = wrap_client_secret(&kek(1), "app", 2, &secret).unwrap();
        assert_eq!(unwrap_client_secret(&kek(1), "app", 2, &w).unwrap(), secret);
        assert!(unwrap_client_secret(&kek(1), "app", 3, &w).is_err());
        assert!(unwrap_client_secret(&kek(1), "other", 2, &w).is_err());
    }

    #[test]
    fn fairplay_rows_round_trip_and_bind_their_secrets() {
        let k = kek(4);
        let site = SiteId::parse("TUTO").unwrap();
        let cert = vec![0x30, 0x82, 0x01, 0x02, 0xAA];
        let hash = cert_hash(&cert);
        let key = FpsSecretKey::from_der(vec![0x30, 0x81, 0x7F, 0x11, 0x22]).unwrap();
        let ask = FpsAsk::new([0x3C; 16]);
        let (kw, aw) = wrap_fairplay_secrets(&k, &site, &hash, &key, &ask).unwrap();
        let row = |site: &str, cert: &[u8], kw: &[u8], aw: &[u8]| FairPlayRow {
            site_id: site.into(),
            cert_hash: hash.to_vec(),
            cert_der: cert.to_vec(),
            key_wrapped: Some(kw.to_vec()),
            ask_wrapped: Some(aw.to_vec()),
            label: Some("old".into()),
            created_at: 11,
        };
        let cred = row("TUTO", &cert, &kw, &aw).decode(&k).unwrap();
        assert_eq!(cred.private_key, key);
        assert_eq!(cred.ask, ask);
        assert_eq!(cred.cert_hash, hash);
        assert_eq!(cred.info(), row("TUTO", &cert, &kw, &aw).info().unwrap());

        // The two secrets swapped, another site's row, another cert hash,
        // another KEK: refused.
        let code = |r: Result<FairPlayCredential>| r.unwrap_err().code();
        assert_eq!(
            code(row("TUTO", &cert, &aw, &kw).decode(&k)),
            "unwrap_failed"
        );
        assert_eq!(
            code(row("ABCD", &cert, &kw, &aw).decode(&k)),
            "unwrap_failed"
        );
        assert_eq!(
            code(row("TUTO", &cert, &kw, &aw).decode(&kek(5))),
            "unwrap_failed"
        );
        // Moved to another certificate's row of the same site.
        let other_cert = vec![0x30, 0x00];
        let mut moved = row("TUTO", &other_cert, &kw, &aw);
        moved.cert_hash = cert_hash(&other_cert).to_vec();
        assert_eq!(code(moved.decode(&k)), "unwrap_failed");

        // A certificate that does not match its hash is corrupt, listed or not.
        let e = row("TUTO", &[0x30, 0x01], &kw, &aw).info().unwrap_err();
        assert_eq!(
            e.detail(),
            Some("stored cert_der does not match its cert_hash")
        );
        let mut short = row("TUTO", &cert, &kw, &aw);
        short.cert_hash = vec![1; 19];
        assert_eq!(
            short.info().unwrap_err().detail(),
            Some("cert_hash is not 20 bytes")
        );
        // A listing row without the secret columns cannot be decoded.
        let mut bare = row("TUTO", &cert, &kw, &aw);
        bare.ask_wrapped = None;
        assert_eq!(code(bare.decode(&k)), "backend");
    }

    #[test]
    fn upstream_rows_round_trip_and_bind_their_secrets() {
        let k = kek(6);
        let site = SiteId::parse("TUTO").unwrap();
        let secrets: BTreeMap<String, UpstreamSecret> =
            [("api_key", r#"k"ey\ 1"#), ("password", "p w ~")]
                .into_iter()
                .map(|(n, v)| (n.to_owned(), UpstreamSecret::new(v.to_owned()).unwrap()))
                .collect();
        let wrapped = wrap_upstream_secrets(&k, &site, "primary", &secrets)
            .unwrap()
            .unwrap();
        assert!(
            wrap_upstream_secrets(&k, &site, "primary", &BTreeMap::new())
                .unwrap()
                .is_none()
        );
        let names = r#"["api_key","password"]"#;
        let row = |site: &str, name: &str, names: &str| UpstreamRow {
            site_id: site.into(),
            name: name.into(),
            drm: "FairPlay".into(),
            position: 1,
            kind: "ezdrm".into(),
            url: "https://fps.example".into(),
            settings: r#"{"a":1}"#.into(),
            secret_names: names.into(),
            created_at: 9,
        };
        let up = row("TUTO", "primary", names)
            .decode(&k, Some(&wrapped))
            .unwrap();
        assert_eq!(up.secrets, secrets);
        assert_eq!(up.drm, Drm::FairPlay);
        assert_eq!(up.position, 1);
        assert_eq!(up.settings, serde_json::json!({ "a": 1 }));
        assert_eq!(up.info(), row("TUTO", "primary", names).info().unwrap());

        // Moved to another upstream of the site, to another site, or read under
        // another KEK: refused.
        for (site, name, key) in [
            ("TUTO", "backup", &k),
            ("ABCD", "primary", &k),
            ("TUTO", "primary", &kek(7)),
        ] {
            let e = row(site, name, names)
                .decode(key, Some(&wrapped))
                .unwrap_err();
            assert_eq!(e.code(), "unwrap_failed", "{site} {name}");
        }
        // Secrets that do not match the names listed (a NULL column where
        // secrets are listed, say) are corrupt.
        for (listed, blob) in [
            (names, None),
            ("[]", Some(&wrapped[..])),
            (r#"["api_key"]"#, Some(&wrapped[..])),
        ] {
            let e = row("TUTO", "primary", listed).decode(&k, blob).unwrap_err();
            assert_eq!(
                e.detail(),
                Some("stored secret_names do not match the wrapped secrets"),
                "{listed}"
            );
        }
        let bare = row("TUTO", "primary", "[]").decode(&k, None).unwrap();
        assert!(bare.secrets.is_empty());

        // Corrupt columns are backend errors, not defaults.
        let mut bad = row("TUTO", "primary", "[]");
        bad.drm = "fairplay".into();
        assert_eq!(
            bad.info().unwrap_err().detail(),
            Some("stored drm is invalid")
        );
        let mut bad = row("TUTO", "primary", "[]");
        bad.position = -1;
        assert_eq!(bad.info().unwrap_err().code(), "backend");
        let mut bad = row("TUTO", "primary", "[]");
        bad.settings = "[1]".into();
        assert_eq!(
            bad.info().unwrap_err().detail(),
            Some("stored settings is not a JSON object")
        );
    }
}

/// A packager credential's secret wrapped for its row (bound to the name, the
/// site and the kind).
pub(crate) fn wrap_packager_secret(
    kek: &Kek,
    name: &str,
    site_id: &SiteId,
    secret: &PackagerSecret,
) -> Result<Vec<u8>> {
    kek.wrap(
        &WrapContext::PackagerSecret {
            name,
            site_id: site_id.as_str(),
            kind: secret.kind().as_str(),
        },
        &secret.to_bytes(),
    )
}

/// The `packagers` table's columns, as any SQL backend stores them.
#[derive(Debug)]
pub(crate) struct PackagerRow {
    /// `name`.
    pub(crate) name: String,
    /// `site_id`.
    pub(crate) site_id: String,
    /// `kind`: the wire name.
    pub(crate) kind: String,
    /// `cid_prefix`.
    pub(crate) cid_prefix: Option<String>,
    /// `secret_wrapped` (absent when a listing did not select it).
    pub(crate) secret_wrapped: Option<Vec<u8>>,
    /// `created_at`, unix seconds.
    pub(crate) created_at: i64,
}

impl PackagerRow {
    /// The credential's metadata, without touching the secret column.
    pub(crate) fn info(&self) -> Result<PackagerInfo> {
        Ok(PackagerInfo {
            name: self.name.clone(),
            site_id: site_id_from_column(&self.site_id)?,
            kind: PackagerKind::parse(&self.kind)
                .map_err(|_| StoreError::backend("stored packager kind is unknown"))?,
            cid_prefix: self.cid_prefix.clone(),
            created_at: self.created_at,
        })
    }

    /// The whole credential, the secret unwrapped (`unwrap_failed` if it was
    /// altered or moved from another row).
    pub(crate) fn decode(self, kek: &Kek) -> Result<Packager> {
        let info = self.info()?;
        let wrapped = self
            .secret_wrapped
            .as_deref()
            .ok_or_else(|| StoreError::backend("secret_wrapped was not selected"))?;
        let bytes = kek.unwrap(
            &WrapContext::PackagerSecret {
                name: &info.name,
                site_id: info.site_id.as_str(),
                kind: info.kind.as_str(),
            },
            wrapped,
        )?;
        Ok(Packager {
            secret: PackagerSecret::from_bytes(info.kind, &bytes)?,
            name: info.name,
            site_id: info.site_id,
            cid_prefix: info.cid_prefix,
            created_at: info.created_at,
        })
    }
}

/// A site's key seed wrapped for its row.
pub(crate) fn wrap_key_seed(kek: &Kek, site_id: &SiteId, seed: &KeySeed) -> Result<Vec<u8>> {
    kek.wrap(
        &WrapContext::KeySeed {
            site_id: site_id.as_str(),
        },
        seed.expose(),
    )
}

/// A site's key seed from its wrapped column.
pub(crate) fn unwrap_key_seed(kek: &Kek, site_id: &SiteId, wrapped: &[u8]) -> Result<KeySeed> {
    let bytes = kek.unwrap(
        &WrapContext::KeySeed {
            site_id: site_id.as_str(),
        },
        wrapped,
    )?;
    KeySeed::from_slice(&bytes).map_err(|_| StoreError::backend("stored key seed is too short"))
}
