//! Serves an [`incident_metrics_core::Registry`] to scrapers: renders it as
//! OpenMetrics 1.0, Prometheus text 0.0.4 or the Prometheus protobuf format
//! (the one that carries native histograms), picks the format from `Accept`
//! and gzip from `Accept-Encoding` the way client_golang does, and answers
//! `/metrics` from an axum router or a standalone hyper server.
//!
//! - [`render`] and [`render_text`] turn a registry into text, and
//!   [`render_bytes`] into any format, the protobuf one included;
//! - [`negotiate_format`] and [`negotiate_encoding`] read the request headers;
//! - [`encode_response`] builds the whole answer (status, headers, body) and
//!   turns failures into a `500`, never a panic;
//! - [`metrics_router`] and [`metrics_handler`] serve it from axum, and
//!   [`MetricsServer`] without axum; both render on tokio's blocking pool so
//!   that a large scrape never holds up request handling;
//! - [`Protection`] guards either of them ([`metrics_router_with`],
//!   [`MetricsServer::with_protection`]): bearer-token or basic auth
//!   compared in constant time, a bound on concurrent scrapes (`503` at
//!   once past it) and a scrape timeout (see `docs/security.md`);
//! - [`RemoteWrite`] pushes the registry to Prometheus, Mimir, Thanos,
//!   Cortex or VictoriaMetrics with Prometheus remote-write 1.0, and
//!   [`Pushgateway`] pushes it to a Prometheus Pushgateway, for fleets past
//!   one Prometheus and jobs too short-lived to scrape (see `docs/push.md`).
//!
//! It owns the configuration of all of this ([`config`], always compiled):
//! [`ServerConfig`] (the `[server]` table: listener, [`AuthConfig`], scrape
//! limits, [`ServerTlsConfig`]) and [`PushConfig`] (the `[push]` table:
//! [`RemoteWriteConfig`], [`PushgatewayConfig`], each with a
//! [`ClientTlsConfig`]). Each is plain data read from code (`with_*`), TOML
//! (serde) and `INCIDENT_METRICS_*` variables (`with_env_vars`), and is the
//! one builder of what it configures: [`Protection::from_config`],
//! [`RemoteWriteConfig::register`], [`Pushgateway::from_config`]. The
//! facade crate's `Config` composes them with the core's `MetricsConfig`
//! into one file and one environment.
//!
//! Every family is announced (`# HELP`, `# TYPE`) from its registration on,
//! even while it has no series, because the core registry reports it so.
//!
//! # Examples
//!
//! ```
//! use incident_metrics_core::prometheus_client::metrics::counter::Counter;
//! use incident_metrics_core::prometheus_client::metrics::family::Family;
//! use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
//! use incident_metrics_exporter::{encode_response, render, render_text, Format};
//!
//! const REQUESTS: FamilySpec = FamilySpec {
//!     name: "requests",
//!     help: "Requests served",
//!     kind: MetricKind::Counter,
//!     unit: None,
//!     labels: &["method"],
//! };
//!
//! let config = MetricsConfig::new()
//!     .with_namespace("svc")
//!     .with_global_label("env", "prod");
//! let mut registry = Registry::new(&config)?;
//! let requests = Family::<Vec<(String, String)>, Counter>::default();
//! registry.register(&REQUESTS, requests.clone())?;
//! requests.get_or_create(&vec![("method".into(), "GET".into())]).inc();
//!
//! // Prometheus text 0.0.4, the default answer.
//! assert_eq!(
//!     render_text(&registry)?,
//!     "# HELP svc_requests_total Requests served.\n\
//!      ## TYPE svc_requests_total counter\n\
//!      svc_requests_total{env=\"prod\",method=\"GET\"} 1\n"
//! );
//! // OpenMetrics 1.0, for scrapers that ask for it.
//! assert_eq!(
//!     render(&registry, Format::OpenMetrics)?,
//!     "# HELP svc_requests Requests served.\n\
//!      ## TYPE svc_requests counter\n\
//!      svc_requests_total{env=\"prod\",method=\"GET\"} 1\n\
//!      ## EOF\n"
//! );
//! // A whole answer, as a scraper negotiating OpenMetrics and gzip gets it.
//! let response = encode_response(&registry, Some("application/openmetrics-text"), Some("gzip"));
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-encoding"], "gzip");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `axum` (default): [`metrics_router`], [`metrics_router_with`] and
//!   [`metrics_handler`] for axum 0.8, with tokio for `spawn_blocking`, and
//!   [`Protection`] (with `subtle`, `sha2` and `base64` for the credentials).
//! - `server` (default): [`MetricsServer`], a standalone HTTP/1.1 server on
//!   hyper 1, hyper-util and tokio, for services without axum.
//!
//! - `remote-write` (off): [`RemoteWrite`], a Prometheus
//!   remote-write 1.0 sender (protobuf via prost, snappy via snap, HTTP/1.1
//!   via hyper-util's client, on tokio), with its own families
//!   ([`REMOTE_WRITE_FAMILIES`]).
//! - `pushgateway` (off): [`Pushgateway`], push (`PUT`), add (`POST`) and
//!   delete of a grouping key, on the same client.
//!
//! - `tls` (off; on with either push feature): the client and acceptor a
//!   [`ClientTlsConfig`] and a [`ServerTlsConfig`] describe, on rustls with
//!   the `ring` provider, the one TLS stack of the workspace (see `tls`).
//!   Both push paths take `http://` and `https://` URLs;
//!   `MetricsServer::with_tls` serves over TLS, with client certificates
//!   required when a client CA is given.
//!
//! With none of them, the crate renders, negotiates and builds
//! [`http::Response`]s for any HTTP stack, and needs no async runtime.
//!
//! # What this crate must not do
//!
//! - Know which families exist: it renders whatever the registry holds and
//!   never depends on the catalog. It registers nothing.
//! - Lock the registry: rendering needs only `&Registry`, shared in an `Arc`.
//!   Never wrap it in a `Mutex`, and never hold a lock across `.await`.
//! - Panic or fail a request on odd input: malformed headers fall back to
//!   the defaults, and a metric that fails to encode gives a `500`.
//! - Log: the server and the push paths write nothing to stdout or stderr;
//!   errors are values, and the remote-write sender counts what it could
//!   not send in its own families.

