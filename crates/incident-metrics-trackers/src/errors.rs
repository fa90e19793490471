//! [`ErrorRecorder`]: `errors_total{component, error_type}`.

use std::sync::Arc;

use incident_metrics_catalog::errors::ErrorLabels;
use incident_metrics_catalog::{Catalog, ErrorMetrics, LimitMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;

use crate::cache::HandleCache;
use crate::limiter::CardinalityLimiter;
use crate::{Result, TrackerConfig};

/// Counts errors in the catalog's `errors_total{component, error_type}`.
///
/// Both labels are meant to come from code (a component name, an error
/// variant's name), never from an error message; both still pass through a
/// [`CardinalityLimiter`] (labels `error_component` and `error_type`) in
/// case they do not. Each pair is resolved once to its counter.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{ErrorRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let errors = ErrorRecorder::from_catalog(&catalog, &TrackerConfig::default())?;
/// errors.record("storage", "timeout");
/// errors.record("storage", "timeout");
/// assert_eq!(errors.counter("storage", "timeout").get(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ErrorRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: ErrorMetrics,
    cache: HandleCache<2, Counter>,
}

impl ErrorRecorder {
    /// A recorder into `metrics`, folding past the limits of `config`
    /// (counted in `limits`).
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(
        metrics: ErrorMetrics,
        limits: LimitMetrics,
        config: &TrackerConfig,
    ) -> Result<Self> {
        config.validate()?;
        let limiters = [
            CardinalityLimiter::new("error_component", config.max_components, &limits),
            CardinalityLimiter::new("error_type", config.max_error_types, &limits),
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                metrics,
                cache: HandleCache::new(limiters, [config.max_components, config.max_error_types]),
            }),
            enabled: true,
        })
    }

    /// A recorder into the error and limit families of `catalog`. Built
    /// from a catalog registered with `enabled = false`, it records nothing.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_catalog(catalog: &Catalog, config: &TrackerConfig) -> Result<Self> {
        let recorder = Self::new(catalog.errors.clone(), catalog.limits.clone(), config)?;
        Ok(Self {
            enabled: catalog.config().enabled(),
            ..recorder
        })
    }

    fn find(&self, component: &str, error_type: &str) -> Option<&Counter> {
        if !self.enabled {
            return None;
        }
        let metrics = &self.inner.metrics;
        self.inner
            .cache
            .get([component, error_type], |[component, error_type]| {
                metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        component: component.clone(),
                        error_type: error_type.clone(),
                    })
                    .clone()
            })
            .map(|e| &e.value)
    }

    /// Counts one error of `error_type` in `component`.
    #[inline]
    pub fn record(&self, component: &str, error_type: &str) {
        if let Some(counter) = self.find(component, error_type) {
            counter.inc();
        }
    }

    /// The counter of one (component, error type), a cheap handle to keep
    /// (for example for [`count_errors`](crate::count_errors)); a detached
    /// one, never exported, when the recorder records nothing.
    pub fn counter(&self, component: &str, error_type: &str) -> Counter {
        self.find(component, error_type)
            .cloned()
            .unwrap_or_default()
    }
}
