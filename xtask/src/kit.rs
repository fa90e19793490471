//! The operator kit under `deploy/`: where its files are, and the PromQL
//! they hold (rule files read line by line, the dashboard as JSON).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The Prometheus configuration, relative to the workspace root.
pub const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
/// The recording rules, relative to the workspace root.
pub const RECORDING_RULES: &str = "deploy/prometheus/recording_rules.yml";
/// The alerting rules, relative to the workspace root.
pub const ALERT_RULES: &str = "deploy/prometheus/alert_rules.yml";
/// The promtool unit tests, relative to the workspace root.
pub const RULE_TESTS_DIR: &str = "deploy/prometheus/tests";
/// The Alertmanager configuration, relative to the workspace root.
pub const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";
/// The Grafana dashboard, relative to the workspace root.
pub const DASHBOARD: &str = "deploy/grafana/llm-incident-manager.json";

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A rule of a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `record` or `alert`.
    pub kind: &'static str,
    /// The recorded series or the alert's name.
    pub name: String,
    /// The PromQL expression.
    pub expr: String,
}

/// The rules of a Prometheus rule file, read line by line: each
/// `- record: NAME` or `- alert: NAME` item, and its `expr:`, given on one
/// line or as a block scalar (`expr: |` followed by more-indented lines).
/// Good for the kit's own files, which keep to that shape; promtool checks
/// the YAML itself.
pub fn rules(text: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = Vec::new();
    let mut current: Option<(&'static str, String)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start().trim_start_matches("- ").trim();
        if let Some(name) = trimmed.strip_prefix("record:") {
            current = Some(("record", unquote(name)));
        } else if let Some(name) = trimmed.strip_prefix("alert:") {
            current = Some(("alert", unquote(name)));
        } else if let Some(expr) = trimmed.strip_prefix("expr:") {
            let indent = line.len() - line.trim_start().len();
            let expr = expr.trim();
            let text = if expr.starts_with('|') || expr.starts_with('>') {
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                block.join("\n").trim().to_owned()
            } else {
                unquote(expr)
            };
            if let Some((kind, name)) = current.take() {
                rules.push(Rule {
                    kind,
                    name,
                    expr: text,
                });
            }
        }
        i += 1;
    }
    rules
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

/// A dashboard panel with queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    /// The title of the row the panel sits in.
    pub row: String,
    /// The panel's title.
    pub title: String,
    /// The `expr` of each of its targets.
    pub exprs: Vec<String>,
}

/// The rows (titles, in order) of a dashboard.
pub fn rows(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .map(|panels| {
            panels
                .iter()
                .filter(|p| p["type"] == "row")
                .filter_map(|p| p["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every non-row panel of a dashboard, with the row it sits in (rows'
/// nested `panels`, for collapsed rows, included).
pub fn panels(dashboard: &Value) -> Vec<Panel> {
    let mut out = Vec::new();
    let mut row = String::new();
    let Some(top) = dashboard["panels"].as_array() else {
        return out;
    };
    for panel in top {
        if panel["type"] == "row" {
            row = panel["title"].as_str().unwrap_or_default().to_owned();
            if let Some(nested) = panel["panels"].as_array() {
                for p in nested {
                    out.push(panel_of(&row, p));
                }
            }
        } else {
            out.push(panel_of(&row, panel));
        }
    }
    out
}

fn panel_of(row: &str, panel: &Value) -> Panel {
    let exprs = panel["targets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .filter_map(|t| t["expr"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Panel {
        row: row.to_owned(),
        title: panel["title"].as_str().unwrap_or_default().to_owned(),
        exprs,
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_one_line_and_block_exprs() {
        let text = "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: sum(x)\n      - alert: Hot\n        expr: |\n          a:b:c\n            > 1\n        for: 5m\n        labels:\n          severity: page\n";
        let rules = rules(text);
        assert_eq!(
            rules,
            [
                Rule {
                    kind: "record",
                    name: "a:b:c".into(),
                    expr: "sum(x)".into()
                },
                Rule {
                    kind: "alert",
                    name: "Hot".into(),
                    expr: "a:b:c\n> 1".into()
                },
            ]
        );
    }

    #[test]
    fn panels_keep_their_row() {
        let dashboard: Value = serde_json::json!({"panels": [
            {"type": "row", "title": "HTTP", "panels": []},
            {"type": "timeseries", "title": "Rate", "targets": [{"expr": "x"}]},
            {"type": "row", "title": "Process", "collapsed": true, "panels": [
                {"type": "stat", "title": "CPU", "targets": [{"expr": "y"}, {"expr": "z"}]}
            ]}
        ]});
        assert_eq!(rows(&dashboard), ["HTTP", "Process"]);
        let panels = panels(&dashboard);
        assert_eq!(panels.len(), 2);
        assert_eq!(panels[1].row, "Process");
        assert_eq!(panels[1].exprs, ["y", "z"]);
    }
}
