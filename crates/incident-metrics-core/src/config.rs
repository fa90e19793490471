//! [`MetricsConfig`]: the validated configuration of the metrics toolkit.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::endpoint::{ServerConfig, is_server_env};
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

/// The configuration of the metrics toolkit.
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
    #[serde(deserialize_with = "deserialize_labels")]
    global_labels: Vec<(String, String)>,
    buckets: BTreeMap<String, Vec<f64>>,
    push: PushConfig,
    server: ServerConfig,
    pub(crate) cardinality_limit: usize,
    pub(crate) cardinality_limits: BTreeMap<String, usize>,
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
            push: PushConfig::default(),
            server: ServerConfig::default(),
            cardinality_limit: crate::DEFAULT_CARDINALITY_LIMIT,
            cardinality_limits: BTreeMap::new(),
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

    /// Turns on the remote-write sender with these settings (the
    /// `[push.remote_write]` table).
    #[must_use]
    pub fn with_remote_write(mut self, remote_write: RemoteWriteConfig) -> Self {
        self.push.remote_write = Some(remote_write);
        self
    }

    /// Turns on pushing to a Pushgateway with these settings (the
    /// `[push.pushgateway]` table).
    #[must_use]
    pub fn with_pushgateway(mut self, pushgateway: PushgatewayConfig) -> Self {
        self.push.pushgateway = Some(pushgateway);
        self
    }

    /// The push settings (the `[push]` table).
    pub fn push(&self) -> &PushConfig {
        &self.push
    }

    /// Sets how the endpoint is served and protected (the `[server]` table).
    #[must_use]
    pub fn with_server(mut self, server: ServerConfig) -> Self {
        self.server = server;
        self
    }

    /// How the endpoint is served and protected (the `[server]` table).
    pub fn server(&self) -> &ServerConfig {
        &self.server
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
    /// [`Error::InvalidCardinalityLimit`], or an error of
    /// [`PushConfig::validate`] or [`ServerConfig::validate`].
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
        self.server.validate()?;
        crate::cardinality::validate(self)?;
        self.push.validate()
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
        self.with_env_vars(std::env::vars_os().filter_map(|(k, v)| {
            // Variables that are not Unicode cannot be ours; skip them.
            Some((k.into_string().ok()?, v.into_string().ok()?))
        }))
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
    /// | `INCIDENT_METRICS_BUCKETS_<FAMILY>` | comma-separated bounds for the family `<family>` (lower-cased) |
    /// | `INCIDENT_METRICS_CARDINALITY_LIMIT` | the most series of any one family (2000) |
    /// | `INCIDENT_METRICS_CARDINALITY_LIMIT_<FAMILY>` | the most series of the family `<family>` (lower-cased) |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_URL` | the remote-write receiver, such as `http://prometheus:9090/api/v1/write` |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_INTERVAL_SECONDS` | seconds between snapshots |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_TIMEOUT_SECONDS` | seconds one request may take |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY` | samples held while the receiver is unreachable |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_MAX_SAMPLES_PER_REQUEST` | samples per request |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_EXTERNAL_LABELS` | comma-separated `name=value` pairs (replaces the list) |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_MAX_BACKOFF_SECONDS` | the longest wait between retries |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_HEADERS` | comma-separated `Name=value` HTTP headers (replaces the list) |
    /// | `INCIDENT_METRICS_PUSHGATEWAY_URL` | the Pushgateway, such as `http://pushgateway:9091` |
    /// | `INCIDENT_METRICS_PUSHGATEWAY_JOB` | the job name of the grouping key |
    /// | `INCIDENT_METRICS_PUSHGATEWAY_GROUPING` | comma-separated `name=value` pairs (replaces the list) |
    /// | `INCIDENT_METRICS_PUSHGATEWAY_TIMEOUT_SECONDS` | seconds one request may take |
    /// | `INCIDENT_METRICS_REMOTE_WRITE_TLS_CA_FILE`, `..._TLS_CERT_FILE`, `..._TLS_KEY_FILE`, `..._TLS_INSECURE_SKIP_VERIFY` | `[push.remote_write.tls]` |
    /// | `INCIDENT_METRICS_PUSHGATEWAY_TLS_CA_FILE`, `..._TLS_CERT_FILE`, `..._TLS_KEY_FILE`, `..._TLS_INSECURE_SKIP_VERIFY` | `[push.pushgateway.tls]` |
    /// | `INCIDENT_METRICS_SERVER_*`, `_BEARER_TOKEN*`, `_BASIC_AUTH_*` | the endpoint's server and auth ([`ServerConfig`], [`AuthConfig`](crate::AuthConfig)) |
    ///
    /// Any `REMOTE_WRITE_*` (or `PUSHGATEWAY_*`) variable turns the section
    /// on, with the defaults of [`RemoteWriteConfig::new`]
    /// ([`PushgatewayConfig::new`]) for what is not given; the URL (and the
    /// job) must then be given somewhere.
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
                "ENABLED" => {
                    self.enabled = match value.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" | "on" => true,
                        "false" | "0" | "no" | "off" => false,
                        _ => return Err(invalid("use `true` or `false`".into())),
                    }
                }
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
                _ if is_server_env(name) => self.server.set_env(name, value).map_err(invalid)?,
                _ if name.starts_with("CARDINALITY_LIMIT") => {
                    crate::cardinality::set_env(&mut self, name, value).map_err(invalid)?;
                }
                _ if name.starts_with("REMOTE_WRITE_") || name.starts_with("PUSHGATEWAY_") => {
                    self.push.set_env(name, value).map_err(invalid)?;
                }
                _ => {
                    let Some(family) = name.strip_prefix("BUCKETS_") else {
                        return Err(invalid(format!(
                            "unknown variable; the known ones are {ENV_PREFIX}ENABLED, NAMESPACE, \
                             ENDPOINT, SAMPLE_RATE, EXCLUDED_PATHS, GLOBAL_LABELS, \
                             BUCKETS_<FAMILY>, CARDINALITY_LIMIT, CARDINALITY_LIMIT_<FAMILY>, \
                             REMOTE_WRITE_{{{}}}, PUSHGATEWAY_{{{}}} and {}",
                            REMOTE_WRITE_ENV.join(","),
                            PUSHGATEWAY_ENV.join(","),
                            crate::endpoint::SERVER_ENV.join(", ")
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

/// Parses `name=value,name=value`.
fn parse_pairs(value: &str) -> std::result::Result<Vec<(String, String)>, String> {
    split_list(value)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
            None => Err(format!("{pair:?} is not a `name=value` pair")),
        })
        .collect()
}

fn parse_seconds(value: &str) -> std::result::Result<f64, String> {
    value
        .trim()
        .parse()
        .map_err(|e| format!("not a number ({e}); give a number of seconds"))
}

fn parse_size(value: &str) -> std::result::Result<usize, String> {
    value
        .trim()
        .parse()
        .map_err(|e| format!("not a whole number ({e})"))
}

fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn deserialize_labels<'de, D>(
    deserializer: D,
) -> std::result::Result<Vec<(String, String)>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    // A TOML table cannot repeat a key, so no duplicate can come from a file.
    let map = BTreeMap::<String, String>::deserialize(deserializer)?;
    Ok(map.into_iter().collect())
}

/// The suffixes of the `INCIDENT_METRICS_REMOTE_WRITE_*` variables.
const REMOTE_WRITE_ENV: &[&str] = &[
    "URL",
    "INTERVAL_SECONDS",
    "TIMEOUT_SECONDS",
    "QUEUE_CAPACITY",
    "MAX_SAMPLES_PER_REQUEST",
    "EXTERNAL_LABELS",
    "MAX_BACKOFF_SECONDS",
    "HEADERS",
    "TLS_CA_FILE",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_INSECURE_SKIP_VERIFY",
];

/// The suffixes of the `INCIDENT_METRICS_PUSHGATEWAY_*` variables.
const PUSHGATEWAY_ENV: &[&str] = &[
    "URL",
    "JOB",
    "GROUPING",
    "TIMEOUT_SECONDS",
    "TLS_CA_FILE",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_INSECURE_SKIP_VERIFY",
];

/// The longest push interval: one day.
pub const MAX_PUSH_INTERVAL_SECONDS: f64 = 86_400.0;

/// The shortest push interval: one millisecond, the resolution of
/// remote-write timestamps.
pub const MIN_PUSH_INTERVAL_SECONDS: f64 = 0.001;

/// The longest request timeout and retry backoff: one hour.
pub const MAX_PUSH_TIMEOUT_SECONDS: f64 = 3_600.0;

/// The largest remote-write queue, in samples (about 320 MB of memory, plus
/// the series' labels).
pub const MAX_QUEUE_CAPACITY: usize = 10_000_000;

/// The settings of the push paths (the `[push]` table): a Prometheus
/// remote-write sender and a Pushgateway, each off until configured.
///
/// This crate only holds and checks them; the exporter crate (features
/// `remote-write` and `pushgateway`) does the pushing.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::MetricsConfig;
///
/// let config = MetricsConfig::from_toml_str(r#"
///     [push.remote_write]
///     url = "http://mimir:8080/api/v1/push"
///     interval_seconds = 30
///     [push.remote_write.external_labels]
///     instance = "api-1"
///
///     [push.pushgateway]
///     url = "http://pushgateway:9091"
///     job = "nightly_backup"
/// "#)?;
/// let remote_write = config.push().remote_write().unwrap();
/// assert_eq!(remote_write.url(), "http://mimir:8080/api/v1/push");
/// assert_eq!(remote_write.interval().as_secs(), 30);
/// assert_eq!(config.push().pushgateway().unwrap().job(), "nightly_backup");
///
/// let bad = MetricsConfig::from_toml_str("[push.remote_write]\nurl = \"ftp://x\"");
/// assert!(bad.unwrap_err().to_string().contains("push.remote_write.url"));
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PushConfig {
    remote_write: Option<RemoteWriteConfig>,
    pushgateway: Option<PushgatewayConfig>,
}

impl PushConfig {
    /// The remote-write settings, when the sender is configured.
    pub fn remote_write(&self) -> Option<&RemoteWriteConfig> {
        self.remote_write.as_ref()
    }

    /// The Pushgateway settings, when configured.
    pub fn pushgateway(&self) -> Option<&PushgatewayConfig> {
        self.pushgateway.as_ref()
    }

    /// Checks both sections.
    ///
    /// # Errors
    ///
    /// The errors of [`RemoteWriteConfig::validate`] and
    /// [`PushgatewayConfig::validate`].
    pub fn validate(&self) -> Result<()> {
        if let Some(remote_write) = &self.remote_write {
            remote_write.validate()?;
        }
        if let Some(pushgateway) = &self.pushgateway {
            pushgateway.validate()?;
        }
        Ok(())
    }

    /// Applies one `REMOTE_WRITE_*` or `PUSHGATEWAY_*` variable (`name`
    /// without the prefix); the error says what is wrong with `value`.
    fn set_env(&mut self, name: &str, value: &str) -> std::result::Result<(), String> {
        if let Some(key) = name.strip_prefix("REMOTE_WRITE_") {
            let rw = self
                .remote_write
                .get_or_insert_with(|| RemoteWriteConfig::new(""));
            match key {
                "URL" => rw.url = value.trim().to_owned(),
                "INTERVAL_SECONDS" => rw.interval_seconds = parse_seconds(value)?,
                "TIMEOUT_SECONDS" => rw.timeout_seconds = parse_seconds(value)?,
                "MAX_BACKOFF_SECONDS" => rw.max_backoff_seconds = parse_seconds(value)?,
                "QUEUE_CAPACITY" => rw.queue_capacity = parse_size(value)?,
                "MAX_SAMPLES_PER_REQUEST" => rw.max_samples_per_request = parse_size(value)?,
                "EXTERNAL_LABELS" => rw.external_labels = parse_pairs(value)?,
                "HEADERS" => rw.headers = parse_pairs(value)?,
                _ if key.starts_with("TLS_") => rw
                    .tls
                    .get_or_insert_with(crate::ClientTlsSettings::new)
                    .set_env(&key[4..], value)?,
                _ => {
                    return Err(format!(
                        "unknown variable; the known {ENV_PREFIX}REMOTE_WRITE_* ones are {}",
                        REMOTE_WRITE_ENV.join(", ")
                    ));
                }
            }
        } else if let Some(key) = name.strip_prefix("PUSHGATEWAY_") {
            let pg = self
                .pushgateway
                .get_or_insert_with(|| PushgatewayConfig::new("", ""));
            match key {
                "URL" => pg.url = value.trim().to_owned(),
                "JOB" => pg.job = value.trim().to_owned(),
                "GROUPING" => pg.grouping = parse_pairs(value)?,
                "TIMEOUT_SECONDS" => pg.timeout_seconds = parse_seconds(value)?,
                _ if key.starts_with("TLS_") => pg
                    .tls
                    .get_or_insert_with(crate::ClientTlsSettings::new)
                    .set_env(&key[4..], value)?,
                _ => {
                    return Err(format!(
                        "unknown variable; the known {ENV_PREFIX}PUSHGATEWAY_* ones are {}",
                        PUSHGATEWAY_ENV.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The settings of the Prometheus remote-write sender (the
/// `[push.remote_write]` table).
///
/// Every `interval` the sender takes a snapshot of the registry and queues
/// its samples; it sends them in requests of at most
/// `max_samples_per_request` samples, retrying answers `5xx` and `429` and
/// unreachable receivers with a backoff of at most `max_backoff`. The queue
/// holds `queue_capacity` samples: with `S` series in the registry, an
/// outage of up to `queue_capacity / S × interval` loses nothing, and a
/// longer one drops the oldest samples first.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{MetricsConfig, RemoteWriteConfig};
///
/// let remote_write = RemoteWriteConfig::new("http://prometheus:9090/api/v1/write")
///     .with_interval_seconds(10.0)
///     .with_queue_capacity(50_000)
///     .with_external_label("instance", "api-1");
/// let config = MetricsConfig::new().with_remote_write(remote_write);
/// config.validate()?;
///
/// let bad = RemoteWriteConfig::new("http://prometheus:9090/api/v1/write").with_queue_capacity(0);
/// assert!(bad.validate().unwrap_err().to_string().contains("queue_capacity"));
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteWriteConfig {
    url: String,
    interval_seconds: f64,
    timeout_seconds: f64,
    queue_capacity: usize,
    max_samples_per_request: usize,
    #[serde(deserialize_with = "deserialize_labels")]
    external_labels: Vec<(String, String)>,
    max_backoff_seconds: f64,
    #[serde(deserialize_with = "deserialize_labels")]
    headers: Vec<(String, String)>,
    tls: Option<crate::ClientTlsSettings>,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self::new("")
    }
}

impl RemoteWriteConfig {
    /// The default interval between snapshots, in seconds.
    pub const DEFAULT_INTERVAL_SECONDS: f64 = 15.0;
    /// The default request timeout, in seconds.
    pub const DEFAULT_TIMEOUT_SECONDS: f64 = 10.0;
    /// The default queue capacity, in samples.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 100_000;
    /// The default number of samples per request.
    pub const DEFAULT_MAX_SAMPLES_PER_REQUEST: usize = 2_000;
    /// The default longest wait between retries, in seconds.
    pub const DEFAULT_MAX_BACKOFF_SECONDS: f64 = 5.0;

    /// Settings for sending to `url` (such as
    /// `http://prometheus:9090/api/v1/write`), with the defaults: a snapshot
    /// every 15 s, 10 s timeout, 100 000 queued samples, 2 000 samples per
    /// request, no external labels, retries at most 5 s apart.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            interval_seconds: Self::DEFAULT_INTERVAL_SECONDS,
            timeout_seconds: Self::DEFAULT_TIMEOUT_SECONDS,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_samples_per_request: Self::DEFAULT_MAX_SAMPLES_PER_REQUEST,
            external_labels: Vec::new(),
            max_backoff_seconds: Self::DEFAULT_MAX_BACKOFF_SECONDS,
            headers: Vec::new(),
            tls: None,
        }
    }

    /// Sets how an `https://` receiver is verified and the client
    /// certificate shown to it (the `[push.remote_write.tls]` table).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<crate::ClientTlsSettings>) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS settings, when configured.
    pub fn tls(&self) -> Option<&crate::ClientTlsSettings> {
        self.tls.as_ref()
    }

    /// Sets the seconds between snapshots.
    #[must_use]
    pub fn with_interval_seconds(mut self, seconds: f64) -> Self {
        self.interval_seconds = seconds;
        self
    }

    /// Sets the seconds one request may take.
    #[must_use]
    pub fn with_timeout_seconds(mut self, seconds: f64) -> Self {
        self.timeout_seconds = seconds;
        self
    }

    /// Sets how many samples the queue holds while the receiver is unreachable.
    #[must_use]
    pub fn with_queue_capacity(mut self, samples: usize) -> Self {
        self.queue_capacity = samples;
        self
    }

    /// Sets the most samples sent in one request.
    #[must_use]
    pub fn with_max_samples_per_request(mut self, samples: usize) -> Self {
        self.max_samples_per_request = samples;
        self
    }

    /// Adds a label set on every series sent (such as `instance`, `job`),
    /// unless the series has a label of that name already.
    #[must_use]
    pub fn with_external_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.external_labels.push((name.into(), value.into()));
        self
    }

    /// Sets the longest wait between two retries, in seconds.
    #[must_use]
    pub fn with_max_backoff_seconds(mut self, seconds: f64) -> Self {
        self.max_backoff_seconds = seconds;
        self
    }

    /// Adds an HTTP header sent with every request, such as the tenant
    /// header `X-Scope-OrgID` of Mimir and Cortex or `THANOS-TENANT` of
    /// Thanos Receive. The protocol's own headers cannot be overridden.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The extra HTTP headers sent with every request, in the order given.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The seconds between snapshots, as given.
    pub fn interval_seconds(&self) -> f64 {
        self.interval_seconds
    }

    /// The time between snapshots (the default when the value is invalid).
    pub fn interval(&self) -> Duration {
        seconds(self.interval_seconds, Self::DEFAULT_INTERVAL_SECONDS)
    }

    /// The seconds one request may take, as given.
    pub fn timeout_seconds(&self) -> f64 {
        self.timeout_seconds
    }

    /// The time one request may take (the default when the value is invalid).
    pub fn timeout(&self) -> Duration {
        seconds(self.timeout_seconds, Self::DEFAULT_TIMEOUT_SECONDS)
    }

    /// How many samples the queue holds.
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// The most samples sent in one request.
    pub fn max_samples_per_request(&self) -> usize {
        self.max_samples_per_request
    }

    /// The labels added to every series, in the order given.
    pub fn external_labels(&self) -> &[(String, String)] {
        &self.external_labels
    }

    /// The longest wait between two retries, in seconds, as given.
    pub fn max_backoff_seconds(&self) -> f64 {
        self.max_backoff_seconds
    }

    /// The longest wait between two retries (the default when the value is
    /// invalid).
    pub fn max_backoff(&self) -> Duration {
        seconds(self.max_backoff_seconds, Self::DEFAULT_MAX_BACKOFF_SECONDS)
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a URL that is empty, not `http://` or
    /// `https://`, without a host, with a bad port or with whitespace;
    /// [`Error::InvalidDuration`] for an interval outside
    /// [`MIN_PUSH_INTERVAL_SECONDS`]..=[`MAX_PUSH_INTERVAL_SECONDS`] or a
    /// timeout or backoff outside (0, [`MAX_PUSH_TIMEOUT_SECONDS`]];
    /// [`Error::InvalidSize`] for a queue capacity outside
    /// 1..=[`MAX_QUEUE_CAPACITY`] or a request size outside
    /// 1..=`queue_capacity`; [`Error::InvalidLabelName`] and
    /// [`Error::DuplicateLabel`] for the external labels;
    /// [`Error::InvalidHeader`] for a header name that is not an HTTP token,
    /// is repeated or is one the protocol sets, or a value with control
    /// characters or non-ASCII text.
    pub fn validate(&self) -> Result<()> {
        check_url("push.remote_write.url", &self.url, true)?;
        if let Some(tls) = &self.tls {
            tls.validate("push.remote_write.tls")?;
        }
        check_seconds(
            "push.remote_write.interval_seconds",
            self.interval_seconds,
            MIN_PUSH_INTERVAL_SECONDS,
            MAX_PUSH_INTERVAL_SECONDS,
        )?;
        check_seconds(
            "push.remote_write.timeout_seconds",
            self.timeout_seconds,
            0.0,
            MAX_PUSH_TIMEOUT_SECONDS,
        )?;
        check_seconds(
            "push.remote_write.max_backoff_seconds",
            self.max_backoff_seconds,
            0.0,
            MAX_PUSH_TIMEOUT_SECONDS,
        )?;
        check_size(
            "push.remote_write.queue_capacity",
            self.queue_capacity,
            MAX_QUEUE_CAPACITY,
        )?;
        check_size(
            "push.remote_write.max_samples_per_request",
            self.max_samples_per_request,
            self.queue_capacity.clamp(1, MAX_QUEUE_CAPACITY),
        )?;
        check_label_set(
            "push.remote_write.external_labels",
            &self.external_labels,
            &[],
        )?;
        check_headers("push.remote_write.headers", &self.headers)
    }
}

/// The headers a remote-write request sets itself.
const PROTOCOL_HEADERS: &[&str] = &[
    "content-encoding",
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "x-prometheus-remote-write-version",
];

fn check_headers(field: &'static str, headers: &[(String, String)]) -> Result<()> {
    let mut seen = HashSet::new();
    for (name, value) in headers {
        let invalid = |reason| Error::InvalidHeader {
            field,
            name: name.clone(),
            reason,
        };
        let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(invalid(
                "a header name is one or more letters, digits and `-` (an HTTP token)",
            ));
        }
        let lower = name.to_ascii_lowercase();
        if PROTOCOL_HEADERS.contains(&lower.as_str()) {
            return Err(invalid("the sender sets this header itself; leave it out"));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(invalid(
                "header values may only hold printable ASCII characters, spaces and tabs",
            ));
        }
        if !seen.insert(lower) {
            return Err(invalid("the header is given twice (names ignore case)"));
        }
    }
    Ok(())
}

/// The settings of pushing to a Prometheus Pushgateway (the
/// `[push.pushgateway]` table): where, and under which grouping key (the
/// job and further labels).
///
/// # Examples
///
/// ```
/// use incident_metrics_core::PushgatewayConfig;
///
/// let config = PushgatewayConfig::new("http://pushgateway:9091", "nightly_backup")
///     .with_grouping_label("instance", "db-1");
/// config.validate()?;
/// assert_eq!(config.grouping(), [("instance".to_owned(), "db-1".to_owned())]);
///
/// let bad = PushgatewayConfig::new("http://pushgateway:9091", "");
/// assert!(bad.validate().unwrap_err().to_string().contains("push.pushgateway.job"));
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PushgatewayConfig {
    url: String,
    job: String,
    #[serde(deserialize_with = "deserialize_labels")]
    grouping: Vec<(String, String)>,
    timeout_seconds: f64,
    tls: Option<crate::ClientTlsSettings>,
}

impl Default for PushgatewayConfig {
    fn default() -> Self {
        Self::new("", "")
    }
}

impl PushgatewayConfig {
    /// The default request timeout, in seconds.
    pub const DEFAULT_TIMEOUT_SECONDS: f64 = 10.0;

    /// Settings for pushing to the Pushgateway at `url` (such as
    /// `http://pushgateway:9091`) under `job`, with no further grouping
    /// labels and a 10 s timeout.
    pub fn new(url: impl Into<String>, job: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            job: job.into(),
            grouping: Vec::new(),
            timeout_seconds: Self::DEFAULT_TIMEOUT_SECONDS,
            tls: None,
        }
    }

    /// Sets how an `https://` Pushgateway is verified and the client
    /// certificate shown to it (the `[push.pushgateway.tls]` table).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<crate::ClientTlsSettings>) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS settings, when configured.
    pub fn tls(&self) -> Option<&crate::ClientTlsSettings> {
        self.tls.as_ref()
    }

    /// Adds a label to the grouping key (any value, `/` and empty included).
    #[must_use]
    pub fn with_grouping_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }

    /// Sets the seconds one request may take.
    #[must_use]
    pub fn with_timeout_seconds(mut self, seconds: f64) -> Self {
        self.timeout_seconds = seconds;
        self
    }

    /// The Pushgateway's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The job name of the grouping key.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The further labels of the grouping key, in the order given.
    pub fn grouping(&self) -> &[(String, String)] {
        &self.grouping
    }

    /// The seconds one request may take, as given.
    pub fn timeout_seconds(&self) -> f64 {
        self.timeout_seconds
    }

    /// The time one request may take (the default when the value is invalid).
    pub fn timeout(&self) -> Duration {
        seconds(self.timeout_seconds, Self::DEFAULT_TIMEOUT_SECONDS)
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a URL that is empty, not `http://` or
    /// `https://`, without a host, with a bad port, with whitespace or with a
    /// query string; [`Error::InvalidJob`] for an empty job;
    /// [`Error::InvalidLabelName`] for a grouping label that breaks the
    /// naming rules or is `job`; [`Error::DuplicateLabel`];
    /// [`Error::InvalidDuration`] for a timeout outside
    /// (0, [`MAX_PUSH_TIMEOUT_SECONDS`]].
    pub fn validate(&self) -> Result<()> {
        check_url("push.pushgateway.url", &self.url, false)?;
        if let Some(tls) = &self.tls {
            tls.validate("push.pushgateway.tls")?;
        }
        if self.job.is_empty() {
            return Err(Error::InvalidJob {
                job: self.job.clone(),
            });
        }
        check_label_set("push.pushgateway.grouping", &self.grouping, &["job"])?;
        check_seconds(
            "push.pushgateway.timeout_seconds",
            self.timeout_seconds,
            0.0,
            MAX_PUSH_TIMEOUT_SECONDS,
        )
    }
}

/// `value` seconds as a `Duration`, or `default` seconds when `value` is
/// negative, not finite or too large.
fn seconds(value: f64, default: f64) -> Duration {
    Duration::try_from_secs_f64(value)
        .or_else(|_| Duration::try_from_secs_f64(default))
        .unwrap_or_default()
}

/// Checks `min <= value <= max`, where a `min` of 0 is exclusive.
fn check_seconds(field: &'static str, value: f64, min: f64, max: f64) -> Result<()> {
    let above_min = if min == 0.0 {
        value > 0.0
    } else {
        value >= min
    };
    if above_min && value <= max {
        Ok(())
    } else {
        Err(Error::InvalidDuration {
            field,
            value,
            min,
            max,
        })
    }
}

fn check_size(field: &'static str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidSize {
            field,
            value,
            min: 1,
            max,
        })
    }
}

fn check_label_set(
    field: &'static str,
    labels: &[(String, String)],
    reserved: &[&str],
) -> Result<()> {
    let mut seen = HashSet::new();
    for (name, _) in labels {
        let reason = label_name_problem(name).or_else(|| {
            reserved
                .contains(&name.as_str())
                .then_some("this label is set elsewhere (the job has its own field)")
        });
        if let Some(reason) = reason {
            return Err(Error::InvalidLabelName {
                field: field.to_owned(),
                name: name.clone(),
                reason,
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(Error::DuplicateLabel {
                field,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

fn check_url(field: &'static str, url: &str, allow_query: bool) -> Result<()> {
    match url_problem(url, allow_query) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidUrl {
            field,
            url: url.to_owned(),
            reason,
        }),
    }
}

/// Why `url` is not an `http://` or `https://` URL with a host, if it is not.
fn url_problem(url: &str, allow_query: bool) -> Option<&'static str> {
    if url.is_empty() {
        return Some("give the URL, such as \"http://host:9090/api/v1/write\"");
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Some("the URL must not hold whitespace, control or non-ASCII characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("the URL must start with http:// or https://");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Some("the URL must start with http:// or https://");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Some("credentials in the URL are not supported; leave out `user:password@`");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, after)) if !host.is_empty() => match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Some("the URL's host is malformed"),
                },
            },
            _ => return Some("the URL's IPv6 host is malformed; use [::1]:9090"),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Some("the URL has no host");
    }
    if let Some(port) = port
        && (!matches!(port.parse::<u32>(), Ok(1..=65535))
            || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("the URL's port must be a number from 1 to 65535");
    }
    if tail.contains('#') {
        return Some("the URL must not hold a fragment (`#...`)");
    }
    if !allow_query && tail.contains('?') {
        return Some(
            "the URL must not hold a query string: the grouping key is appended as a path",
        );
    }
    None
}

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

    const RW_URL: &str = "http://127.0.0.1:9090/api/v1/write";

    fn rw(c: RemoteWriteConfig) -> String {
        err(&MetricsConfig::new().with_remote_write(c))
    }

    fn pg(c: PushgatewayConfig) -> String {
        err(&MetricsConfig::new().with_pushgateway(c))
    }

    #[test]
    fn push_is_off_by_default_and_defaults_are_valid() {
        let c = MetricsConfig::new();
        assert_eq!(c.push().remote_write(), None);
        assert_eq!(c.push().pushgateway(), None);
        let r = RemoteWriteConfig::new(RW_URL);
        assert!(r.validate().is_ok());
        assert_eq!(r.interval(), Duration::from_secs(15));
        assert_eq!(r.timeout(), Duration::from_secs(10));
        assert_eq!(r.max_backoff(), Duration::from_secs(5));
        assert_eq!(r.queue_capacity(), 100_000);
        assert_eq!(r.max_samples_per_request(), 2_000);
        let p = PushgatewayConfig::new("http://pg:9091", "job");
        assert!(p.validate().is_ok());
        assert_eq!(p.timeout(), Duration::from_secs(10));
        // Invalid numbers never panic when read as durations.
        let odd = RemoteWriteConfig::new(RW_URL).with_interval_seconds(f64::NAN);
        assert_eq!(odd.interval(), Duration::from_secs(15));
    }

    #[test]
    fn accepts_good_urls() {
        for url in [
            "http://localhost/api/v1/write",
            "https://mimir.example.com/api/v1/push",
            "HTTP://10.0.0.1:8428/api/v1/write",
            "http://[::1]:9090/api/v1/write",
            "http://[::1]/x",
            "http://vm:8428/api/v1/write?extra_label=dc=eu",
            "http://host:65535",
        ] {
            let c = RemoteWriteConfig::new(url);
            assert!(c.validate().is_ok(), "{url}: {:?}", c.validate());
        }
        assert!(
            PushgatewayConfig::new("http://pg:9091/prefix", "j")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_bad_push_urls() {
        let cases = [
            ("", "give the URL"),
            ("localhost:9090/api/v1/write", "http:// or https://"),
            ("ftp://host/x", "http:// or https://"),
            ("http://", "no host"),
            ("http:///api/v1/write", "no host"),
            ("http://:9090/x", "no host"),
            ("http://host:0/x", "port"),
            ("http://host:65536/x", "port"),
            ("http://host:/x", "port"),
            ("http://host:90a/x", "port"),
            ("http://host:+90/x", "port"),
            ("http://ho st/x", "whitespace"),
            ("http://host/x\n", "whitespace"),
            (" http://host/x", "whitespace"),
            ("http://hôst/x", "non-ASCII"),
            ("http://user:pw@host/x", "credentials"),
            ("http://[::1/x", "IPv6"),
            ("http://[::1]x/x", "malformed"),
            ("http://host/x#frag", "fragment"),
        ];
        for (url, needle) in cases {
            let msg = rw(RemoteWriteConfig::new(url));
            assert!(
                msg.starts_with("invalid `push.remote_write.url`"),
                "{url}: {msg}"
            );
            assert!(msg.contains(needle), "{url}: {msg}");
            let msg = pg(PushgatewayConfig::new(url, "job"));
            assert!(
                msg.starts_with("invalid `push.pushgateway.url`"),
                "{url}: {msg}"
            );
        }
        let msg = pg(PushgatewayConfig::new("http://pg:9091/?x=1", "job"));
        assert!(msg.contains("query string"), "{msg}");
    }

    #[test]
    fn rejects_bad_push_durations() {
        let base = || RemoteWriteConfig::new(RW_URL);
        for bad in [0.0, -1.0, 0.0005, 86_400.5, f64::NAN, f64::INFINITY] {
            let msg = rw(base().with_interval_seconds(bad));
            assert!(
                msg.contains("`push.remote_write.interval_seconds`"),
                "{msg}"
            );
            assert!(msg.contains("from 0.001 to 86400"), "{msg}");
        }
        for bad in [0.0, -0.5, 3_600.5, f64::NAN, f64::INFINITY] {
            let msg = rw(base().with_timeout_seconds(bad));
            assert!(msg.contains("`push.remote_write.timeout_seconds`"), "{msg}");
            let msg = rw(base().with_max_backoff_seconds(bad));
            assert!(
                msg.contains("`push.remote_write.max_backoff_seconds`"),
                "{msg}"
            );
            let msg = pg(PushgatewayConfig::new("http://pg:9091", "j").with_timeout_seconds(bad));
            assert!(msg.contains("`push.pushgateway.timeout_seconds`"), "{msg}");
        }
        for ok in [0.001, 0.2, 86_400.0] {
            assert!(base().with_interval_seconds(ok).validate().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_queue_sizes() {
        let base = || RemoteWriteConfig::new(RW_URL);
        for bad in [0, MAX_QUEUE_CAPACITY + 1] {
            let msg = rw(base().with_queue_capacity(bad));
            assert!(msg.contains("`push.remote_write.queue_capacity`"), "{msg}");
        }
        let msg = rw(base().with_max_samples_per_request(0));
        assert!(
            msg.contains("`push.remote_write.max_samples_per_request` 0"),
            "{msg}"
        );
        // A request may not be larger than the queue.
        let msg = rw(base()
            .with_queue_capacity(100)
            .with_max_samples_per_request(101));
        assert!(msg.contains("from 1 to 100"), "{msg}");
        assert!(
            base()
                .with_queue_capacity(100)
                .with_max_samples_per_request(100)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_bad_push_labels() {
        for name in ["", "9x", "a-b", "__name__"] {
            let msg = rw(RemoteWriteConfig::new(RW_URL).with_external_label(name, "v"));
            assert!(msg.contains("`push.remote_write.external_labels`"), "{msg}");
            let msg =
                pg(PushgatewayConfig::new("http://pg:9091", "j").with_grouping_label(name, "v"));
            assert!(msg.contains("`push.pushgateway.grouping`"), "{msg}");
        }
        let msg = rw(RemoteWriteConfig::new(RW_URL)
            .with_external_label("job", "a")
            .with_external_label("job", "b"));
        assert!(msg.contains("duplicate label \"job\""), "{msg}");
        let msg = pg(PushgatewayConfig::new("http://pg:9091", "j").with_grouping_label("job", "x"));
        assert!(
            msg.contains("\"job\"") && msg.contains("own field"),
            "{msg}"
        );
        let msg = pg(PushgatewayConfig::new("http://pg:9091", ""));
        assert!(msg.contains("`push.pushgateway.job`"), "{msg}");
        // Any value goes: it is escaped on the way out.
        assert!(
            PushgatewayConfig::new("http://pg:9091", "a/b")
                .with_grouping_label("path", "/x/y")
                .with_grouping_label("empty", "")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_bad_push_headers() {
        let base = || RemoteWriteConfig::new(RW_URL);
        assert!(
            base()
                .with_header("X-Scope-OrgID", "tenant 1")
                .with_header("THANOS-TENANT", "")
                .validate()
                .is_ok()
        );
        let cases = [
            ("", "v", "HTTP token"),
            ("X Scope", "v", "HTTP token"),
            ("X:Scope", "v", "HTTP token"),
            ("Ünicode", "v", "HTTP token"),
            ("Content-Encoding", "gzip", "sets this header itself"),
            ("content-type", "text/plain", "sets this header itself"),
            (
                "X-Prometheus-Remote-Write-Version",
                "2.0.0",
                "sets this header itself",
            ),
            ("Host", "x", "sets this header itself"),
            ("X-A", "line\nbreak", "printable ASCII"),
            ("X-A", "nul\0", "printable ASCII"),
            ("X-A", "ü", "printable ASCII"),
        ];
        for (name, value, needle) in cases {
            let msg = rw(base().with_header(name, value));
            assert!(msg.contains("`push.remote_write.headers`"), "{name}: {msg}");
            assert!(msg.contains(needle), "{name}: {msg}");
        }
        let msg = rw(base().with_header("X-A", "1").with_header("x-a", "2"));
        assert!(msg.contains("given twice"), "{msg}");
    }

    #[test]
    fn loads_push_toml() {
        let c = MetricsConfig::from_toml_str(
            r#"
            [push.remote_write]
            url = "http://vm:8428/api/v1/write"
            interval_seconds = 0.5
            timeout_seconds = 2
            queue_capacity = 1000
            max_samples_per_request = 100
            max_backoff_seconds = 1.5
            [push.remote_write.external_labels]
            instance = "a"
            job = "svc"
            [push.remote_write.headers]
            X-Scope-OrgID = "tenant-1"
            [push.pushgateway]
            url = "http://pg:9091"
            job = "batch"
            timeout_seconds = 3
            [push.pushgateway.grouping]
            instance = "x/y"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = c
            .push()
            .remote_write()
            .unwrap_or_else(|| panic!("no remote_write"));
        assert_eq!(r.url(), "http://vm:8428/api/v1/write");
        assert_eq!(r.interval(), Duration::from_millis(500));
        assert_eq!(r.timeout(), Duration::from_secs(2));
        assert_eq!(r.queue_capacity(), 1000);
        assert_eq!(r.max_samples_per_request(), 100);
        assert_eq!(r.max_backoff(), Duration::from_millis(1500));
        assert_eq!(r.external_labels().len(), 2);
        assert_eq!(
            r.headers(),
            [("X-Scope-OrgID".to_owned(), "tenant-1".to_owned())]
        );
        let p = c
            .push()
            .pushgateway()
            .unwrap_or_else(|| panic!("no pushgateway"));
        assert_eq!((p.url(), p.job()), ("http://pg:9091", "batch"));
        assert_eq!(p.grouping(), [("instance".to_owned(), "x/y".to_owned())]);
        assert_eq!(p.timeout(), Duration::from_secs(3));
    }

    #[test]
    fn push_toml_errors_are_clear() {
        let cases = [
            (
                "[push.remote_write]\nurl = \"http://x/\"\nintervall_seconds = 1",
                "intervall_seconds",
            ),
            (
                "[push.remote_write]\ninterval_seconds = 1",
                "push.remote_write.url",
            ),
            (
                "[push.remote_write]\nurl = \"http://x/\"\nqueue_capacity = -1",
                "queue_capacity",
            ),
            (
                "[push.remote_write]\nurl = \"http://x/\"\nqueue_capacity = 0",
                "queue_capacity",
            ),
            (
                "[push.pushgateway]\nurl = \"http://x/\"",
                "push.pushgateway.job",
            ),
            ("[push.pushgatewy]\nurl = \"http://x/\"", "pushgatewy"),
        ];
        for (text, needle) in cases {
            let msg = MetricsConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(msg.contains(needle), "{text}: {msg}");
        }
    }

    #[test]
    fn loads_push_env_vars() {
        let c = MetricsConfig::new()
            .with_env_vars([
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_URL",
                    " http://p:9090/api/v1/write ",
                ),
                ("INCIDENT_METRICS_REMOTE_WRITE_INTERVAL_SECONDS", "0.25"),
                ("INCIDENT_METRICS_REMOTE_WRITE_TIMEOUT_SECONDS", "3"),
                ("INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY", "5000"),
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_MAX_SAMPLES_PER_REQUEST",
                    "500",
                ),
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_EXTERNAL_LABELS",
                    "instance=a, job=b",
                ),
                ("INCIDENT_METRICS_REMOTE_WRITE_MAX_BACKOFF_SECONDS", "2"),
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_HEADERS",
                    "X-Scope-OrgID=tenant-1",
                ),
                ("INCIDENT_METRICS_PUSHGATEWAY_URL", "http://pg:9091"),
                ("INCIDENT_METRICS_PUSHGATEWAY_JOB", "batch"),
                ("INCIDENT_METRICS_PUSHGATEWAY_GROUPING", "instance=x"),
                ("INCIDENT_METRICS_PUSHGATEWAY_TIMEOUT_SECONDS", "4"),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let r = c
            .push()
            .remote_write()
            .unwrap_or_else(|| panic!("no remote_write"));
        assert_eq!(r.url(), "http://p:9090/api/v1/write");
        assert_eq!(r.interval(), Duration::from_millis(250));
        assert_eq!(r.timeout(), Duration::from_secs(3));
        assert_eq!(r.queue_capacity(), 5000);
        assert_eq!(r.max_samples_per_request(), 500);
        assert_eq!(r.max_backoff(), Duration::from_secs(2));
        assert_eq!(
            r.headers(),
            [("X-Scope-OrgID".to_owned(), "tenant-1".to_owned())]
        );
        assert_eq!(
            r.external_labels(),
            [
                ("instance".to_owned(), "a".to_owned()),
                ("job".to_owned(), "b".to_owned())
            ]
        );
        let p = c
            .push()
            .pushgateway()
            .unwrap_or_else(|| panic!("no pushgateway"));
        assert_eq!((p.url(), p.job()), ("http://pg:9091", "batch"));
        assert_eq!(p.grouping().len(), 1);
        assert_eq!(p.timeout(), Duration::from_secs(4));
    }

    #[test]
    fn push_env_errors_name_the_variable() {
        let url = ("INCIDENT_METRICS_REMOTE_WRITE_URL", "http://p/x");
        let cases = [
            (
                "INCIDENT_METRICS_REMOTE_WRITE_INTERVAL_SECONDS",
                "soon",
                "number of seconds",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_INTERVAL_SECONDS",
                "0",
                "interval_seconds` 0",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_TIMEOUT_SECONDS",
                "-1",
                "timeout_seconds` -1",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY",
                "-5",
                "whole number",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY",
                "0",
                "queue_capacity` 0",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_MAX_SAMPLES_PER_REQUEST",
                "1.5",
                "whole number",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_EXTERNAL_LABELS",
                "a",
                "`name=value`",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_EXTERNAL_LABELS",
                "a=1,a=2",
                "duplicate label",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_MAX_BACKOFF_SECONDS",
                "x",
                "number of seconds",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_URLL",
                "x",
                "REMOTE_WRITE_* ones are URL",
            ),
            (
                "INCIDENT_METRICS_PUSHGATEWAY_JOBS",
                "x",
                "PUSHGATEWAY_* ones are URL, JOB",
            ),
        ];
        for (var, value, needle) in cases {
            let msg = MetricsConfig::new()
                .with_env_vars([url, (var, value)])
                .unwrap_err()
                .to_string();
            assert!(msg.contains(needle), "{var}={value}: {msg}");
        }
        // A section turned on without its URL (or job) says so.
        let msg = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY", "10")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("push.remote_write.url"), "{msg}");
        let msg = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_PUSHGATEWAY_URL", "http://pg:9091")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("push.pushgateway.job"), "{msg}");
        let msg = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_PUSH", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("REMOTE_WRITE_{URL,") && msg.contains("PUSHGATEWAY_{URL,"),
            "{msg}"
        );
    }
}
