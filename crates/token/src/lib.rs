//! # keyward-token
//!
//! Vendor license-token formats, their policy models and validation, as a pure
//! library (no async runtime, no HTTP, no database) usable on its own as an SDK.
//!
//! Today it speaks the PallyCon/DoveRunner *license token v2* byte for byte:
//! tokens minted here verify on the vendor's license servers, and tokens from
//! the vendor's SDKs verify here.
//!
//! ```
//! use keyward_token::{
//!     DrmType, PlaybackPolicy, Policy, SiteCredentials, Timestamp, TokenBuilder,
//!     UntrustedToken, VerifyOptions,
//! };
//!
//! let creds = SiteCredentials::new(
//!     "TUTO",
//!     b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
//!     b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
//! )?;
//! let policy = Policy::new().playback(PlaybackPolicy::default().persistent(false));
//! let minted = TokenBuilder::new()
//!     .drm_type(DrmType::Widevine)
//!     .user_id("test-user")
//!     .cid("bigbuckbunny")
//!     .policy(&policy)
//!     .timestamp(Timestamp::parse("2021-11-11T07:28:41Z")?)
//!     .mint(&creds)?;
//! // The vendor tutorial's own token, to the byte.
//! assert!(minted.token.starts_with("eyJkcm1fdHlwZSI6IldpZGV2aW5lIiwic2l0ZV9pZCI6IlRVVE8i"));
//!
//! // A license server: parse, look up the site's keys by the claimed id, verify.
//! let untrusted = UntrustedToken::parse(&minted.token)?;
//! assert_eq!(untrusted.untrusted_site_id(), "TUTO");
//! let now = Timestamp::parse("2021-11-11T07:30:00Z")?;
//! let verified = untrusted.verify(&creds, &VerifyOptions::at(now))?;
//! assert_eq!(verified.cid(), "bigbuckbunny");
//! assert_eq!(verified.policy(), &policy);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod crypto;
pub mod customdata;
mod error;
pub mod expressplay;
mod ids;
mod json;
mod jsonread;
pub mod pallycon;
pub mod policy;
pub mod studio;
mod time;

pub use crypto::{AccessKey, SiteKey};
pub use customdata::{AuthData, AuthDataError, CustomDataError, CustomDataV2, UntrustedAuthData};
pub use error::{SdkCode, TimeVerdict, TokenError, VerifyError};
pub use ids::{parse_site_id, DrmType, ResponseFormat, SiteId};
pub use keyward_types::{ContentKey, Kid, ParseError};
pub use pallycon::{
    MintedToken, SiteCredentials, TokenBuilder, UntrustedToken, VerifiedToken, VerifyOptions,
};
pub use policy::{
    AllowedTrackTypes, ExternalKey, FairPlaySecurity, HlsAesKey, MpegCencKey, NcgKey, NcgSecurity,
    PlayReadySecurity, PlaybackPolicy, Policy, PolicyVersion, SecurityPolicy, TrackType,
    WidevineSecurity, WiseplaySecurity,
};
pub use time::{Timestamp, TimestampFormatError};
