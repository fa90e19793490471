//! A lock-free histogram with fixed buckets.
//!
//! prometheus-client's `Histogram` takes a lock on every observation. This one
//! records with two atomic operations (one bucket increment, one add to the
//! sum) and no lock, and encodes through prometheus-client's
//! `MetricEncoder::encode_histogram`, so it renders exactly like the original
//! in both text formats.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::{Result, buckets};

/// A histogram with fixed bucket bounds, cheap to clone (an `Arc` inside).
///
/// Observations that are NaN are refused (they would poison the sum and
/// fall in no bucket); every other value, infinities included, is counted.
/// `_count` is derived from the buckets when encoding, so `_count` always
/// equals the `+Inf` bucket even while observations race a scrape.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::Histogram;
///
/// let h = Histogram::new("latency", &[0.1, 1.0])?;
/// h.observe(0.05);
/// h.observe(0.5);
/// h.observe(f64::NAN); // refused
/// assert_eq!(h.count(), 2);
/// assert_eq!(h.sum(), 0.55);
/// assert_eq!(h.bucket_counts(), vec![1, 1, 0]); // le=0.1, le=1, le=+Inf
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Histogram {
    inner: Arc<Inner>,
}

struct Inner {
    bounds: Arc<[f64]>,
    /// Non-cumulative counts; the last one is the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    /// The sum of all observations, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with the given finite upper bounds (`+Inf` is added).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuckets`](crate::Error::InvalidBuckets), naming
    /// `family`, when the bounds are not a valid layout
    /// ([`buckets::validate`]).
    pub fn new(family: &str, bounds: &[f64]) -> Result<Self> {
        buckets::validate(family, bounds)?;
        Ok(Self::with_valid_bounds(bounds.into()))
    }

    fn with_valid_bounds(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(Inner {
                bounds,
                counts,
                sum: AtomicU64::new(0.0_f64.to_bits()),
            }),
        }
    }

    /// Records one observation. NaN is ignored.
    #[inline]
    pub fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let inner = &*self.inner;
        // The first bucket whose upper bound is at or above the value; the
        // `+Inf` bucket (index `bounds.len()`) when there is none.
        let index = inner.bounds.partition_point(|bound| *bound < value);
        inner.counts[index].fetch_add(1, Ordering::Relaxed);
        let mut old = inner.sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + value).to_bits();
            match inner
                .sum
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(current) => old = current,
            }
        }
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.inner.bounds
    }

    /// The number of observations per bucket, not cumulative, `+Inf` last.
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.inner.sum.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("bounds", &self.bounds())
            .field("count", &self.count())
            .field("sum", &self.sum())
            .finish()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> std::result::Result<(), fmt::Error> {
        let inner = &*self.inner;
        // prometheus-client's encoders take per-bucket (not cumulative)
        // counts and accumulate them while writing `_bucket` lines.
        let mut count = 0_u64;
        let mut buckets = Vec::with_capacity(inner.counts.len());
        for (i, bucket) in inner.counts.iter().enumerate() {
            let n = bucket.load(Ordering::Relaxed);
            count += n;
            let bound = inner.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        encoder.encode_histogram::<NoLabelSet>(self.sum(), count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Builds [`Histogram`]s with one validated layout, for use as the
/// constructor of a prometheus-client `Family`.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{Histogram, HistogramBuilder};
/// use prometheus_client::metrics::family::Family;
///
/// let builder = HistogramBuilder::new("request_duration_seconds", &[0.1, 1.0])?;
/// let family: Family<Vec<(String, String)>, Histogram, HistogramBuilder> =
///     Family::new_with_constructor(builder);
/// family.get_or_create(&vec![("route".into(), "/".into())]).observe(0.2);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct HistogramBuilder {
    bounds: Arc<[f64]>,
}

impl HistogramBuilder {
    /// A builder for histograms with the given finite upper bounds.
    ///
    /// # Errors
    ///
    /// As [`Histogram::new`].
    pub fn new(family: &str, bounds: &[f64]) -> Result<Self> {
        buckets::validate(family, bounds)?;
        Ok(Self {
            bounds: bounds.into(),
        })
    }

    /// A new, empty histogram.
    pub fn build(&self) -> Histogram {
        Histogram::with_valid_bounds(Arc::clone(&self.bounds))
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }
}

impl MetricConstructor<Histogram> for HistogramBuilder {
    fn new_metric(&self) -> Histogram {
        self.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_use_le_semantics() {
        let h = Histogram::new("h", &[1.0, 2.0]).unwrap_or_else(|e| panic!("{e}"));
        for v in [0.5, 1.0, 1.5, 2.0, 2.5, f64::INFINITY, f64::NEG_INFINITY] {
            h.observe(v);
        }
        // le=1: 0.5, 1.0, -inf; le=2: 1.5, 2.0; +Inf: 2.5, inf
        assert_eq!(h.bucket_counts(), vec![3, 2, 2]);
        assert_eq!(h.count(), 7);
    }

    #[test]
    fn refuses_nan_and_invalid_layouts() {
        let h = Histogram::new("h", &[1.0]).unwrap_or_else(|e| panic!("{e}"));
        h.observe(f64::NAN);
        assert_eq!(h.count(), 0);
        assert_eq!(h.sum(), 0.0);
        assert!(Histogram::new("h", &[]).is_err());
        assert!(HistogramBuilder::new("h", &[2.0, 1.0]).is_err());
    }

    #[test]
    fn encodes_cumulative_buckets_exactly() {
        use crate::{FamilySpec, MetricKind, MetricsConfig, Registry, Unit};
        let spec = FamilySpec {
            name: "d",
            help: "D",
            kind: MetricKind::Histogram,
            unit: Some(Unit::Seconds),
            labels: &[],
        };
        let mut r = Registry::new(&MetricsConfig::new().with_namespace(""))
            .unwrap_or_else(|e| panic!("{e}"));
        let h = r
            .register_histogram(&spec, &[1.0, 2.0], |b| Histogram::new("d_seconds", b))
            .unwrap_or_else(|e| panic!("{e}"));
        for v in [0.5, 1.5, 1.5, 3.0] {
            h.observe(v);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, r.as_prometheus())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n# UNIT d_seconds seconds\n\
             d_seconds_sum 6.5\nd_seconds_count 4\n\
             d_seconds_bucket{le=\"1.0\"} 1\nd_seconds_bucket{le=\"2.0\"} 3\n\
             d_seconds_bucket{le=\"+Inf\"} 4\n# EOF\n"
        );
    }

    #[test]
    fn concurrent_observations_are_exact() {
        let h = Histogram::new("h", &[10.0]).unwrap_or_else(|e| panic!("{e}"));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        h.observe(1.0);
                    }
                });
            }
        });
        assert_eq!(h.count(), 40_000);
        assert_eq!(h.sum(), 40_000.0);
    }
}
