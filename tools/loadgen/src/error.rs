//! The one error type of `loadgen`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a run could not be carried out (a failed check is not an error: it
/// is reported, and the exit status says so).
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadgenError {
    #[error("{0}; see --help")]
    Usage(String),
    #[error("cannot start the service: {0}")]
    Start(#[from] llm_incident_manager::AppError),
    #[error("invalid service configuration: {0}")]
    Config(#[from] llm_incident_manager::ConfigError),
    #[error("cannot build the metrics registry: {0}")]
    Metrics(#[from] incident_metrics::SetupError),
    #[error("cannot build a tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot connect the gRPC client to {addr}: {message}")]
    Connect { addr: SocketAddr, message: String },
    #[error("cannot scrape {url}: {message}")]
    Scrape { url: String, message: String },
    #[error("cannot write {path}: {source}")]
    Json {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a latency histogram: {0}")]
    Histogram(String),
}
