//! Helpers shared by the integration tests: registry building and a small
//! exposition parser. Outside tools are found by `incident-metrics-testing`.

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

/// Parses the sample lines of a text exposition (either format); comment
/// lines are skipped. Label values are unescaped (`\\`, `\"`, `\n`). Panics,
/// naming the line, on anything it cannot read, and on an exemplar.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| parse_line(line).unwrap_or_else(|e| panic!("{e} in line {line:?}")))
        .collect()
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices();
        loop {
            // Label name up to `=`, or the closing brace.
            let mut key = String::new();
            let mut closed = false;
            for (i, c) in chars.by_ref() {
                match c {
                    '}' if key.is_empty() => {
                        rest = &after_brace[i + 1..];
                        closed = true;
                        break;
                    }
                    '=' => break,
                    ',' if key.is_empty() => {}
                    c => key.push(c),
                }
            }
            if closed {
                break;
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("no opening quote for label {key:?}"));
            }
            let value = read_label_value(&mut chars)?;
            labels.push((key, value));
        }
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?;
    if value.contains(' ') {
        return Err("more than a value after the labels (exemplar or timestamp)".to_owned());
    }
    Ok(Sample {
        name,
        labels,
        value: value.to_owned(),
    })
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

/// Reads a label value after its opening quote, through its closing quote,
/// unescaping `\\`, `\"` and `\n`; refuses any other escape, a raw newline
/// and a missing closing quote.
pub fn read_label_value(chars: &mut impl Iterator<Item = (usize, char)>) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match chars.next().map(|(_, c)| c) {
            Some('"') => return Ok(value),
            Some('\\') => match chars.next().map(|(_, c)| c) {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                other => return Err(format!("bad escape {other:?}")),
            },
            Some('\n') => return Err("raw newline in a label value".to_owned()),
            Some(c) => value.push(c),
            None => return Err("unterminated label value".to_owned()),
        }
    }
}
