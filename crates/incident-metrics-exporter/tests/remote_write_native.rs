//! The remote-write sender's exemplars and native histograms against a real
//! Prometheus (the Debian 2.42 one): started with
//! `--enable-feature=native-histograms,exemplar-storage` it stores both
//! (the native series answers `histogram_count` and `histogram_sum`,
//! `/api/v1/query_exemplars` returns the trace); started without the flags
//! it answers `500` "native histograms are disabled", and the sender drops
//! and counts the native histograms once, turns them off and sends the
//! rest.

#![cfg(feature = "remote-write")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod push_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use incident_metrics_core::{
    ExemplarCounter, FamilySpec, Histogram, HistogramBuilder, MetricKind, MetricsConfig,
    NativeConfig, Registry, TraceContext, Unit,
};
use incident_metrics_exporter::{RemoteWriteConfig, RemoteWriteStats};
use push_support::{Program, get, query, query_until, wait_for};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const OBSERVATIONS: [f64; 5] = [0.0, 0.003, 0.3, 0.3, 7.0];

/// A registry (namespace `svc`) with a counter carrying an exemplar and a
/// histogram with classic and native buckets, one observation carrying an
/// exemplar.
fn source() -> Registry {
    let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc")).unwrap();
    let trace =
        TraceContext::from_traceparent(&format!("00-{TRACE_ID}-00f067aa0ba902b7-01")).unwrap();
    let jobs = ExemplarCounter::default();
    let spec = |name, kind, unit| FamilySpec {
        name,
        help: "A test family",
        kind,
        unit,
        labels: &[],
    };
    registry
        .register(&spec("jobs", MetricKind::Counter, None), jobs.clone())
        .unwrap();
    jobs.inc_by(2);
    jobs.inc_with_exemplar(&trace);
    let wait: Histogram = registry
        .register_histogram(
            &spec("wait", MetricKind::Histogram, Some(Unit::Seconds)),
            &[0.1, 1.0],
            |bounds| {
                Ok(HistogramBuilder::new("wait_seconds", bounds)?
                    .with_native(NativeConfig::new(1.1, 2f64.powi(-128), 160)?)
                    .build())
            },
        )
        .unwrap();
    for v in &OBSERVATIONS[1..] {
        wait.observe(*v);
    }
    wait.observe_with_exemplar(OBSERVATIONS[0], &trace);
    registry
}

/// Sends `registry` to `base` with both features on until a request is
/// accepted and, with `until` given, until it holds; then stops.
async fn send(
    base: &str,
    mut registry: Registry,
    until: fn(&RemoteWriteStats) -> bool,
) -> RemoteWriteStats {
    let sender = RemoteWriteConfig::new(format!("{base}/api/v1/write"))
        .with_interval_seconds(0.2)
        .with_min_backoff_seconds(0.01)
        .with_max_backoff_seconds(0.1)
        .with_external_label("job", "remote-write-native")
        .with_exemplars(true)
        .with_native_histograms(true)
        .register(&mut registry)
        .unwrap();
    let handle = sender.start(Arc::new(registry)).unwrap();
    wait_for("an accepted request", Duration::from_secs(30), || {
        let stats = handle.stats();
        stats.samples_sent > 0 && until(&stats)
    })
    .await;
    handle.stop().await
}

/// The trace ids of the exemplars Prometheus holds for `promql`.
async fn exemplar_trace_ids(base: &str, promql: &str) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let url = format!(
        "{base}/api/v1/query_exemplars?query={}&start={}&end={}",
        incident_metrics_testing::percent_encode(promql),
        now - 600,
        now + 600
    );
    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{url}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {body}"))
        .iter()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            e["labels"]["trace_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_with_the_flags_stores_native_histograms_and_exemplars() {
    let Some(prometheus) = Program::prometheus_with_flags(
        "scrape_configs: []\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms,exemplar-storage",
        ],
    ) else {
        return;
    };
    let base = prometheus.base_url();
    // The native series' exemplar is stored from the second snapshot on
    // (Prometheus appends exemplars before histograms, so the first one
    // finds no series).
    let stats = send(&base, source(), |s| s.snapshots >= 2).await;
    assert_eq!(stats.native_histograms_dropped, 0, "{stats:?}");
    assert!(!stats.native_histograms_disabled, "{stats:?}");
    assert_eq!(stats.samples_failed, 0, "{stats:?}");

    let count = query_until(
        &base,
        "histogram_count(svc_wait_seconds)",
        Duration::from_secs(10),
        |a| !a.is_empty(),
    )
    .await;
    assert_eq!(count.len(), 1, "{count:?}");
    assert_eq!(count[0].value, OBSERVATIONS.len() as f64);
    assert_eq!(count[0].labels["job"], "remote-write-native");
    let sum = query(&base, "histogram_sum(svc_wait_seconds)").await;
    assert!(
        (sum[0].value - OBSERVATIONS.iter().sum::<f64>()).abs() < 1e-9,
        "{sum:?}"
    );
    // The zero bucket holds the 0 and nothing else: a fraction of the
    // observations at or below 2^-128.
    let below = query(&base, "histogram_fraction(0, 0.001, svc_wait_seconds)").await;
    assert!(
        (below[0].value - 1.0 / OBSERVATIONS.len() as f64).abs() < 1e-9,
        "{below:?}"
    );
    // The classic series travel beside it, as without native histograms.
    assert_eq!(
        query(&base, "svc_wait_seconds_count").await[0].value,
        OBSERVATIONS.len() as f64
    );
    assert_eq!(
        query(&base, "svc_wait_seconds_bucket{le=\"1\"}").await[0].value,
        4.0
    );
    assert_eq!(query(&base, "svc_jobs_total").await[0].value, 3.0);

    for series in [
        "svc_jobs_total",
        "svc_wait_seconds_bucket",
        "svc_wait_seconds",
    ] {
        let traces = exemplar_trace_ids(&base, series).await;
        assert!(traces.iter().any(|t| t == TRACE_ID), "{series}: {traces:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_without_the_flag_refuses_native_histograms_once() {
    let Some(prometheus) = Program::prometheus() else {
        return;
    };
    let base = prometheus.base_url();
    let stats = send(&base, source(), |s| s.native_histograms_disabled).await;
    assert!(stats.native_histograms_disabled, "{stats:?}");
    // The first snapshot's, and any snapshot queued behind it.
    assert!(stats.native_histograms_dropped >= 1, "{stats:?}");
    assert!(
        stats.native_histograms_dropped <= stats.snapshots,
        "{stats:?}"
    );
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");
    assert_eq!(stats.queue_length, 0, "{stats:?}");
    // Refused once, retried once: not retried forever.
    assert!(
        stats.retries <= stats.native_histograms_dropped,
        "{stats:?}"
    );
    assert!(
        prometheus
            .log_text()
            .contains("native histograms are disabled"),
        "{}",
        prometheus.log_text()
    );

    // Everything else arrived: the classic series and the count.
    assert_eq!(
        query(&base, "svc_wait_seconds_count").await[0].value,
        OBSERVATIONS.len() as f64
    );
    assert_eq!(query(&base, "svc_jobs_total").await[0].value, 3.0);
    assert!(query(&base, "svc_wait_seconds").await.is_empty());
    let dropped = query(&base, "svc_remote_write_native_histograms_dropped_total").await;
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0].value >= 1.0, "{dropped:?}");
}
