//! How the service records its metrics: the toolkit's [`Metrics`] (every
//! catalog family, `build_info`, the process and tokio runtime collector)
//! and its trackers priced from `[llm.prices]`.
//!
//! The trackers follow `[metrics] enabled`: with `enabled = false` they
//! record nothing and read no clock, so the service records through them
//! without a check of its own.

use incident_metrics::catalog::system::BuildInfo;
use incident_metrics::trackers::{
    ModelPrice, PriceTable, RuntimeCollector, TrackerConfig, Trackers,
};
use incident_metrics::{Config, Metrics, SetupError};

use crate::config::LlmConfig;

/// The service's metrics: every catalog family, `build_info` from `info`,
/// and the process and tokio runtime collector (call it inside the runtime).
///
/// # Errors
///
/// Any error of the configuration or of registration.
pub fn metrics(config: &Config, info: &BuildInfo) -> Result<Metrics, SetupError> {
    let collector = match tokio::runtime::Handle::try_current() {
        Ok(handle) => RuntimeCollector::new().with_tokio(handle),
        Err(_) => RuntimeCollector::new(),
    };
    Metrics::builder(config.metrics().clone())
        .build_info(info.clone())
        .register(move |registry| {
            collector.register(registry);
            Ok(())
        })
        .build()
}

/// The trackers over `metrics`' catalog, pricing LLM calls from the
/// toolkit's built-in table overridden by `llm.prices`. Cloning is cheap.
///
/// # Errors
///
/// A price that is negative or not finite.
pub fn trackers(metrics: &Metrics, llm: &LlmConfig) -> Result<Trackers, SetupError> {
    let mut prices = PriceTable::builtin();
    for (model, price) in &llm.prices {
        prices = prices.with_price(
            model.clone(),
            ModelPrice::new(price.input_per_million, price.output_per_million)?,
        );
    }
    Ok(Trackers::new(
        metrics.catalog(),
        &TrackerConfig::default().with_prices(prices),
    )?)
}
