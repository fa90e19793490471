//! Two threads recording at once, on one series and on two distinct series,
//! against the same loop on one thread, in one run. Per-iteration time is
//! the slower thread's time per operation. On distinct series a design
//! without false sharing stays within 1.3x of one thread; on one series the
//! cache line ping-pongs between cores whatever the design.
//!
//! The machine has two cores: run it when nothing else is busy.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench contention -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates undocumented items; benches may unwrap.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{PaddedCounter, PreviousHistogram, one_thread, two_threads};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use incident_metrics_catalog::incident::{IncidentStatus, Severity};
use incident_metrics_core::buckets;

/// Benches `a` alone, `a` on two threads, and `a` beside `b`.
fn trio<A, B>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, a: A, b: B)
where
    A: Fn() + Sync + Send + Copy,
    B: Fn() + Sync + Send + Copy,
{
    g.bench_function(format!("{name}/one_thread"), |bench| {
        bench.iter_custom(|iters| one_thread(iters, a))
    });
    g.bench_function(format!("{name}/two_threads_same"), |bench| {
        bench.iter_custom(|iters| two_threads(iters, a, a))
    });
    g.bench_function(format!("{name}/two_threads_distinct"), |bench| {
        bench.iter_custom(|iters| two_threads(iters, a, b))
    });
}

fn contention(c: &mut Criterion) {
    let (_registry, metrics) = common::catalog();
    let value = 0.042;

    let floor = [PaddedCounter(0.into()), PaddedCounter(0.into())];
    let previous_a = PreviousHistogram::new(buckets::TASK_DURATION_SECONDS);
    let previous_b = PreviousHistogram::new(buckets::TASK_DURATION_SECONDS);
    let pc_a = prometheus_client::metrics::histogram::Histogram::new(
        buckets::TASK_DURATION_SECONDS.iter().copied(),
    );
    let pc_b = prometheus_client::metrics::histogram::Histogram::new(
        buckets::TASK_DURATION_SECONDS.iter().copied(),
    );

    let mut g = c.benchmark_group("contention");
    let (floor, m) = (&floor, &metrics);
    trio(
        &mut g,
        "floor_atomic_add",
        || {
            floor[0].0.fetch_add(1, Ordering::Relaxed);
        },
        || {
            floor[1].0.fetch_add(1, Ordering::Relaxed);
        },
    );
    // What false sharing costs: two counters side by side on one line.
    let adjacent = [AtomicU64::new(0), AtomicU64::new(0)];
    let adjacent = &adjacent;
    trio(
        &mut g,
        "adjacent_atomic_add",
        || {
            adjacent[0].fetch_add(1, Ordering::Relaxed);
        },
        || {
            adjacent[1].fetch_add(1, Ordering::Relaxed);
        },
    );
    // Two series of one family, created one after the other at
    // registration: neighbours in memory.
    trio(
        &mut g,
        "ours_counter",
        || {
            m.incidents
                .incidents(black_box(Severity::Critical), IncidentStatus::Open)
                .inc();
        },
        || {
            m.incidents
                .incidents(black_box(Severity::Critical), IncidentStatus::Acknowledged)
                .inc();
        },
    );
    trio(
        &mut g,
        "ours_histogram",
        || {
            m.incidents
                .processing_duration(black_box(Severity::Critical))
                .observe(black_box(value));
        },
        || {
            m.incidents
                .processing_duration(black_box(Severity::High))
                .observe(black_box(value));
        },
    );
    let (pa, pb) = (&*previous_a, &*previous_b);
    trio(
        &mut g,
        "previous_histogram",
        || pa.observe(black_box(value)),
        || pb.observe(black_box(value)),
    );
    let (pca, pcb) = (&pc_a, &pc_b);
    trio(
        &mut g,
        "prometheus_client_histogram",
        || pca.observe(black_box(value)),
        || pcb.observe(black_box(value)),
    );
    g.finish();
}

criterion_group!(benches, contention);
criterion_main!(benches);
