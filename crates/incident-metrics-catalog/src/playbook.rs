//! Playbook families.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{self, CounterFamily, HistogramFamily};

label_enum! {
    /// The outcome of one playbook execution.
    pub enum PlaybookStatus {
        /// Every step succeeded.
        Success => "success",
        /// A step failed.
        Failed => "failed",
        /// The execution was cut short (shutdown, drop).
        Cancelled => "cancelled",
        /// The execution ran out of time.
        Timeout => "timeout",
    }
}

/// Labels of `playbook_executions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaybookLabels {
    /// The playbook's name.
    pub playbook: SharedStr,
    /// The outcome.
    pub status: PlaybookStatus,
}

/// Labels of `playbook_execution_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaybookNameLabels {
    /// The playbook's name.
    pub playbook: SharedStr,
}

/// `playbook_executions_total`.
pub const EXECUTIONS: FamilySpec = FamilySpec {
    name: "playbook_executions",
    help: "Total number of playbook executions, by playbook and outcome",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["playbook", "status"],
};

/// `playbook_execution_duration_seconds`.
pub const EXECUTION_DURATION: FamilySpec = FamilySpec {
    name: "playbook_execution_duration",
    help: "Time taken by a playbook execution",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["playbook"],
};

/// `playbooks_active`.
pub const ACTIVE: FamilySpec = FamilySpec {
    name: "playbooks_active",
    help: "Number of playbook executions in progress",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &[],
};

/// `playbooks_pending`.
pub const PENDING: FamilySpec = FamilySpec {
    name: "playbooks_pending",
    help: "Number of playbook executions owed and not yet finished: running, waiting for a free slot, or in a wait step",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &[],
};

/// The playbook families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PlaybookMetrics {
    /// `playbook_executions_total{playbook, status}`.
    pub executions: CounterFamily<PlaybookLabels>,
    /// `playbook_execution_duration_seconds{playbook}`.
    pub execution_duration: HistogramFamily<PlaybookNameLabels>,
    /// `playbooks_active`.
    pub active: Gauge,
    /// `playbooks_pending`.
    pub pending: Gauge,
}

impl PlaybookMetrics {
    /// Registers the playbook families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        let active = Gauge::default();
        let pending = Gauge::default();
        let metrics = Self {
            executions: family::counter(registry, &EXECUTIONS)?,
            execution_duration: family::histogram(
                registry,
                &EXECUTION_DURATION,
                buckets::TASK_DURATION_SECONDS,
            )?,
            active: active.clone(),
            pending: pending.clone(),
        };
        registry.register(&ACTIVE, active)?;
        registry.register(&PENDING, pending)?;
        Ok(metrics)
    }
}
