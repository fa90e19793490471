//! [`Catalog`]: every family of the catalog at once.

use std::sync::Arc;

use incident_metrics_core::{MetricsConfig, Registry, Result};

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

/// Handles to every family of the catalog, grouped by subsystem. Cloning is
/// cheap (`Arc`s inside); the layers and trackers are built from it.
///
/// It holds no registry: [`register`](Self::register) puts the families
/// into one you own (the facade's `Metrics` holds both).
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_catalog::incident::{IncidentStatus, Severity};
/// use incident_metrics_core::{MetricsConfig, Registry};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// catalog.incidents.incidents(Severity::High, IncidentStatus::Open).inc();
/// assert_eq!(catalog.incidents.incidents(Severity::High, IncidentStatus::Open).get(), 1);
/// assert!(catalog.config().enabled());
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Catalog {
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
    config: Arc<MetricsConfig>,
}

impl Catalog {
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

    /// The configuration the families were registered under (on/off switch,
    /// sample rate, exclusions), which the layers and trackers follow.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }
}
