//! [`PushConfig`]: the settings of the push paths (the `[push]` table), a
//! Prometheus remote-write sender ([`RemoteWriteConfig`]) and a Pushgateway
//! ([`PushgatewayConfig`]), and their variables.

use incident_metrics_core::ENV_PREFIX;
use serde::Deserialize;

use super::{
    ClientTlsConfig, PushgatewayConfig, RemoteWriteConfig, apply_env, parse_pairs, parse_seconds,
    parse_size, process_env,
};
use crate::Result;

/// The suffixes of the `INCIDENT_METRICS_REMOTE_WRITE_*` variables.
const REMOTE_WRITE_ENV: &[&str] = &[
    "URL",
    "INTERVAL_SECONDS",
    "TIMEOUT_SECONDS",
    "QUEUE_CAPACITY",
    "MAX_SAMPLES_PER_REQUEST",
    "EXTERNAL_LABELS",
    "MAX_BACKOFF_SECONDS",
    "MIN_BACKOFF_SECONDS",
    "FLUSH_TIMEOUT_SECONDS",
    "HEADERS",
    "TLS_CA_FILE",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_INSECURE_SKIP_VERIFY",
    "EXEMPLARS",
    "NATIVE_HISTOGRAMS",
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

/// The largest remote-write queue, in samples (about 480 MB of memory, plus
/// the series' labels).
pub const MAX_QUEUE_CAPACITY: usize = 10_000_000;

/// The settings of the push paths (the `[push]` table): a Prometheus
/// remote-write sender and a Pushgateway, each off until configured.
///
/// Each section is the one builder of its client:
/// [`RemoteWriteConfig::register`](RemoteWriteConfig) (feature
/// `remote-write`) and [`Pushgateway::from_config`](crate::Pushgateway)
/// (feature `pushgateway`). The variables `INCIDENT_METRICS_REMOTE_WRITE_*`
/// and `INCIDENT_METRICS_PUSHGATEWAY_*` win over the file
/// ([`with_env_vars`](Self::with_env_vars)).
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::PushConfig;
///
/// let push: PushConfig = toml::from_str(r#"
///     [remote_write]
///     url = "http://mimir:8080/api/v1/push"
///     interval_seconds = 30
///     [remote_write.external_labels]
///     instance = "api-1"
///
///     [pushgateway]
///     url = "http://pushgateway:9091"
///     job = "nightly_backup"
/// "#)?;
/// push.validate()?;
/// let remote_write = push.remote_write().unwrap();
/// assert_eq!(remote_write.url(), "http://mimir:8080/api/v1/push");
/// assert_eq!(remote_write.interval().as_secs(), 30);
/// assert_eq!(push.pushgateway().unwrap().job(), "nightly_backup");
///
/// let bad: PushConfig = toml::from_str("[remote_write]\nurl = \"ftp://x\"")?;
/// assert!(bad.validate().unwrap_err().to_string().contains("push.remote_write.url"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PushConfig {
    remote_write: Option<RemoteWriteConfig>,
    pushgateway: Option<PushgatewayConfig>,
}

impl PushConfig {
    /// Nothing pushed: both sections off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns on the remote-write sender with these settings (the
    /// `[push.remote_write]` table); `None` turns it off.
    #[must_use]
    pub fn with_remote_write(mut self, remote_write: Option<RemoteWriteConfig>) -> Self {
        self.remote_write = remote_write;
        self
    }

    /// Turns on pushing to a Pushgateway with these settings (the
    /// `[push.pushgateway]` table); `None` turns it off.
    #[must_use]
    pub fn with_pushgateway(mut self, pushgateway: Option<PushgatewayConfig>) -> Self {
        self.pushgateway = pushgateway;
        self
    }

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

    /// The process's `INCIDENT_METRICS_REMOTE_WRITE_*` and
    /// `INCIDENT_METRICS_PUSHGATEWAY_*` variables applied over this
    /// configuration, validated.
    ///
    /// # Errors
    ///
    /// As [`with_env_vars`](Self::with_env_vars).
    pub fn with_env(self) -> Result<Self> {
        self.with_env_vars(process_env())
    }

