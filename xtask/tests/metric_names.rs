//! Every PromQL expression of the operator kit (rules and dashboard) names
//! only metrics that exist: a sample name of the catalog, of the runtime
//! collector or of the remote-write sender, or a recording rule of
//! `deploy/prometheus/recording_rules.yml`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use incident_metrics_catalog::grpc::GrpcCode;
use incident_metrics_core::{DEFAULT_NAMESPACE, LabelEnum};
use xtask::kit;
use xtask::promql::metric_names;

fn prefix() -> String {
    format!("{DEFAULT_NAMESPACE}_")
}

/// Every name an expression may use.
fn known_names() -> Vec<String> {
    let mut names = xtask::reference::sample_names().unwrap_or_else(|e| panic!("{e}"));
    names.extend(
        kit::rules(&read(kit::RECORDING_RULES))
            .into_iter()
            .filter(|r| r.kind == "record")
            .map(|r| r.name),
    );
    names
}

/// `(where, expr)` for every expression of the rules and the dashboard.
fn every_expr() -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for file in [kit::RECORDING_RULES, kit::ALERT_RULES] {
        for rule in kit::rules(&read(file)) {
            exprs.push((format!("{file}: {}", rule.name), rule.expr));
        }
    }
    for panel in kit::panels(&dashboard()) {
        for expr in panel.exprs {
            exprs.push((
                format!("{}: {} / {}", kit::DASHBOARD, panel.row, panel.title),
                expr,
            ));
        }
    }
    exprs
}

#[test]
fn every_expression_uses_only_metrics_that_exist() {
    let known = known_names();
    let exprs = every_expr();
    assert!(
        exprs.len() > 60,
        "too few expressions found: {}",
        exprs.len()
    );
    let mut unknown = Vec::new();
    for (place, expr) in &exprs {
        let names = metric_names(expr, &prefix());
        if names.is_empty() && !expr.contains("up{") {
            unknown.push(format!("{place}: no metric name in `{expr}`"));
        }
        for name in names {
            if !known.contains(&name) {
                unknown.push(format!("{place}: `{name}` does not exist"));
            }
        }
    }
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
}

#[test]
fn the_check_rejects_a_name_that_does_not_exist() {
    let known = known_names();
    for bad in [
        // The spec's old name, without `_total`.
        "rate(llm_incident_manager_llm_cost_usd[1h])",
        // A histogram read without `_bucket`.
        "histogram_quantile(0.9, rate(llm_incident_manager_http_request_duration_seconds[5m]))",
        // A recording rule nobody defines.
        "job:llm_incident_manager_nothing:rate5m",
    ] {
        let names = metric_names(bad, &prefix());
        assert!(
            names.iter().any(|n| !known.contains(n)),
            "`{bad}` passed the check"
        );
    }
}

#[test]
fn recording_rules_use_the_contract_status_values() {
    let text = read(kit::RECORDING_RULES);
    assert!(text.contains(r#"status=~"5..""#));
    assert!(text.contains(r#"status!="OK""#));
    for code in ["UNKNOWN", "DEADLINE_EXCEEDED", "INTERNAL", "UNAVAILABLE"] {
        assert!(
            <GrpcCode as LabelEnum>::ALL
                .iter()
                .any(|c| c.as_str() == code),
            "{code} is not a gRPC code of the catalog"
        );
    }
}
