//! The catalog against CONTRACT.md's table: every family announced from the
//! start with the contract's type, and the label keys actually encoded equal
//! the declared ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use incident_metrics_catalog::http::{HttpRouteLabels, Method};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_catalog::{Catalog, FAMILIES};
use incident_metrics_core::prometheus_client::encoding::{prometheus_text, text};
use incident_metrics_core::{MetricsConfig, Registry};

/// CONTRACT.md's table: name after the prefix (0.0.4 form), type, labels.
const CONTRACT: &[(&str, &str, &[&str])] = &[
    (
        "http_requests_total",
        "counter",
        &["method", "path", "status"],
    ),
    (
        "http_request_duration_seconds",
        "histogram",
        &["method", "path"],
    ),
    ("http_request_size_bytes", "histogram", &["method", "path"]),
    ("http_response_size_bytes", "histogram", &["method", "path"]),
    ("http_connections_active", "gauge", &[]),
    (
        "grpc_requests_total",
        "counter",
        &["service", "method", "status"],
    ),
    (
        "grpc_request_duration_seconds",
        "histogram",
        &["service", "method"],
    ),
    ("grpc_streams_active", "gauge", &["service", "method"]),
    ("incidents_total", "counter", &["severity", "status"]),
    ("incidents_active", "gauge", &["severity"]),
    (
        "incident_processing_duration_seconds",
        "histogram",
        &["severity"],
    ),
    ("incidents_deduplicated_total", "counter", &[]),
    ("incidents_correlated_total", "counter", &[]),
    ("incident_escalations_total", "counter", &["level"]),
    ("incidents_pruned_total", "counter", &[]),
    ("incidents_opened_total", "counter", &["severity", "source"]),
    ("incidents_active_by_source", "gauge", &["source"]),
    (
        "incident_time_to_acknowledge_seconds",
        "histogram",
        &["severity", "source"],
    ),
    (
        "incident_time_to_resolve_seconds",
        "histogram",
        &["severity", "source"],
    ),
    ("alerts_received_total", "counter", &["receiver", "status"]),
    ("alerts_truncated_total", "counter", &["receiver"]),
    (
        "llm_requests_total",
        "counter",
        &["provider", "model", "operation"],
    ),
    (
        "llm_request_duration_seconds",
        "histogram",
        &["provider", "model", "operation"],
    ),
    (
        "llm_tokens_total",
        "counter",
        &["provider", "model", "type"],
    ),
    (
        "llm_errors_total",
        "counter",
        &["provider", "model", "error_type"],
    ),
    ("llm_cost_usd_total", "counter", &["provider", "model"]),
    // Issue #21: the LLM families at the level of vLLM, LiteLLM and the
    // OpenTelemetry GenAI conventions, and the provider chain's.
    (
        "llm_request_tokens",
        "histogram",
        &["provider", "model", "type"],
    ),
    (
        "llm_queue_duration_seconds",
        "histogram",
        &["provider", "model"],
    ),
    (
        "llm_inter_token_latency_seconds",
        "histogram",
        &["provider", "model"],
    ),
    (
        "llm_finish_reasons_total",
        "counter",
        &["provider", "model", "reason"],
    ),
    (
        "llm_cache_read_tokens_total",
        "counter",
        &["provider", "model"],
    ),
    ("llm_requests_in_flight", "gauge", &["provider"]),
    (
        "llm_rate_limit_remaining",
        "gauge",
        &["provider", "model", "kind"],
    ),
    (
        "llm_rate_limit_limit",
        "gauge",
        &["provider", "model", "kind"],
    ),
    ("llm_budget_usd", "gauge", &["provider", "model"]),
    ("llm_budget_remaining_usd", "gauge", &["provider", "model"]),
    ("llm_provider_state", "gauge", &["provider"]),
    ("llm_fallbacks_total", "counter", &["from", "to", "outcome"]),
    ("notifications_total", "counter", &["channel", "status"]),
    (
        "notification_delivery_duration_seconds",
        "histogram",
        &["channel"],
    ),
    ("notification_queue_size", "gauge", &["channel"]),
    (
        "playbook_executions_total",
        "counter",
        &["playbook", "status"],
    ),
    (
        "playbook_execution_duration_seconds",
        "histogram",
        &["playbook"],
    ),
    ("playbooks_active", "gauge", &[]),
    ("playbooks_pending", "gauge", &[]),
    (
        "storage_operations_total",
        "counter",
        &["operation", "backend"],
    ),
    (
        "storage_operation_duration_seconds",
        "histogram",
        &["operation", "backend"],
    ),
    ("storage_size_bytes", "gauge", &["backend"]),
    ("errors_total", "counter", &["component", "error_type"]),
    (
        "build_info",
        "gauge",
        &["version", "commit", "build_timestamp"],
    ),
    ("uptime_seconds", "gauge", &[]),
];

