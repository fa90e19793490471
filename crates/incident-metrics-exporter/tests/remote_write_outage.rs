//! The remote-write sender across receiver outages, against a real
//! Prometheus: an outage the queue can hold loses nothing (every snapshot
//! arrives, and the last value equals the source's); a longer one drops the
//! oldest samples first and counts them.

#![cfg(feature = "remote-write")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;

use std::sync::Arc;
use std::time::Duration;

use incident_metrics_core::Registry;
use incident_metrics_exporter::{Format, RemoteWriteConfig, render};
use push_support::{Program, Source, free_port, query, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// Moves the registry out of `source` to share it, leaving an empty one.
fn share(source: &mut Source) -> Arc<Registry> {
    Arc::new(std::mem::replace(
        &mut source.registry,
        Registry::new(&Default::default()).unwrap(),
    ))
}

/// The number of samples one snapshot of `registry` holds.
fn series_count(registry: &Registry) -> u64 {
    let text = render(registry, Format::Prometheus).unwrap();
    text.lines().filter(|l| !l.starts_with('#')).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_within_the_queue_bound_loses_nothing() {
    let Some(mut prometheus) = Program::prometheus() else {
        return;
    };
    let mut source = Source::new();
    let sender = RemoteWriteConfig::new(format!("{}/api/v1/write", prometheus.base_url()))
        .with_interval_seconds(0.1)
        .with_min_backoff_seconds(0.02)
        .with_max_backoff_seconds(0.3)
        .with_max_samples_per_request(50)
        .with_queue_capacity(100_000)
        .register(&mut source.registry)
        .unwrap();
    let registry = share(&mut source);
    let handle = sender.start(Arc::clone(&registry)).unwrap();
    source.jobs.inc();
    wait_for("a first accepted request", WAIT, || {
        handle.stats().samples_sent > 0
    })
    .await;

    // The receiver goes away in the middle of the run.
    prometheus.stop();
    let before = handle.stats();
    for _ in 0..5 {
        source.jobs.inc();
        let snapshots = handle.stats().snapshots;
        wait_for("a snapshot during the outage", WAIT, || {
            handle.stats().snapshots > snapshots
        })
        .await;
    }
    wait_for("retries during the outage", WAIT, || {
        handle.stats().retries >= before.retries + 3
    })
    .await;
    assert!(handle.stats().queue_length > 0);

    // It comes back with its data; the queue drains.
    prometheus.start();
    source.jobs.inc_by(10);
    let retries = handle.stats().retries;
    wait_for("the queue to drain", WAIT, || {
        let stats = handle.stats();
        stats.queue_length < 50 && stats.samples_sent > before.samples_sent
    })
    .await;
    let stats = handle.stop().await;
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert!(retries >= 3, "{stats:?}");
    assert_eq!(
        stats.samples_sent,
        stats.snapshots * series_count(&registry)
    );

    let base = prometheus.base_url();
    // The last pushed value equals the source's.
    assert_eq!(query(&base, "svc_jobs_total").await[0].value, 16.0);
    // Every snapshot arrived, those taken during the outage included.
    let count = query(&base, "count_over_time(svc_jobs_total[1h])").await;
    assert_eq!(count[0].value, stats.snapshots as f64, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_outage_drops_the_oldest_first_and_counts() {
    let Some(binary) =
        incident_metrics_testing::program("prometheus", "apt-get install -y prometheus")
    else {
        return;
    };
    let port = free_port();
    let mut source = Source::new();
    // Nothing listens yet: the receiver is down from the start.
    let sender = RemoteWriteConfig::new(format!("http://127.0.0.1:{port}/api/v1/write"))
        .with_interval_seconds(0.05)
        .with_min_backoff_seconds(0.02)
        .with_max_backoff_seconds(0.1)
        .with_max_samples_per_request(20)
        .with_queue_capacity(100)
        .register(&mut source.registry)
        .unwrap();
    let registry = share(&mut source);
    let per_snapshot = series_count(&registry);
    let handle = sender.start(Arc::clone(&registry)).unwrap();

    source.jobs.inc(); // 1: all of these snapshots will be dropped
    wait_for("the queue to fill", WAIT, || {
        handle.stats().samples_dropped > 0
    })
    .await;
    source.jobs.inc(); // 2: the queue will hold only these
    let snapshots = handle.stats().snapshots;
    // A queue's worth of newer snapshots pushes every older sample out.
    let enough = 100 / per_snapshot + 2;
    wait_for("a queue of newer snapshots", WAIT, || {
        handle.stats().snapshots >= snapshots + enough
    })
    .await;
    let stats = handle.stats();
    assert_eq!(stats.queue_length, 100, "{stats:?}");
    assert_eq!(stats.samples_sent, 0, "{stats:?}");

    let prometheus = Program::prometheus_at(binary, port).unwrap();
    wait_for("the queue to drain", WAIT, || {
        handle.stats().queue_length < 20
    })
    .await;
    let stats = handle.stop().await;
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert!(stats.samples_dropped > 0, "{stats:?}");
    // Each sample was either sent or dropped, and counted once.
    assert_eq!(
        stats.samples_sent + stats.samples_dropped,
        stats.snapshots * per_snapshot,
        "{stats:?}"
    );

    let base = prometheus.base_url();
    assert_eq!(query(&base, "svc_jobs_total").await[0].value, 2.0);
    // The oldest went first: no sample from before the second increment
    // survived.
    assert_eq!(
        query(&base, "min_over_time(svc_jobs_total[1h])").await[0].value,
        2.0
    );
    let dropped = query(&base, "svc_remote_write_samples_dropped_total").await;
    assert!(dropped[0].value > 0.0, "{dropped:?}");
}
