//! The layer inside an axum `Router`, in process: route templates from
//! `MatchedPath` (nested routers included), the fallback, `405`s, and a
//! route cache that does not grow with traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::code;
use http::Request;
use http_body_util::BodyExt;
use incident_metrics_catalog::http::Method;
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::HttpMetricsLayer;
use tower::ServiceExt;

async fn call(router: &Router, method: &str, uri: &str) -> u16 {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    res.into_body().collect().await.unwrap();
    status
}

/// The number of route templates in the layer's route table.
fn cached(layer: &HttpMetricsLayer) -> usize {
    let debug = format!("{layer:?}");
    let rest = &debug[debug.find("cached: ").unwrap() + 8..];
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn templates_come_from_matched_path_including_nested_routers() {
    let registry = common::registry(&MetricsConfig::new());
    let layer = HttpMetricsLayer::new(registry.catalog());
    let api = Router::new()
        .route("/incidents/{id}", get(|| async { "one" }))
        .route("/incidents", get(|| async { "all" }));
    let router = Router::new()
        .nest("/api/v1", api)
        .route("/", get(|| async { "root" }))
        .layer(layer.clone())
        .with_state::<()>(());

    for i in 0..50 {
        assert_eq!(
            call(&router, "GET", &format!("/api/v1/incidents/{i}")).await,
            200
        );
        assert_eq!(
            call(&router, "GET", "/api/v1/incidents?status=open").await,
            200
        );
        assert_eq!(call(&router, "GET", &format!("/missing/{i}")).await, 404);
    }
    assert_eq!(call(&router, "POST", "/").await, 405);
    assert_eq!(call(&router, "GET", "/").await, 200);

    let h = &registry.catalog().http;
    assert_eq!(code(h, Method::Get, "/api/v1/incidents/{id}", 200), 50);
    assert_eq!(code(h, Method::Get, "/api/v1/incidents", 200), 50);
    assert_eq!(code(h, Method::Get, "unmatched", 404), 50);
    assert_eq!(code(h, Method::Post, "/", 405), 1);
    assert_eq!(code(h, Method::Get, "/", 200), 1);
    // One entry per route seen, not per request.
    assert!(cached(&layer) <= 3, "{layer:?}");
    assert_eq!(h.connections_active.get(), 0);
}
