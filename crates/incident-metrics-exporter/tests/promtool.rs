//! What real parsers make of our output: `promtool check metrics` on the
//! Prometheus 0.0.4 render, and the Python `prometheus_client` OpenMetrics
//! parser on the OpenMetrics render, for a registry holding every metric
//! type.
//!
//! When a tool is missing the check is skipped with a notice, except under
//! `CI=true`, where it fails (see the `incident-metrics-testing` crate).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::AtomicU64;

use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::prometheus_client::metrics::info::Info;
use incident_metrics_core::{
    ComputedGauge, Histogram, HistogramBuilder, MetricKind, Registry, Unit,
};
use incident_metrics_exporter::{Format, render};
use support::{registry, spec};

type Labels = Vec<(String, String)>;

const ODD_PATH: &str = "/a \"quoted\" \\ path\nü🦀";
const ODD_MODEL: &str = "gpt-\"4\"";
/// Help text with characters the registry accepts beyond plain words.
const QUEUE_HELP: &str = "Jobs waiting in the 'main' queue (C: drive), per worker; ü";

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every metric type, with samples: labelled and not, escaped label values,
/// histograms, an f64 counter, a computed gauge, empty families, an info
/// metric and global labels.
fn full_registry() -> Registry {
    let mut r = registry(&[("env", "ci")]);

    let jobs = Counter::<u64>::default();
    r.register(
        &spec("jobs", "Jobs run", MetricKind::Counter, None, &[]),
        jobs.clone(),
    )
    .unwrap();
    jobs.inc_by(3);

    let cost = Counter::<f64, AtomicU64>::default();
    r.register(
        &spec(
            "cost",
            "Money spent",
            MetricKind::Counter,
            Some(Unit::Other("usd")),
            &[],
        ),
        cost.clone(),
    )
    .unwrap();
    cost.inc_by(1.25);

    let queue = Gauge::<i64>::default();
    r.register(
        &spec("queue", QUEUE_HELP, MetricKind::Gauge, None, &[]),
        queue.clone(),
    )
    .unwrap();
    queue.set(-2);

    let requests = Family::<Labels, Counter>::default();
    r.register(
        &spec(
            "requests",
            "Requests served",
            MetricKind::Counter,
            None,
            &["method", "path"],
        ),
        requests.clone(),
    )
    .unwrap();
    requests
        .get_or_create(&labels(&[("method", "GET"), ("path", ODD_PATH)]))
        .inc_by(7);
    requests
        .get_or_create(&labels(&[("method", "POST"), ("path", "/")]))
        .inc();

    let latency = r
        .register_histogram(
            &spec(
                "latency",
                "Time spent serving",
                MetricKind::Histogram,
                Some(Unit::Seconds),
                &[],
            ),
            &[0.1, 1.0],
            |bounds| Histogram::new("latency_seconds", bounds),
        )
        .unwrap();
    for value in [0.05, 0.5, 2.0] {
        latency.observe(value);
    }

    let llm = r
        .register_histogram(
            &spec(
                "llm_duration",
                "LLM call time",
                MetricKind::Histogram,
                Some(Unit::Seconds),
                &["model"],
            ),
            &[1.0],
            |bounds| {
                HistogramBuilder::new("llm_duration_seconds", bounds)
                    .map(Family::<Labels, Histogram, HistogramBuilder>::new_with_constructor)
            },
        )
        .unwrap();
    llm.get_or_create(&labels(&[("model", ODD_MODEL)]))
        .observe(0.5);

    r.register(
        &spec(
            "uptime",
            "Time since start",
            MetricKind::Gauge,
            Some(Unit::Seconds),
            &[],
        ),
        ComputedGauge::new(|| 12.5),
    )
    .unwrap();

    r.register(
        &spec(
            "errors",
            "Errors seen",
            MetricKind::Counter,
            None,
            &["kind"],
        ),
        Family::<Labels, Counter>::default(),
    )
    .unwrap();
    r.register_histogram(
        &spec(
            "wait",
            "Time spent waiting",
            MetricKind::Histogram,
            Some(Unit::Seconds),
            &["queue"],
        ),
        &[1.0],
        |bounds| {
            HistogramBuilder::new("wait_seconds", bounds)
                .map(Family::<Labels, Histogram, HistogramBuilder>::new_with_constructor)
        },
    )
    .unwrap();

    r.register(
        &spec(
            "build",
            "Build details",
            MetricKind::Info,
            None,
            &["version"],
        ),
        Info::new(labels(&[("version", "1.0.0")])),
    )
    .unwrap();
    r
}

