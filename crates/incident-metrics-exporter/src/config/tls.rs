//! Where the TLS files are: the `tls` sub-tables of the push and server
//! settings. The types are plain data, always compiled; with the `tls`
//! feature, [`crate::tls`] reads the files and speaks TLS with them
//! ([`ClientTlsConfig::https_connector`](crate::ClientTlsConfig),
//! `ServerTlsConfig::acceptor`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{Error, Result};

/// How an outbound client speaks TLS (the `tls` sub-table of
/// `[push.remote_write]` and `[push.pushgateway]`): which servers it trusts,
/// whether it shows a client certificate, and (only when asked for
/// explicitly) whether it skips verification.
///
/// By default it trusts the platform's roots (read with
/// `rustls-native-certs`, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`);
/// [`with_ca_file`](Self::with_ca_file) adds a CA of one's own. With the
/// `tls` feature, `rustls_config` and `https_connector` build the client
/// (see [`crate::tls`]).
///
/// | key | variable (after `INCIDENT_METRICS_REMOTE_WRITE_` or `..._PUSHGATEWAY_`) |
/// |---|---|
/// | `ca_file` | `TLS_CA_FILE` |
/// | `cert_file` | `TLS_CERT_FILE` |
/// | `key_file` | `TLS_KEY_FILE` |
/// | `insecure_skip_verify` | `TLS_INSECURE_SKIP_VERIFY` |
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::ClientTlsConfig;
///
/// let tls: ClientTlsConfig = toml::from_str(r#"ca_file = "/etc/ssl/internal-ca.pem""#)?;
/// assert_eq!(tls.ca_file().unwrap().to_str(), Some("/etc/ssl/internal-ca.pem"));
/// assert!(!tls.insecure_skip_verify());
/// assert_eq!(tls, ClientTlsConfig::new().with_ca_file("/etc/ssl/internal-ca.pem"));
///
/// let half = ClientTlsConfig::new().with_client_cert("client.pem", "");
/// assert!(half.validate("push.remote_write.tls").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientTlsConfig {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    insecure_skip_verify: bool,
}

impl ClientTlsConfig {
    /// The defaults: the platform's roots, no client certificate,
    /// verification on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the CA certificates (PEM) in `path`.
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Shows the client certificate chain in `cert_file` (PEM) with the
    /// private key in `key_file` (PEM: PKCS#8, PKCS#1 or SEC1) to servers
    /// that ask for one (mTLS).
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

    /// Accepts any server certificate, unverified: the connection is
    /// encrypted but not authenticated, and anyone on the path can read it.
    /// For tests and emergencies only; whoever sets it should say so loudly
    /// at start-up (the reference service prints a warning).
    #[must_use]
    pub fn with_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.insecure_skip_verify = skip;
        self
    }

    /// The extra CA file, if any.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The client certificate file, if any.
    pub fn cert_file(&self) -> Option<&Path> {
        self.cert_file.as_deref()
    }

    /// The client key file, if any.
    pub fn key_file(&self) -> Option<&Path> {
        self.key_file.as_deref()
    }

    /// Whether server certificates go unverified.
    pub fn insecure_skip_verify(&self) -> bool {
        self.insecure_skip_verify
    }

    /// Checks that a client certificate comes with its key and no path is
    /// empty. Files are not read here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTls`] naming `field` (such as
    /// `push.remote_write.tls`).
    pub fn validate(&self, field: &'static str) -> Result<()> {
        let empty = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        if empty(&self.ca_file) || empty(&self.cert_file) || empty(&self.key_file) {
            return Err(Error::InvalidTls {
                field,
                reason: "a file path is empty: name the file, or leave the key out",
            });
        }
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
            "INSECURE_SKIP_VERIFY" => self.insecure_skip_verify = super::parse_bool(value)?,
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

/// The default of [`ServerTlsConfig::with_reload_check_interval`].
const DEFAULT_RELOAD_CHECK_INTERVAL_MS: u64 = 1_000;

/// A listener's TLS (the `[server.tls]` table): its certificate chain and
/// key, and optionally a CA whose client certificates are then required
/// (mTLS). TLS 1.2 at least. With the `tls` feature, `acceptor` builds a
/// [`TlsAcceptor`](crate::TlsAcceptor) that re-reads the files when they
/// change (see [`crate::tls`]).
///
/// | key | variable | meaning |
/// |---|---|---|
/// | `cert_file` | `INCIDENT_METRICS_SERVER_TLS_CERT_FILE` | the certificate chain (PEM, leaf first) |
/// | `key_file` | `INCIDENT_METRICS_SERVER_TLS_KEY_FILE` | its key (PEM) |
/// | `client_ca_file` | `INCIDENT_METRICS_SERVER_TLS_CLIENT_CA_FILE` | require client certificates signed by this CA |
/// | `reload_check_interval_ms` | `INCIDENT_METRICS_SERVER_TLS_RELOAD_CHECK_INTERVAL_MS` | how often, at most, an accept looks whether the files changed (1000) |
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::ServerTlsConfig;
///
/// let tls: ServerTlsConfig = toml::from_str(r#"
///     cert_file = "/etc/tls/metrics.pem"
///     key_file = "/etc/tls/metrics.key"
///     client_ca_file = "/etc/tls/prometheus-ca.pem"
/// "#)?;
/// assert_eq!(
///     tls,
///     ServerTlsConfig::new("/etc/tls/metrics.pem", "/etc/tls/metrics.key")
///         .with_client_ca_file("/etc/tls/prometheus-ca.pem")
/// );
/// assert_eq!(tls.reload_check_interval().as_secs(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerTlsConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default = "default_reload_check_interval_ms")]
    reload_check_interval_ms: u64,
}

