//! A million distinct values through every free-string label, and the
//! series count and the memory stay bounded (issue 10, point 1).
//!
//! Each label gets its own registry, so that every expectation is exact:
//! LLM model and provider (the LLM tracker), playbook name, notification
//! channel and error type (trackers), gRPC method (the gRPC layer on a
//! tower `service_fn` stack, and the interceptor's guard API) and the HTTP
//! path (the HTTP layer on a tower `service_fn` stack, with a classifier
//! that returns the raw path).
//!
//! For each, with every family limited to [`LIMIT`] series:
//!
//! - every family the value reaches holds exactly `min(sets, LIMIT)`
//!   series plus one overflow series, where `sets` is the number of label
//!   sets it was asked for (the label limiters, where there are any, fold
//!   the values first);
//! - `metrics_cardinality_overflow_total{family}` equals `sets - LIMIT`;
//! - the heap retained by the last 900,000 values (counted by
//!   `allocation-counter`'s global allocator, on this thread, where all
//!   the recording happens) is under [`MARGINAL_BOUND`] bytes, and the
//!   heap retained by all million under [`TOTAL_BOUND`]: memory per folded
//!   value is nil.
//!
//! RSS from `/proc/self/statm` is printed before and after for
//! information. Run with `-- --nocapture` to see the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http_body::Body;
use http_body_util::Full;
use incident_metrics::Metrics;
use incident_metrics::grpc::{
    GrpcMetricsLayer, GrpcRequestMetrics, RequestBody as GrpcRequestBody,
};
use incident_metrics::http::{HttpMetricsLayer, PathClassifier, RequestBody};
use incident_metrics::trackers::{TrackerConfig, Trackers};
use incident_metrics::{MetricsConfig, Registry};
use tower::{Layer, Service, ServiceExt};

/// Values fed through each label.
const VALUES: usize = 1_000_000;
/// Values fed before the first memory reading.
const WARM: usize = 100_000;
/// The series limit of every family here.
const LIMIT: usize = 100;
/// Distinct values each tracker label admits before its limiter folds.
const LABEL_VALUES: usize = 256;
/// The most heap the last 900,000 values may retain: a few stray
/// allocations of the maps' own bookkeeping, nothing per value.
const MARGINAL_BOUND: i64 = 16 * 1024;
/// The most heap a whole run may retain: the series of the families (at
/// most `LIMIT + 1` each, a histogram series some 300 bytes), the limiters'
/// and caches' tables, and slack.
const TOTAL_BOUND: i64 = 4 * 1024 * 1024;

const PREFIX: &str = "llm_incident_manager_";

fn config() -> MetricsConfig {
    MetricsConfig::new().with_cardinality_limit(LIMIT)
}

fn tracker_config() -> TrackerConfig {
    let mut config = TrackerConfig::default();
    config.max_providers = 128;
    config.max_models = LABEL_VALUES;
    config.max_playbooks = LABEL_VALUES;
    config.max_channels = LABEL_VALUES;
    config.max_error_types = LABEL_VALUES;
    config
}

fn render(registry: &Registry) -> String {
    incident_metrics::exporter::render_text(registry).unwrap()
}

/// Resident set size in bytes, from `/proc/self/statm` (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Feeds `value(i)` for `i` in `0..VALUES` to `feed`, and returns the heap
/// retained by the first [`WARM`] values and by the rest.
fn run(label: &str, mut feed: impl FnMut(&str)) -> (i64, i64) {
    let started = Instant::now();
    let rss_before = rss();
    let mut buf = String::with_capacity(64);
    let mut range = |from: usize, to: usize| {
        allocation_counter::measure(|| {
            for i in from..to {
                buf.clear();
                write!(buf, "{label}{i}").unwrap();
                feed(&buf);
            }
        })
        .bytes_current
    };
    let warm = range(0, WARM);
    let rest = range(WARM, VALUES);
    let total = warm + rest;
    println!(
        "{label}: {VALUES} values in {:.1?}; heap retained: {warm} B by the first {WARM}, \
         {rest} B by the other {} ({:.4} B per value); RSS {} KiB -> {} KiB",
        started.elapsed(),
        VALUES - WARM,
        rest as f64 / (VALUES - WARM) as f64,
        rss_before / 1024,
        rss() / 1024,
    );
    assert!(
        rest < MARGINAL_BOUND,
        "{label}: the last values retained {rest} B"
    );
    assert!(total < TOTAL_BOUND, "{label}: the run retained {total} B");
    (warm, rest)
}

