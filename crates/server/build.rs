//! Names the git commit the server is built from, for the metrics'
//! `keyward_build_info{git_sha}`: `KEYWARD_GIT_SHA` when set (a packager's
//! build), else `git rev-parse --short=12 HEAD` when the source is a git
//! checkout, else nothing (the metric says `unknown`).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=KEYWARD_GIT_SHA");
    if std::env::var_os("KEYWARD_GIT_SHA").is_some() {
        return;
    }
    // Re-run when HEAD moves (a commit, checkout or reset writes its reflog).
    if let Some(log) = git(&[
        "rev-parse",
        "--path-format=absolute",
        "--git-path",
        "logs/HEAD",
    ]) {
        println!("cargo:rerun-if-changed={log}");
    }
    if let Some(sha) = git(&["rev-parse", "--short=12", "HEAD"]) {
        if sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            println!("cargo:rustc-env=KEYWARD_GIT_SHA={sha}");
        }
    }
}
