//! Fuzz target `server_traceparent`: see `keyward_fuzz::server_traceparent` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::server_traceparent(data));
