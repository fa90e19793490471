//! [`StorageRecorder`] and [`StorageTracker`]: storage operations and sizes.

use std::fmt;
use std::sync::{Arc, OnceLock};

use incident_metrics_catalog::storage::{BackendLabels, StorageLabels, StorageOperation};
use incident_metrics_catalog::{Catalog, LimitMetrics, StorageMetrics};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, Histogram, SharedStr};

use crate::cache::{Entry, HandleCache};
use crate::errors::ErrorRecorder;
use crate::label::IntoLabel;
use crate::limiter::CardinalityLimiter;
use crate::start::Start;
use crate::{Result, TrackerConfig};

/// The component name under which storage errors are counted in
/// `errors_total`.
pub const STORAGE_COMPONENT: &str = "storage";

/// Records storage operations into the catalog's [`StorageMetrics`], and
/// their failures into `errors_total{component="storage"}`.
///
/// Backend names pass through a [`CardinalityLimiter`] (label
/// `storage_backend`, limit [`TrackerConfig::max_backends`]).
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::storage::StorageOperation;
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{ErrorRecorder, StorageRecorder, TrackerConfig};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let config = TrackerConfig::default();
/// let errors = ErrorRecorder::from_catalog(&catalog, &config)?;
/// let storage = StorageRecorder::from_catalog(&catalog, errors.clone(), &config)?;
///
/// storage.start(StorageOperation::Insert, "sqlite").success();
/// storage.start("get", "sqlite").error("not_found");
/// storage.size("sqlite").set(4096);
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(r#"storage_operations_total{operation="insert",backend="sqlite"} 1"#));
/// assert!(text.contains(r#"storage_operations_total{operation="get",backend="sqlite"} 1"#));
/// assert!(text.contains(r#"storage_size_bytes{backend="sqlite"} 4096"#));
/// assert_eq!(errors.counter("storage", "not_found").get(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct StorageRecorder {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug)]
struct Inner {
    metrics: StorageMetrics,
    errors: ErrorRecorder,
    cache: HandleCache<1, BackendHandles>,
}

#[derive(Debug)]
pub(crate) struct BackendHandles {
    metrics: StorageMetrics,
    errors: ErrorRecorder,
    ops: ByLabel<StorageOperation, OnceLock<(Counter, Histogram)>>,
    size: Gauge,
}

impl BackendHandles {
    fn new(metrics: &StorageMetrics, errors: &ErrorRecorder, keys: &[SharedStr; 1]) -> Self {
        Self {
            metrics: metrics.clone(),
            errors: errors.clone(),
            ops: ByLabel::new(|_| OnceLock::new()),
            size: metrics
                .size_bytes
                .get_or_create(&BackendLabels {
                    backend: keys[0].clone(),
                })
                .clone(),
        }
    }

    #[inline]
    fn op(&self, backend: &SharedStr, operation: StorageOperation) -> &(Counter, Histogram) {
        self.ops.get(operation).get_or_init(|| {
            let labels = StorageLabels {
                operation,
                backend: backend.clone(),
            };
            (
                self.metrics.operations.get_or_create(&labels).clone(),
                self.metrics
                    .operation_duration
                    .get_or_create(&labels)
                    .clone(),
            )
        })
    }
}

impl StorageRecorder {
    /// A recorder into `metrics`, counting failures with `errors`, folding
    /// backends past [`TrackerConfig::max_backends`] (counted in `limits`).
    ///
    /// # Errors
    ///
    /// The errors of [`TrackerConfig::validate`].
    pub fn new(
        metrics: StorageMetrics,
        errors: ErrorRecorder,
        limits: LimitMetrics,
        config: &TrackerConfig,
    ) -> Result<Self> {
        config.validate()?;
        let limiter = CardinalityLimiter::new("storage_backend", config.max_backends, &limits);
        Ok(Self {
            inner: Arc::new(Inner {
                metrics,
                errors,
                cache: HandleCache::new([limiter], [config.max_backends]),
            }),
            enabled: true,
        })
    }

    /// A recorder into the storage and limit families of `catalog`.
    /// Built from a catalog registered with `enabled = false`, it records
    /// nothing and its trackers read no clock.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_catalog(
        catalog: &Catalog,
        errors: ErrorRecorder,
        config: &TrackerConfig,
    ) -> Result<Self> {
        let recorder = Self::new(
            catalog.storage.clone(),
            errors,
            catalog.limits.clone(),
            config,
        )?;
        Ok(Self {
            enabled: catalog.config().enabled(),
            ..recorder
        })
    }

    fn entry(&self, backend: &str) -> Option<&Entry<1, BackendHandles>> {
        if !self.enabled {
            return None;
        }
        let inner = &*self.inner;
        inner
            .cache
            .get([backend], |keys| {
                BackendHandles::new(&inner.metrics, &inner.errors, keys)
            })
            .map(|e| &**e)
    }

    /// Starts timing one operation on `backend`. `operation` is a
    /// [`StorageOperation`] or its name; unknown names are `other`.
    #[inline]
    pub fn start(
        &self,
        operation: impl IntoLabel<StorageOperation>,
        backend: &str,
    ) -> StorageTracker<'_> {
        let entry = self.entry(backend);
        StorageTracker {
            operation: operation.into_label().unwrap_or(StorageOperation::Other),
            start: if entry.is_some() {
                Start::now()
            } else {
                Start::NONE
            },
            entry,
        }
    }

    /// The `storage_size_bytes{backend}` gauge (a cheap handle: keep it); a
    /// detached one, never exported, when the recorder records nothing.
    pub fn size(&self, backend: &str) -> Gauge {
        self.entry(backend)
            .map(|e| e.value.size.clone())
            .unwrap_or_default()
    }

    /// The limiter of the `backend` label.
    pub fn limiter(&self) -> &CardinalityLimiter {
        &self.inner.cache.limiters()[0]
    }
}

