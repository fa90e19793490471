//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use incident_metrics_catalog::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus, Method};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_catalog::{HistogramFamily, HttpMetrics};
use incident_metrics_core::{MetricsConfig, SharedStr};

/// A fresh registry with every family.
pub(crate) fn registry(config: &MetricsConfig) -> TestMetrics {
    TestMetrics::new(config).unwrap()
}

/// The value of `http_requests_total{method, path, status}` (0 when absent).
pub(crate) fn count(m: &HttpMetrics, method: Method, path: &str, status: HttpStatus) -> u64 {
    m.requests
        .get(&HttpRequestLabels {
            method,
            path: SharedStr::from(path),
            status,
        })
        .map_or(0, |c| c.get())
}

/// `count` for a status code.
pub(crate) fn code(m: &HttpMetrics, method: Method, path: &str, code: u16) -> u64 {
    count(m, method, path, HttpStatus::code(code))
}

/// The number of observations of a route histogram (0 when absent).
pub(crate) fn observations(
    f: &HistogramFamily<HttpRouteLabels>,
    method: Method,
    path: &str,
) -> u64 {
    f.get(&HttpRouteLabels {
        method,
        path: SharedStr::from(path),
    })
    .map_or(0, |h| h.count())
}

/// The sum of the observations of a route histogram.
pub(crate) fn sum(f: &HistogramFamily<HttpRouteLabels>, method: Method, path: &str) -> f64 {
    f.get(&HttpRouteLabels {
        method,
        path: SharedStr::from(path),
    })
    .map_or(0.0, |h| h.sum())
}

/// The registry in the Prometheus 0.0.4 text format.
pub(crate) fn render(registry: &TestMetrics) -> String {
    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::prometheus_text::encode(
        &mut text,
        registry.registry().as_prometheus(),
    )
    .unwrap();
    text
}

/// The sum of every sample of `name` (a full sample name) in `text`.
pub(crate) fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{' | b' '))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Runs `promtool check metrics` on `text` (skipped outside CI when missing).
pub(crate) fn promtool_check(text: &str) {
    incident_metrics_testing::promtool_check_metrics(text);
}
