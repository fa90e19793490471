//! [`instrumented_router`]: the HTTP layer and `/metrics` on an axum router
//! in one call, in the one order that counts every request.

use std::sync::Arc;

use incident_metrics_catalog::MetricsRegistry;
use incident_metrics_exporter::metrics_router;
use incident_metrics_http::HttpMetricsLayer;

/// Your finished axum router with the metrics endpoint merged in and the
/// HTTP layer around all of it, so that every request is counted exactly
/// once: under its route template, the `405`s of a route included, and
/// under `unmatched` when no route matched (whatever fallback answered).
///
/// It is `routes.merge(metrics_router(..)).layer(HttpMetricsLayer::from_metrics(..))`:
/// the layer goes last because axum's `Router::layer` wraps only the
/// routes and the fallback that exist when it is called. So call it last,
/// on the router you serve, after every `route`, `merge`, `nest`,
/// `fallback` and `with_state`; a route or fallback added to what it
/// returns is not counted. The metrics endpoint (`endpoint`, `/metrics` by
/// default) and `excluded_paths` (`/health` by default) are left out of the
/// counts by the configuration. For a protected endpoint
/// (`exporter::metrics_router_with`) write the same two calls by hand;
/// `incident_metrics_http`'s docs table what other compositions count.
///
/// # Examples
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use incident_metrics::{MetricsConfig, MetricsRegistry, instrumented_router};
/// use tower::ServiceExt;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let metrics = MetricsRegistry::new(&MetricsConfig::new())?;
/// let routes = Router::new().route("/api/v1/incidents/{id}", get(|| async { "incident" }));
/// let app = instrumented_router(routes, &metrics);
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// for (uri, status) in [("/api/v1/incidents/7", 200), ("/nope", 404), ("/metrics", 200)] {
///     let request = http::Request::get(uri).body(axum::body::Body::empty())?;
///     let response = runtime.block_on(app.clone().oneshot(request))?;
///     assert_eq!(response.status(), status);
/// }
/// let text = incident_metrics::exporter::gather_metrics(metrics.registry())?;
/// assert!(text.contains(r#"http_requests_total{method="GET",path="/api/v1/incidents/{id}",status="200"} 1"#));
/// assert!(text.contains(r#"http_requests_total{method="GET",path="unmatched",status="404"} 1"#));
/// assert!(!text.contains(r#"path="/metrics""#));
/// # Ok(())
/// # }
/// ```
pub fn instrumented_router(routes: axum::Router, metrics: &MetricsRegistry) -> axum::Router {
    routes
        .merge(metrics_router(Arc::clone(metrics.registry())))
        .layer(HttpMetricsLayer::from_metrics(metrics.metrics()))
}
