//! The hot path allocates nothing: after warm-up, a request through the
//! layer makes no heap allocation of its own. Driven on the current thread,
//! with `allocation-counter` counting this thread's allocations and the
//! inner service opted out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::{HttpMetricsLayer, RouteTemplates};
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};

const WARM_UP: usize = 200;
const MEASURED: usize = 1_000;

/// Polls a future on this thread until it is ready; the futures here never
/// wait on anything.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Reads a body to its end, frame by frame, without collecting it.
fn drain<B: Body + Unpin>(mut body: B) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut frames = 0;
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        assert!(frame.is_ok());
        frames += 1;
    }
    frames
}

/// Runs the inner service (its `call`, its future and its body) with
/// allocation counting switched off: its allocations are not ours.
#[derive(Clone)]
struct OptOut<S>(S);

pin_project! {
    struct OptOutFuture<F> { #[pin] inner: F }
}

pin_project! {
    struct OptOutBody<B> { #[pin] inner: B }
}

impl<S, R, B> Service<R> for OptOut<S>
where
    S: Service<R, Response = Response<B>>,
{
    type Response = Response<OptOutBody<B>>;
    type Error = S::Error;
    type Future = OptOutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let mut out = None;
        allocation_counter::opt_out(|| out = Some(self.0.call(req)));
        OptOutFuture {
            inner: out.unwrap(),
        }
    }
}

impl<F, B, E> Future for OptOutFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<OptOutBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        let mut out = None;
        allocation_counter::opt_out(|| out = Some(inner.poll(cx)));
        out.unwrap()
            .map(|r| r.map(|res| res.map(|inner| OptOutBody { inner })))
    }
}

impl<B: Body> Body for OptOutBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let inner = self.project().inner;
        let mut out = None;
        allocation_counter::opt_out(|| out = Some(inner.poll_frame(cx)));
        out.unwrap()
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn layer(registry: &TestMetrics) -> HttpMetricsLayer {
    HttpMetricsLayer::new(registry.catalog())
        .with_path_classifier(RouteTemplates::new(["/items/{id}", "/other"]))
}

#[test]
fn a_tower_stack_allocates_nothing_per_request() {
    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let handler = tower::service_fn(|req: Request<_>| async move {
        drain(req.into_body());
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    });
    let svc = layer(&registry).layer(OptOut(handler));
    let requests: Vec<_> = (0..WARM_UP + MEASURED)
        .map(|i| {
            let (method, path) = match i % 4 {
                0 => ("GET", "/items/1"),
                1 => ("POST", "/items/2"),
                2 => ("GET", "/other"),
                _ => ("GET", "/unknown"),
            };
            Request::builder()
                .method(method)
                .uri(path)
                .body(Full::new(Bytes::from_static(b"request body")))
                .unwrap()
        })
        .collect();
    let mut requests = requests.into_iter();
    let mut run = |n: usize| {
        for req in requests.by_ref().take(n) {
            let res = block_on(svc.clone().oneshot(req)).unwrap();
            assert_eq!(drain(res.into_body()), 1);
        }
    };
    run(WARM_UP);
    let info = allocation_counter::measure(|| run(MEASURED));
    assert_eq!(info.count_total, 0, "{info:?}");
    let h = &registry.catalog().http;
    assert_eq!(h.connections_active.get(), 0);
}

#[test]
fn with_exemplars_on_a_traced_request_allocates_nothing() {
    // Exemplar slots are allocated once per series, by its first exemplar
    // (in the warm-up); after that a traced request allocates nothing.
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    let handler = tower::service_fn(|req: Request<_>| async move {
        drain(req.into_body());
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    });
    let svc = layer(&registry).layer(OptOut(handler));
    let requests: Vec<_> = (0..WARM_UP + MEASURED)
        .map(|i| {
            let builder = Request::builder().uri("/items/1");
            let builder = match i % 3 {
                0 => builder.header(
                    "traceparent",
                    format!("00-{:032x}-00f067aa0ba902b7-01", i + 1),
                ),
                1 => builder.header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                ),
                _ => builder,
            };
            builder
                .body(Full::new(Bytes::from_static(b"request body")))
                .unwrap()
        })
        .collect();
    let mut requests = requests.into_iter();
    let mut run = |n: usize| {
        for req in requests.by_ref().take(n) {
            let res = block_on(svc.clone().oneshot(req)).unwrap();
            assert_eq!(drain(res.into_body()), 1);
        }
    };
    run(WARM_UP);
    let info = allocation_counter::measure(|| run(MEASURED));
    assert_eq!(info.count_total, 0, "{info:?}");
    let text = {
        let mut text = String::new();
        incident_metrics_core::prometheus_client::encoding::text::encode(
            &mut text,
            registry.registry().as_prometheus(),
        )
        .unwrap();
        text
    };
    // The sampled requests did leave their traces.
    assert!(text.contains("trace_id=\""), "{text}");
}

