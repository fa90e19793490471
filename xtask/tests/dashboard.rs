//! The Grafana dashboard has the agreed rows, a `${datasource}` variable,
//! panels that do not overlap on the grid, an On-call row built on the
//! on-call recording rules, an LLM row that covers the provider chain, an
//! HTTP p99 panel with exemplars, and every panel's query is valid PromQL by
//! promtool's parser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;

use common::*;
use xtask::kit;

const ROWS: &[&str] = &[
    "HTTP",
    "gRPC",
    "Incidents",
    "On-call",
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
fn the_llm_row_covers_tokens_cost_latency_ttft_errors_and_the_provider_chain() {
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
        "llm_queue_duration_seconds_bucket",
        "llm_inter_token_latency_seconds_bucket",
        "llm_finish_reasons_total",
        "llm_rate_limit_headroom:ratio",
        "llm_provider_state",
        "llm_fallbacks_total",
        "llm_budget_spent:ratio",
        "llm_requests_in_flight",
        "llm_cache_read_tokens_total",
    ] {
        assert!(
            llm.iter().any(|e| e.contains(family)),
            "no LLM panel reads {family}"
        );
    }
}

/// The top-level panels of `row`, as JSON (the dashboard's rows are not
/// collapsed: their panels follow them at the top level).
fn row_panels(dashboard: &serde_json::Value, row: &str) -> Vec<serde_json::Value> {
    let mut current = String::new();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            current = panel["title"].as_str().unwrap_or_default().to_owned();
        } else if current == row {
            out.push(panel.clone());
        }
    }
    out
}

#[test]
fn the_http_row_shows_p99_latency_with_exemplars() {
    let dashboard = dashboard();
    let panels: Vec<serde_json::Value> = row_panels(&dashboard, "HTTP")
        .into_iter()
        .filter(|p| {
            p["targets"].as_array().unwrap().iter().any(|t| {
                t["exemplar"] == true
                    && t["expr"].as_str().is_some_and(|e| {
                        e.starts_with("histogram_quantile(0.99,")
                            && e.contains(
                                "rate(llm_incident_manager_http_request_duration_seconds_bucket[",
                            )
                    })
            })
        })
        .collect();
    assert_eq!(
        panels.len(),
        1,
        "one HTTP panel with an exemplar-enabled p99 query"
    );
    let description = panels[0]["description"].as_str().unwrap_or_default();
    // What an operator must turn on, and where the trace link is set up.
    for needed in [
        "`[metrics] exemplars = true`",
        "INCIDENT_METRICS_EXEMPLARS=true",
        "`--enable-feature=exemplar-storage`",
        "exemplarTraceIdDestinations",
        "trace_id",
    ] {
        assert!(
            description.contains(needed),
            "the exemplar panel's description does not name {needed}: {description}"
        );
    }
    // No other panel asks for exemplars: each such query costs Prometheus
    // an exemplar lookup on every refresh.
    let everywhere = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["exemplar"] == true)
        .count();
    assert_eq!(everywhere, 1);
}

#[test]
fn the_provider_state_panel_names_the_three_states() {
    let dashboard = dashboard();
    let panel = row_panels(&dashboard, "LLM")
        .into_iter()
        .find(|p| {
            p["targets"][0]["expr"]
                .as_str()
                .is_some_and(|e| e.contains("llm_incident_manager_llm_provider_state"))
        })
        .expect("an LLM panel reads llm_provider_state");
    let mappings = &panel["fieldConfig"]["defaults"]["mappings"][0]["options"];
    // The gauge's values as the catalog defines them: 0 healthy, 1
    // degraded, 2 down.
    for (value, text) in [("0", "healthy"), ("1", "degraded"), ("2", "down")] {
        assert_eq!(mappings[value]["text"], text, "{}", panel["fieldConfig"]);
    }
}

#[test]
fn the_on_call_row_reads_the_on_call_recording_rules() {
    let panels = kit::panels(&dashboard());
    let on_call: Vec<&kit::Panel> = panels.iter().filter(|p| p.row == "On-call").collect();
    // (what the row must show, the recording rule its panel reads)
    for (what, rule) in [
        (
            "incidents opened by source",
            "job_source_severity:llm_incident_manager_incidents_opened:rate5m",
        ),
        (
            "open alert-backed incidents",
            "job_source:llm_incident_manager_incidents_active_by_source:sum{source=\"alertmanager\"}",
        ),
        (
            "MTTA",
            "job_severity_source:llm_incident_manager_incident_time_to_acknowledge_seconds:mean1h",
        ),
        (
            "MTTA p90",
            "job_severity_source:llm_incident_manager_incident_time_to_acknowledge_seconds:p90_rate1h",
        ),
        (
            "MTTR",
            "job_severity_source:llm_incident_manager_incident_time_to_resolve_seconds:mean1h",
        ),
        (
            "MTTR p90",
            "job_severity_source:llm_incident_manager_incident_time_to_resolve_seconds:p90_rate1h",
        ),
        (
            "alerts received by status",
            "job_receiver_status:llm_incident_manager_alerts_received:rate5m",
        ),
        (
            "notifications that reached a person",
            "job_channel:llm_incident_manager_notifications_sent:rate5m",
        ),
        (
            "the delivered ratio",
            "job_channel:llm_incident_manager_notifications_delivered:ratio_rate5m",
        ),
    ] {
        assert!(
            on_call
                .iter()
                .any(|p| p.exprs.iter().any(|e| e.contains(rule))),
            "no On-call panel shows {what} (`{rule}`)"
        );
    }
    let recorded: Vec<String> = kit::rules(&read(kit::RECORDING_RULES))
        .into_iter()
        .map(|r| r.name)
        .collect();
    for panel in &on_call {
        for expr in &panel.exprs {
            let names = xtask::promql::metric_names(expr, "llm_incident_manager_");
            assert!(
                !names.is_empty() && names.iter().all(|n| recorded.contains(n)),
                "On-call / {}: `{expr}` should read recording rules only",
                panel.title
            );
        }
    }
}

#[test]
fn panels_sit_on_the_grid_without_overlapping() {
    let dashboard = dashboard();
    let mut boxes: Vec<(String, u64, u64, u64, u64)> = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let grid = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| grid[k].as_u64().unwrap());
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {grid}");
        if panel["type"] == "row" {
            assert_eq!((x, w, h), (0, 24, 1), "row {title}: gridPos {grid}");
        }
        for (other, ox, oy, ow, oh) in &boxes {
            let apart = x + w <= *ox || ox + ow <= x || y + h <= *oy || oy + oh <= y;
            assert!(apart, "{title} overlaps {other}");
        }
        boxes.push((title, x, y, w, h));
    }
    // Each row starts below everything before it, so rows read top to bottom.
    let mut bottom = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let y = panel["gridPos"]["y"].as_u64().unwrap();
        if panel["type"] == "row" {
            assert!(
                y >= bottom,
                "row {} starts above a panel before it",
                panel["title"]
            );
        }
        bottom = bottom.max(y + panel["gridPos"]["h"].as_u64().unwrap());
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
