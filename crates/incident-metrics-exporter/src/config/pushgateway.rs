//! [`PushgatewayConfig`]: the `[push.pushgateway]` table.

use std::time::Duration;

use serde::Deserialize;

use super::check::{check_label_set, check_seconds, check_url, seconds};
use super::push::MAX_PUSH_TIMEOUT_SECONDS;
use super::{ClientTlsConfig, deserialize_labels};
use crate::{Error, Result};

/// The settings of pushing to a Prometheus Pushgateway (the
/// `[push.pushgateway]` table): where, and under which grouping key (the
/// job and further labels). With the `pushgateway` feature,
/// [`Pushgateway::from_config`](crate::Pushgateway) builds the client.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::PushgatewayConfig;
///
/// let config = PushgatewayConfig::new("http://pushgateway:9091", "nightly_backup")
///     .with_grouping_label("instance", "db-1");
/// config.validate()?;
/// assert_eq!(config.grouping(), [("instance".to_owned(), "db-1".to_owned())]);
///
/// let bad = PushgatewayConfig::new("http://pushgateway:9091", "");
/// assert!(bad.validate().unwrap_err().to_string().contains("push.pushgateway.job"));
/// # Ok::<(), incident_metrics_exporter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PushgatewayConfig {
    pub(super) url: String,
    pub(super) job: String,
    #[serde(deserialize_with = "deserialize_labels")]
    pub(super) grouping: Vec<(String, String)>,
    pub(super) timeout_seconds: f64,
    pub(super) tls: Option<ClientTlsConfig>,
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
    pub fn with_tls(mut self, tls: Option<ClientTlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS settings, when configured.
    pub fn tls(&self) -> Option<&ClientTlsConfig> {
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
    /// [`Error::Core`] for a grouping label that breaks the naming rules,
    /// [`Error::InvalidLabelName`] for `job`; [`Error::DuplicateLabel`];
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
