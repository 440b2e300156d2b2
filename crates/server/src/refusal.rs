//! The one refusal type of the gateway core.
//!
//! Front doors, the gatekeeper, the pipeline and back doors answer "no" with a
//! [`Refusal`]: a registered [`Code`], its [`Class`], a message that is safe to
//! show the client, optional log-only detail, and (for validation refusals)
//! the JSON path of the offending field. Nothing here knows HTTP: the edge
//! (`render`) turns the class into a status and writes the front door's
//! dialect. Library errors become refusals here, by variant.

use std::borrow::Cow;

use keyward_drm::DrmError;
use keyward_store::StoreError;
use keyward_token::studio::{PolicyError, PolicyErrorKind, StudioError};
use keyward_token::{AuthDataError, CustomDataError, VerifyError};

use crate::codes::{self, Code};

pub use crate::codes::Class;

/// A coded refusal.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The registered code.
    pub code: Code,
    /// The class (the code's, unless this refusal says otherwise).
    pub class: Class,
    /// A message safe to show the client.
    pub message: Cow<'static, str>,
    /// Detail for the log only (internal failures).
    pub log_detail: Option<String>,
    /// The JSON path of the offending field (validation refusals; boxed to
    /// keep the refusal small).
    pub field: Option<Box<str>>,
    /// An upstream's own answer that native paths relay instead of
    /// problem+json (a PlayReady SOAP fault); other dialects ignore it.
    pub relay: Option<std::sync::Arc<Relayed>>,
}

/// An upstream's answer relayed as a refusal on native paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relayed {
    /// HTTP status.
    pub status: u16,
    /// Media type.
    pub content_type: &'static str,
    /// Body, as the upstream sent it.
    pub body: Vec<u8>,
}

impl Refusal {
    /// A refusal with the code's class and default message.
    pub fn new(code: Code) -> Self {
        Self {
            code,
            class: code.class,
            message: Cow::Borrowed(code.message),
            log_detail: None,
            field: None,
            relay: None,
        }
    }

    /// A refusal with its own message.
    pub fn with(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
            ..Self::new(code)
        }
    }

    /// Another class than the code's (where one vendor code covers two cases).
    pub fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }

    /// Names the offending field.
    pub fn field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(path.into().into_boxed_str());
        self
    }

    /// Native paths answer with this upstream answer instead of problem+json.
    pub fn relaying(mut self, relayed: Relayed) -> Self {
        self.relay = Some(std::sync::Arc::new(relayed));
        self
    }

    /// Adds log-only detail.
    pub fn log(mut self, detail: impl Into<String>) -> Self {
        self.log_detail = Some(detail.into());
        self
    }

    /// An internal failure: the generic message to the client, the detail to
    /// the log.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL).log(detail)
    }

    /// Whether this refusal has the code.
    pub fn is(&self, code: Code) -> bool {
        self.code.wire == code.wire
    }
}

impl From<VerifyError> for Refusal {
    fn from(e: VerifyError) -> Self {
        let code = match e {
            VerifyError::Parse(_) => codes::TOKEN_PARSE,
            VerifyError::Expired(_) => codes::TOKEN_EXPIRED,
            VerifyError::InvalidJson(_) => codes::TOKEN_JSON,
            VerifyError::Invalid(_) => codes::TOKEN_INVALID,
            VerifyError::DrmType(_) => codes::DRM_TYPE_INVALID,
            VerifyError::HashMismatch => codes::TOKEN_HASH,
            // A variant added later without a code here: a parse failure.
            _ => codes::TOKEN_PARSE,
        };
        Refusal::with(code, e.to_string())
    }
}

impl From<AuthDataError> for Refusal {
    fn from(e: AuthDataError) -> Self {
        let code = match e {
            AuthDataError::Decrypt(_) => codes::AUTH_DATA_DECRYPT,
            _ => codes::AUTH_DATA_PARSE,
        };
        Refusal::with(code, e.to_string())
    }
}

impl From<CustomDataError> for Refusal {
    fn from(e: CustomDataError) -> Self {
        match e {
            CustomDataError::Token(e) => e.into(),
            CustomDataError::AuthData(e) => e.into(),
            other => Refusal::with(codes::TOKEN_PARSE, other.to_string()),
        }
    }
}

