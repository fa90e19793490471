//! The rule files pass `promtool check rules`, their unit tests pass
//! `promtool test rules`, the Prometheus configuration passes
//! `promtool check config`, and the unit tests cover every alert (firing
//! and not firing) and every recording rule.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;

use common::*;
use xtask::kit::{self, workspace_root};

#[test]
fn promtool_check_rules_passes_on_both_rule_files() {
    let Some(promtool) = promtool() else { return };
    let root = workspace_root();
    let recording = root.join(kit::RECORDING_RULES);
    let alerts = root.join(kit::ALERT_RULES);
    let report = run_ok(
        &promtool,
        &[
            OsStr::new("check"),
            OsStr::new("rules"),
            recording.as_os_str(),
            alerts.as_os_str(),
        ],
    );
    assert!(!report.contains("FAILED"), "{report}");
}

#[test]
fn promtool_test_rules_passes() {
    let Some(promtool) = promtool() else { return };
    let files = rule_test_files();
    assert!(
        files.len() >= 2,
        "expected rule tests in {}",
        kit::RULE_TESTS_DIR
    );
    let mut args = vec![OsStr::new("test"), OsStr::new("rules")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let report = run_ok(&promtool, &args);
    assert!(report.contains("SUCCESS"), "{report}");
    assert!(!report.contains("FAILED"), "{report}");
}

#[test]
fn promtool_check_config_passes() {
    let Some(promtool) = promtool() else { return };
    let config = workspace_root().join(kit::PROMETHEUS_CONFIG);
    run_ok(
        &promtool,
        &[
            OsStr::new("check"),
            OsStr::new("config"),
            config.as_os_str(),
        ],
    );
}

/// `(alertname, firing)` for each `alert_rule_test` case of the test files.
fn alert_cases() -> Vec<(String, bool)> {
    let mut cases = Vec::new();
    for file in rule_test_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = line.strip_prefix("alertname:") else {
                continue;
            };
            let exp = lines[i + 1..]
                .iter()
                .find(|l| l.starts_with("exp_alerts:"))
                .unwrap_or_else(|| panic!("no exp_alerts after `{line}` in {}", file.display()));
            let firing = exp.trim_start_matches("exp_alerts:").trim() != "[]";
            cases.push((name.trim().to_owned(), firing));
        }
    }
    cases
}

#[test]
fn every_alert_has_a_firing_and_a_not_firing_test() {
    let alerts: Vec<String> = kit::rules(&read(kit::ALERT_RULES))
        .into_iter()
        .filter(|r| r.kind == "alert")
        .map(|r| r.name)
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    let cases = alert_cases();
    for alert in &alerts {
        for firing in [true, false] {
            assert!(
                cases.iter().any(|(n, f)| n == alert && *f == firing),
                "no {} test for {alert}",
                if firing { "firing" } else { "not-firing" }
            );
        }
    }
    for (name, _) in &cases {
        assert!(alerts.contains(name), "tests name an unknown alert {name}");
    }
}

#[test]
fn every_recording_rule_is_tested() {
    let recorded: Vec<String> = kit::rules(&read(kit::RECORDING_RULES))
        .into_iter()
        .filter(|r| r.kind == "record")
        .map(|r| r.name)
        .collect();
    assert!(recorded.len() >= 10, "{recorded:?}");
    let tested: String = rule_test_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("- expr:").map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n");
    for name in &recorded {
        assert!(
            xtask::promql::metric_names(&tested, "llm_incident_manager_").contains(name),
            "no promql_expr_test reads the recording rule {name}"
        );
    }
}

#[test]
fn the_rule_reader_finds_every_rule_promtool_finds() {
    // promtool reports "N rules found"; the line reader must agree, or the
    // name checks would miss rules.
    let Some(promtool) = promtool() else { return };
    for file in [kit::RECORDING_RULES, kit::ALERT_RULES] {
        let path = workspace_root().join(file);
        let report = run_ok(
            &promtool,
            &[OsStr::new("check"), OsStr::new("rules"), path.as_os_str()],
        );
        let found = kit::rules(&read(file)).len();
        assert!(
            report.contains(&format!("SUCCESS: {found} rules found")),
            "{file}: the reader found {found} rules, promtool says:\n{report}"
        );
    }
}
