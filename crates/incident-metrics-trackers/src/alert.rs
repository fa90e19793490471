//! [`AlertRecorder`]: alerts received from Alertmanager's webhook.

use std::sync::Arc;

use incident_metrics_catalog::alert::{AlertLabels, AlertStatus, ReceiverLabels};
use incident_metrics_catalog::{AlertMetrics, Catalog, LimitMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::{ByLabel, SharedStr};

use crate::cache::{Entry, HandleCache};
use crate::limiter::CardinalityLimiter;
use crate::{Result, TrackerConfig};

/// Records alerts received from Alertmanager into the catalog's
/// [`AlertMetrics`]: `alerts_received_total{receiver, status}` and
/// `alerts_truncated_total{receiver}`.
///
/// Receiver names come from outside (the webhook's payload), so they pass
/// through a [`CardinalityLimiter`] (label `alert_receiver`, limit
/// [`TrackerConfig::max_receivers`]); each receiver is resolved once to its
/// handles.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::alert::AlertStatus;
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{AlertRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let alerts = AlertRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
///
/// alerts.received("oncall", AlertStatus::Firing);
/// alerts.received("oncall", AlertStatus::Resolved);
/// alerts.truncated("oncall", 7);
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(r#"alerts_received_total{receiver="oncall",status="firing"} 1"#));
/// assert!(text.contains(r#"alerts_received_total{receiver="oncall",status="resolved"} 1"#));
/// assert!(text.contains(r#"alerts_truncated_total{receiver="oncall"} 7"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AlertRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: AlertMetrics,
    cache: HandleCache<1, ReceiverHandles>,
}

#[derive(Debug)]
struct ReceiverHandles {
    received: ByLabel<AlertStatus, Counter>,
    truncated: Counter,
}

impl ReceiverHandles {
    fn new(metrics: &AlertMetrics, keys: &[SharedStr; 1]) -> Self {
        let [receiver] = keys;
        Self {
            // Both statuses exist from the receiver's first alert, so that a
            // rate of resolved alerts reads 0 rather than nothing.
            received: ByLabel::new(|status| {
                metrics
                    .received
                    .get_or_create(&AlertLabels {
                        receiver: receiver.clone(),
                        status,
                    })
                    .clone()
            }),
            truncated: metrics
                .truncated
                .get_or_create(&ReceiverLabels {
                    receiver: receiver.clone(),
                })
                .clone(),
        }
    }
}

impl AlertRecorder {
    /// A recorder into `metrics`, folding receivers past
    /// [`TrackerConfig::max_receivers`] (counted in `limits`).
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(
        metrics: AlertMetrics,
        limits: LimitMetrics,
        config: &TrackerConfig,
    ) -> Result<Self> {
        config.validate()?;
        let limiter = CardinalityLimiter::new("alert_receiver", config.max_receivers, &limits);
        Ok(Self {
            inner: Arc::new(Inner {
                metrics,
                cache: HandleCache::new([limiter], [config.max_receivers]),
            }),
            enabled: true,
        })
    }

    /// A recorder into the alert and limit families of `catalog`. Built
    /// from a catalog registered with `enabled = false`, it records nothing.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_catalog(catalog: &Catalog, config: &TrackerConfig) -> Result<Self> {
        let recorder = Self::new(catalog.alerts.clone(), catalog.limits.clone(), config)?;
        Ok(Self {
            enabled: catalog.config().enabled(),
            ..recorder
        })
    }

    fn entry(&self, receiver: &str) -> Option<&Entry<1, ReceiverHandles>> {
        if !self.enabled {
            return None;
        }
        let metrics = &self.inner.metrics;
        self.inner
            .cache
            .get([receiver], |keys| ReceiverHandles::new(metrics, keys))
            .map(|e| &**e)
    }

    /// One alert with `status` arrived from `receiver`.
    pub fn received(&self, receiver: &str, status: AlertStatus) {
        if let Some(e) = self.entry(receiver) {
            e.value.received.get(status).inc();
        }
    }

    /// `n` alerts were left out of a webhook from `receiver` (Alertmanager's
    /// `truncatedAlerts`).
    pub fn truncated(&self, receiver: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(e) = self.entry(receiver) {
            e.value.truncated.inc_by(n);
        }
    }

    /// The limiter of the `receiver` label.
    pub fn limiter(&self) -> &CardinalityLimiter {
        &self.inner.cache.limiters()[0]
    }
}
