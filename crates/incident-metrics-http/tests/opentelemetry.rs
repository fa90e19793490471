//! `OpenTelemetrySource` (feature `opentelemetry`): inside a sampled span of
//! a `tracing-opentelemetry` layer over an OpenTelemetry SDK tracer, it
//! returns that span's trace id and span id; outside a span, without the
//! layer, or with a sampler that drops the trace, `None`; and a request
//! handled inside such a span carries its exemplar.
#![cfg(feature = "opentelemetry")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use incident_metrics_catalog::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus, Method};
use incident_metrics_catalog::test_util::TestMetrics;
use incident_metrics_core::{ExemplarSource, MetricsConfig, SharedStr, TraceContext};
use incident_metrics_http::{HttpMetricsLayer, OpenTelemetrySource, RequestBody, RouteTemplates};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tower::{Layer, ServiceExt};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// A subscriber with a `tracing-opentelemetry` layer over an SDK tracer
/// that samples with `sampler` (no exporter: spans are only sampled).
fn subscriber(sampler: Sampler) -> (impl tracing::Subscriber + Send + Sync, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let tracer = provider.tracer("incident-metrics-http-test");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    (subscriber, provider)
}

/// The trace context the OpenTelemetry layer gave `span`.
fn otel_ids(span: &tracing::Span) -> ([u8; 16], [u8; 8], bool) {
    let context = span.context();
    let otel = context.span();
    let sc = otel.span_context();
    (
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.is_sampled(),
    )
}

fn no_headers() -> &'static [(&'static str, &'static str)] {
    &[]
}

#[test]
fn a_sampled_span_gives_its_trace_and_span_id() {
    let (subscriber, _provider) = subscriber(Sampler::AlwaysOn);
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(OpenTelemetrySource::current(), None, "outside a span");

        let outer = tracing::info_span!("request");
        let _outer = outer.enter();
        let (trace_id, span_id, sampled) = otel_ids(&outer);
        assert!(sampled);
        let found = OpenTelemetrySource
            .trace_context(&no_headers())
            .expect("the span's trace");
        assert_eq!(found, TraceContext::new(trace_id, span_id, true).unwrap());

        // A child span: the same trace, its own span id.
        let inner = tracing::info_span!("llm_call");
        let _inner = inner.enter();
        let (child_trace, child_span, _) = otel_ids(&inner);
        assert_eq!(child_trace, trace_id);
        assert_ne!(child_span, span_id);
        let found = OpenTelemetrySource::current().expect("the child's trace");
        assert_eq!((found.trace_id(), found.span_id()), (trace_id, child_span));
    });
}

#[test]
fn no_trace_outside_a_span_unsampled_or_without_the_layer() {
    // The sampler drops every trace: the span exists, unsampled.
    let (subscriber, _provider) = subscriber(Sampler::AlwaysOff);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let (trace_id, _, sampled) = otel_ids(&span);
        assert!(!sampled && trace_id != [0; 16], "a real, unsampled trace");
        assert_eq!(OpenTelemetrySource::current(), None);
        assert_eq!(OpenTelemetrySource.trace_context(&no_headers()), None);
    });
    // A subscriber without the OpenTelemetry layer.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        assert_eq!(OpenTelemetrySource::current(), None);
    });
    // No subscriber at all.
    let span = tracing::info_span!("request");
    let _entered = span.enter();
    assert_eq!(OpenTelemetrySource::current(), None);
    // A traceparent header is not what this source reads.
    let headers: &[(&str, &str)] = &[(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];
    assert_eq!(OpenTelemetrySource.trace_context(&headers), None);
}

/// Sends one `GET /items/7` through a layer with `OpenTelemetrySource`,
/// handled inside a span of `sampler`'s tracer; returns the span's ids.
fn send_in_span(registry: &TestMetrics, sampler: Sampler) -> TraceContext {
    let handler = tower::service_fn(|_req: Request<RequestBody<Full<Bytes>>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let svc = HttpMetricsLayer::new(registry.catalog())
        .with_path_classifier(RouteTemplates::new(["/items/{id}"]))
        .with_exemplar_source(OpenTelemetrySource)
        .layer(handler);
    let request = Request::get("/items/7")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (subscriber, _provider) = subscriber(sampler);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("GET /items/{id}");
        let (trace_id, span_id, sampled) = otel_ids(&span);
        runtime.block_on(
            async {
                let response = svc.oneshot(request).await.unwrap();
                response.into_body().collect().await.unwrap();
            }
            .instrument(span),
        );
        TraceContext::new(trace_id, span_id, sampled).unwrap()
    })
}

fn ok_labels() -> HttpRequestLabels {
    HttpRequestLabels {
        method: Method::Get,
        path: SharedStr::from("/items/{id}"),
        status: HttpStatus::code(200),
    }
}

fn route() -> HttpRouteLabels {
    HttpRouteLabels {
        method: Method::Get,
        path: SharedStr::from("/items/{id}"),
    }
}

#[test]
fn a_request_handled_inside_a_sampled_span_carries_its_exemplar() {
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    let trace = send_in_span(&registry, Sampler::AlwaysOn);
    assert!(trace.is_sampled());
    let http = &registry.catalog().http;

    let counter = http.requests.get(&ok_labels()).unwrap();
    assert_eq!(counter.get(), 1);
    let e = counter.exemplar().expect("the counter's exemplar");
    assert_eq!(e.trace, trace);

    let duration = http.request_duration.get(&route()).unwrap();
    let marked: Vec<_> = duration.exemplars().into_iter().flatten().collect();
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0].trace, trace);
    assert_eq!(marked[0].value, duration.sum());

    let mut text = String::new();
    incident_metrics_core::prometheus_client::encoding::text::encode(
        &mut text,
        registry.registry().as_prometheus(),
    )
    .unwrap();
    let suffix = format!(
        " # {{trace_id=\"{}\",span_id=\"{}\"}} ",
        trace.trace_id_hex(),
        trace.span_id_hex()
    );
    assert_eq!(text.matches(&suffix).count(), 2, "{text}");
}

#[test]
fn a_request_inside_an_unsampled_span_or_with_exemplars_off_carries_none() {
    let registry = TestMetrics::new(&MetricsConfig::new().with_exemplars(true)).unwrap();
    let trace = send_in_span(&registry, Sampler::AlwaysOff);
    assert!(!trace.is_sampled());
    let counter = registry.catalog().http.requests.get(&ok_labels()).unwrap();
    assert_eq!(counter.get(), 1);
    assert!(counter.exemplar().is_none());

    let registry = TestMetrics::new(&MetricsConfig::new()).unwrap();
    send_in_span(&registry, Sampler::AlwaysOn);
    let counter = registry.catalog().http.requests.get(&ok_labels()).unwrap();
    assert_eq!(counter.get(), 1);
    assert!(counter.exemplar().is_none());
}
