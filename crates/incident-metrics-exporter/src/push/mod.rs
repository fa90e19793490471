//! The push paths: a Prometheus remote-write 1.0 sender (feature
//! `remote-write`) and a Pushgateway client (feature `pushgateway`), over
//! one plain-HTTP client.

mod client;

#[cfg(feature = "remote-write")]
mod backoff;
#[cfg(feature = "pushgateway")]
mod pushgateway;
#[cfg(feature = "remote-write")]
mod queue;
#[cfg(feature = "remote-write")]
mod remote_write;
#[cfg(feature = "remote-write")]
mod snapshot;
#[cfg(feature = "remote-write")]
mod wire;

#[cfg(feature = "pushgateway")]
pub use pushgateway::Pushgateway;
#[cfg(feature = "remote-write")]
pub use remote_write::{
    REMOTE_WRITE_FAMILIES, REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED, RemoteWrite, RemoteWriteHandle,
    RemoteWriteStats,
};
