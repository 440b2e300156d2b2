//! The key server: content keys for packagers, made once per coordinate and
//! returned unchanged afterwards, and the packager credentials that ask for them.
//!
//! The wire formats live in `keyward_drm::packaging` (Widevine key API, PlayReady
//! `AcquirePackagingData`) and `keyward_drm::cpix` (CPIX, SPEKE); the handlers in
//! `http/packager.rs` extract, call this module, and answer in each protocol's
//! own dialect. This module knows no HTTP type.
//!
//! **Keys.** A key is found or made at coordinates (site, content id, track type,
//! key period). When keyward chooses the kid, the store's `ensure_key` makes
//! concurrent first requests agree on one key; when the packager chooses it
//! (SPEKE, CPIX with honoured kids) the key is *pinned* to that kid
//! (`ensure_pinned_key`). A site with a PlayReady key seed gets keys derived from
//! the seed and the kid; otherwise keys are random. A key made here drops the
//! content's cached keys, so the licence paths see it at once.
//!
//! **Credentials.** [`authenticate`] checks an API key however the packager sends
//! it (`Authorization: Basic`, `Authorization: Bearer`, `X-Api-Key`, `?api_key=`,
//! or a PallyCon-style `enc-token`); Widevine key-API requests are checked by
//! their signer's AES key in the handler.

use keyward_drm::packaging::keyseed;
use keyward_drm::Kid;
use keyward_store::{
    generate_content_key, generate_kid, ContentKeyRecord, KeySeed, NewContentKey, Packager,
    PackagerKind, SiteId, StoreError, TrackType,
};

use crate::codes;
use crate::refusal::Refusal;
use crate::state::AppState;

/// How often a random kid that collides with an existing one is drawn again.
const KID_ATTEMPTS: usize = 4;

/// What a packager asks a key for.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Content id.
    pub cid: String,
    /// Track type.
    pub track: TrackType,
    /// Key period, when rotating.
    pub period: Option<u64>,
    /// The kid the packager chose, when keyward honours it.
    pub pinned_kid: Option<Kid>,
    /// An IV the packager asked for (stored with a new key).
    pub iv: Option<[u8; 16]>,
}

/// The key for `slot` in `site`: the stored one, or a new one (derived from
/// `seed` when the site has one). `via` labels new keys (e.g. `widevine-key-api
/// widevine_test`).
pub async fn key_for(
    state: &AppState,
    site: &SiteId,
    seed: Option<&KeySeed>,
    slot: &Slot,
    via: &str,
) -> Result<ContentKeyRecord, Refusal> {
    // Read first: a coordinate asked for again (every packaging run after the
    // first, every CPIX request of a live channel) is answered from the key cache
    // without a write.
    let cached = state.key_cache().keys(site.as_str(), &slot.cid).await?;
    let hit = cached.iter().find(|r| match slot.pinned_kid {
        Some(kid) => r.kid == kid,
        None => !r.pinned && r.track_type == slot.track && r.period == slot.period,
    });
    if let Some(found) = hit {
        return Ok(found.clone());
    }
    let keys = &state.stores().keys;
    let make = |kid: Kid| -> Result<NewContentKey, Refusal> {
        let key = match seed {
            Some(seed) => keyseed::derive_key(seed.expose(), &kid),
            None => generate_content_key()?,
        };
        Ok(NewContentKey {
            site_id: site.clone(),
            cid: slot.cid.clone(),
            track_type: slot.track,
            kid,
            key,
            iv: slot.iv,
            label: Some(truncate(via, keyward_store::keys::MAX_LABEL_LEN)),
            period: slot.period,
        })
    };
    let (record, created) = match slot.pinned_kid {
        Some(kid) => keys
            .ensure_pinned_key(make(kid)?)
            .await
            .map_err(|e| match e {
                StoreError::KeyConflict => Refusal::with(
                    codes::KEY_CONFLICT,
                    "The kid is already used by another content id of this site",
                ),
                other => Refusal::from_admin_store(other),
            })?,
        None => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match keys.ensure_key(make(generate_kid()?)?).await {
                    Ok(done) => break done,
                    Err(StoreError::KeyConflict) if attempt < KID_ATTEMPTS => continue,
                    Err(e) => return Err(Refusal::from_admin_store(e)),
                }
            }
        }
    };
    if created {
        state
            .key_cache()
            .invalidate_content(site.as_str(), &slot.cid);
    }
    Ok(record)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The site's key seed, if any.
pub async fn seed(state: &AppState, site: &SiteId) -> Result<Option<KeySeed>, Refusal> {
    state
        .stores()
        .packagers
        .key_seed(site)
        .await
        .map_err(Refusal::from_admin_store)
}

/// An API key as a packager presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// `name.secret` (Bearer, `X-Api-Key`, `?api_key=`), or Basic `name:secret`.
    NameSecret {
        /// Credential name.
        name: String,
        /// The secret, base64url as generated.
        secret: String,
    },
    /// A PallyCon-style `enc-token`: base64 of `{"access_key": "name.secret",
    /// "site_id": "SITE"}`.
    EncToken {
        /// The site the token names.
        site_id: String,
        /// Its `access_key`.
        access_key: String,
    },
}

