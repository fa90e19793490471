//! Native histograms scraped by the real Prometheus (the Debian package,
//! 2.42): started with `--enable-feature=native-histograms` it asks for the
//! protobuf answer, stores the native series, and
//! `histogram_quantile(0.5 and 0.99, rate(...[1m]))` lands within the
//! schema's relative error of the true quantiles of a known set of
//! observations. Started without the flag, the same target is scraped as
//! before: classic `_bucket`, `_sum` and `_count` series. 2.42 with the flag
//! keeps only the native part of a histogram that has both.

#![cfg(all(feature = "server", feature = "remote-write"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;

use std::sync::Arc;
use std::time::Duration;

use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry, Unit};
use incident_metrics_exporter::MetricsServer;
use push_support::{Program, query, query_until};

const DURATION: FamilySpec = FamilySpec {
    name: "job_duration",
    help: "Time spent running jobs",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &[],
};

fn scrape_config(target: std::net::SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: native\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// The `q` quantile of sorted `values` as the rank Prometheus interpolates
/// towards: the observation at rank `ceil(q * n)`.
fn true_quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.max(1) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_with_native_histograms_reads_the_protobuf_answer() {
    let config = MetricsConfig::new()
        .with_namespace("svc")
        .with_native_histograms(true);
    let mut registry = Registry::new(&config).unwrap();
    let family = registry
        .register_bounded_histogram::<Vec<(String, String)>>(&DURATION, &[0.1, 1.0, 10.0])
        .unwrap();
    // The series exists (empty) before the first scrape, so that the rate
    // starts from zero.
    let histogram = family.get_or_create(&Vec::new()).clone();
    assert!(histogram.has_native());
    let registry = Arc::new(registry);
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), registry).unwrap();
    let target = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(async {
        let _ = stopped.await;
    }));

    let Some(native) = Program::prometheus_with_flags(
        &scrape_config(target),
        &["--enable-feature=native-histograms"],
    ) else {
        return;
    };
    let Some(classic) = Program::prometheus_with_flags(&scrape_config(target), &[]) else {
        return;
    };
    let (native, classic) = (native.base_url(), classic.base_url());
    for base in [&native, &classic] {
        query_until(base, "up{job=\"native\"}", Duration::from_secs(60), |up| {
            up.first().is_some_and(|s| s.value == 1.0)
        })
        .await;
        // A first sample of the empty histogram is stored.
        query_until(
            base,
            "count_over_time(svc_job_duration_seconds_count[1m]) or count_over_time(svc_job_duration_seconds[1m])",
            Duration::from_secs(60),
            |s| !s.is_empty(),
        )
        .await;
    }

    // A known set: 2000 observations spread log-uniformly over 1 ms..10 s.
    let mut values: Vec<f64> = (0..2000)
        .map(|i| 0.001 * 10f64.powf(4.0 * (f64::from(i) + 0.5) / 2000.0))
        .collect();
    for v in &values {
        histogram.observe(*v);
    }
    values.sort_by(f64::total_cmp);

    // Schema 3 (factor 1.1): each bucket spans a factor of 2^(1/8), and the
    // estimate lies in the bucket holding the true quantile.
    let base_factor = 2f64.powf(1.0 / 8.0);
    for q in [0.5, 0.99] {
        let promql = format!("histogram_quantile({q}, rate(svc_job_duration_seconds[1m]))");
        let answer = query_until(&native, &promql, Duration::from_secs(60), |s| {
            s.first().is_some_and(|s| s.value.is_finite())
        })
        .await;
        let estimate = answer[0].value;
        let truth = true_quantile(&values, q);
        assert!(
            truth / base_factor <= estimate && estimate <= truth * base_factor,
            "q={q}: Prometheus estimates {estimate}, the true quantile is {truth}: \
             more than a schema-3 bucket apart"
        );
    }
    let count = query_until(
        &native,
        "histogram_count(svc_job_duration_seconds)",
        Duration::from_secs(30),
        |s| s.first().is_some_and(|s| s.value == 2000.0),
    )
    .await;
    assert_eq!(count.len(), 1);
    // 2.42 keeps only the native part of a histogram that also has classic
    // buckets: no `_bucket`, `_sum` or `_count` series.
    for suffix in ["_bucket", "_sum", "_count"] {
        let classic_part = query(&native, &format!("svc_job_duration_seconds{suffix}")).await;
        assert!(classic_part.is_empty(), "{suffix}: {classic_part:?}");
    }

    // Without the flag, Prometheus scrapes text as before: classic series.
    query_until(
        &classic,
        "svc_job_duration_seconds_count",
        Duration::from_secs(30),
        |s| s.first().is_some_and(|s| s.value == 2000.0),
    )
    .await;
    let buckets = query(&classic, "svc_job_duration_seconds_bucket").await;
    assert_eq!(buckets.len(), 4, "{buckets:?}");
    let native_series = query(&classic, "svc_job_duration_seconds").await;
    assert!(native_series.is_empty(), "{native_series:?}");

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
