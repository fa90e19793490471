//! Fuzzing the exposition encoder with proptest (what CI runs; 512 cases
//! per property unless `PROPTEST_CASES` says otherwise).
//!
//! Arbitrary label values (any Unicode, control characters, quotes,
//! backslashes, newlines, escape-like sequences), global label values,
//! arbitrary `f64` (NaN, ±inf, -0, extremes) and `i64` values, and arbitrary
//! names, help texts and label names offered to registration (refused with
//! a message, or accepted): the encoder never panics, and in both formats,
//! plain and gzipped, every line of its output is a well-formed comment or
//! `name{labels} value` whose label values unescape back to the input and
//! whose gauge values read back bit for bit; the OpenMetrics text ends with
//! `# EOF`. The reading below is deliberately strict.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::atomic::AtomicU64;

use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::prometheus_client::metrics::histogram::Histogram;
use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
use incident_metrics_exporter::{Format, encode_response, render};
use incident_metrics_testing::exposition::{self, Line};
use proptest::prelude::*;

type Labels = Vec<(String, String)>;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

// ---------------------------------------------------------------------------
// The strict reading of the text formats: the workspace's one parser
// (`incident_metrics_testing::exposition`), with no timestamp, exemplar,
// blank line or free comment allowed, `# UNIT` only in OpenMetrics, and
// OpenMetrics ending with `# EOF`.

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A sample value: a decimal number, or (case-insensitively, as the
/// OpenMetrics ABNF has it) `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity`.
fn parse_value(s: &str) -> Result<f64, String> {
    exposition::parse_value(s)
}

/// One sample line: `name{labels} value` and nothing more.
fn parse_sample(line: &str) -> Result<Sample, String> {
    match exposition::parse_line(line).map_err(|e| e.reason)? {
        Line::Sample(s) if s.timestamp.is_some() || s.exemplar.is_some() => {
            Err("more than a value after the labels".to_owned())
        }
        Line::Sample(s) => Ok(Sample {
            name: s.name,
            labels: s.labels,
            value: s.value,
        }),
        other => Err(format!("not a sample: {other:?}")),
    }
}

/// Parses a whole exposition, failing on the first malformed line.
fn parse_exposition(text: &str, format: Format) -> Result<Vec<Sample>, String> {
    let body = match format {
        Format::OpenMetrics => text
            .strip_suffix("# EOF\n")
            .ok_or_else(|| "OpenMetrics text must end with `# EOF`".to_owned())?,
        _ => text,
    };
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let body = body
        .strip_suffix('\n')
        .ok_or_else(|| "text must end with a line break".to_owned())?;
    let mut samples = Vec::new();
    for line in body.split('\n') {
        let fail = |e: String| format!("{e} in line {line:?}");
        match exposition::parse_line(line).map_err(|e| fail(e.reason))? {
            Line::Help { .. } | Line::Type { .. } => {}
            Line::Unit { .. } if format == Format::OpenMetrics => {}
            Line::Sample(_) => samples.push(parse_sample(line).map_err(fail)?),
            other => return Err(fail(format!("bad comment or line {other:?}"))),
        }
    }
    Ok(samples)
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Renders `r` in both formats, plain and gzipped, checks the gzipped
/// bodies decompress to the plain text, and parses each strictly.
fn render_both(r: &Registry) -> Vec<(Format, String, Vec<Sample>)> {
    [
        (Format::OpenMetrics, "application/openmetrics-text"),
        (Format::Prometheus, "text/plain"),
    ]
    .into_iter()
    .map(|(format, accept)| {
        let text = render(r, format).unwrap();
        let gz = encode_response(r, Some(accept), Some("gzip"));
        assert_eq!(gz.status(), 200);
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        assert_eq!(gunzip(gz.body()), text);
        let plain = encode_response(r, Some(accept), None);
        assert_eq!(plain.body().as_ref(), text.as_bytes());
        let samples =
            parse_exposition(&text, format).unwrap_or_else(|e| panic!("{format}: {e}\n{text:?}"));
        (format, text, samples)
    })
    .collect()
}

fn same_f64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

// ---------------------------------------------------------------------------
// Strategies.

/// Fully arbitrary strings, strings dense in what needs escaping (and in
/// control characters), and escape-like sequences that must stay literal.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\n\r\t\u{0}-\u{1f}\u{7f}\u{85}\u{2028} ,={}#a-zü🦀]{0,24}",
        "(\\\\[\\\\\"nrtx0u]|\\\\u\\{[0-9a-f]{1,6}\\}|[a-z\"{}])*",
    ]
}

