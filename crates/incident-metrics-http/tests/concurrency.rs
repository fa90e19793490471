//! Under a few thousand concurrent requests, some cancelled, some
//! panicking, some streaming bodies dropped half-way, every request is
//! counted once and both gauges come back to exactly zero.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::{code, count};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use incident_metrics_catalog::http::{HttpStatus, Method};
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::{HttpMetricsLayer, RequestBody, RouteTemplates};
use tower::{ServiceBuilder, ServiceExt};

const REQUESTS: usize = 4_000;
const KINDS: usize = 5;

async fn handler(req: Request<RequestBody<Full<Bytes>>>) -> Result<Response<Body>, Infallible> {
    match req.uri().path() {
        "/pending" => std::future::pending().await,
        "/panic" => {
            tokio::task::yield_now().await;
            panic!("handler panicked")
        }
        "/stream" => Ok(Response::new(Body::from_stream(
            futures_util::stream::iter(
                (0..4).map(|_| Ok::<_, Infallible>(Bytes::from_static(b"chunk"))),
            ),
        ))),
        _ => {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Ok(Response::new(Body::from(body)))
        }
    }
}

#[test]
fn gauges_return_to_zero_and_counts_are_exact_under_load() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let registry = common::registry(&MetricsConfig::new());
    let layer =
        HttpMetricsLayer::new(registry.catalog()).with_path_classifier(RouteTemplates::new([
            "/pending", "/panic", "/stream", "/echo",
        ]));
    let svc = ServiceBuilder::new().layer(layer).service_fn(handler);
    let h = &registry.catalog().http;

    // Silence the expected panics of the `/panic` tasks.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    rt.block_on(async {
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let svc = svc.clone();
                tokio::spawn(async move {
                    let path = ["/pending", "/panic", "/stream", "/echo", "/echo"][i % KINDS];
                    let req = Request::post(path)
                        .body(Full::new(Bytes::from_static(b"0123456789")))
                        .unwrap();
                    match i % KINDS {
                        // Cancelled: the client gives up.
                        0 => {
                            let r =
                                tokio::time::timeout(Duration::from_millis(5), svc.oneshot(req));
                            assert!(r.await.is_err());
                        }
                        // Panics unwind through the layer and kill the task.
                        1 => {
                            let _ = svc.oneshot(req).await;
                        }
                        // Streaming body dropped after the first frame.
                        2 => {
                            let mut body = svc.oneshot(req).await.unwrap().into_body();
                            body.frame().await.unwrap().unwrap();
                        }
                        // Half of the echoes are aborted from outside, at
                        // whatever point they have reached.
                        3 => {
                            let res = svc.oneshot(req).await.unwrap();
                            res.into_body().collect().await.unwrap();
                        }
                        _ => {
                            let inner = tokio::spawn(svc.oneshot(req));
                            tokio::task::yield_now().await;
                            inner.abort();
                            let _ = inner.await;
                        }
                    }
                })
            })
            .collect();
        let mut panicked = 0;
        for task in tasks {
            if task.await.is_err() {
                panicked += 1;
            }
        }
        assert_eq!(panicked, REQUESTS / KINDS);
    });
    std::panic::set_hook(hook);

    let per_kind = (REQUESTS / KINDS) as u64;
    assert_eq!(h.connections_active.get(), 0);
    assert_eq!(h.requests_in_flight.get(), 0);
    assert_eq!(
        count(h, Method::Post, "/pending", HttpStatus::Cancelled),
        per_kind
    );
    assert_eq!(code(h, Method::Post, "/panic", 500), per_kind);
    assert_eq!(code(h, Method::Post, "/stream", 200), per_kind);
    let echo_ok = code(h, Method::Post, "/echo", 200);
    let echo_cancelled = count(h, Method::Post, "/echo", HttpStatus::Cancelled);
    assert_eq!(echo_ok + echo_cancelled, 2 * per_kind);
    assert!(echo_ok >= per_kind, "{echo_ok}");
    let text = common::render(&registry);
    assert_eq!(
        common::total(&text, "llm_incident_manager_http_requests_total"),
        REQUESTS as f64
    );
}
