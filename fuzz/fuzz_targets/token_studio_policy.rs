//! Fuzz target `token_studio_policy`: see `keyward_fuzz::token_studio_policy` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::token_studio_policy(data));
