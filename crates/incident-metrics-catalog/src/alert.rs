//! Alert intake families: alerts received from Alertmanager's webhook.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{FamilySpec, MetricKind, Registry, Result, SharedStr, label_enum};

use crate::family::{self, CounterFamily};

label_enum! {
    /// The state of one received alert.
    pub enum AlertStatus {
        /// The alert is firing.
        Firing => "firing",
        /// The alert has resolved.
        Resolved => "resolved",
    }
}

/// Labels of `alerts_received_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// The Alertmanager receiver that sent the alert.
    pub receiver: SharedStr,
    /// Firing or resolved.
    pub status: AlertStatus,
}

/// Labels of `alerts_truncated_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabels {
    /// The Alertmanager receiver.
    pub receiver: SharedStr,
}

/// `alerts_received_total`.
pub const ALERTS_RECEIVED: FamilySpec = FamilySpec {
    name: "alerts_received",
    help: "Total number of alerts received from Alertmanager, one per alert of a webhook, by receiver and status",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["receiver", "status"],
};

/// `alerts_truncated_total`.
pub const ALERTS_TRUNCATED: FamilySpec = FamilySpec {
    name: "alerts_truncated",
    help: "Total number of alerts Alertmanager left out of its webhooks (their truncatedAlerts), by receiver",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["receiver"],
};

/// The alert intake families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AlertMetrics {
    /// `alerts_received_total{receiver, status}`.
    pub received: CounterFamily<AlertLabels>,
    /// `alerts_truncated_total{receiver}`.
    pub truncated: CounterFamily<ReceiverLabels>,
}

impl AlertMetrics {
    /// Registers the alert intake families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            received: family::counter(registry, &ALERTS_RECEIVED)?,
            truncated: family::counter(registry, &ALERTS_TRUNCATED)?,
        })
    }
}