/// Every kind of `f64`: arbitrary bits included, and the edges.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        prop::num::f64::ANY,
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(1e21),
        Just(0.1),
    ]
}

/// Names offered to registration: mostly invalid, some valid.
fn offered_name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        "[a-z_:0-9. é-]{0,12}",
        Just("up_total".to_owned()),
        Just("__reserved".to_owned()),
    ]
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_labels(labels: Vec<String>) -> &'static [&'static str] {
    Box::leak(
        labels
            .into_iter()
            .map(leak)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_label_and_sample_values_render_well_formed_and_read_back(
        global in label_value(),
        values in prop::collection::vec(label_value(), 1..5),
        levels in prop::collection::vec(any_f64(), 1..5),
        integer in any::<i64>(),
        increments in prop::collection::vec(any::<u64>(), 0..3),
        observations in prop::collection::vec(any_f64(), 0..6),
    ) {
        let config = MetricsConfig::new().with_namespace("svc").with_global_label("host", global.clone());
        let mut r = Registry::new(&config).unwrap();
        let counters = Family::<Labels, Counter>::default();
        r.register(&spec("fz", "Counted", MetricKind::Counter, &["v"]), counters.clone()).unwrap();
        let gauges = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        r.register(&spec("fz_level", "Levels", MetricKind::Gauge, &["v"]), gauges.clone()).unwrap();
        let ints = Gauge::<i64>::default();
        r.register(&spec("fz_int", "An integer", MetricKind::Gauge, &[]), ints.clone()).unwrap();
        let histograms = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            || Histogram::new([-1.0, 0.0, 1e-9, 1.0, 1e300]),
        );
        r.register(&spec("fz_seen", "Observed", MetricKind::Histogram, &["v"]), histograms.clone())
            .unwrap();

        // Distinct values, each with a level (the last write wins).
        let distinct: BTreeSet<&String> = values.iter().collect();
        let mut want_level = Vec::new();
        for (i, value) in distinct.iter().enumerate() {
            let set = vec![("v".to_owned(), (*value).clone())];
            let level = levels[i % levels.len()];
            gauges.get_or_create(&set).set(level);
            want_level.push(((*value).clone(), level));
            for by in &increments {
                counters.get_or_create(&set).inc_by(*by);
            }
            let histogram = histograms.get_or_create(&set);
            for o in &observations {
                histogram.observe(*o);
            }
        }
        ints.set(integer);

        for (format, text, samples) in render_both(&r) {
            // Every sample carries the global label intact.
            for s in &samples {
                prop_assert_eq!(s.label("host"), Some(global.as_str()), "{}: {:?}", format, s);
            }
            for (value, level) in &want_level {
                let found: Vec<&Sample> = samples
                    .iter()
                    .filter(|s| s.name == "svc_fz_level" && s.label("v") == Some(value.as_str()))
                    .collect();
                prop_assert_eq!(found.len(), 1, "{}: {:?} in {:?}", format, value, text);
                prop_assert!(same_f64(found[0].value, *level), "{}: {} read back as {}", format, level, found[0].value);
                let count = samples
                    .iter()
                    .find(|s| s.name == "svc_fz_seen_count" && s.label("v") == Some(value.as_str()))
                    .map(|s| s.value);
                prop_assert_eq!(count, Some(observations.len() as f64));
                let buckets = samples
                    .iter()
                    .filter(|s| s.name == "svc_fz_seen_bucket" && s.label("v") == Some(value.as_str()))
                    .count();
                prop_assert_eq!(buckets, 6, "{}: five bounds and +Inf", format);
                if !increments.is_empty() {
                    prop_assert!(samples.iter().any(|s| s.name == "svc_fz_total" && s.label("v") == Some(value.as_str())));
                }
            }
            let int = samples.iter().find(|s| s.name == "svc_fz_int").map(|s| s.value);
            // i64 gauges render exactly; f64 reads them back to the nearest.
            prop_assert_eq!(int, Some(integer as f64), "{}", format);
            prop_assert!(
                text.lines().any(|l| l == format!("svc_fz_int{{host=\"{}\"}} {integer}", escape(&global))),
                "{}: {:?}", format, text
            );
        }
    }
}