#![deny(missing_docs)]

mod compression;
pub mod config;
mod error;
mod format;
mod negotiate;
mod render;
mod response;

#[cfg(feature = "axum")]
mod axum;
#[cfg(any(feature = "axum", feature = "server"))]
mod protection;
#[cfg(any(feature = "remote-write", feature = "pushgateway"))]
mod push;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "tls")]
pub mod tls;

pub use compression::Compression;
pub use config::{
    AuthConfig, ClientTlsConfig, Credentials, DEFAULT_MAX_CONCURRENT_SCRAPES,
    DEFAULT_SCRAPE_TIMEOUT_MS, MAX_CONCURRENT_SCRAPES_LIMIT, MAX_PUSH_INTERVAL_SECONDS,
    MAX_PUSH_TIMEOUT_SECONDS, MAX_QUEUE_CAPACITY, MAX_SCRAPE_TIMEOUT_MS, MIN_PUSH_INTERVAL_SECONDS,
    PushConfig, PushgatewayConfig, RemoteWriteConfig, Secret, ServerConfig, ServerTlsConfig,
};
pub use error::{Error, Result};
pub use format::Format;
pub use negotiate::{negotiate_encoding, negotiate_format};
pub use render::{render, render_bytes, render_text};
pub use response::encode_response;

#[cfg(feature = "axum")]
pub use crate::axum::{metrics_handler, metrics_router, metrics_router_with};
#[cfg(any(feature = "axum", feature = "server"))]
pub use protection::Protection;
#[cfg(feature = "pushgateway")]
pub use push::Pushgateway;
#[cfg(feature = "remote-write")]
pub use push::{
    REMOTE_WRITE_FAMILIES, REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED, RemoteWrite, RemoteWriteHandle,
    RemoteWriteStats,
};
#[cfg(feature = "server")]
pub use server::MetricsServer;
#[cfg(feature = "tls")]
pub use tls::TlsAcceptor;
