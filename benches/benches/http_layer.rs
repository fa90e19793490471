//! One in-process request (`tower::ServiceExt::oneshot` on an axum
//! `Router`), bare, behind `HttpMetricsLayer`, and behind the
//! `axum-prometheus` layer, in the same run: the differences from `bare`
//! are each layer's cost per request. Two reference layers split the cost:
//! `noop_layer` (what axum's `Router::layer` costs for any layer) and
//! `wrap_bodies` (plus axum boxing wrapped bodies, as for any byte-counting
//! layer). `http_layer/service_fn` times the layer on a plain tower stack.
//! `http_layer/exemplars` times the same plain stack with exemplars off and
//! on, each with and without a sampled `traceparent` header; with
//! `EXEMPLARS_INTERLEAVED=1` it first prints the fastest of 200 interleaved
//! rounds of each of those four.
//! With `HTTP_LAYER_INTERLEAVED=1` the run first prints the fastest of 200
//! interleaved rounds per variant, steadier on a shared machine.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench http_layer -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body::Body as _;
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_http::HttpMetricsLayer;
use tower::ServiceExt;

/// Polls a future that never waits to completion on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

async fn incident() -> &'static str {
    "{\"id\":\"42\"}"
}

fn router() -> Router {
    Router::new().route("/api/v1/incidents/{id}", get(incident))
}

/// One request through `router` with its body read to the end.
fn one(router: &Router) -> usize {
    let request = http::Request::get("/api/v1/incidents/42")
        .body(Body::empty())
        .unwrap();
    let response = block_on(router.clone().oneshot(request)).unwrap();
    let mut body = response.into_body();
    let mut cx = Context::from_waker(Waker::noop());
    let mut bytes = 0;
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        bytes += frame.unwrap().data_ref().map_or(0, bytes::Bytes::len);
    }
    bytes
}

