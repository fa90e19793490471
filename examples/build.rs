//! Copies the Rust block of `docs/getting-started.md` that follows the
//! marker comment into `$OUT_DIR/guide.rs`, which `src/lib.rs` includes as
//! `incident_metrics_examples::guide`: the tests then run the guide's own
//! code, not a copy that could drift from it.

use std::error::Error;
use std::path::PathBuf;

/// The comment that marks the block, as written in the guide.
const MARKER: &str =
    "<!-- examples/build.rs compiles the next block into incident_metrics_examples::guide";

fn main() -> Result<(), Box<dyn Error>> {
    let guide =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../docs/getting-started.md");
    println!("cargo::rerun-if-changed={}", guide.display());
    let text = std::fs::read_to_string(&guide)
        .map_err(|e| format!("cannot read {}: {e}", guide.display()))?;
    let after = text
        .split_once(MARKER)
        .ok_or_else(|| {
            format!(
                "{} has no line starting `{MARKER}`: put it back before the block of section 3",
                guide.display()
            )
        })?
        .1;
    let mut lines = after.lines().skip(1);
    match lines.next() {
        Some("```rust") => {}
        other => {
            return Err(format!(
                "{}: the line after the marker must open a ```rust block, found {other:?}",
                guide.display()
            )
            .into());
        }
    }
    let mut code = String::new();
    for line in lines.by_ref() {
        if line == "```" {
            let out = PathBuf::from(std::env::var("OUT_DIR")?).join("guide.rs");
            std::fs::write(&out, code)?;
            return Ok(());
        }
        // rustdoc's hidden lines (`# code`) are code too.
        let line = match line {
            "#" => "",
            l => l.strip_prefix("# ").unwrap_or(l),
        };
        code.push_str(line);
        code.push('\n');
    }
    Err(format!(
        "{}: the block after the marker is not closed",
        guide.display()
    )
    .into())
}
