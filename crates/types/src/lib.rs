//! # keyward-types
//!
//! The words every keyward crate shares, defined once: [`SiteId`], [`Kid`],
//! [`ContentKey`], [`TrackType`] and [`DrmType`].
//!
//! This crate sits below `keyward-token`, `keyward-drm` and `keyward-store`; each
//! of them re-exports these types under its old paths (`keyward_store::Kid`,
//! `keyward_drm::Kid`, `keyward_token::TrackType`, …), so a value read by one
//! crate is handed to another as is: no string round trip, no fallback default.
//!
//! Every parsing function returns a [`ParseError`] with a stable
//! [`code`](ParseError::code). The crates above map it to their own error at
//! their boundary (the token crate to the vendor SDK codes, the store to its
//! `invalid_*` codes), so each wire answer keeps the code and message it had.
//!
//! No async runtime, no I/O, no randomness: generating fresh key material is the
//! store's job (`keyward_store::keys`).

pub mod calendar;
mod drm;
pub mod encoding;
mod error;
mod keys;
mod site;
mod track;

pub use drm::DrmType;
pub use error::ParseError;
pub use keys::{ContentKey, Kid};
pub use site::SiteId;
pub use track::TrackType;
