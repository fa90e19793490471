//! [`Config`]: the whole toolkit's configuration, one TOML file and one set
//! of `INCIDENT_METRICS_*` variables, handed part by part to its owner.

use std::path::{Path, PathBuf};

use incident_metrics_core::{ENV_PREFIX, MetricsConfig};
use incident_metrics_exporter::{PushConfig, ServerConfig};
use serde::{Deserialize, Deserializer};

/// Why a [`Config`] could not be loaded or is invalid. Every message names
/// the key, table or variable at fault and says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read metrics configuration file {}: {source}", path.display())]
    Read {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The text is not valid TOML for a [`Config`]: malformed, a value of
    /// the wrong type, or an unknown key (named in the message).
    #[error("cannot parse metrics configuration{}: {source}", path.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file that was parsed, if the text came from a file.
        path: Option<PathBuf>,
        /// The TOML error, which names the key.
        #[source]
        source: Box<toml::de::Error>,
    },

    /// An `INCIDENT_METRICS_*` variable that no part of the toolkit reads.
    #[error(
        "unknown environment variable {var}: the known ones are {ENV_PREFIX}{known} \
         (check the spelling, or remove it)"
    )]
    UnknownEnv {
        /// The variable's name.
        var: String,
        /// The known names after the prefix, comma-separated.
        known: String,
    },

    /// The recording part (top-level keys) is invalid.
    #[error(transparent)]
    Metrics(#[from] incident_metrics_core::Error),

    /// The server (`[server]`) or push (`[push]`) part is invalid.
    #[error(transparent)]
    Exporter(#[from] incident_metrics_exporter::Error),
}

/// The whole toolkit's configuration, composed of its owners' parts:
///
/// - [`MetricsConfig`] (core): what is recorded and how, the top-level keys
///   (`enabled`, `namespace`, `endpoint`, `sample_rate`, `excluded_paths`,
///   `[global_labels]`, `[buckets]`, `cardinality_limit`,
///   `[cardinality_limits]`, `exemplars`);
/// - [`ServerConfig`] (exporter): how `/metrics` is served and guarded, the
///   `[server]` table (`listen_addr`, scrape limits, `[server.auth]`,
///   `[server.tls]`);
/// - [`PushConfig`] (exporter): remote-write and Pushgateway, the `[push]`
///   table (`[push.remote_write]`, `[push.pushgateway]`, their `tls`).
///
/// One TOML file ([`from_toml_str`](Self::from_toml_str),
/// [`from_toml_file`](Self::from_toml_file)) and one set of
/// `INCIDENT_METRICS_*` variables ([`with_env`](Self::with_env)) configure
/// all three: each part reads its own keys and variables, and a key or a
/// variable that no part reads is an error naming it. It also deserializes
/// with serde, so that a service can embed it as a table of its own file
/// (the reference service reads it from `[metrics]`).
///
/// # Examples
///
/// ```
/// use incident_metrics::Config;
///
/// let config = Config::from_toml_str(r#"
///     sample_rate = 0.5
///     [global_labels]
///     env = "production"
///
///     [server]
///     max_concurrent_scrapes = 2
///     [server.auth]
///     bearer_token_file = "/run/secrets/metrics_token"
///
///     [push.remote_write]
///     url = "http://mimir:8080/api/v1/push"
///     min_backoff_seconds = 0.1
/// "#)?
/// .with_env_vars([("INCIDENT_METRICS_SERVER_MAX_CONCURRENT_SCRAPES", "8")])?;
/// assert_eq!(config.metrics().sample_rate(), 0.5);
/// assert_eq!(config.server().max_concurrent_scrapes(), 8); // the variable wins
/// let remote_write = config.push().remote_write().unwrap();
/// assert_eq!(remote_write.min_backoff().as_millis(), 100);
///
/// let typo = Config::from_toml_str("[server]\nmax_concurent_scrapes = 2");
/// assert!(typo.unwrap_err().to_string().contains("max_concurent_scrapes"));
/// # Ok::<(), incident_metrics::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    metrics: MetricsConfig,
    server: ServerConfig,
    push: PushConfig,
}

