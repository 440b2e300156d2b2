//! Licence upstreams per site and DRM: the licensed services keyward forwards a
//! player's licence challenge to (a FairPlay SPC today; Widevine and PlayReady
//! challenges later).
//!
//! A site holds, for each DRM, an ordered list of at most
//! [`MAX_UPSTREAMS_PER_DRM`] upstreams: position 0 is the primary, the others
//! are tried in order when it fails. Positions in a (site, DRM) list are always
//! dense, `0..n`: adding at a position shifts the later ones up, removing one
//! shifts them down. An upstream is named (unique within its site, across DRMs)
//! and has a `kind` (which protocol speaks to it; the server knows the kinds,
//! the store only checks the spelling), a URL, non-secret `settings` (a JSON
//! object) and named secrets (API keys, passwords, signing keys).
//!
//! Secret values only travel in [`UpstreamSecret`] (redacted `Debug`, zeroized
//! on drop). At rest the SQLite backend wraps the whole map under the KEK, bound
//! to the site and the upstream's name; the names of the secrets are stored in
//! clear so that [`UpstreamStore::upstream_infos`] can list them without
//! unwrapping anything. [`UpstreamInfo`] is what listings return: no secret
//! values at all.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, StoreError};
use crate::sites::{Drm, SiteId};

/// Most upstreams one site may hold for one DRM.
pub const MAX_UPSTREAMS_PER_DRM: usize = 8;
/// Longest upstream name, bytes (`A-Za-z0-9._-`).
pub const MAX_UPSTREAM_NAME_LEN: usize = 64;
/// Longest upstream kind, bytes (`a-z0-9-`).
pub const MAX_UPSTREAM_KIND_LEN: usize = 32;
/// Longest upstream URL, bytes.
pub const MAX_UPSTREAM_URL_LEN: usize = 2048;
/// Largest upstream settings object, bytes of compact JSON.
pub const MAX_UPSTREAM_SETTINGS_LEN: usize = 16 * 1024;
/// Most secrets one upstream may hold.
pub const MAX_UPSTREAM_SECRETS: usize = 16;
/// Longest secret name, bytes (`A-Za-z0-9._-`).
pub const MAX_UPSTREAM_SECRET_NAME_LEN: usize = 64;
/// Longest secret value, bytes (printable ASCII).
pub const MAX_UPSTREAM_SECRET_LEN: usize = 8192;

/// One secret value of an upstream (an API key, a password, …): 1 to
/// [`MAX_UPSTREAM_SECRET_LEN`] bytes of printable ASCII. `Debug` prints
/// `UpstreamSecret(<redacted>)`, equality is constant-time (for equal lengths),
/// and the text is zeroized on drop.
#[derive(Clone)]
pub struct UpstreamSecret(Zeroizing<String>);

impl UpstreamSecret {
    /// A secret from its text: 1 to [`MAX_UPSTREAM_SECRET_LEN`] bytes, each
    /// printable ASCII (`0x20..=0x7e`); `invalid_input`, field `secrets`,
    /// otherwise. A refused text is zeroized too.
    pub fn new(value: String) -> Result<UpstreamSecret> {
        let value = Zeroizing::new(value);
        let ok = !value.is_empty()
            && value.len() <= MAX_UPSTREAM_SECRET_LEN
            && value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if !ok {
            return Err(StoreError::InvalidInput {
                field: "secrets",
                reason: "a secret value must be 1 to 8192 printable ASCII characters",
            });
        }
        Ok(UpstreamSecret(value))
    }

    /// The secret text. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for UpstreamSecret {
    fn eq(&self, other: &UpstreamSecret) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Eq for UpstreamSecret {}

impl ZeroizeOnDrop for UpstreamSecret {}

impl fmt::Debug for UpstreamSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamSecret(<redacted>)")
    }
}

