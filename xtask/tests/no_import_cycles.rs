//! Issue #20's rule: no crate of the workspace has an import cycle between
//! its top-level modules (see `xtask::modules` for what counts).

use std::path::Path;

#[test]
fn no_crate_has_an_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut crates = Vec::new();
    for parent in ["crates", "tools"] {
        for entry in std::fs::read_dir(root.join(parent)).expect("read the crates' folder") {
            let src = entry.expect("a crate").path().join("src");
            if src.is_dir() {
                crates.push(src);
            }
        }
    }
    crates.push(root.join("xtask").join("src"));
    crates.push(root.join("benches").join("src"));
    assert!(crates.len() >= 10, "found only {crates:?}");
    let mut found = Vec::new();
    for src in &crates {
        let cycles = xtask::modules::import_cycles(src).expect("read the sources");
        if !cycles.is_empty() {
            found.push(format!("{}: {cycles:?}", src.display()));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}
