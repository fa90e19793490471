//! [`IncidentRecorder`], [`IncidentTracker`] and [`ActiveIncident`]:
//! incident processing, the active gauge and the lifecycle counters.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use incident_metrics_catalog::incident::{
    EscalationLevel, IncidentSource, IncidentStatus, Severity,
};
use incident_metrics_catalog::limits::FoldedLabels;
use incident_metrics_catalog::{Catalog, IncidentMetrics, LimitMetrics};
use incident_metrics_core::SharedStr;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;

use crate::label::IntoLabel;
use crate::start::Start;

/// The severity recorded for text that names none (counted in
/// `label_values_folded_total{label="severity"}`).
pub const FALLBACK_SEVERITY: Severity = Severity::Info;

/// The status recorded by [`IncidentTracker::success`] for text that names
/// none (counted in `label_values_folded_total{label="incident_status"}`).
pub const FALLBACK_STATUS: IncidentStatus = IncidentStatus::Resolved;

/// Records incidents into the catalog's [`IncidentMetrics`]: processing
/// ([`start`](Self::start)), the open-incident gauge
/// ([`opened`](Self::opened)) and the deduplication, correlation and
/// escalation counters. Every series is pre-resolved by the catalog, so
/// recording is an array index and an atomic operation. Cloning is cheap.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::incident::{EscalationLevel, IncidentStatus, Severity};
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::IncidentRecorder;
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let metrics = Catalog::register(&mut registry)?;
/// let incidents = IncidentRecorder::from_catalog(&metrics);
///
/// let mut incident = incidents.opened(Severity::High);
/// incident.set_severity(Severity::Critical);
/// assert_eq!(metrics.incidents.active(Severity::High).get(), 0);
/// assert_eq!(metrics.incidents.active(Severity::Critical).get(), 1);
/// incidents.escalated(2);
/// incidents.deduplicated();
/// incident.resolve();
/// assert_eq!(metrics.incidents.active(Severity::Critical).get(), 0);
/// assert_eq!(metrics.incidents.escalations(EscalationLevel::L2).get(), 1);
/// assert_eq!(metrics.incidents.deduplicated.get(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct IncidentRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: IncidentMetrics,
    folded_severity: Counter,
    folded_status: Counter,
}

fn folded(limits: &LimitMetrics, label: &'static str) -> Counter {
    limits
        .label_values_folded
        .get_or_create(&FoldedLabels {
            label: SharedStr::from_static(label),
        })
        .clone()
}

