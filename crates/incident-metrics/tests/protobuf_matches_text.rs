//! The protobuf answer holds what the text answer holds: one registry with
//! every catalog family, rendered as Prometheus text 0.0.4 (read with
//! `incident_metrics_testing::exposition`) and as delimited protobuf
//! (decoded with prost), compared family by family: name, help, type, and
//! every sample with its labels and value. With native histograms on, the
//! protobuf histograms carry native buckets that add up to their counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use incident_metrics::catalog::FAMILIES;
use incident_metrics::catalog::test_util::populate_every_family;
use incident_metrics::exporter::{Format, render, render_bytes};
use incident_metrics::{Metrics, MetricsConfig};
use incident_metrics_core::prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
use incident_metrics_testing::exposition::{Line, parse_line};
use prost::Message;

/// One family as both formats describe it: help, type, and its samples as
/// `name{sorted labels}` -> value (le written as a number, so that `1` and
/// `1.0` compare equal).
#[derive(Debug, PartialEq)]
struct Family {
    help: String,
    kind: String,
    samples: BTreeMap<String, String>,
}

fn key(name: &str, labels: &[(String, String)]) -> String {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| {
            let v = if k == "le" {
                let bound: f64 = if v == "+Inf" {
                    f64::INFINITY
                } else {
                    v.parse().unwrap()
                };
                format!("{bound:?}")
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    labels.sort();
    format!("{name}{labels:?}")
}

fn value(v: f64) -> String {
    format!("{v:?}")
}

fn from_text(text: &str) -> Vec<(String, Family)> {
    let mut families: Vec<(String, Family)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match parse_line(line).unwrap_or_else(|e| panic!("line {number}: {e:?}")) {
            Line::Help { name, text } => families.push((
                name,
                Family {
                    help: text,
                    kind: String::new(),
                    samples: BTreeMap::new(),
                },
            )),
            Line::Type { name, kind } => {
                let (family, f) = families.last_mut().unwrap();
                assert_eq!(*family, name, "# TYPE follows its # HELP");
                f.kind = kind;
            }
            Line::Sample(s) => {
                let (_, f) = families.last_mut().unwrap();
                f.samples.insert(key(&s.name, &s.labels), value(s.value));
            }
            other => panic!("unexpected line in Prometheus text: {other:?}"),
        }
    }
    families
}

fn labels(m: &pb::Metric) -> Vec<(String, String)> {
    m.label
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn from_protobuf(mut body: &[u8]) -> Vec<(String, Family, Vec<pb::Histogram>)> {
    let mut families = Vec::new();
    while !body.is_empty() {
        let family = pb::MetricFamily::decode_length_delimited(&mut body).unwrap();
        let kind = match family.r#type() {
            pb::MetricType::Counter => "counter",
            pb::MetricType::Gauge => "gauge",
            pb::MetricType::Histogram => "histogram",
            pb::MetricType::Summary => "summary",
            other => panic!("{}: unexpected type {other:?}", family.name),
        };
        let mut samples = BTreeMap::new();
        let mut histograms = Vec::new();
        for m in &family.metric {
            let labels = labels(m);
            let name = &family.name;
            if let Some(c) = &m.counter {
                samples.insert(key(name, &labels), value(c.value));
            } else if let Some(g) = &m.gauge {
                samples.insert(key(name, &labels), value(g.value));
            } else if let Some(h) = &m.histogram {
                samples.insert(key(&format!("{name}_sum"), &labels), value(h.sample_sum));
                samples.insert(
                    key(&format!("{name}_count"), &labels),
                    value(h.sample_count as f64),
                );
                for b in &h.bucket {
                    let mut with_le = labels.clone();
                    let le = if b.upper_bound.is_infinite() {
                        "+Inf".to_owned()
                    } else {
                        b.upper_bound.to_string()
                    };
                    with_le.push(("le".to_owned(), le));
                    samples.insert(
                        key(&format!("{name}_bucket"), &with_le),
                        value(b.cumulative_count as f64),
                    );
                }
                histograms.push(h.clone());
            } else {
                panic!("{name}: a metric with no value");
            }
        }
        families.push((
            family.name.clone(),
            Family {
                help: family.help.clone(),
                kind: kind.to_owned(),
                samples,
            },
            histograms,
        ));
    }
    families
}

/// Renders `metrics` both ways and checks them family by family; returns
/// the protobuf histograms.
fn compare(metrics: &Metrics) -> Vec<pb::Histogram> {
    let text = render(metrics.registry(), Format::Prometheus).unwrap();
    let body = render_bytes(metrics.registry(), Format::Protobuf).unwrap();
    let text = from_text(&text);
    let proto = from_protobuf(&body);
    assert_eq!(
        text.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        proto.iter().map(|(n, _, _)| n).collect::<Vec<_>>(),
        "the same families in the same order"
    );
    let mut histograms = Vec::new();
    for ((name, from_text), (_, mut from_proto, h)) in text.iter().zip(proto) {
        if name.ends_with("_uptime_seconds") {
            // Read from the clock at each scrape: the two scrapes differ.
            let scrape = |f: &Family| f.samples.keys().cloned().collect::<Vec<_>>();
            assert_eq!(scrape(from_text), scrape(&from_proto), "family {name}");
            from_proto.samples.clone_from(&from_text.samples);
        }
        assert_eq!(*from_text, from_proto, "family {name}");
        histograms.extend(h);
    }
    assert!(
        text.len() >= FAMILIES.len(),
        "every catalog family is there"
    );
    histograms
}

fn metrics(config: MetricsConfig) -> Metrics {
    // A global label whose value needs escaping in the text.
    Metrics::new(config.with_global_label("env", "prod \"eu\" \\ zone\nü")).unwrap()
}

#[test]
fn protobuf_and_text_hold_the_same_families_before_and_after_traffic() {
    let m = metrics(MetricsConfig::new());
    let before = compare(&m);
    assert!(
        before
            .iter()
            .all(|h| h.schema == 0 && h.zero_threshold == 0.0)
    );
    populate_every_family(m.catalog());
    let after = compare(&m);
    assert!(!after.is_empty());
    for h in after {
        // Classic only: no native part at all.
        assert!(
            h.positive_span.is_empty() && h.zero_threshold == 0.0,
            "{h:?}"
        );
    }
}

#[test]
fn native_histograms_match_the_text_and_add_up_to_their_counts() {
    for native_only in [false, true] {
        let m = metrics(
            MetricsConfig::new()
                .with_native_histograms(true)
                .with_native_only(native_only),
        );
        let before = compare(&m);
        // Empty native histograms are recognisable as native by their zero
        // threshold (2^-128), as client_golang's are.
        assert!(
            before
                .iter()
                .all(|h| h.schema == 3 && h.zero_threshold == 2f64.powi(-128))
        );
        populate_every_family(m.catalog());
        let after = compare(&m);
        let mut observed = 0;
        for h in &after {
            assert_eq!(h.schema, 3);
            assert_eq!(h.bucket.len() == 1, native_only, "{h:?}");
            let mut total = h.zero_count;
            let mut count = 0_i64;
            for d in &h.positive_delta {
                count += d;
                assert!(count >= 0);
                total += count as u64;
            }
            assert_eq!(total, h.sample_count, "{h:?}");
            observed += h.sample_count;
        }
        assert!(observed > 0, "populate_every_family observed something");
    }
}

#[test]
fn native_histograms_must_name_histogram_families() {
    let ok = Metrics::new(
        MetricsConfig::new().with_native_histogram_family("http_request_duration_seconds"),
    );
    assert!(ok.is_ok());
    for wrong in ["http_request_duration", "http_requests"] {
        let Err(e) = Metrics::new(MetricsConfig::new().with_native_histogram_family(wrong)) else {
            panic!("{wrong} was accepted");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("native_histograms") && msg.contains(wrong),
            "{msg}"
        );
        assert!(msg.contains("http_request_duration_seconds"), "{msg}");
    }
}
