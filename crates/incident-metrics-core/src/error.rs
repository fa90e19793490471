//! The error type of the core crate.

use std::path::PathBuf;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring metrics or registering them.
///
/// Every message names the field or the metric at fault and says what to
/// change. None of these errors can happen on the hot path: they come out of
/// [`MetricsConfig::validate`](crate::MetricsConfig::validate), the config
/// loaders and [`Registry`](crate::Registry) registration, all of which run
/// at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `sample_rate` is NaN or outside `0.0..=1.0`.
    #[error(
        "invalid `sample_rate` {value}: use a number from 0.0 (record no histograms) to 1.0 (record all)"
    )]
    InvalidSampleRate {
        /// The rejected value.
        value: f64,
    },

    /// The metrics endpoint path is empty, relative or malformed.
    #[error("invalid `endpoint` {path:?}: {reason}")]
    InvalidEndpoint {
        /// The rejected path.
        path: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// An entry of `excluded_paths` is empty, relative or malformed.
    #[error("invalid entry {path:?} in `excluded_paths`: {reason}")]
    InvalidExcludedPath {
        /// The rejected path.
        path: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// The namespace prefix is not a valid Prometheus metric name.
    #[error("invalid `namespace` {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The rejected namespace.
        namespace: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// A label name breaks Prometheus's rules or is reserved.
    #[error("invalid label name {name:?} in `{field}`: {reason}")]
    InvalidLabelName {
        /// The configuration field or metric the label belongs to.
        field: String,
        /// The rejected label name.
        name: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// The same global label name was given twice.
    #[error("duplicate global label {name:?} in `global_labels`: give each label name once")]
    DuplicateGlobalLabel {
        /// The repeated label name.
        name: String,
    },

    /// A native-histogram setting is out of range (`native_bucket_factor`,
    /// `native_zero_threshold`, `native_max_buckets`).
    #[error("invalid `{field}`: {reason}")]
    InvalidNativeHistogram {
        /// The configuration key at fault.
        field: String,
        /// What is wrong with it and what to use instead.
        reason: String,
    },

    /// A bucket layout is empty, unsorted, repeated or not finite.
    #[error("invalid buckets for `{family}`: {reason}")]
    InvalidBuckets {
        /// The family whose buckets are at fault.
        family: String,
        /// What is wrong with them and what to use instead.
        reason: String,
    },

    /// A metric name breaks Prometheus's naming rules.
    #[error("invalid metric name {name:?}: {reason}")]
    InvalidMetricName {
        /// The rejected name.
        name: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// Help text is empty or ends with a period (one is added on encoding).
    #[error("invalid help text for {name:?}: {reason}")]
    InvalidHelp {
        /// The metric whose help text is at fault.
        name: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// A metric of this name is already registered in the registry.
    #[error(
        "metric {name:?} is already registered: register each family once and share its handles"
    )]
    DuplicateMetric {
        /// The full name (with namespace and suffixes) that collides.
        name: String,
    },

    /// The configuration file could not be read.
    #[error("cannot read metrics configuration file {path}: {source}")]
    ConfigRead {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The configuration file is not valid TOML for [`MetricsConfig`](crate::MetricsConfig).
    #[error("cannot parse metrics configuration{}: {source}", path.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default())]
    ConfigParse {
        /// The file that was parsed, if the text came from a file.
        path: Option<PathBuf>,
        /// The TOML error, which names the line and the key.
        #[source]
        source: Box<toml::de::Error>,
    },

    /// A cardinality limit (`cardinality_limit` or an entry of
    /// `cardinality_limits`) is zero.
    #[error(
        "invalid `{field}` {value}: a family must be allowed at least 1 series; \
         use a whole number such as the default {default}",
        default = crate::DEFAULT_CARDINALITY_LIMIT
    )]
    InvalidCardinalityLimit {
        /// The configuration field, such as `cardinality_limits.llm_requests`.
        field: String,
        /// The rejected value.
        value: usize,
    },

    /// An entry of `cardinality_limits` names no family registered with a
    /// limit.
    #[error(
        "`cardinality_limits.{family}` names no registered family: use the family's name \
         without the namespace and without `_total`, unit included (such as `llm_requests` \
         or `http_request_duration_seconds`), or remove the entry; the registered ones are {known}"
    )]
    UnknownCardinalityFamily {
        /// The name given.
        family: String,
        /// The names that would have been accepted, comma-separated.
        known: String,
    },

    /// An environment variable holds a value that cannot be used.
    #[error("invalid environment variable {var}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable's name.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong with it and what to use instead.
        reason: String,
    },

    /// An exemplar's label set holds more than the 128 characters
    /// OpenMetrics allows (Prometheus would refuse the whole scrape).
    #[error(
        "exemplar label set of {chars} characters: OpenMetrics allows at most 128 (label names and values together)"
    )]
    ExemplarLabelsTooLong {
        /// The characters counted, names and values together.
        chars: usize,
    },
}
