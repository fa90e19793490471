//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use incident_metrics_catalog::Catalog;
use incident_metrics_core::prometheus_client::encoding::prometheus_text;
use incident_metrics_core::{MetricsConfig, Registry};

pub const PREFIX: &str = "llm_incident_manager_";

/// A registry with every catalog family.
pub fn setup() -> (Registry, Catalog) {
    setup_with(&MetricsConfig::new())
}

/// A registry with every catalog family, under `config`.
pub fn setup_with(config: &MetricsConfig) -> (Registry, Catalog) {
    let mut registry = Registry::new(config).unwrap();
    let metrics = Catalog::register(&mut registry).unwrap();
    (registry, metrics)
}

/// The Prometheus 0.0.4 text of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_text::encode(&mut text, registry.as_prometheus()).unwrap();
    text
}

/// The value of the sample `series` (without the prefix), if present.
pub fn value(text: &str, series: &str) -> Option<f64> {
    let head = format!("{PREFIX}{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&head))
        .map(|v| v.parse().unwrap())
}

/// The value of `series`, which must be present.
pub fn get(text: &str, series: &str) -> f64 {
    value(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Asserts two floats are equal within 1e-12.
pub fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-12, "{actual} != {expected}");
}
