//! The error family shared by every component.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{FamilySpec, MetricKind, Registry, Result, SharedStr};

use crate::family::{self, CounterFamily};

/// Labels of `errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The component that failed, e.g. `storage`.
    pub component: SharedStr,
    /// The kind of error, taken from the error variant, never its message.
    pub error_type: SharedStr,
}

/// `errors_total`.
pub const ERRORS: FamilySpec = FamilySpec {
    name: "errors",
    help: "Total number of errors, by component and kind of error",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["component", "error_type"],
};

/// The error family.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ErrorMetrics {
    /// `errors_total{component, error_type}`.
    pub errors: CounterFamily<ErrorLabels>,
}

impl ErrorMetrics {
    /// Registers the error family.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            errors: family::counter(registry, &ERRORS)?,
        })
    }
}
