//! Shared set-up: a measured tonic server and client on 127.0.0.1:0, and
//! readers for the exposition.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::MetricsConfig;
use incident_metrics_grpc::{GrpcMetricsLayer, GrpcMetricsService, MapRequestBodyWith};
use incident_metrics_grpc_testproto::TestEcho;
use incident_metrics_grpc_testproto::echo::echo_client::EchoClient;
use incident_metrics_grpc_testproto::echo::echo_server::EchoServer;
use tonic::transport::Channel;

pub const SERVICE: &str = "test.echo.v1.Echo";

/// The client body conversion, as a function pointer so the type can be named.
pub type ToTonicBody =
    fn(incident_metrics_grpc::RequestBody<tonic::body::Body>) -> tonic::body::Body;

/// A channel behind the client layer.
pub type MeasuredChannel = GrpcMetricsService<Channel, MapRequestBodyWith<ToTonicBody>>;

pub type Client = EchoClient<MeasuredChannel>;

pub struct Harness {
    pub registry: TestMetrics,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn to_tonic_body(body: incident_metrics_grpc::RequestBody<tonic::body::Body>) -> tonic::body::Body {
    tonic::body::Body::new(body)
}

impl Harness {
    /// A measured server of the echo service on 127.0.0.1:0.
    pub async fn start() -> Self {
        let mut routes = tonic::service::RoutesBuilder::default();
        routes.add_service(EchoServer::new(TestEcho));
        Self::start_with(routes.routes()).await
    }

    /// A measured server of `routes` on 127.0.0.1:0: one layer on
    /// `Server::builder()` around every service.
    pub async fn start_with(routes: tonic::service::Routes) -> Self {
        Self::start_configured(&MetricsConfig::new(), routes).await
    }

    /// As [`start_with`](Self::start_with), the registry built from `config`.
    pub async fn start_configured(config: &MetricsConfig, routes: tonic::service::Routes) -> Self {
        let registry = TestMetrics::new(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .layer(GrpcMetricsLayer::server(registry.catalog()))
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = rx.await;
                },
            );
        tokio::spawn(server);
        Self {
            registry,
            addr,
            shutdown: Some(tx),
        }
    }

    /// A measured client of the server.
    pub async fn client(&self) -> Client {
        EchoClient::new(self.channel().await)
    }

    /// A channel to the server behind the client layer, for any client.
    pub async fn channel(&self) -> MeasuredChannel {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let layer = GrpcMetricsLayer::client(self.registry.catalog())
            .map_request_body(to_tonic_body as ToTonicBody);
        tower::ServiceBuilder::new().layer(layer).service(channel)
    }

    /// The exposition, OpenMetrics text.
    pub fn text(&self) -> String {
        let mut text = String::new();
        incident_metrics_core::prometheus_client::encoding::text::encode(
            &mut text,
            self.registry.registry().as_prometheus(),
        )
        .unwrap();
        text
    }

    /// The value of the sample `name{labels}`, 0 if absent.
    pub fn value(&self, name: &str, labels: &str) -> f64 {
        sample(&self.text(), name, labels)
    }

    /// Waits (bounded: 10 s) until `name{labels}` reads `want`.
    pub async fn wait_for(&self, name: &str, labels: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..2_000 {
            if self.value(name, labels) == want {
                return;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "{name}{{{labels}}} stayed at {} (want {want}):\n{}",
            self.value(name, labels),
            self.text()
        );
    }

    /// Prometheus text 0.0.4, for promtool.
    pub fn prometheus_text(&self) -> String {
        let mut text = String::new();
        incident_metrics_core::prometheus_client::encoding::prometheus_text::encode(
            &mut text,
            self.registry.registry().as_prometheus(),
        )
        .unwrap();
        text
    }
}

/// `service="test.echo.v1.Echo",method="<method>"`.
pub fn method(method: &str) -> String {
    format!("service=\"{SERVICE}\",method=\"{method}\"")
}

/// `service=...,method=...,status="<status>"`.
pub fn status(method_name: &str, status: &str) -> String {
    format!("{},status=\"{status}\"", method(method_name))
}

/// The value of `name{labels}` in an exposition, 0 if absent, read with the
/// workspace's exposition parser.
pub fn sample(text: &str, name: &str, labels: &str) -> f64 {
    use incident_metrics_testing::exposition::{self, Line};
    let series = format!("llm_incident_manager_{name}{{{labels}}} 0");
    let Ok(Line::Sample(want)) = exposition::parse_line(&series) else {
        panic!("not a series: {series:?}");
    };
    let parsed = exposition::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let labels: Vec<(&str, &str)> = want
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    parsed.value(&want.name, &labels).unwrap_or(0.0)
}

/// Runs `promtool check metrics` on `text` (skipped outside CI when missing).
pub fn promtool_check(text: &str) {
    incident_metrics_testing::promtool_check_metrics(text);
}

/// A body that yields prepared frames, for driving the layer in-process.
#[derive(Debug, Default)]
pub struct FramesBody {
    frames: std::collections::VecDeque<http_body::Frame<bytes::Bytes>>,
}

impl FramesBody {
    pub fn new(frames: impl IntoIterator<Item = http_body::Frame<bytes::Bytes>>) -> Self {
        Self {
            frames: frames.into_iter().collect(),
        }
    }

    /// gRPC messages of the given sizes, cut into frames at `cuts`, then
    /// trailers with `grpc-status: code` if given.
    pub fn grpc(sizes: &[usize], cuts: &[usize], code: Option<u8>) -> Self {
        let mut wire = Vec::new();
        for size in sizes {
            wire.push(0);
            wire.extend_from_slice(&u32::try_from(*size).unwrap().to_be_bytes());
            wire.extend(std::iter::repeat_n(7_u8, *size));
        }
        let mut frames = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().copied().chain([wire.len()]) {
            let cut = cut.clamp(at, wire.len());
            if cut > at {
                frames.push(http_body::Frame::data(bytes::Bytes::copy_from_slice(
                    &wire[at..cut],
                )));
            }
            at = cut;
        }
        if let Some(code) = code {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from(u16::from(code)));
            frames.push(http_body::Frame::trailers(trailers));
        }
        Self::new(frames)
    }
}

impl http_body::Body for FramesBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.frames.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(f).poll(&mut cx)
}

/// Drains a body that never pends; returns the number of frames.
pub fn drain<B: http_body::Body + Unpin>(body: &mut B) -> usize {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut n = 0;
    for _ in 0..1_000_000 {
        match std::pin::Pin::new(&mut *body).poll_frame(&mut cx) {
            std::task::Poll::Ready(Some(_)) => n += 1,
            std::task::Poll::Ready(None) => return n,
            std::task::Poll::Pending => panic!("the body pended"),
        }
    }
    panic!("the body never ended")
}