    /// The push variables among `vars` applied over this configuration,
    /// validated; other variables are ignored:
    ///
    /// | variable (after `INCIDENT_METRICS_`) | key of `[push.remote_write]` |
    /// |---|---|
    /// | `REMOTE_WRITE_URL` | `url`, such as `http://prometheus:9090/api/v1/write` |
    /// | `REMOTE_WRITE_INTERVAL_SECONDS` | `interval_seconds`: seconds between snapshots |
    /// | `REMOTE_WRITE_TIMEOUT_SECONDS` | `timeout_seconds`: seconds one request may take |
    /// | `REMOTE_WRITE_QUEUE_CAPACITY` | `queue_capacity`: samples held while the receiver is unreachable |
    /// | `REMOTE_WRITE_MAX_SAMPLES_PER_REQUEST` | `max_samples_per_request` |
    /// | `REMOTE_WRITE_EXTERNAL_LABELS` | `external_labels`: comma-separated `name=value` pairs (replaces the list) |
    /// | `REMOTE_WRITE_MIN_BACKOFF_SECONDS` | `min_backoff_seconds`: the first wait before a retry |
    /// | `REMOTE_WRITE_MAX_BACKOFF_SECONDS` | `max_backoff_seconds`: the longest wait between retries |
    /// | `REMOTE_WRITE_FLUSH_TIMEOUT_SECONDS` | `flush_timeout_seconds`: how long stopping may spend sending what is queued |
    /// | `REMOTE_WRITE_HEADERS` | `headers`: comma-separated `Name=value` HTTP headers (replaces the list) |
    /// | `REMOTE_WRITE_EXEMPLARS` | `exemplars`: send exemplars (`true` or `false`) |
    /// | `REMOTE_WRITE_NATIVE_HISTOGRAMS` | `native_histograms`: send native histograms (`true` or `false`) |
    /// | `REMOTE_WRITE_TLS_CA_FILE`, `..._TLS_CERT_FILE`, `..._TLS_KEY_FILE`, `..._TLS_INSECURE_SKIP_VERIFY` | `[push.remote_write.tls]` |
    ///
    /// | variable (after `INCIDENT_METRICS_`) | key of `[push.pushgateway]` |
    /// |---|---|
    /// | `PUSHGATEWAY_URL` | `url`, such as `http://pushgateway:9091` |
    /// | `PUSHGATEWAY_JOB` | `job`: the job name of the grouping key |
    /// | `PUSHGATEWAY_GROUPING` | `grouping`: comma-separated `name=value` pairs (replaces the list) |
    /// | `PUSHGATEWAY_TIMEOUT_SECONDS` | `timeout_seconds`: seconds one request may take |
    /// | `PUSHGATEWAY_TLS_CA_FILE`, `..._TLS_CERT_FILE`, `..._TLS_KEY_FILE`, `..._TLS_INSECURE_SKIP_VERIFY` | `[push.pushgateway.tls]` |
    ///
    /// Any `REMOTE_WRITE_*` (or `PUSHGATEWAY_*`) variable turns the section
    /// on, with the defaults of [`RemoteWriteConfig::new`]
    /// ([`PushgatewayConfig::new`]) for what is not given; the URL (and the
    /// job) must then be given somewhere.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEnv`](crate::Error::InvalidEnv) for an unknown `REMOTE_WRITE_*` or
    /// `PUSHGATEWAY_*` variable or a value that cannot be parsed, and the
    /// errors of [`validate`](Self::validate).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_exporter::PushConfig;
    ///
    /// let push = PushConfig::new().with_env_vars([
    ///     ("INCIDENT_METRICS_REMOTE_WRITE_URL", "http://vm:8428/api/v1/write"),
    ///     ("INCIDENT_METRICS_REMOTE_WRITE_MIN_BACKOFF_SECONDS", "0.1"),
    ///     ("INCIDENT_METRICS_SAMPLE_RATE", "0.5"), // not push's: ignored
    /// ])?;
    /// let remote_write = push.remote_write().unwrap();
    /// assert_eq!(remote_write.min_backoff().as_millis(), 100);
    /// assert!(push.pushgateway().is_none());
    /// # Ok::<(), incident_metrics_exporter::Error>(())
    /// ```
    pub fn with_env_vars<I, K, V>(mut self, vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        apply_env(vars, |name, value| {
            Self::is_own_env(name).then(|| self.set_env(name, value))
        })?;
        self.validate()?;
        Ok(self)
    }

    /// Whether the variable `var` (with its `INCIDENT_METRICS_` prefix) is
    /// one push reads: any `REMOTE_WRITE_*` or `PUSHGATEWAY_*` (an unknown
    /// one is then an error naming the known ones).
    pub fn reads_env(var: &str) -> bool {
        var.strip_prefix(ENV_PREFIX).is_some_and(Self::is_own_env)
    }