impl IncidentRecorder {
    /// A recorder into `metrics`, counting unknown severity or status text
    /// in `limits`.
    pub fn new(metrics: IncidentMetrics, limits: LimitMetrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                folded_severity: folded(&limits, "severity"),
                folded_status: folded(&limits, "incident_status"),
                metrics,
            }),
            enabled: true,
        }
    }

    /// A recorder into the incident and limit families of `catalog`. Built
    /// from a catalog registered with `enabled = false`, it records nothing
    /// and its trackers read no clock.
    pub fn from_catalog(catalog: &Catalog) -> Self {
        Self {
            enabled: catalog.config().enabled(),
            ..Self::new(catalog.incidents.clone(), catalog.limits.clone())
        }
    }

    fn severity(&self, severity: impl IntoLabel<Severity>) -> Severity {
        severity.into_label().unwrap_or_else(|| {
            self.inner.folded_severity.inc();
            FALLBACK_SEVERITY
        })
    }

    /// Starts timing the processing of one incident. `severity` is a
    /// [`Severity`] or its name; an unknown name records
    /// [`FALLBACK_SEVERITY`].
    #[inline]
    pub fn start(&self, severity: impl IntoLabel<Severity>) -> IncidentTracker<'_> {
        if !self.enabled {
            return IncidentTracker {
                severity: FALLBACK_SEVERITY,
                recorder: None,
                start: Start::NONE,
            };
        }
        IncidentTracker {
            severity: self.severity(severity),
            recorder: Some(&self.inner),
            start: Start::now(),
        }
    }

    /// An incident was opened: `incidents_active{severity}` goes up until
    /// the returned guard is resolved or dropped.
    pub fn opened(&self, severity: impl IntoLabel<Severity>) -> ActiveIncident {
        if !self.enabled {
            return ActiveIncident {
                severity: FALLBACK_SEVERITY,
                recorder: None,
            };
        }
        let severity = self.severity(severity);
        self.inner.metrics.active(severity).inc();
        ActiveIncident {
            severity,
            recorder: Some(Arc::clone(&self.inner)),
        }
    }

    /// Sets `incidents_active{severity}` to `count`: for a service that
    /// keeps its incidents in a store and rebuilds the gauge from it at
    /// start-up (then moves it with [`add_active`](Self::add_active)),
    /// rather than holding an [`ActiveIncident`] guard per incident.
    pub fn set_active(&self, severity: impl IntoLabel<Severity>, count: i64) {
        if !self.enabled {
            return;
        }
        let severity = self.severity(severity);
        self.inner.metrics.active(severity).set(count);
    }

    /// Moves `incidents_active{severity}` by `delta` (+1 when an incident
    /// opens, -1 when it resolves).
    pub fn add_active(&self, severity: impl IntoLabel<Severity>, delta: i64) {
        if !self.enabled {
            return;
        }
        let severity = self.severity(severity);
        self.inner.metrics.active(severity).inc_by(delta);
    }

    /// An incident was opened from `source`
    /// (`incidents_opened_total{severity, source}`); duplicates folded into
    /// an open incident are not openings.
    pub fn opened_from(&self, severity: impl IntoLabel<Severity>, source: IncidentSource) {
        if !self.enabled {
            return;
        }
        let severity = self.severity(severity);
        self.inner.metrics.opened(severity, source).inc();
    }

    /// Sets `incidents_active_by_source{source}` to `count` (at start-up,
    /// from the store; then moved with
    /// [`add_active_from`](Self::add_active_from)).
    pub fn set_active_from(&self, source: IncidentSource, count: i64) {
        if !self.enabled {
            return;
        }
        self.inner.metrics.active_by_source(source).set(count);
    }

    /// Moves `incidents_active_by_source{source}` by `delta`.
    pub fn add_active_from(&self, source: IncidentSource, delta: i64) {
        if !self.enabled {
            return;
        }
        self.inner.metrics.active_by_source(source).inc_by(delta);
    }

    /// An incident from `source` was acknowledged `elapsed` after it was
    /// created (`incident_time_to_acknowledge_seconds{severity, source}`).
    pub fn acknowledged_after(
        &self,
        severity: impl IntoLabel<Severity>,
        source: IncidentSource,
        elapsed: Duration,
    ) {
        if !self.enabled {
            return;
        }
        let severity = self.severity(severity);
        self.inner
            .metrics
            .time_to_acknowledge(severity, source)
            .observe(elapsed.as_secs_f64());
    }

    /// An incident from `source` was resolved `elapsed` after it was
    /// created (`incident_time_to_resolve_seconds{severity, source}`).
    pub fn resolved_after(
        &self,
        severity: impl IntoLabel<Severity>,
        source: IncidentSource,
        elapsed: Duration,
    ) {
        if !self.enabled {
            return;
        }
        let severity = self.severity(severity);
        self.inner
            .metrics
            .time_to_resolve(severity, source)
            .observe(elapsed.as_secs_f64());
    }

    /// `n` resolved incidents were deleted by a retention policy
    /// (`incidents_pruned_total`).
    pub fn pruned(&self, n: u64) {
        if !self.enabled {
            return;
        }
        self.inner.metrics.pruned.inc_by(n);
    }

    /// An incoming incident was folded into an open one
    /// (`incidents_deduplicated_total`).
    pub fn deduplicated(&self) {
        if !self.enabled {
            return;
        }
        self.inner.metrics.deduplicated.inc();
    }

    /// An incident was linked to a related one (`incidents_correlated_total`).
    pub fn correlated(&self) {
        if !self.enabled {
            return;
        }
        self.inner.metrics.correlated.inc();
    }

    /// An incident was escalated to `level` (`incident_escalations_total`):
    /// an [`EscalationLevel`], its name, or a 1-based number (0 counts as 1,
    /// above 5 as 5). An unknown name counts as level 5.
    pub fn escalated(&self, level: impl IntoLabel<EscalationLevel>) {
        if !self.enabled {
            return;
        }
        let level = level.into_label().unwrap_or(EscalationLevel::L5);
        self.inner.metrics.escalations(level).inc();
    }
}

