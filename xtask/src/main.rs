//! `cargo run -p xtask -- <task>`: project tasks.
//!
//! - `metrics-reference`: writes `docs/metrics.md` from the catalog.
//! - `metrics-reference --check`: fails when `docs/metrics.md` is stale.
#![allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]

use std::process::ExitCode;

use xtask::kit::workspace_root;
use xtask::reference::{REFERENCE_PATH, REGENERATE, metrics_reference};

const USAGE: &str = "usage: cargo run -p xtask -- metrics-reference [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["metrics-reference"] => write_reference(false),
        ["metrics-reference", "--check"] => write_reference(true),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn write_reference(check: bool) -> ExitCode {
    let text = match metrics_reference() {
        Ok(text) => text,
        Err(e) => {
            eprintln!("xtask: cannot generate the metrics reference:\n{e}");
            return ExitCode::FAILURE;
        }
    };
    let path = workspace_root().join(REFERENCE_PATH);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            println!("{REFERENCE_PATH} is current");
            return ExitCode::SUCCESS;
        }
        eprintln!("{REFERENCE_PATH} is stale: run `{REGENERATE}`");
        return ExitCode::FAILURE;
    }
    if let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("xtask: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    match std::fs::write(&path, text) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
