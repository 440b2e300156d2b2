//! Fuzz target `server_licence`: see `keyward_fuzz::server_licence` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::server_licence(data));
