//! The workspace's one TLS stack, on rustls with the `ring` provider (no
//! OpenSSL, no aws-lc-rs, no cmake):
//!
//! The settings are plain data in [`crate::config`], always compiled
//! ([`ClientTlsConfig`], [`ServerTlsConfig`]: the `tls` tables of the push
//! and server settings); this module (feature `tls`) reads their files and
//! speaks TLS:
//!
//! - [`ClientTlsConfig`]: how an outbound client verifies servers (the
//!   platform's roots, honouring `SSL_CERT_FILE` and `SSL_CERT_DIR` as
//!   OpenSSL-based clients do, plus an optional `ca_file`), an optional
//!   client certificate, and an explicit `insecure_skip_verify`; it builds a
//!   hyper-rustls connector that takes `http://` and `https://` URLs alike
//!   ([`ClientTlsConfig::https_connector`]). A TLS failure is an error,
//!   never a fall back to plaintext, and [`describe_error`] says which one.
//! - [`ServerTlsConfig`]: a certificate and key, and an optional client CA
//!   that makes client certificates mandatory (mTLS); TLS 1.2 at least. It
//!   builds a [`TlsAcceptor`] that re-reads the files when they change (and
//!   on [`TlsAcceptor::reload`], for SIGHUP) without touching the
//!   connections already open.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

pub use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig as RustlsServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{ClientTlsConfig, Error, Result, ServerTlsConfig};

/// A TLS stream accepted by a [`TlsAcceptor`].
pub type ServerTlsStream<IO> = tokio_rustls::server::TlsStream<IO>;

/// The protocol versions both sides speak: TLS 1.3 and 1.2, nothing older.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(path: &Path, reason: impl fmt::Display) -> Error {
    Error::TlsFile {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, e))?;
    if certs.is_empty() {
        return Err(tls_error(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| tls_error(path, e))
}

fn read_roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| tls_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Builds the TLS client a [`ClientTlsConfig`] describes.
///
/// # Examples
///
/// ```
/// use incident_metrics_exporter::ClientTlsConfig;
///
/// let tls = ClientTlsConfig::new();
/// assert!(!tls.insecure_skip_verify());
/// // Builds a connector for http:// and https:// URLs on the platform's roots.
/// let _connector = tls.https_connector()?;
/// # Ok::<(), incident_metrics_exporter::Error>(())
/// ```
impl ClientTlsConfig {
    /// The rustls client configuration: reads the CA file, the client
    /// certificate and key, and the platform's roots.
    ///
    /// # Errors
    ///
    /// [`Error::TlsFile`] naming a file that cannot be read or holds no
    /// usable PEM; [`Error::TlsConfig`] for a certificate without its key
    /// (or the reverse) or a key that does not fit its certificate.
    pub fn rustls_config(&self) -> Result<ClientConfig> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(VERSIONS)
            .map_err(|e| Error::TlsConfig {
                reason: e.to_string(),
            })?;
        let builder = if self.insecure_skip_verify() {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            // Missing or partly unreadable platform stores are not fatal:
            // https then fails per call with "unknown authority".
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if let Some(path) = self.ca_file() {
                for cert in read_certs(path)? {
                    roots.add(cert).map_err(|e| {
                        tls_error(path, format!("not a usable CA certificate: {e}"))
                    })?;
                }
            }
            builder.with_root_certificates(roots)
        };
        match (self.cert_file(), self.key_file()) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| Error::TlsConfig {
                    reason: format!(
                        "client certificate {} and key {}: {e}",
                        cert.display(),
                        key.display()
                    ),
                }),
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err(Error::TlsConfig {
                reason: "a client certificate needs both cert_file and key_file".to_owned(),
            }),
        }
    }

    /// A connector for hyper-util's client that takes `http://` URLs in
    /// plain text and `https://` URLs over TLS (HTTP/1.1), with
    /// `TCP_NODELAY`. An `https://` URL is never sent in plain text.
    ///
    /// # Errors
    ///
    /// As [`rustls_config`](Self::rustls_config).
    pub fn https_connector(&self) -> Result<HttpsConnector<HttpConnector>> {
        let config = self.rustls_config()?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // hyper-rustls refuses https URLs on a plain connector only when
        // `enforce_http` is on; off, it hands it every scheme.
        http.enforce_http(false);
        Ok(hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http))
    }
}

