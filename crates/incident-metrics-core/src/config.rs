//! [`MetricsConfig`]: the validated configuration of the metrics toolkit.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::env::{parse_bool, parse_pairs, split_list};
use crate::name::{http_path_problem, label_name_problem, metric_name_problem};
use crate::{Error, Result, buckets};

/// The namespace every metric name starts with unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "llm_incident_manager";

/// The path the metrics are served on unless configured otherwise.
pub const DEFAULT_ENDPOINT: &str = "/metrics";

/// The paths whose requests are not recorded unless configured otherwise.
pub const DEFAULT_EXCLUDED_PATHS: &[&str] = &["/health", "/metrics"];

/// The prefix of the environment variables read by [`MetricsConfig::from_env`].
pub const ENV_PREFIX: &str = "INCIDENT_METRICS_";

/// What is recorded and how: on or off, the namespace, the endpoint's path
/// (which the HTTP layer leaves unrecorded), sampling, excluded paths,
/// global labels, bucket layouts and cardinality limits.
///
/// How the endpoint is served and guarded, and how the registry is pushed,
/// are the exporter's settings (its `ServerConfig` and `PushConfig`); the
/// facade crate's `Config` reads all of them from one file and one
/// environment.
///
/// Build it with [`MetricsConfig::new`] and the `with_*` setters, load it from
/// TOML ([`from_toml_str`](Self::from_toml_str),
/// [`from_toml_file`](Self::from_toml_file)) or from environment variables
/// ([`from_env`](Self::from_env)), then [`validate`](Self::validate) it. The
/// setters never fail, so that a chain reads well; `validate` (which
/// [`Registry::new`](crate::Registry::new) and the loaders call for you)
/// reports the first bad value with a message naming the field.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::MetricsConfig;
///
/// let config = MetricsConfig::new()
///     .with_endpoint("/custom-metrics")
///     .with_sample_rate(0.1) // record 10% of duration and size observations
///     .exclude_path("/ready")
///     .with_global_label("env", "production");
/// config.validate()?;
/// assert!(config.is_excluded("/health"));
/// assert!(config.is_excluded("/custom-metrics"));
/// assert!(!config.is_excluded("/api/v1/incidents"));
///
/// let bad = MetricsConfig::new().with_sample_rate(1.5);
/// assert!(bad.validate().unwrap_err().to_string().contains("sample_rate"));
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    enabled: bool,
    namespace: String,
    endpoint: String,
    sample_rate: f64,
    excluded_paths: Vec<String>,
    #[serde(deserialize_with = "crate::env::deserialize_labels")]
    global_labels: Vec<(String, String)>,
    buckets: BTreeMap<String, Vec<f64>>,
    pub(crate) cardinality_limit: usize,
    pub(crate) cardinality_limits: BTreeMap<String, usize>,
    // Native histograms (issue #19): see native.rs.
    pub(crate) native_histograms: crate::NativeHistograms,
    pub(crate) native_only: bool,
    pub(crate) native_bucket_factor: f64,
    pub(crate) native_zero_threshold: f64,
    pub(crate) native_max_buckets: usize,
    /// Exemplars (issue #19): see [`MetricsConfig::with_exemplars`].
    exemplars: bool,
    genai_names: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            sample_rate: 1.0,
            excluded_paths: DEFAULT_EXCLUDED_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            global_labels: Vec::new(),
            buckets: BTreeMap::new(),
            cardinality_limit: crate::DEFAULT_CARDINALITY_LIMIT,
            cardinality_limits: BTreeMap::new(),
            native_histograms: crate::NativeHistograms::default(),
            native_only: false,
            native_bucket_factor: crate::DEFAULT_NATIVE_BUCKET_FACTOR,
            native_zero_threshold: crate::DEFAULT_NATIVE_ZERO_THRESHOLD,
            native_max_buckets: crate::DEFAULT_NATIVE_MAX_BUCKETS,
            exemplars: false,
            genai_names: false,
        }
    }
}

