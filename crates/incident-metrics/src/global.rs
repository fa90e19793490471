//! The spec's process-wide API: `init_metrics()` once, `gather_metrics()` anywhere.

use incident_metrics_catalog::MetricsRegistry;
use incident_metrics_core::{MetricsConfig, Result};

/// Sets up the process-wide metrics from the default configuration
/// overridden by the `INCIDENT_METRICS_*` environment variables
/// ([`MetricsConfig::with_env_vars`] lists them).
///
/// # Errors
///
/// An invalid environment variable, or
/// [`Error::AlreadyInitialized`](crate::Error::AlreadyInitialized) on a
/// second call.
///
/// # Examples
///
/// ```
/// let metrics = incident_metrics::init_metrics()?;
/// assert!(incident_metrics::global().is_some());
/// assert!(incident_metrics::init_metrics().is_err()); // once only
/// # let _ = metrics;
/// # Ok::<(), incident_metrics::Error>(())
/// ```
pub fn init_metrics() -> Result<&'static MetricsRegistry> {
    init_metrics_with(MetricsConfig::from_env()?)
}

/// Sets up the process-wide metrics from `config`.
///
/// # Errors
///
/// Any error of [`MetricsConfig::validate`], or
/// [`Error::AlreadyInitialized`](crate::Error::AlreadyInitialized) on a
/// second call.
pub fn init_metrics_with(config: MetricsConfig) -> Result<&'static MetricsRegistry> {
    incident_metrics_catalog::init(config)
}

/// The process-wide metrics as Prometheus text (format 0.0.4), as served by
/// `/metrics` to a client that asks for nothing in particular.
///
/// Before [`init_metrics`] this renders the detached registry that the
/// global handles fall back to: every family, at zero.
///
/// # Errors
///
/// [`exporter::Error::Render`](crate::exporter::Error::Render) when a metric
/// fails to encode itself (only custom metrics can).
///
/// # Examples
///
/// ```
/// let text = incident_metrics::gather_metrics()?;
/// assert!(text.contains("# TYPE llm_incident_manager_http_requests_total counter\n"));
/// # Ok::<(), incident_metrics::exporter::Error>(())
/// ```
pub fn gather_metrics() -> incident_metrics_exporter::Result<String> {
    match incident_metrics_catalog::global_or_detached() {
        Some(metrics) => incident_metrics_exporter::gather_metrics(metrics.registry()),
        None => Ok(String::new()),
    }
}