fn default_reload_check_interval_ms() -> u64 {
    DEFAULT_RELOAD_CHECK_INTERVAL_MS
}

impl ServerTlsConfig {
    /// Serves the certificate chain in `cert_file` (PEM, leaf first) with
    /// the key in `key_file` (PEM).
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            reload_check_interval_ms: DEFAULT_RELOAD_CHECK_INTERVAL_MS,
        }
    }

    /// Requires client certificates signed by a CA in `path` (PEM).
    #[must_use]
    pub fn with_client_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca_file = Some(path.into());
        self
    }

    /// Sets (or, with `None`, removes) the client CA.
    #[must_use]
    pub fn with_client_ca(mut self, path: Option<PathBuf>) -> Self {
        self.client_ca_file = path;
        self
    }

    /// How often, at most, an accept looks whether the files changed
    /// (their modification time and size). Default one second; rounded
    /// down to whole milliseconds.
    #[must_use]
    pub fn with_reload_check_interval(mut self, interval: Duration) -> Self {
        self.reload_check_interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The certificate file.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The key file.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The client CA file, if client certificates are required.
    pub fn client_ca_file(&self) -> Option<&Path> {
        self.client_ca_file.as_deref()
    }

    /// How often, at most, an accept looks whether the files changed.
    pub fn reload_check_interval(&self) -> Duration {
        Duration::from_millis(self.reload_check_interval_ms)
    }

    /// Checks that the certificate and key are named. Files are not read
    /// here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTls`] naming `field` (such as `server.tls`).
    pub fn validate(&self, field: &'static str) -> Result<()> {
        if self.cert_file.as_os_str().is_empty() || self.key_file.as_os_str().is_empty() {
            return Err(Error::InvalidTls {
                field,
                reason: "cert_file and key_file go together: set both, or leave the table out",
            });
        }
        if self
            .client_ca_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(Error::InvalidTls {
                field,
                reason: "client_ca_file is empty: name the CA file, or leave the key out",
            });
        }
        Ok(())
    }

    /// Applies one `SERVER_TLS_*` variable (`key` after `SERVER_TLS_`).
    pub(crate) fn set_env(&mut self, key: &str, value: &str) -> std::result::Result<(), String> {
        let path = PathBuf::from(value.trim());
        match key {
            "CERT_FILE" => self.cert_file = path,
            "KEY_FILE" => self.key_file = path,
            "CLIENT_CA_FILE" => {
                self.client_ca_file = (!path.as_os_str().is_empty()).then_some(path);
            }
            "RELOAD_CHECK_INTERVAL_MS" => {
                self.reload_check_interval_ms = value
                    .trim()
                    .parse()
                    .map_err(|e| format!("not a whole number of milliseconds ({e})"))?;
            }
            _ => {
                return Err(
                    "unknown TLS variable; the known ones are SERVER_TLS_CERT_FILE, \
                     SERVER_TLS_KEY_FILE, SERVER_TLS_CLIENT_CA_FILE, \
                     SERVER_TLS_RELOAD_CHECK_INTERVAL_MS"
                        .to_owned(),
                );
            }
        }
        Ok(())
    }
}