const PREFIX: &str = "llm_incident_manager_";

fn render_prometheus(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_text::encode(&mut out, registry.as_prometheus()).unwrap();
    out
}

fn render_openmetrics(registry: &Registry) -> String {
    let mut out = String::new();
    text::encode(&mut out, registry.as_prometheus()).unwrap();
    out
}

#[test]
fn every_contract_family_is_announced_before_any_traffic() {
    let metrics = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let text = render_prometheus(metrics.registry());
    for (name, kind, _) in CONTRACT {
        let full = format!("{PREFIX}{name}");
        assert!(
            text.contains(&format!("# HELP {full} ")),
            "no HELP for {full} in:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {full} {kind}\n")),
            "no `# TYPE {full} {kind}` in:\n{text}"
        );
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with(PREFIX), "unprefixed sample: {line}");
    }
    // OpenMetrics names the counter family without `_total`.
    let om = render_openmetrics(metrics.registry());
    assert!(om.contains("# TYPE llm_incident_manager_llm_cost_usd counter\n"));
    assert!(om.contains("# UNIT llm_incident_manager_llm_cost_usd usd\n"));
    assert!(om.ends_with("# EOF\n"));
}

#[test]
fn declarations_match_the_contract_labels() {
    for (name, _, labels) in CONTRACT {
        let spec = FAMILIES
            .iter()
            .find(|s| {
                let full = s.full_name("");
                match s.kind {
                    incident_metrics_core::MetricKind::Counter => format!("{full}_total") == *name,
                    _ => full == *name,
                }
            })
            .unwrap_or_else(|| panic!("{name} is not declared in FAMILIES"));
        assert_eq!(spec.labels, *labels, "{name}");
    }
}

#[test]
fn families_constant_lists_what_is_registered() {
    let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
    Catalog::register(&mut registry).unwrap();
    let registered: Vec<_> = registry.families().iter().map(|f| f.spec).collect();
    let declared: Vec<_> = FAMILIES.iter().map(|s| **s).collect();
    assert_eq!(registered, declared);
}

#[test]
fn closed_sets_start_at_zero() {
    let metrics = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let text = render_prometheus(metrics.registry());
    for sev in ["critical", "high", "medium", "low", "info"] {
        assert!(text.contains(&format!(
            "{PREFIX}incidents_active{{severity=\"{sev}\"}} 0\n"
        )));
        for status in ["open", "acknowledged", "resolved", "deduplicated", "failed"] {
            assert!(text.contains(&format!(
                "{PREFIX}incidents_total{{severity=\"{sev}\",status=\"{status}\"}} 0\n"
            )));
        }
        assert!(text.contains(&format!(
            "{PREFIX}incident_processing_duration_seconds_count{{severity=\"{sev}\"}} 0\n"
        )));
    }
    for level in 1..=5 {
        assert!(text.contains(&format!(
            "{PREFIX}incident_escalations_total{{level=\"{level}\"}} 0\n"
        )));
    }
    assert!(text.contains(&format!("{PREFIX}incidents_deduplicated_total 0\n")));
    assert!(text.contains(&format!("{PREFIX}build_info{{version=\"")));
}

#[test]
fn encoded_label_keys_equal_the_declared_labels() {
    let metrics = TestMetrics::new(&MetricsConfig::new()).unwrap();
    incident_metrics_catalog::test_util::populate_every_family(metrics.catalog());
    let text = render_openmetrics(metrics.registry());

    // Map every sample line to its family and collect the label keys.
    let mut seen: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut family = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap().to_owned();
            seen.entry(family.clone()).or_default();
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let keys = match line.split_once('{') {
            None => Vec::new(),
            Some((_, rest)) => {
                let labels = &rest[..rest.rfind('}').unwrap()];
                labels
                    .split("\",")
                    .map(|kv| kv.split_once('=').unwrap().0.to_owned())
                    .filter(|k| k != "le")
                    .collect()
            }
        };
        seen.get_mut(&family).unwrap().insert(keys);
    }
    for spec in FAMILIES {
        let name = spec.full_name("llm_incident_manager");
        let keys = seen
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not encoded"));
        let declared: Vec<String> = spec.labels.iter().map(|l| (*l).to_owned()).collect();
        assert!(!keys.is_empty(), "{name} has no series after populate()");
        for k in keys {
            assert_eq!(k, &declared, "{name}");
        }
    }
}

#[test]
fn a_second_catalog_in_one_registry_is_an_error() {
    let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
    Catalog::register(&mut registry).unwrap();
    let err = Catalog::register(&mut registry).unwrap_err();
    assert!(err.to_string().contains("already registered"), "{err}");
}