impl Config {
    /// The defaults of every part: everything recorded, `/metrics` on the
    /// service's own port without auth, nothing pushed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces what is recorded and how.
    #[must_use]
    pub fn with_metrics(mut self, metrics: MetricsConfig) -> Self {
        self.metrics = metrics;
        self
    }

    /// Replaces how `/metrics` is served and guarded (the `[server]` table).
    #[must_use]
    pub fn with_server(mut self, server: ServerConfig) -> Self {
        self.server = server;
        self
    }

    /// Replaces the push settings (the `[push]` table).
    #[must_use]
    pub fn with_push(mut self, push: PushConfig) -> Self {
        self.push = push;
        self
    }

    /// What is recorded and how (the top-level keys).
    pub fn metrics(&self) -> &MetricsConfig {
        &self.metrics
    }

    /// How `/metrics` is served and guarded (the `[server]` table).
    pub fn server(&self) -> &ServerConfig {
        &self.server
    }

    /// The push settings (the `[push]` table).
    pub fn push(&self) -> &PushConfig {
        &self.push
    }

    /// The three parts, to hand each to its owner.
    pub fn into_parts(self) -> (MetricsConfig, ServerConfig, PushConfig) {
        (self.metrics, self.server, self.push)
    }

    /// Checks every part.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Metrics`] with the error of
    /// [`MetricsConfig::validate`], or [`ConfigError::Exporter`] with the
    /// error of [`ServerConfig::validate`] or [`PushConfig::validate`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.metrics.validate()?;
        self.server.validate()?;
        self.push.validate()?;
        Ok(())
    }

    /// Parses and validates a TOML document: the top-level keys of
    /// [`MetricsConfig`], the `[server]` table and the `[push]` table.
    /// Every key is optional; unknown keys are errors naming the key.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] for malformed TOML, a value of the wrong type
    /// or an unknown key, and any error of [`validate`](Self::validate).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse_toml(text, None)
    }

    /// Reads, parses and validates a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when the file cannot be read, and the errors
    /// of [`from_toml_str`](Self::from_toml_str).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_toml(&text, Some(path))
    }

    fn parse_toml(text: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.map(Path::to_owned),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults overridden by the process's `INCIDENT_METRICS_*`
    /// variables, validated.
    ///
    /// # Errors
    ///
    /// The errors of [`with_env_vars`](Self::with_env_vars).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new().with_env()
    }

    /// This configuration overridden by the process's `INCIDENT_METRICS_*`
    /// variables, validated. Use it after loading a file, so that the
    /// environment wins over the file.
    ///
    /// # Errors
    ///
    /// The errors of [`with_env_vars`](Self::with_env_vars).
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_env_vars(incident_metrics_core::env::vars())
    }

    /// This configuration overridden by the given variables, validated.
    /// Variables without the `INCIDENT_METRICS_` prefix are ignored; each
    /// other one goes to the part that reads it:
    /// [`MetricsConfig::with_env_vars`] (`ENABLED`, `SAMPLE_RATE`, ...),
    /// [`ServerConfig::with_env_vars`] (`SERVER_*`, `BEARER_TOKEN*`,
    /// `BASIC_AUTH_*`) and [`PushConfig::with_env_vars`]
    /// (`REMOTE_WRITE_*`, `PUSHGATEWAY_*`), whose docs list them.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownEnv`] for a variable no part reads, and the
    /// errors of each part's `with_env_vars` (a value that cannot be
    /// parsed, names the variable) and of [`validate`](Self::validate).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics::Config;
    ///
    /// let config = Config::new().with_env_vars([
    ///     ("INCIDENT_METRICS_SAMPLE_RATE", "0.25"),
    ///     ("INCIDENT_METRICS_BEARER_TOKEN", "s3cr3t"),
    ///     ("INCIDENT_METRICS_PUSHGATEWAY_URL", "http://pushgateway:9091"),
    ///     ("INCIDENT_METRICS_PUSHGATEWAY_JOB", "nightly_backup"),
    ///     ("PATH", "/usr/bin"), // not ours: ignored
    /// ])?;
    /// assert_eq!(config.metrics().sample_rate(), 0.25);
    /// assert!(config.server().auth().is_some());
    /// assert_eq!(config.push().pushgateway().unwrap().job(), "nightly_backup");
    ///
    /// let typo = Config::new().with_env_vars([("INCIDENT_METRICS_SAMPLE_RAT", "1")]);
    /// assert!(typo.unwrap_err().to_string().contains("INCIDENT_METRICS_SAMPLE_RAT"));
    /// # Ok::<(), incident_metrics::ConfigError>(())
    /// ```
    pub fn with_env_vars<I, K, V>(self, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let (mut metrics, mut server, mut push) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            if !key.starts_with(ENV_PREFIX) {
                continue;
            }
            let owner = if ServerConfig::reads_env(key) {
                &mut server
            } else if PushConfig::reads_env(key) {
                &mut push
            } else if MetricsConfig::reads_env(key) {
                &mut metrics
            } else {
                return Err(ConfigError::UnknownEnv {
                    var: key.to_owned(),
                    known: known_env(),
                });
            };
            owner.push((key.to_owned(), value.to_owned()));
        }
        let config = Self {
            metrics: self.metrics.with_env_vars(metrics)?,
            server: self.server.with_env_vars(server)?,
            push: self.push.with_env_vars(push)?,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Every part's variables, for [`ConfigError::UnknownEnv`].
fn known_env() -> String {
    let mut names: Vec<String> = MetricsConfig::env_names()
        .iter()
        .chain(ServerConfig::env_names())
        .map(|name| (*name).to_owned())
        .collect();
    names.extend(PushConfig::env_names());
    names.join(", ")
}

impl<'de> Deserialize<'de> for Config {
    /// Reads the `server` and `push` tables into their parts and every other
    /// key into [`MetricsConfig`], whose unknown keys are errors.
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        #[derive(Deserialize)]
        struct Parts {
            #[serde(default)]
            server: ServerConfig,
            #[serde(default)]
            push: PushConfig,
            #[serde(flatten)]
            metrics: toml::Table,
        }
        let parts = Parts::deserialize(deserializer)?;
        let metrics = metrics_part(parts.metrics).map_err(serde::de::Error::custom)?;
        Ok(Self {
            metrics,
            server: parts.server,
            push: parts.push,
        })
    }
}

