//! The core of the incident-metrics toolkit: a typed registry on
//! [`prometheus-client`](prometheus_client), its validated configuration,
//! and the error type.
//!
//! This crate knows Prometheus and nothing else: not HTTP, not gRPC, not
//! LLMs or incidents. It owns
//!
//! - [`MetricsConfig`]: what is recorded and how: on or off, the namespace
//!   (default `llm_incident_manager`), the metrics endpoint's path, sample
//!   rate, excluded paths, global labels, bucket overrides and cardinality
//!   limits, loaded from code, TOML or environment variables and checked by
//!   [`MetricsConfig::validate`]. How the endpoint is served and guarded
//!   (listener, auth, TLS, scrape limits) and how the registry is pushed
//!   (remote-write, Pushgateway) are the exporter crate's settings, not
//!   this crate's;
//! - [`Registry`]: prometheus-client's registry with the namespace and global
//!   labels applied, registration that returns [`Error`] instead of
//!   panicking, duplicate detection, and every family announced even before
//!   it has a series;
//! - per-family cardinality limits: a [`BoundedFamily`] holds at most its
//!   configured number of series (`cardinality_limit`, default
//!   [`DEFAULT_CARDINALITY_LIMIT`] = 2000, per family in
//!   `cardinality_limits`, env `INCIDENT_METRICS_CARDINALITY_LIMIT`) and
//!   folds every later label set into one overflow series whose labels are
//!   all [`OVERFLOW_VALUE`] (`other`), counted in
//!   `metrics_cardinality_overflow_total{family}` ([`CARDINALITY_OVERFLOW`]);
//! - the one bounded set-once lookup table for open label values
//!   ([`LabelTable`]: routes, gRPC methods, model names), found without a
//!   lock or an allocation, folding past its limit into `other` and
//!   counting each fold in `label_values_folded_total{label}`
//!   ([`FoldCounters`]);
//! - the building blocks of a zero-lookup hot path: bounded label enums
//!   ([`label_enum!`], [`LabelEnum`]) and dense handle tables ([`ByLabel`]),
//!   a lock-free [`Histogram`], a [`ComputedGauge`] read at scrape time, and
//!   a [`Sampler`] for histograms;
//! - native histograms ([`NativeConfig`], `native_histograms` in
//!   [`MetricsConfig`]): a histogram family can keep client_golang-style
//!   sparse exponential buckets beside (or instead of) its classic ones,
//!   recorded without a lock and exposed in the protobuf format.
//! - exemplars, opt-in (`exemplars = true`): a W3C `traceparent` reader
//!   ([`TraceContext`]), the [`ExemplarSource`] trait the layers ask for a
//!   request's trace, a lock-free [`ExemplarSlot`], and the counter
//!   ([`ExemplarCounter`]) and [`Histogram`] that keep one per series and per
//!   bucket, written by prometheus-client's encoders into the OpenMetrics
//!   (and protobuf) answers only.
//!
//! It holds no process-wide state: every handle is built and passed
//! explicitly (the facade, `incident-metrics`, owns the one optional
//! process-wide `init_metrics`/`global`).
//!
//! It must not register anything behind the caller's back, hold a lock on a
//! hot path, or panic on input it does not control.
//!
//! # Examples
//!
//! ```
//! use incident_metrics_core::{
//!     buckets, FamilySpec, Histogram, MetricKind, MetricsConfig, Registry, Unit,
//! };
//!
//! const LATENCY: FamilySpec = FamilySpec {
//!     name: "job_duration",
//!     help: "Time spent running jobs",
//!     kind: MetricKind::Histogram,
//!     unit: Some(Unit::Seconds),
//!     labels: &[],
//! };
//!
//! let config = MetricsConfig::new().with_global_label("env", "test");
//! let mut registry = Registry::new(&config)?;
//! let latency = registry.register_histogram(&LATENCY, buckets::TASK_DURATION_SECONDS, |b| {
//!     Histogram::new("job_duration_seconds", b)
//! })?;
//! latency.observe(0.2);
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus()).unwrap();
//! assert!(text.contains("# TYPE llm_incident_manager_job_duration_seconds histogram"));
//! assert!(text.contains(r#"llm_incident_manager_job_duration_seconds_count{env="test"} 1"#));
//! # Ok::<(), incident_metrics_core::Error>(())
//! ```
//!
//! # Features
//!
//! This crate has no optional features.

mod bounded;
pub mod buckets;
mod cardinality;
mod computed;
mod config;
mod counter;
pub mod env;
mod error;
mod exemplar;
mod histogram;
mod label;
mod name;
mod native;
mod registry;
mod sampler;
mod shared_str;
mod table;
mod unwind;

pub use bounded::{BoundedFamily, DEFAULT_CARDINALITY_LIMIT};
pub use computed::ComputedGauge;
pub use config::{
    DEFAULT_ENDPOINT, DEFAULT_EXCLUDED_PATHS, DEFAULT_NAMESPACE, ENV_PREFIX, MetricsConfig,
};
pub use counter::ExemplarCounter;
pub use error::{Error, Result};
pub use exemplar::{
    EXEMPLAR_LABELS_MAX_CHARS, ExemplarSample, ExemplarSlot, ExemplarSource, HeaderLookup, HexId,
    TRACEPARENT_HEADER, TraceContext, TraceLabels, TraceparentSource, validate_exemplar_labels,
};
pub use histogram::{Histogram, HistogramBuilder};
pub use label::{ByLabel, LabelEnum, UnknownLabelValue};
pub use name::{validate_label_name, validate_metric_name};
pub use native::{
    COARSEST_KEYS, DEFAULT_NATIVE_BUCKET_FACTOR, DEFAULT_NATIVE_MAX_BUCKETS,
    DEFAULT_NATIVE_ZERO_THRESHOLD, MAX_NATIVE_MAX_BUCKETS, NativeConfig, NativeHistograms,
};
pub use registry::{
    CARDINALITY_OVERFLOW, FamilySpec, MetricKind, RegisteredFamily, Registry, Unit,
};
pub use sampler::Sampler;
pub use shared_str::SharedStr;
pub use table::{FoldCounters, FoldedLabels, LabelTable, OVERFLOW_VALUE, TableEntry};
pub use unwind::PanicFlag;

/// The prometheus-client version this crate builds on, re-exported so that
/// users name the same types (`Counter`, `Gauge`, `Family`, encoders).
pub use prometheus_client;