/// A layer that does nothing but hold an `Arc`, as a real layer does: what
/// axum's `Router::layer` costs per request before the layer does any work
/// (it boxes the layered route's future and clones the boxed route).
#[derive(Clone)]
struct Noop(#[allow(dead_code)] std::sync::Arc<u8>);

impl<S> tower::Layer<S> for Noop {
    type Service = S;

    fn layer(&self, inner: S) -> S {
        inner
    }
}

pin_project_lite::pin_project! {
    /// A body that only forwards to its inner body.
    struct Passthrough<B> { #[pin] inner: B }
}

impl<B: http_body::Body> http_body::Body for Passthrough<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A layer that wraps both bodies and records nothing: what any
/// body-counting layer costs inside axum (axum boxes a body that is not its
/// own type, once on the way in and once on the way out).
#[derive(Clone)]
struct WrapBodies(#[allow(dead_code)] std::sync::Arc<u8>);

impl<S> tower::Layer<S> for WrapBodies {
    type Service = WrapBodiesService<S>;

    fn layer(&self, inner: S) -> WrapBodiesService<S> {
        WrapBodiesService(inner)
    }
}

#[derive(Clone)]
struct WrapBodiesService<S>(S);

impl<S, B, R> tower::Service<http::Request<B>> for WrapBodiesService<S>
where
    S: tower::Service<http::Request<Passthrough<B>>, Response = http::Response<R>>,
{
    type Response = http::Response<Passthrough<R>>;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<
        S::Future,
        fn(http::Response<R>) -> http::Response<Passthrough<R>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        use futures_util::TryFutureExt;
        self.0
            .call(request.map(|inner| Passthrough { inner }))
            .map_ok(|response| response.map(|inner| Passthrough { inner }))
    }
}

fn bench(c: &mut Criterion) {
    // As `axum::serve` does: handlers become routes once (`with_state`).
    let bare = router().with_state::<()>(());

    let noop = router()
        .layer(Noop(std::sync::Arc::new(0)))
        .with_state::<()>(());

    let wrap = router()
        .layer(WrapBodies(std::sync::Arc::new(0)))
        .with_state::<()>(());

    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let ours = router()
        .layer(HttpMetricsLayer::new(registry.catalog()))
        .with_state::<()>(());

    // axum-prometheus spawns its upkeep task on the current runtime; that
    // task never runs here (the runtime is not driven), which only spares
    // it work.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _enter = runtime.enter();
    let (prometheus_layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let theirs = router().layer(prometheus_layer).with_state::<()>(());

    // Check that each variant answers and that both layers record.
    for r in [&bare, &noop, &wrap, &ours, &theirs] {
        assert_eq!(one(r), 11);
    }
    assert_eq!(
        registry
            .catalog()
            .http
            .requests
            .get(&incident_metrics_catalog::http::HttpRequestLabels {
                method: incident_metrics_catalog::http::Method::Get,
                path: "/api/v1/incidents/{id}".into(),
                status: incident_metrics_catalog::http::HttpStatus::code(200),
            })
            .map(|c| c.get()),
        Some(1)
    );
    assert!(handle.render().contains("/api/v1/incidents/{id}"));

    if std::env::var_os("HTTP_LAYER_INTERLEAVED").is_some() {
        interleaved(&[
            ("bare", &bare),
            ("noop_layer", &noop),
            ("wrap_bodies", &wrap),
            ("incident_metrics_http", &ours),
            ("axum_prometheus", &theirs),
        ]);
    }

    let mut group = c.benchmark_group("http_layer/oneshot");
    group.bench_function("bare", |b| b.iter(|| black_box(one(&bare))));
    group.bench_function("noop_layer", |b| b.iter(|| black_box(one(&noop))));
    group.bench_function("wrap_bodies", |b| b.iter(|| black_box(one(&wrap))));
    group.bench_function("incident_metrics_http", |b| {
        b.iter(|| black_box(one(&ours)));
    });
    group.bench_function("axum_prometheus", |b| {
        b.iter(|| black_box(one(&theirs)));
    });
    group.finish();

    // The layer's own work, without axum's per-layer boxing: a plain tower
    // stack around a `service_fn`, the route named by a classifier.
    let layered = tower::Layer::layer(
        &HttpMetricsLayer::new(registry.catalog()).with_path_classifier(
            incident_metrics_http::RouteTemplates::new(["/api/v1/incidents/{id}"]),
        ),
        tower::service_fn(answer::<incident_metrics_http::RequestBody<Empty>>),
    );
    let handler = tower::service_fn(answer::<Empty>);
    let mut group = c.benchmark_group("http_layer/service_fn");
    group.bench_function("bare", |b| b.iter(|| black_box(one_tower(&handler))));
    group.bench_function("incident_metrics_http", |b| {
        b.iter(|| black_box(one_tower(&layered)));
    });
    group.finish();

    // Exemplars: the layer on the plain stack with them off and on, each
    // with and without a sampled `traceparent` (the request carries the
    // header in both `traceparent` variants, so their difference is the
    // exemplar work alone).
    let exemplars_on = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    let stack = |registry: &TestMetrics| {
        tower::Layer::layer(
            &HttpMetricsLayer::new(registry.catalog()).with_path_classifier(
                incident_metrics_http::RouteTemplates::new(["/api/v1/incidents/{id}"]),
            ),
            tower::service_fn(answer::<incident_metrics_http::RequestBody<Empty>>),
        )
    };
    let (off, on) = (stack(&registry), stack(&exemplars_on));
    let variants = [
        ("off_no_traceparent", &off, None),
        ("off_traceparent", &off, Some(TRACEPARENT)),
        ("on_no_traceparent", &on, None),
        ("on_traceparent", &on, Some(TRACEPARENT)),
    ];
    if std::env::var_os("EXEMPLARS_INTERLEAVED").is_some() {
        const ROUNDS: usize = 200;
        const PER_ROUND: u32 = 2_000;
        let mut best = [f64::INFINITY; 4];
        for _ in 0..ROUNDS {
            for (i, (_, svc, header)) in variants.iter().enumerate() {
                let start = std::time::Instant::now();
                for _ in 0..PER_ROUND {
                    black_box(one_tower_with(*svc, *header));
                }
                let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(PER_ROUND);
                best[i] = best[i].min(ns);
            }
        }
        for ((name, _, _), ns) in variants.iter().zip(best) {
            eprintln!("interleaved min-of-{ROUNDS} http {name}: {ns:.1} ns");
        }
    }
    let mut group = c.benchmark_group("http_layer/exemplars");
    for (name, svc, header) in variants {
        group.bench_function(name, |b| {
            b.iter(|| black_box(one_tower_with(svc, header)));
        });
    }
    group.finish();
    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::text::encode(
        &mut text,
        exemplars_on.registry().as_prometheus(),
    )
    .unwrap();
    assert!(text.contains("trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\""));
}

/// A sampled W3C `traceparent`.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// On a shared machine criterion's runs of one variant after another see
/// different loads. With `HTTP_LAYER_INTERLEAVED` set, this first prints,
/// per variant, the fastest of many short rounds taken in turn, which
/// preemption can only slow down.
fn interleaved(variants: &[(&str, &Router)]) {
    const ROUNDS: usize = 200;
    const PER_ROUND: u32 = 2_000;
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, router)) in variants.iter().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..PER_ROUND {
                black_box(one(router));
            }
            let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(PER_ROUND);
            best[i] = best[i].min(ns);
        }
    }
    for ((name, _), ns) in variants.iter().zip(best) {
        eprintln!("interleaved min-of-{ROUNDS} {name}: {ns:.0} ns");
    }
}

type Empty = http_body_util::Empty<bytes::Bytes>;

async fn answer<B>(
    _request: http::Request<B>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    Ok(http::Response::new(http_body_util::Full::new(
        bytes::Bytes::from_static(b"{\"id\":\"42\"}"),
    )))
}

/// One request through a plain tower service, its body read to the end.
fn one_tower<S, B>(svc: &S) -> usize
where
    S: tower::Service<
            http::Request<http_body_util::Empty<bytes::Bytes>>,
            Response = http::Response<B>,
        > + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    one_tower_with(svc, None)
}

/// One request through a plain tower service, with a `traceparent` header
/// when given, its body read to the end.
fn one_tower_with<S, B>(svc: &S, traceparent: Option<&'static str>) -> usize
where
    S: tower::Service<
            http::Request<http_body_util::Empty<bytes::Bytes>>,
            Response = http::Response<B>,
        > + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut request = http::Request::get("/api/v1/incidents/42")
        .body(http_body_util::Empty::new())
        .unwrap();
    if let Some(value) = traceparent {
        request
            .headers_mut()
            .insert("traceparent", http::HeaderValue::from_static(value));
    }
    let response = block_on(svc.clone().oneshot(request)).unwrap();
    let mut body = response.into_body();
    let mut cx = Context::from_waker(Waker::noop());
    let mut bytes = 0;
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        bytes += frame.unwrap().data_ref().map_or(0, bytes::Bytes::len);
    }
    bytes
}

criterion_group!(benches, bench);
criterion_main!(benches);
