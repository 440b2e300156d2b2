//! Fuzz target `drm_cpix`: see `keyward_fuzz::drm_cpix` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::drm_cpix(data));