impl MetricsConfig {
    /// The default configuration: namespace `llm_incident_manager`, endpoint
    /// `/metrics`, every observation recorded, `/health` and `/metrics`
    /// excluded, no global labels, the catalog's bucket layouts.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns recording on or off as a whole (on by default). Layers and
    /// trackers built from a disabled configuration pass requests through
    /// untouched; the families are still registered so that `/metrics` keeps
    /// its shape.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets the namespace prefixed to every metric name (`llm_incident_manager`);
    /// empty for none.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the path the metrics are served on (`/metrics`).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Sets the share of requests whose duration and size are observed, from
    /// 0.0 to 1.0 (1.0). Counters and gauges are never sampled: counts stay
    /// exact whatever the rate.
    #[must_use]
    pub fn with_sample_rate(mut self, sample_rate: f64) -> Self {
        self.sample_rate = sample_rate;
        self
    }

    /// Adds a path whose requests are not recorded at all.
    #[must_use]
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        if !self.excluded_paths.contains(&path) {
            self.excluded_paths.push(path);
        }
        self
    }

    /// Replaces the excluded paths, defaults included.
    #[must_use]
    pub fn with_excluded_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.excluded_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a label set on every series (for example `env="production"`).
    #[must_use]
    pub fn with_global_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((name.into(), value.into()));
        self
    }

    /// Overrides the bucket layout of one histogram family, named without the
    /// namespace (for example `http_request_duration_seconds`).
    #[must_use]
    pub fn with_buckets(mut self, family: impl Into<String>, bounds: impl Into<Vec<f64>>) -> Self {
        self.buckets.insert(family.into(), bounds.into());
        self
    }

    /// Turns exemplars on or off (off by default; `exemplars` in TOML,
    /// `INCIDENT_METRICS_EXEMPLARS`).
    ///
    /// On, the HTTP and gRPC layers attach the trace of each request that
    /// carries a valid, sampled W3C `traceparent` (or whatever their
    /// [`ExemplarSource`](crate::ExemplarSource) finds) to the request
    /// counter and to the duration histogram's bucket, as an exemplar with
    /// labels `trace_id` and `span_id`. Exemplars appear only in the
    /// OpenMetrics and protobuf answers. Off, the layers do not look for a
    /// trace and no series holds exemplar storage.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// assert!(!MetricsConfig::new().exemplars());
    /// assert!(MetricsConfig::new().with_exemplars(true).exemplars());
    /// assert!(MetricsConfig::from_toml_str("exemplars = true")?.exemplars());
    /// let env = MetricsConfig::new().with_env_vars([("INCIDENT_METRICS_EXEMPLARS", "true")])?;
    /// assert!(env.exemplars());
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_exemplars(mut self, exemplars: bool) -> Self {
        self.exemplars = exemplars;
        self
    }

    /// Whether exemplars are on.
    pub fn exemplars(&self) -> bool {
        self.exemplars
    }

    /// Names the LLM families that have an OpenTelemetry GenAI equivalent
    /// after the GenAI semantic conventions (off by default): the catalog
    /// then registers `gen_ai_client_token_usage`,
    /// `gen_ai_client_operation_duration_seconds`,
    /// `gen_ai_server_time_to_first_token_seconds` and
    /// `gen_ai_server_time_per_output_token_seconds`, without the
    /// namespace and with the GenAI attribute names as labels, in place of
    /// its own `llm_request_duration_seconds`, `llm_request_tokens`,
    /// `llm_time_to_first_token_seconds` and
    /// `llm_time_per_output_token_seconds`. TOML `genai_names`, variable
    /// `INCIDENT_METRICS_GENAI_NAMES`.
    #[must_use]
    pub fn with_genai_names(mut self, genai_names: bool) -> Self {
        self.genai_names = genai_names;
        self
    }

    /// Whether the LLM families with a GenAI equivalent take the GenAI
    /// names ([`with_genai_names`](Self::with_genai_names)).
    pub fn genai_names(&self) -> bool {
        self.genai_names
    }

    /// Whether recording is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The namespace prefixed to every metric name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The path the metrics are served on.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The share of duration and size observations recorded.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The paths whose requests are not recorded (the endpoint is excluded as well).
    pub fn excluded_paths(&self) -> &[String] {
        &self.excluded_paths
    }

    /// The labels set on every series, in the order given.
    pub fn global_labels(&self) -> &[(String, String)] {
        &self.global_labels
    }

    /// The bucket override for `family`, if one is configured.
    pub fn buckets_for(&self, family: &str) -> Option<&[f64]> {
        self.buckets.get(family).map(Vec::as_slice)
    }

    /// The bucket overrides, by family.
    pub fn bucket_overrides(&self) -> &BTreeMap<String, Vec<f64>> {
        &self.buckets
    }

    /// Whether requests to `path` are left unrecorded: it is an excluded path
    /// or the metrics endpoint itself.
    pub fn is_excluded(&self, path: &str) -> bool {
        path == self.endpoint || self.excluded_paths.iter().any(|p| p == path)
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// The first problem found, as one of [`Error::InvalidNamespace`],
    /// [`Error::InvalidEndpoint`], [`Error::InvalidSampleRate`],
    /// [`Error::InvalidExcludedPath`], [`Error::InvalidLabelName`],
    /// [`Error::DuplicateGlobalLabel`], [`Error::InvalidMetricName`] (a bucket
    /// override for a malformed family name), [`Error::InvalidBuckets`],
    /// [`Error::InvalidCardinalityLimit`], or [`Error::InvalidNativeHistogram`].
    pub fn validate(&self) -> Result<()> {
        if let Some(reason) = (!self.namespace.is_empty())
            .then(|| metric_name_problem(&self.namespace))
            .flatten()
        {
            return Err(Error::InvalidNamespace {
                namespace: self.namespace.clone(),
                reason,
            });
        }
        if let Some(reason) = http_path_problem(&self.endpoint) {
            return Err(Error::InvalidEndpoint {
                path: self.endpoint.clone(),
                reason,
            });
        }
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(Error::InvalidSampleRate {
                value: self.sample_rate,
            });
        }
        if let Some((path, reason)) = self
            .excluded_paths
            .iter()
            .find_map(|p| http_path_problem(p).map(|r| (p, r)))
        {
            return Err(Error::InvalidExcludedPath {
                path: path.clone(),
                reason,
            });
        }
        let mut seen = HashSet::new();
        for (name, _) in &self.global_labels {
            if let Some(reason) = label_name_problem(name) {
                return Err(Error::InvalidLabelName {
                    field: "global_labels".to_owned(),
                    name: name.clone(),
                    reason,
                });
            }
            if !seen.insert(name.as_str()) {
                return Err(Error::DuplicateGlobalLabel { name: name.clone() });
            }
        }
        for (family, bounds) in &self.buckets {
            crate::name::validate_metric_name(family)?;
            buckets::validate(family, bounds)?;
        }
        crate::cardinality::validate(self)?;
        crate::native::validate(self)
    }

    /// Parses and validates a TOML document.
    ///
    /// Every key is optional; unknown keys are errors, so that a typo does not
    /// pass unseen.
    ///
    /// # Errors
    ///
    /// [`Error::ConfigParse`] for malformed TOML or unknown keys, and any
    /// error of [`validate`](Self::validate).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// let config = MetricsConfig::from_toml_str(r#"
    ///     sample_rate = 0.5
    ///     excluded_paths = ["/health", "/metrics", "/ready"]
    ///     [global_labels]
    ///     env = "production"
    ///     [buckets]
    ///     http_request_duration_seconds = [0.01, 0.1, 1.0]
    /// "#)?;
    /// assert_eq!(config.sample_rate(), 0.5);
    /// assert_eq!(config.buckets_for("http_request_duration_seconds"), Some(&[0.01, 0.1, 1.0][..]));
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse_toml(text, None)
    }

    /// Reads, parses and validates a TOML file.
    ///
    /// # Errors
    ///
    /// [`Error::ConfigRead`] when the file cannot be read, and the errors of
    /// [`from_toml_str`](Self::from_toml_str).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_toml(&text, Some(path))
    }

    fn parse_toml(text: &str, path: Option<&Path>) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|source| Error::ConfigParse {
            path: path.map(Path::to_owned),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The default configuration overridden by the process's
    /// `INCIDENT_METRICS_*` environment variables, validated.
    ///
    /// See [`with_env_vars`](Self::with_env_vars) for the variables.
    ///
    /// # Errors
    ///
    /// The errors of [`with_env_vars`](Self::with_env_vars).
    pub fn from_env() -> Result<Self> {
        Self::new().with_env()
    }

    /// This configuration overridden by the process's `INCIDENT_METRICS_*`
    /// environment variables, validated. Use it after loading a file, so that
    /// the environment wins over the file.
    ///
    /// # Errors
    ///
    /// The errors of [`with_env_vars`](Self::with_env_vars).
    pub fn with_env(self) -> Result<Self> {
        self.with_env_vars(crate::env::vars())
    }

    /// Whether the variable `var` (with its [`ENV_PREFIX`]) is one this
    /// configuration reads (see [`with_env_vars`](Self::with_env_vars)).
    /// Other parts of the toolkit read further `INCIDENT_METRICS_*`
    /// variables; the facade crate's `Config` hands each to its owner.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// assert!(MetricsConfig::reads_env("INCIDENT_METRICS_SAMPLE_RATE"));
    /// assert!(MetricsConfig::reads_env("INCIDENT_METRICS_BUCKETS_HTTP_REQUEST_DURATION_SECONDS"));
    /// assert!(!MetricsConfig::reads_env("INCIDENT_METRICS_BEARER_TOKEN"));
    /// assert!(!MetricsConfig::reads_env("SAMPLE_RATE"));
    /// ```
    pub fn reads_env(var: &str) -> bool {
        var.strip_prefix(ENV_PREFIX).is_some_and(|name| {
            ENV_NAMES[..ENV_NAMES.len() - 3].contains(&name)
                || name.starts_with("BUCKETS_")
                || name.starts_with("CARDINALITY_LIMIT")
        })
    }

    /// The names (after [`ENV_PREFIX`]) of the variables this configuration
    /// reads, for messages; `<FAMILY>` stands for a family's name.
    pub fn env_names() -> &'static [&'static str] {
        ENV_NAMES
    }

    /// This configuration overridden by the given variables, validated.
    /// Variables without the [`ENV_PREFIX`] are ignored:
    ///
    /// | variable | value |
    /// |---|---|
    /// | `INCIDENT_METRICS_ENABLED` | `true` or `false` |
    /// | `INCIDENT_METRICS_NAMESPACE` | a metric name prefix |
    /// | `INCIDENT_METRICS_ENDPOINT` | an absolute path |
    /// | `INCIDENT_METRICS_SAMPLE_RATE` | a number from 0 to 1 |
    /// | `INCIDENT_METRICS_EXCLUDED_PATHS` | comma-separated paths (replaces the list) |
    /// | `INCIDENT_METRICS_GLOBAL_LABELS` | comma-separated `name=value` pairs (replaces the list) |
    /// | `INCIDENT_METRICS_GENAI_NAMES` | `true` or `false`: OpenTelemetry GenAI names for the LLM families that have one |
    /// | `INCIDENT_METRICS_BUCKETS_<FAMILY>` | comma-separated bounds for the family `<family>` (lower-cased) |
    /// | `INCIDENT_METRICS_CARDINALITY_LIMIT` | the most series of any one family (2000) |
    /// | `INCIDENT_METRICS_CARDINALITY_LIMIT_<FAMILY>` | the most series of the family `<family>` (lower-cased) |
    /// | `INCIDENT_METRICS_NATIVE_HISTOGRAMS` | `true`, `false`, or comma-separated histogram families with native buckets |
    /// | `INCIDENT_METRICS_NATIVE_ONLY` | `true` to drop the classic buckets of those families |
    /// | `INCIDENT_METRICS_NATIVE_BUCKET_FACTOR` | the native buckets' growth factor (1.1) |
    /// | `INCIDENT_METRICS_NATIVE_ZERO_THRESHOLD` | the native zero bucket's threshold (2^-128) |
    /// | `INCIDENT_METRICS_NATIVE_MAX_BUCKETS` | the most native buckets per series (160) |
    /// | `INCIDENT_METRICS_EXEMPLARS` | `true` or `false`: exemplars ([`with_exemplars`](Self::with_exemplars)) |
    ///
    /// Every other `INCIDENT_METRICS_*` variable is refused: the exporter's
    /// server and push settings read their own, and the facade's `Config`
    /// hands each variable to its part.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEnv`] for an unknown `INCIDENT_METRICS_*` variable or a
    /// value that cannot be parsed, and any error of
    /// [`validate`](Self::validate).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// let vars = [
    ///     ("INCIDENT_METRICS_SAMPLE_RATE", "0.25"),
    ///     ("INCIDENT_METRICS_GLOBAL_LABELS", "env=staging,region=eu"),
    ///     ("PATH", "/usr/bin"), // not ours: ignored
    /// ];
    /// let config = MetricsConfig::new().with_env_vars(vars)?;
    /// assert_eq!(config.sample_rate(), 0.25);
    /// assert_eq!(config.global_labels().len(), 2);
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn with_env_vars<I, K, V>(mut self, vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            let Some(name) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let invalid = |reason: String| Error::InvalidEnv {
                var: key.to_owned(),
                value: value.to_owned(),
                reason,
            };
            match name {
                "ENABLED" => self.enabled = parse_bool(value).map_err(invalid)?,
                "NAMESPACE" => self.namespace = value.trim().to_owned(),
                "ENDPOINT" => self.endpoint = value.trim().to_owned(),
                "SAMPLE_RATE" => {
                    self.sample_rate = value
                        .trim()
                        .parse()
                        .map_err(|e| invalid(format!("not a number ({e}); use 0.0 to 1.0")))?;
                }
                "EXCLUDED_PATHS" => self.excluded_paths = split_list(value).collect(),
                "GLOBAL_LABELS" => self.global_labels = parse_pairs(value).map_err(invalid)?,
                _ if name.starts_with("NATIVE_") => {
                    crate::native::set_env(&mut self, name, value).map_err(invalid)?;
                }
                "EXEMPLARS" => self.exemplars = parse_bool(value).map_err(invalid)?,
                "GENAI_NAMES" => self.genai_names = parse_bool(value).map_err(invalid)?,
                _ if name.starts_with("CARDINALITY_LIMIT") => {
                    crate::cardinality::set_env(&mut self, name, value).map_err(invalid)?;
                }
                _ => {
                    let Some(family) = name.strip_prefix("BUCKETS_") else {
                        return Err(invalid(format!(
                            "unknown variable; the known ones of the recording configuration \
                             are {ENV_PREFIX}{} (the other parts of the toolkit read their own \
                             variables: load the whole set with the facade's `Config`)",
                            ENV_NAMES.join(", ")
                        )));
                    };
                    let bounds = split_list(value)
                        .map(|b| {
                            b.parse::<f64>()
                                .map_err(|e| invalid(format!("bound {b:?} is not a number ({e})")))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    self.buckets.insert(family.to_ascii_lowercase(), bounds);
                }
            }
        }
        self.validate()?;
        Ok(self)
    }
}

