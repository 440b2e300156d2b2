//! Front doors: a credential → a verified [`Claim`] (an [`Entitlement`] plus
//! the rules the gatekeeper must still apply), or a coded refusal. They never
//! talk to a DRM and know nothing of HTTP: the edge (`http::credential`)
//! finds the credential in the request, and the pipeline calls the door that
//! reads it.
//!
//! Adding a vendor format is one file here (a [`FrontDoor`] with its
//! translation into the [`Entitlement`]) plus one [`Credential`] variant.

pub mod expressplay;
pub mod pallycon;
pub mod studio;

use std::sync::Arc;

use keyward_token::studio::{GeoRestrictions, SessionPolicy};
use keyward_token::{AuthData, DrmType};

use crate::entitlement::{Attribution, Entitlement};
use crate::refusal::Refusal;
use crate::resources::sites::SiteEntry;
use crate::state::AppState;

/// The PallyCon header carrying a token or callback auth data.
pub const CUSTOMDATA_V2: &str = "pallycon-customdata-v2";
/// The legacy v1 auth-data header.
pub const CUSTOMDATA_V1: &str = "pallycon-customdata";
/// The Studio token header.
pub const VUDRM_TOKEN: &str = "x-vudrm-token";

/// A credential as the edge found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `pallycon-customdata-v2` (header, query parameter or PlayReady
    /// CustomData): a licence token or callback auth data.
    CustomDataV2(String),
    /// The legacy `pallycon-customdata` header (callback auth data).
    CustomDataV1(String),
    /// A Studio-DRM-style v2 token (`x-vudrm-token`, `?token=`, or a bearer
    /// with five `|`-separated parts).
    Studio(String),
    /// An ExpressPlay token (`?ExpressPlayToken=` on `/hms/*/rights/`).
    ExpressPlay(String),
}

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

/// How the request's content id must relate to the credential's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentRule {
    /// PallyCon: a content id the request names must equal the token's (7012).
    Exact,
    /// Studio: the token's `content_id` (if any) must match the request's
    /// when `match_content_id` says so; with neither, refuse.
    Studio {
        /// The token's content id.
        token_cid: Option<String>,
        /// Whether a named content id must match.
        must_match: bool,
    },
}

/// Single use (or N uses) of a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleUse {
    /// Replay namespace.
    pub namespace: &'static str,
    /// The credential's replay id.
    pub id: Vec<u8>,
    /// When it was issued (unix seconds).
    pub issued_at: i64,
    /// When it stops being accepted (unix seconds).
    pub expires_at: i64,
    /// How many uses are allowed.
    pub max_uses: u32,
}

/// The stateful or outside-world rules a verified credential still has to
/// pass; the gatekeeper applies them in its fixed order.
#[derive(Clone, Debug, Default)]
pub struct Gates {
    /// Content-id rule (always set by the front doors that name content).
    pub content: Option<ContentRule>,
    /// Geo and VPN rules.
    pub geo: Option<GeoRestrictions>,
    /// Single use / max uses.
    pub single_use: Option<SingleUse>,
    /// Session webhook.
    pub session: Option<SessionPolicy>,
    /// Callback mode: the customer's page decides the rights.
    pub callback: Option<AuthData>,
    /// Messages in the Studio wording (site and DRM refusals).
    pub studio_wording: bool,
}

/// A verified credential.
#[derive(Debug)]
pub struct Claim {
    /// The entitlement as the credential states it.
    pub entitlement: Entitlement,
    /// The site (ExpressPlay tokens may have none).
    pub site: Option<Arc<SiteEntry>>,
    /// Rules still to apply.
    pub gates: Gates,
}

/// A refusal with what is known of the request when it happened: the site
/// (for its error style) and, once a Studio client is known, the attribution
/// its statistics need.
#[derive(Debug)]
pub struct Denied {
    /// The refusal.
    pub refusal: Refusal,
    /// The site, once known.
    pub site: Option<Arc<SiteEntry>>,
    /// Statistics attribution, once the credential's client is known.
    pub audit: Option<AuditContext>,
}

/// Where a refusal is counted.
#[derive(Clone, Debug)]
pub struct AuditContext {
    /// Who (Studio tokens: the client, for `/v2/stats`); `None` for the licences
    /// other front doors let in, audited with `audit_all_licences`.
    pub attribution: Option<Arc<Attribution>>,
    /// Site.
    pub site_id: String,
    /// Content id, when known.
    pub cid: Option<String>,
    /// The end user (the entitlement's subject), when known: searchable in
    /// the audit trail (`GET /v1/admin/audit?user=`).
    pub user: Option<String>,
    /// DRM.
    pub drm: DrmType,
    /// Which front door's credential it was.
    pub origin: crate::entitlement::Origin,
}

impl From<Refusal> for Denied {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            site: None,
            audit: None,
        }
    }
}

impl Denied {
    /// A refusal once the site is known.
    pub fn at(refusal: Refusal, site: &Arc<SiteEntry>) -> Self {
        Self {
            refusal,
            site: Some(site.clone()),
            audit: None,
        }
    }
}

/// A front door: reads one kind of credential.
#[async_trait::async_trait]
pub trait FrontDoor: Send + Sync {
    /// Verifies the credential for this endpoint into a claim.
    async fn verify(
        &self,
        state: &AppState,
        credential: &str,
        expect: &Expect<'_>,
    ) -> Result<Claim, Denied>;
}

/// The front door of a credential.
pub fn door(cred: &Credential) -> (&'static dyn FrontDoor, &str) {
    match cred {
        Credential::CustomDataV2(v) => (&pallycon::CustomDataV2Door, v),
        Credential::CustomDataV1(v) => (&pallycon::CustomDataV1Door, v),
        Credential::Studio(v) => (&studio::StudioDoor, v),
        Credential::ExpressPlay(v) => (&expressplay::RightsDoor, v),
    }
}

/// The refusal for a request that carries no credential at all (7010).
pub fn missing() -> Refusal {
    Refusal::new(crate::codes::TOKEN_MISSING)
}
