//! Widevine, PlayReady and FairPlay licences need a licensed upstream. Until
//! one is configured, keyward fully verifies the credential, recognises the
//! challenge (so a malformed one gets its own code), and refuses with the
//! vendor's "no service" code.

use axum::http::StatusCode;
use keyward_drm::widevine::WidevineChallenge;

use crate::error::ApiError;
use crate::state::SiteEntry;

/// What a Widevine request turned out to be.
pub enum WidevineAnswer {
    /// The site's service certificate (answer to `08 04`).
    ServiceCertificate(Vec<u8>),
}

/// Widevine: a service-certificate request is answered from the site's
/// configuration; a licence request is refused until an upstream exists.
pub fn widevine(site: &SiteEntry, body: &[u8]) -> Result<WidevineAnswer, ApiError> {
    match WidevineChallenge::parse(body)? {
        WidevineChallenge::ServiceCertificateRequest => {
            match &site.settings.widevine_service_cert {
                Some(c) => Ok(WidevineAnswer::ServiceCertificate(c.clone())),
                None => Err(ApiError::new(
                    "7106",
                    StatusCode::NOT_FOUND,
                    "No Widevine service certificate is configured for this site",
                )),
            }
        }
        _ => Err(no_upstream("7104", "Widevine")),
    }
}

/// PlayReady licence: refused until an upstream exists.
pub fn playready() -> ApiError {
    no_upstream("7202", "PlayReady")
}

/// FairPlay CKC: refused until an upstream (or tenant credentials) exist.
pub fn fairplay(body: &[u8]) -> ApiError {
    match keyward_drm::fairplay::spc_from_body(body)
        .and_then(|spc| keyward_drm::fairplay::SpcHeader::parse(&spc).map(|_| ()))
    {
        Err(e) => e.into(),
        Ok(()) => no_upstream("7301", "FairPlay"),
    }
}

/// The refusal for a DRM keyward brokers but has no upstream for.
pub fn no_upstream(code: &str, drm: &str) -> ApiError {
    ApiError::new(
        code,
        StatusCode::NOT_IMPLEMENTED,
        format!("No {drm} upstream is configured: the token is valid, but keyward cannot issue {drm} licences itself"),
    )
}
