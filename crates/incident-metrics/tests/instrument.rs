//! `Metrics::instrument` counts every request exactly once: matched routes
//! by template, `405`s, unmatched requests (with the default fallback and
//! with one of the user's), and leaves out `/metrics` and `/health`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::StatusCode;
use incident_metrics::{Metrics, MetricsConfig};
use tower::ServiceExt;

/// Every sample of `http_requests_total`, as `{labels} value` lines, sorted.
fn requests(metrics: &Metrics) -> Vec<String> {
    let text = metrics.gather().unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("llm_incident_manager_http_requests_total"))
        .filter(|l| l.starts_with('{'))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

async fn drive(app: &Router, mix: &[(&str, &str, u16)]) {
    for &(method, uri, status) in mix {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status, "{method} {uri}");
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
    }
}

fn routes() -> Router {
    Router::new()
        .route("/api/v1/incidents", post(|| async { StatusCode::CREATED }))
        .route("/api/v1/incidents/{id}", get(|| async { "incident" }))
        .route("/health", get(|| async { "ok" }))
}

const MIX: &[(&str, &str, u16)] = &[
    ("POST", "/api/v1/incidents", 201),
    ("GET", "/api/v1/incidents/1", 200),
    ("GET", "/api/v1/incidents/2", 200),
    ("DELETE", "/api/v1/incidents/2", 405),
    ("GET", "/nope", 404),
    ("GET", "/api/v2/incidents", 404),
    ("GET", "/health", 200),
    ("GET", "/metrics", 200),
];

#[tokio::test]
async fn every_request_is_counted_once_and_the_scrape_is_not() {
    let metrics = Metrics::new(MetricsConfig::new()).unwrap();
    let app = metrics.instrument(routes());
    drive(&app, MIX).await;
    assert_eq!(
        requests(&metrics),
        [
            r#"{method="DELETE",path="/api/v1/incidents/{id}",status="405"} 1"#,
            r#"{method="GET",path="/api/v1/incidents/{id}",status="200"} 2"#,
            r#"{method="GET",path="unmatched",status="404"} 2"#,
            r#"{method="POST",path="/api/v1/incidents",status="201"} 1"#,
        ]
    );
    assert_eq!(metrics.catalog().http.connections_active.get(), 0);
}

#[tokio::test]
async fn a_fallback_of_the_users_router_is_counted_as_unmatched() {
    let metrics = Metrics::new(MetricsConfig::new()).unwrap();
    let routes = routes().fallback(|| async { (StatusCode::IM_A_TEAPOT, "no such page") });
    let app = metrics.instrument(routes);
    let mix: Vec<_> = MIX
        .iter()
        .map(|&(m, u, s)| (m, u, if s == 404 { 418 } else { s }))
        .collect();
    drive(&app, &mix).await;
    assert_eq!(
        requests(&metrics),
        [
            r#"{method="DELETE",path="/api/v1/incidents/{id}",status="405"} 1"#,
            r#"{method="GET",path="/api/v1/incidents/{id}",status="200"} 2"#,
            r#"{method="GET",path="unmatched",status="418"} 2"#,
            r#"{method="POST",path="/api/v1/incidents",status="201"} 1"#,
        ]
    );
}

#[tokio::test]
async fn the_configured_endpoint_is_served_and_left_out() {
    let config = MetricsConfig::new().with_endpoint("/internal/metrics");
    let metrics = Metrics::new(config.clone()).unwrap();
    let app = metrics.instrument(routes());
    drive(
        &app,
        &[
            ("GET", "/internal/metrics", 200),
            // Still in the default `excluded_paths`, so not counted either.
            ("GET", "/metrics", 404),
            ("GET", "/health", 200),
            ("GET", "/nope", 404),
        ],
    )
    .await;
    assert_eq!(
        requests(&metrics),
        [r#"{method="GET",path="unmatched",status="404"} 1"#]
    );
}
