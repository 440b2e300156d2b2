//! Fuzz target `drm_widevine_challenge`: see `keyward_fuzz::drm_widevine_challenge` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_widevine_challenge(data));