/// Accepts any server certificate; signatures are still checked, so the
/// handshake itself is sound, but the peer is not authenticated.
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls error somewhere in `error`'s chain of sources, if any.
fn find_rustls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the error it wraps: look at it itself.
        next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A clear sentence for a client error: for a TLS failure (unknown CA,
/// expired certificate, name mismatch, a refused client certificate) it
/// says which and what to change; otherwise it joins the chain of causes
/// (hyper-util's own message is only `client error (Connect)`).
///
/// # Examples
///
/// ```
/// let e = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// assert_eq!(incident_metrics_exporter::tls::describe_error(&e), "connection refused");
/// ```
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    use rustls::{AlertDescription, CertificateError};
    if let Some(tls) = find_rustls_error(error) {
        let what = match tls {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => "the server's certificate is signed by an \
                    unknown authority; trust its CA with tls.ca_file"
                    .to_owned(),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    format!("the server's certificate has expired ({tls})")
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    format!("the server's certificate is not valid yet ({tls})")
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => format!(
                    "the server's certificate does not match the host name of the URL ({tls})"
                ),
                _ => format!("the server's certificate was refused: {tls}"),
            },
            rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA,
            ) => format!(
                "the server refused our client certificate or wants one ({tls}); \
                 set tls.cert_file and tls.key_file"
            ),
            other => other.to_string(),
        };
        return format!("TLS handshake failed: {what}");
    }
    let mut message = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !message.contains(&part) {
            message.push_str(": ");
            message.push_str(&part);
        }
        next = e.source();
    }
    message
}

/// Whether `error`'s chain holds a TLS failure.
pub fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    find_rustls_error(error).is_some()
}

