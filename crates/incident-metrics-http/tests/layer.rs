//! The layer on a plain tower stack (no axum router): every way a request
//! can end is counted once, sizes are the bytes that moved, gauges return
//! to zero, sampling and exclusions behave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Waker};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::{code, count, observations, sum};
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use incident_metrics_catalog::http::{HttpStatus, Method};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::{DurationEnd, HttpMetricsLayer, RequestBody, RouteTemplates};
use tower::{Service, ServiceBuilder, ServiceExt};

type Req = Request<RequestBody<Full<Bytes>>>;

const ROUTES: [&str; 10] = [
    "/ok",
    "/echo",
    "/error",
    "/panic",
    "/pending",
    "/stream",
    "/empty",
    "/teapot",
    "/items/{id}",
    "/health",
];

async fn handler(req: Req) -> Result<Response<Body>, &'static str> {
    match req.uri().path() {
        "/ok" | "/health" => Ok(Response::new(Body::from("hello"))),
        "/echo" => {
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            Ok(Response::new(Body::from(bytes)))
        }
        "/error" => Err("inner error"),
        "/panic" => panic!("handler panicked"),
        "/pending" => std::future::pending().await,
        "/stream" => Ok(Response::new(Body::from_stream(
            futures_util::stream::iter([
                Ok::<_, Infallible>(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"defg")),
            ]),
        ))),
        "/empty" => Ok(Response::builder().status(204).body(Body::empty()).unwrap()),
        "/teapot" => Ok(Response::builder().status(418).body(Body::empty()).unwrap()),
        p if p.starts_with("/items/") => Ok(Response::new(Body::from("item"))),
        _ => Ok(Response::builder().status(404).body(Body::empty()).unwrap()),
    }
}

/// The handler behind tower-http's layers, which change the body types.
async fn guarded<B>(req: Request<B>) -> Result<Response<Body>, Infallible>
where
    B: http_body::Body,
{
    match req.uri().path() {
        "/panic" => panic!("handler panicked"),
        "/pending" => std::future::pending().await,
        _ => Ok(Response::new(Body::empty())),
    }
}

fn setup(
    config: MetricsConfig,
) -> (
    TestMetrics,
    impl Service<
        Request<Full<Bytes>>,
        Response = Response<incident_metrics_http::ResponseBody<Body>>,
        Error = &'static str,
        Future: Send,
    > + Clone,
) {
    let registry = common::registry(&config);
    let layer =
        HttpMetricsLayer::new(registry.catalog()).with_path_classifier(RouteTemplates::new(ROUTES));
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(handler));
    (registry, svc)
}

fn req(method: &str, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn gauges(r: &TestMetrics) -> (i64, i64) {
    let h = &r.catalog().http;
    (h.connections_active.get(), h.requests_in_flight.get())
}

#[tokio::test]
async fn counts_each_status_once_under_the_route_template() {
    let (r, svc) = setup(MetricsConfig::new());
    for path in [
        "/ok", "/ok", "/items/1", "/items/2", "/teapot", "/nope", "/empty",
    ] {
        let res = svc.clone().oneshot(req("GET", path)).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    let err = svc.clone().oneshot(req("POST", "/error")).await;
    assert_eq!(err.err(), Some("inner error"), "the error passes unchanged");
    let res = svc.clone().oneshot(req("PROPFIND", "/ok")).await.unwrap();
    drop(res);

    let h = &r.catalog().http;
    assert_eq!(code(h, Method::Get, "/ok", 200), 2);
    assert_eq!(code(h, Method::Get, "/items/{id}", 200), 2);
    assert_eq!(
        code(h, Method::Get, "/items/1", 200),
        0,
        "raw paths never appear"
    );
    assert_eq!(
        code(h, Method::Get, "/teapot", 418),
        1,
        "rare codes via the family"
    );
    assert_eq!(code(h, Method::Get, "unmatched", 404), 1);
    assert_eq!(code(h, Method::Get, "/empty", 204), 1);
    assert_eq!(
        code(h, Method::Post, "/error", 500),
        1,
        "inner errors count as 500"
    );
    assert_eq!(
        code(h, Method::Other, "/ok", 200),
        1,
        "extension methods fold to OTHER"
    );
    assert_eq!(gauges(&r), (0, 0));
    let text = common::render(&r);
    assert_eq!(
        common::total(&text, "llm_incident_manager_http_requests_total"),
        9.0
    );
    common::promtool_check(&text);
}

#[test]
fn cancelled_requests_count_as_cancelled_and_release_the_gauges() {
    let (r, mut svc) = setup(MetricsConfig::new());
    let h = &r.catalog().http;
    let mut fut = Box::pin(svc.call(req("GET", "/pending")));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(gauges(&r), (1, 1));
    drop(fut);
    assert_eq!(count(h, Method::Get, "/pending", HttpStatus::Cancelled), 1);
    assert_eq!(gauges(&r), (0, 0));
    assert_eq!(
        observations(&h.request_duration, Method::Get, "/pending"),
        1
    );
    // A future dropped before it was ever polled is cancelled too.
    drop(svc.call(req("GET", "/pending")));
    assert_eq!(count(h, Method::Get, "/pending", HttpStatus::Cancelled), 2);
    assert_eq!(gauges(&r), (0, 0));
}

#[test]
fn a_panic_unwinding_through_the_layer_counts_as_500() {
    let (r, mut svc) = setup(MetricsConfig::new());
    let h = &r.catalog().http;

    // Dropped while unwinding (the future is consumed by the panicking call).
    let fut = svc.call(req("GET", "/panic"));
    assert!(catch_unwind(AssertUnwindSafe(|| fut.now_or_never())).is_err());
    assert_eq!(code(h, Method::Get, "/panic", 500), 1);
    assert_eq!(gauges(&r), (0, 0));

    // Dropped after the panic was caught, as an executor does.
    let mut fut = Box::pin(svc.call(req("GET", "/panic")));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))).is_err());
    drop(fut);
    assert_eq!(code(h, Method::Get, "/panic", 500), 2);
    assert_eq!(count(h, Method::Get, "/panic", HttpStatus::Cancelled), 0);
    assert_eq!(gauges(&r), (0, 0));
}

