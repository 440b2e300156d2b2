//! The PallyCon/DoveRunner front door: license tokens (and, recognised, the
//! callback-mode auth data that travels in the same header).

use std::sync::Arc;

use axum::http::StatusCode;
use keyward_token::{CustomDataV2, DrmType, Timestamp, UntrustedAuthData, VerifyOptions};

use super::{callback, Credential};
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
    let parsed = match cred {
        Credential::CustomDataV2(v) => CustomDataV2::parse(v).map_err(|e| (e.into(), None))?,
        Credential::CustomDataV1(v) => CustomDataV2::AuthData(
            UntrustedAuthData::parse_legacy(v).map_err(|e| (e.into(), None))?,
        ),
        // Callers that know the peer use `frontdoor::verify`; without it, geo
        // rules see no client address and refuse.
        Credential::Studio(t) => {
            return super::studio::verify(state, t, expect, None, &axum::http::HeaderMap::new())
                .await
        }
    };
    let claimed_site = match &parsed {
        CustomDataV2::LicenseToken(t) => t.untrusted_site_id().to_owned(),
        CustomDataV2::AuthData(a) => a.site_id().as_str().to_owned(),
    };
    let site = state.site(&claimed_site).await.map_err(|e| (e, None))?;
    let fail = |e: ApiError| (e, Some(site.clone()));
    if site.settings.disabled {
        return Err(fail(ApiError::new(
            "1004",
            StatusCode::FORBIDDEN,
            "The site's service is stopped",
        )));
    }
    let ent = match parsed {
        CustomDataV2::LicenseToken(untrusted) => {
            let opts = VerifyOptions {
                now: Timestamp::now(),
                window_secs: site.settings.token_window_secs,
                leeway_secs: site.settings.future_leeway_secs,
            };
            let verified = untrusted
                .verify(&site.creds, &opts)
                .map_err(|e| fail(e.into()))?;
            Entitlement::from_pallycon(&verified)
        }
        CustomDataV2::AuthData(a) => {
            let auth = a.open(&site.creds.site_key).map_err(|e| fail(e.into()))?;
            // The DRM and content checks below run before the callback is asked.
            check(
                &site,
                expect,
                auth.drm_type,
                auth.site_id.as_str(),
                &auth.cid,
            )
            .map_err(fail)?;
            callback::decide(state.callbacks(), state.gatekeeper().http(), &site, &auth)
                .await
                .map_err(fail)?
        }
    };
    check(&site, expect, ent.drm, &ent.site_id, &ent.cid).map_err(fail)?;
    Ok((ent, site))
}

/// The endpoint's expectations and the site's DRM list.
fn check(
    site: &SiteEntry,
    expect: Expect<'_>,
    drm: DrmType,
    site_id: &str,
    cid: &str,
) -> Result<(), ApiError> {
    if let Some(s) = expect.site {
        if s != site_id {
            return Err(ApiError::new(
                "7016",
                StatusCode::FORBIDDEN,
                format!("Invalid token: the token is for site {site_id}, the request names {s}"),
            ));
        }
    }
    if !expect.drms.contains(&drm) {
        let want: Vec<&str> = expect.drms.iter().map(|d| d.as_str()).collect();
        return Err(ApiError::new(
            "7018",
            StatusCode::FORBIDDEN,
            format!(
                "Invalid DRM type in token: {drm} token on an endpoint for {}",
                want.join(", ")
            ),
        ));
    }
    if let Ok(d) = drm.as_str().parse::<keyward_store::Drm>() {
        if !site.settings.allows(d) {
            return Err(ApiError::new(
                "7018",
                StatusCode::FORBIDDEN,
                format!("Invalid DRM type in token: {drm} is not enabled for this site"),
            ));
        }
    }
    if let Some(c) = expect.cid {
        if c != cid {
            return Err(ApiError::new(
                "7012",
                StatusCode::FORBIDDEN,
                "Does not match with token's CID: the request names another content id",
            ));
        }
    }
    Ok(())
}
