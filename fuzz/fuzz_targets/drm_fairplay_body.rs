//! Fuzz target `drm_fairplay_body`: see `keyward_fuzz::drm_fairplay_body` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_fairplay_body(data));
