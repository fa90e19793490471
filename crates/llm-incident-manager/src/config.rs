//! The service's configuration: embedded defaults, an optional TOML file
//! (`--config FILE`), environment variables for secrets and the metrics
//! toolkit, and command-line flags, which win over everything.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use incident_metrics::exporter::{ClientTlsConfig, ServerTlsConfig};

/// The `--db` value, and `[storage] path`, of the in-memory store
/// (re-exported as [`crate::storage::MEMORY`]).
pub const MEMORY_STORE: &str = ":memory:";

/// The model name of the offline classifier (re-exported as
/// [`crate::llm::offline::MODEL`]).
pub const OFFLINE_MODEL: &str = "offline-keywords-v1";
use serde::Deserialize;

use crate::domain::Severity;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file named by `--config` could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this service.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A command-line flag is unknown or lacks its value.
    #[error("{0}")]
    Flag(String),
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The metrics configuration was refused by the toolkit.
    #[error("invalid metrics configuration: {0}")]
    Metrics(#[from] incident_metrics::ConfigError),
}

/// The whole configuration of the service.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The REST API, `/health` and `/metrics` listen here.
    pub http_addr: SocketAddr,
    /// The gRPC API listens here.
    pub grpc_addr: SocketAddr,
    /// The largest request body the REST API accepts, in bytes.
    pub body_limit_bytes: usize,
    /// How long shutdown waits for in-flight requests, playbooks and
    /// notification queues before cutting them, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// Hostile-input limits: timeouts, header limits, gRPC message size
    /// (`[limits]`).
    pub limits: crate::serve::Limits,
    /// The metrics toolkit's configuration (`[metrics]`): what is recorded
    /// (its top-level keys), how `/metrics` is served and guarded
    /// (`[metrics.server]`) and what is pushed (`[metrics.push]`).
    pub metrics: incident_metrics::Config,
    /// Storage (`[storage]`).
    pub storage: StorageConfig,
    /// Deduplication, correlation and escalation (`[incidents]`).
    pub incidents: IncidentConfig,
    /// The LLM provider (`[llm]`).
    pub llm: LlmConfig,
    /// Notification channels (`[notifications]`).
    pub notifications: NotificationConfig,
    /// The Alertmanager webhook receiver (`[alertmanager]`).
    pub alertmanager: AlertmanagerConfig,
    /// Playbooks (`[[playbooks]]`).
    pub playbooks: Vec<PlaybookConfig>,
    /// How playbook `http` steps verify `https://` endpoints and which
    /// client certificate they show (`[playbooks_tls]`: `ca_file`,
    /// `cert_file`, `key_file`, `insecure_skip_verify`); the platform's
    /// roots when absent.
    pub playbooks_tls: Option<ClientTlsConfig>,
    /// TLS of the listeners (`[tls]`, `[tls.http]`, `[tls.grpc]`; the
    /// metrics listener also reads `[metrics.server.tls]`); the flags
    /// `--tls-cert`, `--tls-key`, `--tls-client-ca` set it for every
    /// listener.
    pub tls: ListenerTlsConfig,
}

/// `[tls]`: TLS of the listeners.
///
/// `cert_file`, `key_file` and `client_ca_file` at the top apply to every
/// listener (REST, gRPC and the metrics listener); `[tls.http]`,
/// `[tls.grpc]` and `[tls.metrics]` (or `[metrics.server.tls]`) set one
/// listener's own. A `client_ca_file` requires client certificates signed
/// by it (mTLS). The files are re-read when they change and on SIGHUP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenerTlsConfig {
    /// The certificate chain (PEM, leaf first) of every listener.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM) on every listener.
    pub client_ca_file: Option<PathBuf>,
    /// The REST listener's own TLS.
    pub http: Option<ServerTlsConfig>,
    /// The gRPC listener's own TLS.
    pub grpc: Option<ServerTlsConfig>,
    /// The metrics listener's own TLS.
    pub metrics: Option<ServerTlsConfig>,
}

impl ListenerTlsConfig {
    /// The TLS shared by every listener, if `cert_file` and `key_file` are set.
    fn shared(&self) -> Option<ServerTlsConfig> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                Some(ServerTlsConfig::new(cert, key).with_client_ca(self.client_ca_file.clone()))
            }
            _ => None,
        }
    }

    /// The REST listener's TLS, if any.
    pub fn for_http(&self) -> Option<ServerTlsConfig> {
        self.http.clone().or_else(|| self.shared())
    }

    /// The gRPC listener's TLS, if any.
    pub fn for_grpc(&self) -> Option<ServerTlsConfig> {
        self.grpc.clone().or_else(|| self.shared())
    }

    /// The metrics listener's TLS, if any: `[tls.metrics]`, then
    /// `[metrics.server.tls]`, then the shared one.
    pub fn for_metrics(&self, metrics: &incident_metrics::Config) -> Option<ServerTlsConfig> {
        self.metrics
            .clone()
            .or_else(|| metrics.server().tls().cloned())
            .or_else(|| self.shared())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (field, tls) in [
            ("tls.http", &self.http),
            ("tls.grpc", &self.grpc),
            ("tls.metrics", &self.metrics),
        ] {
            if let Some(tls) = tls {
                tls.validate(field)
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert_file and tls.key_file (--tls-cert, --tls-key) go together: set both or neither"
                    .to_owned(),
            ));
        }
        if self.client_ca_file.is_some() && self.cert_file.is_none() {
            return Err(ConfigError::Invalid(
                "tls.client_ca_file (--tls-client-ca) needs tls.cert_file and tls.key_file \
                 (--tls-cert, --tls-key): client certificates are only asked for over TLS"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// Checks a client `tls` table: a certificate comes with its key.
fn validate_client_tls(
    field: &'static str,
    tls: Option<&ClientTlsConfig>,
) -> Result<(), ConfigError> {
    match tls {
        Some(tls) => tls
            .validate(field)
            .map_err(|e| ConfigError::Invalid(e.to_string())),
        None => Ok(()),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_ms: 10_000,
            limits: crate::serve::Limits::default(),
            metrics: incident_metrics::Config::new(),
            storage: StorageConfig::default(),
            incidents: IncidentConfig::default(),
            llm: LlmConfig::default(),
            notifications: NotificationConfig::default(),
            alertmanager: AlertmanagerConfig::default(),
            playbooks: vec![PlaybookConfig::default_page_on_call()],
            playbooks_tls: None,
            tls: ListenerTlsConfig::default(),
        }
    }
}

/// `[storage]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StorageConfig {
    /// The SQLite database file, created with its folder if missing:
    /// `data/incidents.db` under the working directory by default (as
    /// Prometheus keeps its `data/`). `:memory:` keeps the store in memory
    /// only: nothing survives a restart, and the service says so at start.
    pub path: PathBuf,
    /// The largest the database may grow, in bytes (SQLite's
    /// `max_page_count`); past it, creates answer `507` (REST) or
    /// `RESOURCE_EXHAUSTED` (gRPC) and reads keep working. No cap by
    /// default.
    pub max_size_bytes: Option<u64>,
}

/// The default store: `data/incidents.db` under the working directory.
pub const DEFAULT_DB: &str = "data/incidents.db";

/// The smallest `storage.max_size_bytes` accepted: room for the schema.
pub const MIN_STORE_BYTES: u64 = 64 * 1024;

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from(DEFAULT_DB),
            max_size_bytes: None,
        }
    }
}

impl StorageConfig {
    /// Whether the store lives in memory only (`path = ":memory:"`).
    pub fn in_memory(&self) -> bool {
        self.path.as_os_str() == MEMORY_STORE
    }
}

