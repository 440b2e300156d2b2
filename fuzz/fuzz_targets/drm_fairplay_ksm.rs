//! Fuzz target `drm_fairplay_ksm`: see `keyward_fuzz::drm_fairplay_ksm` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_fairplay_ksm(data));
