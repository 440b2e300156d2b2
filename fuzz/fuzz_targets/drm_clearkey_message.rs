//! Fuzz target `drm_clearkey_message`: see `keyward_fuzz::drm_clearkey_message` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_clearkey_message(data));