/// Asserts that `family` (named as in its overflow counter) holds
/// `min(sets, LIMIT)` series plus one overflow series, and counted
/// `sets - LIMIT` folds. `sample` is the sample name whose lines count the
/// series (`_total`, `_count` or the gauge itself).
fn assert_bounded(text: &str, family: &str, sample: &str, sets: usize) {
    let prefix = format!("{PREFIX}{sample}{{");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    let folded = sets.saturating_sub(LIMIT);
    let expected = sets.min(LIMIT) + usize::from(folded > 0);
    assert_eq!(lines.len(), expected, "{family}: series of {sample}");
    let overflow = lines
        .iter()
        .filter(|l| {
            let labels = &l[prefix.len()..l.rfind('}').unwrap()];
            labels
                .split(',')
                .all(|kv| kv.ends_with("=\"other\"") || kv.starts_with("le="))
        })
        .count();
    assert_eq!(
        overflow,
        usize::from(folded > 0),
        "{family}: overflow series"
    );
    let counter =
        format!("{PREFIX}metrics_cardinality_overflow_total{{family=\"{family}\"}} {folded}\n");
    assert!(text.contains(&counter), "{family}: no {counter:?}");
}

fn trackers(metrics: &Metrics) -> Trackers {
    Trackers::new(metrics.catalog(), &tracker_config()).unwrap()
}

/// The families one LLM call reaches, with the label sets per (provider,
/// model) pair: one per token type for the token families.
fn assert_llm(text: &str, pairs: usize) {
    assert_bounded(text, "llm_requests", "llm_requests_total", pairs);
    assert_bounded(
        text,
        "llm_request_duration_seconds",
        "llm_request_duration_seconds_count",
        pairs,
    );
    assert_bounded(text, "llm_tokens", "llm_tokens_total", 2 * pairs);
    assert_bounded(
        text,
        "llm_request_tokens",
        "llm_request_tokens_count",
        2 * pairs,
    );
    assert_bounded(text, "llm_cost_usd", "llm_cost_usd_total", pairs);
}

#[test]
fn a_million_llm_models() {
    let metrics = Metrics::new(config()).unwrap();
    let trackers = trackers(&metrics);
    run("model", |model| {
        trackers.llm.start("openai", model, "chat").success(10, 5);
    });
    let text = render(metrics.registry());
    // The limiter admits LABEL_VALUES models, then `other`.
    assert_llm(&text, LABEL_VALUES + 1);
    assert_eq!(
        trackers.llm.model_limiter().folded(),
        (VALUES - LABEL_VALUES) as u64
    );
}

#[test]
fn a_million_llm_providers() {
    let metrics = Metrics::new(config()).unwrap();
    let trackers = trackers(&metrics);
    run("provider", |provider| {
        trackers
            .llm
            .start(provider, "gpt-4o", "chat")
            .success(10, 5);
    });
    let text = render(metrics.registry());
    assert_llm(&text, 128 + 1);
    assert_eq!(
        trackers.llm.provider_limiter().folded(),
        (VALUES - 128) as u64
    );
}

#[test]
fn a_million_playbooks() {
    let metrics = Metrics::new(config()).unwrap();
    let trackers = trackers(&metrics);
    run("playbook", |playbook| {
        trackers.playbooks.start(playbook).success()
    });
    let text = render(metrics.registry());
    // One series per status (4) for each admitted name and `other`.
    assert_bounded(
        &text,
        "playbook_executions",
        "playbook_executions_total",
        4 * (LABEL_VALUES + 1),
    );
    assert_bounded(
        &text,
        "playbook_execution_duration_seconds",
        "playbook_execution_duration_seconds_count",
        LABEL_VALUES + 1,
    );
}

#[test]
fn a_million_notification_channels() {
    let metrics = Metrics::new(config()).unwrap();
    let trackers = trackers(&metrics);
    run("channel", |channel| {
        trackers.notifications.start(channel).sent()
    });
    let text = render(metrics.registry());
    assert_bounded(
        &text,
        "notifications",
        "notifications_total",
        4 * (LABEL_VALUES + 1),
    );
    assert_bounded(
        &text,
        "notification_delivery_duration_seconds",
        "notification_delivery_duration_seconds_count",
        LABEL_VALUES + 1,
    );
    assert_bounded(
        &text,
        "notification_queue_size",
        "notification_queue_size",
        LABEL_VALUES + 1,
    );
}

#[test]
fn a_million_error_types() {
    let metrics = Metrics::new(config()).unwrap();
    let trackers = trackers(&metrics);
    run("error", |error_type| {
        trackers.errors.record("api", error_type)
    });
    let text = render(metrics.registry());
    assert_bounded(&text, "errors", "errors_total", LABEL_VALUES + 1);
}

