//! Exemplars: with `exemplars = true`, a request carrying a valid, sampled
//! W3C `traceparent` leaves its trace on its `http_requests_total` series
//! and on its duration bucket, in the OpenMetrics answer only; without the
//! header, with an unsampled or invalid one, or with exemplars off, nothing
//! is attached and no exemplar storage is allocated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use incident_metrics_catalog::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus, Method};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::{ExemplarSource, HeaderLookup, MetricsConfig, SharedStr, TraceContext};
use incident_metrics_http::{HttpMetricsLayer, RequestBody, RouteTemplates};
use tower::{Layer, ServiceExt};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

fn sampled() -> String {
    format!("00-{TRACE}-{SPAN}-01")
}

/// Sends one `GET /items/7` with `headers` through a layer built by `layer`.
fn send(
    registry: &TestMetrics,
    layer: impl Fn(HttpMetricsLayer) -> HttpMetricsLayer,
    headers: &[(&str, &str)],
) {
    let handler = tower::service_fn(|_req: Request<RequestBody<Full<Bytes>>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let base = HttpMetricsLayer::new(registry.catalog())
        .with_path_classifier(RouteTemplates::new(["/items/{id}"]));
    let svc = layer(base).layer(handler);
    let mut request = Request::get("/items/7");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = svc.oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    });
}

fn openmetrics(registry: &TestMetrics) -> String {
    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::text::encode(
        &mut text,
        registry.registry().as_prometheus(),
    )
    .unwrap();
    text
}

fn route() -> HttpRouteLabels {
    HttpRouteLabels {
        method: Method::Get,
        path: SharedStr::from("/items/{id}"),
    }
}

fn ok_labels() -> HttpRequestLabels {
    HttpRequestLabels {
        method: Method::Get,
        path: SharedStr::from("/items/{id}"),
        status: HttpStatus::code(200),
    }
}

/// The exemplar suffix our trace leaves on a sample line, up to its value.
fn suffix() -> String {
    format!(" # {{trace_id=\"{TRACE}\",span_id=\"{SPAN}\"}} ")
}

#[test]
fn a_sampled_traceparent_marks_the_counter_and_the_duration_bucket() {
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    send(&registry, |l| l, &[("traceparent", &sampled())]);
    let http = &registry.catalog().http;

    let counter = http.requests.get(&ok_labels()).unwrap();
    assert_eq!(counter.get(), 1);
    let e = counter.exemplar().expect("the counter's exemplar");
    assert_eq!(e.trace.trace_id_hex().as_str(), TRACE);
    assert_eq!(e.trace.span_id_hex().as_str(), SPAN);
    assert_eq!(e.value, 1.0);
    let age = std::time::SystemTime::now()
        .duration_since(e.timestamp.unwrap())
        .unwrap();
    assert!(age.as_secs() < 60, "timestamped now: {age:?}");

    let duration = http.request_duration.get(&route()).unwrap();
    let marked: Vec<_> = duration
        .exemplars()
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| Some((i, e?)))
        .collect();
    assert_eq!(marked.len(), 1, "{marked:?}");
    let (bucket, e) = marked[0];
    assert_eq!(
        duration.bucket_counts()[bucket],
        1,
        "the observation's own bucket"
    );
    assert_eq!(e.trace.trace_id_hex().as_str(), TRACE);
    assert_eq!(e.value, duration.sum());

    // In OpenMetrics: on the `_total` line and on exactly one `_bucket`
    // line of the duration, nowhere else.
    let text = openmetrics(&registry);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&suffix())).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with(
        "llm_incident_manager_http_requests_total{method=\"GET\",path=\"/items/{id}\",status=\"200\"} 1 # "
    ), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("{}1.0 ", suffix())),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("llm_incident_manager_http_request_duration_seconds_bucket{le=")
            && lines[1].contains(",method=\"GET\",path=\"/items/{id}\"} 1 # "),
        "{}",
        lines[1]
    );
    // Never in the 0.0.4 text.
    let text = common::render(&registry);
    assert!(!text.contains("trace_id"), "{text}");
    common::promtool_check(&text);
}

#[test]
fn python_prometheus_client_reads_the_exemplars() {
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    send(&registry, |l| l, &[("traceparent", &sampled())]);
    let text = openmetrics(&registry);
    let Some(parsed) = incident_metrics_testing::parse_openmetrics(&text) else {
        return;
    };
    let with: Vec<_> = parsed
        .samples
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.exemplar.as_ref()?)))
        .collect();
    assert_eq!(with.len(), 2, "{with:?}");
    assert_eq!(with[0].0, "llm_incident_manager_http_requests_total");
    assert_eq!(
        with[1].0,
        "llm_incident_manager_http_request_duration_seconds_bucket"
    );
    for (_, e) in with {
        assert_eq!(e.labels["trace_id"], TRACE);
        assert_eq!(e.labels["span_id"], SPAN);
        assert!(e.timestamp.is_some_and(|t| t > 1.7e9), "{e:?}");
    }
}

#[test]
fn no_exemplar_without_a_sampled_valid_trace() {
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    let unsampled = format!("00-{TRACE}-{SPAN}-00");
    let upper = format!("00-{}-{SPAN}-01", TRACE.to_uppercase());
    let zero = format!("00-{}-{SPAN}-01", "0".repeat(32));
    for headers in [
        &[][..],
        &[("traceparent", unsampled.as_str())][..],
        &[("traceparent", upper.as_str())][..],
        &[("traceparent", zero.as_str())][..],
        &[("traceparent", "garbage")][..],
    ] {
        send(&registry, |l| l, headers);
    }
    let http = &registry.catalog().http;
    let counter = http.requests.get(&ok_labels()).unwrap();
    assert_eq!(counter.get(), 5);
    assert!(counter.exemplar().is_none());
    let duration = http.request_duration.get(&route()).unwrap();
    assert_eq!(duration.count(), 5);
    assert!(duration.exemplars().iter().all(Option::is_none));
    assert!(!openmetrics(&registry).contains("trace_id"));
}

#[test]
fn exemplars_off_ignores_the_header() {
    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    send(&registry, |l| l, &[("traceparent", &sampled())]);
    let http = &registry.catalog().http;
    let counter = http.requests.get(&ok_labels()).unwrap();
    assert_eq!(counter.get(), 1);
    assert!(counter.exemplar().is_none());
    assert!(
        http.request_duration
            .get(&route())
            .unwrap()
            .exemplars()
            .iter()
            .all(Option::is_none)
    );
    assert!(!openmetrics(&registry).contains("trace_id"));
}

/// A source of the user's own: the trace from another header.
#[derive(Debug)]
struct EdgeTrace;

impl ExemplarSource for EdgeTrace {
    fn trace_context(&self, headers: &dyn HeaderLookup) -> Option<TraceContext> {
        TraceContext::from_traceparent(headers.header("x-edge-trace")?)
    }
}

#[test]
fn a_custom_source_replaces_the_traceparent_reader() {
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    send(
        &registry,
        |l| l.with_exemplar_source(EdgeTrace),
        &[("traceparent", &sampled())],
    );
    let counter = registry.catalog().http.requests.get(&ok_labels()).unwrap();
    assert!(counter.exemplar().is_none(), "traceparent is not read");
    let other = format!("00-{}-{SPAN}-00", "ab".repeat(16));
    send(
        &registry,
        |l| l.with_exemplar_source(EdgeTrace),
        &[("x-edge-trace", &other)],
    );
    let e = counter.exemplar().expect("the source's trace");
    assert_eq!(e.trace.trace_id_hex().as_str(), "ab".repeat(16));
}
