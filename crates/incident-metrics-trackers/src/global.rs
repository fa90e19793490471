//! [`Trackers`], every recorder at once, and the process-wide set behind
//! the spec's free-function style (`LlmCallTracker::start(..)`).

use std::sync::OnceLock;

use incident_metrics_catalog::Metrics;

use crate::{
    AlertRecorder, Error, ErrorRecorder, IncidentRecorder, LlmRecorder, NotificationRecorder,
    PlaybookRecorder, Result, StorageRecorder, TrackerConfig,
};

/// One recorder per domain, built from the catalog's [`Metrics`].
/// Cloning is cheap (`Arc`s inside).
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Metrics;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{TrackerConfig, Trackers};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let metrics = Metrics::register(&mut registry)?;
/// let trackers = Trackers::new(&metrics, &TrackerConfig::default())?;
/// trackers.playbooks.start("restart").success();
/// trackers.errors.record("playbook", "step_failed");
/// assert_eq!(trackers.errors.counter("playbook", "step_failed").get(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Trackers {
    /// LLM calls.
    pub llm: LlmRecorder,
    /// Incident processing and lifecycle.
    pub incidents: IncidentRecorder,
    /// Alerts received from Alertmanager.
    pub alerts: AlertRecorder,
    /// Playbook executions.
    pub playbooks: PlaybookRecorder,
    /// Notification deliveries and queues.
    pub notifications: NotificationRecorder,
    /// Storage operations and sizes.
    pub storage: StorageRecorder,
    /// `errors_total`.
    pub errors: ErrorRecorder,
}

impl Trackers {
    /// Every recorder, recording into `metrics`.
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(metrics: &Metrics, config: &TrackerConfig) -> Result<Self> {
        config.validate()?;
        let errors = ErrorRecorder::from_metrics(metrics, config)?;
        Ok(Self {
            llm: LlmRecorder::from_metrics(metrics, config)?,
            incidents: IncidentRecorder::from_metrics(metrics),
            alerts: AlertRecorder::from_metrics(metrics, config)?,
            playbooks: PlaybookRecorder::from_metrics(metrics, config)?,
            notifications: NotificationRecorder::from_metrics(metrics, config)?,
            storage: StorageRecorder::from_metrics(metrics, errors.clone(), config)?,
            errors,
        })
    }
}

static INSTALLED: OnceLock<Trackers> = OnceLock::new();
static DETACHED: OnceLock<Option<Trackers>> = OnceLock::new();

/// Sets up the process-wide trackers with `config`, recording into the
/// process-wide metrics of [`incident_metrics_catalog::init`]. Call it
/// once, right after `init`; without it the first use sets them up with
/// [`TrackerConfig::default`].
///
/// # Errors
///
/// [`Error::NotInitialized`] before `init`; [`Error::AlreadyInstalled`]
/// when they are already set up; the errors of [`TrackerConfig::validate`].
///
/// # Examples
///
/// ```
/// use incident_metrics_trackers::TrackerConfig;
///
/// let config = TrackerConfig::default().with_max_models(4);
/// assert!(incident_metrics_trackers::install(&config).is_err()); // before init
/// incident_metrics_catalog::init(Default::default())?;
/// incident_metrics_trackers::install(&config)?;
/// assert!(incident_metrics_trackers::install(&config).is_err()); // twice
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn install(config: &TrackerConfig) -> Result<&'static Trackers> {
    let registry = incident_metrics_catalog::global().ok_or(Error::NotInitialized)?;
    let trackers = Trackers::new(registry.metrics(), config)?;
    INSTALLED
        .set(trackers)
        .map_err(|_| Error::AlreadyInstalled)?;
    INSTALLED.get().ok_or(Error::AlreadyInstalled)
}

/// The process-wide trackers: those of [`install`], or else (once
/// [`incident_metrics_catalog::init`] has run) a default set installed on
/// first use, or else (before `init`) a set recording into the catalog's
/// detached registry, which nobody renders. `None` only if the catalog has
/// no registry at all, which its tests rule out; the free-function
/// trackers then record nothing.
#[inline]
pub fn global() -> Option<&'static Trackers> {
    if let Some(trackers) = INSTALLED.get() {
        return Some(trackers);
    }
    global_slow()
}

#[cold]
fn global_slow() -> Option<&'static Trackers> {
    if let Some(registry) = incident_metrics_catalog::global() {
        if let Ok(trackers) = Trackers::new(registry.metrics(), &TrackerConfig::default()) {
            // Losing a race to `install` or another first use is fine: the
            // winner's set is used.
            let _ = INSTALLED.set(trackers);
        }
        return INSTALLED.get();
    }
    DETACHED
        .get_or_init(|| {
            incident_metrics_catalog::global_or_detached()
                .and_then(|r| Trackers::new(r.metrics(), &TrackerConfig::default()).ok())
        })
        .as_ref()
}
