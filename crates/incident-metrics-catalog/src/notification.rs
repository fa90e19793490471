//! Notification families.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{self, CounterFamily, GaugeFamily, HistogramFamily};

label_enum! {
    /// The outcome of one notification.
    pub enum NotificationStatus {
        /// Delivered.
        Sent => "sent",
        /// A delivery attempt failed and will be retried.
        Retried => "retried",
        /// Every attempt failed.
        Failed => "failed",
        /// Dropped before any attempt (queue full, shutting down).
        Dropped => "dropped",
    }
}

/// Labels of `notifications_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// The channel, e.g. `webhook`.
    pub channel: SharedStr,
    /// The outcome.
    pub status: NotificationStatus,
}

/// Labels of the per-channel families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    /// The channel.
    pub channel: SharedStr,
}

/// `notifications_total`.
pub const NOTIFICATIONS: FamilySpec = FamilySpec {
    name: "notifications",
    help: "Total number of notifications, by channel and outcome",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["channel", "status"],
};

/// `notification_delivery_duration_seconds`.
pub const DELIVERY_DURATION: FamilySpec = FamilySpec {
    name: "notification_delivery_duration",
    help: "Time taken to deliver a notification, retries included",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["channel"],
};

/// `notification_queue_size`.
pub const QUEUE_SIZE: FamilySpec = FamilySpec {
    name: "notification_queue_size",
    help: "Number of notifications waiting in a channel's queue",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["channel"],
};

/// The notification families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NotificationMetrics {
    /// `notifications_total{channel, status}`.
    pub notifications: CounterFamily<NotificationLabels>,
    /// `notification_delivery_duration_seconds{channel}`.
    pub delivery_duration: HistogramFamily<ChannelLabels>,
    /// `notification_queue_size{channel}`.
    pub queue_size: GaugeFamily<ChannelLabels>,
}

impl NotificationMetrics {
    /// Registers the notification families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            notifications: family::counter(registry, &NOTIFICATIONS)?,
            delivery_duration: family::histogram(
                registry,
                &DELIVERY_DURATION,
                buckets::TASK_DURATION_SECONDS,
            )?,
            queue_size: family::gauge(registry, &QUEUE_SIZE)?,
        })
    }
}