    /// The families of push variables, for messages: `REMOTE_WRITE_{URL,...}`
    /// and `PUSHGATEWAY_{URL,...}`.
    pub fn env_names() -> [String; 2] {
        [
            format!("REMOTE_WRITE_{{{}}}", REMOTE_WRITE_ENV.join(",")),
            format!("PUSHGATEWAY_{{{}}}", PUSHGATEWAY_ENV.join(",")),
        ]
    }

    fn is_own_env(name: &str) -> bool {
        name.starts_with("REMOTE_WRITE_") || name.starts_with("PUSHGATEWAY_")
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
                "MIN_BACKOFF_SECONDS" => rw.min_backoff_seconds = parse_seconds(value)?,
                "FLUSH_TIMEOUT_SECONDS" => rw.flush_timeout_seconds = Some(parse_seconds(value)?),
                "QUEUE_CAPACITY" => rw.queue_capacity = parse_size(value)?,
                "MAX_SAMPLES_PER_REQUEST" => rw.max_samples_per_request = parse_size(value)?,
                "EXTERNAL_LABELS" => rw.external_labels = parse_pairs(value)?,
                "HEADERS" => rw.headers = parse_pairs(value)?,
                "EXEMPLARS" => rw.exemplars = super::parse_bool(value)?,
                "NATIVE_HISTOGRAMS" => rw.native_histograms = super::parse_bool(value)?,
                _ if key.starts_with("TLS_") => rw
                    .tls
                    .get_or_insert_with(ClientTlsConfig::new)
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
                    .get_or_insert_with(ClientTlsConfig::new)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Error;

    const RW_URL: &str = "http://127.0.0.1:9090/api/v1/write";

    fn err(config: &PushConfig) -> String {
        match config.validate() {
            Ok(()) => panic!("expected {config:?} to be rejected"),
            Err(e) => e.to_string(),
        }
    }

    fn rw(c: RemoteWriteConfig) -> String {
        err(&PushConfig::new().with_remote_write(Some(c)))
    }

    fn pg(c: PushgatewayConfig) -> String {
        err(&PushConfig::new().with_pushgateway(Some(c)))
    }

    /// The `[push]` table of a file, parsed and validated.
    fn from_toml(text: &str) -> Result<PushConfig> {
        let push: PushConfig = toml::from_str(text).map_err(|e| Error::InvalidEnv {
            var: "toml".into(),
            value: text.into(),
            reason: e.to_string(),
        })?;
        push.validate()?;
        Ok(push)
    }

    #[test]
    fn push_is_off_by_default_and_defaults_are_valid() {
        let c = PushConfig::default();
        assert_eq!(c.remote_write(), None);
        assert_eq!(c.pushgateway(), None);
        let r = RemoteWriteConfig::new(RW_URL);
        assert!(r.validate().is_ok());
        assert_eq!(r.interval(), Duration::from_secs(15));
        assert_eq!(r.timeout(), Duration::from_secs(10));
        assert_eq!(r.max_backoff(), Duration::from_secs(5));
        assert_eq!(r.min_backoff(), Duration::from_millis(50));
        assert_eq!(r.flush_timeout(), Duration::from_secs(10));
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
        let c = from_toml(
            r#"
            [remote_write]
            url = "http://vm:8428/api/v1/write"
            interval_seconds = 0.5
            timeout_seconds = 2
            queue_capacity = 1000
            max_samples_per_request = 100
            max_backoff_seconds = 1.5
            min_backoff_seconds = 0.25
            flush_timeout_seconds = 4
            [remote_write.external_labels]
            instance = "a"
            job = "svc"
            [remote_write.headers]
            X-Scope-OrgID = "tenant-1"
            [pushgateway]
            url = "http://pg:9091"
            job = "batch"
            timeout_seconds = 3
            [pushgateway.grouping]
            instance = "x/y"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = c
            .remote_write()
            .unwrap_or_else(|| panic!("no remote_write"));
        assert_eq!(r.url(), "http://vm:8428/api/v1/write");
        assert_eq!(r.interval(), Duration::from_millis(500));
        assert_eq!(r.timeout(), Duration::from_secs(2));
        assert_eq!(r.queue_capacity(), 1000);
        assert_eq!(r.max_samples_per_request(), 100);
        assert_eq!(r.max_backoff(), Duration::from_millis(1500));
        assert_eq!(r.min_backoff(), Duration::from_millis(250));
        assert_eq!(r.flush_timeout(), Duration::from_secs(4));
        assert_eq!(r.external_labels().len(), 2);
        assert_eq!(
            r.headers(),
            [("X-Scope-OrgID".to_owned(), "tenant-1".to_owned())]
        );
        let p = c.pushgateway().unwrap_or_else(|| panic!("no pushgateway"));
        assert_eq!((p.url(), p.job()), ("http://pg:9091", "batch"));
        assert_eq!(p.grouping(), [("instance".to_owned(), "x/y".to_owned())]);
        assert_eq!(p.timeout(), Duration::from_secs(3));
    }

    #[test]
    fn push_toml_errors_are_clear() {
        let cases = [
            (
                "[remote_write]\nurl = \"http://x/\"\nintervall_seconds = 1",
                "intervall_seconds",
            ),
            (
                "[remote_write]\ninterval_seconds = 1",
                "push.remote_write.url",
            ),
            (
                "[remote_write]\nurl = \"http://x/\"\nqueue_capacity = -1",
                "queue_capacity",
            ),
            (
                "[remote_write]\nurl = \"http://x/\"\nqueue_capacity = 0",
                "queue_capacity",
            ),
            ("[pushgateway]\nurl = \"http://x/\"", "push.pushgateway.job"),
            ("[pushgatewy]\nurl = \"http://x/\"", "pushgatewy"),
        ];
        for (text, needle) in cases {
            let msg = from_toml(text).unwrap_err().to_string();
            assert!(msg.contains(needle), "{text}: {msg}");
        }
    }

    #[test]
    fn loads_push_env_vars() {
        let c = PushConfig::new()
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
                ("INCIDENT_METRICS_REMOTE_WRITE_MIN_BACKOFF_SECONDS", "0.5"),
                ("INCIDENT_METRICS_REMOTE_WRITE_FLUSH_TIMEOUT_SECONDS", "7"),
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
            .remote_write()
            .unwrap_or_else(|| panic!("no remote_write"));
        assert_eq!(r.url(), "http://p:9090/api/v1/write");
        assert_eq!(r.interval(), Duration::from_millis(250));
        assert_eq!(r.timeout(), Duration::from_secs(3));
        assert_eq!(r.queue_capacity(), 5000);
        assert_eq!(r.max_samples_per_request(), 500);
        assert_eq!(r.max_backoff(), Duration::from_secs(2));
        assert_eq!(r.min_backoff(), Duration::from_millis(500));
        assert_eq!(r.flush_timeout(), Duration::from_secs(7));
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
        let p = c.pushgateway().unwrap_or_else(|| panic!("no pushgateway"));
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
            let msg = PushConfig::new()
                .with_env_vars([url, (var, value)])
                .unwrap_err()
                .to_string();
            assert!(msg.contains(needle), "{var}={value}: {msg}");
        }
        // A section turned on without its URL (or job) says so.
        let msg = PushConfig::new()
            .with_env_vars([("INCIDENT_METRICS_REMOTE_WRITE_QUEUE_CAPACITY", "10")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("push.remote_write.url"), "{msg}");
        let msg = PushConfig::new()
            .with_env_vars([("INCIDENT_METRICS_PUSHGATEWAY_URL", "http://pg:9091")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("push.pushgateway.job"), "{msg}");
        // Other parts' variables are left to them.
        assert!(!PushConfig::reads_env("INCIDENT_METRICS_PUSH"));
        assert!(PushConfig::reads_env("INCIDENT_METRICS_REMOTE_WRITE_URLL"));
        assert_eq!(
            PushConfig::new()
                .with_env_vars([("INCIDENT_METRICS_PUSH", "1")])
                .ok(),
            Some(PushConfig::new())
        );
        let msg = rw(RemoteWriteConfig::new(RW_URL)
            .with_max_backoff_seconds(1.0)
            .with_min_backoff_seconds(2.0));
        assert!(
            msg.contains("`push.remote_write.min_backoff_seconds` 2"),
            "{msg}"
        );
        let msg = rw(RemoteWriteConfig::new(RW_URL).with_flush_timeout_seconds(Some(0.0)));
        assert!(
            msg.contains("`push.remote_write.flush_timeout_seconds`"),
            "{msg}"
        );
    }
}