#[test]
fn bucket_overrides_reach_the_families() {
    let config = MetricsConfig::new().with_buckets("http_request_duration_seconds", vec![0.5, 5.0]);
    let metrics = TestMetrics::new(&config).unwrap();
    let route = HttpRouteLabels {
        method: Method::Post,
        path: "/y".into(),
    };
    metrics
        .catalog()
        .http
        .request_duration
        .get_or_create(&route)
        .observe(1.0);
    let text = render_prometheus(metrics.registry());
    assert!(text.contains(
        "llm_incident_manager_http_request_duration_seconds_bucket{method=\"POST\",path=\"/y\",le=\"5\"} 1\n"
    ), "{text}");
    let bad = MetricsConfig::new().with_buckets("llm_request_duration_seconds", vec![2.0, 1.0]);
    assert!(TestMetrics::new(&bad).is_err());
}

#[test]
fn every_labelled_family_is_bounded_and_starts_its_overflow_count_at_zero() {
    let metrics = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let text = render_prometheus(metrics.registry());
    let mut bounded = 0;
    for spec in FAMILIES.iter().filter(|s| !s.labels.is_empty()) {
        // The two fold counters: their label values are set by code.
        if spec.name == "metrics_cardinality_overflow" || spec.name == "label_values_folded" {
            continue;
        }
        let line = format!(
            "{PREFIX}metrics_cardinality_overflow_total{{family=\"{}\"}} 0\n",
            spec.full_name("")
        );
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
        bounded += 1;
    }
    assert_eq!(
        text.matches(&format!("{PREFIX}metrics_cardinality_overflow_total{{"))
            .count(),
        bounded
    );
}

#[test]
fn family_limits_fold_new_label_sets_into_one_overflow_series() {
    use incident_metrics_catalog::llm::{LlmOperation, LlmRequestLabels};
    let config = MetricsConfig::new()
        .with_cardinality_limit(1000)
        .with_family_cardinality_limit("llm_requests", 3);
    let metrics = TestMetrics::new(&config).unwrap();
    let llm = &metrics.catalog().llm;
    assert_eq!(llm.requests.limit(), 3);
    assert_eq!(llm.tokens.limit(), 1000);
    for i in 0..10 {
        let labels = LlmRequestLabels {
            provider: "p".into(),
            model: format!("m{i}").into(),
            operation: LlmOperation::Chat,
        };
        llm.requests.get_or_create(&labels).inc();
        llm.request_duration.get_or_create(&labels).observe(1.0);
    }
    let text = render_prometheus(metrics.registry());
    let series = text
        .lines()
        .filter(|l| l.starts_with(&format!("{PREFIX}llm_requests_total{{")))
        .count();
    assert_eq!(series, 4, "{text}");
    assert!(text.contains(&format!(
        "{PREFIX}llm_requests_total{{provider=\"other\",model=\"other\",operation=\"other\"}} 7\n"
    )));
    assert!(text.contains(&format!(
        "{PREFIX}metrics_cardinality_overflow_total{{family=\"llm_requests\"}} 7\n"
    )));
    assert!(text.contains(&format!(
        "{PREFIX}metrics_cardinality_overflow_total{{family=\"llm_request_duration_seconds\"}} 0\n"
    )));
}

#[test]
fn an_override_naming_no_family_is_refused_once_registration_is_over() {
    let config = MetricsConfig::new().with_family_cardinality_limit("llm_request", 3);
    let err = TestMetrics::new(&config).unwrap_err();
    assert!(
        err.to_string()
            .contains("`cardinality_limits.llm_request` names no registered family"),
        "{err}"
    );
    assert!(err.to_string().contains("llm_requests"), "{err}");
    // A family the caller registers beside the catalog may be named.
    let config = MetricsConfig::new().with_family_cardinality_limit("jobs", 3);
    let info = incident_metrics_catalog::system::BuildInfo::from_build();
    let mut r = incident_metrics_core::Registry::new(&config).unwrap();
    Catalog::register_with_build_info(&mut r, &info).unwrap();
    {
        const JOBS: incident_metrics_core::FamilySpec = incident_metrics_core::FamilySpec {
            name: "jobs",
            help: "Jobs",
            kind: incident_metrics_core::MetricKind::Counter,
            unit: None,
            labels: &["queue"],
        };
        let jobs: incident_metrics_catalog::CounterFamily<Vec<(String, String)>> =
            r.register_bounded(&JOBS).unwrap();
        assert_eq!(jobs.limit(), 3);
    }
    r.check_cardinality_limits().unwrap();
}
