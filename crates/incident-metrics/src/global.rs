//! The one process-wide metrics, the spec's API: `init_metrics()` once at
//! start-up, then [`global`] and [`gather_metrics`] anywhere.

use std::sync::OnceLock;

use incident_metrics_core::MetricsConfig;

use crate::{Metrics, SetupError};

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// Sets up the process-wide metrics from the default configuration
/// overridden by the `INCIDENT_METRICS_*` environment variables
/// ([`MetricsConfig::with_env_vars`] lists them).
///
/// # Errors
///
/// An invalid environment variable, or [`SetupError::AlreadyInitialized`]
/// on a second call.
///
/// # Examples
///
/// ```
/// let metrics = incident_metrics::init_metrics()?;
/// assert!(incident_metrics::global().is_some());
/// assert!(incident_metrics::init_metrics().is_err()); // once only
///
/// // The spec's tracker style, anywhere in the process:
/// if let Some(metrics) = incident_metrics::global() {
///     metrics.trackers().llm.start("openai", "gpt-4", "completion").success(1_000, 500);
/// }
/// assert!(incident_metrics::gather_metrics()?.contains(
///     r#"llm_requests_total{provider="openai",model="gpt-4",operation="completion"} 1"#
/// ));
/// # let _ = metrics;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init_metrics() -> Result<&'static Metrics, SetupError> {
    if GLOBAL.get().is_some() {
        return Err(SetupError::AlreadyInitialized);
    }
    init_metrics_with(MetricsConfig::from_env()?)
}

/// Sets up the process-wide metrics from `config`.
///
/// # Errors
///
/// Any error of [`Metrics::new`], or [`SetupError::AlreadyInitialized`] on
/// a second call (the first metrics stay). When two threads race, one wins
/// and the other gets `AlreadyInitialized`.
pub fn init_metrics_with(config: MetricsConfig) -> Result<&'static Metrics, SetupError> {
    if GLOBAL.get().is_some() {
        return Err(SetupError::AlreadyInitialized);
    }
    GLOBAL
        .set(Metrics::new(config)?)
        .map_err(|_| SetupError::AlreadyInitialized)?;
    GLOBAL.get().ok_or(SetupError::AlreadyInitialized)
}

/// The process-wide metrics, once [`init_metrics`] (or
/// [`init_metrics_with`]) has run.
#[inline]
pub fn global() -> Option<&'static Metrics> {
    GLOBAL.get()
}

/// The process-wide metrics as Prometheus text (format 0.0.4), as served by
/// `/metrics` to a client that asks for nothing in particular; empty before
/// [`init_metrics`].
///
/// # Errors
///
/// [`exporter::Error::Render`](crate::exporter::Error::Render) when a metric
/// fails to encode itself (only custom metrics can).
///
/// # Examples
///
/// ```
/// assert_eq!(incident_metrics::gather_metrics()?, ""); // before init_metrics
/// incident_metrics::init_metrics_with(incident_metrics::MetricsConfig::new())?;
/// let text = incident_metrics::gather_metrics()?;
/// assert!(text.contains("# TYPE llm_incident_manager_http_requests_total counter\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn gather_metrics() -> incident_metrics_exporter::Result<String> {
    match global() {
        Some(metrics) => metrics.gather(),
        None => Ok(String::new()),
    }
}
