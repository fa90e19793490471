//! The whole catalog, rendered by the exporter, judged by the real tools:
//! promtool reads the Prometheus 0.0.4 answer and Python's OpenMetrics
//! parser reads the OpenMetrics answer, before any traffic and with a
//! sample in every family.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use incident_metrics::catalog::FAMILIES;
use incident_metrics::catalog::test_util::populate_every_family;
use incident_metrics::exporter::{Format, render};
use incident_metrics::{Metrics, MetricsConfig};
use incident_metrics_core::MetricKind;

fn registry() -> Metrics {
    // A global label whose value needs escaping in both formats.
    let config = MetricsConfig::new().with_global_label("env", "prod \"eu\" \\ zone\nü");
    Metrics::new(config.clone()).unwrap()
}

fn om_kind(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
        _ => "info",
    }
}

#[test]
fn promtool_accepts_the_prometheus_answer_before_and_after_traffic() {
    let metrics = registry();
    let before = render(metrics.registry(), Format::Prometheus).unwrap();
    for spec in FAMILIES {
        let name = spec.full_name("llm_incident_manager");
        let name = match spec.kind {
            MetricKind::Counter => format!("{name}_total"),
            _ => name,
        };
        assert!(
            before.contains(&format!("# TYPE {name} ")),
            "{name} not announced"
        );
    }
    incident_metrics_testing::promtool_check_metrics(&before);

    populate_every_family(metrics.catalog());
    let after = render(metrics.registry(), Format::Prometheus).unwrap();
    assert!(!after.contains("# EOF") && !after.contains("# UNIT"));
    incident_metrics_testing::promtool_check_metrics(&after);
}

#[test]
fn the_openmetrics_parser_reads_every_family_with_its_type_and_values() {
    let metrics = registry();
    let before = render(metrics.registry(), Format::OpenMetrics).unwrap();
    let Some(parsed) = incident_metrics_testing::parse_openmetrics(&before) else {
        return;
    };
    assert_eq!(
        parsed.families.len(),
        FAMILIES.len(),
        "every family announced"
    );
    for (family, spec) in parsed.families.iter().zip(FAMILIES) {
        assert_eq!(family.name, spec.full_name("llm_incident_manager"));
        assert_eq!(family.kind, om_kind(spec.kind), "{}", family.name);
        assert_eq!(
            family.unit,
            spec.unit.map_or("", |u| u.as_str()),
            "{}",
            family.name
        );
        assert_eq!(family.help, format!("{}.", spec.help), "{}", family.name);
    }

    populate_every_family(metrics.catalog());
    let after = render(metrics.registry(), Format::OpenMetrics).unwrap();
    let parsed = incident_metrics_testing::parse_openmetrics(&after).unwrap();
    for spec in FAMILIES {
        let name = spec.full_name("llm_incident_manager");
        assert!(
            parsed.samples.iter().any(|s| s.family == name),
            "{name} has no sample"
        );
    }
    for sample in &parsed.samples {
        assert_eq!(
            sample.labels["env"], "prod \"eu\" \\ zone\nü",
            "{}",
            sample.name
        );
    }
    let value = |name: &str, label: (&str, &str)| {
        parsed
            .samples
            .iter()
            .find(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
            .unwrap_or_else(|| panic!("no {name}{{{}={}}}", label.0, label.1))
            .value
    };
    assert_eq!(
        value("llm_incident_manager_llm_cost_usd_total", ("model", "m")),
        0.25
    );
    assert_eq!(
        value("llm_incident_manager_llm_tokens_total", ("type", "input")),
        5.0
    );
    assert_eq!(
        value(
            "llm_incident_manager_storage_size_bytes",
            ("backend", "sqlite")
        ),
        4096.0
    );
    assert_eq!(
        value(
            "llm_incident_manager_build_info",
            ("env", "prod \"eu\" \\ zone\nü")
        ),
        1.0
    );
}
