//! Scrape encoding of 1,000, 10,000 and 100,000 counter series, in both
//! text formats, plain and gzipped, for our exporter and the anchors' own
//! encoders, in one run. Each benchmark records the size of its output as
//! its throughput, so the report shows bytes beside time.
//!
//! Every library holds the same series: a counter family
//! `http_requests_total{method="GET", path="/api/v1/route/<i>", status="200"}`
//! with each series at 1. prometheus-client encodes both formats itself
//! (`text`, `prometheus_text`); `prometheus` and
//! `metrics-exporter-prometheus` write only Prometheus text 0.0.4. Gzip is
//! the default level everywhere (ours through `encode_response`, the
//! anchors through `flate2`).
//!
//! Run: `cargo bench -p incident-metrics-benches --bench scrape -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates undocumented items; benches may unwrap.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use incident_metrics_catalog::CounterFamily;
use incident_metrics_catalog::http::{HttpRequestLabels, HttpStatus, Method};
use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
use incident_metrics_exporter::{Format, encode_response, render};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

const REQUESTS: FamilySpec = FamilySpec {
    name: "http_requests",
    help: "Total number of HTTP requests",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["method", "path", "status"],
};

fn path(i: usize) -> String {
    format!("/api/v1/route/{i}")
}

fn ours(n: usize) -> Registry {
    let config = MetricsConfig::new()
        .with_namespace("")
        .with_cardinality_limit(n.max(1));
    let mut registry = Registry::new(&config).unwrap();
    let family: CounterFamily<HttpRequestLabels> = registry.register_bounded(&REQUESTS).unwrap();
    for i in 0..n {
        family
            .get_or_create(&HttpRequestLabels {
                method: Method::Get,
                path: path(i).into(),
                status: HttpStatus::code(200),
            })
            .inc();
    }
    registry
}

fn prometheus_client(n: usize) -> prometheus_client::registry::Registry {
    let mut registry = prometheus_client::registry::Registry::default();
    let family = Family::<Vec<(String, String)>, Counter>::default();
    registry.register(
        "http_requests",
        "Total number of HTTP requests",
        family.clone(),
    );
    for i in 0..n {
        family
            .get_or_create(&vec![
                ("method".to_owned(), "GET".to_owned()),
                ("path".to_owned(), path(i)),
                ("status".to_owned(), "200".to_owned()),
            ])
            .inc();
    }
    registry
}

fn prometheus(n: usize) -> prometheus::Registry {
    let registry = prometheus::Registry::new();
    let vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("http_requests_total", "Total number of HTTP requests"),
        &["method", "path", "status"],
    )
    .unwrap();
    registry.register(Box::new(vec.clone())).unwrap();
    for i in 0..n {
        vec.with_label_values(&["GET", &path(i), "200"]).inc();
    }
    registry
}

fn metrics_exporter(n: usize) -> metrics_exporter_prometheus::PrometheusHandle {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("http_requests_total", "Total number of HTTP requests");
        for i in 0..n {
            metrics::counter!(
                "http_requests_total",
                "method" => "GET",
                "path" => path(i),
                "status" => "200"
            )
            .increment(1);
        }
    });
    // The recorder owns the storage the handle reads; keep it alive.
    std::mem::forget(recorder);
    handle
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";
const PROMETHEUS: &str = "text/plain; version=0.0.4";

fn scrape(c: &mut Criterion) {
    for n in [1_000, 10_000, 100_000] {
        let ours = ours(n);
        let pc = prometheus_client(n);
        let prom = prometheus(n);
        let me = metrics_exporter(n);

        let pc_om = || {
            let mut s = String::new();
            prometheus_client::encoding::text::encode(&mut s, &pc).unwrap();
            s
        };
        let pc_prom = || {
            let mut s = String::new();
            prometheus_client::encoding::prometheus_text::encode(&mut s, &pc).unwrap();
            s
        };
        let prom_text = || {
            prometheus::TextEncoder::new()
                .encode_to_string(&prom.gather())
                .unwrap()
        };
        let me_text = || me.render();

        // Every encoder saw all the series.
        for text in [pc_om(), pc_prom(), prom_text(), me_text()] {
            assert_eq!(text.matches("/api/v1/route/").count(), n);
        }

        let mut g = c.benchmark_group(format!("scrape/{n}"));
        g.sampling_mode(SamplingMode::Flat);
        g.warm_up_time(Duration::from_millis(500));
        if n >= 100_000 {
            g.sample_size(10);
            g.measurement_time(Duration::from_secs(3));
        } else if n >= 10_000 {
            g.sample_size(20);
        }
        let bytes = |g: &mut criterion::BenchmarkGroup<'_, _>, len: usize| {
            g.throughput(Throughput::Bytes(len as u64));
        };

        let ours_om = render(&ours, Format::OpenMetrics).unwrap();
        bytes(&mut g, ours_om.len());
        g.bench_function("openmetrics/ours", |b| {
            b.iter(|| render(black_box(&ours), Format::OpenMetrics).unwrap())
        });
        bytes(&mut g, pc_om().len());
        g.bench_function("openmetrics/prometheus_client", |b| b.iter(pc_om));

        bytes(&mut g, render(&ours, Format::Prometheus).unwrap().len());
        g.bench_function("prometheus_text/ours", |b| {
            b.iter(|| render(black_box(&ours), Format::Prometheus).unwrap())
        });
        bytes(&mut g, pc_prom().len());
        g.bench_function("prometheus_text/prometheus_client", |b| b.iter(pc_prom));
        bytes(&mut g, prom_text().len());
        g.bench_function("prometheus_text/prometheus", |b| b.iter(prom_text));
        bytes(&mut g, me_text().len());
        g.bench_function("prometheus_text/metrics_exporter_prometheus", |b| {
            b.iter(me_text)
        });

        let gz = |accept| encode_response(&ours, Some(accept), Some("gzip"));
        bytes(&mut g, gz(OPENMETRICS).body().len());
        g.bench_function("openmetrics_gzip/ours", |b| {
            b.iter(|| gz(black_box(OPENMETRICS)))
        });
        bytes(&mut g, gzip(&pc_om()).len());
        g.bench_function("openmetrics_gzip/prometheus_client", |b| {
            b.iter(|| gzip(&pc_om()))
        });
        bytes(&mut g, gz(PROMETHEUS).body().len());
        g.bench_function("prometheus_text_gzip/ours", |b| {
            b.iter(|| gz(black_box(PROMETHEUS)))
        });
        bytes(&mut g, gzip(&pc_prom()).len());
        g.bench_function("prometheus_text_gzip/prometheus_client", |b| {
            b.iter(|| gzip(&pc_prom()))
        });
        bytes(&mut g, gzip(&prom_text()).len());
        g.bench_function("prometheus_text_gzip/prometheus", |b| {
            b.iter(|| gzip(&prom_text()))
        });
        bytes(&mut g, gzip(&me_text()).len());
        g.bench_function("prometheus_text_gzip/metrics_exporter_prometheus", |b| {
            b.iter(|| gzip(&me_text()))
        });
        g.finish();
    }
}

criterion_group!(benches, scrape);
criterion_main!(benches);
