//! Family type aliases and the registration helpers every group uses.

use std::fmt::Debug;
use std::hash::Hash;

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{FamilySpec, Histogram, HistogramBuilder, Registry, Result};

/// A family of `u64` counters keyed by the label set `L`.
pub type CounterFamily<L> = Family<L, Counter>;

/// A family of `f64` counters (for amounts such as a cost) keyed by `L`.
pub type FloatCounterFamily<L> = Family<L, Counter<f64, std::sync::atomic::AtomicU64>>;

/// A family of `i64` gauges keyed by `L`.
pub type GaugeFamily<L> = Family<L, Gauge>;

/// A family of lock-free histograms keyed by `L`, all with one bucket layout.
pub type HistogramFamily<L> = Family<L, Histogram, HistogramBuilder>;

/// The bounds a label set must satisfy to key a family.
pub trait LabelSet: Clone + Hash + Eq + Debug + EncodeLabelSet + Send + Sync + 'static {}

impl<T> LabelSet for T where T: Clone + Hash + Eq + Debug + EncodeLabelSet + Send + Sync + 'static {}

pub(crate) fn counter<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<CounterFamily<L>> {
    let family = CounterFamily::<L>::default();
    registry.register(spec, family.clone())?;
    Ok(family)
}

pub(crate) fn float_counter<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<FloatCounterFamily<L>> {
    let family = FloatCounterFamily::<L>::default();
    registry.register(spec, family.clone())?;
    Ok(family)
}

pub(crate) fn gauge<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
) -> Result<GaugeFamily<L>> {
    let family = GaugeFamily::<L>::default();
    registry.register(spec, family.clone())?;
    Ok(family)
}

pub(crate) fn histogram<L: LabelSet>(
    registry: &mut Registry,
    spec: &FamilySpec,
    default_buckets: &[f64],
) -> Result<HistogramFamily<L>> {
    let name = spec.full_name("");
    registry.register_histogram(spec, default_buckets, |bounds| {
        Ok(Family::new_with_constructor(HistogramBuilder::new(
            &name, bounds,
        )?))
    })
}
