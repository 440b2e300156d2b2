//! keyward-drm: the DRM wire formats keyward reads and writes.
//!
//! This is the "back door" half of keyward (see DESIGN.md): pure functions over bytes, no
//! I/O, no async, no database, so the same code serves the server, the CLI and fuzzers.
//!
//! * [`clearkey`] — W3C Clear Key requests, releases, licenses and release acks;
//! * [`pssh`] — `pssh` boxes and the Widevine PSSH data protobuf;
//! * [`widevine`] — classifying Widevine challenges without a CDM;
//! * [`playready`] — PlayReady SOAP challenges, WRMHEADER / PlayReady Object read and write;
//! * [`fairplay`] — FairPlay request bodies and the SPC container.
//!
//! Every parser here takes untrusted bytes, so each one has a size limit, checks every
//! length against the bytes present and never panics; failures are a [`DrmError`] with a
//! stable numeric [`DrmError::code`] (PallyCon's license-server code where one exists).

pub mod clearkey;
pub mod cpix;
pub mod error;
pub mod fairplay;
pub mod keys;
pub mod packaging;
pub mod playready;
pub mod pssh;
pub mod widevine;

mod b64;
mod proto;

pub use error::DrmError;
pub use keys::{ContentKey, Kid};

/// Equality of two byte strings in time that depends only on their lengths (MACs,
/// signatures, integrity values).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
