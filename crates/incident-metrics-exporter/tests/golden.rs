//! Golden text: every metric type, rendered in both formats, compared
//! exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::AtomicU64;

use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::exemplar::CounterWithExemplar;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ComputedGauge, Histogram, MetricKind, Registry, Unit};
use incident_metrics_exporter::{Format, render, render_text};
use support::{registry, spec};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[track_caller]
fn assert_golden(registry: &Registry, openmetrics: &str, prometheus: &str) {
    assert_eq!(render(registry, Format::OpenMetrics).unwrap(), openmetrics);
    assert_eq!(render(registry, Format::Prometheus).unwrap(), prometheus);
    assert_eq!(render_text(registry).unwrap(), prometheus);
}

#[test]
fn counters_u64_and_f64() {
    let mut r = registry(&[]);
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
    cost.inc_by(0.25);
    cost.inc_by(1.0);

    assert_golden(
        &r,
        "# HELP svc_jobs Jobs run.\n\
         # TYPE svc_jobs counter\n\
         svc_jobs_total 3\n\
         # HELP svc_cost_usd Money spent.\n\
         # TYPE svc_cost_usd counter\n\
         # UNIT svc_cost_usd usd\n\
         svc_cost_usd_total 1.25\n\
         # EOF\n",
        "# HELP svc_jobs_total Jobs run.\n\
         # TYPE svc_jobs_total counter\n\
         svc_jobs_total 3\n\
         # HELP svc_cost_usd_total Money spent.\n\
         # TYPE svc_cost_usd_total counter\n\
         svc_cost_usd_total 1.25\n",
    );
}

#[test]
fn gauges() {
    let mut r = registry(&[]);
    let queue = Gauge::<i64>::default();
    r.register(
        &spec("queue", "Jobs waiting", MetricKind::Gauge, None, &[]),
        queue.clone(),
    )
    .unwrap();
    queue.set(-2);
    let ratio = Gauge::<f64, AtomicU64>::default();
    r.register(
        &spec(
            "load",
            "Share of capacity in use",
            MetricKind::Gauge,
            Some(Unit::Ratios),
            &[],
        ),
        ratio.clone(),
    )
    .unwrap();
    ratio.set(0.5);

    assert_golden(
        &r,
        "# HELP svc_queue Jobs waiting.\n\
         # TYPE svc_queue gauge\n\
         svc_queue -2\n\
         # HELP svc_load_ratios Share of capacity in use.\n\
         # TYPE svc_load_ratios gauge\n\
         # UNIT svc_load_ratios ratios\n\
         svc_load_ratios 0.5\n\
         # EOF\n",
        "# HELP svc_queue Jobs waiting.\n\
         # TYPE svc_queue gauge\n\
         svc_queue -2\n\
         # HELP svc_load_ratios Share of capacity in use.\n\
         # TYPE svc_load_ratios gauge\n\
         svc_load_ratios 0.5\n",
    );
}

#[test]
fn labelled_family_of_counters() {
    let mut r = registry(&[]);
    let requests = Family::<Labels, Counter>::default();
    r.register(
        &spec(
            "requests",
            "Requests served",
            MetricKind::Counter,
            None,
            &["method", "status"],
        ),
        requests.clone(),
    )
    .unwrap();
    requests
        .get_or_create(&labels(&[("method", "GET"), ("status", "200")]))
        .inc_by(7);

    assert_golden(
        &r,
        "# HELP svc_requests Requests served.\n\
         # TYPE svc_requests counter\n\
         svc_requests_total{method=\"GET\",status=\"200\"} 7\n\
         # EOF\n",
        "# HELP svc_requests_total Requests served.\n\
         # TYPE svc_requests_total counter\n\
         svc_requests_total{method=\"GET\",status=\"200\"} 7\n",
    );
}

#[test]
fn core_histogram() {
    let mut r = registry(&[]);
    let latency = r
        .register_histogram(
            &spec(
                "latency",
                "Time spent serving",
                MetricKind::Histogram,
                Some(Unit::Seconds),
                &[],
            ),
            &[0.1, 1.0, 2.5],
            |bounds| Histogram::new("latency_seconds", bounds),
        )
        .unwrap();
    for value in [0.05, 0.1, 0.5, 3.0] {
        latency.observe(value);
    }

    assert_golden(
        &r,
        "# HELP svc_latency_seconds Time spent serving.\n\
         # TYPE svc_latency_seconds histogram\n\
         # UNIT svc_latency_seconds seconds\n\
         svc_latency_seconds_sum 3.65\n\
         svc_latency_seconds_count 4\n\
         svc_latency_seconds_bucket{le=\"0.1\"} 2\n\
         svc_latency_seconds_bucket{le=\"1.0\"} 3\n\
         svc_latency_seconds_bucket{le=\"2.5\"} 3\n\
         svc_latency_seconds_bucket{le=\"+Inf\"} 4\n\
         # EOF\n",
        "# HELP svc_latency_seconds Time spent serving.\n\
         # TYPE svc_latency_seconds histogram\n\
         svc_latency_seconds_bucket{le=\"0.1\"} 2\n\
         svc_latency_seconds_bucket{le=\"1\"} 3\n\
         svc_latency_seconds_bucket{le=\"2.5\"} 3\n\
         svc_latency_seconds_bucket{le=\"+Inf\"} 4\n\
         svc_latency_seconds_sum 3.65\n\
         svc_latency_seconds_count 4\n",
    );
}

