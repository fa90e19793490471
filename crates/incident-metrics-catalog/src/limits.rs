//! Cardinality limiting: what was folded into an overflow value.

use incident_metrics_core::{FamilySpec, FoldCounters, MetricKind, Registry, Result};

/// Labels of `label_values_folded_total`, declared in core.
pub use incident_metrics_core::FoldedLabels;

/// `label_values_folded_total`.
pub const LABEL_VALUES_FOLDED: FamilySpec = FamilySpec {
    name: "label_values_folded",
    help: "Total number of observations whose label value was folded into the overflow value because its label reached its limit of distinct values",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["label"],
};

/// The cardinality-limiting families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LimitMetrics {
    /// `label_values_folded_total{label}`: the registry's
    /// [`FoldCounters`], where every limiter and lookup table
    /// ([`LabelTable`](incident_metrics_core::LabelTable)) fed from the
    /// registry counts its folds.
    pub label_values_folded: FoldCounters,
}

impl LimitMetrics {
    /// Registers the cardinality-limiting families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            label_values_folded: registry.register_fold_counters(&LABEL_VALUES_FOLDED)?,
        })
    }
}
