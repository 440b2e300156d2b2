//! The fuzz seed corpora, run on stable: every file in `fuzz/seeds/<target>/`
//! goes through the same entry function the cargo-fuzz target calls
//! (`fuzz/src/entry.rs`, included below), so a seed that makes a target
//! panic fails `cargo test` without nightly or libFuzzer. Also checks that
//! the fuzz crate, its seeds and the entry table name the same targets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

#[path = "../../../fuzz/src/entry.rs"]
mod entry;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_seed_runs_through_its_target() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, run) in entry::TARGETS {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} has no seed");
        for path in seeds {
            let data = std::fs::read(&path).unwrap();
            total += 1;
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failures.push(format!("{name}: {}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} seeds make their target panic:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn targets_seeds_and_binaries_agree() {
    let table: BTreeSet<String> = entry::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    let stem = |p: &PathBuf| p.file_stem().unwrap().to_string_lossy().into_owned();
    let bins: BTreeSet<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(stem)
        .collect();
    assert_eq!(bins, table, "fuzz/fuzz_targets/*.rs vs entry::TARGETS");
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &table {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let body =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            body.contains(&format!("keyward_fuzz::{name}(data)")),
            "fuzz_targets/{name}.rs does not call its entry function"
        );
    }
    let seed_dirs: BTreeSet<String> = std::fs::read_dir(fuzz_dir().join("seeds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(seed_dirs, table, "fuzz/seeds/* vs entry::TARGETS");
}