/// `[incidents]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IncidentConfig {
    /// Incidents from the same source created within this many milliseconds
    /// of each other are correlated.
    pub correlation_window_ms: u64,
    /// The most incidents a new incident is linked to: the most recent of
    /// its source within the window. Bounds the work of a create and the
    /// length of every `correlated_ids` (about twice this) during an
    /// incident storm from one source, which would otherwise grow with the
    /// square of the storm. 0 turns correlation off. Default 20.
    pub max_correlated: usize,
    /// Escalation of unresolved critical and high incidents.
    pub escalation: EscalationConfig,
    /// Resolved incidents older than this many days are deleted by the
    /// periodic runner (counted in `incidents_pruned_total`); 0 keeps them
    /// for ever. Default 30.
    pub retention_days: u32,
    /// The most incidents the store holds; past it a create answers `507`
    /// (REST) or `RESOURCE_EXHAUSTED` (gRPC), counted in
    /// `errors_total{component="storage",error_type="max_stored"}`. No cap
    /// by default (`storage.max_size_bytes` caps the bytes).
    pub max_stored: Option<u64>,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        Self {
            correlation_window_ms: 5 * 60 * 1000,
            max_correlated: 20,
            escalation: EscalationConfig::default(),
            retention_days: 30,
            max_stored: None,
        }
    }
}

/// `[incidents.escalation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct EscalationConfig {
    /// Whether the background escalation task runs.
    pub enabled: bool,
    /// How often the periodic runner looks for incidents due (and prunes
    /// by `incidents.retention_days`), in milliseconds.
    pub check_interval_ms: u64,
    /// The age (since creation, in milliseconds) at which an unresolved
    /// incident reaches level 1, 2, ...: one entry per level, ascending.
    pub delays_ms: Vec<u64>,
    /// The severities that escalate.
    pub severities: Vec<Severity>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            check_interval_ms: 5_000,
            delays_ms: vec![5 * 60 * 1000, 15 * 60 * 1000, 30 * 60 * 1000],
            severities: vec![Severity::Critical, Severity::High],
        }
    }
}

/// Which LLM provider analyses incidents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProviderKind {
    /// The embedded offline provider (no network).
    #[default]
    Offline,
    /// An OpenAI-compatible HTTP API.
    Openai,
}

/// `[llm]`.
///
/// The providers that analyse incidents form a chain, tried in order
/// ([`chain`](Self::chain)): either the ordered `[[llm.providers]]` tables
/// ([`providers`](Self::providers)), or, when there are none, one provider
/// from the single-provider keys at the top of `[llm]` (`provider`,
/// `base_url`, `model`, `api_key`, `stream`, `timeout_ms`,
/// `max_response_bytes`, `tls`, `budget_usd`), as before. Giving both is
/// refused by [`Config::validate`].
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "LlmToml")]
#[non_exhaustive]
pub struct LlmConfig {
    /// The provider.
    pub provider: ProviderKind,
    /// The base URL of an OpenAI-compatible API (`…/v1`); `LLM_BASE_URL`
    /// overrides it.
    pub base_url: String,
    /// The model; `LLM_MODEL` overrides it.
    pub model: String,
    /// The API key; `LLM_API_KEY` or `OPENAI_API_KEY` override it.
    pub api_key: Option<String>,
    /// Whether the HTTP provider streams answers (measures time to first token).
    pub stream: bool,
    /// The timeout of one call, in milliseconds.
    pub timeout_ms: u64,
    /// The most incidents analysed at once (each analysis is two calls, one
    /// after the other); the others wait in the durable outbox, and creates
    /// never wait for them. Default 4.
    pub max_in_flight: usize,
    /// The largest answer body (error, JSON or event stream) the HTTP
    /// provider reads, in bytes; past it the call fails as
    /// `response_too_large`. Default 4 MiB, from 1 KiB to 1 GiB.
    pub max_response_bytes: u64,
    /// USD per million tokens, by model, over the toolkit's built-in table
    /// (`incident_metrics::trackers::DEFAULT_PRICES`).
    pub prices: BTreeMap<String, Price>,
    /// How an `https://` `base_url` is verified and which client
    /// certificate is shown (`[llm.tls]`); the platform's roots when absent.
    pub tls: Option<ClientTlsConfig>,
    /// The single provider's budget in USD (`llm.budget_usd`): shown, less
    /// what its calls cost, in `llm_budget_remaining_usd`; none when absent.
    pub budget_usd: Option<f64>,
    /// The provider chain (`[[llm.providers]]`), tried in order; when empty,
    /// the single-provider keys above are the one provider.
    pub providers: Vec<ProviderConfig>,
    /// How long a provider marked down is skipped before it is tried again,
    /// in milliseconds (`llm.cooldown_ms`, default 30000, from 1 to
    /// 86400000: a day).
    pub cooldown_ms: u64,
    /// Consecutive failed calls that mark a provider down
    /// (`llm.failure_threshold`, default 3, at least 1); fewer mark it
    /// degraded.
    pub failure_threshold: u32,
    /// The single-provider keys given in the file, for the check that they
    /// are not mixed with `[[llm.providers]]`.
    single_keys: Vec<&'static str>,
    /// The single-provider environment variables applied, for the same check.
    single_env: Vec<&'static str>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Offline,
            base_url: "https://api.openai.com/v1".to_owned(),
            model: String::new(),
            api_key: None,
            stream: true,
            timeout_ms: 30_000,
            max_in_flight: 4,
            max_response_bytes: LlmConfig::DEFAULT_MAX_RESPONSE_BYTES,
            prices: BTreeMap::new(),
            tls: None,
            budget_usd: None,
            providers: Vec::new(),
            cooldown_ms: LlmConfig::DEFAULT_COOLDOWN_MS,
            failure_threshold: LlmConfig::DEFAULT_FAILURE_THRESHOLD,
            single_keys: Vec::new(),
            single_env: Vec::new(),
        }
    }
}

impl LlmConfig {
    /// The default of `llm.max_response_bytes`: 4 MiB.
    pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
    /// The range `llm.max_response_bytes` accepts.
    pub const MAX_RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024 * 1024;

    /// The model in use: the configured one, or the provider's default.
    pub fn model_or_default(&self) -> &str {
        if !self.model.is_empty() {
            return &self.model;
        }
        match self.provider {
            ProviderKind::Offline => OFFLINE_MODEL,
            ProviderKind::Openai => "gpt-4o-mini",
        }
    }
}

// ---- [llm] provider chain: [[llm.providers]], cooldown_ms, failure_threshold ----

impl LlmConfig {
    /// The default of `llm.cooldown_ms`: 30 s.
    pub const DEFAULT_COOLDOWN_MS: u64 = 30_000;
    /// The default of `llm.failure_threshold`: 3 consecutive failures.
    pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
    /// The range `llm.cooldown_ms` accepts: 1 ms to a day.
    pub const COOLDOWN_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400_000;

    /// The provider chain, in the order it is tried: the
    /// `[[llm.providers]]` tables, or, when there are none, one provider
    /// made of the single-provider keys of `[llm]`.
    pub fn chain(&self) -> Vec<ProviderConfig> {
        if !self.providers.is_empty() {
            return self.providers.clone();
        }
        vec![ProviderConfig {
            name: String::new(),
            provider: self.provider,
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            api_key: self.api_key.clone(),
            stream: self.stream,
            timeout_ms: self.timeout_ms,
            max_response_bytes: self.max_response_bytes,
            tls: self.tls.clone(),
            budget_usd: self.budget_usd,
        }]
    }

