//! Fuzz target `types_ids`: see `keyward_fuzz::types_ids` (fuzz/src/entry.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::types_ids(data));
