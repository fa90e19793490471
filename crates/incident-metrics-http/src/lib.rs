//! A tower layer that records HTTP server metrics into the catalog's HTTP
//! families, for axum and for any tower stack serving `http::Request<B>`.
//!
//! [`HttpMetricsLayer`] wraps a service; every request that reaches it is
//! recorded into
//!
//! | family (after the namespace) | type | labels | what it records |
//! |---|---|---|---|
//! | `http_requests_total` | counter | `method`, `path`, `status` | every request, exactly once, never sampled |
//! | `http_request_duration_seconds` | histogram | `method`, `path` | arrival to the last response byte (or to the response head, see [`DurationEnd`]) |
//! | `http_request_size_bytes` | histogram | `method`, `path` | request body bytes the service actually read |
//! | `http_response_size_bytes` | histogram | `method`, `path` | response body bytes actually handed to the server |
//! | `http_connections_active` | gauge | | requests being served, from arrival to the end (or drop) of the response body |
//! | `http_requests_in_flight` | gauge | | requests whose response head is not yet produced |
//!
//! # Labels
//!
//! - `method`: the nine standard methods by name (`GET`, `POST`, ...); any
//!   other method is `OTHER`, so that a client cannot create series.
//! - `path`: the route template, never the raw URI: axum's
//!   [`MatchedPath`](axum::extract::MatchedPath) (for example
//!   `/api/v1/incidents/{id}`), else the template a [`PathClassifier`]
//!   returns; a request that matched no route is counted under one fixed
//!   value, [`DEFAULT_UNMATCHED_PATH`] (`unmatched`) unless set with
//!   [`HttpMetricsLayer::with_unmatched_path`]. A method the route does not
//!   serve (`405`) keeps the route's template.
//! - `status`: the status code the client saw (`200`, `404`, ...), or
//!   - `500` when the inner service returned an error (which is passed on
//!     unchanged) or its future panicked while we polled it (the panic goes
//!     on unwinding; with a panic-catching layer inside ours, the `500` it
//!     answers is counted like any response);
//!   - `cancelled` when the request was dropped before any response, which is
//!     what a server does when the client goes away.
//!
//!   Rejections by inner layers (timeouts, body limits) are responses and
//!   count with their status (`408`, `413`, ...).
//!
//! # Options
//!
//! - Exclusions: requests whose route template (or, when unmatched, raw
//!   path) is excluded by the [`MetricsConfig`](incident_metrics_core::MetricsConfig)
//!   (`/health` and `/metrics` by default, and the metrics endpoint) are not
//!   recorded at all, gauges included. A disabled configuration records
//!   nothing.
//! - Sampling: the configuration's `sample_rate` thins the duration and size
//!   histograms only; counters and gauges see every request.
//! - Path classifier: [`HttpMetricsLayer::with_path_classifier`] names the
//!   route of requests without a `MatchedPath` (stacks without axum);
//!   [`RouteTemplates`] is a ready-made one.
//! - Exemplars (off by default; `exemplars = true` in the
//!   [`MetricsConfig`](incident_metrics_core::MetricsConfig)): a request
//!   whose W3C `traceparent` header is valid and sampled leaves its trace
//!   (`trace_id`, `span_id`, the value, a timestamp) as the exemplar of its
//!   `http_requests_total` series and of its
//!   `http_request_duration_seconds` bucket (when its duration is sampled),
//!   replacing the previous one. They appear in the OpenMetrics answer
//!   only. [`HttpMetricsLayer::with_exemplar_source`] reads the trace from
//!   elsewhere (core's [`ExemplarSource`](incident_metrics_core::ExemplarSource)).
//!   With the `opentelemetry` feature, `OpenTelemetrySource` reads it from
//!   the current `tracing-opentelemetry` span (sampled spans only).
//!   Off, the layer reads no header for it: one branch per request.
//! - Timing: [`DurationEnd::LastByte`] (default) times to the last byte of
//!   the response body, so a streaming response is timed whole;
//!   [`DurationEnd::FirstByte`] stops at the response head.
//!
//! # Cost
//!
//! In steady state a request costs a few atomic operations and two clock
//! reads (`quanta`, only when sampled): no heap allocation, no lock, no
//! formatting. Each (route, method) is resolved once into a struct of
//! handles, found through core's lock-free
//! [`LabelTable`](incident_metrics_core::LabelTable) by a short seeded hash
//! of the template; counters for the common status codes sit in a
//! [`ByLabel`](incident_metrics_core::ByLabel) array, rare codes go through
//! the family. The table holds as many templates as the route families'
//! cardinality limit; past it, a template is recorded as `other` and
//! counted in `label_values_folded_total{label="http_route"}`. Both bodies are wrapped to count bytes; inside an axum router,
//! axum boxes a body that is not its own type, as it does for any
//! body-wrapping layer.
//!
//! # Where to put the layer
//!
//! Call [`Router::layer`](axum::Router::layer) last, on the finished
//! router: after every `route`, `merge`, `nest` and `fallback`, the
//! `/metrics` router included. axum's `Router::layer` wraps only the routes
//! and the fallback that exist when it is called, so a route or a fallback
//! added later is served without the layer and its requests are never
//! counted; and axum sets `MatchedPath` only while it routes, so a layer
//! around the whole router (outside it) sees no template. `/metrics`,
//! `/health` and the other excluded paths are left out by the
//! configuration (`excluded_paths` and `endpoint`), not by where the layer
//! sits.
//!
//! What each composition counts (`tests/composition.rs` drives each one with
//! matched routes, a `405`, unmatched paths, a panicking handler, `/health`
//! and `/metrics`, and asserts the whole `http_requests_total` family):
//!
//! | composition | matched routes | `405` | unmatched | panics |
//! |---|---|---|---|---|
//! | `routes.merge(metrics_router).layer(layer)` (the one to use) | template | template | `unmatched` | `500`, template |
//! | `Router::new().nest("/api", api)...layer(layer)` | full template (`/api/items/{id}`) | template | `unmatched` | `500`, template |
//! | `routes.fallback(handler)...layer(layer)`, or `.fallback_service(svc)` | template | template | `unmatched`, with the status the fallback answered | `500`, template |
//! | `.nest_service("/files", svc)...layer(layer)` | `unmatched` below the prefix (axum gives a nested service no `MatchedPath`), `/files` itself by its template | as the service answers | `unmatched` | `500` |
//! | `ServiceBuilder::new().layer(layer).service(router)`, or any layer outside the router | `unmatched` | `unmatched` | `unmatched` | `500`, `unmatched` |
//! | the same with [`with_path_classifier`](HttpMetricsLayer::with_path_classifier)`(`[`RouteTemplates`]`)` | the classifier's template | the classifier's template | `unmatched` | `500`, template |
//! | `a.layer(layer).merge(b.layer(layer))` (each router its own layer) | template, once | template, once | `unmatched`, once (the fallback kept is `b`'s) | `500`, template |
//! | `routes.layer(layer).merge(other)` (merge after layer) | template; **`other`'s routes lost** | template | **lost** | `500`, template |
//! | `routes.layer(layer).fallback(handler)` (fallback after layer) | template | template | **lost** | `500`, template |
//! | `Router::new().nest("/api", api.layer(layer))` (layer on the nested router only) | template under `/api`; **the outer router's routes lost** | template | **lost** | `500` under `/api`, **lost** outside |
//! | `routes.route_layer(layer)` | template | template | **lost** | `500`, template |
//! | `a.layer(layer).merge(b.layer(layer)).layer(layer)` (two layers on one path) | **counted twice** | **twice** | **twice** | **twice** |
//!
//! The losses in bold cannot be fixed inside the layer: those requests never
//! reach it. axum answers them from a route or fallback the layer does not
//! wrap (`route_layer` wraps routes by design; `merge` keeps the fallback of
//! the router merged last when neither router set one, and the other's when
//! one did). Move the `layer` call after the last `merge`, `nest` or
//! `fallback` and every request is counted. A panic is counted `500` as
//! it unwinds through the layer; with a panic-catching layer inside ours
//! (`tower_http::catch_panic`), the `500` it answers is counted like any
//! response.
//!
//! # Examples
//!
//! The layer goes last, around the `/metrics` router too (excluded by the
//! configuration):
//!
//! ```
//! use axum::{Router, routing::get};
//! use incident_metrics_catalog::Catalog;
//! use incident_metrics_core::{MetricsConfig, Registry};
//! use incident_metrics_http::HttpMetricsLayer;
//! use tower::ServiceExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = Registry::new(&MetricsConfig::new())?;
//! let catalog = Catalog::register(&mut registry)?;
//! // In a service: incident_metrics_exporter::metrics_router(registry).
//! let metrics_router = Router::new().route("/metrics", get(|| async { "# EOF\n" }));
//! let app: Router = Router::new()
//!     .route("/api/v1/incidents/{id}", get(|| async { "{}" }))
//!     .merge(metrics_router)
//!     .layer(HttpMetricsLayer::new(&catalog));
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! for (uri, status) in [("/api/v1/incidents/42", 200), ("/nope", 404), ("/metrics", 200)] {
//!     let request = http::Request::get(uri).body(axum::body::Body::empty())?;
//!     let response = runtime.block_on(app.clone().oneshot(request))?;
//!     assert_eq!(response.status(), status);
//! }
//!
//! let mut text = String::new();
//! incident_metrics_core::prometheus_client::encoding::text::encode(
//!     &mut text,
//!     registry.as_prometheus(),
//! )?;
//! assert!(text.contains(
//!     r#"llm_incident_manager_http_requests_total{method="GET",path="/api/v1/incidents/{id}",status="200"} 1"#
//! ));
//! assert!(text.contains(
//!     r#"llm_incident_manager_http_requests_total{method="GET",path="unmatched",status="404"} 1"#
//! ));
//! assert!(!text.contains(r#"path="/metrics""#)); // excluded by the configuration
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `axum` (default): read axum's `MatchedPath` as the route template.
//!   Without it the crate depends on no web framework; give a
//!   [`PathClassifier`].
//!
//! This crate records; it does not render or serve the registry (that is
//! the exporter's job) and knows nothing of the service's routes.

mod body;
mod classify;
mod future;
mod layer;
mod method;
#[cfg(feature = "opentelemetry")]
mod otel;
mod record;
mod route;
mod series;
mod service;
mod shared;
mod status;
mod timing;

pub use body::{RequestBody, ResponseBody};
pub use classify::{PathClassifier, RouteTemplates};
pub use future::ResponseFuture;
pub use layer::{DEFAULT_UNMATCHED_PATH, HttpMetricsLayer};
#[cfg(feature = "opentelemetry")]
pub use otel::OpenTelemetrySource;
pub use service::HttpMetricsService;
pub use timing::DurationEnd;