impl From<DrmError> for Refusal {
    fn from(e: DrmError) -> Self {
        let code = match e {
            DrmError::WidevineBadChallenge { .. } => codes::WIDEVINE_BAD_CHALLENGE,
            DrmError::PsshMalformed { .. } => codes::PSSH_MALFORMED,
            DrmError::PlayReadyHeaderBuild { .. } => codes::PLAYREADY_HEADER,
            DrmError::PlayReadyRequestRead { .. } => codes::PLAYREADY_READ,
            DrmError::PlayReadyRequestParse { .. } => codes::PLAYREADY_PARSE,
            DrmError::PlayReadyNoCustomData => codes::PLAYREADY_NO_CUSTOM_DATA,
            DrmError::FairPlayCredential { .. } => codes::FAIRPLAY_BAD_KEY,
            DrmError::FairPlayCkcBuild { .. } => codes::FAIRPLAY_CKC_BUILD,
            DrmError::FairPlaySpcEmpty => codes::FAIRPLAY_SPC_EMPTY,
            DrmError::FairPlayBadAssetId { .. } => codes::FAIRPLAY_BAD_ASSET,
            DrmError::FairPlayCertificate { .. } => codes::FAIRPLAY_NO_CERT,
            DrmError::FairPlaySpcKeyUnwrap => codes::FAIRPLAY_RSA_DECRYPT,
            DrmError::FairPlayBadSpc { .. } => codes::FAIRPLAY_BAD_SPC,
            DrmError::FairPlayUnsupportedVersion { .. } => codes::FAIRPLAY_SPC_VERSION,
            DrmError::FairPlayIntegrity => codes::FAIRPLAY_INTEGRITY,
            DrmError::ClearKeyNotJsonObject => codes::CLEARKEY_NOT_OBJECT,
            DrmError::ClearKeyNoKids => codes::CLEARKEY_NO_KIDS,
            DrmError::ClearKeyMalformedKid { .. } => codes::CLEARKEY_BAD_KID,
            DrmError::ClearKeyTooManyKids { .. } => codes::CLEARKEY_TOO_MANY_KIDS,
            DrmError::ClearKeyUnknownSessionType => codes::CLEARKEY_SESSION_TYPE,
            DrmError::ClearKeyBodyTooLarge { .. } => codes::CLEARKEY_TOO_LARGE,
            DrmError::ClearKeyKidsNotArray => codes::CLEARKEY_KIDS_NOT_ARRAY,
            _ => codes::BAD_REQUEST,
        };
        Refusal::with(code, e.to_string())
    }
}

impl From<PolicyError> for Refusal {
    fn from(e: PolicyError) -> Self {
        let code = match e.kind {
            PolicyErrorKind::UnknownField => codes::STUDIO_UNKNOWN_FIELD,
            PolicyErrorKind::MissingField => codes::STUDIO_MISSING_FIELD,
            PolicyErrorKind::WrongType { .. } => codes::STUDIO_WRONG_TYPE,
            PolicyErrorKind::OutOfRange { .. } => codes::STUDIO_OUT_OF_RANGE,
            PolicyErrorKind::InvalidValue { .. } => codes::STUDIO_INVALID_VALUE,
            PolicyErrorKind::Conflict { .. } => codes::STUDIO_POLICY_CONFLICT,
            _ => codes::STUDIO_INVALID_VALUE,
        };
        // The path names the caller's keys: plain names are shown, anything
        // that could be a pasted secret only by its length.
        let path = crate::json::path_for_message(&e.path);
        let message = e.to_string().replacen(&e.path, &path, 1);
        Refusal::with(code, message).field(path)
    }
}

impl From<StudioError> for Refusal {
    fn from(e: StudioError) -> Self {
        let code = match &e {
            StudioError::Malformed(_) => codes::STUDIO_TOKEN_MALFORMED,
            StudioError::Version => codes::STUDIO_TOKEN_VERSION,
            StudioError::BadHash | StudioError::UnknownKey | StudioError::Decrypt => {
                return Refusal::new(codes::STUDIO_TOKEN_INVALID)
            }
            StudioError::Expired { .. } => codes::STUDIO_TOKEN_EXPIRED,
            StudioError::NotYetValid => codes::STUDIO_TOKEN_NOT_YET_VALID,
            StudioError::Policy(p) => {
                // Inside a token the policy error is a token refusal with the
                // policy's code, not a request-body field error.
                let mut r: Refusal = p.clone().into();
                r.field = None;
                r.message = format!("Invalid Studio token: {e}").into();
                return r;
            }
            StudioError::ClientName => codes::STUDIO_INVALID_CLIENT_NAME,
            StudioError::Secret => codes::STUDIO_INVALID_SECRET,
            _ => codes::STUDIO_TOKEN_MALFORMED,
        };
        Refusal::with(code, format!("Invalid Studio token: {e}"))
    }
}

