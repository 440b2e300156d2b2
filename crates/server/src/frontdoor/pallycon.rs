//! The PallyCon/DoveRunner front door: license tokens (and, recognised, the
//! callback-mode auth data that travels in the same header).

use std::sync::Arc;

use axum::http::StatusCode;
use keyward_token::{CustomDataV2, DrmType, Timestamp, UntrustedAuthData, VerifyOptions};

use super::Credential;
use crate::entitlement::Entitlement;
use crate::error::ApiError;
use crate::state::{AppState, SiteEntry};

/// What the endpoint expects of the credential.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// DRM types this endpoint serves.
    pub drms: &'a [DrmType],
    /// The content id the request names, if it names one.
    pub cid: Option<&'a str>,
    /// The site the request names (path or query), if it names one.
    pub site: Option<&'a str>,
}

/// Verifies a credential into an entitlement, applying the site's window and
/// the endpoint's expectations (DRM 7018, content 7012, site 7016).
pub async fn verify(
    state: &AppState,
    cred: &Credential,
    expect: Expect<'_>,
) -> Result<(Entitlement, Arc<SiteEntry>), (ApiError, Option<Arc<SiteEntry>>)> {
    let untrusted = match cred {
        Credential::CustomDataV2(v) => {
            match CustomDataV2::parse(v).map_err(|e| (e.into(), None))? {
                CustomDataV2::LicenseToken(t) => t,
                CustomDataV2::AuthData(a) => return Err(callback_mode(state, &a).await),
            }
        }
        Credential::CustomDataV1(v) => {
            let a = UntrustedAuthData::parse_legacy(v).map_err(|e| (e.into(), None))?;
            return Err(callback_mode(state, &a).await);
        }
    };
    let site = state
        .site(untrusted.untrusted_site_id())
        .await
        .map_err(|e| (e, None))?;
    let fail = |e: ApiError| (e, Some(site.clone()));
    if site.settings.disabled {
        return Err(fail(ApiError::new(
            "1004",
            StatusCode::FORBIDDEN,
            "The site's service is stopped",
        )));
    }
    let opts = VerifyOptions {
        now: Timestamp::now(),
        window_secs: site.settings.token_window_secs,
        leeway_secs: site.settings.future_leeway_secs,
    };
    let verified = untrusted
        .verify(&site.creds, &opts)
        .map_err(|e| fail(e.into()))?;
    let ent = Entitlement::from_pallycon(&verified);
    if let Some(s) = expect.site {
        if s != ent.site_id {
            return Err(fail(ApiError::new(
                "7016",
                StatusCode::FORBIDDEN,
                format!(
                    "Invalid token: the token is for site {}, the request names {s}",
                    ent.site_id
                ),
            )));
        }
    }
    if !expect.drms.contains(&ent.drm) {
        let want: Vec<&str> = expect.drms.iter().map(|d| d.as_str()).collect();
        return Err(fail(ApiError::new(
            "7018",
            StatusCode::FORBIDDEN,
            format!(
                "Invalid DRM type in token: {} token on an endpoint for {}",
                ent.drm,
                want.join(", ")
            ),
        )));
    }
    let store_drm: Option<keyward_store::Drm> = ent.drm.as_str().parse().ok();
    if let Some(d) = store_drm {
        if !site.settings.allows(d) {
            return Err(fail(ApiError::new(
                "7018",
                StatusCode::FORBIDDEN,
                format!(
                    "Invalid DRM type in token: {} is not enabled for this site",
                    ent.drm
                ),
            )));
        }
    }
    if let Some(c) = expect.cid {
        if c != ent.cid {
            return Err(fail(ApiError::new(
                "7012",
                StatusCode::FORBIDDEN,
                "Does not match with token's CID: the request names another content id",
            )));
        }
    }
    Ok((ent, site))
}

/// Callback mode: auth data instead of a token. The site must have a callback
/// URL; the callback integration answers for it.
async fn callback_mode(
    state: &AppState,
    a: &UntrustedAuthData,
) -> (ApiError, Option<Arc<SiteEntry>>) {
    match state.site(a.site_id().as_str()).await {
        Err(e) => (e, None),
        Ok(site) => (
            ApiError::new(
                "8705",
                StatusCode::FORBIDDEN,
                "Callback auth data received, but this site has no callback URL configured",
            ),
            Some(site),
        ),
    }
}
