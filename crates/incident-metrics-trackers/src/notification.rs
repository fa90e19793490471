//! [`NotificationRecorder`] and [`NotificationTracker`]: notification
//! delivery and queue sizes.

use std::fmt;
use std::sync::Arc;

use incident_metrics_catalog::notification::{
    ChannelLabels, NotificationLabels, NotificationStatus,
};
use incident_metrics_catalog::{LimitMetrics, Metrics, NotificationMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, Histogram, SharedStr};
use quanta::Instant;

use crate::cache::{Entry, HandleCache};
use crate::limiter::CardinalityLimiter;
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
/// use incident_metrics_catalog::Metrics;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{NotificationRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let metrics = Metrics::register(&mut registry)?;
/// let notifications = NotificationRecorder::from_metrics(&metrics, &TrackerConfig::default())?;
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
        })
    }

    /// A recorder into the notification and limit families of `metrics`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_metrics(metrics: &Metrics, config: &TrackerConfig) -> Result<Self> {
        Self::new(
            metrics.notifications.clone(),
            metrics.limits.clone(),
            config,
        )
    }

    fn entry(&self, channel: &str) -> Option<&Entry<1, ChannelHandles>> {
        let metrics = &self.inner.metrics;
        self.inner
            .cache
            .get([channel], |keys| ChannelHandles::new(metrics, keys))
            .map(|e| &**e)
    }

    /// Starts timing the delivery of one notification on `channel`.
    #[inline]
    pub fn start(&self, channel: &str) -> NotificationTracker<'_> {
        NotificationTracker {
            entry: self.entry(channel),
            start: Instant::now(),
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
/// use incident_metrics_trackers::NotificationTracker;
///
/// let metrics = incident_metrics_catalog::init(Default::default())?;
/// NotificationTracker::start("email").sent();
/// NotificationTracker::start("email").failed();
/// let notifications = &metrics.metrics().notifications;
/// assert_eq!(notifications.delivery_duration.get_or_create(&incident_metrics_catalog::notification::ChannelLabels {
///     channel: "email".into(),
/// }).count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a tracker records when finished or dropped; dropping it at once records a dropped notification"]
pub struct NotificationTracker<'a> {
    entry: Option<&'a Entry<1, ChannelHandles>>,
    start: Instant,
}

impl NotificationTracker<'static> {
    /// Starts timing with the process-wide trackers ([`crate::global`]).
    #[inline]
    pub fn start(channel: &str) -> Self {
        match crate::global() {
            Some(trackers) => trackers.notifications.start(channel),
            None => Self {
                entry: None,
                start: Instant::now(),
            },
        }
    }
}

impl NotificationTracker<'_> {
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
