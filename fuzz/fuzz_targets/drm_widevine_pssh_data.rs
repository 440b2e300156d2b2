//! Fuzz target `drm_widevine_pssh_data`: see `keyward_fuzz::drm_widevine_pssh_data` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_widevine_pssh_data(data));
