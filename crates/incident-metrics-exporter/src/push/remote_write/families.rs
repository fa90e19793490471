//! The sender's own families ([`REMOTE_WRITE_FAMILIES`]) and the handles
//! it records into.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{FamilySpec, MetricKind, Registry, Unit};

use super::RemoteWriteStats;
use crate::Result;

/// The sender's own families, registered by [`RemoteWriteConfig::register`](crate::RemoteWriteConfig::register)
/// under the registry's namespace (for example
/// `llm_incident_manager_remote_write_samples_sent_total`).
pub const REMOTE_WRITE_FAMILIES: [FamilySpec; 6] = [
    counter(
        "remote_write_samples_sent",
        "Samples the remote-write receiver accepted",
    ),
    counter(
        "remote_write_samples_failed",
        "Samples the remote-write receiver rejected with a 4xx answer other than 429, not retried",
    ),
    counter(
        "remote_write_samples_dropped",
        "Samples dropped unsent because the remote-write queue was full or the sender stopped",
    ),
    counter(
        "remote_write_retries",
        "Remote-write requests retried after a 5xx or 429 answer, a timeout or a connection failure",
    ),
    FamilySpec {
        name: "remote_write_queue_length",
        help: "Samples waiting in the remote-write queue, the request in flight included",
        kind: MetricKind::Gauge,
        unit: None,
        labels: &[],
    },
    FamilySpec {
        name: "remote_write_last_success_timestamp",
        help: "Unix time of the last request the remote-write receiver accepted",
        kind: MetricKind::Gauge,
        unit: Some(Unit::Seconds),
        labels: &[],
    },
];

/// The sender's seventh family, registered only with `native_histograms`
/// on: native histograms dropped unsent because the receiver refused them
/// (see [`RemoteWrite`](crate::RemoteWrite)).
pub const REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED: FamilySpec = counter(
    "remote_write_native_histograms_dropped",
    "Native histograms dropped unsent because the remote-write receiver refused them (500 native histograms are disabled, or three 5xx answers in a row)",
);

pub(super) const fn counter(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind: MetricKind::Counter,
        unit: None,
        labels: &[],
    }
}

/// The sender's own metrics (shared with the registry) and snapshot count.
#[derive(Clone, Debug, Default)]
pub(super) struct SenderMetrics {
    pub(super) sent: Counter,
    pub(super) failed: Counter,
    pub(super) dropped: Counter,
    pub(super) retries: Counter,
    pub(super) queue_length: Gauge,
    pub(super) last_success: Gauge<f64, AtomicU64>,
    pub(super) snapshots: Arc<AtomicU64>,
    /// Registered only with `native_histograms` on.
    pub(super) native_dropped: Counter,
    /// Set once the receiver refused native histograms.
    pub(super) native_disabled: Arc<AtomicBool>,
}

impl SenderMetrics {
    pub(super) fn stats(&self) -> RemoteWriteStats {
        RemoteWriteStats {
            snapshots: self.snapshots.load(Ordering::Relaxed),
            samples_sent: self.sent.get(),
            samples_failed: self.failed.get(),
            samples_dropped: self.dropped.get(),
            retries: self.retries.get(),
            queue_length: u64::try_from(self.queue_length.get()).unwrap_or(0),
            last_success_unix_seconds: self.last_success.get(),
            native_histograms_dropped: self.native_dropped.get(),
            native_histograms_disabled: self.native_disabled.load(Ordering::Relaxed),
        }
    }

    /// Registers [`REMOTE_WRITE_FAMILIES`] (and, with `native` on,
    /// [`REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED`]) into `registry`,
    /// recording into new handles.
    pub(super) fn register(registry: &mut Registry, native: bool) -> Result<Self> {
        let metrics = Self::default();
        let [sent, failed, dropped, retries, queue_length, last_success] = &REMOTE_WRITE_FAMILIES;
        registry.register(sent, metrics.sent.clone())?;
        registry.register(failed, metrics.failed.clone())?;
        registry.register(dropped, metrics.dropped.clone())?;
        registry.register(retries, metrics.retries.clone())?;
        registry.register(queue_length, metrics.queue_length.clone())?;
        registry.register(last_success, metrics.last_success.clone())?;
        if native {
            registry.register(
                &REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED,
                metrics.native_dropped.clone(),
            )?;
        }
        Ok(metrics)
    }
}
