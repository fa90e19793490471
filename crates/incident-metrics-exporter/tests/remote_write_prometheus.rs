//! The remote-write sender against a real Prometheus started with
//! `--web.enable-remote-write-receiver`: its query API returns exactly the
//! values of the source registry, labels (escaped characters, external and
//! global labels) and histogram series included.

#![cfg(feature = "remote-write")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;

use std::sync::Arc;
use std::time::Duration;

use incident_metrics_exporter::RemoteWriteConfig;
use push_support::{ODD_PATH, Program, Source, query, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_exact_values() {
    let Some(prometheus) = Program::prometheus() else {
        return;
    };
    let mut source = Source::new();
    source.jobs.inc_by(3);
    source.request("GET").inc_by(5);
    source.temperature.set(-7);
    for value in [0.05, 0.5, 2.0] {
        source.latency.observe(value);
    }
    let sender = RemoteWriteConfig::new(format!("{}/api/v1/write", prometheus.base_url()))
        .with_interval_seconds(0.2)
        .with_external_label("instance", "test-1")
        .with_external_label("job", "remote-write-test")
        .register(&mut source.registry)
        .unwrap();
    let registry = Arc::new(std::mem::replace(
        &mut source.registry,
        incident_metrics_core::Registry::new(&Default::default()).unwrap(),
    ));
    let handle = sender.start(registry).unwrap();
    wait_for("a first accepted request", Duration::from_secs(30), || {
        handle.stats().samples_sent > 0
    })
    .await;
    // Values change while the sender runs; stopping sends the last ones.
    source.jobs.inc_by(4);
    source.request("GET").inc();
    source.request("POST").inc_by(2);
    let stats = handle.stop().await;
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");
    assert_eq!(stats.queue_length, 0, "{stats:?}");
    assert!(stats.snapshots >= 2, "{stats:?}");
    assert!(stats.last_success_unix_seconds > 0.0, "{stats:?}");

    let base = prometheus.base_url();
    let jobs = query(&base, "svc_jobs_total").await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].value, 7.0);
    let labels: Vec<_> = jobs[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("__name__", "svc_jobs_total"),
            ("env", "ci"),
            ("instance", "test-1"),
            ("job", "remote-write-test")
        ]
    );

    let requests = query(&base, "svc_requests_total").await;
    let mut by_method: Vec<_> = requests
        .iter()
        .map(|s| {
            (
                s.labels["method"].as_str(),
                s.labels["path"].as_str(),
                s.value,
            )
        })
        .collect();
    by_method.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(by_method, [("GET", ODD_PATH, 6.0), ("POST", ODD_PATH, 2.0)]);

    assert_eq!(query(&base, "svc_temperature").await[0].value, -7.0);

    // Histograms go as their `_bucket`, `_sum` and `_count` series, `le` as
    // the 0.0.4 text writes it (and a Prometheus scraping it stores it).
    let mut buckets: Vec<_> = query(&base, "svc_latency_seconds_bucket")
        .await
        .iter()
        .map(|s| (s.labels["le"].clone(), s.value))
        .collect();
    buckets.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        buckets,
        [
            ("0.1".to_owned(), 1.0),
            ("1".to_owned(), 2.0),
            ("+Inf".to_owned(), 3.0)
        ]
    );
    assert_eq!(
        query(&base, "svc_latency_seconds_count").await[0].value,
        3.0
    );
    assert_eq!(query(&base, "svc_latency_seconds_sum").await[0].value, 2.55);

    // The sender's own families travel too; the last snapshot is taken
    // before its own request is answered.
    let sent = query(&base, "svc_remote_write_samples_sent_total").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].value > 0.0 && sent[0].value < stats.samples_sent as f64);
    assert_eq!(
        query(&base, "svc_remote_write_samples_dropped_total").await[0].value,
        0.0
    );
}
