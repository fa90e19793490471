//! The router: the REST API, `/health` and the metrics endpoint, with the
//! body limit.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use super::openapi::{OPENAPI_PATH, RenderedDocument};
use super::{ApiState, alertmanager, handlers};

/// The REST router, with the API's OpenAPI document at
/// [`OPENAPI_PATH`]. `/metrics` (or the configured endpoint) is mounted here,
/// answered by [`handlers::metrics`], when `serve_metrics` says so: unless
/// the metrics configuration turns metrics off (`enabled = false`) or gives
/// them a listener of their own (`[metrics.server] listen_addr`).
pub fn router(state: ApiState, body_limit: usize, serve_metrics: bool) -> Router {
    let config = state.registry.config();
    let endpoint = (serve_metrics && config.enabled()).then(|| config.endpoint().to_owned());
    let router = Router::new()
        .route(
            "/api/v1/incidents",
            post(handlers::create_incident).get(handlers::list_incidents),
        )
        .route("/api/v1/incidents/{id}", get(handlers::get_incident))
        .route(
            "/api/v1/incidents/{id}/resolve",
            post(handlers::resolve_incident),
        )
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(handlers::acknowledge_incident),
        )
        .route("/health", get(handlers::health));
    // Alertmanager's webhooks carry many alerts: the route has its own
    // body limit, which wins over the router's.
    let alerts = state.alerts.config().clone();
    let router = if alerts.enabled {
        router.route(
            alertmanager::PATH,
            post(alertmanager::receive).layer(DefaultBodyLimit::max(alerts.body_limit_bytes)),
        )
    } else {
        router
    };
    let document = RenderedDocument::new(endpoint.as_deref());
    let router = router.route(OPENAPI_PATH, get(move || async move { document }));
    let router = match endpoint {
        Some(endpoint) => router.route(&endpoint, get(handlers::metrics)),
        None => router,
    };
    router
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