    /// Checks the chain: `[[llm.providers]]` not mixed with the
    /// single-provider keys, distinct names, and each provider's values.
    fn validate_chain(&self) -> Result<(), ConfigError> {
        if !Self::COOLDOWN_MS_RANGE.contains(&self.cooldown_ms) {
            return Err(ConfigError::Invalid(format!(
                "llm.cooldown_ms must be from {} to {} (milliseconds: a day), not {}",
                Self::COOLDOWN_MS_RANGE.start(),
                Self::COOLDOWN_MS_RANGE.end(),
                self.cooldown_ms
            )));
        }
        if self.failure_threshold == 0 {
            return Err(ConfigError::Invalid(
                "llm.failure_threshold must be at least 1 (consecutive failures)".to_owned(),
            ));
        }
        if !self.providers.is_empty() {
            if !self.single_keys.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "[llm] sets {} and [[llm.providers]] too: give either the single-provider \
                     keys or the [[llm.providers]] tables, not both",
                    self.single_keys.join(", ")
                )));
            }
            if !self.single_env.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{} set with [[llm.providers]]: these variables override the \
                     single-provider [llm] keys only; set base_url and model in each \
                     [[llm.providers]] table instead",
                    self.single_env.join(", ")
                )));
            }
        }
        let chain = self.chain();
        let mut names = std::collections::BTreeSet::new();
        for (i, provider) in chain.iter().enumerate() {
            let key = if self.providers.is_empty() {
                "llm".to_owned()
            } else {
                format!("llm.providers[{i}]")
            };
            if !names.insert(provider.label()) {
                return Err(ConfigError::Invalid(format!(
                    "{key}: provider name {:?} is used twice in the chain; give each \
                     [[llm.providers]] table a distinct `name`",
                    provider.label()
                )));
            }
            provider.validate(&key)?;
        }
        Ok(())
    }
}

/// One provider of the chain: a `[[llm.providers]]` table, with the same
/// keys as the single-provider `[llm]`, plus an optional `name`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The `provider` label of its metrics (`llm_provider_state{provider}`,
    /// `llm_requests_total{provider}`, ...); empty: the kind's name
    /// (`openai`, `offline`). Distinct within the chain.
    pub name: String,
    /// The kind of provider.
    pub provider: ProviderKind,
    /// The base URL of an OpenAI-compatible API (`…/v1`).
    pub base_url: String,
    /// The model; empty: the kind's default.
    pub model: String,
    /// The API key.
    pub api_key: Option<String>,
    /// Whether answers are streamed.
    pub stream: bool,
    /// The timeout of one call to this provider, in milliseconds: the most
    /// a dead provider costs a call.
    pub timeout_ms: u64,
    /// The largest answer body read, in bytes (1 KiB to 1 GiB).
    pub max_response_bytes: u64,
    /// Outbound TLS of an `https://` `base_url` (`[llm.providers.tls]`).
    pub tls: Option<ClientTlsConfig>,
    /// A budget in USD for this provider and model, shown in
    /// `llm_budget_usd` and, less what the calls cost, in
    /// `llm_budget_remaining_usd`; none when absent.
    pub budget_usd: Option<f64>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        let llm = LlmConfig::default();
        Self {
            name: String::new(),
            provider: llm.provider,
            base_url: llm.base_url,
            model: llm.model,
            api_key: None,
            stream: llm.stream,
            timeout_ms: llm.timeout_ms,
            max_response_bytes: llm.max_response_bytes,
            tls: None,
            budget_usd: None,
        }
    }
}

impl ProviderConfig {
    /// The `provider` label: `name`, or the kind's name.
    pub fn label(&self) -> &str {
        if !self.name.is_empty() {
            return &self.name;
        }
        match self.provider {
            ProviderKind::Offline => "offline",
            ProviderKind::Openai => "openai",
        }
    }

    /// The model in use: the configured one, or the kind's default.
    pub fn model_or_default(&self) -> &str {
        if !self.model.is_empty() {
            return &self.model;
        }
        match self.provider {
            ProviderKind::Offline => OFFLINE_MODEL,
            ProviderKind::Openai => "gpt-4o-mini",
        }
    }

    /// The timeout of one call (at least 1 ms).
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.max(1))
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !LlmConfig::MAX_RESPONSE_BYTES_RANGE.contains(&self.max_response_bytes) {
            return Err(ConfigError::Invalid(format!(
                "{key}.max_response_bytes must be from {} to {} (bytes), not {}",
                LlmConfig::MAX_RESPONSE_BYTES_RANGE.start(),
                LlmConfig::MAX_RESPONSE_BYTES_RANGE.end(),
                self.max_response_bytes
            )));
        }
        if let Some(budget) = self.budget_usd
            && (!budget.is_finite() || budget < 0.0)
        {
            return Err(ConfigError::Invalid(format!(
                "{key}.budget_usd must be a finite number of USD, not negative, not {budget}"
            )));
        }
        if let Some(tls) = &self.tls {
            if key == "llm" {
                validate_client_tls("llm.tls", Some(tls))?;
            } else {
                tls.validate("llm.providers.tls")
                    .map_err(|e| ConfigError::Invalid(format!("{key}: {e}")))?;
            }
        }
        if self.provider == ProviderKind::Openai {
            if !self.base_url.starts_with("http://") && !self.base_url.starts_with("https://") {
                return Err(ConfigError::Invalid(format!(
                    "{key}.base_url must start with http:// or https://"
                )));
            }
            if let Some(problem) = http_url_problem(&self.base_url) {
                return Err(ConfigError::Invalid(format!(
                    "{key}.base_url {:?}: {problem}",
                    self.base_url
                )));
            }
        }
        Ok(())
    }
}

/// `[llm]` as written: the single-provider keys are optional, so that
/// giving them together with `[[llm.providers]]` can be refused.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LlmToml {
    provider: Option<ProviderKind>,
    base_url: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
    stream: Option<bool>,
    timeout_ms: Option<u64>,
    max_response_bytes: Option<u64>,
    tls: Option<ClientTlsConfig>,
    budget_usd: Option<f64>,
    max_in_flight: usize,
    prices: BTreeMap<String, Price>,
    providers: Vec<ProviderConfig>,
    cooldown_ms: u64,
    failure_threshold: u32,
}

impl Default for LlmToml {
    fn default() -> Self {
        let llm = LlmConfig::default();
        Self {
            provider: None,
            base_url: None,
            model: None,
            api_key: None,
            stream: None,
            timeout_ms: None,
            max_response_bytes: None,
            tls: None,
            budget_usd: None,
            max_in_flight: llm.max_in_flight,
            prices: BTreeMap::new(),
            providers: Vec::new(),
            cooldown_ms: llm.cooldown_ms,
            failure_threshold: llm.failure_threshold,
        }
    }
}

impl From<LlmToml> for LlmConfig {
    fn from(t: LlmToml) -> Self {
        let mut llm = LlmConfig::default();
        let mut given = Vec::new();
        let mut note = |key: &'static str, present: bool| {
            if present {
                given.push(key);
            }
        };
        note("provider", t.provider.is_some());
        note("base_url", t.base_url.is_some());
        note("model", t.model.is_some());
        note("api_key", t.api_key.is_some());
        note("stream", t.stream.is_some());
        note("timeout_ms", t.timeout_ms.is_some());
        note("max_response_bytes", t.max_response_bytes.is_some());
        note("tls", t.tls.is_some());
        note("budget_usd", t.budget_usd.is_some());
        llm.single_keys = given;
        llm.provider = t.provider.unwrap_or(llm.provider);
        llm.base_url = t.base_url.unwrap_or(llm.base_url);
        llm.model = t.model.unwrap_or(llm.model);
        llm.api_key = t.api_key;
        llm.stream = t.stream.unwrap_or(llm.stream);
        llm.timeout_ms = t.timeout_ms.unwrap_or(llm.timeout_ms);
        llm.max_response_bytes = t.max_response_bytes.unwrap_or(llm.max_response_bytes);
        llm.tls = t.tls;
        llm.budget_usd = t.budget_usd;
        llm.max_in_flight = t.max_in_flight;
        llm.prices = t.prices;
        llm.providers = t.providers;
        llm.cooldown_ms = t.cooldown_ms;
        llm.failure_threshold = t.failure_threshold;
        llm
    }
}
// ---- end of the [llm] provider chain ----

