//! Domain trackers and runtime collectors for the incident-metrics toolkit:
//! record LLM calls, incidents, playbooks, notifications, storage and
//! errors into the catalog's families with a few atomic operations, and
//! report process and tokio runtime metrics at scrape time.
//!
//! # Trackers
//!
//! Each domain has a *recorder*, built once from the catalog's handles and
//! cheap to clone ([`LlmRecorder`], [`IncidentRecorder`],
//! [`PlaybookRecorder`], [`NotificationRecorder`], [`StorageRecorder`],
//! [`ErrorRecorder`]; all of them: [`Trackers`]), that hands out one RAII
//! *tracker* per operation ([`LlmCallTracker`], [`IncidentTracker`],
//! [`PlaybookTracker`], [`NotificationTracker`], [`StorageTracker`]). A
//! tracker records its outcome once: when finished explicitly, or when
//! dropped (an early return, a cancelled future, a panic) with an honest
//! "cancelled"/"failed" outcome. A tracker borrows its recorder (no
//! reference count on the hot path): to track inside a spawned task, move
//! a clone of the recorder into the task.
//!
//! Recorders are built from the catalog ([`Trackers::new`],
//! `XxxRecorder::from_catalog`) and follow the on/off switch of the
//! configuration it was registered with: with `enabled = false` they record
//! nothing and their trackers read no clock, so callers need no check of
//! their own. The facade (`incident-metrics`) builds a set for you
//! (`Metrics::trackers`); its process-wide `init_metrics()` gives the
//! spec's style, `incident_metrics::global()` then `.trackers().llm.start(..)`.
//!
//! Free strings from outside (provider, model, playbook, channel, backend,
//! error component and type) pass through a [`CardinalityLimiter`] with a
//! configured limit ([`TrackerConfig`]); later values fold into
//! [`OVERFLOW_VALUE`] and are counted in `label_values_folded_total{label}`.
//! Each distinct label combination is resolved once to a struct of handles;
//! afterwards a tracker's start and finish allocate nothing, format
//! nothing and take no lock.
//!
//! LLM cost comes from a [`PriceTable`] (USD per million input and output
//! tokens; a dated built-in table, [`DEFAULT_PRICES`], meant to be
//! overridden), or per call ([`LlmCallTracker::with_price`],
//! [`LlmCallTracker::success_with_cost`]).
//!
//! # Examples
//!
//! ```
//! use incident_metrics_catalog::incident::Severity;
//! use incident_metrics_catalog::Catalog;
//! use incident_metrics_core::{MetricsConfig, Registry};
//! use incident_metrics_trackers::{TrackerConfig, Trackers};
//!
//! let mut registry = Registry::new(&MetricsConfig::new())?;
//! let trackers = Trackers::new(&Catalog::register(&mut registry)?, &TrackerConfig::default())?;
//!
//! let call = trackers.llm.start("openai", "gpt-4o", "chat");
//! call.success(1_200, 350); // $0.003 + $0.0035 at the built-in gpt-4o price
//!
//! let incident = trackers.incidents.start(Severity::Critical);
//! incident.success("resolved");
//!
//! let mut text = String::new();
//! incident_metrics_core::prometheus_client::encoding::text::encode(
//!     &mut text,
//!     registry.as_prometheus(),
//! )?;
//! assert!(text.contains(r#"llm_cost_usd_total{provider="openai",model="gpt-4o"} 0.0065"#));
//! assert!(text.contains(r#"incidents_total{severity="critical",status="resolved"} 1"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Generic helpers
//!
//! [`measure`], [`measure_async`] and [`Timer`] observe durations into any
//! [`Histogram`](incident_metrics_core::Histogram); [`count_errors`] counts
//! the `Err`s and panics of a `Result` future. All are RAII: a drop or a
//! panic still records.
//!
//! # Runtime collector
//!
//! [`RuntimeCollector`] reads `process_*` metrics from `/proc` (Linux) and
//! tokio runtime metrics at each scrape; see its docs for names and the
//! registry prefix.
//!
//! # Features
//!
//! - `tokio`: tokio runtime metrics in [`RuntimeCollector`].
//!
//! # What this crate must not do
//!
//! Know HTTP, gRPC, axum or tonic, or the service's own types (callers map
//! onto plain inputs); register anything behind the caller's back; panic
//! or fail a caller's operation because of metrics.

mod alert;
mod cache;
mod config;
mod error;
mod errors;
mod incident;
mod label;
mod limiter;
mod llm;
mod measure;
mod notification;
mod playbook;
mod price;
mod runtime;
mod start;
mod storage;
mod trackers;

pub use alert::AlertRecorder;
pub use config::{MAX_COMBINATIONS, MAX_LABEL_VALUES, TrackerConfig};
pub use error::{Error, Result};
pub use errors::ErrorRecorder;
pub use incident::{
    ActiveIncident, FALLBACK_SEVERITY, FALLBACK_STATUS, IncidentRecorder, IncidentTracker,
};
pub use incident_metrics_catalog::llm::{
    FallbackOutcome, LlmFinishReason, ProviderState, RateLimitKind,
};
pub use label::IntoLabel;
pub use limiter::{CardinalityLimiter, OVERFLOW_VALUE};
pub use llm::{LlmCallTracker, LlmRecorder};
pub use measure::{CountErrors, Measured, Timer, count_errors, measure, measure_async};
pub use notification::{NotificationRecorder, NotificationTracker};
pub use playbook::{PlaybookRecorder, PlaybookTracker};
pub use price::{DEFAULT_PRICES, ModelPrice, PriceTable};
pub use runtime::RuntimeCollector;
pub use storage::{STORAGE_COMPONENT, StorageRecorder, StorageTracker};
pub use trackers::Trackers;
