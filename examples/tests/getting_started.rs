//! The guide's own router functions (`docs/getting-started.md` §3, compiled
//! into `incident_metrics_examples::guide` from the guide's text) count a
//! mix of requests exactly: matched routes by template, a `405` under its
//! route, unmatched paths under `unmatched`, and neither `/metrics` nor
//! `/health`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use incident_metrics::{Metrics, MetricsConfig};
use incident_metrics_examples::guide;
use tower::ServiceExt;

/// (method, path, status the client sees), unmatched paths among them.
const MIX: &[(&str, &str, u16)] = &[
    ("POST", "/api/v1/incidents", 200),
    ("GET", "/api/v1/incidents/3f9c", 200),
    ("GET", "/api/v1/incidents/7a01", 200),
    ("GET", "/api/v1/incidents/7a01?verbose=1", 200),
    ("PUT", "/api/v1/incidents/7a01", 405),
    ("GET", "/", 404),
    ("GET", "/api/v1/incident", 404),
    ("POST", "/api/v2/incidents", 404),
    ("GET", "/health", 200),
    ("GET", "/metrics", 200),
];

/// What the guide promises for [`MIX`], sorted.
const COUNTED: &[&str] = &[
    r#"{method="GET",path="/api/v1/incidents/{id}",status="200"} 3"#,
    r#"{method="GET",path="unmatched",status="404"} 2"#,
    r#"{method="POST",path="/api/v1/incidents",status="200"} 1"#,
    r#"{method="POST",path="unmatched",status="404"} 1"#,
    r#"{method="PUT",path="/api/v1/incidents/{id}",status="405"} 1"#,
];

async fn drive(app: &Router) {
    for &(method, uri, status) in MIX {
        let request = axum::http::Request::builder()
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

/// Every sample of `http_requests_total`, as `{labels} value`, sorted.
fn counted(metrics: &Metrics) -> Vec<String> {
    let text = metrics.gather().unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("llm_incident_manager_http_requests_total{"))
        .map(|l| format!("{{{l}"))
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn the_guides_app_counts_every_request_exactly() {
    let metrics = Metrics::new(MetricsConfig::new()).unwrap();
    let app = guide::app(&metrics);
    drive(&app).await;
    drive(&app).await;
    let twice: Vec<String> = COUNTED
        .iter()
        .map(|l| {
            let (labels, n) = l.rsplit_once(' ').unwrap();
            format!("{labels} {}", 2 * n.parse::<u64>().unwrap())
        })
        .collect();
    assert_eq!(counted(&metrics), twice);
    assert_eq!(metrics.catalog().http.connections_active.get(), 0);
}

#[tokio::test]
async fn the_guides_composition_by_hand_counts_the_same() {
    let metrics = Metrics::new(MetricsConfig::new()).unwrap();
    drive(&guide::app_by_hand(&metrics)).await;
    assert_eq!(counted(&metrics), COUNTED);
}
