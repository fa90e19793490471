//! `metrics_router` and `metrics_handler` driven through
//! `tower::ServiceExt::oneshot`.

#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Method, Request, Response, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use incident_metrics_core::prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use incident_metrics_core::prometheus_client::metrics::MetricType;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::{MetricKind, MetricsConfig, Registry};
use incident_metrics_exporter::{Format, metrics_handler, metrics_router, render, render_bytes};
use support::{registry, spec};
use tower::ServiceExt;

fn counting_registry() -> Arc<Registry> {
    let mut r = registry(&[]);
    let jobs = Counter::<u64>::default();
    r.register(
        &spec("jobs", "Jobs run", MetricKind::Counter, None, &[]),
        jobs.clone(),
    )
    .unwrap();
    jobs.inc_by(2);
    Arc::new(r)
}

async fn call(
    router: Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Response<Body> {
    let request = headers
        .iter()
        .fold(Request::builder().method(method).uri(path), |b, (k, v)| {
            b.header(*k, *v)
        })
        .body(Body::empty())
        .unwrap();
    router.oneshot(request).await.unwrap()
}

async fn body_bytes(response: Response<Body>) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn serves_prometheus_text_by_default() {
    let r = counting_registry();
    let response = call(metrics_router(Arc::clone(&r)), Method::GET, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        Format::Prometheus.content_type()
    );
    assert_eq!(response.headers()["vary"], "Accept, Accept-Encoding");
    let body = body_bytes(response).await;
    assert_eq!(body, render(&r, Format::Prometheus).unwrap().as_bytes());
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("svc_jobs_total 2\n")
    );
}

#[tokio::test]
async fn serves_openmetrics_when_asked() {
    let r = counting_registry();
    let accept = [("accept", "application/openmetrics-text; version=1.0.0")];
    let response = call(
        metrics_router(Arc::clone(&r)),
        Method::GET,
        "/metrics",
        &accept,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        Format::OpenMetrics.content_type()
    );
    let body = String::from_utf8(body_bytes(response).await).unwrap();
    assert_eq!(body, render(&r, Format::OpenMetrics).unwrap());
    assert!(body.ends_with("# EOF\n"));
}

#[tokio::test]
async fn gzips_when_accepted() {
    let r = counting_registry();
    let headers = [
        ("accept", "application/openmetrics-text"),
        ("accept-encoding", "gzip"),
    ];
    let response = call(
        metrics_router(Arc::clone(&r)),
        Method::GET,
        "/metrics",
        &headers,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body_bytes(response).await[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, render(&r, Format::OpenMetrics).unwrap());
}

#[tokio::test]
async fn serves_protobuf_gzipped_when_prometheus_asks_for_native_histograms() {
    let r = counting_registry();
    // What Prometheus 2.42 sends with --enable-feature=native-histograms.
    let headers = [
        (
            "accept",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
             encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
             application/openmetrics-text;version=0.0.1;q=0.75,\
             text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        ),
        ("accept-encoding", "gzip"),
    ];
    let response = call(
        metrics_router(Arc::clone(&r)),
        Method::GET,
        "/metrics",
        &headers,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(&body_bytes(response).await[..])
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body, render_bytes(&r, Format::Protobuf).unwrap());
    assert!(body.windows(14).any(|w| w == b"svc_jobs_total"));
}

#[tokio::test]
async fn head_answers_headers_without_a_body() {
    let r = counting_registry();
    let get_length = render(&r, Format::Prometheus).unwrap().len().to_string();
    let response = call(metrics_router(r), Method::HEAD, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        Format::Prometheus.content_type()
    );
    assert_eq!(response.headers()["content-length"], get_length);
    assert!(body_bytes(response).await.is_empty());
}

#[tokio::test]
async fn other_paths_and_methods_are_refused() {
    let r = counting_registry();
    let response = call(metrics_router(Arc::clone(&r)), Method::GET, "/other", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = call(
        metrics_router(Arc::clone(&r)),
        Method::GET,
        "/metrics/x",
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = call(metrics_router(r), Method::POST, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn serves_the_configured_endpoint_literally() {
    for endpoint in ["/internal/prometheus", "/{x}", "/:stats/*all"] {
        let config = MetricsConfig::new().with_endpoint(endpoint);
        let r = Arc::new(Registry::new(&config).unwrap());
        let response = call(metrics_router(Arc::clone(&r)), Method::GET, endpoint, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{endpoint}");
        let response = call(metrics_router(Arc::clone(&r)), Method::GET, "/metrics", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{endpoint}");
        let response = call(metrics_router(r), Method::GET, "/anything", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{endpoint}");
    }
}

#[tokio::test]
async fn merges_into_a_service_router() {
    let r = counting_registry();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(metrics_router(r));
    let response = call(app.clone(), Method::GET, "/health", &[]).await;
    assert_eq!(body_bytes(response).await, b"ok");
    let response = call(app, Method::GET, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
}

impl FromRef<AppState> for Arc<Registry> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.registry)
    }
}

#[tokio::test]
async fn the_handler_works_with_a_state_of_its_own() {
    let r = counting_registry();
    let app = Router::new()
        .route("/stats", get(metrics_handler))
        .with_state(AppState {
            registry: Arc::clone(&r),
        });
    let response = call(app, Method::GET, "/stats", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_bytes(response).await,
        render(&r, Format::Prometheus).unwrap().as_bytes()
    );
}

/// A gauge whose `encode` panics.
#[derive(Debug)]
struct Panicking;

impl EncodeMetric for Panicking {
    fn encode(&self, _encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        panic!("this metric always panics")
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

#[tokio::test]
async fn a_panicking_metric_gives_a_500_not_a_crash() {
    let mut r = registry(&[]);
    r.register(
        &spec("bad", "Panics", MetricKind::Gauge, None, &[]),
        Panicking,
    )
    .unwrap();
    let router = metrics_router(Arc::new(r));
    let response = call(router.clone(), Method::GET, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = String::from_utf8(body_bytes(response).await).unwrap();
    assert!(body.contains("panicked"), "{body}");
    // The router still answers.
    let response = call(router, Method::GET, "/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
