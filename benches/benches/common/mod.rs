//! Shared pieces of the comparison benches: the registries under test and
//! the measuring helpers. Each bench uses part of it.

// Each bench file includes this module and uses a different part of it.
#![allow(dead_code)]

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use incident_metrics_catalog::Catalog;
use incident_metrics_core::{MetricsConfig, Registry};

/// A registry with the whole catalog registered, as the service builds it.
pub(crate) fn catalog() -> (Registry, Catalog) {
    let mut registry = Registry::new(&MetricsConfig::new()).expect("default config is valid");
    let metrics = Catalog::register(&mut registry).expect("the catalog registers");
    (registry, metrics)
}

/// Runs `a` on this thread and `b` on a second one, `iters` times each,
/// started together behind a barrier; returns the slower thread's time, so
/// the per-iteration figure is the per-operation cost under contention.
/// Thread start-up is outside the timed part.
pub(crate) fn two_threads<A, B>(iters: u64, a: A, b: B) -> Duration
where
    A: Fn() + Sync,
    B: Fn() + Sync + Send,
{
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            barrier.wait();
            let start = Instant::now();
            for _ in 0..iters {
                b();
            }
            start.elapsed()
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            a();
        }
        let mine = start.elapsed();
        mine.max(other.join().expect("the bench thread does not panic"))
    })
}

/// The same loop as [`two_threads`] on this thread alone.
pub(crate) fn one_thread<A: Fn()>(iters: u64, a: A) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        a();
    }
    start.elapsed()
}

/// The core histogram as it was before this change (buckets in one boxed
/// slice, the sum updated by a compare-exchange loop for every value, no
/// cache-line alignment), kept here to measure before and after in one run.
pub(crate) struct PreviousHistogram {
    bounds: std::sync::Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl PreviousHistogram {
    /// A histogram with the given bounds (`+Inf` is added).
    pub(crate) fn new(bounds: &[f64]) -> std::sync::Arc<Self> {
        Self::sharing(&bounds.into())
    }

    /// A histogram sharing `bounds` with others, as the previous
    /// `HistogramBuilder` made them.
    pub(crate) fn sharing(bounds: &std::sync::Arc<[f64]>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            bounds: std::sync::Arc::clone(bounds),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0.0_f64.to_bits()),
        })
    }

    /// The previous `Histogram::observe`, verbatim.
    #[inline]
    pub(crate) fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let index = self.bounds.partition_point(|bound| *bound < value);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        let mut old = self.sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + value).to_bits();
            match self
                .sum
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(current) => old = current,
            }
        }
    }
}

/// The physical floor of a histogram: find the bucket, add one to it. No
/// sum, no count, no label lookup.
pub(crate) struct BucketFloor {
    bounds: Box<[f64]>,
    counts: Box<[AtomicU64]>,
}

impl BucketFloor {
    /// A bucket array for `bounds` (`+Inf` is added).
    pub(crate) fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.into(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// One bucket search and one atomic add.
    #[inline]
    pub(crate) fn observe(&self, value: f64) {
        let index = self.bounds.partition_point(|bound| *bound < value);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// A counter alone on its cache line, for the two-thread floor.
#[repr(align(64))]
pub(crate) struct PaddedCounter(pub(crate) AtomicU64);
