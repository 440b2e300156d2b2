//! Fuzz target `drm_playready_packaging`: see `keyward_fuzz::drm_playready_packaging` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_playready_packaging(data));