/// A price, in USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

/// `[alertmanager]`: the receiver of Alertmanager's webhook,
/// `POST /api/v1/alerts/alertmanager`.
///
/// Each firing alert opens an incident (or folds into the open one of the
/// same alert fingerprint); a resolved alert resolves it. The incident's
/// severity comes from the alert's `severity_label`, through
/// [`severity_for`](Self::severity_for).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AlertmanagerConfig {
    /// Whether the route is served. Default true.
    pub enabled: bool,
    /// A file holding the bearer token Alertmanager must present
    /// (`Authorization: Bearer <token>`, Alertmanager's
    /// `http_config.authorization.credentials_file`); surrounding
    /// whitespace is ignored. No token by default: then anyone who reaches
    /// the REST port may post alerts.
    pub bearer_token_file: Option<PathBuf>,
    /// The alert label that names the severity. Default `severity`.
    pub severity_label: String,
    /// Label values mapped to severities, over the defaults (`critical`,
    /// `error` → high, `warning` → medium, `info`, and this service's own
    /// names `high`, `medium`, `low`); case-insensitive.
    pub severities: BTreeMap<String, Severity>,
    /// The severity of an alert whose label is missing or maps to nothing.
    /// Default `medium`.
    pub default_severity: Severity,
    /// The most alerts one webhook may carry; more answer `413` (set
    /// Alertmanager's `max_alerts` at or below it). Default 1000.
    pub max_alerts: usize,
    /// The largest webhook body, in bytes (this route's own limit, in place
    /// of `body_limit_bytes`). Default 4 MiB.
    pub body_limit_bytes: usize,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bearer_token_file: None,
            severity_label: "severity".to_owned(),
            severities: BTreeMap::new(),
            default_severity: Severity::Medium,
            max_alerts: 1000,
            body_limit_bytes: 4 * 1024 * 1024,
        }
    }
}

impl AlertmanagerConfig {
    /// The largest `max_alerts` accepted.
    pub const MAX_ALERTS: usize = 100_000;
    /// The largest `body_limit_bytes` accepted: 64 MiB.
    pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

    /// The default mapping of severity label values (lower case).
    pub const DEFAULT_SEVERITIES: [(&'static str, Severity); 7] = [
        ("critical", Severity::Critical),
        ("error", Severity::High),
        ("high", Severity::High),
        ("warning", Severity::Medium),
        ("medium", Severity::Medium),
        ("low", Severity::Low),
        ("info", Severity::Info),
    ];

    /// The severity of an alert whose severity label is `value`: the
    /// configured mapping, then the defaults, then `default_severity`.
    pub fn severity_for(&self, value: Option<&str>) -> Severity {
        let Some(value) = value else {
            return self.default_severity;
        };
        let value = value.trim().to_lowercase();
        self.severities
            .iter()
            .find(|(k, _)| k.to_lowercase() == value)
            .map(|(_, s)| *s)
            .or_else(|| {
                Self::DEFAULT_SEVERITIES
                    .iter()
                    .find(|(k, _)| *k == value)
                    .map(|(_, s)| *s)
            })
            .unwrap_or(self.default_severity)
    }

    /// The bearer token, read from `bearer_token_file`, if one is set.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when the file cannot be read or holds no
    /// token.
    pub fn bearer_token(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.bearer_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::Invalid(format!(
                "alertmanager.bearer_token_file {}: cannot be read: {e}",
                path.display()
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "alertmanager.bearer_token_file {}: holds no token",
                path.display()
            )));
        }
        Ok(Some(token.to_owned()))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.severity_label.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "alertmanager.severity_label must name a label".to_owned(),
            ));
        }
        if !(1..=Self::MAX_ALERTS).contains(&self.max_alerts) {
            return Err(ConfigError::Invalid(format!(
                "alertmanager.max_alerts must be from 1 to {}, not {}",
                Self::MAX_ALERTS,
                self.max_alerts
            )));
        }
        if !(1..=Self::MAX_BODY_BYTES).contains(&self.body_limit_bytes) {
            return Err(ConfigError::Invalid(format!(
                "alertmanager.body_limit_bytes must be from 1 to {}, not {}",
                Self::MAX_BODY_BYTES,
                self.body_limit_bytes
            )));
        }
        if self.enabled {
            self.bearer_token()?;
        }
        Ok(())
    }
}

/// `[notifications]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct NotificationConfig {
    /// Accepted for older configuration files, and no longer used:
    /// notifications wait in the durable outbox, bounded by the store
    /// (`storage.max_size_bytes`), never dropped for want of queue room.
    pub queue_capacity: usize,
    /// The most deliveries of one channel in progress at once. Default 4.
    pub max_in_flight: usize,
    /// The channels every incident event goes to (`log`, `webhook`).
    pub channels: Vec<String>,
    /// The webhook channel, when configured.
    pub webhook: Option<WebhookConfig>,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            max_in_flight: 4,
            channels: vec!["log".to_owned()],
            webhook: None,
        }
    }
}

/// `[notifications.webhook]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Where to POST (`http://` or `https://`).
    pub url: String,
    /// Attempts before a notification is marked failed.
    pub max_attempts: u32,
    /// The wait before the first retry, doubled after each, in milliseconds.
    pub initial_backoff_ms: u64,
    /// The timeout of one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// How an `https://` URL is verified and which client certificate is
    /// shown (`[notifications.webhook.tls]`); the platform's roots when
    /// absent.
    pub tls: Option<ClientTlsConfig>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_attempts: 3,
            initial_backoff_ms: 200,
            timeout_ms: 5_000,
            tls: None,
        }
    }
}

/// `[[playbooks]]`: a named list of steps run for incidents of some severities.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PlaybookConfig {
    /// The name (a label value of the playbook families).
    pub name: String,
    /// The severities whose new incidents run it.
    pub severities: Vec<Severity>,
    /// The steps, in order; the first failing step fails the execution.
    pub steps: Vec<StepConfig>,
    /// The longest an execution may take, in milliseconds.
    #[serde(default = "default_playbook_timeout")]
    pub timeout_ms: u64,
}

fn default_playbook_timeout() -> u64 {
    60_000
}

impl PlaybookConfig {
    /// The embedded default: critical and high incidents get an annotation
    /// and a notification on the `log` channel.
    pub fn default_page_on_call() -> Self {
        Self {
            name: "page-on-call".to_owned(),
            severities: vec![Severity::Critical, Severity::High],
            steps: vec![
                StepConfig::Annotate {
                    note: "on-call paged by playbook page-on-call".to_owned(),
                },
                StepConfig::Notify {
                    channel: "log".to_owned(),
                    message: "paging on-call".to_owned(),
                },
            ],
            timeout_ms: default_playbook_timeout(),
        }
    }
}

/// One playbook step.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum StepConfig {
    /// Send a message on a notification channel.
    Notify {
        /// The channel.
        channel: String,
        /// The message.
        message: String,
    },
    /// Add a note to the incident.
    Annotate {
        /// The note.
        note: String,
    },
    /// Wait.
    Wait {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// Call an HTTP endpoint (with the incident as JSON and an
    /// `Idempotency-Key` header); a status outside 2xx fails the step.
    Http {
        /// The URL (`http://` or `https://`; TLS as `[playbooks_tls]` says).
        url: String,
        /// The method, `POST` by default.
        #[serde(default = "default_http_method")]
        method: String,
        /// The longest the call may take, in milliseconds. Default 10 000.
        #[serde(default = "default_step_timeout")]
        timeout_ms: u64,
    },
}

