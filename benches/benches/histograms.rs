//! Labelled histogram observe for our typed handles and every anchor, on
//! identical work in one run (the catalog's 15-bound task-duration layout,
//! `incident_processing_duration_seconds{severity}`), with the physical
//! floor (find the bucket, one relaxed `fetch_add`), and the core histogram
//! before and after this change.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench histograms -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates undocumented items; benches may unwrap.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use incident_metrics_catalog::incident::{Severity, SeverityLabels};
use incident_metrics_core::{Histogram, buckets};
use prometheus_client::metrics::family::Family;

#[derive(measured::FixedCardinalityLabel, Clone, Copy)]
#[label(rename_all = "snake_case")]
enum MSeverity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

#[derive(measured::LabelGroup)]
#[label(set = MSeveritySet)]
struct MSeverityLabels {
    severity: MSeverity,
}

const BOUNDS: &[f64] = buckets::TASK_DURATION_SECONDS;

fn histograms(c: &mut Criterion) {
    let (_registry, metrics) = common::catalog();
    assert_eq!(
        metrics
            .incidents
            .processing_duration(Severity::High)
            .bounds(),
        BOUNDS
    );
    let value = 0.042;

    let floor = common::BucketFloor::new(BOUNDS);
    let previous = common::PreviousHistogram::new(BOUNDS);
    let current = Histogram::new("h_seconds", BOUNDS).unwrap();

    let pc_family = Family::<SeverityLabels, prometheus_client::metrics::histogram::Histogram>::new_with_constructor(
        || prometheus_client::metrics::histogram::Histogram::new(BOUNDS.iter().copied()),
    );

    let pc_strings = Family::<
        Vec<(String, String)>,
        prometheus_client::metrics::histogram::Histogram,
    >::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(BOUNDS.iter().copied())
    });

    let prom_vec = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("incident_processing_duration_seconds", "Duration")
            .buckets(BOUNDS.to_vec()),
        &["severity"],
    )
    .unwrap();

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(BOUNDS)
        .unwrap()
        .build_recorder();
    let _handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();

    let thresholds: [f64; 15] = BOUNDS.try_into().unwrap();
    let measured_vec = measured::HistogramVec::with_label_set_and_metadata(
        MSeveritySet::new(),
        measured::metric::histogram::Thresholds::with_buckets(thresholds),
    );

    let sev = Severity::High;
    let mut g = c.benchmark_group("histogram/labelled_observe");
    g.bench_function("floor_bucket_add", |b| {
        b.iter(|| floor.observe(black_box(value)))
    });
    g.bench_function("ours_typed_handle", |b| {
        b.iter(|| {
            metrics
                .incidents
                .processing_duration(black_box(sev))
                .observe(black_box(value))
        })
    });
    g.bench_function("prometheus_client_family", |b| {
        b.iter(|| {
            pc_family
                .get_or_create(&SeverityLabels {
                    severity: black_box(sev),
                })
                .observe(black_box(value))
        })
    });
    g.bench_function("prometheus_client_family_strings", |b| {
        b.iter(|| {
            pc_strings
                .get_or_create(&vec![(
                    "severity".to_owned(),
                    black_box(sev).as_str().to_owned(),
                )])
                .observe(black_box(value))
        })
    });
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            prom_vec
                .with_label_values(&[black_box(sev).as_str()])
                .observe(black_box(value))
        })
    });
    g.bench_function("metrics_macro", |b| {
        b.iter(|| {
            metrics::histogram!(
                "incident_processing_duration_seconds",
                "severity" => black_box(sev).as_str()
            )
            .record(black_box(value))
        })
    });
    g.bench_function("measured", |b| {
        b.iter(|| {
            measured_vec.observe(
                MSeverityLabels {
                    severity: black_box(MSeverity::High),
                },
                black_box(value),
            )
        })
    });
    g.finish();

    // Before/after of the core change, no label lookup: the previous
    // implementation (kept in `common`) against the current one, for a
    // typical value and for 0.0 (whose sum update is now skipped).
    let mut g = c.benchmark_group("histogram/core_observe");
    for (name, v) in [("value", value), ("zero", 0.0)] {
        g.bench_function(format!("previous/{name}"), |b| {
            b.iter(|| previous.observe(black_box(v)))
        });
        g.bench_function(format!("current/{name}"), |b| {
            b.iter(|| current.observe(black_box(v)))
        });
    }
    g.finish();
}

criterion_group!(benches, histograms);
criterion_main!(benches);
