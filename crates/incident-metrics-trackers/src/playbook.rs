//! [`PlaybookRecorder`] and [`PlaybookTracker`]: playbook executions.

use std::fmt;
use std::sync::Arc;

use incident_metrics_catalog::playbook::{PlaybookLabels, PlaybookNameLabels, PlaybookStatus};
use incident_metrics_catalog::{Catalog, LimitMetrics, PlaybookMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, Histogram, SharedStr};

use crate::cache::{Entry, HandleCache};
use crate::label::IntoLabel;
use crate::limiter::CardinalityLimiter;
use crate::start::Start;
use crate::{Result, TrackerConfig};

/// Records playbook executions into the catalog's [`PlaybookMetrics`].
///
/// Playbook names pass through a [`CardinalityLimiter`] (label `playbook`,
/// limit [`TrackerConfig::max_playbooks`]); each name is resolved once to
/// its handles, with one series per status created at zero.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{PlaybookRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let metrics = Catalog::register(&mut registry)?;
/// let playbooks = PlaybookRecorder::from_catalog(&metrics, &TrackerConfig::default())?;
///
/// let run = playbooks.start("restart-service");
/// assert_eq!(metrics.playbooks.active.get(), 1);
/// run.success();
/// assert_eq!(metrics.playbooks.active.get(), 0);
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(r#"playbook_executions_total{playbook="restart-service",status="success"} 1"#));
/// assert!(text.contains(r#"playbook_executions_total{playbook="restart-service",status="failed"} 0"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PlaybookRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: PlaybookMetrics,
    cache: HandleCache<1, PlaybookHandles>,
}

#[derive(Debug)]
pub(crate) struct PlaybookHandles {
    executions: ByLabel<PlaybookStatus, Counter>,
    duration: Histogram,
    active: Gauge,
}

impl PlaybookHandles {
    fn new(metrics: &PlaybookMetrics, keys: &[SharedStr; 1]) -> Self {
        let [playbook] = keys;
        Self {
            executions: ByLabel::new(|status| {
                metrics
                    .executions
                    .get_or_create(&PlaybookLabels {
                        playbook: playbook.clone(),
                        status,
                    })
                    .clone()
            }),
            duration: metrics
                .execution_duration
                .get_or_create(&PlaybookNameLabels {
                    playbook: playbook.clone(),
                })
                .clone(),
            active: metrics.active.clone(),
        }
    }
}

impl PlaybookRecorder {
    /// A recorder into `metrics`, folding names past
    /// [`TrackerConfig::max_playbooks`] (counted in `limits`).
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(
        metrics: PlaybookMetrics,
        limits: LimitMetrics,
        config: &TrackerConfig,
    ) -> Result<Self> {
        config.validate()?;
        let limiter = CardinalityLimiter::new("playbook", config.max_playbooks, &limits);
        Ok(Self {
            inner: Arc::new(Inner {
                metrics,
                cache: HandleCache::new([limiter], [config.max_playbooks]),
            }),
            enabled: true,
        })
    }

    /// A recorder into the playbook and limit families of `catalog`.
    /// Built from a catalog registered with `enabled = false`, it records
    /// nothing and its trackers read no clock.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_catalog(catalog: &Catalog, config: &TrackerConfig) -> Result<Self> {
        let recorder = Self::new(catalog.playbooks.clone(), catalog.limits.clone(), config)?;
        Ok(Self {
            enabled: catalog.config().enabled(),
            ..recorder
        })
    }

    /// Starts one execution of `playbook`: `playbooks_active` goes up until
    /// the tracker finishes or is dropped.
    #[inline]
    pub fn start(&self, playbook: &str) -> PlaybookTracker<'_> {
        if !self.enabled {
            return PlaybookTracker {
                entry: None,
                start: Start::NONE,
            };
        }
        let metrics = &self.inner.metrics;
        let entry = self
            .inner
            .cache
            .get([playbook], |keys| PlaybookHandles::new(metrics, keys))
            .map(|e| &**e);
        if let Some(e) = &entry {
            e.value.active.inc();
        }
        PlaybookTracker {
            entry,
            start: Start::now(),
        }
    }

    /// The `playbooks_pending` gauge (runs owed but not started), for the
    /// owner of the queue to `inc`/`dec`/`set` (a cheap handle: keep it); a
    /// detached one, never exported, when the recorder records nothing.
    pub fn pending(&self) -> Gauge {
        if self.enabled {
            self.inner.metrics.pending.clone()
        } else {
            Gauge::default()
        }
    }

    /// The limiter of the `playbook` label.
    pub fn limiter(&self) -> &CardinalityLimiter {
        &self.inner.cache.limiters()[0]
    }
}

/// One playbook execution in progress. Finish it with
/// [`success`](Self::success), [`failed`](Self::failed),
/// [`timeout`](Self::timeout) or [`finish`](Self::finish); dropped without
/// any (a cancelled future, a panic), it records the status `cancelled`,
/// once. Every finish counts in `playbook_executions_total{playbook, status}`,
/// observes `playbook_execution_duration_seconds{playbook}` and lowers
/// `playbooks_active`.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::playbook::PlaybookStatus;
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{PlaybookRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let playbooks = PlaybookRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
/// playbooks.start("page-oncall").success();
/// playbooks.start("page-oncall").finish(PlaybookStatus::Timeout);
/// drop(playbooks.start("page-oncall")); // cancelled
/// assert_eq!(catalog.playbooks.active.get(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a tracker records when finished or dropped; dropping it at once records a cancellation"]
pub struct PlaybookTracker<'a> {
    entry: Option<&'a Entry<1, PlaybookHandles>>,
    start: Start,
}

impl PlaybookTracker<'_> {
    /// A tracker that records nothing and reads no clock: what a recorder
    /// with metrics disabled hands out, for code that must hold a tracker
    /// before any metrics exist (the facade's `prelude` before
    /// `init_metrics`).
    pub fn inert() -> PlaybookTracker<'static> {
        PlaybookTracker {
            entry: None,
            start: Start::NONE,
        }
    }

    /// Every step succeeded.
    pub fn success(mut self) {
        self.record(PlaybookStatus::Success);
    }

    /// A step failed.
    pub fn failed(mut self) {
        self.record(PlaybookStatus::Failed);
    }

    /// The execution ran out of time.
    pub fn timeout(mut self) {
        self.record(PlaybookStatus::Timeout);
    }

    /// The execution ended with `status`, a [`PlaybookStatus`] or its name;
    /// an unknown name records `failed`.
    pub fn finish(mut self, status: impl IntoLabel<PlaybookStatus>) {
        self.record(status.into_label().unwrap_or(PlaybookStatus::Failed));
    }

    /// The execution stops here and resumes later from a durable record (a
    /// process that is stopping, say): `playbooks_active` goes down and
    /// nothing else is recorded; the resumed execution records its outcome.
    pub fn suspended(mut self) {
        if let Some(entry) = self.entry.take() {
            entry.value.active.dec();
        }
    }

    fn record(&mut self, status: PlaybookStatus) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        let handles = &entry.value;
        handles.executions.get(status).inc();
        handles.duration.observe(self.start.elapsed().as_secs_f64());
        handles.active.dec();
    }
}

impl Drop for PlaybookTracker<'_> {
    fn drop(&mut self) {
        self.record(PlaybookStatus::Cancelled);
    }
}

impl fmt::Debug for PlaybookTracker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaybookTracker")
            .field("playbook", &self.entry.map(|e| &e.keys[0]))
            .finish_non_exhaustive()
    }
}
