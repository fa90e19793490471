//! The service's metrics endpoint as `[metrics.server]` configures it: the
//! [`Protection`] (auth, scrape bound, scrape timeout) that guards
//! `/metrics` wherever it is served, and, with `listen_addr` (or
//! `--metrics-addr`), a listener of its own that serves nothing else, in
//! which case the API port answers `404` for the metrics path.
//!
//! It knows nothing of the [`App`](crate::App) that starts it: its errors
//! are the exporter's, which the app wraps.

use std::net::SocketAddr;
use std::sync::Arc;

use incident_metrics::Registry;
use incident_metrics::exporter::{self, MetricsServer, Protection, ServerConfig, TlsAcceptor};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The protection and, when configured, the bound metrics listener.
#[derive(Debug)]
pub(crate) struct MetricsEndpoint {
    protection: Protection,
    server: Option<MetricsServer>,
}

impl MetricsEndpoint {
    /// Reads `[metrics.server]` (`server`, the one the API router reads
    /// too): builds the protection, reading any secret file now, and binds
    /// the metrics listener when `listen_addr` is set and metrics are
    /// enabled in the registry's configuration, over TLS with `tls`.
    pub(crate) fn bind(
        registry: &Arc<Registry>,
        server: &ServerConfig,
        tls: Option<TlsAcceptor>,
    ) -> Result<Self, exporter::Error> {
        let protection = Protection::from_config(server)?;
        let server = match server.listen_addr() {
            Some(addr) if registry.config().enabled() => {
                let server = MetricsServer::bind(addr, Arc::clone(registry))?
                    .with_protection(protection.clone());
                Some(match tls {
                    Some(tls) => server.with_tls_acceptor(tls),
                    None => server,
                })
            }
            _ => None,
        };
        Ok(Self { protection, server })
    }

    /// Whether the metrics listener speaks TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.server.as_ref().is_some_and(MetricsServer::is_tls)
    }

    /// The bound address of the metrics listener, if there is one.
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(MetricsServer::local_addr)
    }

    /// The protection, for the API port's `/metrics` route.
    pub(crate) fn protection(&self) -> Protection {
        self.protection.clone()
    }

    /// Serves the metrics listener, if any, until `stop` turns true.
    pub(crate) fn spawn(
        self,
        mut stop: watch::Receiver<bool>,
    ) -> Option<JoinHandle<Result<(), exporter::Error>>> {
        let server = self.server?;
        Some(tokio::spawn(async move {
            server
                .serve_with_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }))
    }
}

/// Prints `metrics listening on ADDR` (with ` (tls)` over TLS), after the
/// `http` and `grpc` lines.
// The contract asks for one line per listener on stdout.
#[allow(clippy::print_stdout)]
pub(crate) fn announce(addr: Option<SocketAddr>, tls: bool) {
    use std::io::Write;
    if let Some(addr) = addr {
        println!(
            "metrics listening on {addr}{}",
            crate::serve::tls_suffix(tls)
        );
        let _ = std::io::stdout().flush();
    }
}