/// The variables of [`MetricsConfig::with_env_vars`], after the prefix; the
/// last three are families of names.
const ENV_NAMES: &[&str] = &[
    "ENABLED",
    "NAMESPACE",
    "ENDPOINT",
    "SAMPLE_RATE",
    "EXCLUDED_PATHS",
    "GLOBAL_LABELS",
    "NATIVE_HISTOGRAMS",
    "NATIVE_ONLY",
    "NATIVE_BUCKET_FACTOR",
    "NATIVE_ZERO_THRESHOLD",
    "NATIVE_MAX_BUCKETS",
    "EXEMPLARS",
    "GENAI_NAMES",
    "BUCKETS_<FAMILY>",
    "CARDINALITY_LIMIT",
    "CARDINALITY_LIMIT_<FAMILY>",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn err(config: &MetricsConfig) -> String {
        match config.validate() {
            Ok(()) => panic!("expected {config:?} to be rejected"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let c = MetricsConfig::default();
        assert!(c.validate().is_ok());
        assert!(c.enabled());
        assert_eq!(c.namespace(), "llm_incident_manager");
        assert_eq!(c.endpoint(), "/metrics");
        assert_eq!(c.sample_rate(), 1.0);
        assert!(c.is_excluded("/health") && c.is_excluded("/metrics"));
        assert!(c.global_labels().is_empty());
        assert!(c.bucket_overrides().is_empty());
        assert!(!c.exemplars());
    }

    #[test]
    fn exemplars_from_code_toml_and_env() {
        assert!(MetricsConfig::new().with_exemplars(true).exemplars());
        let c = MetricsConfig::from_toml_str("exemplars = true").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.exemplars());
        let c = c
            .with_env_vars([("INCIDENT_METRICS_EXEMPLARS", "false")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.exemplars());
        assert!(MetricsConfig::reads_env("INCIDENT_METRICS_EXEMPLARS"));
        let msg = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_EXEMPLARS", "sometimes")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("INCIDENT_METRICS_EXEMPLARS"), "{msg}");
        assert!(MetricsConfig::from_toml_str("exemplars = \"yes\"").is_err());
    }

    #[test]
    fn genai_names_from_code_toml_and_env() {
        assert!(!MetricsConfig::new().genai_names());
        assert!(MetricsConfig::new().with_genai_names(true).genai_names());
        let c =
            MetricsConfig::from_toml_str("genai_names = true").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.genai_names());
        assert!(MetricsConfig::reads_env("INCIDENT_METRICS_GENAI_NAMES"));
        let c = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_GENAI_NAMES", "true")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.genai_names());
        let c = c
            .with_env_vars([("INCIDENT_METRICS_GENAI_NAMES", "false")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.genai_names());
        let e = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_GENAI_NAMES", "yes please")])
            .unwrap_err();
        assert!(
            e.to_string().contains("INCIDENT_METRICS_GENAI_NAMES"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_sample_rates() {
        for rate in [-0.1, 1.000_001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let msg = err(&MetricsConfig::new().with_sample_rate(rate));
            assert!(msg.contains("`sample_rate`"), "{msg}");
            assert!(msg.contains("0.0") && msg.contains("1.0"), "{msg}");
        }
        for rate in [0.0, 0.5, 1.0] {
            assert!(
                MetricsConfig::new()
                    .with_sample_rate(rate)
                    .validate()
                    .is_ok()
            );
        }
    }

    #[test]
    fn rejects_bad_endpoints() {
        for path in ["", "metrics", "/metrics?x=1", "/me trics"] {
            let msg = err(&MetricsConfig::new().with_endpoint(path));
            assert!(msg.starts_with("invalid `endpoint`"), "{msg}");
        }
    }

    #[test]
    fn rejects_bad_excluded_paths() {
        for path in ["", "health", "/h#x"] {
            let msg = err(&MetricsConfig::new().exclude_path(path));
            assert!(msg.contains("`excluded_paths`"), "{msg}");
        }
    }

    #[test]
    fn rejects_bad_namespace() {
        assert!(MetricsConfig::new().with_namespace("").validate().is_ok());
        for ns in ["9x", "llm-incident", "a b"] {
            let msg = err(&MetricsConfig::new().with_namespace(ns));
            assert!(msg.starts_with("invalid `namespace`"), "{msg}");
        }
    }

    #[test]
    fn rejects_bad_global_labels() {
        for name in ["", "9env", "env-name", "__reserved", "é"] {
            let msg = err(&MetricsConfig::new().with_global_label(name, "x"));
            assert!(msg.contains("`global_labels`"), "{msg}");
        }
        let msg = err(&MetricsConfig::new()
            .with_global_label("env", "a")
            .with_global_label("env", "b"));
        assert!(msg.contains("duplicate global label \"env\""), "{msg}");
        // Any value is fine: values are escaped on encoding.
        assert!(
            MetricsConfig::new()
                .with_global_label("env", "quote\" back\\ nl\n ü")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_bad_buckets() {
        let cases: [&[f64]; 4] = [&[], &[1.0, 0.5], &[0.1, f64::NAN], &[1.0, f64::INFINITY]];
        for bounds in cases {
            let msg =
                err(&MetricsConfig::new().with_buckets("http_request_duration_seconds", bounds));
            assert!(msg.contains("http_request_duration_seconds"), "{msg}");
        }
        let msg = err(&MetricsConfig::new().with_buckets("bad-name", vec![1.0]));
        assert!(msg.contains("bad-name"), "{msg}");
    }

    #[test]
    fn exclusion_follows_the_endpoint() {
        let c = MetricsConfig::new()
            .with_endpoint("/custom")
            .with_excluded_paths(Vec::<String>::new());
        assert!(c.is_excluded("/custom"));
        assert!(!c.is_excluded("/health"));
        assert!(!c.is_excluded("/metrics"));
    }

    #[test]
    fn loads_toml() {
        let c = MetricsConfig::from_toml_str(
            r#"
            enabled = false
            namespace = "svc"
            endpoint = "/m"
            sample_rate = 0.1
            excluded_paths = ["/ready"]
            [global_labels]
            region = "eu"
            env = "prod"
            [buckets]
            http_request_duration_seconds = [0.5, 1, 2]
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.enabled());
        assert_eq!(c.namespace(), "svc");
        assert_eq!(c.endpoint(), "/m");
        assert_eq!(c.sample_rate(), 0.1);
        assert_eq!(c.excluded_paths(), ["/ready".to_owned()]);
        assert_eq!(c.global_labels().len(), 2);
        assert_eq!(
            c.buckets_for("http_request_duration_seconds"),
            Some(&[0.5, 1.0, 2.0][..])
        );
        assert_eq!(
            MetricsConfig::from_toml_str("").ok(),
            Some(MetricsConfig::new())
        );
    }

    #[test]
    fn toml_errors_are_clear() {
        let msg = MetricsConfig::from_toml_str("sampel_rate = 0.5")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sampel_rate"), "{msg}");
        let msg = MetricsConfig::from_toml_str("sample_rate = 2.0")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`sample_rate` 2"), "{msg}");
        let msg = MetricsConfig::from_toml_str("sample_rate = \"high\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sample_rate"), "{msg}");
    }

    #[test]
    fn loads_toml_files() {
        let dir =
            std::env::temp_dir().join(format!("incident-metrics-core-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let file = dir.join("metrics.toml");
        std::fs::write(&file, "endpoint = \"/x\"\n").unwrap_or_else(|e| panic!("{e}"));
        let c = MetricsConfig::from_toml_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.endpoint(), "/x");
        std::fs::write(&file, "endpoint = 3\n").unwrap_or_else(|e| panic!("{e}"));
        let msg = MetricsConfig::from_toml_file(&file)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("metrics.toml"), "{msg}");
        let missing = dir.join("missing.toml");
        let msg = MetricsConfig::from_toml_file(&missing)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cannot read") && msg.contains("missing.toml"),
            "{msg}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn loads_env_vars() {
        let c = MetricsConfig::new()
            .with_env_vars([
                ("INCIDENT_METRICS_ENABLED", "false"),
                ("INCIDENT_METRICS_NAMESPACE", "svc"),
                ("INCIDENT_METRICS_ENDPOINT", "/m"),
                ("INCIDENT_METRICS_SAMPLE_RATE", " 0.5 "),
                ("INCIDENT_METRICS_EXCLUDED_PATHS", "/a, /b,"),
                ("INCIDENT_METRICS_GLOBAL_LABELS", "env=prod, region = eu"),
                (
                    "INCIDENT_METRICS_BUCKETS_HTTP_REQUEST_DURATION_SECONDS",
                    "0.1,1",
                ),
                ("HOME", "/root"),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.enabled());
        assert_eq!(c.namespace(), "svc");
        assert_eq!(c.endpoint(), "/m");
        assert_eq!(c.sample_rate(), 0.5);
        assert_eq!(c.excluded_paths(), ["/a".to_owned(), "/b".to_owned()]);
        assert_eq!(
            c.global_labels(),
            [
                ("env".to_owned(), "prod".to_owned()),
                ("region".to_owned(), "eu".to_owned())
            ]
        );
        assert_eq!(
            c.buckets_for("http_request_duration_seconds"),
            Some(&[0.1, 1.0][..])
        );
    }

    #[test]
    fn env_errors_name_the_variable() {
        let cases = [
            (
                "INCIDENT_METRICS_SAMPLE_RATE",
                "lots",
                "INCIDENT_METRICS_SAMPLE_RATE",
            ),
            ("INCIDENT_METRICS_SAMPLE_RATE", "3", "`sample_rate` 3"),
            ("INCIDENT_METRICS_ENABLED", "maybe", "`true` or `false`"),
            ("INCIDENT_METRICS_GLOBAL_LABELS", "env", "`name=value`"),
            (
                "INCIDENT_METRICS_GLOBAL_LABELS",
                "a=1,a=2",
                "duplicate global label",
            ),
            ("INCIDENT_METRICS_BUCKETS_X", "1,x", "bound \"x\""),
            ("INCIDENT_METRICS_SAMPLE_RAT", "1", "unknown variable"),
        ];
        for (var, value, needle) in cases {
            let msg = MetricsConfig::new()
                .with_env_vars([(var, value)])
                .unwrap_err()
                .to_string();
            assert!(msg.contains(needle), "{var}={value}: {msg}");
        }
    }
}
