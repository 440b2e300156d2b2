//! Fuzz target `token_customdata`: see `keyward_fuzz::token_customdata` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::token_customdata(data));
