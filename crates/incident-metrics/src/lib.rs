//! Prometheus/OpenMetrics metrics for Rust services, as used by the LLM
//! Incident Manager: one dependency that brings the whole toolkit.
//!
//! - [`MetricsConfig`] and [`Registry`] (from `incident-metrics-core`): the
//!   validated configuration and the typed registry.
//! - [`catalog`] (`incident-metrics-catalog`): every metric family, grouped
//!   in [`Catalog`].
//! - [`exporter`] (`incident-metrics-exporter`): OpenMetrics and Prometheus
//!   text, content negotiation, gzip, the `/metrics` handler, a standalone
//!   server, and push (remote-write, Pushgateway).
//! - `http` (`incident-metrics-http`): the tower layer for HTTP servers;
//!   [`Metrics::instrument`] mounts it and `/metrics` on an axum router in
//!   one call, in the order that counts every request.
//! - `grpc` (`incident-metrics-grpc`): the tower layer for tonic.
//! - `trackers` (`incident-metrics-trackers`): LLM calls, incidents,
//!   playbooks, notifications, storage; the runtime collector.
//!
//! [`Metrics`] is the one handle: the registry, the catalog, the
//! configuration and the trackers, and from it, one call each, the HTTP
//! layer, the gRPC server and client layers, the `/metrics` router and the
//! trackers. Two ways to hold it:
//!
//! - explicitly: [`Metrics::new`] in `main`, clones handed to the code that
//!   records (what tests and libraries should do);
//! - process-wide, as the spec's API had it: [`init_metrics`] once at
//!   start-up, then [`global`] and [`gather_metrics`] anywhere. A second
//!   `init_metrics` is an error value, never a panic. It is the only
//!   process-wide state of the toolkit.
//!
//! # Examples
//!
//! An axum app instrumented in two statements:
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use incident_metrics::{Metrics, MetricsConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let routes = Router::new().route("/api/v1/incidents/{id}", get(|| async { "incident" }));
//!
//! let metrics = Metrics::new(MetricsConfig::default())?;
//! let app = metrics.instrument(routes); // the HTTP layer around everything, and /metrics
//!
//! metrics.trackers().llm.start("openai", "gpt-4o", "chat").success(1_200, 350);
//! assert!(metrics.gather()?.contains(r#"llm_cost_usd_total{provider="openai",model="gpt-4o"} 0.0065"#));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! A tonic server: `Server::builder().layer(metrics.grpc_server_layer())`;
//! a client channel: `metrics.grpc_client_layer()`.
//!
//! # Features
//!
//! - `axum` (default): [`Metrics::router`], `exporter::metrics_router` and
//!   `exporter::metrics_handler`; the HTTP layer reads axum's `MatchedPath`;
//!   with `http`, [`Metrics::instrument`].
//! - `server` (default): `exporter::MetricsServer`, a standalone `/metrics` server.
//! - `http`, `grpc`, `trackers` (default): the layers and trackers, and the
//!   [`Metrics`] methods that build them.
//! - `tokio`: tokio runtime metrics in the runtime collector.
//! - `remote-write`, `pushgateway`: push from the exporter (`http://` and
//!   `https://`).
//! - `tls`: `exporter::tls`, the one TLS stack (rustls with the `ring`
//!   provider): `ClientTlsConfig` for outbound clients, `ServerTlsConfig`
//!   for listeners, `MetricsServer::with_tls`.
//! - `opentelemetry`: `http::OpenTelemetrySource`, an exemplar source that
//!   reads the trace of the current `tracing-opentelemetry` span (sampled
//!   spans only), for the HTTP and gRPC layers' `with_exemplar_source` and
//!   the LLM tracker's `with_trace` (implies `http`).
//!
//! # What this crate does not do
//!
//! It adds no behaviour of its own beyond [`Metrics`], which composes the
//! parts, and the process-wide functions: everything else is a re-export.
//! It registers nothing until asked to.

mod config;
mod global;
mod metrics;
#[cfg(feature = "trackers")]
mod spec;

pub use config::{Config, ConfigError};
pub use global::{gather_metrics, global, init_metrics, init_metrics_with};
#[doc(inline)]
pub use incident_metrics_catalog::Catalog;
#[doc(inline)]
pub use incident_metrics_core::{Error, MetricsConfig, Registry, Result};
pub use metrics::{Metrics, MetricsBuilder, SetupError};
#[cfg(feature = "trackers")]
pub use spec::{StartIncident, StartLlmCall, StartNotification, StartPlaybook, StartStorage};

/// The spec's style in one import: `use incident_metrics::prelude::*;`
/// brings [`init_metrics`], [`gather_metrics`], [`Metrics`],
/// [`MetricsConfig`] and the trackers with their `Tracker::start(..)`
/// constructors over the process-wide metrics.
pub mod prelude {
    pub use crate::{Metrics, MetricsConfig, gather_metrics, init_metrics, init_metrics_with};
    #[cfg(feature = "trackers")]
    pub use crate::{StartIncident, StartLlmCall, StartNotification, StartPlaybook, StartStorage};
    #[cfg(feature = "trackers")]
    pub use incident_metrics_trackers::{
        IncidentTracker, LlmCallTracker, NotificationTracker, PlaybookTracker, StorageTracker,
    };
}

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
