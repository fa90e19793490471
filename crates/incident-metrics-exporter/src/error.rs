//! The error type of the exporter.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Format;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while rendering, compressing or serving.
///
/// Rendering and compressing run at every scrape: the HTTP entry points turn
/// those errors into a `500` answer, never a panic. Binding and serving run
/// at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metric or collector failed to encode itself. Writing into a
    /// `String` cannot fail, so this comes from a metric's own `encode`.
    #[error(
        "failed to render the registry as {format}: a metric or collector returned an error \
         from its `encode`; check custom `EncodeMetric` and `Collector` implementations"
    )]
    Render {
        /// The format being rendered.
        format: Format,
        /// The error the metric returned.
        #[source]
        source: std::fmt::Error,
    },

    /// The gzip compressor failed.
    #[error("failed to gzip the metrics body: {source}; retry without `Accept-Encoding: gzip`")]
    Compress {
        /// The compressor's error.
        #[source]
        source: std::io::Error,
    },

    /// The metrics server could not bind its socket.
    #[error(
        "failed to bind the metrics server to {addr}: {source}; pick a free address, \
         or port 0 to let the system choose"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The bound socket could not be handed to the async runtime.
    #[error(
        "failed to serve metrics on {addr}: {source}; serve from inside a tokio runtime \
         with I/O enabled"
    )]
    Serve {
        /// The bound address.
        addr: SocketAddr,
        /// The runtime's error.
        #[source]
        source: std::io::Error,
    },

    /// The protection of the metrics endpoint (authentication, scrape
    /// limit, scrape timeout) is invalid, or a secret file cannot be read.
    #[error("invalid metrics endpoint protection: {source}")]
    Protection {
        /// The core crate's error, which names the field.
        #[source]
        source: incident_metrics_core::Error,
    },

    /// The push configuration (remote-write or Pushgateway) is invalid.
    #[error("invalid push configuration: {source}")]
    PushConfig {
        /// The core crate's validation error, which names the field.
        #[source]
        source: incident_metrics_core::Error,
    },

    /// A TLS file (certificate, key or CA) cannot be read or holds no usable
    /// PEM.
    #[error("cannot load TLS file {}: {reason}; check the path and that it holds PEM", path.display())]
    TlsFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The TLS settings do not fit together (a key that does not match its
    /// certificate, a client certificate without its key).
    #[error("invalid TLS settings: {reason}")]
    TlsConfig {
        /// What is wrong.
        reason: String,
    },

    /// The remote-write sender was started outside a tokio runtime.
    #[error(
        "the remote-write sender must be started inside a tokio runtime with time and I/O \
         enabled (`#[tokio::main]` enables both)"
    )]
    NoRuntime,

    /// A Pushgateway request could not be sent or answered.
    #[error("{method} {url} failed: {source}; check that the Pushgateway is up and reachable")]
    PushRequest {
        /// The HTTP method (`PUT`, `POST` or `DELETE`).
        method: &'static str,
        /// The grouping key's URL.
        url: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A Pushgateway request took longer than its timeout.
    #[error(
        "{method} {url} got no answer within {timeout:?}; check the Pushgateway or raise the timeout"
    )]
    PushTimeout {
        /// The HTTP method (`PUT`, `POST` or `DELETE`).
        method: &'static str,
        /// The grouping key's URL.
        url: String,
        /// The timeout that passed.
        timeout: Duration,
    },

    /// The Pushgateway answered with an error status.
    #[error("the Pushgateway answered {status} to {method} {url}: {body}")]
    PushRejected {
        /// The HTTP method (`PUT`, `POST` or `DELETE`).
        method: &'static str,
        /// The grouping key's URL.
        url: String,
        /// The answer's status code.
        status: u16,
        /// The start of the answer's body, which says why.
        body: String,
    },

    /// The rendered registry could not be read back into samples. This
    /// points at a collector writing malformed text.
    #[error("cannot read the rendered registry back into samples: {reason} in line {line:?}")]
    Snapshot {
        /// The line at fault.
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}
