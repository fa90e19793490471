//! A lock-free histogram with fixed buckets.
//!
//! prometheus-client's `Histogram` takes a lock on every observation. This one
//! records with two atomic operations on one cache line (one bucket
//! increment, one add to that bucket's share of the sum, skipped for 0.0)
//! and no lock, and encodes through prometheus-client's
//! `MetricEncoder::encode_histogram`, so it renders exactly like the original
//! in both text formats.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::exemplar::{ExemplarSample, ExemplarSlot, TraceContext};
use crate::native::NativeBuckets;
use crate::{NativeConfig, Result, buckets};

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

/// Buckets per cache line: each bucket is a count and its own partial sum
/// (16 bytes), four to a 64-byte line, the line size of x86-64 and most
/// arm64 cores.
const PER_LINE: usize = 4;

/// Four buckets (count, partial sum as `f64` bits) on a cache line of their
/// own.
///
/// An observation writes one line: its bucket's count and, beside it, that
/// bucket's share of the sum. Two threads recording into one series then
/// contend for one line instead of two (the sum's compare-exchange no longer
/// loses to the other thread's bucket add between its load and its
/// exchange), and because the counts live in whole lines and [`Inner`] is
/// aligned to a line too, two series never share a line (no false sharing).
#[repr(align(64))]
struct Line([AtomicU64; 2 * PER_LINE]);

#[repr(align(64))]
struct Inner {
    bounds: Arc<[f64]>,
    /// Bucket `i` (`0..=bounds.len()`, the last one `+Inf`) is the pair at
    /// slot `i % PER_LINE` of line `i / PER_LINE`; the slots after the
    /// `+Inf` bucket stay zero.
    lines: Box<[Line]>,
    /// The native buckets, when the family has them (boxed: `None` costs
    /// one word, inside the line `Inner` takes anyway).
    native: Option<Box<NativeBuckets>>,
    /// One exemplar slot per bucket (`+Inf` last), allocated by the first
    /// [`Histogram::observe_with_exemplar`]: a series that never gets an
    /// exemplar holds only this empty cell, within the line `Inner` fills
    /// anyway.
    exemplars: OnceLock<Box<[ExemplarSlot]>>,
}

impl Inner {
    /// The count and the partial sum of bucket `index` (`0..=bounds.len()`).
    #[inline]
    fn bucket(&self, index: usize) -> (&AtomicU64, &AtomicU64) {
        let line = &self.lines[index / PER_LINE].0;
        let slot = 2 * (index % PER_LINE);
        (&line[slot], &line[slot + 1])
    }

    /// The counts the buckets keep themselves, `+Inf` last: every
    /// observation's without native buckets; with them, those the native
    /// zero bucket counted (the native slots count the rest, see
    /// [`native`](crate::native)).
    fn own_counts(&self) -> Vec<u64> {
        (0..=self.bounds.len())
            .map(|i| self.bucket(i).0.load(Ordering::Relaxed))
            .collect()
    }

    /// The non-cumulative counts, `+Inf` last.
    fn counts(&self) -> Vec<u64> {
        let mut counts = self.own_counts();
        if let Some(native) = &self.native {
            native.add_classic_counts(&mut counts);
        }
        counts
    }

    /// The sum, the count and the per-bucket (not cumulative) counts with
    /// their upper bounds, `+Inf` last, as prometheus-client's encoders take
    /// them (they accumulate the counts while writing `_bucket` lines), for
    /// a histogram without native buckets.
    fn classic(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut count = 0_u64;
        let mut buckets = Vec::with_capacity(self.bounds.len() + 1);
        for i in 0..=self.bounds.len() {
            let n = self.bucket(i).0.load(Ordering::Relaxed);
            count += n;
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        (self.sum(), count, buckets)
    }

    /// The sum of the observations: the buckets' partial sums added in
    /// bucket order, so exact within `f64` precision (the order of the
    /// additions differs from the order of the observations, as it does
    /// anyway between racing threads).
    fn sum(&self) -> f64 {
        (0..=self.bounds.len())
            .map(|i| f64::from_bits(self.bucket(i).1.load(Ordering::Relaxed)))
            .fold(0.0, |sum, part| sum + part)
    }
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
        Ok(Self::with_valid_bounds(bounds.into(), None))
    }

