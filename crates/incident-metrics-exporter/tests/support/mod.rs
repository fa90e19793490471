//! Helpers shared by the integration tests: registry building and the
//! samples of an exposition (read by `incident-metrics-testing`'s parser).
//! Outside tools are found by `incident-metrics-testing`.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "each test binary uses a different part of this module; tests may panic"
)]

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry, Unit};
use incident_metrics_testing::exposition;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Opens an HTTP/1.1 connection to `addr` (listening since its `bind`);
/// the handle drives the connection.
pub async fn connect(addr: SocketAddr) -> (SendRequest<Empty<Bytes>>, JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, driver)
}

/// One request on `sender` with `headers` (values as raw bytes, so that
/// tests can send malformed ones); the status, headers and whole body.
pub async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    method: Method,
    path: &str,
    headers: &[(&str, &[u8])],
) -> (StatusCode, HeaderMap, Bytes) {
    let request = headers
        .iter()
        .fold(
            Request::builder()
                .method(method)
                .uri(path)
                .header("host", "localhost"),
            |b, (k, v)| b.header(*k, *v),
        )
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// A registry with `env="test"` whose only family is `svc_jobs_total`, at 4.
pub fn jobs_registry() -> Registry {
    let mut r = registry(&[("env", "test")]);
    let jobs =
        incident_metrics_core::prometheus_client::metrics::counter::Counter::<u64>::default();
    r.register(
        &spec("jobs", "Jobs run", MetricKind::Counter, None, &[]),
        jobs.clone(),
    )
    .unwrap();
    jobs.inc_by(4);
    r
}

/// A registry with namespace `svc` and the given global labels.
pub fn registry(global_labels: &[(&str, &str)]) -> Registry {
    let config = global_labels.iter().fold(
        MetricsConfig::new().with_namespace("svc"),
        |config, (k, v)| config.with_global_label(*k, *v),
    );
    Registry::new(&config).unwrap()
}

/// A family declaration.
pub const fn spec(
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    unit: Option<Unit>,
    labels: &'static [&'static str],
) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind,
        unit,
        labels,
    }
}

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: String,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the sample lines of a text exposition (either format) with the
/// workspace's one parser (`incident_metrics_testing::exposition`); comment
/// lines are skipped. Label values are unescaped (`\\`, `\"`, `\n`). Panics,
/// naming the line, on anything it cannot read, and on an exemplar or a
/// timestamp.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    let parsed = exposition::parse(text).unwrap_or_else(|e| panic!("{e}"));
    parsed
        .samples
        .into_iter()
        .map(|s| {
            assert!(
                s.exemplar.is_none() && s.timestamp.is_none(),
                "more than a value after the labels (exemplar or timestamp): {s:?}"
            );
            Sample {
                name: s.name,
                labels: s.labels,
                value: s.value_text,
            }
        })
        .collect()
}

/// The only sample named `name`.
pub fn sample<'a>(samples: &'a [Sample], name: &str) -> &'a Sample {
    let mut found = samples.iter().filter(|s| s.name == name);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no sample {name} in {samples:#?}"));
    assert!(found.next().is_none(), "more than one sample {name}");
    first
}
