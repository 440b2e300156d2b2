//! Fuzz target `token_expressplay_params`: see `keyward_fuzz::token_expressplay_params` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::token_expressplay_params(data));