    fn with_valid_bounds(bounds: Arc<[f64]>, native: Option<&NativeConfig>) -> Self {
        // Zeroed slots are counts of 0 and partial sums of +0.0.
        let lines = (0..=bounds.len() / PER_LINE)
            .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        let native =
            native.map(|config| Box::new(NativeBuckets::new(config.clone(), bounds.len())));
        Self {
            inner: Arc::new(Inner {
                bounds,
                lines,
                native,
                exemplars: OnceLock::new(),
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
        if let Some(native) = &inner.native {
            // Out of line: inlined here, the native path made the classic
            // one slower too.
            observe_native(inner, native, value);
            return;
        }
        // The first bucket whose upper bound is at or above the value; the
        // `+Inf` bucket (index `bounds.len()`) when there is none.
        let index = inner.bounds.partition_point(|bound| *bound < value);
        let (count, sum) = inner.bucket(index);
        count.fetch_add(1, Ordering::Relaxed);
        // Adding zero leaves a sum as it is: sums start at +0.0 and,
        // rounding to nearest, a sum is -0.0 only when every term is, so
        // `sum + 0.0 == sum` bit for bit and the compare-exchange is skipped.
        if value == 0.0 {
            return;
        }
        add_to_sum(sum, value);
    }

    /// Records one observation, as [`observe`](Self::observe), and keeps
    /// `trace` as the exemplar of the bucket it falls in, timestamped now.
    /// NaN is ignored.
    ///
    /// The bucket's previous exemplar is replaced; when another thread is
    /// writing that bucket's exemplar at the same moment, this one is
    /// dropped (the observation itself is always counted). The first
    /// exemplar of a series allocates its slots (one per bucket).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{Histogram, TraceContext};
    ///
    /// let h = Histogram::new("latency", &[0.1, 1.0])?;
    /// let trace = TraceContext::new([7; 16], [9; 8], true).unwrap();
    /// h.observe_with_exemplar(0.5, &trace);
    /// assert_eq!(h.bucket_counts(), vec![0, 1, 0]);
    /// let exemplars = h.exemplars();
    /// assert!(exemplars[0].is_none() && exemplars[2].is_none());
    /// assert_eq!(exemplars[1].map(|e| (e.trace, e.value)), Some((trace, 0.5)));
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[inline]
    pub fn observe_with_exemplar(&self, value: f64, trace: &TraceContext) {
        self.observe_with_exemplar_at(value, trace, SystemTime::now());
    }

    /// [`observe`](Self::observe) without a trace,
    /// [`observe_with_exemplar`](Self::observe_with_exemplar) with one: for
    /// recorders whose trace is known only at run time (a request's sampled
    /// `traceparent`, exemplars on).
    #[inline]
    pub fn observe_traced(&self, value: f64, trace: Option<&TraceContext>) {
        match trace {
            None => self.observe(value),
            Some(trace) => self.observe_with_exemplar(value, trace),
        }
    }

    /// As [`observe_with_exemplar`](Self::observe_with_exemplar), the
    /// exemplar timestamped `at`.
    pub fn observe_with_exemplar_at(&self, value: f64, trace: &TraceContext, at: SystemTime) {
        if value.is_nan() {
            return;
        }
        self.observe(value);
        let inner = &*self.inner;
        let index = inner.bounds.partition_point(|bound| *bound < value);
        let slots = inner
            .exemplars
            .get_or_init(|| new_slots(inner.bounds.len() + 1));
        if let Some(slot) = slots.get(index) {
            slot.store_at(trace, value, at);
        }
    }

    /// The exemplar of each bucket (`+Inf` last), `None` where there is none.
    pub fn exemplars(&self) -> Vec<Option<ExemplarSample>> {
        let buckets = self.inner.bounds.len() + 1;
        match self.inner.exemplars.get() {
            Some(slots) => slots.iter().map(ExemplarSlot::load).collect(),
            None => vec![None; buckets],
        }
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.inner.bounds
    }

    /// Whether the histogram also keeps native buckets.
    pub fn has_native(&self) -> bool {
        self.inner.native.is_some()
    }

    /// The number of observations per bucket, not cumulative, `+Inf` last.
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.inner.counts()
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.inner.counts().iter().sum()
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        self.inner.sum()
    }
}

/// [`Histogram::observe`] for a histogram with native buckets: the native
/// slot's count is the classic bucket's too (see [`native`](crate::native)),
/// so the bucket counts only what the native zero bucket took.
#[inline(never)]
fn observe_native(inner: &Inner, native: &NativeBuckets, value: f64) {
    let index = inner.bounds.partition_point(|bound| *bound < value);
    let (count, sum) = inner.bucket(index);
    if !native.observe(value, index) {
        count.fetch_add(1, Ordering::Relaxed);
    }
    if value != 0.0 {
        add_to_sum(sum, value);
    }
}

/// Adds `value` to the `f64` sum stored as bits in `sum`.
#[inline(always)]
fn add_to_sum(sum: &AtomicU64, value: f64) {
    let mut old = sum.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(old) + value).to_bits();
        match sum.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break,
            Err(current) => old = current,
        }
    }
}