fn default_step_timeout() -> u64 {
    10_000
}

fn default_http_method() -> String {
    "POST".to_owned()
}

/// The command-line flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flags {
    /// `--http-addr`.
    pub http_addr: Option<SocketAddr>,
    /// `--grpc-addr`.
    pub grpc_addr: Option<SocketAddr>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--db`: the SQLite file.
    pub db: Option<PathBuf>,
    /// `--metrics-addr`: serve `/metrics` on this address alone
    /// (`[metrics.server] listen_addr`).
    pub metrics_addr: Option<SocketAddr>,
    /// `--tls-cert`: serve every listener over TLS with this certificate.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: the key of `--tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-client-ca`: require client certificates signed by this CA on
    /// every listener.
    pub tls_client_ca: Option<PathBuf>,
    /// `--help`.
    pub help: bool,
    /// `--version`.
    pub version: bool,
}

/// The text `--help` prints.
pub const USAGE: &str = "\
Usage: llm-incident-manager [--http-addr ADDR] [--grpc-addr ADDR] [--metrics-addr ADDR]
                            [--config FILE] [--db FILE]
                            [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

  --http-addr ADDR  REST API, /health and /metrics (default 127.0.0.1:8080)
  --grpc-addr ADDR  gRPC API (default 127.0.0.1:50051)
  --metrics-addr ADDR
                    serve /metrics on this address alone, not on the REST port
                    (default: none, /metrics on the REST port)
  --config FILE     optional TOML file; flags win over it
  --db FILE         SQLite database file, created with its folder if missing
                    (default: data/incidents.db); :memory: keeps nothing
  --tls-cert FILE   serve every listener (REST, gRPC, metrics) over TLS with
                    this certificate chain (PEM); re-read when it changes or on SIGHUP
  --tls-key FILE    the private key (PEM) of --tls-cert
  --tls-client-ca FILE
                    require client certificates signed by this CA (mTLS) on
                    every listener
  --help            print this help
  --version         print the version
";

impl Flags {
    /// Parses the arguments after the program name. Accepts `--flag value`
    /// and `--flag=value`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Flag`] for an unknown flag, a missing value or an
    /// address that does not parse.
    pub fn parse<I, S>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut flags = Self::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            match name.as_str() {
                "--help" | "-h" => flags.help = true,
                "--version" | "-V" => flags.version = true,
                "--http-addr" | "--grpc-addr" | "--metrics-addr" | "--config" | "--db"
                | "--tls-cert" | "--tls-key" | "--tls-client-ca" => {
                    let value = match inline {
                        Some(v) => v,
                        None => args
                            .next()
                            .ok_or_else(|| ConfigError::Flag(format!("{name} needs a value")))?,
                    };
                    match name.as_str() {
                        "--http-addr" => flags.http_addr = Some(parse_addr(&name, &value)?),
                        "--grpc-addr" => flags.grpc_addr = Some(parse_addr(&name, &value)?),
                        "--metrics-addr" => {
                            flags.metrics_addr = Some(parse_addr(&name, &value)?);
                        }
                        "--config" => flags.config = Some(PathBuf::from(value)),
                        "--tls-cert" => flags.tls_cert = Some(PathBuf::from(value)),
                        "--tls-key" => flags.tls_key = Some(PathBuf::from(value)),
                        "--tls-client-ca" => flags.tls_client_ca = Some(PathBuf::from(value)),
                        _ if value.is_empty() => {
                            return Err(ConfigError::Flag(
                                "--db needs a file name, or :memory:".to_owned(),
                            ));
                        }
                        _ => flags.db = Some(PathBuf::from(value)),
                    }
                }
                other => {
                    return Err(ConfigError::Flag(format!(
                        "unknown argument {other:?}; see --help"
                    )));
                }
            }
        }
        Ok(flags)
    }
}

fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse()
        .map_err(|e| ConfigError::Flag(format!("{flag} {value:?}: {e}")))
}

