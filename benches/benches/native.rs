//! Native histograms (issue #19): observe with native buckets against
//! today's classic observe, side by side in one run, and the classic
//! observe with native off against a verbatim copy of it as it was before
//! native buckets existed (one added branch).
//!
//! The values cycle through 64 durations spread log-uniformly over
//! 1 ms..10 s (the catalog's task-duration layout covers them), so that
//! every variant finds different buckets as real traffic does; `fixed`
//! observes one value.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench native -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented items; benches may unwrap.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use incident_metrics_core::{
    DEFAULT_NATIVE_BUCKET_FACTOR, DEFAULT_NATIVE_MAX_BUCKETS, DEFAULT_NATIVE_ZERO_THRESHOLD,
    HistogramBuilder, NativeConfig, buckets,
};

const BOUNDS: &[f64] = buckets::TASK_DURATION_SECONDS;

/// The classic observe as it was before native buckets (the cache-line
/// layout of `incident_metrics_core::Histogram`, verbatim but for the
/// native branch), for the "off costs nothing" comparison.
#[repr(align(64))]
struct Line([AtomicU64; 8]);

#[repr(align(64))]
struct Before {
    bounds: Arc<[f64]>,
    lines: Box<[Line]>,
}

impl Before {
    fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.into(),
            lines: (0..=bounds.len() / 4)
                .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    #[inline]
    fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let index = self.bounds.partition_point(|bound| *bound < value);
        let line = &self.lines[index / 4].0;
        let slot = 2 * (index % 4);
        let (count, sum) = (&line[slot], &line[slot + 1]);
        count.fetch_add(1, Ordering::Relaxed);
        if value == 0.0 {
            return;
        }
        let mut old = sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + value).to_bits();
            match sum.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(current) => old = current,
            }
        }
    }
}

fn native(c: &mut Criterion) {
    let values: Vec<f64> = (0..64)
        .map(|i| 0.001 * 10f64.powf(4.0 * f64::from(i) / 64.0))
        .collect();
    let config = NativeConfig::new(
        DEFAULT_NATIVE_BUCKET_FACTOR,
        DEFAULT_NATIVE_ZERO_THRESHOLD,
        DEFAULT_NATIVE_MAX_BUCKETS,
    )
    .unwrap();
    let builder = HistogramBuilder::new("h_seconds", BOUNDS).unwrap();
    let before = Before::new(BOUNDS);
    let classic = builder.build();
    let both = builder.clone().with_native(config.clone()).build();
    let only = builder
        .clone()
        .with_native(config)
        .without_classic_buckets()
        .build();
    // Warm: every value's native bucket exists, as in steady state.
    for v in &values {
        both.observe(*v);
        only.observe(*v);
    }

    let mut g = c.benchmark_group("histogram/native_observe");
    let mut i = 0_usize;
    let mut next = || {
        i = (i + 1) & 63;
        values[i]
    };
    g.bench_function("classic_before/cycling", |b| {
        b.iter(|| before.observe(black_box(next())))
    });
    g.bench_function("classic/cycling", |b| {
        b.iter(|| classic.observe(black_box(next())))
    });
    g.bench_function("native_and_classic/cycling", |b| {
        b.iter(|| both.observe(black_box(next())))
    });
    g.bench_function("native_only/cycling", |b| {
        b.iter(|| only.observe(black_box(next())))
    });
    let fixed = 0.042;
    g.bench_function("classic_before/fixed", |b| {
        b.iter(|| before.observe(black_box(fixed)))
    });
    g.bench_function("classic/fixed", |b| {
        b.iter(|| classic.observe(black_box(fixed)))
    });
    g.bench_function("native_and_classic/fixed", |b| {
        b.iter(|| both.observe(black_box(fixed)))
    });
    g.bench_function("native_only/fixed", |b| {
        b.iter(|| only.observe(black_box(fixed)))
    });
    g.finish();
}

criterion_group!(benches, native);
criterion_main!(benches);
