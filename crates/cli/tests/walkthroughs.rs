//! The five-minute walkthroughs in the docs run as written: the shell block after
//! `<!-- walkthrough -->` is executed with bash (the built `keyward` first on
//! `PATH`, a free `PORT`), and every `# -> text` line in it must appear in what the
//! block printed.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "support/proc.rs"]
mod proc;

use std::path::Path;
use std::process::Command;

use proc::free_port;

fn block(doc: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let after = text
        .split_once("<!-- walkthrough -->")
        .unwrap_or_else(|| panic!("{doc} has no walkthrough marker"))
        .1;
    let start = after
        .find("```sh\n")
        .expect("a ```sh block after the marker")
        + 6;
    let end = after[start..].find("```").expect("the block ends") + start;
    after[start..end].to_owned()
}

fn run(doc: &str) {
    let script = block(doc);
    let expected: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# -> "))
        .collect();
    assert!(
        !expected.is_empty(),
        "{doc}: the walkthrough shows no output to check"
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_keyward")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(format!(
            "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}"
        ))
        .current_dir(work.path())
        .env("PATH", path)
        .env("PORT", free_port().to_string())
        .env("NO_COLOR", "1")
        .env_remove("KEYWARD_DATA_DIR")
        .env_remove("KEYWARD_KEK")
        .env_remove("KEYWARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{doc}: the walkthrough failed ({:?})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    for want in expected {
        assert!(
            stdout.contains(want),
            "{doc}: expected {want:?} in\n{stdout}\n--- stderr ---\n{stderr}"
        );
    }
}

#[test]
fn studio_token_walkthrough() {
    run("studio-token.md");
}

#[test]
fn expressplay_walkthrough() {
    run("expressplay.md");
}
