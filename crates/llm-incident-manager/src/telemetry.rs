//! How the service records its metrics: the catalog's handles, and the
//! toolkit's trackers built over them (LLM calls, incidents, playbooks,
//! notifications, storage, errors) with the service's price table.

use incident_metrics::catalog::system::BuildInfo;
use incident_metrics::{Metrics, MetricsConfig, MetricsRegistry};
use incident_metrics_trackers::{
    ModelPrice, PriceTable, RuntimeCollector, TrackerConfig, Trackers,
};

use crate::config::LlmConfig;

/// Why the metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The registry or the families were refused.
    #[error("metrics: {0}")]
    Metrics(#[from] incident_metrics::Error),
    /// The trackers' configuration (a price, say) was refused.
    #[error("trackers: {0}")]
    Trackers(#[from] incident_metrics_trackers::Error),
}

/// The service's registry: every catalog family, `build_info` from `info`,
/// and the process and tokio runtime collector (call it inside the runtime).
///
/// # Errors
///
/// Any registration error.
pub fn metrics_registry(
    config: &MetricsConfig,
    info: &BuildInfo,
) -> Result<MetricsRegistry, TelemetryError> {
    let collector = match tokio::runtime::Handle::try_current() {
        Ok(handle) => RuntimeCollector::new().with_tokio(handle),
        Err(_) => RuntimeCollector::new(),
    };
    Ok(MetricsRegistry::with_extra(config, info, |registry| {
        collector.register(registry);
        Ok(())
    })?)
}

/// The catalog's handles and the trackers over them. Cloning is cheap.
///
/// Built from a metrics configuration with `enabled = false`, it records
/// nothing: [`recording`](Self::recording) answers `None` and every
/// recording site of the service skips its work.
#[derive(Clone, Debug)]
pub struct Telemetry {
    metrics: Metrics,
    trackers: Trackers,
    enabled: bool,
}

impl Telemetry {
    /// Trackers over `metrics`, pricing LLM calls from the toolkit's built-in
    /// table overridden by `llm.prices`.
    ///
    /// # Errors
    ///
    /// A price that is negative or not finite.
    pub fn new(metrics: Metrics, llm: &LlmConfig) -> Result<Self, TelemetryError> {
        let mut prices = PriceTable::builtin();
        for (model, price) in &llm.prices {
            prices = prices.with_price(
                model.clone(),
                ModelPrice::new(price.input_per_million, price.output_per_million)?,
            );
        }
        let trackers = Trackers::new(&metrics, &TrackerConfig::default().with_prices(prices))?;
        Ok(Self {
            metrics,
            trackers,
            enabled: true,
        })
    }

    /// Turns recording on or off (on by default); the service passes its
    /// `[metrics] enabled`.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether this telemetry records.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The trackers when recording is on, `None` when it is off: the one
    /// check at every recording site.
    pub fn recording(&self) -> Option<&Trackers> {
        self.enabled.then_some(&self.trackers)
    }

    /// The catalog's handles.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The trackers, whether or not recording is on (recording sites use
    /// [`recording`](Self::recording)).
    pub fn trackers(&self) -> &Trackers {
        &self.trackers
    }

    /// Counts an error in `errors_total`.
    pub(crate) fn error(&self, component: &str, error_type: &str) {
        if let Some(trackers) = self.recording() {
            trackers.errors.record(component, error_type);
        }
    }
}