/// One storage operation in progress. Finish it with
/// [`success`](Self::success) or [`error`](Self::error); dropped without
/// either (a cancelled future, a panic), it records the error type
/// `cancelled`. Every finish counts once in
/// `storage_operations_total{operation, backend}` and observes
/// `storage_operation_duration_seconds`; errors also count in
/// `errors_total{component="storage", error_type}`.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_trackers::{TrackerConfig, Trackers};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let trackers = Trackers::new(&Catalog::register(&mut registry)?, &TrackerConfig::default())?;
/// trackers.storage.start("insert", "memory").success();
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(r#"storage_operations_total{operation="insert",backend="memory"} 1"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a tracker records when finished or dropped; dropping it at once records a cancelled operation"]
pub struct StorageTracker<'a> {
    operation: StorageOperation,
    entry: Option<&'a Entry<1, BackendHandles>>,
    start: Start,
}

impl StorageTracker<'_> {
    /// A tracker that records nothing and reads no clock: what a recorder
    /// with metrics disabled hands out, for code that must hold a tracker
    /// before any metrics exist (the facade's `prelude` before
    /// `init_metrics`).
    pub fn inert() -> StorageTracker<'static> {
        StorageTracker {
            operation: StorageOperation::Other,
            entry: None,
            start: Start::NONE,
        }
    }

    /// The operation succeeded.
    pub fn success(mut self) {
        self.record(None);
    }

    /// The operation failed with `error_type` (an error variant's name,
    /// never its message).
    pub fn error(mut self, error_type: &str) {
        self.record(Some(error_type));
    }

    fn record(&mut self, error_type: Option<&str>) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        let (count, duration) = entry.value.op(&entry.keys[0], self.operation);
        count.inc();
        duration.observe(self.start.elapsed().as_secs_f64());
        if let Some(error_type) = error_type {
            entry.value.errors.record(STORAGE_COMPONENT, error_type);
        }
    }
}

impl Drop for StorageTracker<'_> {
    fn drop(&mut self) {
        self.record(Some("cancelled"));
    }
}

impl fmt::Debug for StorageTracker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageTracker")
            .field("operation", &self.operation)
            .field("backend", &self.entry.map(|e| &e.keys[0]))
            .finish_non_exhaustive()
    }
}
