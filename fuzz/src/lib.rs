//! keyward's fuzz targets: the bodies live in `entry.rs` (shared with the
//! stable seed test in crates/server/tests/fuzz_seeds.rs); the binaries in
//! `fuzz_targets/` are one-line wrappers for cargo-fuzz.

mod entry;

pub use entry::*;
