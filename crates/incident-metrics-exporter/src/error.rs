//! The error type of the exporter.

use std::net::SocketAddr;

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
}
