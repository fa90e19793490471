//! The exposition encoder on arbitrary label values and sample values:
//! never a panic; every label value appears escaped, the OpenMetrics text
//! ends with `# EOF`, and no label value puts a raw line break in the text.
//! (The proptest fuzzer in the exporter's tests parses every line strictly.)

#![no_main]

use std::sync::atomic::AtomicU64;

use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
use incident_metrics_exporter::{Format, render};
use libfuzzer_sys::fuzz_target;

const LEVEL: FamilySpec = FamilySpec {
    name: "level",
    help: "A level",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["v"],
};

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fuzz_target!(|input: (Vec<String>, Vec<f64>, String)| {
    let (values, levels, global) = input;
    let config = MetricsConfig::new()
        .with_namespace("svc")
        .with_global_label("host", global.clone());
    let Ok(mut registry) = Registry::new(&config) else {
        return;
    };
    let gauges = Family::<Vec<(String, String)>, Gauge<f64, AtomicU64>>::default();
    assert!(registry.register(&LEVEL, gauges.clone()).is_ok());
    for (i, value) in values.iter().enumerate() {
        let level = levels.get(i).copied().unwrap_or(0.0);
        gauges
            .get_or_create(&vec![("v".to_owned(), value.clone())])
            .set(level);
    }
    for format in [Format::OpenMetrics, Format::Prometheus] {
        let Ok(text) = render(&registry, format) else {
            panic!("render failed");
        };
        if format == Format::OpenMetrics {
            assert!(text.ends_with("# EOF\n"));
        }
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        let distinct: std::collections::BTreeSet<&String> = values.iter().collect();
        assert_eq!(samples, distinct.len());
        for value in &values {
            assert!(text.contains(&format!("v=\"{}\"", escape(value))));
        }
        if !values.is_empty() {
            assert!(text.contains(&format!("host=\"{}\"", escape(&global))));
        }
    }
});
