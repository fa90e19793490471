//! Helpers shared by the operator-kit tests: the kit's files, promtool,
//! scratch directories.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use xtask::kit::{self, workspace_root};

/// The text of the kit file at `relative` (to the workspace root).
pub fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The dashboard as JSON.
pub fn dashboard() -> Value {
    serde_json::from_str(&read(kit::DASHBOARD)).expect("the dashboard is valid JSON")
}

/// The promtool unit-test files, sorted.
pub fn rule_test_files() -> Vec<PathBuf> {
    let dir = workspace_root().join(kit::RULE_TESTS_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// promtool, or `None` (outside CI) when it is not installed.
pub fn promtool() -> Option<PathBuf> {
    incident_metrics_testing::program("promtool", "apt-get install -y prometheus")
}

/// Runs `program args...` and fails the test, with its output, unless it
/// succeeds; returns its output.
pub fn run_ok(program: &Path, args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "`{} {}` failed ({}):\n{text}",
        program.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        output.status
    );
    text
}

/// A fresh scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Self {
        Self(incident_metrics_testing::scratch_dir(&format!(
            "xtask-{what}"
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A rule file recording each `(name, expr)`, so that promtool parses every
/// expression (`promtool check rules` runs PromQL's parser on each).
pub fn rules_file(records: &[(String, String)]) -> String {
    let mut text = String::from("groups:\n  - name: xtask_check\n    rules:\n");
    for (name, expr) in records {
        text.push_str(&format!("      - record: {name}\n        expr: |\n"));
        for line in expr.lines() {
            text.push_str(&format!("          {line}\n"));
        }
    }
    text
}