/// Builds the TLS acceptor a [`ServerTlsConfig`] describes.
///
/// # Examples
///
/// ```no_run
/// use incident_metrics_exporter::ServerTlsConfig;
///
/// let tls = ServerTlsConfig::new("/etc/tls/server.pem", "/etc/tls/server.key")
///     .with_client_ca_file("/etc/tls/clients-ca.pem");
/// let acceptor = tls.acceptor(&[b"http/1.1"])?;
/// # Ok::<(), incident_metrics_exporter::Error>(())
/// ```
impl ServerTlsConfig {
    /// Reads the files and builds the rustls server configuration,
    /// announcing `alpn` (such as `b"h2"` or `b"http/1.1"`).
    ///
    /// # Errors
    ///
    /// [`Error::TlsFile`] naming a file that cannot be read or holds no
    /// usable PEM; [`Error::TlsConfig`] for a key that does not fit the
    /// certificate.
    pub fn rustls_config(&self, alpn: &[&[u8]]) -> Result<RustlsServerConfig> {
        let provider = provider();
        let builder = RustlsServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(VERSIONS)
            .map_err(|e| Error::TlsConfig {
                reason: e.to_string(),
            })?;
        let builder = match self.client_ca_file() {
            Some(path) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(read_roots(path)?),
                    provider,
                )
                .build()
                .map_err(|e| tls_error(path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(read_certs(self.cert_file())?, read_key(self.key_file())?)
            .map_err(|e| Error::TlsConfig {
                reason: format!(
                    "certificate {} and key {}: {e}",
                    self.cert_file().display(),
                    self.key_file().display()
                ),
            })?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// An acceptor for these settings, the files read now.
    ///
    /// # Errors
    ///
    /// As [`rustls_config`](Self::rustls_config).
    pub fn acceptor(&self, alpn: &[&[u8]]) -> Result<TlsAcceptor> {
        let config = self.rustls_config(alpn)?;
        Ok(TlsAcceptor {
            state: Arc::new(AcceptorState {
                settings: self.clone(),
                alpn: alpn.iter().map(|p| p.to_vec()).collect(),
                current: RwLock::new(Arc::new(config)),
                check: Mutex::new(Check {
                    at: Instant::now(),
                    stamp: self.stamp(),
                    last_error: None,
                }),
            }),
        })
    }

    /// Modification time and size of each file: what "changed" means.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        [
            Some(self.cert_file()),
            Some(self.key_file()),
            self.client_ca_file(),
        ]
        .into_iter()
        .flatten()
        .map(|path| {
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
    }
}

/// Accepts TLS connections with the certificate of a [`ServerTlsConfig`],
/// re-reading the files when they change; cheap to clone.
///
/// At most once per [reload check interval](ServerTlsConfig::with_reload_check_interval),
/// an accept looks at the files' modification times and sizes; when they
/// changed, it reads them again and new handshakes use the new
/// certificate. Connections already open keep theirs. A file that fails to
/// load keeps the previous certificate in use, and the error is kept for
/// [`last_reload_error`](Self::last_reload_error).
#[derive(Clone)]
pub struct TlsAcceptor {
    state: Arc<AcceptorState>,
}

struct AcceptorState {
    settings: ServerTlsConfig,
    alpn: Vec<Vec<u8>>,
    current: RwLock<Arc<RustlsServerConfig>>,
    check: Mutex<Check>,
}

struct Check {
    at: Instant,
    stamp: Vec<Option<(SystemTime, u64)>>,
    last_error: Option<String>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("settings", &self.state.settings)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// The settings it was built from.
    pub fn settings(&self) -> &ServerTlsConfig {
        &self.state.settings
    }

    /// Runs the TLS handshake on `io` with the current certificate (after
    /// re-reading the files if they changed). Bound it with a timeout: a
    /// client that stalls mid-handshake is not cut off here.
    ///
    /// # Errors
    ///
    /// The handshake's error (a client that does not speak TLS, refuses our
    /// certificate, or shows none where one is required).
    pub async fn accept<IO>(&self, io: IO) -> io::Result<ServerTlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        self.reload_if_changed();
        let config = self.current();
        tokio_rustls::TlsAcceptor::from(config).accept(io).await
    }

    fn current(&self) -> Arc<RustlsServerConfig> {
        match self.state.current.read() {
            Ok(config) => Arc::clone(&config),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the files if the check interval has passed and they
    /// changed; true when a new certificate is now in use.
    pub fn reload_if_changed(&self) -> bool {
        let settings = &self.state.settings;
        let Ok(mut check) = self.state.check.lock() else {
            return false;
        };
        if check.at.elapsed() < settings.reload_check_interval() {
            return false;
        }
        check.at = Instant::now();
        let stamp = settings.stamp();
        if stamp == check.stamp {
            return false;
        }
        check.stamp = stamp;
        match self.load() {
            Ok(()) => {
                check.last_error = None;
                true
            }
            Err(e) => {
                check.last_error = Some(e.to_string());
                false
            }
        }
    }

    /// Re-reads the files now (for SIGHUP); the connections already open
    /// keep their certificate.
    ///
    /// # Errors
    ///
    /// As [`ServerTlsConfig::rustls_config`]; the previous certificate then
    /// stays in use.
    pub fn reload(&self) -> Result<()> {
        let result = self.load();
        if let Ok(mut check) = self.state.check.lock() {
            check.stamp = self.state.settings.stamp();
            check.at = Instant::now();
            check.last_error = result.as_ref().err().map(ToString::to_string);
        }
        result
    }

    fn load(&self) -> Result<()> {
        let alpn: Vec<&[u8]> = self.state.alpn.iter().map(Vec::as_slice).collect();
        let config = Arc::new(self.state.settings.rustls_config(&alpn)?);
        match self.state.current.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// Why the last automatic reload failed, if it did (the previous
    /// certificate is then still in use).
    pub fn last_reload_error(&self) -> Option<String> {
        self.state
            .check
            .lock()
            .ok()
            .and_then(|check| check.last_error.clone())
    }
}
