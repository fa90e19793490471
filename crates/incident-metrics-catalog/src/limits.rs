//! Cardinality limiting: what was folded into an overflow value.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{FamilySpec, MetricKind, Registry, Result, SharedStr};

use crate::family::{self, CounterFamily};

/// Labels of `label_values_folded_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FoldedLabels {
    /// Which limited label folded a value, e.g. `llm_model`; set by code,
    /// never from input.
    pub label: SharedStr,
}

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
    /// `label_values_folded_total{label}`.
    pub label_values_folded: CounterFamily<FoldedLabels>,
}

impl LimitMetrics {
    /// Registers the cardinality-limiting families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            label_values_folded: family::counter(registry, &LABEL_VALUES_FOLDED)?,
        })
    }
}
