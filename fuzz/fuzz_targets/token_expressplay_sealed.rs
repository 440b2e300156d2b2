//! Fuzz target `token_expressplay_sealed`: see `keyward_fuzz::token_expressplay_sealed` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::token_expressplay_sealed(data));