#[test]
fn a_panic_in_the_inner_call_counts_as_500() {
    let registry = common::registry(&MetricsConfig::new());
    let mut svc = ServiceBuilder::new()
        .layer(
            HttpMetricsLayer::new(registry.catalog())
                .with_path_classifier(|_: &http::Uri| Some("/boom")),
        )
        .service_fn(|_req: Request<RequestBody<Full<Bytes>>>| -> std::future::Ready<Result<Response<Body>, Infallible>> {
            panic!("call panicked")
        });
    assert!(catch_unwind(AssertUnwindSafe(|| svc.call(req("GET", "/x")))).is_err());
    let h = &registry.catalog().http;
    assert_eq!(code(h, Method::Get, "/boom", 500), 1);
    assert_eq!(gauges(&registry), (0, 0));
}

#[tokio::test]
async fn sizes_are_the_bytes_that_moved() {
    let (r, svc) = setup(MetricsConfig::new());
    let h = &r.catalog().http;
    let body = Full::new(Bytes::from_static(b"hello world"));
    let res = svc
        .clone()
        .oneshot(Request::post("/echo").body(body).unwrap())
        .await
        .unwrap();
    assert_eq!(gauges(&r), (1, 0), "served until the body ends");
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes().len(),
        11
    );
    assert_eq!(gauges(&r), (0, 0));
    assert_eq!(sum(&h.request_size, Method::Post, "/echo"), 11.0);
    assert_eq!(sum(&h.response_size, Method::Post, "/echo"), 11.0);

    // A handler that never reads the body received nothing.
    let res = svc
        .clone()
        .oneshot(
            Request::post("/ok")
                .body(Full::new(Bytes::from_static(b"unread")))
                .unwrap(),
        )
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    assert_eq!(observations(&h.request_size, Method::Post, "/ok"), 1);
    assert_eq!(sum(&h.request_size, Method::Post, "/ok"), 0.0);
    assert_eq!(sum(&h.response_size, Method::Post, "/ok"), 5.0);

    // Streaming: every frame counted; the duration covers the whole stream.
    let res = svc.clone().oneshot(req("GET", "/stream")).await.unwrap();
    assert_eq!(observations(&h.request_duration, Method::Get, "/stream"), 0);
    res.into_body().collect().await.unwrap();
    assert_eq!(observations(&h.request_duration, Method::Get, "/stream"), 1);
    assert_eq!(sum(&h.response_size, Method::Get, "/stream"), 7.0);

    // Dropped after the first frame: sized and timed up to that point.
    let mut body = svc
        .clone()
        .oneshot(req("GET", "/stream"))
        .await
        .unwrap()
        .into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(gauges(&r), (1, 0));
    drop(body);
    assert_eq!(gauges(&r), (0, 0));
    assert_eq!(observations(&h.response_size, Method::Get, "/stream"), 2);
    assert_eq!(sum(&h.response_size, Method::Get, "/stream"), 10.0);
    assert_eq!(code(h, Method::Get, "/stream", 200), 2);

    // An empty body finishes with the head.
    let res = svc.clone().oneshot(req("GET", "/empty")).await.unwrap();
    assert_eq!(gauges(&r), (0, 0));
    drop(res);
    assert_eq!(observations(&h.response_size, Method::Get, "/empty"), 1);
}

