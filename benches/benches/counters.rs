//! Counter increments, unlabelled and labelled, for our typed handles and
//! every anchor, on identical work in one run, with the physical floor (a
//! relaxed `fetch_add` on a static `AtomicU64`).
//!
//! Labelled: `incidents_total{severity, status}`, the label values chosen at
//! run time (`black_box`) so nothing is resolved at compile time. Ours finds
//! the series by two array indexes (`IncidentMetrics::incidents`);
//! prometheus-client's `Family` hashes the label set and takes a read lock
//! (keyed by a derived struct of enums, and keyed by string pairs built per
//! call as in its README);
//! `prometheus` hashes the strings; `metrics` hashes the key and labels on
//! each `counter!`; `measured` indexes a dense array, as ours does.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench counters -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates undocumented items; benches may unwrap.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use incident_metrics_catalog::incident::{IncidentLabels, IncidentStatus, Severity};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

static FLOOR: AtomicU64 = AtomicU64::new(0);

#[derive(measured::FixedCardinalityLabel, Clone, Copy)]
#[label(rename_all = "snake_case")]
enum MSeverity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

#[derive(measured::FixedCardinalityLabel, Clone, Copy)]
#[label(rename_all = "snake_case")]
enum MStatus {
    Open,
    Acknowledged,
    Resolved,
    Deduplicated,
    Failed,
}

#[derive(measured::LabelGroup)]
#[label(set = MIncidentSet)]
struct MIncident {
    severity: MSeverity,
    status: MStatus,
}

fn counters(c: &mut Criterion) {
    let (_registry, metrics) = common::catalog();

    // prometheus-client, as its docs suggest: a `Family` keyed by the label set.
    let pc_family = Family::<IncidentLabels, Counter>::default();
    let pc_counter = Counter::<u64>::default();
    // The form of prometheus-client's README: string pairs built per call.
    let pc_strings = Family::<Vec<(String, String)>, Counter>::default();

    let prom_registry = prometheus::Registry::new();
    let prom_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("incidents_total", "Incidents"),
        &["severity", "status"],
    )
    .unwrap();
    prom_registry.register(Box::new(prom_vec.clone())).unwrap();
    let prom_counter = prometheus::IntCounter::new("deduplicated_total", "Dedup").unwrap();
    prom_registry
        .register(Box::new(prom_counter.clone()))
        .unwrap();

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let metrics_counter = metrics::counter!("deduplicated_total");

    let measured_vec = measured::CounterVec::with_label_set(MIncidentSet::new());
    let measured_counter = measured::Counter::new();

    let mut g = c.benchmark_group("counter/unlabelled");
    g.bench_function("floor_atomic_add", |b| {
        b.iter(|| FLOOR.fetch_add(1, Ordering::Relaxed))
    });
    g.bench_function("ours_handle", |b| {
        b.iter(|| metrics.incidents.deduplicated.inc())
    });
    g.bench_function("prometheus_client", |b| b.iter(|| pc_counter.inc()));
    g.bench_function("prometheus", |b| b.iter(|| prom_counter.inc()));
    g.bench_function("metrics_handle", |b| {
        b.iter(|| metrics_counter.increment(1))
    });
    g.bench_function("metrics_macro", |b| {
        b.iter(|| metrics::counter!("deduplicated_total").increment(1))
    });
    g.bench_function("measured", |b| {
        b.iter(|| measured_counter.get_metric().inc())
    });
    g.finish();

    let sev = Severity::Critical;
    let status = IncidentStatus::Resolved;
    let mut g = c.benchmark_group("counter/labelled");
    g.bench_function("floor_atomic_add", |b| {
        b.iter(|| FLOOR.fetch_add(1, Ordering::Relaxed))
    });
    g.bench_function("ours_typed_handle", |b| {
        b.iter(|| {
            metrics
                .incidents
                .incidents(black_box(sev), black_box(status))
                .inc()
        })
    });
    g.bench_function("prometheus_client_family", |b| {
        b.iter(|| {
            pc_family
                .get_or_create(&IncidentLabels {
                    severity: black_box(sev),
                    status: black_box(status),
                })
                .inc()
        })
    });
    g.bench_function("prometheus_client_family_strings", |b| {
        b.iter(|| {
            pc_strings
                .get_or_create(&vec![
                    ("severity".to_owned(), black_box(sev).as_str().to_owned()),
                    ("status".to_owned(), black_box(status).as_str().to_owned()),
                ])
                .inc()
        })
    });
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            prom_vec
                .with_label_values(&[black_box(sev).as_str(), black_box(status).as_str()])
                .inc()
        })
    });
    g.bench_function("metrics_macro", |b| {
        b.iter(|| {
            metrics::counter!(
                "incidents_total",
                "severity" => black_box(sev).as_str(),
                "status" => black_box(status).as_str()
            )
            .increment(1)
        })
    });
    g.bench_function("measured", |b| {
        b.iter(|| {
            measured_vec.inc(MIncident {
                severity: black_box(MSeverity::Critical),
                status: black_box(MStatus::Resolved),
            })
        })
    });
    g.finish();
}

criterion_group!(benches, counters);
criterion_main!(benches);