pin_project! {
    /// A body wrapper that does nothing: what any body-wrapping layer costs
    /// inside an axum router (axum boxes a body that is not its own type).
    struct Passthrough<B> { #[pin] inner: B }
}

impl<B: Body> Body for Passthrough<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A layer that only wraps both bodies, the baseline for the router test.
/// Like ours it holds an `Arc`: axum boxes a copy of each route's layer
/// per request, which costs an allocation for any layer that is not
/// zero-sized.
#[derive(Clone)]
struct WrapLayer(#[allow(dead_code)] std::sync::Arc<u8>);

impl<S> Layer<S> for WrapLayer {
    type Service = WrapBodies<S>;

    fn layer(&self, inner: S) -> WrapBodies<S> {
        WrapBodies(inner)
    }
}

#[derive(Clone)]
struct WrapBodies<S>(S);

impl<S, B, ResB> Service<Request<B>> for WrapBodies<S>
where
    S: Service<Request<Passthrough<B>>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    ResB: 'static,
{
    type Response = Response<Passthrough<ResB>>;
    type Error = S::Error;
    type Future =
        futures_util::future::MapOk<S::Future, fn(Response<ResB>) -> Response<Passthrough<ResB>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        use futures_util::TryFutureExt;
        self.0
            .call(req.map(|inner| Passthrough { inner }))
            .map_ok(|res| res.map(|inner| Passthrough { inner }))
    }
}

/// Allocations of `MEASURED` requests through `router` after warm-up.
fn router_allocations(router: Router) -> u64 {
    let make = |i: usize| {
        Request::builder()
            .uri(if i.is_multiple_of(2) {
                "/items/7"
            } else {
                "/nope"
            })
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let requests: Vec<_> = (0..WARM_UP + MEASURED).map(make).collect();
    let mut requests = requests.into_iter();
    let mut run = |n: usize| {
        for req in requests.by_ref().take(n) {
            let res = block_on(router.clone().oneshot(req)).unwrap();
            drain(res.into_body());
        }
    };
    run(WARM_UP);
    allocation_counter::measure(|| run(MEASURED)).count_total
}

#[test]
fn in_an_axum_router_the_layer_allocates_nothing_beyond_body_wrapping() {
    async fn item() -> &'static str {
        "item"
    }
    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let baseline = router_allocations(
        Router::new()
            .route("/items/{id}", get(item))
            .layer(WrapLayer(std::sync::Arc::new(0))),
    );
    let ours = router_allocations(
        Router::new()
            .route("/items/{id}", get(item))
            .layer(HttpMetricsLayer::new(registry.catalog())),
    );
    let disabled_reg = TestMetrics::new(&MetricsConfig::new().with_enabled(false)).unwrap();
    let disabled = router_allocations(
        Router::new()
            .route("/items/{id}", get(item))
            .layer(HttpMetricsLayer::new(disabled_reg.catalog())),
    );
    let plain = router_allocations(Router::new().route("/items/{id}", get(item)));
    eprintln!("disabled {disabled} plain {plain}");
    eprintln!("router allocations per {MEASURED} requests: baseline {baseline}, ours {ours}");
    assert_eq!(ours, baseline);
    let h = &registry.catalog().http;
    assert_eq!(h.connections_active.get(), 0);
    assert_eq!(h.requests_in_flight.get(), 0);
}
