//! One in-process unary call through the tonic-generated server service,
//! bare and behind `GrpcMetricsLayer`, in the same run: the difference is
//! the layer's cost per call. `grpc_layer_exemplars` times the layer around
//! a trivial inner service with exemplars off and on, each with and without
//! a sampled `traceparent` metadata entry; with `EXEMPLARS_INTERLEAVED=1`
//! it first prints the fastest of 200 interleaved rounds of each of those
//! four.
//!
//! Run: `cargo bench -p incident-metrics-benches --bench grpc_layer -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_grpc::{GrpcMetricsLayer, GrpcRequestMetrics};
use incident_metrics_grpc_testproto::TestEcho;
use incident_metrics_grpc_testproto::echo::echo_server::EchoServer;
use tower::{Layer, Service, ServiceExt};

/// `EchoRequest { text: "ok" }`, gRPC-framed: flag, length 4, field 1 "ok".
static FRAMED_REQUEST: &[u8] = &[0, 0, 0, 0, 4, 0x0a, 0x02, b'o', b'k'];

fn request() -> http::Request<Full<Bytes>> {
    request_with(None)
}

/// A sampled W3C `traceparent`.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn request_with(traceparent: Option<&'static str>) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri("/test.echo.v1.Echo/Unary")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(FRAMED_REQUEST)))
        .unwrap();
    if let Some(value) = traceparent {
        request
            .headers_mut()
            .insert("traceparent", http::HeaderValue::from_static(value));
    }
    request
}

async fn call<S, B>(svc: S) -> usize
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = svc.oneshot(request()).await.unwrap();
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().map_or(0, http::HeaderMap::len);
    collected.to_bytes().len() + trailers
}

/// A response body of one data frame then trailers.
struct Answer {
    data: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

static FRAMED_REPLY: &[u8] = &[0, 0, 0, 0, 4, 0x0a, 0x02, b'o', b'k'];

/// Reads the request body and answers.
fn answer<B: http_body::Body + Unpin>(mut req: http::Request<B>) -> http::Response<Answer> {
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(_)) = Pin::new(req.body_mut()).poll_frame(&mut cx) {}
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    http::Response::new(Answer {
        data: Some(Bytes::from_static(FRAMED_REPLY)),
        trailers: Some(trailers),
    })
}

/// One call to a service whose future and body never pend.
fn drive<S, B>(svc: S) -> usize
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
{
    drive_with(svc, None)
}

/// [`drive`], the request carrying `traceparent` when given.
fn drive_with<S, B>(svc: S, traceparent: Option<&'static str>) -> usize
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = std::pin::pin!(svc.oneshot(request_with(traceparent)));
    let Poll::Ready(Ok(mut response)) = fut.as_mut().poll(&mut cx) else {
        panic!("the service pended");
    };
    let mut frames = 0;
    while let Poll::Ready(Some(_)) = Pin::new(response.body_mut()).poll_frame(&mut cx) {
        frames += 1;
    }
    frames
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    let bare = EchoServer::new(TestEcho);
    let layered = GrpcMetricsLayer::server(registry.catalog()).layer(EchoServer::new(TestEcho));

    // Both answer the same bytes.
    assert_eq!(
        rt.block_on(call(bare.clone())),
        rt.block_on(call(layered.clone()))
    );

    let mut group = c.benchmark_group("grpc_unary_in_process");
    group.bench_function("bare", |b| {
        b.iter(|| rt.block_on(call(black_box(bare.clone()))))
    });
    group.bench_function("with_layer", |b| {
        b.iter(|| rt.block_on(call(black_box(layered.clone()))))
    });
    group.finish();

    // The layer alone: around a trivial inner service that answers one
    // framed message and `grpc-status: 0` at once, driven without a runtime.
    let trivial = tower::service_fn(|req: http::Request<_>| {
        std::future::ready(Ok::<_, Infallible>(answer(req)))
    });
    let trivial_layered = GrpcMetricsLayer::server(registry.catalog()).layer(tower::service_fn(
        |req: http::Request<incident_metrics_grpc::RequestBody<Full<Bytes>>>| {
            std::future::ready(Ok::<_, Infallible>(answer(req)))
        },
    ));
    assert_eq!(drive(trivial), drive(trivial_layered.clone()));
    let mut group = c.benchmark_group("grpc_layer_trivial_inner");
    group.bench_function("bare", |b| b.iter(|| drive(black_box(trivial))));
    group.bench_function("with_layer", |b| {
        b.iter(|| drive(black_box(trivial_layered.clone())))
    });
    group.finish();

    // Exemplars: the same trivial stack with them off and on, each with and
    // without a sampled `traceparent` (present in both `traceparent`
    // variants, so their difference is the exemplar work alone).
    let exemplars_on = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    let stack = |registry: &TestMetrics| {
        GrpcMetricsLayer::server(registry.catalog()).layer(tower::service_fn(
            |req: http::Request<incident_metrics_grpc::RequestBody<Full<Bytes>>>| {
                std::future::ready(Ok::<_, Infallible>(answer(req)))
            },
        ))
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
                    black_box(drive_with((*svc).clone(), *header));
                }
                let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(PER_ROUND);
                best[i] = best[i].min(ns);
            }
        }
        for ((name, _, _), ns) in variants.iter().zip(best) {
            eprintln!("interleaved min-of-{ROUNDS} grpc {name}: {ns:.1} ns");
        }
    }
    let mut group = c.benchmark_group("grpc_layer_exemplars");
    for (name, svc, header) in variants {
        group.bench_function(name, |b| {
            b.iter(|| drive_with(black_box(svc.clone()), header))
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

    // The manual API: start a guard and finish it (lookup, 2 clock reads,
    // counters, histogram), no bodies.
    let interceptor = GrpcRequestMetrics::server(registry.catalog());
    let mut group = c.benchmark_group("grpc_guard");
    group.bench_function("start_request_success", |b| {
        b.iter(|| {
            interceptor
                .start_request(black_box("test.echo.v1.Echo"), black_box("Unary"))
                .success()
        })
    });
    group.bench_function("quanta_now", |b| b.iter(quanta::Instant::now));
    group.finish();

    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::text::encode(
        &mut text,
        registry.registry().as_prometheus(),
    )
    .unwrap();
    assert!(text.contains("method=\"Unary\",status=\"OK\"}"));
}

criterion_group!(benches, bench);
criterion_main!(benches);