/// An upstream to add to a site's list for one DRM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUpstream {
    /// The site it belongs to.
    pub site_id: SiteId,
    /// The DRM whose challenges it answers.
    pub drm: Drm,
    /// Its name: 1 to [`MAX_UPSTREAM_NAME_LEN`] of `A-Za-z0-9._-`, unique within
    /// the site (across DRMs).
    pub name: String,
    /// Which protocol speaks to it: 1 to [`MAX_UPSTREAM_KIND_LEN`] of `a-z0-9-`.
    /// The store does not know the kinds; the server checks them.
    pub kind: String,
    /// Where it is: 1 to [`MAX_UPSTREAM_URL_LEN`] bytes, `http://` or
    /// `https://` (lowercase) followed by at least one character, without
    /// ASCII control characters or spaces.
    pub url: String,
    /// Non-secret settings of the kind: a JSON object of at most
    /// [`MAX_UPSTREAM_SETTINGS_LEN`] bytes serialized.
    pub settings: serde_json::Value,
    /// Named secrets: at most [`MAX_UPSTREAM_SECRETS`], each name 1 to
    /// [`MAX_UPSTREAM_SECRET_NAME_LEN`] of `A-Za-z0-9._-`.
    pub secrets: BTreeMap<String, UpstreamSecret>,
    /// Where to insert it in the (site, DRM) list, 0-based (the later ones
    /// move down one); `None`, or a position past the end, appends it.
    pub position: Option<u32>,
}

impl NewUpstream {
    /// Checks every value, each refusal an `invalid_input` naming its field:
    /// `name`, `kind`, `url`, `settings`, `secrets` (secret values were checked
    /// when they were built). Whether the site has room is the store's to say.
    pub fn validate(&self) -> Result<()> {
        validate_upstream_name(&self.name)?;
        validate_kind(&self.kind)?;
        validate_url(&self.url)?;
        validate_settings(&self.settings)?;
        validate_secret_names(self.secrets.keys().map(String::as_str), self.secrets.len())
    }
}

/// `A-Za-z0-9._-`, 1 to `max` bytes.
fn is_name(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// An upstream name as [`NewUpstream::validate`] accepts it (`invalid_input`,
/// field `name`, otherwise).
pub fn validate_upstream_name(name: &str) -> Result<()> {
    if is_name(name, MAX_UPSTREAM_NAME_LEN) {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            field: "name",
            reason: "must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
        })
    }
}

fn validate_kind(kind: &str) -> Result<()> {
    let ok = !kind.is_empty()
        && kind.len() <= MAX_UPSTREAM_KIND_LEN
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            field: "kind",
            reason: "must be 1 to 32 characters of a-z 0-9 -",
        })
    }
}

fn validate_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = url.len() <= MAX_UPSTREAM_URL_LEN
        && rest.is_some_and(|rest| !rest.is_empty())
        && !url.bytes().any(|b| b.is_ascii_control() || b == b' ');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            field: "url",
            reason: "must be an http:// or https:// URL of at most 2048 bytes without spaces or control characters",
        })
    }
}

fn validate_settings(settings: &serde_json::Value) -> Result<()> {
    if !settings.is_object() {
        return Err(StoreError::InvalidInput {
            field: "settings",
            reason: "must be a JSON object",
        });
    }
    let len = serde_json::to_vec(settings)
        .map_err(|_| StoreError::InvalidInput {
            field: "settings",
            reason: "must serialize as JSON",
        })?
        .len();
    if len > MAX_UPSTREAM_SETTINGS_LEN {
        return Err(StoreError::InvalidInput {
            field: "settings",
            reason: "must be at most 16384 bytes of JSON",
        });
    }
    Ok(())
}

fn validate_secret_names<'a>(names: impl Iterator<Item = &'a str>, count: usize) -> Result<()> {
    if count > MAX_UPSTREAM_SECRETS {
        return Err(StoreError::InvalidInput {
            field: "secrets",
            reason: "an upstream holds at most 16 secrets",
        });
    }
    for name in names {
        if !is_name(name, MAX_UPSTREAM_SECRET_NAME_LEN) {
            return Err(StoreError::InvalidInput {
                field: "secrets",
                reason: "a secret name must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
            });
        }
    }
    Ok(())
}

/// A stored upstream with its secrets (whose values `Debug` never shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The site it belongs to.
    pub site_id: SiteId,
    /// The DRM whose challenges it answers.
    pub drm: Drm,
    /// Its name, unique within the site.
    pub name: String,
    /// Which protocol speaks to it.
    pub kind: String,
    /// Where it is.
    pub url: String,
    /// Non-secret settings (a JSON object).
    pub settings: serde_json::Value,
    /// Named secrets.
    pub secrets: BTreeMap<String, UpstreamSecret>,
    /// Its place in the (site, DRM) list: 0 is the primary.
    pub position: u32,
    /// Unix seconds.
    pub created_at: i64,
}

impl Upstream {
    /// The upstream without its secret values (their names are kept).
    pub fn info(&self) -> UpstreamInfo {
        UpstreamInfo {
            site_id: self.site_id.clone(),
            drm: self.drm,
            name: self.name.clone(),
            kind: self.kind.clone(),
            url: self.url.clone(),
            settings: self.settings.clone(),
            secret_names: self.secrets.keys().cloned().collect(),
            position: self.position,
            created_at: self.created_at,
        }
    }
}

