//! [`Trackers`], every recorder at once.

use incident_metrics_catalog::Catalog;

use crate::{
    AlertRecorder, ErrorRecorder, IncidentRecorder, LlmRecorder, NotificationRecorder,
    PlaybookRecorder, Result, StorageRecorder, TrackerConfig,
};

/// One recorder per domain, built from the [`Catalog`]. Cloning is cheap
/// (`Arc`s inside). The facade's `Metrics::trackers` holds a set.
///
/// Built from a catalog registered with `enabled = false`, every recorder
/// records nothing, and its trackers read no clock: callers need no check
/// of their own.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{TrackerConfig, Trackers};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let trackers = Trackers::new(&catalog, &TrackerConfig::default())?;
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
    enabled: bool,
}

impl Trackers {
    /// Every recorder, recording into `catalog` under the on/off switch of
    /// the configuration it was registered with.
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(catalog: &Catalog, config: &TrackerConfig) -> Result<Self> {
        config.validate()?;
        let errors = ErrorRecorder::from_catalog(catalog, config)?;
        Ok(Self {
            llm: LlmRecorder::from_catalog(catalog, config)?,
            incidents: IncidentRecorder::from_catalog(catalog),
            alerts: AlertRecorder::from_catalog(catalog, config)?,
            playbooks: PlaybookRecorder::from_catalog(catalog, config)?,
            notifications: NotificationRecorder::from_catalog(catalog, config)?,
            storage: StorageRecorder::from_catalog(catalog, errors.clone(), config)?,
            errors,
            enabled: catalog.config().enabled(),
        })
    }

    /// Whether these trackers record (the `enabled` of the configuration the
    /// catalog was registered under), for work that only feeds metrics,
    /// such as reading a file's size for a gauge. Recording needs no check:
    /// with `enabled = false` every recorder records nothing by itself.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}