/// Longest credential text read from a request.
const MAX_CREDENTIAL_LEN: usize = 1024;

impl Presented {
    /// `name.secret` text.
    pub fn from_api_key(text: &str) -> Option<Presented> {
        if text.len() > MAX_CREDENTIAL_LEN {
            return None;
        }
        let (name, secret) = text.trim().rsplit_once('.')?;
        Some(Presented::NameSecret {
            name: name.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// An `Authorization` header value: `Basic b64(name:secret)` or `Bearer name.secret`.
    pub fn from_authorization(value: &str) -> Option<Presented> {
        use base64::Engine as _;
        if value.len() > MAX_CREDENTIAL_LEN {
            return None;
        }
        let (scheme, rest) = value.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Presented::from_api_key(rest);
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, secret) = text.split_once(':')?;
        Some(Presented::NameSecret {
            name: name.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// A PallyCon-style `enc-token`.
    pub fn from_enc_token(token: &str) -> Option<Presented> {
        use base64::Engine as _;
        if token.len() > MAX_CREDENTIAL_LEN {
            return None;
        }
        let token = token.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(token)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token))
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        Some(Presented::EncToken {
            site_id: v.get("site_id")?.as_str()?.to_owned(),
            access_key: v.get("access_key")?.as_str()?.to_owned(),
        })
    }
}

fn unauthorized(why: &'static str) -> Refusal {
    Refusal::with(codes::PACKAGER_UNAUTHORIZED, why)
}

/// The API-key credential `presented` names, checked (`packager_unauthorized`
/// for a missing, unknown or wrong credential — the same answer for each, so a
/// caller cannot probe names).
pub async fn authenticate(
    state: &AppState,
    presented: Option<Presented>,
) -> Result<Packager, Refusal> {
    use base64::Engine as _;
    let presented = presented.ok_or_else(|| {
        unauthorized(
            "No packager credential: send an API key (Authorization: Bearer NAME.SECRET, \
             X-Api-Key, HTTP Basic NAME:SECRET or ?api_key=)",
        )
    })?;
    let (name, secret, site) = match presented {
        Presented::NameSecret { name, secret } => (name, secret, None),
        Presented::EncToken {
            site_id,
            access_key,
        } => {
            let Some(Presented::NameSecret { name, secret }) = Presented::from_api_key(&access_key)
            else {
                return Err(unauthorized("The packager credential is not valid"));
            };
            (name, secret, Some(site_id))
        }
    };
    let invalid = || unauthorized("The packager credential is not valid");
    let packager = match state.stores().packagers.packager(&name).await {
        Ok(p) => p,
        Err(StoreError::PackagerNotFound) => return Err(invalid()),
        Err(e) => return Err(Refusal::from_admin_store(e)),
    };
    if packager.secret.kind() != PackagerKind::ApiKey {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret.trim_end_matches('='))
        .map_err(|_| invalid())?;
    if !packager.secret.api_key_matches(&bytes) {
        return Err(invalid());
    }
    if site.is_some_and(|s| s != packager.site_id.as_str()) {
        return Err(invalid());
    }
    Ok(packager)
}

/// `packager_forbidden` unless the credential may ask for `cid`.
pub fn check_scope(packager: &Packager, cid: &str) -> Result<(), Refusal> {
    if packager.allows_cid(cid) {
        Ok(())
    } else {
        Err(Refusal::with(
            codes::PACKAGER_FORBIDDEN,
            "This packager credential may not ask for keys of this content id",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_forms() {
        assert_eq!(
            Presented::from_api_key("enc.prod.c2VjcmV0"),
            Some(Presented::NameSecret {
                name: "enc.prod".into(),
                secret: "c2VjcmV0".into()
            })
        );
        assert_eq!(Presented::from_api_key("nodot"), None);
        // Basic: "enc-1:abc"
        assert_eq!(
            Presented::from_authorization("Basic ZW5jLTE6YWJj"),
            Some(Presented::NameSecret {
                name: "enc-1".into(),
                secret: "abc".into()
            })
        );
        assert_eq!(
            Presented::from_authorization("bearer enc-1.abc"),
            Some(Presented::NameSecret {
                name: "enc-1".into(),
                secret: "abc".into()
            })
        );
        assert_eq!(Presented::from_authorization("Digest x"), None);
        assert_eq!(Presented::from_authorization("Basic !!!"), None);
        // {"access_key":"enc-1.abc","site_id":"TEST"}
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            br#"{"access_key":"enc-1.abc","site_id":"TEST"}"#,
        );
        assert_eq!(
            Presented::from_enc_token(&token),
            Some(Presented::EncToken {
                site_id: "TEST".into(),
                access_key: "enc-1.abc".into()
            })
        );
        assert_eq!(Presented::from_enc_token("e30="), None);
        assert_eq!(Presented::from_api_key(&"a.".repeat(600)), None);
    }

    #[test]
    fn labels_are_cut_on_char_boundaries() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