#[tokio::test]
async fn first_byte_timing_stops_at_the_response_head() {
    let registry = common::registry(&MetricsConfig::new());
    let layer = HttpMetricsLayer::new(registry.catalog())
        .with_path_classifier(RouteTemplates::new(ROUTES))
        .with_duration_end(DurationEnd::FirstByte);
    let svc = ServiceBuilder::new().layer(layer).service_fn(handler);
    let h = &registry.catalog().http;
    let res = svc.oneshot(req("GET", "/stream")).await.unwrap();
    assert_eq!(observations(&h.request_duration, Method::Get, "/stream"), 1);
    res.into_body().collect().await.unwrap();
    assert_eq!(observations(&h.request_duration, Method::Get, "/stream"), 1);
    assert_eq!(sum(&h.response_size, Method::Get, "/stream"), 7.0);
}

#[tokio::test]
async fn sampling_thins_histograms_never_counters() {
    for (rate, expected) in [(0.0, 0), (1.0, 200)] {
        let (r, svc) = setup(MetricsConfig::new().with_sample_rate(rate));
        for _ in 0..200 {
            let res = svc.clone().oneshot(req("GET", "/ok")).await.unwrap();
            res.into_body().collect().await.unwrap();
        }
        let h = &r.catalog().http;
        assert_eq!(code(h, Method::Get, "/ok", 200), 200, "rate {rate}");
        assert_eq!(
            observations(&h.request_duration, Method::Get, "/ok"),
            expected
        );
        assert_eq!(observations(&h.request_size, Method::Get, "/ok"), expected);
        assert_eq!(observations(&h.response_size, Method::Get, "/ok"), expected);
        assert_eq!(gauges(&r), (0, 0));
    }
    let (r, svc) = setup(MetricsConfig::new().with_sample_rate(0.5));
    for _ in 0..2000 {
        svc.clone().oneshot(req("GET", "/ok")).await.unwrap();
    }
    let h = &r.catalog().http;
    assert_eq!(code(h, Method::Get, "/ok", 200), 2000);
    let seen = observations(&h.request_duration, Method::Get, "/ok");
    assert!((800..1200).contains(&seen), "{seen}");
}

#[tokio::test]
async fn excluded_paths_and_a_disabled_config_record_nothing() {
    let (r, svc) = setup(MetricsConfig::new().exclude_path("/ok"));
    for path in ["/health", "/metrics", "/ok"] {
        let res = svc.clone().oneshot(req("GET", path)).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    let text = common::render(&r);
    assert_eq!(
        common::total(&text, "llm_incident_manager_http_requests_total"),
        0.0
    );
    assert!(!text.contains("path=\"/health\""), "{text}");
    assert!(!text.contains("path=\"/ok\""), "{text}");
    assert_eq!(gauges(&r), (0, 0));

    let (r, svc) = setup(MetricsConfig::new().with_enabled(false));
    let res = svc.clone().oneshot(req("GET", "/stream")).await.unwrap();
    assert_eq!(gauges(&r), (0, 0));
    res.into_body().collect().await.unwrap();
    let text = common::render(&r);
    assert_eq!(
        common::total(&text, "llm_incident_manager_http_requests_total"),
        0.0
    );
}

#[tokio::test]
async fn the_unmatched_value_is_configurable() {
    let registry = common::registry(&MetricsConfig::new());
    let layer = HttpMetricsLayer::new(registry.catalog()).with_unmatched_path("no_route");
    let svc = ServiceBuilder::new().layer(layer).service_fn(handler);
    let res = svc.oneshot(req("GET", "/whatever/123")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        code(&registry.catalog().http, Method::Get, "no_route", 404),
        1
    );
}

#[tokio::test]
async fn rejections_by_inner_layers_are_counted_with_their_status() {
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::timeout::TimeoutLayer;

    let registry = common::registry(&MetricsConfig::new());
    let layer =
        HttpMetricsLayer::new(registry.catalog()).with_path_classifier(RouteTemplates::new(ROUTES));
    let svc = ServiceBuilder::new()
        .layer(layer)
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(20),
        ))
        .layer(RequestBodyLimitLayer::new(4))
        .service_fn(guarded);
    let h = &registry.catalog().http;

    let res = svc.clone().oneshot(req("GET", "/panic")).await.unwrap();
    assert_eq!(res.status(), 500);
    drop(res);
    let res = svc.clone().oneshot(req("GET", "/pending")).await.unwrap();
    assert_eq!(res.status(), 408);
    drop(res);
    let big = Request::post("/echo")
        .header("content-length", "12")
        .body(Full::new(Bytes::from_static(b"far too long")))
        .unwrap();
    let res = svc.clone().oneshot(big).await.unwrap();
    assert_eq!(res.status(), 413);
    drop(res);

    assert_eq!(code(h, Method::Get, "/panic", 500), 1);
    assert_eq!(code(h, Method::Get, "/pending", 408), 1);
    assert_eq!(code(h, Method::Post, "/echo", 413), 1);
    assert_eq!(gauges(&registry), (0, 0));
}