/// An upstream as listed: the names of its secrets, never their values.
/// Serialized with the DRM by its canonical name (`FairPlay`, `Widevine`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpstreamInfo {
    /// The site it belongs to.
    pub site_id: SiteId,
    /// The DRM whose challenges it answers.
    pub drm: Drm,
    /// Its name, unique within the site.
    pub name: String,
    /// Which protocol speaks to it.
    pub kind: String,
    /// Where it is.
    pub url: String,
    /// Non-secret settings (a JSON object).
    pub settings: serde_json::Value,
    /// The names of its secrets, sorted.
    pub secret_names: Vec<String>,
    /// Its place in the (site, DRM) list: 0 is the primary.
    pub position: u32,
    /// Unix seconds.
    pub created_at: i64,
}

/// Storage of per-site licence upstreams. Implemented by both stores.
#[async_trait]
pub trait UpstreamStore: Send + Sync {
    /// Adds an upstream to its site's list for its DRM, at `new.position` (the
    /// later ones move down one) or at the end, and returns it without secret
    /// values. `invalid_input` for a refused value (see
    /// [`NewUpstream::validate`]), `site_not_found`, `upstream_exists` if the
    /// site holds an upstream of that name already (for any DRM), and
    /// `invalid_input` (field `drm`) if the list holds
    /// [`MAX_UPSTREAMS_PER_DRM`] already. Nothing is stored on error.
    async fn add_upstream(&self, new: NewUpstream) -> Result<UpstreamInfo>;

    /// A site's upstreams for one DRM with their secrets, primary first (by
    /// position); empty if it has none (`site_not_found`; `unwrap_failed` if
    /// stored secrets were altered or moved from another row).
    async fn upstreams(&self, site_id: &SiteId, drm: Drm) -> Result<Vec<Upstream>>;

    /// A site's upstreams without secret values, for one DRM or all, ordered
    /// by DRM (in the order of [`Drm::ALL`]) then position; never touches the
    /// secrets (`site_not_found`).
    async fn upstream_infos(&self, site_id: &SiteId, drm: Option<Drm>)
        -> Result<Vec<UpstreamInfo>>;

    /// One upstream of a site by name, with its secrets (`upstream_not_found`;
    /// `site_not_found` if there is no such site; `unwrap_failed` as
    /// [`UpstreamStore::upstreams`]).
    async fn upstream(&self, site_id: &SiteId, name: &str) -> Result<Upstream>;

    /// Removes an upstream from its site; the later ones of its list move up
    /// one (`upstream_not_found`; `site_not_found` if there is no such site).
    async fn remove_upstream(&self, site_id: &SiteId, name: &str) -> Result<()>;
}

/// The refusal when a (site, DRM) list is full.
pub(crate) fn too_many_upstreams() -> StoreError {
    StoreError::InvalidInput {
        field: "drm",
        reason: "a site holds at most 8 upstreams per DRM",
    }
}

