//! Where the TLS files are: the `tls` sub-tables of the push and server
//! settings. This crate only holds and checks paths; the exporter crate
//! (feature `tls`) reads the files and speaks TLS.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// How a push client verifies an `https://` receiver (the `tls` sub-table
/// of `[push.remote_write]` and `[push.pushgateway]`).
///
/// Without it, `https://` receivers are verified against the platform's
/// roots (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured).
///
/// # Examples
///
/// ```
/// use incident_metrics_core::MetricsConfig;
///
/// let config = MetricsConfig::from_toml_str(r#"
///     [push.remote_write]
///     url = "https://mimir.example.com/api/v1/push"
///     [push.remote_write.tls]
///     ca_file = "/etc/ssl/internal-ca.pem"
/// "#)?;
/// let tls = config.push().remote_write().unwrap().tls().unwrap();
/// assert_eq!(tls.ca_file().unwrap().to_str(), Some("/etc/ssl/internal-ca.pem"));
/// assert!(!tls.insecure_skip_verify());
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientTlsSettings {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    insecure_skip_verify: bool,
}

impl ClientTlsSettings {
    /// No extra CA, no client certificate, verification on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the CA certificates (PEM) in `path`.
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Shows this client certificate and key (PEM) to servers that ask.
    #[must_use]
    pub fn with_client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.cert_file = Some(cert_file.into());
        self.key_file = Some(key_file.into());
        self
    }

    /// Skips verifying the server's certificate (tests and emergencies).
    #[must_use]
    pub fn with_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.insecure_skip_verify = skip;
        self
    }

    /// The extra CA file.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The client certificate file.
    pub fn cert_file(&self) -> Option<&Path> {
        self.cert_file.as_deref()
    }

    /// The client key file.
    pub fn key_file(&self) -> Option<&Path> {
        self.key_file.as_deref()
    }

    /// Whether server certificates go unverified.
    pub fn insecure_skip_verify(&self) -> bool {
        self.insecure_skip_verify
    }

    /// Checks that a client certificate comes with its key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTls`] naming `field` when only one of `cert_file`
    /// and `key_file` is set.
    pub fn validate(&self, field: &'static str) -> Result<()> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(Error::InvalidTls {
                field,
                reason: "cert_file and key_file go together: set both or neither",
            });
        }
        Ok(())
    }

    /// Applies one `TLS_*` variable (`key` after `TLS_`).
    pub(crate) fn set_env(&mut self, key: &str, value: &str) -> std::result::Result<(), String> {
        let path = || Some(PathBuf::from(value.trim()));
        match key {
            "CA_FILE" => self.ca_file = path(),
            "CERT_FILE" => self.cert_file = path(),
            "KEY_FILE" => self.key_file = path(),
            "INSECURE_SKIP_VERIFY" => {
                self.insecure_skip_verify = match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" => false,
                    _ => return Err("use `true` or `false`".to_owned()),
                }
            }
            _ => {
                return Err(
                    "unknown TLS variable; the known ones end in TLS_CA_FILE, TLS_CERT_FILE, \
                     TLS_KEY_FILE, TLS_INSECURE_SKIP_VERIFY"
                        .to_owned(),
                );
            }
        }
        Ok(())
    }
}

/// A listener's TLS (the `tls` sub-table of `[server]`): certificate, key,
/// and optionally a CA whose client certificates are then required.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::MetricsConfig;
///
/// let config = MetricsConfig::from_toml_str(r#"
///     [server]
///     listen_addr = "127.0.0.1:9464"
///     [server.tls]
///     cert_file = "/etc/tls/metrics.pem"
///     key_file = "/etc/tls/metrics.key"
///     client_ca_file = "/etc/tls/prometheus-ca.pem"
/// "#)?;
/// let tls = config.server().tls().unwrap();
/// assert!(tls.client_ca_file().is_some());
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerTlsSettings {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
}

impl ServerTlsSettings {
    /// Serves this certificate chain and key (PEM).
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
        }
    }

    /// Requires client certificates signed by a CA in `path` (mTLS).
    #[must_use]
    pub fn with_client_ca_file(mut self, path: Option<PathBuf>) -> Self {
        self.client_ca_file = path;
        self
    }

    /// The certificate chain file.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The key file.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The client CA file, when client certificates are required.
    pub fn client_ca_file(&self) -> Option<&Path> {
        self.client_ca_file.as_deref()
    }
}