/// Arbitrary names, help texts and label names offered to registration:
/// each is refused with a message (leaving nothing behind) or accepted and
/// rendered well-formed. Both outcomes must occur, so that neither branch is
/// vacuous.
#[test]
fn any_name_help_and_labels_offered_are_refused_with_a_message_or_render_well_formed() {
    let accepted = std::cell::Cell::new(0u32);
    let refused = std::cell::Cell::new(0u32);
    let strategy = (
        offered_name(),
        prop_oneof![any::<String>(), "[a-zA-Z .\"\\\\\n\r#]{0,16}"],
        prop::collection::vec(offered_name(), 0..3),
        prop_oneof![Just(MetricKind::Counter), Just(MetricKind::Gauge)],
        label_value(),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        // A hand-driven runner has no source file to keep regressions next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |(name, help, labels, kind, value)| {
        let mut r = Registry::new(&MetricsConfig::new().with_namespace("svc")).unwrap();
        let spec = FamilySpec {
            name: leak(name.clone()),
            help: leak(help.clone()),
            kind,
            unit: None,
            labels: leak_labels(labels.clone()),
        };
        let set: Labels = labels.iter().map(|l| (l.clone(), value.clone())).collect();
        let registered = match kind {
            MetricKind::Counter => {
                let family = Family::<Labels, Counter>::default();
                let result = r.register(&spec, family.clone());
                family.get_or_create(&set).inc();
                result
            }
            _ => {
                let family = Family::<Labels, Gauge>::default();
                let result = r.register(&spec, family.clone());
                family.get_or_create(&set).set(-7);
                result
            }
        };
        match registered {
            Err(e) => {
                refused.set(refused.get() + 1);
                prop_assert!(!e.to_string().trim().is_empty());
                // A refused family leaves nothing behind.
                prop_assert_eq!(render(&r, Format::OpenMetrics).unwrap(), "# EOF\n");
                prop_assert_eq!(render(&r, Format::Prometheus).unwrap(), "");
            }
            Ok(()) => {
                accepted.set(accepted.get() + 1);
                let full = format!("svc_{name}");
                for (format, text, samples) in render_both(&r) {
                    let sample_name = match kind {
                        MetricKind::Counter => format!("{full}_total"),
                        _ => full.clone(),
                    };
                    prop_assert_eq!(samples.len(), 1, "{}: {:?}", format, text);
                    prop_assert_eq!(&samples[0].name, &sample_name);
                    prop_assert_eq!(&samples[0].labels, &set);
                    let announced = match format {
                        Format::Prometheus => sample_name.clone(),
                        _ => full.clone(),
                    };
                    let help_line = format!("# HELP {announced} {help}.");
                    prop_assert!(
                        text.lines().any(|l| l == help_line),
                        "{}: {:?}",
                        format,
                        text
                    );
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    if cases() >= 256 {
        assert!(accepted.get() > 0, "no offered family was accepted");
        assert!(refused.get() > 0, "no offered family was refused");
    }
    eprintln!("accepted {}, refused {}", accepted.get(), refused.get());
}

/// The escaping both formats require of a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn spec(
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind,
        unit: None,
        labels,
    }
}

// The parser refuses what it should (a parser that accepts everything would
// make the properties above vacuous).
#[test]
fn the_strict_parser_refuses_malformed_lines() {
    for bad in [
        "svc_a{v=\"x} 1",
        "svc_a{v=\"\\x\"} 1",
        "svc_a{v=x} 1",
        "svc_a{v=\"x\"}  1",
        "svc_a{v=\"x\"} 1 2",
        "svc_a{v=\"x\"v=\"y\"} 1",
        "svc_a{v=\"x\",v=\"y\"} 1",
        "svc_a{9=\"x\"} 1",
        "svc-a 1",
        "svc_a 1.2.3",
        "svc_a infinite",
        "svc_a ",
        "svc_a",
    ] {
        assert!(parse_sample(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        parse_sample("svc_a{v=\"q\\\"\\\\\\n\"} -Inf").unwrap(),
        Sample {
            name: "svc_a".to_owned(),
            labels: vec![("v".to_owned(), "q\"\\\n".to_owned())],
            value: f64::NEG_INFINITY,
        }
    );
    assert!(parse_value("NaN").unwrap().is_nan());
    assert_eq!(parse_value("1e-7").unwrap(), 1e-7);
    assert!(parse_exposition("svc_a 1\n", Format::OpenMetrics).is_err());
    assert!(parse_exposition("# HELP svc_a x\n# EOF\n", Format::OpenMetrics).is_ok());
    assert!(parse_exposition("# TYPE svc_a bogus\n", Format::Prometheus).is_err());
    assert!(parse_exposition("svc_a 1", Format::Prometheus).is_err());
}
