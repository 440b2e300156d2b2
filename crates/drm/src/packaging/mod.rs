//! The packager side of keyward's key server: the wire formats packagers speak
//! to fetch content keys and DRM signalling.
//!
//! * [`widevine`] — the Widevine key API (`POST …/cenc/getcontentkey/<signer>`, what
//!   `shaka-packager --enable_widevine_encryption` calls): the signed envelope, the
//!   request and the answer with keys and Widevine PSSH data per track and crypto
//!   period;
//! * [`playready`] — PlayReady's `AcquirePackagingData` SOAP method (what
//!   `shaka-packager --enable_playready_encryption` calls): request and answer
//!   (KeyId, KeyData, the PlayReady Object) and SOAP faults;
//! * [`keyseed`] — Microsoft's PlayReady key seed derivation (key from seed and
//!   KID).
//!
//! CPIX and SPEKE documents are in [`crate::cpix`].
//!
//! As everywhere in this crate: pure functions over bytes, bounded input, typed
//! errors with stable codes, no key material in any message.

pub mod keyseed;
pub mod playready;
pub mod widevine;
