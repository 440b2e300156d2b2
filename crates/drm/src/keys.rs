//! Key ids and content keys, the two 16-byte values every DRM here speaks about.
//!
//! Both are defined once in `keyward-types` (shared with the token and store
//! crates) and re-exported here, so `keyward_drm::keys::Kid` and
//! `keyward_drm::Kid` keep working. A [`Kid`] holds the CENC / big-endian UUID byte
//! order; PlayReady's little-endian GUIDs are converted at that boundary with
//! [`Kid::from_guid_le`] / [`Kid::to_guid_le`]. A [`ContentKey`]'s `Debug` prints
//! `***`, its equality is constant-time and it is zeroized on drop.

pub use keyward_types::{ContentKey, Kid};