#[cold]
fn new_slots(n: usize) -> Box<[ExemplarSlot]> {
    (0..n).map(|_| ExemplarSlot::new()).collect()
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
        let exemplars = exemplar_map(inner);
        if let Some(native) = &inner.native {
            return crate::native::encode(
                native,
                &inner.bounds,
                || (inner.sum(), inner.own_counts()),
                exemplars.as_ref(),
                encoder,
            );
        }
        let (sum, count, buckets) = inner.classic();
        encoder.encode_histogram(sum, count, &buckets, exemplars.as_ref())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The buckets' exemplars as prometheus-client's encoders take them (bucket
/// index to exemplar); `None` for a series that never had one.
fn exemplar_map(
    inner: &Inner,
) -> Option<HashMap<usize, prometheus_client::metrics::exemplar::Exemplar<crate::TraceLabels, f64>>>
{
    let slots = inner.exemplars.get()?;
    Some(
        slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, slot.load()?.to_exemplar())))
            .collect(),
    )
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
    native: Option<NativeConfig>,
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
            native: None,
        })
    }

    /// Gives every histogram built from now on native buckets with the
    /// settings `native`, beside its classic ones (see [`NativeConfig`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{HistogramBuilder, NativeConfig};
    ///
    /// let native = NativeConfig::new(2.0, 0.0, 160)?;
    /// let h = HistogramBuilder::new("d_seconds", &[1.0])?
    ///     .with_native(native)
    ///     .build();
    /// h.observe(3.0);
    /// assert!(h.has_native());
    /// assert_eq!(h.bucket_counts(), vec![0, 1]); // the classic buckets are kept
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_native(mut self, native: NativeConfig) -> Self {
        self.native = Some(native);
        self
    }

    /// Drops the classic buckets of the histograms built from now on: they
    /// keep `_sum`, `_count` and the one `+Inf` bucket, as a client_golang
    /// histogram without classic buckets does. Meant with
    /// [`with_native`](Self::with_native).
    #[must_use]
    pub fn without_classic_buckets(mut self) -> Self {
        self.bounds = Arc::from([]);
        self
    }

    /// A new, empty histogram.
    pub fn build(&self) -> Histogram {
        Histogram::with_valid_bounds(Arc::clone(&self.bounds), self.native.as_ref())
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
    fn native_buckets_leave_the_text_as_it_was_and_native_only_keeps_inf() {
        use crate::{FamilySpec, MetricKind, MetricsConfig, Registry, Unit};
        let spec = FamilySpec {
            name: "d",
            help: "D",
            kind: MetricKind::Histogram,
            unit: Some(Unit::Seconds),
            labels: &["k"],
        };
        let render = |config: MetricsConfig| {
            let mut r = Registry::new(&config.with_namespace("")).unwrap_or_else(|e| panic!("{e}"));
            let family = r
                .register_bounded_histogram::<Vec<(String, String)>>(&spec, &[1.0, 2.0])
                .unwrap_or_else(|e| panic!("{e}"));
            let h = family.get_or_create(&vec![("k".to_owned(), "v".to_owned())]);
            for v in [0.5, 1.5, 1.5, 3.0, f64::NAN] {
                h.observe(v);
            }
            let native = h.has_native();
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, r.as_prometheus())
                .unwrap_or_else(|e| panic!("{e}"));
            (native, text)
        };
        // Off, the native part is one `None` inside the line a series takes anyway.
        assert_eq!(std::mem::size_of::<Inner>(), 64);
        let (native, classic) = render(MetricsConfig::new());
        assert!(!native);
        let (native, both) = render(MetricsConfig::new().with_native_histograms(true));
        assert!(native);
        assert_eq!(both, classic);
        let (native, only) = render(
            MetricsConfig::new()
                .with_native_histogram_family("d_seconds")
                .with_native_only(true),
        );
        assert!(native);
        assert!(only.contains("d_seconds_sum{k=\"v\"} 6.5\n"), "{only}");
        assert!(only.contains("d_seconds_count{k=\"v\"} 4\n"), "{only}");
        assert!(
            only.contains("d_seconds_bucket{le=\"+Inf\",k=\"v\"} 4\n"),
            "{only}"
        );
        assert!(!only.contains("le=\"1.0\""), "{only}");
        let (native, _) =
            render(MetricsConfig::new().with_native_histogram_family("other_seconds"));
        assert!(!native);
    }

    #[test]
    fn zero_observations_are_counted_and_keep_the_sum_exact() {
        let h = Histogram::new("h", &[0.0, 1.0]).unwrap_or_else(|e| panic!("{e}"));
        h.observe(0.0);
        h.observe(-0.0);
        assert_eq!(h.bucket_counts(), vec![2, 0, 0]);
        // Still +0.0, bit for bit, as `0.0 + 0.0 + -0.0` is.
        assert_eq!(h.sum().to_bits(), 0.0_f64.to_bits());
        h.observe(-2.5);
        h.observe(0.0);
        h.observe(2.5);
        h.observe(-0.0);
        assert_eq!(h.sum().to_bits(), 0.0_f64.to_bits());
        assert_eq!(h.count(), 6);
        h.observe(0.25);
        h.observe(0.0);
        assert_eq!(h.sum(), 0.25);
    }

    #[test]
    fn many_buckets_span_several_cache_lines() {
        // 20 bounds: 21 buckets over six lines of four.
        let bounds: Vec<f64> = (1..=20).map(f64::from).collect();
        let h = Histogram::new("h", &bounds).unwrap_or_else(|e| panic!("{e}"));
        for v in 0..=21 {
            h.observe(f64::from(v));
        }
        let mut expected = vec![1_u64; 21];
        expected[0] = 2; // 0 and 1 fall in le=1
        expected[20] = 1; // 21 in +Inf
        assert_eq!(h.bucket_counts(), expected);
        assert_eq!(h.count(), 22);
        assert_eq!(h.sum(), 231.0);
        // Exactly 4 bounds: 5 buckets, the +Inf one first on the second line.
        let h = Histogram::new("h", &[1.0, 2.0, 3.0, 4.0]).unwrap_or_else(|e| panic!("{e}"));
        h.observe(9.0);
        h.observe(4.0);
        h.observe(-1.5);
        assert_eq!(h.bucket_counts(), vec![1, 0, 0, 1, 1]);
        assert_eq!(h.sum(), 11.5);
    }

    #[test]
    fn series_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<Inner>(), 64);
        assert_eq!(std::mem::size_of::<Line>(), 64);
        assert_eq!(std::mem::align_of::<Line>(), 64);
        let h = Histogram::new("h", &[1.0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::ptr::from_ref(&*h.inner).addr() % 64, 0);
        assert_eq!(h.inner.lines.as_ptr().addr() % 64, 0);
    }

    #[test]
    fn the_sum_spans_buckets_and_keeps_infinities() {
        let h = Histogram::new("h", &[0.1, 1.0]).unwrap_or_else(|e| panic!("{e}"));
        for v in [0.05, 0.5, 5.0, 0.25] {
            h.observe(v);
        }
        assert_eq!(h.sum(), 5.8);
        h.observe(f64::INFINITY);
        assert_eq!(h.sum(), f64::INFINITY);
        h.observe(f64::NEG_INFINITY);
        assert!(
            h.sum().is_nan(),
            "inf + -inf is NaN, as a single sum would be"
        );
        assert_eq!(h.count(), 6);
    }

    #[test]
    fn exemplars_render_on_their_buckets_in_openmetrics_only() {
        use crate::{FamilySpec, MetricKind, MetricsConfig, Registry, Unit};
        use std::time::{Duration, UNIX_EPOCH};
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
        let a = TraceContext::new([0x0a; 16], [0x01; 8], true).unwrap_or_else(|| panic!());
        let b = TraceContext::new([0x0b; 16], [0x02; 8], true).unwrap_or_else(|| panic!());
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        h.observe(0.5);
        h.observe_with_exemplar_at(1.5, &a, at);
        h.observe_with_exemplar_at(1.25, &b, at + Duration::from_millis(500)); // replaces a
        h.observe_with_exemplar_at(3.0, &a, at);
        h.observe_with_exemplar_at(f64::NAN, &a, at); // refused, as observe refuses it
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum(), 6.25);
        let mut open = String::new();
        prometheus_client::encoding::text::encode(&mut open, r.as_prometheus())
            .unwrap_or_else(|e| panic!("{e}"));
        let ta = "0a".repeat(16);
        let tb = "0b".repeat(16);
        assert_eq!(
            open,
            format!(
                "# HELP d_seconds D.\n# TYPE d_seconds histogram\n# UNIT d_seconds seconds\n\
                 d_seconds_sum 6.25\nd_seconds_count 4\n\
                 d_seconds_bucket{{le=\"1.0\"}} 1\n\
                 d_seconds_bucket{{le=\"2.0\"}} 3 # {{trace_id=\"{tb}\",span_id=\"0202020202020202\"}} 1.25 1700000000.5\n\
                 d_seconds_bucket{{le=\"+Inf\"}} 4 # {{trace_id=\"{ta}\",span_id=\"0101010101010101\"}} 3.0 1700000000.0\n\
                 # EOF\n"
            )
        );
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, r.as_prometheus())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{le=\"1\"} 1\nd_seconds_bucket{le=\"2\"} 3\n\
             d_seconds_bucket{le=\"+Inf\"} 4\nd_seconds_sum 6.25\nd_seconds_count 4\n"
        );
    }

    #[test]
    fn a_native_histogram_keeps_its_exemplars() {
        use std::time::{Duration, UNIX_EPOCH};
        let native = NativeConfig::new(2.0, 0.0, 160).unwrap_or_else(|e| panic!("{e}"));
        let trace = TraceContext::new([0x0c; 16], [0x03; 8], true).unwrap_or_else(|| panic!());
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for builder in [
            HistogramBuilder::new("d_seconds", &[1.0]).unwrap_or_else(|e| panic!("{e}")),
            HistogramBuilder::new("d_seconds", &[1.0])
                .unwrap_or_else(|e| panic!("{e}"))
                .without_classic_buckets(),
        ] {
            let h = builder.with_native(native.clone()).build();
            h.observe_with_exemplar_at(3.0, &trace, at);
            assert_eq!(h.count(), 1);
            let mut registry = prometheus_client::registry::Registry::default();
            registry.register("d", "D", h.clone());
            let mut open = String::new();
            prometheus_client::encoding::text::encode(&mut open, &registry)
                .unwrap_or_else(|e| panic!("{e}"));
            let line = format!(
                "d_bucket{{le=\"+Inf\"}} 1 # {{trace_id=\"{}\",span_id=\"0303030303030303\"}} 3.0 1700000000.0\n",
                "0c".repeat(16)
            );
            assert!(open.contains(&line), "{open}");
        }
    }

    #[test]
    fn without_exemplars_no_slots_are_allocated() {
        let h = Histogram::new("h", &[1.0]).unwrap_or_else(|e| panic!("{e}"));
        h.observe(0.5);
        assert!(h.inner.exemplars.get().is_none());
        assert_eq!(h.exemplars(), vec![None, None]);
        // The cell fits in the line `Inner` is aligned to anyway.
        assert_eq!(std::mem::size_of::<Inner>(), 64);
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

    #[test]
    fn classic_counts_kept_in_native_slots_stay_exact_under_concurrency() {
        // Zero, below the zero threshold, negative, on bounds, between and
        // past them: every path of a histogram with both kinds of buckets.
        let values = [0.0, 1e-300, -3.0, -1.0, -0.2, 0.5, 0.7, 1.0, 1.5, 3.0, 1e9];
        let bounds = [-1.0, 0.0, 0.5, 1.0, 2.0];
        let native = NativeConfig::new(2.0, crate::DEFAULT_NATIVE_ZERO_THRESHOLD, 160)
            .unwrap_or_else(|e| panic!("{e}"));
        let builder = HistogramBuilder::new("h", &bounds).unwrap_or_else(|e| panic!("{e}"));
        let both = builder.clone().with_native(native.clone()).build();
        let only = builder
            .with_native(native)
            .without_classic_buckets()
            .build();
        let classic = Histogram::new("h", &bounds).unwrap_or_else(|e| panic!("{e}"));
        for v in values {
            classic.observe(v);
        }
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2_500 {
                        for v in values {
                            both.observe(v);
                            only.observe(v);
                        }
                    }
                });
            }
        });
        let want: Vec<u64> = classic.bucket_counts().iter().map(|n| n * 10_000).collect();
        assert_eq!(both.bucket_counts(), want);
        assert_eq!(both.count(), 110_000);
        assert_eq!(only.bucket_counts(), vec![110_000]);
        for h in [&both, &only] {
            let inner = &*h.inner;
            let mut counts = inner.own_counts();
            let native = inner.native.as_ref().unwrap_or_else(|| panic!("native"));
            let snapshot = native.snapshot(&mut counts);
            assert_eq!(counts, h.bucket_counts());
            // Two zeros per round, each counted by the zero bucket and by
            // its classic bucket's own count.
            assert_eq!(snapshot.zero_count, 20_000);
            assert_eq!(snapshot.total, 110_000);
        }
    }
}
