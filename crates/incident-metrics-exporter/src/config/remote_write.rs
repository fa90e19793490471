//! [`RemoteWriteConfig`]: the `[push.remote_write]` table.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::check::{check_label_set, check_seconds, check_size, check_url, seconds};
use super::push::{
    MAX_PUSH_INTERVAL_SECONDS, MAX_PUSH_TIMEOUT_SECONDS, MAX_QUEUE_CAPACITY,
    MIN_PUSH_INTERVAL_SECONDS,
};
use super::{ClientTlsConfig, deserialize_labels};
use crate::{Error, Result};

/// The settings of the Prometheus remote-write sender (the
/// `[push.remote_write]` table), and its one builder: with the
/// `remote-write` feature, [`register`](Self::register) checks them and
/// registers the sender's own families, and
/// [`RemoteWrite::start`](crate::RemoteWrite::start) starts it.
///
/// Every `interval` the sender takes a snapshot of the registry and queues
/// its samples; it sends them in requests of at most
/// `max_samples_per_request` samples, retrying answers `5xx` and `429` and
/// unreachable receivers with a backoff from `min_backoff` up to
/// `max_backoff`. The queue holds `queue_capacity` samples: with `S` series
/// in the registry, an outage of up to `queue_capacity / S × interval`
/// loses nothing, and a longer one drops the oldest samples first. Every
/// setting has a key in the table and a variable (see
/// [`PushConfig::with_env_vars`](crate::PushConfig::with_env_vars)).
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::RemoteWriteConfig;
///
/// let remote_write = RemoteWriteConfig::new("http://prometheus:9090/api/v1/write")
///     .with_interval_seconds(10.0)
///     .with_queue_capacity(50_000)
///     .with_min_backoff_seconds(0.1)
///     .with_external_label("instance", "api-1");
/// remote_write.validate()?;
/// assert_eq!(remote_write.flush_timeout(), remote_write.timeout());
///
/// let bad = RemoteWriteConfig::new("http://prometheus:9090/api/v1/write").with_queue_capacity(0);
/// assert!(bad.validate().unwrap_err().to_string().contains("queue_capacity"));
/// # Ok::<(), incident_metrics_exporter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteWriteConfig {
    pub(super) url: String,
    pub(super) interval_seconds: f64,
    pub(super) timeout_seconds: f64,
    pub(super) queue_capacity: usize,
    pub(super) max_samples_per_request: usize,
    #[serde(deserialize_with = "deserialize_labels")]
    pub(super) external_labels: Vec<(String, String)>,
    pub(super) max_backoff_seconds: f64,
    pub(super) min_backoff_seconds: f64,
    pub(super) flush_timeout_seconds: Option<f64>,
    #[serde(deserialize_with = "deserialize_labels")]
    pub(super) headers: Vec<(String, String)>,
    pub(super) tls: Option<ClientTlsConfig>,
    pub(super) exemplars: bool,
    pub(super) native_histograms: bool,
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
    /// The default first wait before a retry, in seconds.
    pub const DEFAULT_MIN_BACKOFF_SECONDS: f64 = 0.05;

    /// Settings for sending to `url` (such as
    /// `http://prometheus:9090/api/v1/write`), with the defaults: a snapshot
    /// every 15 s, 10 s timeout, 100 000 queued samples, 2 000 samples per
    /// request, no external labels, retries from 50 ms up to at most 5 s
    /// apart, stopping may flush for as long as one request may take.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            interval_seconds: Self::DEFAULT_INTERVAL_SECONDS,
            timeout_seconds: Self::DEFAULT_TIMEOUT_SECONDS,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_samples_per_request: Self::DEFAULT_MAX_SAMPLES_PER_REQUEST,
            external_labels: Vec::new(),
            max_backoff_seconds: Self::DEFAULT_MAX_BACKOFF_SECONDS,
            min_backoff_seconds: Self::DEFAULT_MIN_BACKOFF_SECONDS,
            flush_timeout_seconds: None,
            headers: Vec::new(),
            tls: None,
            exemplars: false,
            native_histograms: false,
        }
    }

    /// Sends the exemplars of counters and histogram buckets with their
    /// series (`exemplars`, default false). A receiver keeps them only
    /// with exemplar storage on (Prometheus:
    /// `--enable-feature=exemplar-storage`); one without it ignores them.
    /// An exemplar goes once: a snapshot sends it only when it differs from
    /// the one its series carried in the last snapshot.
    #[must_use]
    pub fn with_exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Whether exemplars are sent.
    pub fn exemplars(&self) -> bool {
        self.exemplars
    }

    /// Sends each histogram with native buckets (the registry's
    /// `native_histograms`) as a remote-write native histogram too, on the
    /// series named after the family, beside its classic `_bucket`, `_sum`
    /// and `_count` series (`native_histograms`, default false). A receiver
    /// needs native histograms on (Prometheus 2.42:
    /// `--enable-feature=native-histograms`); when one answers `500`
    /// "native histograms are disabled", the sender drops the native
    /// histograms of that request, sends the rest, counts the dropped ones
    /// in `remote_write_native_histograms_dropped_total` and sends no more
    /// native histograms until it is restarted (see
    /// [`RemoteWrite`](crate::RemoteWrite)).
    #[must_use]
    pub fn with_native_histograms(mut self, on: bool) -> Self {
        self.native_histograms = on;
        self
    }

    /// Whether native histograms are sent.
    pub fn native_histograms(&self) -> bool {
        self.native_histograms
    }

    /// Sets how an `https://` receiver is verified (the platform's roots by
    /// default) and the client certificate shown to it (the
    /// `[push.remote_write.tls]` table).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<ClientTlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS settings, when configured.
    pub fn tls(&self) -> Option<&ClientTlsConfig> {
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

    /// Sets the shortest wait before a retry, in seconds (0.05): the first
    /// step of the exponential backoff.
    #[must_use]
    pub fn with_min_backoff_seconds(mut self, seconds: f64) -> Self {
        self.min_backoff_seconds = seconds;
        self
    }

    /// Sets how long stopping may spend sending what is queued, in seconds
    /// (`None`: the request timeout, the default); what is left then is
    /// dropped and counted.
    #[must_use]
    pub fn with_flush_timeout_seconds(mut self, seconds: Option<f64>) -> Self {
        self.flush_timeout_seconds = seconds;
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

    /// The shortest wait before a retry, in seconds, as given.
    pub fn min_backoff_seconds(&self) -> f64 {
        self.min_backoff_seconds
    }

    /// The shortest wait before a retry (the default when the value is
    /// invalid).
    pub fn min_backoff(&self) -> Duration {
        seconds(self.min_backoff_seconds, Self::DEFAULT_MIN_BACKOFF_SECONDS)
    }

    /// How long stopping may flush, in seconds, as given (`None`: the
    /// request timeout).
    pub fn flush_timeout_seconds(&self) -> Option<f64> {
        self.flush_timeout_seconds
    }

    /// How long stopping may spend sending what is queued: the configured
    /// flush timeout, or else the request timeout.
    pub fn flush_timeout(&self) -> Duration {
        match self.flush_timeout_seconds {
            Some(value) => seconds(value, self.timeout().as_secs_f64()),
            None => self.timeout(),
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a URL that is empty, not `http://` or
    /// `https://`, without a host, with a bad port or with whitespace;
    /// [`Error::InvalidDuration`] for an interval outside
    /// [`MIN_PUSH_INTERVAL_SECONDS`]..=[`MAX_PUSH_INTERVAL_SECONDS`] or a
    /// timeout, flush timeout or maximum backoff outside
    /// (0, [`MAX_PUSH_TIMEOUT_SECONDS`]], or a minimum backoff outside
    /// (0, `max_backoff_seconds`];
    /// [`Error::InvalidSize`] for a queue capacity outside
    /// 1..=[`MAX_QUEUE_CAPACITY`] or a request size outside
    /// 1..=`queue_capacity`; [`Error::Core`] (a label name that breaks
    /// the Prometheus rules) and [`Error::DuplicateLabel`] for the external
    /// labels;
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
        check_seconds(
            "push.remote_write.min_backoff_seconds",
            self.min_backoff_seconds,
            0.0,
            self.max_backoff_seconds
                .clamp(0.0, MAX_PUSH_TIMEOUT_SECONDS),
        )?;
        if let Some(flush) = self.flush_timeout_seconds {
            check_seconds(
                "push.remote_write.flush_timeout_seconds",
                flush,
                0.0,
                MAX_PUSH_TIMEOUT_SECONDS,
            )?;
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{PushConfig, RemoteWriteConfig};

    #[test]
    fn exemplars_and_native_histograms_are_off_until_set_by_key_variable_or_builder() {
        let off = RemoteWriteConfig::new("http://p:9090/api/v1/write");
        assert!(!off.exemplars() && !off.native_histograms());
        let on = off
            .clone()
            .with_exemplars(true)
            .with_native_histograms(true);
        assert!(on.exemplars() && on.native_histograms());

        let push: PushConfig = toml::from_str(
            "[remote_write]\nurl = \"http://p:9090/api/v1/write\"\nexemplars = true\n",
        )
        .unwrap();
        let rw = push.remote_write().unwrap();
        assert!(rw.exemplars() && !rw.native_histograms());
        let push: PushConfig = toml::from_str(
            "[remote_write]\nurl = \"http://p:9090/api/v1/write\"\nnative_histograms = true\n",
        )
        .unwrap();
        let rw = push.remote_write().unwrap();
        assert!(!rw.exemplars() && rw.native_histograms());

        let push = PushConfig::new()
            .with_env_vars([
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_URL",
                    "http://p:9090/api/v1/write",
                ),
                ("INCIDENT_METRICS_REMOTE_WRITE_EXEMPLARS", "true"),
                ("INCIDENT_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS", "true"),
            ])
            .unwrap();
        let rw = push.remote_write().unwrap();
        assert!(rw.exemplars() && rw.native_histograms());
        let e = PushConfig::new()
            .with_env_vars([
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_URL",
                    "http://p:9090/api/v1/write",
                ),
                (
                    "INCIDENT_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS",
                    "sometimes",
                ),
            ])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("INCIDENT_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS"),
            "{e}"
        );
    }
}
