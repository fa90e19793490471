//! The Grafana dashboard has the agreed rows, a `${datasource}` variable,
//! and every panel's query is valid PromQL by promtool's parser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;

use common::*;
use xtask::kit;

const ROWS: &[&str] = &[
    "HTTP",
    "gRPC",
    "Incidents",
    "LLM",
    "Notifications",
    "Playbooks",
    "Storage",
    "Process",
];

#[test]
fn the_dashboard_has_the_rows_and_a_datasource_variable() {
    let dashboard = dashboard();
    assert_eq!(kit::rows(&dashboard), ROWS);
    let schema = dashboard["schemaVersion"].as_u64().unwrap();
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no prometheus datasource variable: {variables:?}"
    );
    let panels = kit::panels(&dashboard);
    for row in ROWS {
        assert!(
            panels.iter().any(|p| p.row == *row),
            "row {row} has no panel"
        );
    }
    let mut ids = Vec::new();
    let top = dashboard["panels"].as_array().unwrap();
    for panel in top {
        ids.push(panel["id"].as_u64().unwrap());
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            !kit::panels(&serde_json::json!({"panels": [panel]}))[0]
                .exprs
                .is_empty(),
            "panel {} has no query",
            panel["title"]
        );
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "panel {}",
                panel["title"]
            );
        }
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "panel ids repeat");
}

#[test]
fn the_llm_row_covers_tokens_cost_latency_ttft_and_errors() {
    let panels = kit::panels(&dashboard());
    let llm: Vec<String> = panels
        .iter()
        .filter(|p| p.row == "LLM")
        .flat_map(|p| p.exprs.clone())
        .collect();
    for family in [
        "llm_tokens",
        "llm_cost_usd",
        "llm_request_duration_seconds",
        "llm_time_to_first_token_seconds_bucket",
        "llm_errors",
    ] {
        assert!(
            llm.iter().any(|e| e.contains(family)),
            "no LLM panel reads {family}"
        );
    }
}

#[test]
fn every_panel_query_is_valid_promql() {
    let Some(promtool) = promtool() else { return };
    let mut records = Vec::new();
    for (i, panel) in kit::panels(&dashboard()).iter().enumerate() {
        for (j, expr) in panel.exprs.iter().enumerate() {
            records.push((format!("xtask_dashboard_panel_{i}_{j}"), expr.clone()));
        }
    }
    let scratch = Scratch::new("dashboard");
    let file = scratch.path().join("dashboard_queries.yml");
    std::fs::write(&file, rules_file(&records)).unwrap();
    let report = run_ok(
        &promtool,
        &[OsStr::new("check"), OsStr::new("rules"), file.as_os_str()],
    );
    assert!(
        report.contains(&format!("SUCCESS: {} rules found", records.len())),
        "{report}"
    );
}

#[test]
fn promtool_rejects_a_broken_query() {
    // The check above would be worthless if promtool accepted anything.
    let Some(promtool) = promtool() else { return };
    let scratch = Scratch::new("broken");
    let file = scratch.path().join("broken.yml");
    std::fs::write(
        &file,
        rules_file(&[("broken".into(), "sum by (path (rate(x[5m]))".into())]),
    )
    .unwrap();
    let output = std::process::Command::new(&promtool)
        .args([OsStr::new("check"), OsStr::new("rules"), file.as_os_str()])
        .output()
        .unwrap();
    assert!(!output.status.success());
}
