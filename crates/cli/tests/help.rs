//! Every leaf command's `--help` has an example that can be copied as is
//! (no hard wrap without `\`), and no default printed twice. The commands are
//! found by walking `--help` itself, so a new command is checked the day it
//! is added.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::process::Command;

fn help(path: &[String]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success(), "{path:?} --help");
    String::from_utf8(o.stdout).unwrap()
}

/// The subcommands listed under `Commands:` (without `help`).
fn subcommands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            // A wrapped description continues on a deeper-indented line.
            if line.starts_with("   ") {
                continue;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}

fn leaves(path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let text = help(&path);
    let subs = subcommands(&text);
    if subs.is_empty() {
        out.push((path, text));
        return;
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s);
        leaves(p, out);
    }
}

#[test]
fn every_leaf_command_has_a_copyable_example_and_single_defaults() {
    let mut all = Vec::new();
    leaves(Vec::new(), &mut all);
    assert!(all.len() >= 30, "only {} leaf commands found", all.len());
    let mut problems = Vec::new();
    for (path, text) in &all {
        let name = path.join(" ");
        if !text.contains("Example") {
            problems.push(format!("{name}: no example"));
        }
        for line in text.lines() {
            if line.matches("[default:").count() > 1 {
                problems.push(format!("{name}: default printed twice: {}", line.trim()));
            }
        }
        // The example block: from the "Example" line to the first blank line.
        let mut block = text
            .lines()
            .skip_while(|l| !l.starts_with("Example"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty());
        let mut previous: Option<&str> = None;
        let mut commands = 0;
        for line in block.by_ref() {
            // Environment assignments may lead a command (`KEYWARD_X=1 keyward …`).
            let t = line
                .split_whitespace()
                .skip_while(|w| {
                    w.split_once('=').is_some_and(|(k, _)| {
                        !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                    })
                })
                .collect::<Vec<_>>()
                .join(" ");
            let t = t.as_str();
            let continues = previous.is_some_and(|p| p.ends_with('\\') || p.ends_with('|'));
            let starts = ["keyward ", "echo ", "curl "]
                .iter()
                .any(|c| t.starts_with(c));
            if starts {
                commands += 1;
            } else if !continues {
                problems.push(format!(
                    "{name}: example line is neither a command nor a continuation: {line}"
                ));
            }
            previous = Some(line.trim_end());
        }
        if commands == 0 && text.contains("Example") {
            problems.push(format!("{name}: the example has no keyward command"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