/// The top-level keys read as a [`MetricsConfig`]. The table no longer
/// carries the document's spans, so a failure is reported with the key it
/// is about: each key is tried alone first.
fn metrics_part(table: toml::Table) -> Result<MetricsConfig, String> {
    for (key, value) in &table {
        let mut alone = toml::Table::new();
        alone.insert(key.clone(), value.clone());
        if let Err(e) = MetricsConfig::deserialize(toml::Value::Table(alone)) {
            return Err(format!("key `{key}`: {}", e.message().trim_end()));
        }
    }
    MetricsConfig::deserialize(toml::Value::Table(table))
        .map_err(|e| e.message().trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::time::Duration;

    use super::*;

    fn error(text: &str) -> String {
        match Config::from_toml_str(text) {
            Ok(config) => panic!("expected {text:?} to be refused, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn exemplars_come_from_the_file_and_the_environment() {
        let config = Config::from_toml_str("exemplars = true").unwrap();
        assert!(config.metrics().exemplars());
        let config = config
            .with_env_vars([("INCIDENT_METRICS_EXEMPLARS", "false")])
            .unwrap();
        assert!(!config.metrics().exemplars());
        let config = Config::new()
            .with_env_vars([("INCIDENT_METRICS_EXEMPLARS", "true")])
            .unwrap();
        assert!(config.metrics().exemplars());
        assert!(!Config::new().metrics().exemplars());
    }

    #[test]
    fn the_defaults_are_every_part_s_defaults() {
        let config = Config::new();
        assert_eq!(config.metrics(), &MetricsConfig::new());
        assert_eq!(config.server(), &ServerConfig::new());
        assert_eq!(config.push(), &PushConfig::new());
        assert_eq!(Config::from_toml_str("").unwrap(), config);
        config.validate().unwrap();
    }

    #[test]
    fn one_file_configures_every_part() {
        let config = Config::from_toml_str(
            r#"
            enabled = true
            endpoint = "/m"
            sample_rate = 0.1
            cardinality_limit = 50
            [buckets]
            http_request_duration_seconds = [0.5, 1, 2]
            [server]
            listen_addr = "127.0.0.1:9464"
            scrape_timeout_ms = 500
            [server.auth]
            username = "prometheus"
            password = "pw"
            [server.tls]
            cert_file = "c.pem"
            key_file = "k.pem"
            [push.remote_write]
            url = "http://vm:8428/api/v1/write"
            flush_timeout_seconds = 2
            [push.remote_write.tls]
            ca_file = "ca.pem"
            [push.pushgateway]
            url = "http://pg:9091"
            job = "batch"
            "#,
        )
        .unwrap();
        let (metrics, server, push) = config.clone().into_parts();
        assert_eq!(metrics.endpoint(), "/m");
        assert_eq!(metrics.cardinality_limit(), 50);
        assert_eq!(
            metrics.buckets_for("http_request_duration_seconds"),
            Some(&[0.5, 1.0, 2.0][..])
        );
        assert_eq!(
            server.listen_addr(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(server.scrape_timeout(), Duration::from_millis(500));
        assert!(server.auth().is_some() && server.tls().is_some());
        let remote_write = push.remote_write().unwrap();
        assert_eq!(remote_write.flush_timeout(), Duration::from_secs(2));
        assert!(remote_write.tls().unwrap().ca_file().is_some());
        assert_eq!(push.pushgateway().unwrap().job(), "batch");
        assert_eq!(
            Config::new()
                .with_metrics(metrics)
                .with_server(server)
                .with_push(push),
            config
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        for (text, needle) in [
            ("sampel_rate = 0.5", "sampel_rate"),
            ("[server]\nlisten = \"x\"", "listen"),
            ("[server.auth]\ntoken = \"t\"", "token"),
            (
                "[push.remote_write]\nurl = \"http://x/\"\nintervall_seconds = 1",
                "intervall_seconds",
            ),
            ("[push.pushgatewy]\nurl = \"http://x/\"", "pushgatewy"),
            ("[metrics]\nenabled = true", "metrics"),
        ] {
            let message = error(text);
            assert!(message.contains(needle), "{text:?}: {message}");
        }
    }

    #[test]
    fn invalid_values_name_the_field() {
        for (text, needle) in [
            ("sample_rate = 2.0", "`sample_rate` 2"),
            ("sample_rate = \"high\"", "sample_rate"),
            (
                "[server]\nmax_concurrent_scrapes = 0",
                "server.max_concurrent_scrapes",
            ),
            (
                "[push.remote_write]\ninterval_seconds = 1",
                "push.remote_write.url",
            ),
            (
                "[push.pushgateway]\nurl = \"http://x/\"",
                "push.pushgateway.job",
            ),
            ("[server.tls]\ncert_file = \"c.pem\"", "key_file"),
        ] {
            let message = error(text);
            assert!(message.contains(needle), "{text:?}: {message}");
        }
    }

    #[test]
    fn files_are_read_and_named_in_errors() {
        let dir =
            std::env::temp_dir().join(format!("incident-metrics-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("metrics.toml");
        std::fs::write(
            &file,
            "endpoint = \"/x\"\n[server]\nmax_concurrent_scrapes = 3\n",
        )
        .unwrap();
        let config = Config::from_toml_file(&file).unwrap();
        assert_eq!(config.metrics().endpoint(), "/x");
        assert_eq!(config.server().max_concurrent_scrapes(), 3);
        std::fs::write(&file, "endpoint = 3\n").unwrap();
        let message = Config::from_toml_file(&file).unwrap_err().to_string();
        assert!(message.contains("metrics.toml"), "{message}");
        let message = Config::from_toml_file(dir.join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("cannot read") && message.contains("missing.toml"),
            "{message}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_variable_goes_to_its_owner_and_wins_over_the_file() {
        let file = Config::from_toml_str(
            "sample_rate = 0.5\n[server.auth]\nusername = \"u\"\npassword = \"p\"",
        )
        .unwrap();
        let config = file
            .with_env_vars([
                ("INCIDENT_METRICS_SAMPLE_RATE", "0.25"),
                ("INCIDENT_METRICS_CARDINALITY_LIMIT_LLM_REQUESTS", "10"),
                ("INCIDENT_METRICS_SERVER_LISTEN_ADDR", "127.0.0.1:9464"),
                ("INCIDENT_METRICS_BEARER_TOKEN", "from-env"),
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_URL",
                    "http://p:9090/api/v1/write",
                ),
                ("INCIDENT_METRICS_REMOTE_WRITE_MIN_BACKOFF_SECONDS", "0.2"),
                ("INCIDENT_METRICS_REMOTE_WRITE_FLUSH_TIMEOUT_SECONDS", "3"),
                ("HOME", "/root"),
            ])
            .unwrap();
        assert_eq!(config.metrics().sample_rate(), 0.25);
        assert_eq!(config.metrics().cardinality_limit_for("llm_requests"), 10);
        assert_eq!(
            config.server().listen_addr(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(
            config.server().auth().unwrap().credentials().unwrap(),
            incident_metrics_exporter::Credentials::Bearer {
                token: incident_metrics_exporter::Secret::new("from-env")
            }
        );
        let remote_write = config.push().remote_write().unwrap();
        assert_eq!(remote_write.min_backoff(), Duration::from_millis(200));
        assert_eq!(remote_write.flush_timeout(), Duration::from_secs(3));
    }

    #[test]
    fn variables_errors_name_the_variable() {
        for (var, value, needle) in [
            (
                "INCIDENT_METRICS_SAMPLE_RAT",
                "1",
                "unknown environment variable INCIDENT_METRICS_SAMPLE_RAT",
            ),
            ("INCIDENT_METRICS_PUSH", "1", "REMOTE_WRITE_{URL,"),
            ("INCIDENT_METRICS_PUSH", "1", "PUSHGATEWAY_{URL,"),
            ("INCIDENT_METRICS_PUSH", "1", "SERVER_LISTEN_ADDR"),
            ("INCIDENT_METRICS_PUSH", "1", "SAMPLE_RATE"),
            (
                "INCIDENT_METRICS_SAMPLE_RATE",
                "lots",
                "INCIDENT_METRICS_SAMPLE_RATE",
            ),
            (
                "INCIDENT_METRICS_SERVER_SCRAPE_TIMEOUT_MS",
                "soon",
                "not a whole number",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_URLL",
                "x",
                "REMOTE_WRITE_* ones are URL",
            ),
            (
                "INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY",
                "10",
                "push.remote_write.url",
            ),
        ] {
            let message = Config::new()
                .with_env_vars([(var, value)])
                .unwrap_err()
                .to_string();
            assert!(message.contains(needle), "{var}={value}: {message}");
        }
    }

    #[test]
    fn a_service_embeds_it_as_a_table() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Service {
            metrics: Config,
        }
        let service: Service = toml::from_str(
            "[metrics]\nsample_rate = 0.5\n[metrics.server]\nlisten_addr = \"127.0.0.1:0\"\n\
             [metrics.push.pushgateway]\nurl = \"http://pg:9091\"\njob = \"j\"",
        )
        .unwrap();
        assert_eq!(service.metrics.metrics().sample_rate(), 0.5);
        assert!(service.metrics.server().listen_addr().is_some());
        assert!(service.metrics.push().pushgateway().is_some());
        let Err(e) = toml::from_str::<Service>("[metrics]\nsampel_rate = 0.5") else {
            panic!("an unknown key was accepted");
        };
        assert!(e.to_string().contains("sampel_rate"), "{e}");
    }
    #[test]
    fn native_histogram_keys_reach_the_recording_configuration() {
        let config = Config::from_toml_str(
            "native_histograms = [\"http_request_duration_seconds\"]\nnative_max_buckets = 80\n",
        )
        .unwrap();
        let native = config
            .metrics()
            .native_for("http_request_duration_seconds")
            .unwrap();
        assert_eq!((native.schema(), native.max_buckets()), (3, 80));
        assert!(
            config
                .metrics()
                .native_for("grpc_request_duration_seconds")
                .is_none()
        );
        let config = Config::new()
            .with_env_vars([("INCIDENT_METRICS_NATIVE_HISTOGRAMS", "true")])
            .unwrap();
        assert!(
            config
                .metrics()
                .native_for("grpc_request_duration_seconds")
                .is_some()
        );
        let msg = error("native_bucket_factor = 0.5");
        assert!(msg.contains("native_bucket_factor"), "{msg}");
    }
}