/// Where an upstream added at `requested` lands in a list of `len`.
pub(crate) fn insert_position(requested: Option<u32>, len: usize) -> usize {
    requested.map_or(len, |p| usize::try_from(p).unwrap_or(usize::MAX).min(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(text: &str) -> UpstreamSecret {
        UpstreamSecret::new(text.to_owned()).unwrap()
    }

    fn new() -> NewUpstream {
        NewUpstream {
            site_id: SiteId::parse("TUTO").unwrap(),
            drm: Drm::FairPlay,
            name: "ezdrm-primary".into(),
            kind: "ezdrm".into(),
            url: "https://fps.example.com/api/licenses/spc".into(),
            settings: json!({ "timeout_ms": 3000 }),
            secrets: BTreeMap::from([("api_key".to_owned(), secret("s3cr3t value!"))]),
            position: None,
        }
    }

    fn refused(change: impl FnOnce(&mut NewUpstream)) -> &'static str {
        let mut n = new();
        change(&mut n);
        match n.validate().unwrap_err() {
            StoreError::InvalidInput { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_are_checked_redacted_and_compared_whole() {
        let s = secret("abc ~XYZ");
        assert_eq!(format!("{s:?}"), "UpstreamSecret(<redacted>)");
        assert_eq!(s.expose(), "abc ~XYZ");
        assert_eq!(s, secret("abc ~XYZ"));
        assert_ne!(s, secret("abc ~XY"));
        assert_ne!(s, secret("abc ~XYz"));
        assert!(UpstreamSecret::new("~".repeat(MAX_UPSTREAM_SECRET_LEN)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(MAX_UPSTREAM_SECRET_LEN + 1),
            "tab\there".into(),
            "new\nline".into(),
            "del\u{7f}".into(),
            "clé".into(),
        ] {
            let e = UpstreamSecret::new(bad.clone()).unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{bad:?}");
            assert!(
                matches!(
                    e,
                    StoreError::InvalidInput {
                        field: "secrets",
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
        let n = new();
        let shown = format!("{n:?}");
        assert!(shown.contains("UpstreamSecret(<redacted>)"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn values_are_checked() {
        assert!(new().validate().is_ok());
        let mut n = new();
        n.name = "A.b_c-9".repeat(10)[..64].to_owned();
        n.kind = "a-0".repeat(11)[..32].to_owned();
        n.url = format!("http://{}", "h".repeat(MAX_UPSTREAM_URL_LEN - 7));
        n.secrets = (0..16)
            .map(|i| (format!("k{i}"), secret("v")))
            .collect::<BTreeMap<_, _>>();
        n.settings = json!({ "a": "x".repeat(MAX_UPSTREAM_SETTINGS_LEN - 8) });
        assert_eq!(
            serde_json::to_vec(&n.settings).unwrap().len(),
            MAX_UPSTREAM_SETTINGS_LEN
        );
        n.position = Some(u32::MAX);
        n.validate().unwrap();
        n.url = "https://é.example/ünïcode".into();
        n.settings = json!({});
        n.secrets.clear();
        n.validate().unwrap();

        for name in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert_eq!(refused(|n| n.name = name.into()), "name", "{name:?}");
        }
        for kind in ["", "EZDRM", "a_b", "a.b", &"x".repeat(33)] {
            assert_eq!(refused(|n| n.kind = kind.into()), "kind", "{kind:?}");
        }
        let long = format!("https://{}", "h".repeat(MAX_UPSTREAM_URL_LEN - 7));
        for url in [
            "",
            "ftp://host/x",
            "https//host",
            "HTTPS://host",
            "https://",
            "http://",
            "https://host/a b",
            "https://host/\t",
            "https://host/\u{7f}",
            "host/path",
            &long,
        ] {
            assert_eq!(refused(|n| n.url = url.into()), "url", "{url:?}");
        }
        for settings in [
            json!(null),
            json!([1, 2]),
            json!("text"),
            json!({ "a": "x".repeat(MAX_UPSTREAM_SETTINGS_LEN - 7) }),
        ] {
            assert_eq!(
                refused(|n| n.settings = settings.clone()),
                "settings",
                "{settings}"
            );
        }
        for name in ["", "a b", "é", &"x".repeat(65)] {
            assert_eq!(
                refused(|n| {
                    n.secrets.insert(name.to_owned(), secret("v"));
                }),
                "secrets",
                "{name:?}"
            );
        }
        assert_eq!(
            refused(|n| n.secrets = (0..17).map(|i| (format!("k{i}"), secret("v"))).collect()),
            "secrets"
        );
        assert_eq!(
            too_many_upstreams().to_string(),
            "invalid drm: a site holds at most 8 upstreams per DRM"
        );
    }

    #[test]
    fn insert_positions_clamp_to_the_end() {
        assert_eq!(insert_position(None, 3), 3);
        assert_eq!(insert_position(Some(0), 3), 0);
        assert_eq!(insert_position(Some(2), 3), 2);
        assert_eq!(insert_position(Some(3), 3), 3);
        assert_eq!(insert_position(Some(u32::MAX), 3), 3);
        assert_eq!(insert_position(Some(5), 0), 0);
    }

    #[test]
    fn info_drops_secret_values_and_names_the_drm() {
        let n = new();
        let up = Upstream {
            site_id: n.site_id,
            drm: n.drm,
            name: n.name,
            kind: n.kind,
            url: n.url,
            settings: n.settings,
            secrets: n.secrets,
            position: 2,
            created_at: 7,
        };
        let shown = format!("{up:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let info = up.info();
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            json!({
                "site_id": "TUTO",
                "drm": "FairPlay",
                "name": "ezdrm-primary",
                "kind": "ezdrm",
                "url": "https://fps.example.com/api/licenses/spc",
                "settings": { "timeout_ms": 3000 },
                "secret_names": ["api_key"],
                "position": 2,
                "created_at": 7,
            })
        );
    }
}
