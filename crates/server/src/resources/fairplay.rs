//! The sites' FairPlay credentials as the licence path needs them: private
//! keys parsed once (an RSA key is never parsed per request), looked up by the
//! certificate hash an SPC names, cached for the state's cache TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyward_drm::fairplay::{Ask, FpsCertificate, FpsCredential, SpcKey};
use keyward_store::{FairPlayCredential, FairPlayStore, SiteId, StoreError};

use crate::cache::TtlCache;
use crate::refusal::Refusal;

/// One usable credential.
pub struct Credential {
    /// Parsed certificate, key and ASk.
    pub fps: FpsCredential,
}

/// A site's credentials, newest first.
pub type SiteCredentials = Vec<Arc<Credential>>;

/// Parsed credentials by (site, certificate hash).
type Parsed = HashMap<(String, [u8; 20]), Arc<Credential>>;

/// The cache.
pub struct FairPlayCredentials {
    store: Arc<dyn FairPlayStore>,
    by_site: TtlCache<String, SiteCredentials>,
    /// Parsed keys by (site, certificate hash), reused across TTL refreshes
    /// while the stored key is unchanged.
    parsed: RwLock<Parsed>,
}

impl FairPlayCredentials {
    /// An empty cache over the store.
    pub fn new(store: Arc<dyn FairPlayStore>, ttl: Duration) -> Self {
        Self {
            store,
            by_site: TtlCache::new(ttl, 10_000),
            parsed: RwLock::new(HashMap::new()),
        }
    }

    /// The site's credentials (empty when it has none).
    ///
    /// # Errors
    /// 1003 for an unknown site; a store failure; 7303 / 7315 when a stored
    /// credential no longer parses (logged with the site).
    pub async fn for_site(&self, site_id: &str) -> Result<Arc<SiteCredentials>, Refusal> {
        if let Some(hit) = self.by_site.get(site_id) {
            return Ok(hit);
        }
        let id = SiteId::parse(site_id).map_err(|_| Refusal::new(crate::codes::SITE_NOT_FOUND))?;
        let stored = match self.store.fairplay_credentials(&id).await {
            Ok(s) => s,
            Err(StoreError::SiteNotFound) => {
                return Err(Refusal::new(crate::codes::SITE_NOT_FOUND))
            }
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::with_capacity(stored.len());
        for c in stored {
            out.push(self.parse(site_id, c)?);
        }
        let out = Arc::new(out);
        self.by_site.insert(site_id.to_owned(), out.clone());
        Ok(out)
    }

    fn parse(&self, site_id: &str, c: FairPlayCredential) -> Result<Arc<Credential>, Refusal> {
        let key = (site_id.to_owned(), c.cert_hash);
        if let Ok(map) = self.parsed.read() {
            if let Some(cred) = map.get(&key) {
                let f = &cred.fps;
                if f.key.pkcs8_der() == c.private_key.expose()
                    && f.ask.expose() == c.ask.expose()
                    && f.certificate.der == c.cert_der
                {
                    return Ok(cred.clone());
                }
            }
        }
        let parsed = (|| {
            let cert = FpsCertificate::parse(&c.cert_der)?;
            let spc_key = SpcKey::parse(c.private_key.expose(), None)?;
            FpsCredential::new(cert, spc_key, Ask::from_bytes(*c.ask.expose()))
        })()
        .map_err(|e| {
            tracing::error!(site = %site_id, cert_hash = %hex::encode(c.cert_hash), error = %e, "stored FairPlay credential does not parse");
            Refusal::from(e)
        })?;
        let cred = Arc::new(Credential { fps: parsed });
        if let Ok(mut map) = self.parsed.write() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, cred.clone());
        }
        Ok(cred)
    }

    /// Drops every cached credential.
    pub fn clear(&self) {
        self.by_site.clear();
        if let Ok(mut map) = self.parsed.write() {
            map.clear();
        }
    }

    /// Drops a site's cached credentials (after an admin change).
    pub fn invalidate(&self, site_id: &str) {
        self.by_site.remove(site_id);
        if let Ok(mut map) = self.parsed.write() {
            map.retain(|(s, _), _| s != site_id);
        }
    }

    /// (hits, misses) of the per-site cache (metrics).
    pub fn lookups(&self) -> (u64, u64) {
        self.by_site.lookups()
    }
}

/// A credential ready to store, from the operator's files: the certificate
/// (DER or PEM), the private key (PEM or DER, PKCS#1 or PKCS#8, optionally
/// passphrase-protected PKCS#8) and the ASk (32 hex digits). The key is checked
/// against the certificate and stored as unencrypted PKCS#8 (the store wraps
/// it under the KEK).
///
/// # Errors
/// `invalid_input` naming the part that does not read (never its bytes).
pub fn prepare_credential(
    site_id: SiteId,
    certificate: &[u8],
    private_key: &[u8],
    passphrase: Option<&[u8]>,
    ask_hex: &[u8],
    label: Option<String>,
) -> Result<(keyward_store::NewFairPlayCredential, FpsCertificate), Refusal> {
    let invalid =
        |e: keyward_drm::DrmError| Refusal::with(crate::codes::INVALID_INPUT, e.to_string());
    let cert = FpsCertificate::parse(certificate).map_err(invalid)?;
    let key = SpcKey::parse(private_key, passphrase).map_err(invalid)?;
    let ask = Ask::parse_hex(ask_hex).map_err(invalid)?;
    let fps = FpsCredential::new(cert, key, ask).map_err(invalid)?;
    let new = keyward_store::NewFairPlayCredential {
        site_id,
        cert_der: fps.certificate.der.clone(),
        private_key: keyward_store::FpsSecretKey::from_der(fps.key.pkcs8_der().to_vec())
            .map_err(Refusal::from_admin_store)?,
        ask: keyward_store::FpsAsk::new(*fps.ask.expose()),
        label,
    };
    Ok((new, fps.certificate))
}

/// A credential as listed: certificate facts, never the key or the ASk.
pub fn credential_json(info: &keyward_store::FairPlayCredentialInfo) -> serde_json::Value {
    let cert = FpsCertificate::parse(&info.cert_der).ok();
    serde_json::json!({
        "site_id": info.site_id.as_str(),
        "cert_hash": hex::encode(info.cert_hash),
        "subject": cert.as_ref().map(|c| c.subject.clone()),
        "serial": cert.as_ref().map(|c| c.serial.clone()),
        "not_before": cert.as_ref().map(|c| crate::json::rfc3339(c.not_before)),
        "not_after": cert.as_ref().map(|c| crate::json::rfc3339(c.not_after)),
        "key_bits": cert.as_ref().map(|c| c.key_bits),
        "label": info.label,
        "created_at": crate::json::rfc3339(info.created_at),
    })
}
