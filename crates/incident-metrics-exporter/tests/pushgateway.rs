//! The Pushgateway client against a real Pushgateway: push (`PUT`) and add
//! (`POST`) show our families on its `/metrics` under the grouping key,
//! escaped values (`/`, empty) included, and delete removes the group.

#![cfg(feature = "pushgateway")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;
mod support;

use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{Histogram, MetricKind, Registry, Unit};
use incident_metrics_exporter::{Error, Pushgateway, PushgatewayConfig};
use push_support::{Program, free_port, get};
use support::{Sample, parse_samples, registry, spec};

/// A registry with a counter `svc_jobs_total` at `jobs` and an empty
/// labelled family.
fn jobs_registry(jobs: u64) -> Registry {
    let mut r = registry(&[("env", "ci")]);
    let counter = Counter::<u64>::default();
    r.register(
        &spec("jobs", "Jobs run", MetricKind::Counter, None, &[]),
        counter.clone(),
    )
    .unwrap();
    counter.inc_by(jobs);
    let empty = Family::<Vec<(String, String)>, Counter>::default();
    r.register(
        &spec("errors", "Errors met", MetricKind::Counter, None, &["kind"]),
        empty,
    )
    .unwrap();
    r
}

/// A registry with a gauge `svc_rows` at `rows`.
fn rows_registry(rows: i64) -> Registry {
    let mut r = registry(&[]);
    let gauge = Gauge::<i64>::default();
    r.register(
        &spec("rows", "Rows written", MetricKind::Gauge, None, &[]),
        gauge.clone(),
    )
    .unwrap();
    gauge.set(rows);
    r
}

/// The samples of our group (job `batch/1`) on the Pushgateway's `/metrics`.
async fn group_samples(pg: &Program) -> Vec<Sample> {
    let (status, body) = get(&format!("{}/metrics", pg.base_url())).await;
    assert_eq!(status, 200);
    parse_samples(&body)
        .into_iter()
        .filter(|s| s.label("job") == Some("batch/1") && s.name.starts_with("svc_"))
        .collect()
}

fn value_of(samples: &[Sample], name: &str) -> Option<String> {
    samples
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.value.clone())
}

#[tokio::test]
async fn push_add_and_delete_on_a_real_pushgateway() {
    let Some(pg) = Program::pushgateway() else {
        return;
    };
    let gateway = Pushgateway::from_config(
        &PushgatewayConfig::new(pg.base_url(), "batch/1")
            .with_grouping_label("path", "/var/tmp")
            .with_grouping_label("shard", "")
            .with_grouping_label("instance", "db 1?"),
    )
    .unwrap();

    gateway.push(&jobs_registry(3)).await.unwrap();
    let samples = group_samples(&pg).await;
    let jobs = samples.iter().find(|s| s.name == "svc_jobs_total").unwrap();
    assert_eq!(jobs.value, "3");
    assert_eq!(jobs.label("path"), Some("/var/tmp"));
    assert_eq!(jobs.label("instance"), Some("db 1?"));
    assert_eq!(jobs.label("env"), Some("ci"));
    // An empty grouping value is no label at all in Prometheus terms.
    assert_eq!(jobs.label("shard").unwrap_or(""), "");

    // Add keeps the group's other families.
    gateway.add(&rows_registry(42)).await.unwrap();
    let samples = group_samples(&pg).await;
    assert_eq!(value_of(&samples, "svc_jobs_total").as_deref(), Some("3"));
    assert_eq!(value_of(&samples, "svc_rows").as_deref(), Some("42"));

    // Push replaces the whole group.
    gateway.push(&jobs_registry(5)).await.unwrap();
    let samples = group_samples(&pg).await;
    assert_eq!(value_of(&samples, "svc_jobs_total").as_deref(), Some("5"));
    assert_eq!(value_of(&samples, "svc_rows"), None);

    gateway.delete().await.unwrap();
    assert!(group_samples(&pg).await.is_empty());
}

#[tokio::test]
async fn a_rejected_push_says_why() {
    let Some(pg) = Program::pushgateway() else {
        return;
    };
    // Another group holds a histogram whose `_count` series our gauge would
    // collide with: the Pushgateway refuses the inconsistent push.
    let mut histogram = registry(&[]);
    histogram
        .register_histogram(
            &spec(
                "x",
                "A histogram",
                MetricKind::Histogram,
                Some(Unit::Seconds),
                &[],
            ),
            &[1.0],
            |bounds| Histogram::new("x_seconds", bounds),
        )
        .unwrap();
    Pushgateway::from_config(&PushgatewayConfig::new(pg.base_url(), "first"))
        .unwrap()
        .push(&histogram)
        .await
        .unwrap();
    let mut clash = registry(&[]);
    clash
        .register(
            &spec("x_seconds_count", "A gauge", MetricKind::Gauge, None, &[]),
            Gauge::<i64>::default(),
        )
        .unwrap();
    let gateway =
        Pushgateway::from_config(&PushgatewayConfig::new(pg.base_url(), "second")).unwrap();
    let e = gateway.push(&clash).await.unwrap_err();
    assert!(matches!(e, Error::PushRejected { status: 400, .. }), "{e}");
    assert!(e.to_string().contains("/metrics/job/second"), "{e}");
}

#[tokio::test]
async fn an_unreachable_pushgateway_is_an_error_value() {
    let config = PushgatewayConfig::new(format!("http://127.0.0.1:{}", free_port()), "batch");
    let gateway = Pushgateway::from_config(&config).unwrap();
    let e = gateway.push(&rows_registry(1)).await.unwrap_err();
    assert!(matches!(e, Error::PushRequest { method: "PUT", .. }), "{e}");
    assert!(e.to_string().contains("/metrics/job/batch"), "{e}");
}
