//! Every metric family of the LLM Incident Manager, declared once: name,
//! help text, unit, typed label set and bucket layout.
//!
//! Families are grouped by subsystem ([`HttpMetrics`], [`GrpcMetrics`],
//! [`IncidentMetrics`], [`LlmMetrics`], [`NotificationMetrics`],
//! [`PlaybookMetrics`], [`StorageMetrics`], [`ErrorMetrics`],
//! [`SystemMetrics`]), each registered into a core
//! [`Registry`](incident_metrics_core::Registry); [`Catalog`] registers them
//! all (the facade crate, `incident-metrics`, does it for you). Each family's declaration is a public `const`
//! [`FamilySpec`](incident_metrics_core::FamilySpec) in its module, so
//! documentation and tests read the same source as the registry.
//!
//! Bounded labels are enums ([`http::Method`], [`grpc::GrpcCode`],
//! [`incident::Severity`], [`llm::TokenType`], ...). Families whose label
//! set is closed and small carry every series from the start, at zero, and
//! hand out their handles by array index ([`IncidentMetrics::incidents`]).
//! Open labels (route templates, model names, channels) are
//! [`SharedStr`](incident_metrics_core::SharedStr); the layers and trackers
//! that record into them resolve each distinct value to a handle once.
//!
//! Every labelled family is a core
//! [`BoundedFamily`](incident_metrics_core::BoundedFamily): it holds at most
//! its configured number of series (`cardinality_limit`, default 2000, with
//! per-family overrides in `cardinality_limits`); past that, new label sets
//! are folded into one series whose every label is `other`, and counted in
//! `metrics_cardinality_overflow_total{family}`. Lookups
//! (`get_or_create`) return owned handles; keep them to record with no
//! lookup.
//!
//! This crate knows no protocol: conversions from `http::Method` or tonic
//! codes live in the layer crates. It records nothing by itself.
//!
//! # Examples
//!
//! ```
//! use incident_metrics_catalog::incident::{IncidentStatus, Severity};
//! use incident_metrics_catalog::Catalog;
//! use incident_metrics_core::{MetricsConfig, Registry};
//!
//! let mut registry = Registry::new(&MetricsConfig::new())?;
//! let catalog = Catalog::register(&mut registry)?;
//! catalog.incidents.active(Severity::Critical).inc();
//! catalog.incidents.incidents(Severity::Critical, IncidentStatus::Open).inc();
//!
//! let mut text = String::new();
//! incident_metrics_core::prometheus_client::encoding::text::encode(
//!     &mut text,
//!     registry.as_prometheus(),
//! )
//! .unwrap();
//! assert!(text.contains("llm_incident_manager_incidents_active{severity=\"critical\"} 1\n"));
//! assert!(text.contains("llm_incident_manager_incidents_active{severity=\"info\"} 0\n"));
//! // Families with open label sets are announced before their first series.
//! assert!(text.contains("# TYPE llm_incident_manager_llm_cost_usd counter\n"));
//! # Ok::<(), incident_metrics_core::Error>(())
//! ```
//!
//! # Features
//!
//! - `test-util`: [`test_util`], helpers for tests that exercise the whole
//!   catalog. Off by default.

pub mod alert;
mod catalog;
pub mod errors;
mod family;
pub mod grpc;
pub mod http;
pub mod incident;
pub mod limits;
pub mod llm;
pub mod notification;
pub mod playbook;
pub mod storage;
pub mod system;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use alert::AlertMetrics;
pub use catalog::Catalog;
pub use errors::ErrorMetrics;
pub use family::{
    CounterFamily, FloatCounterFamily, FloatGaugeFamily, GaugeFamily, HistogramFamily, LabelSet,
};
pub use grpc::GrpcMetrics;
pub use http::HttpMetrics;
pub use incident::IncidentMetrics;
pub use limits::LimitMetrics;
pub use llm::LlmMetrics;
pub use notification::NotificationMetrics;
pub use playbook::PlaybookMetrics;
pub use storage::StorageMetrics;
pub use system::SystemMetrics;

/// Every family of the catalog, in registration order. The first,
/// `metrics_cardinality_overflow_total{family}`, is core's
/// [`CARDINALITY_OVERFLOW`](incident_metrics_core::CARDINALITY_OVERFLOW),
/// registered with the first bounded family.
pub const FAMILIES: &[&incident_metrics_core::FamilySpec] = &[
    &incident_metrics_core::CARDINALITY_OVERFLOW,
    &http::REQUESTS,
    &http::REQUEST_DURATION,
    &http::REQUEST_SIZE,
    &http::RESPONSE_SIZE,
    &http::CONNECTIONS_ACTIVE,
    &http::REQUESTS_IN_FLIGHT,
    &grpc::REQUESTS,
    &grpc::REQUEST_DURATION,
    &grpc::STREAMS_ACTIVE,
    &grpc::REQUESTS_STARTED,
    &grpc::MESSAGES_RECEIVED,
    &grpc::MESSAGES_SENT,
    &grpc::CLIENT_REQUESTS_STARTED,
    &grpc::CLIENT_REQUESTS,
    &grpc::CLIENT_REQUEST_DURATION,
    &grpc::CLIENT_MESSAGES_RECEIVED,
    &grpc::CLIENT_MESSAGES_SENT,
    &incident::INCIDENTS,
    &incident::ACTIVE,
    &incident::PROCESSING_DURATION,
    &incident::DEDUPLICATED,
    &incident::CORRELATED,
    &incident::ESCALATIONS,
    &incident::PRUNED,
    &incident::OPENED,
    &incident::ACTIVE_BY_SOURCE,
    &incident::TIME_TO_ACKNOWLEDGE,
    &incident::TIME_TO_RESOLVE,
    &alert::ALERTS_RECEIVED,
    &alert::ALERTS_TRUNCATED,
    &llm::REQUESTS,
    &llm::REQUEST_DURATION,
    &llm::TOKENS,
    &llm::REQUEST_TOKENS,
    &llm::ERRORS,
    &llm::COST,
    &llm::TIME_TO_FIRST_TOKEN,
    &llm::TIME_PER_OUTPUT_TOKEN,
    &llm::QUEUE_DURATION,
    &llm::INTER_TOKEN_LATENCY,
    &llm::FINISH_REASONS,
    &llm::CACHE_READ_TOKENS,
    &llm::REQUESTS_IN_FLIGHT,
    &llm::RATE_LIMIT_REMAINING,
    &llm::RATE_LIMIT_LIMIT,
    &llm::BUDGET,
    &llm::BUDGET_REMAINING,
    &llm::PROVIDER_STATE,
    &llm::FALLBACKS,
    &notification::NOTIFICATIONS,
    &notification::DELIVERY_DURATION,
    &notification::QUEUE_SIZE,
    &playbook::EXECUTIONS,
    &playbook::EXECUTION_DURATION,
    &playbook::ACTIVE,
    &playbook::PENDING,
    &storage::OPERATIONS,
    &storage::OPERATION_DURATION,
    &storage::SIZE,
    &errors::ERRORS,
    &system::BUILD_INFO,
    &system::UPTIME,
    &limits::LABEL_VALUES_FOLDED,
];