#[test]
fn computed_gauge() {
    let mut r = registry(&[]);
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

    assert_golden(
        &r,
        "# HELP svc_uptime_seconds Time since start.\n\
         # TYPE svc_uptime_seconds gauge\n\
         # UNIT svc_uptime_seconds seconds\n\
         svc_uptime_seconds 12.5\n\
         # EOF\n",
        "# HELP svc_uptime_seconds Time since start.\n\
         # TYPE svc_uptime_seconds gauge\n\
         svc_uptime_seconds 12.5\n",
    );
}

#[test]
fn empty_labelled_families_are_announced() {
    let mut r = registry(&[]);
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
    r.register(
        &spec(
            "streams",
            "Open streams",
            MetricKind::Gauge,
            None,
            &["service"],
        ),
        Family::<Labels, Gauge>::default(),
    )
    .unwrap();

    assert_golden(
        &r,
        "# HELP svc_errors Errors seen.\n\
         # TYPE svc_errors counter\n\
         # HELP svc_streams Open streams.\n\
         # TYPE svc_streams gauge\n\
         # EOF\n",
        "# HELP svc_errors_total Errors seen.\n\
         # TYPE svc_errors_total counter\n\
         # HELP svc_streams Open streams.\n\
         # TYPE svc_streams gauge\n",
    );
}

#[test]
fn unit_is_announced_in_openmetrics_only() {
    let mut r = registry(&[]);
    let size = Gauge::<i64>::default();
    r.register(
        &spec(
            "storage_size",
            "Bytes stored",
            MetricKind::Gauge,
            Some(Unit::Bytes),
            &[],
        ),
        size.clone(),
    )
    .unwrap();
    size.set(1024);

    let openmetrics = render(&r, Format::OpenMetrics).unwrap();
    let prometheus = render(&r, Format::Prometheus).unwrap();
    assert!(openmetrics.contains("# UNIT svc_storage_size_bytes bytes\n"));
    assert!(!prometheus.contains("# UNIT"));
    assert_golden(
        &r,
        "# HELP svc_storage_size_bytes Bytes stored.\n\
         # TYPE svc_storage_size_bytes gauge\n\
         # UNIT svc_storage_size_bytes bytes\n\
         svc_storage_size_bytes 1024\n\
         # EOF\n",
        "# HELP svc_storage_size_bytes Bytes stored.\n\
         # TYPE svc_storage_size_bytes gauge\n\
         svc_storage_size_bytes 1024\n",
    );
}

#[test]
fn global_labels_come_first_on_every_sample() {
    let mut r = registry(&[("env", "prod"), ("region", "eu")]);
    let requests = Family::<Labels, Counter>::default();
    r.register(
        &spec(
            "requests",
            "Requests served",
            MetricKind::Counter,
            None,
            &["method"],
        ),
        requests.clone(),
    )
    .unwrap();
    requests.get_or_create(&labels(&[("method", "POST")])).inc();
    let latency = r
        .register_histogram(
            &spec(
                "latency",
                "Time spent serving",
                MetricKind::Histogram,
                Some(Unit::Seconds),
                &[],
            ),
            &[1.0],
            |bounds| Histogram::new("latency_seconds", bounds),
        )
        .unwrap();
    latency.observe(0.5);

    assert_golden(
        &r,
        "# HELP svc_requests Requests served.\n\
         # TYPE svc_requests counter\n\
         svc_requests_total{env=\"prod\",region=\"eu\",method=\"POST\"} 1\n\
         # HELP svc_latency_seconds Time spent serving.\n\
         # TYPE svc_latency_seconds histogram\n\
         # UNIT svc_latency_seconds seconds\n\
         svc_latency_seconds_sum{env=\"prod\",region=\"eu\"} 0.5\n\
         svc_latency_seconds_count{env=\"prod\",region=\"eu\"} 1\n\
         svc_latency_seconds_bucket{env=\"prod\",region=\"eu\",le=\"1.0\"} 1\n\
         svc_latency_seconds_bucket{env=\"prod\",region=\"eu\",le=\"+Inf\"} 1\n\
         # EOF\n",
        "# HELP svc_requests_total Requests served.\n\
         # TYPE svc_requests_total counter\n\
         svc_requests_total{env=\"prod\",region=\"eu\",method=\"POST\"} 1\n\
         # HELP svc_latency_seconds Time spent serving.\n\
         # TYPE svc_latency_seconds histogram\n\
         svc_latency_seconds_bucket{env=\"prod\",region=\"eu\",le=\"1\"} 1\n\
         svc_latency_seconds_bucket{env=\"prod\",region=\"eu\",le=\"+Inf\"} 1\n\
         svc_latency_seconds_sum{env=\"prod\",region=\"eu\"} 0.5\n\
         svc_latency_seconds_count{env=\"prod\",region=\"eu\"} 1\n",
    );
}

/// The 0.0.4 format knows no exemplars and no `# EOF`: prometheus-client's
/// 0.0.4 encoder drops them (and writes no `_created` samples), OpenMetrics
/// keeps the exemplar.
#[test]
fn exemplars_stay_out_of_prometheus_text() {
    let mut r = registry(&[]);
    let calls = CounterWithExemplar::<Labels>::default();
    r.register(
        &spec("calls", "Calls made", MetricKind::Counter, None, &[]),
        calls.clone(),
    )
    .unwrap();
    calls.inc_by(2, Some(labels(&[("trace_id", "abc")])), None);

    assert_golden(
        &r,
        "# HELP svc_calls Calls made.\n\
         # TYPE svc_calls counter\n\
         svc_calls_total 2 # {trace_id=\"abc\"} 2.0\n\
         # EOF\n",
        "# HELP svc_calls_total Calls made.\n\
         # TYPE svc_calls_total counter\n\
         svc_calls_total 2\n",
    );
}
