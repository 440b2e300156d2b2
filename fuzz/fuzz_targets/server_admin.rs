//! Fuzz target `server_admin`: see `keyward_fuzz::server_admin` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::server_admin(data));
