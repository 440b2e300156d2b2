//! The shape of the server crate, checked: the gateway core (front doors,
//! gatekeeper, entitlement, back doors, pipeline, refusals, codes) uses no
//! server HTTP types, and no two top-level modules depend on each other in a
//! cycle. See docs/architecture.md.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The gateway core: no axum, no `http` crate types.
const CORE: &[&str] = &[
    "frontdoor",
    "backdoor",
    "gatekeeper",
    "entitlement",
    "pipeline",
    "refusal",
    "codes",
    "streams",
    "resources",
    "state",
    "mint",
    "net",
];

fn rs_files(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_owned()];
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(rs_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

/// Top-level modules: `src/x.rs` or `src/x/`.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(SRC).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        m.insert(name, rs_files(&path));
    }
    m
}

/// Source without comments and without the unit-test modules.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_core_uses_no_http_types() {
    let mods = modules();
    for name in CORE {
        let files = mods
            .get(*name)
            .unwrap_or_else(|| panic!("no module {name}"));
        for f in files {
            let c = code(f);
            for bad in ["axum", "http::", "hyper", "tower"] {
                assert!(
                    !c.contains(bad),
                    "{} uses `{bad}`: the gateway core knows no HTTP types",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn no_import_cycles_between_modules() {
    let mods = modules();
    let names: BTreeSet<&str> = mods.keys().map(String::as_str).collect();
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (m, files) in &mods {
        let d = deps.entry(m.as_str()).or_default();
        for f in files {
            let c = code(f);
            for part in c.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|ch| ch.is_ascii_lowercase() || *ch == '_')
                    .collect();
                if let Some(n) = names.get(name.as_str()) {
                    if *n != m.as_str() {
                        d.insert(n);
                    }
                }
            }
            // `use crate::{a, b::c}` groups.
            for group in c.split("use crate::{").skip(1) {
                let body = group.split('}').next().unwrap_or("");
                for item in body.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("");
                    if let Some(n) = names.get(name) {
                        if *n != m.as_str() {
                            d.insert(n);
                        }
                    }
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        n: &'a str,
        deps: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == n) {
            panic!("import cycle: {} → {n}", path[i..].join(" → "));
        }
        if done.contains(n) {
            return;
        }
        path.push(n);
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, path, done);
        }
        path.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for n in deps.keys() {
        visit(n, &deps, &mut Vec::new(), &mut done);
    }
    // The check sees real edges.
    assert!(deps["pipeline"].contains("frontdoor"));
    assert!(deps["http"].contains("pipeline"));
}