/// The processing of one incident: finish it with
/// [`success`](Self::success) or [`error`](Self::error). Dropped without
/// either (an early return, a cancelled future, a panic), it records the
/// status `failed`, once.
///
/// Every finished tracker counts once in `incidents_total{severity, status}`
/// and observes `incident_processing_duration_seconds{severity}`.
///
/// # Examples
///
/// The spec's example, with the trackers from a catalog:
///
/// ```
/// use incident_metrics_catalog::incident::{IncidentStatus, Severity};
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::IncidentRecorder;
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let recorder = IncidentRecorder::from_catalog(&catalog);
/// fn process_incident() -> Result<(), ()> { Ok(()) }
///
/// let tracker = recorder.start("critical");
/// match process_incident() {
///     Ok(_) => tracker.success("resolved"),
///     Err(_) => tracker.error(),
/// }
/// let incidents = &catalog.incidents;
/// assert_eq!(incidents.incidents(Severity::Critical, IncidentStatus::Resolved).get(), 1);
/// assert_eq!(incidents.processing_duration(Severity::Critical).count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a tracker records when finished or dropped; dropping it at once records a failure"]
pub struct IncidentTracker<'a> {
    severity: Severity,
    recorder: Option<&'a Inner>,
    start: Start,
}

impl IncidentTracker<'_> {
    /// A tracker that records nothing and reads no clock: what a recorder
    /// with metrics disabled hands out, for code that must hold a tracker
    /// before any metrics exist (the facade's `prelude` before
    /// `init_metrics`).
    pub fn inert(severity: impl IntoLabel<Severity>) -> IncidentTracker<'static> {
        IncidentTracker {
            severity: severity.into_label().unwrap_or(FALLBACK_SEVERITY),
            recorder: None,
            start: Start::NONE,
        }
    }

    /// The severity being recorded.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Processing ended with `status`, an [`IncidentStatus`] or its name;
    /// an unknown name records [`FALLBACK_STATUS`].
    pub fn success(mut self, status: impl IntoLabel<IncidentStatus>) {
        let status = match status.into_label() {
            Some(status) => status,
            None => {
                if let Some(r) = self.recorder {
                    r.folded_status.inc();
                }
                FALLBACK_STATUS
            }
        };
        self.finish(status);
    }

    /// Processing failed: records the status `failed`.
    pub fn error(mut self) {
        self.finish(IncidentStatus::Failed);
    }

    fn finish(&mut self, status: IncidentStatus) {
        let Some(recorder) = self.recorder.take() else {
            return;
        };
        let elapsed = self.start.elapsed().as_secs_f64();
        recorder.metrics.incidents(self.severity, status).inc();
        recorder
            .metrics
            .processing_duration(self.severity)
            .observe(elapsed);
    }
}

impl Drop for IncidentTracker<'_> {
    fn drop(&mut self) {
        self.finish(IncidentStatus::Failed);
    }
}

impl fmt::Debug for IncidentTracker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncidentTracker")
            .field("severity", &self.severity)
            .field("done", &self.recorder.is_none())
            .finish_non_exhaustive()
    }
}

/// An open incident, counted in `incidents_active{severity}` for as long
/// as the guard lives: keep it with the incident, move it with
/// [`set_severity`](Self::set_severity), and [`resolve`](Self::resolve) or
/// drop it when the incident closes. The gauge goes down exactly once.
///
/// It touches only the gauge: outcomes are counted by [`IncidentTracker`].
#[must_use = "dropping the guard at once closes the incident in the gauge"]
pub struct ActiveIncident {
    severity: Severity,
    recorder: Option<Arc<Inner>>,
}

impl ActiveIncident {
    /// The incident's severity changed: the gauge moves from the old
    /// severity to the new one. An unknown name records
    /// [`FALLBACK_SEVERITY`].
    pub fn set_severity(&mut self, severity: impl IntoLabel<Severity>) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let severity = severity.into_label().unwrap_or_else(|| {
            recorder.folded_severity.inc();
            FALLBACK_SEVERITY
        });
        if severity != self.severity {
            recorder.metrics.active(severity).inc();
            recorder.metrics.active(self.severity).dec();
            self.severity = severity;
        }
    }

    /// The incident's severity now.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The incident was resolved: the gauge goes down.
    pub fn resolve(mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.metrics.active(self.severity).dec();
        }
    }
}

impl Drop for ActiveIncident {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for ActiveIncident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveIncident")
            .field("severity", &self.severity)
            .field("open", &self.recorder.is_some())
            .finish()
    }
}
