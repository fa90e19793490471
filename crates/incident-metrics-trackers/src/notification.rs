//! [`NotificationRecorder`] and [`NotificationTracker`]: notification
//! delivery and queue sizes.

use std::fmt;
use std::sync::Arc;

use incident_metrics_catalog::notification::{
    ChannelLabels, NotificationLabels, NotificationStatus,
};
use incident_metrics_catalog::{Catalog, LimitMetrics, NotificationMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, Histogram, SharedStr};

use crate::cache::{Entry, HandleCache};
use crate::limiter::CardinalityLimiter;
use crate::start::Start;
use crate::{Result, TrackerConfig};

/// Records notifications into the catalog's [`NotificationMetrics`].
///
/// Channel names pass through a [`CardinalityLimiter`] (label
/// `notification_channel`, limit [`TrackerConfig::max_channels`]); each
/// channel is resolved once to its handles.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{NotificationRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let notifications = NotificationRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
///
/// let queue = notifications.queue_size("slack");
/// queue.set(3);
/// let delivery = notifications.start("slack");
/// delivery.retried();
/// delivery.sent();
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(r#"notifications_total{channel="slack",status="sent"} 1"#));
/// assert!(text.contains(r#"notifications_total{channel="slack",status="retried"} 1"#));
/// assert!(text.contains(r#"notification_queue_size{channel="slack"} 3"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NotificationRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: NotificationMetrics,
    cache: HandleCache<1, ChannelHandles>,
}

#[derive(Debug)]
pub(crate) struct ChannelHandles {
    notifications: ByLabel<NotificationStatus, Counter>,
    delivery: Histogram,
    queue: Gauge,
}

impl ChannelHandles {
    fn new(metrics: &NotificationMetrics, keys: &[SharedStr; 1]) -> Self {
        let [channel] = keys;
        let labels = ChannelLabels {
            channel: channel.clone(),
        };
        Self {
            notifications: ByLabel::new(|status| {
                metrics
                    .notifications
                    .get_or_create(&NotificationLabels {
                        channel: channel.clone(),
                        status,
                    })
                    .clone()
            }),
            delivery: metrics.delivery_duration.get_or_create(&labels).clone(),
            queue: metrics.queue_size.get_or_create(&labels).clone(),
        }
    }
}

impl NotificationRecorder {
    /// A recorder into `metrics`, folding channels past
    /// [`TrackerConfig::max_channels`] (counted in `limits`).
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(
        metrics: NotificationMetrics,
        limits: LimitMetrics,
        config: &TrackerConfig,
    ) -> Result<Self> {
        config.validate()?;
        let limiter = CardinalityLimiter::new("notification_channel", config.max_channels, &limits);
        Ok(Self {
            inner: Arc::new(Inner {
                metrics,
                cache: HandleCache::new([limiter], [config.max_channels]),
            }),
            enabled: true,
        })
    }

    /// A recorder into the notification and limit families of `catalog`.
    /// Built from a catalog registered with `enabled = false`, it records
    /// nothing and its trackers read no clock.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_catalog(catalog: &Catalog, config: &TrackerConfig) -> Result<Self> {
        let recorder = Self::new(
            catalog.notifications.clone(),
            catalog.limits.clone(),
            config,
        )?;
        Ok(Self {
            enabled: catalog.config().enabled(),
            ..recorder
        })
    }

    fn entry(&self, channel: &str) -> Option<&Entry<1, ChannelHandles>> {
        if !self.enabled {
            return None;
        }
        let metrics = &self.inner.metrics;
        self.inner
            .cache
            .get([channel], |keys| ChannelHandles::new(metrics, keys))
            .map(|e| &**e)
    }

    /// Starts timing the delivery of one notification on `channel`.
    #[inline]
    pub fn start(&self, channel: &str) -> NotificationTracker<'_> {
        match self.entry(channel) {
            Some(entry) => NotificationTracker {
                entry: Some(entry),
                start: Start::now(),
            },
            None => NotificationTracker {
                entry: None,
                start: Start::NONE,
            },
        }
    }

    /// The `notification_queue_size{channel}` gauge, for the queue's owner
    /// to `inc`/`dec`/`set` (a cheap handle: keep it).
    pub fn queue_size(&self, channel: &str) -> Gauge {
        self.entry(channel)
            .map(|e| e.value.queue.clone())
            .unwrap_or_default()
    }

    /// The limiter of the `channel` label.
    pub fn limiter(&self) -> &CardinalityLimiter {
        &self.inner.cache.limiters()[0]
    }
}

/// The delivery of one notification. Finish it with [`sent`](Self::sent),
/// [`failed`](Self::failed) or [`dropped`](Self::dropped); count retries
/// on the way with [`retried`](Self::retried). Dropped without a finish (a
/// cancelled future at shutdown, a panic), it records the status `dropped`,
/// once. `sent` and `failed` observe
/// `notification_delivery_duration_seconds{channel}`.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{NotificationRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let recorder = NotificationRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
/// recorder.start("email").sent();
/// recorder.start("email").failed();
/// let notifications = &catalog.notifications;
/// assert_eq!(notifications.delivery_duration.get_or_create(&incident_metrics_catalog::notification::ChannelLabels {
///     channel: "email".into(),
/// }).count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a tracker records when finished or dropped; dropping it at once records a dropped notification"]
pub struct NotificationTracker<'a> {
    entry: Option<&'a Entry<1, ChannelHandles>>,
    start: Start,
}

impl NotificationTracker<'_> {
    /// A tracker that records nothing and reads no clock: what a recorder
    /// with metrics disabled hands out, for code that must hold a tracker
    /// before any metrics exist (the facade's `prelude` before
    /// `init_metrics`).
    pub fn inert() -> NotificationTracker<'static> {
        NotificationTracker {
            entry: None,
            start: Start::NONE,
        }
    }

    /// A delivery attempt failed and will be retried (`retried`, counted
    /// once per call; the delivery goes on).
    pub fn retried(&self) {
        if let Some(e) = self.entry {
            e.value.notifications.get(NotificationStatus::Retried).inc();
        }
    }

    /// Delivered.
    pub fn sent(mut self) {
        self.record(NotificationStatus::Sent, true);
    }

    /// Every attempt failed.
    pub fn failed(mut self) {
        self.record(NotificationStatus::Failed, true);
    }

    /// Dropped before any attempt (queue full, shutting down).
    pub fn dropped(mut self) {
        self.record(NotificationStatus::Dropped, false);
    }

    /// The delivery stays queued for a later attempt (a durable queue whose
    /// process is stopping, say): nothing is recorded now; the attempt that
    /// finishes it later records its outcome.
    pub fn postponed(mut self) {
        self.entry = None;
    }

    fn record(&mut self, status: NotificationStatus, timed: bool) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        entry.value.notifications.get(status).inc();
        if timed {
            entry
                .value
                .delivery
                .observe(self.start.elapsed().as_secs_f64());
        }
    }
}

impl Drop for NotificationTracker<'_> {
    fn drop(&mut self) {
        self.record(NotificationStatus::Dropped, false);
    }
}

impl fmt::Debug for NotificationTracker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationTracker")
            .field("channel", &self.entry.map(|e| &e.keys[0]))
            .finish_non_exhaustive()
    }
}
