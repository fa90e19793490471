//! [`Metrics`], every family at once, and the optional process-wide pair
//! [`init`]/[`global`].

use std::sync::{Arc, LazyLock};

use incident_metrics_core::{Global, MetricsConfig, Registry, Result};

use crate::alert::AlertMetrics;
use crate::errors::ErrorMetrics;
use crate::grpc::GrpcMetrics;
use crate::http::HttpMetrics;
use crate::incident::IncidentMetrics;
use crate::limits::LimitMetrics;
use crate::llm::LlmMetrics;
use crate::notification::NotificationMetrics;
use crate::playbook::PlaybookMetrics;
use crate::storage::StorageMetrics;
use crate::system::{BuildInfo, SystemMetrics};

/// Handles to every family of the catalog. Cloning is cheap (`Arc`s inside);
/// pass clones to the layers and trackers that record into them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Metrics {
    /// HTTP server families.
    pub http: HttpMetrics,
    /// gRPC server families.
    pub grpc: GrpcMetrics,
    /// Incident families.
    pub incidents: IncidentMetrics,
    /// Alert intake families.
    pub alerts: AlertMetrics,
    /// LLM client families.
    pub llm: LlmMetrics,
    /// Notification families.
    pub notifications: NotificationMetrics,
    /// Playbook families.
    pub playbooks: PlaybookMetrics,
    /// Storage families.
    pub storage: StorageMetrics,
    /// The shared error family.
    pub errors: ErrorMetrics,
    /// Build information and uptime.
    pub system: SystemMetrics,
    /// Cardinality limiting.
    pub limits: LimitMetrics,
    config: Arc<incident_metrics_core::MetricsConfig>,
}

impl Metrics {
    /// Registers every family into `registry`, with this crate's build information.
    ///
    /// # Errors
    ///
    /// Any registration error, for example when a family of the same name is
    /// already registered or a bucket override is invalid.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Self::register_with_build_info(registry, &BuildInfo::from_build())
    }

    /// Registers every family into `registry`, reporting `info` in `build_info`.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_with_build_info(registry: &mut Registry, info: &BuildInfo) -> Result<Self> {
        Ok(Self {
            http: HttpMetrics::register(registry)?,
            grpc: GrpcMetrics::register(registry)?,
            incidents: IncidentMetrics::register(registry)?,
            alerts: AlertMetrics::register(registry)?,
            llm: LlmMetrics::register(registry)?,
            notifications: NotificationMetrics::register(registry)?,
            playbooks: PlaybookMetrics::register(registry)?,
            storage: StorageMetrics::register(registry)?,
            errors: ErrorMetrics::register(registry)?,
            system: SystemMetrics::register(registry, info)?,
            limits: LimitMetrics::register(registry)?,
            config: registry.shared_config(),
        })
    }

    /// The configuration the families were registered under (sample rate,
    /// exclusions), for the layers and trackers.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }
}

/// A registry holding every family, with its handles: the spec's
/// `MetricsRegistry`.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::incident::{IncidentStatus, Severity};
/// use incident_metrics_catalog::MetricsRegistry;
/// use incident_metrics_core::MetricsConfig;
///
/// let metrics = MetricsRegistry::new(&MetricsConfig::new())?;
/// metrics.metrics().incidents.incidents(Severity::High, IncidentStatus::Open).inc();
/// assert_eq!(metrics.metrics().incidents.incidents(Severity::High, IncidentStatus::Open).get(), 1);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Debug)]
pub struct MetricsRegistry {
    registry: Arc<Registry>,
    metrics: Metrics,
}

impl MetricsRegistry {
    /// A new registry for `config` with every family registered.
    ///
    /// # Errors
    ///
    /// Any error of [`MetricsConfig::validate`] or of registration.
    pub fn new(config: &MetricsConfig) -> Result<Self> {
        Self::with_build_info(config, &BuildInfo::from_build())
    }

    /// As [`new`](Self::new), reporting `info` in `build_info`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_build_info(config: &MetricsConfig, info: &BuildInfo) -> Result<Self> {
        Self::with_extra(config, info, |_| Ok(()))
    }

    /// As [`with_build_info`](Self::with_build_info), then runs `extra` to
    /// register the caller's own families before the registry is frozen.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), any error of `extra`, and
    /// [`Error::UnknownCardinalityFamily`](incident_metrics_core::Error::UnknownCardinalityFamily)
    /// when an entry of `cardinality_limits` names no bounded family, the
    /// caller's included.
    pub fn with_extra(
        config: &MetricsConfig,
        info: &BuildInfo,
        extra: impl FnOnce(&mut Registry) -> Result<()>,
    ) -> Result<Self> {
        let mut registry = Registry::new(config)?;
        let metrics = Metrics::register_with_build_info(&mut registry, info)?;
        extra(&mut registry)?;
        registry.check_cardinality_limits()?;
        Ok(Self {
            registry: Arc::new(registry),
            metrics,
        })
    }

    /// The handles.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The registry, for rendering.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The configuration.
    pub fn config(&self) -> &MetricsConfig {
        self.registry.config()
    }
}

static GLOBAL: Global<MetricsRegistry> = Global::new();

/// Sets up the process-wide metrics, once, at start-up.
///
/// # Errors
///
/// [`Error::AlreadyInitialized`](incident_metrics_core::Error::AlreadyInitialized)
/// on a second call (the first registry stays), and any error of
/// [`MetricsRegistry::new`].
///
/// # Examples
///
/// ```
/// use incident_metrics_core::MetricsConfig;
///
/// let metrics = incident_metrics_catalog::init(MetricsConfig::new())?;
/// assert!(incident_metrics_catalog::global().is_some());
/// assert!(incident_metrics_catalog::init(MetricsConfig::new()).is_err());
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
pub fn init(config: MetricsConfig) -> Result<&'static MetricsRegistry> {
    GLOBAL.try_init(|| MetricsRegistry::new(&config))
}

/// The process-wide metrics, if [`init`] has run.
pub fn global() -> Option<&'static MetricsRegistry> {
    GLOBAL.get()
}

static DETACHED: LazyLock<Option<MetricsRegistry>> =
    LazyLock::new(|| MetricsRegistry::new(&MetricsConfig::new()).ok());

/// The process-wide metrics if [`init`] has run, or else a detached set that
/// records into a registry nobody renders, so that code using the global
/// handles before `init` (or in a test that never calls it) neither panics nor
/// disturbs the real registry. `None` only if the default configuration could
/// not be registered, which the tests rule out.
pub fn global_or_detached() -> Option<&'static MetricsRegistry> {
    GLOBAL.get().or_else(|| DETACHED.as_ref())
}
