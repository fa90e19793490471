//! The physical floors every other bench is compared with: a relaxed atomic
//! add (on a `static` and through an `Arc`), a histogram's bucket search
//! plus one add, and the clocks a layer can read.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench baseline -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates undocumented items; benches may unwrap.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use incident_metrics_core::buckets;

static FLOOR: AtomicU64 = AtomicU64::new(0);

fn baseline(c: &mut Criterion) {
    let arc = Arc::new(AtomicU64::new(0));
    let floor = common::BucketFloor::new(buckets::TASK_DURATION_SECONDS);
    let clock = quanta::Clock::new();

    let mut g = c.benchmark_group("baseline");
    g.bench_function("atomic_add_static", |b| {
        b.iter(|| FLOOR.fetch_add(1, Ordering::Relaxed))
    });
    g.bench_function("atomic_add_arc", |b| {
        b.iter(|| black_box(&arc).fetch_add(1, Ordering::Relaxed))
    });
    g.bench_function("bucket_search_and_add", |b| {
        b.iter(|| floor.observe(black_box(0.042)))
    });
    g.bench_function("std_instant_now", |b| b.iter(std::time::Instant::now));
    g.bench_function("quanta_instant_now", |b| b.iter(quanta::Instant::now));
    g.bench_function("quanta_clock_raw", |b| b.iter(|| clock.raw()));
    g.finish();
}

criterion_group!(benches, baseline);
criterion_main!(benches);
