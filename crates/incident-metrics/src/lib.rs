//! Prometheus/OpenMetrics metrics for Rust services, as used by the LLM
//! Incident Manager: one dependency that brings the whole toolkit.
//!
//! - [`MetricsConfig`] and [`Registry`] (from `incident-metrics-core`): the
//!   validated configuration and the typed registry.
//! - [`catalog`] (`incident-metrics-catalog`): every metric family, grouped
//!   in [`Metrics`].
//! - [`exporter`] (`incident-metrics-exporter`): OpenMetrics and Prometheus
//!   text, content negotiation, gzip, the `/metrics` handler, a standalone
//!   server, and push (remote-write, Pushgateway).
//! - `http` (`incident-metrics-http`): the tower layer for HTTP servers;
//!   `instrumented_router` mounts it and `/metrics` on an axum router in
//!   one call, in the order that counts every request.
//! - `grpc` (`incident-metrics-grpc`): the tower layer for tonic.
//! - `trackers` (`incident-metrics-trackers`): LLM calls, incidents,
//!   playbooks, notifications, storage; the runtime collector.
//!
//! Two ways to hold the metrics:
//!
//! - explicitly: build a [`MetricsRegistry`] in `main`, hand clones of
//!   [`Metrics`] to the code that records and the registry to the exporter
//!   (what tests and libraries should do);
//! - process-wide, as the spec's API had it: [`init_metrics`] once at
//!   start-up, then [`global`] and [`gather_metrics`] anywhere. A second
//!   `init_metrics` is an error value, never a panic.
//!
//! # Examples
//!
//! ```
//! use incident_metrics::catalog::incident::{IncidentStatus, Severity};
//! use incident_metrics::{MetricsConfig, MetricsRegistry};
//!
//! let metrics = MetricsRegistry::new(&MetricsConfig::new().with_global_label("env", "test"))?;
//! metrics.metrics().incidents.incidents(Severity::High, IncidentStatus::Open).inc();
//!
//! let text = incident_metrics::exporter::gather_metrics(metrics.registry())?;
//! assert!(text.contains(
//!     "llm_incident_manager_incidents_total{env=\"test\",severity=\"high\",status=\"open\"} 1\n"
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `axum` (default): `exporter::metrics_router` and `exporter::metrics_handler`;
//!   the HTTP layer reads axum's `MatchedPath`; with `http`,
//!   `instrumented_router`.
//! - `server` (default): `exporter::MetricsServer`, a standalone `/metrics` server.
//! - `http`, `grpc`, `trackers` (default): the layers and trackers.
//! - `tokio`: tokio runtime metrics in the runtime collector.
//! - `remote-write`, `pushgateway`: push from the exporter (`http://` and
//!   `https://`).
//! - `tls`: `exporter::tls`, the one TLS stack (rustls with the `ring`
//!   provider): `ClientTlsConfig` for outbound clients, `ServerTlsConfig`
//!   for listeners, `MetricsServer::with_tls`.
//!
//! # What this crate does not do
//!
//! It adds no behaviour of its own beyond the process-wide convenience
//! functions and `instrumented_router`: everything else is a re-export. It registers nothing until
//! asked to.

mod config;
mod global;
#[cfg(all(feature = "axum", feature = "http"))]
mod router;

pub use config::{Config, ConfigError};
pub use global::{gather_metrics, init_metrics, init_metrics_with};
#[doc(inline)]
pub use incident_metrics_catalog::{Metrics, MetricsRegistry, global, global_or_detached};
#[doc(inline)]
pub use incident_metrics_core::{Error, MetricsConfig, Registry, Result};
#[cfg(all(feature = "axum", feature = "http"))]
pub use router::instrumented_router;

/// Every metric family (`incident-metrics-catalog`).
pub use incident_metrics_catalog as catalog;
/// The building blocks under the catalog (`incident-metrics-core`): labels,
/// histograms, buckets, the registry.
pub use incident_metrics_core as base;
/// Rendering, serving and pushing (`incident-metrics-exporter`).
pub use incident_metrics_exporter as exporter;
/// The tower layer for tonic servers and clients (`incident-metrics-grpc`).
#[cfg(feature = "grpc")]
pub use incident_metrics_grpc as grpc;
/// The tower layer for HTTP servers (`incident-metrics-http`).
#[cfg(feature = "http")]
pub use incident_metrics_http as http;
/// Domain trackers and the runtime collector (`incident-metrics-trackers`).
#[cfg(feature = "trackers")]
pub use incident_metrics_trackers as trackers;
