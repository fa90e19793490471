//! Retained heap per series: the bytes still allocated after creating
//! 10,000 labelled series (and recording once into each), divided by
//! 10,000, for our registry and each anchor. Counted with
//! `allocation-counter`'s global allocator, so it includes every map entry,
//! label string, `Arc` and bucket array the library keeps.
//!
//! Not a criterion bench: it prints one line per case,
//! `retained_bytes_per_series <kind> <library> <bytes>`, which
//! `scripts/bench-compare` puts into `docs/performance.md`.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench memory`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A report bench prints its results.
#![allow(clippy::print_stdout)]

mod common;

use incident_metrics_catalog::http::{HttpRequestLabels, HttpStatus, Method};
use incident_metrics_catalog::{CounterFamily, HistogramFamily};
use incident_metrics_core::{
    FamilySpec, HistogramBuilder, MetricKind, MetricsConfig, Registry, Unit, buckets,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

const N: usize = 10_000;
const BOUNDS: &[f64] = buckets::TASK_DURATION_SECONDS;

const REQUESTS: FamilySpec = FamilySpec {
    name: "http_requests",
    help: "Total number of HTTP requests",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["method", "path", "status"],
};

const DURATION: FamilySpec = FamilySpec {
    name: "http_request_duration",
    help: "HTTP request duration",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["method", "path", "status"],
};

fn path(i: usize) -> String {
    format!("/api/v1/route/{i}")
}

fn labels(i: usize) -> HttpRequestLabels {
    HttpRequestLabels {
        method: Method::Get,
        path: path(i).into(),
        status: HttpStatus::code(200),
    }
}

fn pc_labels(i: usize) -> Vec<(String, String)> {
    vec![
        ("method".to_owned(), "GET".to_owned()),
        ("path".to_owned(), path(i)),
        ("status".to_owned(), "200".to_owned()),
    ]
}

/// Bytes retained per series by what `build` returns.
fn per_series<T>(build: impl FnOnce() -> T) -> f64 {
    // Empty registries and recorders are built inside too: their fixed cost
    // is spread over N series, a few bytes each at most.
    let mut keep = None;
    let info = allocation_counter::measure(|| keep = Some(build()));
    drop(keep);
    info.bytes_current as f64 / N as f64
}

fn report(kind: &str, library: &str, bytes: f64) {
    println!("retained_bytes_per_series {kind} {library} {bytes:.1}");
}

fn main() {
    // Ignore criterion's arguments (`--bench`, filters).
    // The histogram state alone, before and after the core change.
    report(
        "histogram_state",
        "previous",
        per_series(|| {
            let bounds: std::sync::Arc<[f64]> = BOUNDS.into();
            (0..N)
                .map(|_| common::PreviousHistogram::sharing(&bounds))
                .collect::<Vec<_>>()
        }),
    );
    report(
        "histogram_state",
        "ours",
        per_series(|| {
            let builder = HistogramBuilder::new("h_seconds", BOUNDS).unwrap();
            (0..N).map(|_| builder.build()).collect::<Vec<_>>()
        }),
    );
    report(
        "counter",
        "ours",
        per_series(|| {
            let config = MetricsConfig::new().with_cardinality_limit(N);
            let mut registry = Registry::new(&config).unwrap();
            let family: CounterFamily<HttpRequestLabels> =
                registry.register_bounded(&REQUESTS).unwrap();
            for i in 0..N {
                family.get_or_create(&labels(i)).inc();
            }
            registry
        }),
    );
    report(
        "counter",
        "prometheus_client",
        per_series(|| {
            let mut registry = prometheus_client::registry::Registry::default();
            let family = Family::<Vec<(String, String)>, Counter>::default();
            registry.register("http_requests", "Requests", family.clone());
            for i in 0..N {
                family.get_or_create(&pc_labels(i)).inc();
            }
            registry
        }),
    );
    report(
        "counter",
        "prometheus",
        per_series(|| {
            let registry = prometheus::Registry::new();
            let vec = prometheus::IntCounterVec::new(
                prometheus::Opts::new("http_requests_total", "Requests"),
                &["method", "path", "status"],
            )
            .unwrap();
            registry.register(Box::new(vec.clone())).unwrap();
            for i in 0..N {
                vec.with_label_values(&["GET", &path(i), "200"]).inc();
            }
            registry
        }),
    );
    report(
        "counter",
        "metrics_exporter_prometheus",
        per_series(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            metrics::with_local_recorder(&recorder, || {
                for i in 0..N {
                    metrics::counter!("http_requests_total", "method" => "GET", "path" => path(i), "status" => "200").increment(1);
                }
            });
            recorder
        }),
    );

    report(
        "histogram",
        "ours",
        per_series(|| {
            let config = MetricsConfig::new().with_cardinality_limit(N);
            let mut registry = Registry::new(&config).unwrap();
            let family: HistogramFamily<HttpRequestLabels> = registry
                .register_bounded_histogram(&DURATION, BOUNDS)
                .unwrap();
            for i in 0..N {
                family.get_or_create(&labels(i)).observe(0.042);
            }
            registry
        }),
    );
    report(
        "histogram",
        "prometheus_client",
        per_series(|| {
            let mut registry = prometheus_client::registry::Registry::default();
            let family = Family::<
                Vec<(String, String)>,
                prometheus_client::metrics::histogram::Histogram,
            >::new_with_constructor(|| {
                prometheus_client::metrics::histogram::Histogram::new(BOUNDS.iter().copied())
            });
            registry.register("http_request_duration_seconds", "Duration", family.clone());
            for i in 0..N {
                family.get_or_create(&pc_labels(i)).observe(0.042);
            }
            registry
        }),
    );
    report(
        "histogram",
        "prometheus",
        per_series(|| {
            let registry = prometheus::Registry::new();
            let vec = prometheus::HistogramVec::new(
                prometheus::HistogramOpts::new("http_request_duration_seconds", "Duration")
                    .buckets(BOUNDS.to_vec()),
                &["method", "path", "status"],
            )
            .unwrap();
            registry.register(Box::new(vec.clone())).unwrap();
            for i in 0..N {
                vec.with_label_values(&["GET", &path(i), "200"])
                    .observe(0.042);
            }
            registry
        }),
    );
    report(
        "histogram",
        "metrics_exporter_prometheus",
        per_series(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(BOUNDS)
                .unwrap()
                .build_recorder();
            metrics::with_local_recorder(&recorder, || {
                for i in 0..N {
                    metrics::histogram!("http_request_duration_seconds", "method" => "GET", "path" => path(i), "status" => "200").record(0.042);
                }
            });
            recorder
        }),
    );
}
