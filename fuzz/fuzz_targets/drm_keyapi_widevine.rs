//! Fuzz target `drm_keyapi_widevine`: see `keyward_fuzz::drm_keyapi_widevine` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_keyapi_widevine(data));