impl Config {
    /// Parses and validates a TOML document.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, Path::new("<string>"))
    }

    fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads the configuration: the embedded defaults, then the file of
    /// `--config`, then the environment (`INCIDENT_METRICS_*` for the metrics
    /// toolkit, `LLM_API_KEY`/`OPENAI_API_KEY`, `LLM_BASE_URL`, `LLM_MODEL`),
    /// then the flags.
    ///
    /// # Errors
    ///
    /// Any [`ConfigError`].
    pub fn load(flags: &Flags) -> Result<Self, ConfigError> {
        let mut config = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::parse(&text, path)?
            }
            None => Self::default(),
        };
        config.metrics = config.metrics.with_env()?;
        config.apply_env(|k| std::env::var(k).ok());
        config.apply_flags(flags);
        config.validate()?;
        Ok(config)
    }

    /// Applies the LLM environment variables read through `var`:
    /// `LLM_API_KEY` (or `OPENAI_API_KEY`), `LLM_BASE_URL` and `LLM_MODEL`
    /// override the single-provider `[llm]` keys. With `[[llm.providers]]`
    /// the key also fills the `api_key` of each `openai` provider that sets
    /// none, and `LLM_BASE_URL` or `LLM_MODEL` make [`validate`](Self::validate)
    /// refuse the configuration (they would be ambiguous).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(key) = var("LLM_API_KEY").or_else(|| var("OPENAI_API_KEY")) {
            // With [[llm.providers]]: the key of each openai provider that
            // has none of its own.
            for provider in &mut self.llm.providers {
                if provider.provider == ProviderKind::Openai && provider.api_key.is_none() {
                    provider.api_key = Some(key.clone());
                }
            }
            self.llm.api_key = Some(key);
        }
        if let Some(url) = var("LLM_BASE_URL") {
            self.llm.base_url = url;
            self.llm.single_env.push("LLM_BASE_URL");
        }
        if let Some(model) = var("LLM_MODEL") {
            self.llm.model = model;
            self.llm.single_env.push("LLM_MODEL");
        }
    }

    /// Applies the flags, which win over everything else.
    pub fn apply_flags(&mut self, flags: &Flags) {
        if let Some(addr) = flags.http_addr {
            self.http_addr = addr;
        }
        if let Some(addr) = flags.grpc_addr {
            self.grpc_addr = addr;
        }
        if let Some(db) = &flags.db {
            self.storage.path.clone_from(db);
        }
        if let Some(addr) = flags.metrics_addr {
            let server = self.metrics.server().clone().with_listen_addr(Some(addr));
            self.metrics = self.metrics.clone().with_server(server);
        }
        // The TLS flags are for every listener at once: they replace the
        // per-listener tables.
        if flags.tls_cert.is_some() || flags.tls_key.is_some() || flags.tls_client_ca.is_some() {
            let tls = &mut self.tls;
            if flags.tls_cert.is_some() || flags.tls_key.is_some() {
                tls.cert_file.clone_from(&flags.tls_cert);
                tls.key_file.clone_from(&flags.tls_key);
            }
            if flags.tls_client_ca.is_some() {
                tls.client_ca_file.clone_from(&flags.tls_client_ca);
            }
            tls.http = None;
            tls.grpc = None;
            tls.metrics = None;
            let server = self.metrics.server().clone().with_tls(None);
            self.metrics = self.metrics.clone().with_server(server);
        }
    }

    /// Checks the values that the types alone do not.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field, or
    /// [`ConfigError::Metrics`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.metrics.validate()?;
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.body_limit_bytes == 0 {
            return invalid("body_limit_bytes must be positive");
        }
        self.limits.validate().map_err(ConfigError::Invalid)?;
        self.validate_runtime_bounds()?;
        self.validate_metrics_endpoint()?;
        if self.incidents.escalation.check_interval_ms == 0 {
            return invalid("incidents.escalation.check_interval_ms must be positive");
        }
        if self
            .incidents
            .escalation
            .delays_ms
            .windows(2)
            .any(|w| w[0] > w[1])
        {
            return invalid("incidents.escalation.delays_ms must be ascending");
        }
        if self.storage.path.as_os_str().is_empty() {
            return invalid("storage.path must name a file, or :memory:");
        }
        if let Some(max) = self.storage.max_size_bytes
            && max < MIN_STORE_BYTES
        {
            return Err(ConfigError::Invalid(format!(
                "storage.max_size_bytes must be at least {MIN_STORE_BYTES}, not {max}"
            )));
        }
        if self.notifications.queue_capacity == 0 {
            return invalid("notifications.queue_capacity must be positive");
        }
        if self.notifications.max_in_flight == 0 {
            return invalid("notifications.max_in_flight must be positive");
        }
        if self.llm.max_in_flight == 0 {
            return invalid("llm.max_in_flight must be positive");
        }
        if self.incidents.max_stored == Some(0) {
            return invalid("incidents.max_stored must be positive (leave it out for no cap)");
        }
        for channel in &self.notifications.channels {
            match channel.as_str() {
                "log" => {}
                "webhook" if self.notifications.webhook.is_some() => {}
                "webhook" => {
                    return invalid(
                        "notifications.channels names webhook but [notifications.webhook] is missing",
                    );
                }
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "notifications.channels: unknown channel {other:?} (log, webhook)"
                    )));
                }
            }
        }
        self.tls.validate()?;
        self.alertmanager.validate()?;
        validate_client_tls("playbooks_tls", self.playbooks_tls.as_ref())?;
        if let Some(webhook) = &self.notifications.webhook {
            validate_client_tls("notifications.webhook.tls", webhook.tls.as_ref())?;
            if !webhook.url.starts_with("http://") && !webhook.url.starts_with("https://") {
                return invalid("notifications.webhook.url must start with http:// or https://");
            }
            if let Some(problem) = http_url_problem(&webhook.url) {
                return Err(ConfigError::Invalid(format!(
                    "notifications.webhook.url {:?}: {problem}",
                    webhook.url
                )));
            }
            if webhook.max_attempts == 0 {
                return invalid("notifications.webhook.max_attempts must be at least 1");
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, playbook) in self.playbooks.iter().enumerate() {
            if playbook.name.is_empty() || !names.insert(playbook.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "playbook names must be unique and non-empty: {:?}",
                    playbook.name
                )));
            }
            for (j, step) in playbook.steps.iter().enumerate() {
                if let StepConfig::Http {
                    url,
                    method,
                    timeout_ms,
                } = step
                {
                    let key = format!("playbooks[{i}].steps[{j}] (playbook {:?})", playbook.name);
                    if *timeout_ms == 0 {
                        return Err(ConfigError::Invalid(format!(
                            "{key}: timeout_ms must be positive"
                        )));
                    }
                    if let Some(problem) = http_url_problem(url) {
                        return Err(ConfigError::Invalid(format!(
                            "{key}: url {url:?}: {problem}"
                        )));
                    }
                    if http::Method::from_bytes(method.as_bytes()).is_err() {
                        return Err(ConfigError::Invalid(format!(
                            "{key}: method {method:?} is not an HTTP method token \
                             (such as POST, PUT, GET)"
                        )));
                    }
                }
                if let StepConfig::Notify { channel, .. } = step {
                    if channel != "log" && channel != "webhook" {
                        return Err(ConfigError::Invalid(format!(
                            "playbook {:?}: unknown channel {channel:?}",
                            playbook.name
                        )));
                    }
                    if channel == "webhook" && self.notifications.webhook.is_none() {
                        return Err(ConfigError::Invalid(format!(
                            "playbook {:?} notifies webhook but [notifications.webhook] is missing",
                            playbook.name
                        )));
                    }
                }
            }
        }
        for (model, price) in &self.llm.prices {
            for (field, value) in [
                ("input_per_million", price.input_per_million),
                ("output_per_million", price.output_per_million),
            ] {
                if !value.is_finite() || value < 0.0 {
                    return Err(ConfigError::Invalid(format!(
                        "llm.prices.{model:?}.{field} must be a finite number of USD, \
                         not negative, not {value}"
                    )));
                }
            }
        }
        self.llm.validate_chain()?;
        Ok(())
    }

    /// Refuses numbers that a runtime constructor would panic on (or abort
    /// the process for) when the service starts or serves.
    fn validate_runtime_bounds(&self) -> Result<(), ConfigError> {
        let too_large = |key: &str, value: usize, max: usize, why: &str| {
            Err(ConfigError::Invalid(format!(
                "{key} must be at most {max}, not {value}: {why}"
            )))
        };
        if self.notifications.queue_capacity > MAX_QUEUE_CAPACITY {
            return too_large(
                "notifications.queue_capacity",
                self.notifications.queue_capacity,
                MAX_QUEUE_CAPACITY,
                "the largest bounded channel tokio can make",
            );
        }
        if self.limits.max_headers > MAX_HEADERS {
            return too_large(
                "limits.max_headers",
                self.limits.max_headers,
                MAX_HEADERS,
                "hyper sets aside room for that many header fields for every request head it reads",
            );
        }
        if self.limits.grpc_max_message_bytes > MAX_GRPC_MESSAGE_BYTES {
            return too_large(
                "limits.grpc_max_message_bytes",
                self.limits.grpc_max_message_bytes,
                MAX_GRPC_MESSAGE_BYTES,
                "a gRPC message's length prefix is 32 bits",
            );
        }
        Ok(())
    }

    /// Refuses a metrics `endpoint` that axum could not mount next to the
    /// service's own routes: route syntax (`:`, `{`, `}`, `*`) anywhere,
    /// and, when `/metrics` is served on the API port, `/health` or a path
    /// under `/api/`.
    fn validate_metrics_endpoint(&self) -> Result<(), ConfigError> {
        let endpoint = self.metrics.metrics().endpoint();
        if endpoint.contains([':', '{', '}', '*']) {
            return Err(ConfigError::Invalid(format!(
                "metrics.endpoint {endpoint:?}: `:`, `{{`, `}}` and `*` are route syntax; \
                 give a plain path such as \"/metrics\""
            )));
        }
        let on_api_port =
            self.metrics.metrics().enabled() && self.metrics.server().listen_addr().is_none();
        if on_api_port
            && let Some(route) = SERVICE_ROUTES
                .iter()
                .find(|route| reserved_path_collides(endpoint, route))
        {
            return Err(ConfigError::Invalid(format!(
                "metrics.endpoint {endpoint:?} collides with the service's route {route}: \
                 choose another path (such as \"/metrics\"), or serve metrics on a port of \
                 their own ([metrics.server] listen_addr, --metrics-addr)"
            )));
        }
        Ok(())
    }
}

/// The largest `notifications.queue_capacity`: tokio's bounded channels
/// take at most `usize::MAX >> 3` (its semaphore's `MAX_PERMITS`).
pub const MAX_QUEUE_CAPACITY: usize = usize::MAX >> 3;

/// The largest `limits.max_headers`: hyper reserves room for that many
/// header fields (64 bytes each) for every request head it parses; far more
/// would be memory per request for nothing, and `usize::MAX` panics.
pub const MAX_HEADERS: usize = 10_000;

