//! [`metrics_router`], [`metrics_router_with`] and [`metrics_handler`]:
//! `/metrics` for axum services.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use incident_metrics_core::Registry;

use crate::Protection;
use crate::response::render_blocking;

/// A router answering `GET` and `HEAD` on the registry's configured endpoint
/// ([`MetricsConfig::endpoint`](incident_metrics_core::MetricsConfig::endpoint),
/// `/metrics` by default) with [`metrics_handler`].
///
/// Other methods on the endpoint get `405 Method Not Allowed`; other paths
/// are left to the router it is merged into (`404` on its own). The
/// endpoint is matched literally: braces, colons and asterisks in it are not
/// route syntax.
///
/// Merge it into a service's router once that router's state is provided:
/// `app.with_state(state).merge(metrics_router(registry))`. An endpoint with
/// a segment starting with `:` or `*` can only be merged into a router that
/// was built with [`Router::without_v07_checks`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use axum::Router;
/// use axum::routing::get;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::metrics_router;
///
/// let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .merge(metrics_router(registry));
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    let path = escape_route(registry.config().endpoint());
    Router::new()
        .without_v07_checks()
        .route(&path, get(metrics_handler))
        .with_state(registry)
}

/// [`metrics_router`] behind a [`Protection`]: authentication, a bound on
/// concurrent scrapes and a scrape timeout, answered `401` and `503` as
/// [`Protection::serve`] says.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use axum::Router;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::{AuthConfig, Protection, ServerConfig, metrics_router_with};
///
/// let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
/// let server = ServerConfig::new()
///     .with_auth(Some(AuthConfig::basic("prometheus", "s3cr3t")))
///     .with_max_concurrent_scrapes(2)
///     .with_scrape_timeout_ms(5_000);
/// let protection = Protection::from_config(&server)?;
/// let app: Router = metrics_router_with(registry, protection);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn metrics_router_with(registry: Arc<Registry>, protection: Protection) -> Router {
    let path = escape_route(registry.config().endpoint());
    Router::new()
        .without_v07_checks()
        .route(&path, get(protected_handler))
        .with_state(Protected {
            registry,
            protection,
        })
}

/// The state of [`metrics_router_with`].
#[derive(Clone)]
struct Protected {
    registry: Arc<Registry>,
    protection: Protection,
}

async fn protected_handler(State(state): State<Protected>, headers: HeaderMap) -> Response {
    state
        .protection
        .serve(state.registry, &headers)
        .await
        .map(Body::from)
        .into_response()
}

/// An axum handler answering a scrape with the registry held in the router's
/// state, for services that route `/metrics` themselves.
///
/// The answer is [`encode_response`](crate::encode_response)'s, rendered on
/// tokio's blocking pool (`spawn_blocking`) so that a large scrape never
/// holds up request handling. A panic while rendering becomes a `500`.
///
/// With a state of your own, implement `FromRef<YourState>` for
/// `Arc<Registry>`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use axum::Router;
/// use axum::routing::get;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_exporter::metrics_handler;
///
/// let registry = Arc::new(Registry::new(&MetricsConfig::new())?);
/// let app: Router = Router::new()
///     .route("/internal/metrics", get(metrics_handler))
///     .with_state(registry);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
pub async fn metrics_handler(
    State(registry): State<Arc<Registry>>,
    headers: HeaderMap,
) -> Response {
    render_blocking(registry, &headers)
        .await
        .map(Body::from)
        .into_response()
}

/// Escapes the route syntax of axum 0.8 (`{` and `}`) so that `path` is
/// matched literally.
fn escape_route(path: &str) -> String {
    path.replace('{', "{{").replace('}', "}}")
}
