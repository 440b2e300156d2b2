//! Fuzz target `drm_pssh_boxes`: see `keyward_fuzz::drm_pssh_boxes` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_pssh_boxes(data));
