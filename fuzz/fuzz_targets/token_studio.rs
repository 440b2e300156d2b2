//! Fuzz target `token_studio`: see `keyward_fuzz::token_studio` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::token_studio(data));