impl From<StoreError> for Refusal {
    /// Store errors on the licence path (sites and keys are named by tokens, so
    /// "not found" is the vendor's 1003 / 7001). The admin and Studio APIs use
    /// [`Refusal::from_admin_store`].
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SiteNotFound => Refusal::new(codes::SITE_NOT_FOUND),
            StoreError::KeyNotFound => Refusal::new(codes::KEY_NOT_FOUND),
            other => Refusal::from_admin_store(other),
        }
    }
}

impl From<keyward_store::ParseError> for Refusal {
    /// A malformed identifier or key from the caller: the store's code for it
    /// (`invalid_site_id`, `invalid_key_length`, `invalid_input`).
    fn from(e: keyward_store::ParseError) -> Self {
        Refusal::from_admin_store(StoreError::from(e))
    }
}

impl Refusal {
    /// Store errors on the admin and Studio APIs: each variant has its keyword.
    pub fn from_admin_store(e: StoreError) -> Self {
        let fixed = match &e {
            StoreError::SiteNotFound => Some(codes::ADMIN_SITE_NOT_FOUND),
            StoreError::KeyNotFound => Some(codes::ADMIN_KEY_NOT_FOUND),
            StoreError::CustomerNotFound => Some(codes::CUSTOMER_NOT_FOUND),
            StoreError::CustomerExists => Some(codes::CUSTOMER_EXISTS),
            StoreError::ClientNotFound => Some(codes::CLIENT_NOT_FOUND),
            StoreError::ClientExists => Some(codes::CLIENT_EXISTS),
            StoreError::ApiKeyNotFound => Some(codes::API_KEY_NOT_FOUND),
            StoreError::FairPlayCredentialNotFound => Some(codes::FAIRPLAY_CREDENTIAL_NOT_FOUND),
            StoreError::FairPlayCredentialExists => Some(codes::FAIRPLAY_CREDENTIAL_EXISTS),
            StoreError::UpstreamNotFound => Some(codes::UPSTREAM_NOT_FOUND),
            StoreError::UpstreamExists => Some(codes::UPSTREAM_EXISTS),
            StoreError::PackagerNotFound => Some(codes::PACKAGER_NOT_FOUND),
            StoreError::PackagerExists => Some(codes::PACKAGER_EXISTS),
            _ => None,
        };
        if let Some(code) = fixed {
            return Refusal::new(code);
        }
        let code = match &e {
            StoreError::SiteExists => codes::SITE_EXISTS,
            StoreError::KeyConflict => codes::KEY_CONFLICT,
            StoreError::InvalidSiteId => codes::INVALID_SITE_ID,
            StoreError::InvalidSecretLength { .. } => codes::INVALID_SECRET_LENGTH,
            StoreError::InvalidKeyLength { .. } => codes::INVALID_KEY_LENGTH,
            StoreError::InvalidCid => codes::INVALID_CID,
            StoreError::InvalidSetting { .. } => codes::INVALID_SETTING,
            StoreError::InvalidInput { .. } => codes::INVALID_INPUT,
            StoreError::InvalidKek(_) => codes::INVALID_KEK,
            StoreError::Locked => return Refusal::new(codes::STORE_LOCKED),
            _ => {
                return Refusal::internal(format!("{e} ({})", e.detail().unwrap_or("-")));
            }
        };
        Refusal::with(code, e.to_string())
    }
}

/// Refusals in ExpressPlay's codes (its token API and rights paths).
pub mod expressplay {
    use keyward_store::StoreError;
    use keyward_token::expressplay::ExpressPlayError;

    use super::{Class, Refusal};
    use crate::codes;

    /// A library refusal with its registered code.
    pub fn refusal(e: &ExpressPlayError) -> Refusal {
        Refusal::with(codes::expressplay(e.code()), e.to_string())
    }

    /// A refusal from an ExpressPlay code and details.
    pub fn refuse(code: i32, detail: impl Into<String>) -> Refusal {
        refusal(&ExpressPlayError::new(code, detail))
    }

    /// An internal failure: -2030 with a 500 and a generic message; the
    /// detail is logged.
    pub fn internal(detail: impl Into<String>) -> Refusal {
        Refusal::with(
            codes::EP_ADMIN,
            "ExpressPlay Admin error: internal error; the request id identifies it in the server log",
        )
        .class(Class::Internal)
        .log(detail)
    }

    /// A store failure as an internal error.
    pub fn store_failure(e: &StoreError) -> Refusal {
        internal(format!("{e} ({})", e.detail().unwrap_or("-")))
    }
}
