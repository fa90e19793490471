//! `docs/metrics.md` is what the generator writes from the catalog today.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use xtask::kit::workspace_root;
use xtask::reference::{REFERENCE_PATH, REGENERATE, metrics_reference};

#[test]
fn the_committed_reference_matches_the_catalog() {
    let want = metrics_reference().unwrap_or_else(|e| panic!("{e}"));
    let path = workspace_root().join(REFERENCE_PATH);
    let have = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; run `{REGENERATE}`", path.display()));
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || have.lines().count().min(want.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{REFERENCE_PATH} disagrees with the catalog (first difference at line {line}): run `{REGENERATE}`"
        );
    }
}
