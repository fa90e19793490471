//! Family type aliases and the registration helpers every group uses.

use std::fmt::Debug;
use std::hash::Hash;

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{
    BoundedFamily, FamilySpec, Histogram, HistogramBuilder, Registry, Result,
};

/// A family of `u64` counters keyed by the label set `L`, bounded by its
/// cardinality limit (see [`BoundedFamily`]).
pub type CounterFamily<L> = BoundedFamily<L, Counter>;

/// A family of `f64` counters (for amounts such as a cost) keyed by `L`,
/// bounded by its cardinality limit.
pub type FloatCounterFamily<L> = BoundedFamily<L, Counter<f64, std::sync::atomic::AtomicU64>>;

/// A family of `i64` gauges keyed by `L`, bounded by its cardinality limit.
pub type GaugeFamily<L> = BoundedFamily<L, Gauge>;

/// A family of `f64` gauges (for amounts such as a budget in USD or a
/// reported rate limit) keyed by `L`, bounded by its cardinality limit.
pub type FloatGaugeFamily<L> = BoundedFamily<L, Gauge<f64, std::sync::atomic::AtomicU64>>;

/// A family of lock-free histograms keyed by `L`, all with one bucket
/// layout, bounded by its cardinality limit.
pub type HistogramFamily<L> = BoundedFamily<L, Histogram, HistogramBuilder>;

/// The bounds a label set must satisfy to key a family.
pub trait LabelSet: Clone + Hash + Eq + Debug + EncodeLabelSet + Send + Sync + 'static {}

impl<T> LabelSet for T where T: Clone + Hash + Eq + Debug + EncodeLabelSet + Send + Sync + 'static {}

pub(crate) fn counter<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<CounterFamily<L>> {
    registry.register_bounded(spec)
}

pub(crate) fn float_counter<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<FloatCounterFamily<L>> {
    registry.register_bounded(spec)
}

pub(crate) fn gauge<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<GaugeFamily<L>> {
    registry.register_bounded(spec)
}

pub(crate) fn float_gauge<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<FloatGaugeFamily<L>> {
    registry.register_bounded(spec)
}

pub(crate) fn histogram<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
    default_buckets: &[f64],
) -> Result<HistogramFamily<L>> {
    registry.register_bounded_histogram(spec, default_buckets)
}
