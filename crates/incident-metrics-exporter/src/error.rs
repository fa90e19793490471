//! The error type of the exporter.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Format;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring, rendering, compressing,
/// serving or pushing.
///
/// Rendering and compressing run at every scrape: the HTTP entry points turn
/// those errors into a `500` answer, never a panic. Checking the
/// configuration, binding and serving run at start-up; every configuration
/// error names the field (or the variable) and says what to change.
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

    /// The protobuf encoder failed: a metric failed to encode itself, or a
    /// message failed to serialize.
    #[error("failed to render the registry as {format}: {source}")]
    Protobuf {
        /// The format being rendered ([`Format::Protobuf`]).
        format: Format,
        /// The encoder's error.
        #[source]
        source:
            incident_metrics_core::prometheus_client::encoding::prometheus_protobuf::EncodeError,
    },

    /// [`render`](crate::render) was asked for a binary format, which a
    /// `String` cannot hold; [`render_bytes`](crate::render_bytes) renders
    /// every format.
    #[error("{format} is a binary format: render it with `render_bytes`, not `render`")]
    NotText {
        /// The binary format asked for.
        format: Format,
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

    /// A core error: a label name of the configuration that breaks the
    /// naming rules, or the sender's families that cannot be registered
    /// (a second sender in the same registry).
    #[error(transparent)]
    Core(#[from] incident_metrics_core::Error),

    /// A setting of the metrics endpoint's server or auth (`server.*`) is
    /// invalid.
    #[error("invalid `{field}`: {reason}")]
    InvalidServer {
        /// The configuration field, such as `server.max_concurrent_scrapes`.
        field: &'static str,
        /// What is wrong with it and what to use instead.
        reason: String,
    },

    /// A secret file (`server.auth.bearer_token_file`,
    /// `server.auth.password_file`) cannot be read.
    #[error("cannot read `{field}` {}: {source}; check the path and its permissions", path.display())]
    SecretRead {
        /// The configuration field.
        field: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A push URL (`push.remote_write.url`, `push.pushgateway.url`) is
    /// empty or malformed.
    #[error("invalid `{field}` {url:?}: {reason}")]
    InvalidUrl {
        /// The configuration field, such as `push.remote_write.url`.
        field: &'static str,
        /// The rejected URL.
        url: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// A `tls` sub-table is incomplete.
    #[error("invalid `{field}`: {reason}")]
    InvalidTls {
        /// The table, such as `push.remote_write.tls`.
        field: &'static str,
        /// What is wrong and what to change.
        reason: &'static str,
    },

    /// A push interval, timeout or backoff is not a number of seconds in
    /// its allowed range.
    #[error("invalid `{field}` {value}: use a number of seconds from {min} to {max}")]
    InvalidDuration {
        /// The configuration field, such as `push.remote_write.interval_seconds`.
        field: &'static str,
        /// The rejected value.
        value: f64,
        /// The smallest value allowed.
        min: f64,
        /// The largest value allowed.
        max: f64,
    },

    /// A queue or batch size is zero or too large.
    #[error("invalid `{field}` {value}: use a whole number from {min} to {max}")]
    InvalidSize {
        /// The configuration field, such as `push.remote_write.queue_capacity`.
        field: &'static str,
        /// The rejected value.
        value: usize,
        /// The smallest value allowed.
        min: usize,
        /// The largest value allowed.
        max: usize,
    },

    /// The Pushgateway job name is empty.
    #[error(
        "invalid `push.pushgateway.job` {job:?}: give the job a non-empty name, such as \"nightly_backup\""
    )]
    InvalidJob {
        /// The rejected job name.
        job: String,
    },

    /// A push label name is one set elsewhere (`job` in the grouping key).
    #[error("invalid label name {name:?} in `{field}`: {reason}")]
    InvalidLabelName {
        /// The configuration field, such as `push.pushgateway.grouping`.
        field: &'static str,
        /// The rejected label name.
        name: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// The same label name was given twice in a push label set
    /// (`push.remote_write.external_labels`, `push.pushgateway.grouping`).
    #[error("duplicate label {name:?} in `{field}`: give each label name once")]
    DuplicateLabel {
        /// The configuration field.
        field: &'static str,
        /// The repeated label name.
        name: String,
    },

    /// An extra HTTP header of a push path is malformed, repeated or one the
    /// protocol sets itself.
    #[error("invalid header {name:?} in `{field}`: {reason}")]
    InvalidHeader {
        /// The configuration field, such as `push.remote_write.headers`.
        field: &'static str,
        /// The header's name.
        name: String,
        /// What is wrong with it and what to use instead.
        reason: &'static str,
    },

    /// An environment variable of the server or push settings holds a
    /// value that cannot be used.
    #[error("invalid environment variable {var}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable's name.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong with it and what to use instead.
        reason: String,
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