/// The largest `limits.grpc_max_message_bytes`: a gRPC message's length
/// prefix is a `u32`.
pub const MAX_GRPC_MESSAGE_BYTES: usize = u32::MAX as usize;

/// The service's own routes on the API port, which the metrics endpoint
/// must not take: `/health`, and everything under `/api/` (the REST API and
/// its OpenAPI document).
pub const SERVICE_ROUTES: [&str; 2] = ["/health", "/api/..."];

/// Whether `endpoint` is, or falls under, the reserved `route`.
fn reserved_path_collides(endpoint: &str, route: &str) -> bool {
    match route.strip_suffix("...") {
        Some(prefix) => endpoint.starts_with(prefix) || endpoint == prefix.trim_end_matches('/'),
        None => endpoint == route,
    }
}

/// What is wrong with an outbound URL, if anything: it must parse, be
/// `http://` or `https://`, and name a host.
fn http_url_problem(url: &str) -> Option<&'static str> {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return Some("not a URL");
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Some("the scheme must be http:// or https://"),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => None,
        _ => Some("the URL names no host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_both_forms() {
        let flags =
            Flags::parse(["--http-addr", "127.0.0.1:0", "--grpc-addr=127.0.0.1:0"]).unwrap();
        assert_eq!(flags.http_addr, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(flags.grpc_addr, Some("127.0.0.1:0".parse().unwrap()));
        assert!(Flags::parse(["--nope"]).is_err());
        assert!(Flags::parse(["--http-addr"]).is_err());
        assert!(Flags::parse(["--http-addr", "x"]).is_err());
    }

    #[test]
    fn metrics_addr_flag_gives_metrics_a_listener() {
        let flags = Flags::parse(["--metrics-addr", "127.0.0.1:9464"]).unwrap();
        let mut config = Config::from_toml_str(
            "[metrics.server]\nmax_concurrent_scrapes = 2\n[metrics.server.auth]\nbearer_token = \"t\"",
        )
        .unwrap();
        assert_eq!(config.metrics.server().listen_addr(), None);
        config.apply_flags(&flags);
        let server = config.metrics.server();
        assert_eq!(
            server.listen_addr(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        // The rest of the table is kept.
        assert_eq!(server.max_concurrent_scrapes(), 2);
        assert!(server.auth().is_some());
        assert!(Flags::parse(["--metrics-addr", "nope"]).is_err());
        assert!(Flags::parse(["--metrics-addr"]).is_err());
    }

    #[test]
    fn the_example_file_parses() {
        let config = Config::from_toml_str(include_str!("../config.example.toml")).unwrap();
        assert_eq!(config.http_addr, Config::default().http_addr);
        assert_eq!(config.playbooks.len(), 1);
    }

    #[test]
    fn the_example_files_commented_metrics_and_remote_write_keys_parse_when_uncommented() {
        // `[metrics]`'s exemplar, native-histogram and GenAI keys, and the
        // whole `[metrics.push.remote_write]` table.
        let mut in_remote_write = false;
        let text: String = include_str!("../config.example.toml")
            .lines()
            .map(|line| {
                in_remote_write = (in_remote_write && !line.is_empty())
                    || line.starts_with("# [metrics.push.remote_write]");
                let commented = line.strip_prefix("# ").unwrap_or_default();
                let metrics_key = [
                    "exemplars =",
                    "native_histograms =",
                    "native_only =",
                    "genai_names =",
                ]
                .iter()
                .any(|key| commented.starts_with(key));
                if in_remote_write || metrics_key {
                    format!("{commented}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let metrics = config.metrics.metrics();
        assert!(metrics.exemplars() && metrics.genai_names() && !metrics.native_only());
        assert!(
            metrics
                .native_for("http_request_duration_seconds")
                .is_some()
        );
        let remote_write = config
            .metrics
            .push()
            .remote_write()
            .unwrap_or_else(|| panic!("{text}"));
        assert!(remote_write.exemplars() && remote_write.native_histograms());
    }

    fn refused(toml: &str) -> String {
        match Config::from_toml_str(toml) {
            Ok(_) => panic!("accepted: {toml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn metrics_endpoints_that_axum_cannot_mount_are_refused() {
        for endpoint in [
            "/health",
            "/api/v1/incidents",
            "/api/v1/incidents/x",
            "/api/",
        ] {
            let msg = refused(&format!("[metrics]\nendpoint = \"{endpoint}\""));
            assert!(
                msg.contains("metrics.endpoint") && msg.contains("collides"),
                "{endpoint}: {msg}"
            );
        }
        for endpoint in ["/:m", "/{m}", "/m/{*rest}", "/a*", "/x}", "/x{"] {
            let msg = refused(&format!("[metrics]\nendpoint = \"{endpoint}\""));
            assert!(
                msg.contains("metrics.endpoint") && msg.contains("route syntax"),
                "{endpoint}: {msg}"
            );
        }
        // On a port of its own, `/health` is free.
        Config::from_toml_str(
            "[metrics]\nendpoint = \"/health\"\n[metrics.server]\nlisten_addr = \"127.0.0.1:0\"",
        )
        .unwrap();
        for endpoint in [
            "/metrics",
            "/healthz",
            "/health/",
            "/apis",
            "/",
            "/m/x.y-z_~",
        ] {
            Config::from_toml_str(&format!("[metrics]\nendpoint = \"{endpoint}\""))
                .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        }
    }

    #[test]
    fn playbook_http_steps_need_a_url_and_a_method() {
        let step = |url: &str, method: &str| {
            format!(
                "[[playbooks]]\nname = \"p\"\nseverities = [\"critical\"]\n\
                 steps = [{{ type = \"annotate\", note = \"n\" }}, \
                 {{ type = \"http\", url = \"{url}\", method = \"{method}\" }}]"
            )
        };
        Config::from_toml_str(&step("http://127.0.0.1:9/hook", "PUT")).unwrap();
        Config::from_toml_str(&step("https://hooks.example/x", "PATCH")).unwrap();
        for url in [
            "",
            "nope",
            "ftp://x/y",
            "http://",
            "/relative",
            "http://a b/",
        ] {
            let msg = refused(&step(url, "POST"));
            assert!(
                msg.contains("playbooks[0].steps[1]") && msg.contains("url"),
                "{url}: {msg}"
            );
        }
        for method in ["", "PO ST", "GET\\n", "(POST)"] {
            let msg = refused(&step("http://127.0.0.1:9/hook", method));
            assert!(
                msg.contains("playbooks[0].steps[1]") && msg.contains("method"),
                "{method}: {msg}"
            );
        }
    }

    #[test]
    fn capacities_past_the_runtime_are_refused_naming_the_key() {
        let msg = refused(&format!(
            "[notifications]\nqueue_capacity = {}",
            MAX_QUEUE_CAPACITY as u64 + 1
        ));
        assert!(msg.contains("notifications.queue_capacity"), "{msg}");
        Config::from_toml_str(&format!(
            "[notifications]\nqueue_capacity = {MAX_QUEUE_CAPACITY}"
        ))
        .unwrap();
        let msg = refused(&format!("[limits]\nmax_headers = {}", MAX_HEADERS + 1));
        assert!(msg.contains("limits.max_headers"), "{msg}");
        let msg = refused(&format!(
            "[limits]\ngrpc_max_message_bytes = {}",
            MAX_GRPC_MESSAGE_BYTES as u64 + 1
        ));
        assert!(msg.contains("limits.grpc_max_message_bytes"), "{msg}");
        for bad in [0, 1023, (1 << 30) + 1] {
            let msg = refused(&format!("[llm]\nmax_response_bytes = {bad}"));
            assert!(msg.contains("llm.max_response_bytes"), "{msg}");
        }
        for bad in ["nan", "inf", "-1.0"] {
            let msg = refused(&format!(
                "[llm.prices.m]\ninput_per_million = 1.0\noutput_per_million = {bad}"
            ));
            assert!(msg.contains("llm.prices.\"m\".output_per_million"), "{msg}");
        }
        let msg = refused(
            "[notifications]\nchannels = [\"webhook\"]\n[notifications.webhook]\nurl = \"http://\"",
        );
        assert!(msg.contains("notifications.webhook.url"), "{msg}");
    }

    #[test]
    fn defaults_validate_and_toml_overrides() {
        Config::default().validate().unwrap();
        let config = Config::from_toml_str(
            r#"
            http_addr = "127.0.0.1:0"
            [metrics]
            sample_rate = 0.5
            [incidents.escalation]
            delays_ms = [10, 20]
            [[playbooks]]
            name = "p"
            severities = ["critical"]
            steps = [{ type = "wait", ms = 5 }, { type = "annotate", note = "n" }]
            "#,
        )
        .unwrap();
        assert_eq!(config.metrics.metrics().sample_rate(), 0.5);
        assert_eq!(config.incidents.escalation.delays_ms, vec![10, 20]);
        assert_eq!(config.playbooks.len(), 1);
        assert!(Config::from_toml_str("nope = 1").is_err());
        assert!(Config::from_toml_str("[notifications]\nchannels = [\"webhook\"]").is_err());
    }
    #[test]
    fn metrics_turns_native_histograms_on() {
        let config = Config::from_toml_str("[metrics]\nnative_histograms = true\n").unwrap();
        let metrics = config.metrics.metrics();
        assert!(
            metrics
                .native_for("http_request_duration_seconds")
                .is_some()
        );
        assert!(!metrics.native_only());
        assert!(
            Config::default()
                .metrics
                .metrics()
                .native_for("http_request_duration_seconds")
                .is_none()
        );
    }

    // ---- [llm] provider chain ----

    fn refused_llm(text: &str) -> String {
        match Config::from_toml_str(text) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted: {text}"),
        }
    }

    #[test]
    fn llm_providers_form_an_ordered_chain() {
        let config = Config::from_toml_str(
            r#"
            [llm]
            cooldown_ms = 5000
            failure_threshold = 2
            [[llm.providers]]
            name = "primary"
            provider = "openai"
            base_url = "http://127.0.0.1:9/v1"
            model = "m"
            timeout_ms = 700
            budget_usd = 12.5
            [[llm.providers]]
            provider = "offline"
            "#,
        )
        .unwrap();
        let chain = config.llm.chain();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].label(), "primary");
        assert_eq!(chain[0].timeout(), std::time::Duration::from_millis(700));
        assert_eq!(chain[0].budget_usd, Some(12.5));
        assert!(chain[0].stream, "stream defaults to true as in [llm]");
        assert_eq!(chain[1].label(), "offline");
        assert_eq!(chain[1].model_or_default(), OFFLINE_MODEL);
        assert_eq!(config.llm.cooldown_ms, 5000);
        assert_eq!(config.llm.failure_threshold, 2);
    }

    #[test]
    fn the_single_provider_keys_are_a_one_provider_chain() {
        let mut config = Config::from_toml_str(
            "[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
             timeout_ms = 900\nbudget_usd = 3.0",
        )
        .unwrap();
        config.apply_env(|k| match k {
            "LLM_BASE_URL" => Some("http://127.0.0.1:10/v1".to_owned()),
            "LLM_API_KEY" => Some("secret".to_owned()),
            _ => None,
        });
        config.validate().unwrap();
        let chain = config.llm.chain();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].label(), "openai");
        assert_eq!(chain[0].base_url, "http://127.0.0.1:10/v1", "env applies");
        assert_eq!(chain[0].api_key.as_deref(), Some("secret"));
        assert_eq!(chain[0].timeout_ms, 900);
        assert_eq!(chain[0].budget_usd, Some(3.0));
        // The defaults: one offline provider.
        let chain = Config::default().llm.chain();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].provider, ProviderKind::Offline);
        assert_eq!(Config::default().llm.cooldown_ms, 30_000);
        assert_eq!(Config::default().llm.failure_threshold, 3);
    }

    #[test]
    fn single_keys_and_providers_together_are_refused() {
        let msg = refused_llm(
            "[llm]\nmodel = \"x\"\ntimeout_ms = 5\n[[llm.providers]]\nprovider = \"offline\"",
        );
        assert!(msg.contains("model, timeout_ms"), "{msg}");
        assert!(msg.contains("not both"), "{msg}");
        // The keys of the chain itself go with the tables.
        Config::from_toml_str(
            "[llm]\nmax_in_flight = 2\ncooldown_ms = 1\n[[llm.providers]]\nprovider = \"offline\"",
        )
        .unwrap();
    }

    #[test]
    fn env_with_providers_fills_keys_and_refuses_the_single_provider_variables() {
        let text = "[[llm.providers]]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                    [[llm.providers]]\nname = \"b\"\nprovider = \"openai\"\n\
                    base_url = \"http://127.0.0.1:9/v1\"\napi_key = \"own\"";
        let mut config = Config::from_toml_str(text).unwrap();
        config.apply_env(|k| (k == "OPENAI_API_KEY").then(|| "env".to_owned()));
        config.validate().unwrap();
        assert_eq!(config.llm.providers[0].api_key.as_deref(), Some("env"));
        assert_eq!(config.llm.providers[1].api_key.as_deref(), Some("own"));
        let mut config = Config::from_toml_str(text).unwrap();
        config.apply_env(|k| (k == "LLM_MODEL").then(|| "m".to_owned()));
        let msg = config.validate().unwrap_err().to_string();
        assert!(
            msg.contains("LLM_MODEL") && msg.contains("[[llm.providers]]"),
            "{msg}"
        );
    }

    #[test]
    fn each_provider_is_checked() {
        let openai =
            "[[llm.providers]]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n";
        let msg = refused_llm(&format!("{openai}{openai}"));
        assert!(msg.contains("\"openai\" is used twice"), "{msg}");
        let msg = refused_llm(&format!(
            "{OFFLINE}[[llm.providers]]\nprovider = \"openai\"\nbase_url = \"ftp://x\""
        ));
        assert!(msg.contains("llm.providers[1].base_url"), "{msg}");
        let msg = refused_llm(&format!("{openai}max_response_bytes = 5"));
        assert!(msg.contains("llm.providers[0].max_response_bytes"), "{msg}");
        for bad in ["-1.0", "nan", "inf"] {
            let msg = refused_llm(&format!("{openai}budget_usd = {bad}"));
            assert!(msg.contains("llm.providers[0].budget_usd"), "{msg}");
            let msg = refused_llm(&format!("[llm]\nbudget_usd = {bad}"));
            assert!(msg.contains("llm.budget_usd"), "{msg}");
        }
        let msg = refused_llm(&format!(
            "{openai}[llm.providers.tls]\ncert_file = \"c.pem\""
        ));
        assert!(msg.contains("llm.providers[0]"), "{msg}");
        let msg = refused_llm(&format!("{openai}nope = 1"));
        assert!(msg.contains("nope"), "{msg}");
        for bad in [0, 86_400_001] {
            let msg = refused_llm(&format!("[llm]\ncooldown_ms = {bad}"));
            assert!(msg.contains("llm.cooldown_ms"), "{msg}");
        }
        Config::from_toml_str("[llm]\ncooldown_ms = 86400000").unwrap();
        let msg = refused_llm("[llm]\nfailure_threshold = 0");
        assert!(msg.contains("llm.failure_threshold"), "{msg}");
    }

    const OFFLINE: &str = "[[llm.providers]]\nprovider = \"offline\"\n";
}