#[test]
fn promtool_accepts_the_prometheus_text() {
    let text = render(&full_registry(), Format::Prometheus).unwrap();
    incident_metrics_testing::promtool_check_metrics(&text);
}

/// Escapes a label value as the exposition formats do.
fn esc(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

#[test]
fn python_openmetrics_parser_reads_back_what_was_recorded() {
    let text = render(&full_registry(), Format::OpenMetrics).unwrap();
    let Some(parsed) = incident_metrics_testing::parse_openmetrics(&text) else {
        return;
    };
    let families: Vec<String> = parsed
        .families
        .iter()
        .map(|f| format!("{} {} {}", f.name, f.kind, f.unit))
        .collect();
    let helps: Vec<String> = parsed.families.iter().map(|f| esc(&f.help)).collect();
    let mut samples: Vec<(String, f64)> = parsed
        .samples
        .iter()
        .map(|s| {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
                .collect();
            (format!("{}{{{}}}", s.name, labels.join(",")), s.value)
        })
        .collect();

    assert_eq!(
        families,
        [
            "svc_jobs counter ",
            "svc_cost_usd counter usd",
            "svc_queue gauge ",
            "svc_requests counter ",
            "svc_latency_seconds histogram seconds",
            "svc_llm_duration_seconds histogram seconds",
            "svc_uptime_seconds gauge seconds",
            "svc_errors counter ",
            "svc_wait_seconds histogram seconds",
            "svc_build info ",
        ]
    );

    // The help text came through the escaping intact.
    assert_eq!(helps[2], esc(&format!("{QUEUE_HELP}.")));
    assert_eq!(helps[0], "Jobs run.");

    let path = esc(ODD_PATH);
    let model = esc(ODD_MODEL);
    let mut expected = vec![
        ("svc_jobs_total{env=\"ci\"}".to_owned(), 3.0),
        ("svc_cost_usd_total{env=\"ci\"}".to_owned(), 1.25),
        ("svc_queue{env=\"ci\"}".to_owned(), -2.0),
        (
            format!("svc_requests_total{{env=\"ci\",method=\"GET\",path=\"{path}\"}}"),
            7.0,
        ),
        (
            "svc_requests_total{env=\"ci\",method=\"POST\",path=\"/\"}".to_owned(),
            1.0,
        ),
        (
            "svc_latency_seconds_sum{env=\"ci\"}".to_owned(),
            0.05 + 0.5 + 2.0,
        ),
        ("svc_latency_seconds_count{env=\"ci\"}".to_owned(), 3.0),
        (
            "svc_latency_seconds_bucket{env=\"ci\",le=\"0.1\"}".to_owned(),
            1.0,
        ),
        (
            "svc_latency_seconds_bucket{env=\"ci\",le=\"1.0\"}".to_owned(),
            2.0,
        ),
        (
            "svc_latency_seconds_bucket{env=\"ci\",le=\"+Inf\"}".to_owned(),
            3.0,
        ),
        (
            format!("svc_llm_duration_seconds_sum{{env=\"ci\",model=\"{model}\"}}"),
            0.5,
        ),
        (
            format!("svc_llm_duration_seconds_count{{env=\"ci\",model=\"{model}\"}}"),
            1.0,
        ),
        (
            format!("svc_llm_duration_seconds_bucket{{env=\"ci\",le=\"1.0\",model=\"{model}\"}}"),
            1.0,
        ),
        (
            format!("svc_llm_duration_seconds_bucket{{env=\"ci\",le=\"+Inf\",model=\"{model}\"}}"),
            1.0,
        ),
        ("svc_uptime_seconds{env=\"ci\"}".to_owned(), 12.5),
        (
            "svc_build_info{env=\"ci\",version=\"1.0.0\"}".to_owned(),
            1.0,
        ),
    ];
    // A family iterates its series in no fixed order.
    let by_name = |a: &(String, f64), b: &(String, f64)| a.0.cmp(&b.0);
    expected.sort_by(by_name);
    samples.sort_by(by_name);
    assert_eq!(samples, expected, "parsed from:\n{text}");
}
