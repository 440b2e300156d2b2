//! Fuzz target `token_pallycon`: see `keyward_fuzz::token_pallycon` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::token_pallycon(data));