fn assert_grpc(text: &str) {
    // The method table labels as many methods as the families' limit, then
    // `other`/`other` (one more label set).
    let sets = LIMIT + 1;
    assert_bounded(text, "grpc_requests", "grpc_requests_total", sets);
    assert_bounded(
        text,
        "grpc_requests_started",
        "grpc_requests_started_total",
        sets,
    );
    assert_bounded(
        text,
        "grpc_request_duration_seconds",
        "grpc_request_duration_seconds_count",
        sets,
    );
    assert_bounded(text, "grpc_streams_active", "grpc_streams_active", sets);
    assert_bounded(
        text,
        "grpc_messages_received",
        "grpc_messages_received_total",
        sets,
    );
    assert_bounded(text, "grpc_messages_sent", "grpc_messages_sent_total", sets);
    let ok = format!(
        "{PREFIX}grpc_requests_total{{service=\"other\",method=\"other\",status=\"other\"}} "
    );
    let folded: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&ok))
        .unwrap()
        .parse()
        .unwrap();
    // Every call past the first LIMIT methods lands in the overflow series,
    // and each is counted in the one fold counter.
    assert_eq!(folded, (VALUES - LIMIT) as u64);
    assert_folded(text, "grpc_method", VALUES - LIMIT);
}

/// `label_values_folded_total{label}` reads `n`.
fn assert_folded(text: &str, label: &str, n: usize) {
    let line = format!("{PREFIX}label_values_folded_total{{label=\"{label}\"}} {n}\n");
    assert!(text.contains(&line), "no {line:?}");
}

#[test]
fn a_million_grpc_methods_through_the_layer() {
    let metrics = Metrics::new(config()).unwrap();
    let layer = GrpcMetricsLayer::server(metrics.catalog());
    let mut service = layer.layer(tower::service_fn(
        |_req: http::Request<GrpcRequestBody<Full<Bytes>>>| async {
            // A trailers-only answer: the status is in the headers.
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "0")
                .body(Full::new(Bytes::new()))
                .unwrap();
            Ok::<_, Infallible>(response)
        },
    ));
    run("Method", |method| {
        let mut uri = String::with_capacity(64);
        uri.push_str("/pkg.Service/");
        uri.push_str(method);
        let request = http::Request::post(uri)
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = block_on(async {
            let ready = service.ready().await.unwrap();
            ready.call(request).await.unwrap()
        });
        drain(response.into_body());
    });
    assert_grpc(&render(metrics.registry()));
}

#[test]
fn a_million_grpc_methods_through_the_guard_api() {
    let metrics = Metrics::new(config()).unwrap();
    let grpc = GrpcRequestMetrics::server(metrics.catalog());
    run("Method", |method| {
        grpc.start_request("pkg.Service", method).success();
    });
    assert_grpc(&render(metrics.registry()));
}

/// A classifier that returns the request's path as its template: the text
/// of every path the test sends, owned by the classifier (a classifier
/// returns text it owns), allocated before any measurement.
struct RawPaths {
    text: String,
    ends: Vec<usize>,
}

impl RawPaths {
    fn new(n: usize) -> Self {
        let mut text = String::with_capacity(n * 16);
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            write!(text, "/path{i}").unwrap();
            ends.push(text.len());
        }
        Self { text, ends }
    }
}

impl PathClassifier for RawPaths {
    fn classify(
        &self,
        _method: &http::Method,
        uri: &http::Uri,
        _extensions: &http::Extensions,
    ) -> Option<&str> {
        let i: usize = uri.path().strip_prefix("/path")?.parse().ok()?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let raw = &self.text[start..self.ends[i]];
        (raw == uri.path()).then_some(raw)
    }
}

/// Polls a future on this thread until it is ready; nothing here waits.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn drain<B: Body + Unpin>(mut body: B) {
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        assert!(frame.is_ok());
    }
}

#[test]
fn a_million_http_paths_through_a_raw_path_classifier() {
    let metrics = Metrics::new(config()).unwrap();
    let layer =
        HttpMetricsLayer::new(metrics.catalog()).with_path_classifier(RawPaths::new(VALUES));
    let mut service = layer.layer(tower::service_fn(
        |_req: http::Request<RequestBody<Full<Bytes>>>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        },
    ));
    run("/path", |path| {
        let request = http::Request::get(path)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = block_on(async {
            let ready = service.ready().await.unwrap();
            ready.call(request).await.unwrap()
        });
        drain(response.into_body());
    });
    let text = render(metrics.registry());
    // Every path is new: the route table admits the first LIMIT, then
    // folds every later one into `other` (one more label set per family),
    // counting each request folded.
    let sets = LIMIT + 1;
    assert_bounded(&text, "http_requests", "http_requests_total", sets);
    for family in [
        "http_request_duration_seconds",
        "http_request_size_bytes",
        "http_response_size_bytes",
    ] {
        assert_bounded(&text, family, &format!("{family}_count"), sets);
    }
    assert_folded(&text, "http_route", VALUES - LIMIT);
}
