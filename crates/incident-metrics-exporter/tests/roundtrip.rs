//! Property: any label value (any Unicode, quotes, backslashes, newlines
//! included), any finite `f64` gauge value and any `u64` counter value
//! encode, in both formats, to text that parses back to exactly what was
//! recorded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::AtomicU64;

use incident_metrics_core::MetricKind;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_exporter::{Format, render};
use proptest::prelude::*;
use support::{parse_samples, registry, sample, spec};

type Labels = Vec<(String, String)>;

/// Label values: fully arbitrary strings, and strings dense in the
/// characters that need escaping.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\"\\\\\n\r\t ,={}#a-zü🦀]{0,24}",]
}

/// Finite `f64`s, with the edges the formatter must get right.
fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn label_values_and_sample_values_round_trip(
        value in label_value(),
        count in any::<u64>(),
        level in finite_f64(),
    ) {
        let mut r = registry(&[]);
        let counters = Family::<Labels, Counter>::default();
        r.register(&spec("c", "Counter", MetricKind::Counter, None, &["v"]), counters.clone())
            .unwrap();
        let gauges = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        r.register(&spec("g", "Gauge", MetricKind::Gauge, None, &["v"]), gauges.clone())
            .unwrap();
        let set = vec![("v".to_owned(), value.clone())];
        counters.get_or_create(&set).inc_by(count);
        gauges.get_or_create(&set).set(level);

        for format in [Format::OpenMetrics, Format::Prometheus] {
            let text = render(&r, format).unwrap();
            let samples = parse_samples(&text);
            prop_assert_eq!(samples.len(), 2, "{}: {:?}", format, text);

            let c = sample(&samples, "svc_c_total");
            prop_assert_eq!(c.label("v"), Some(value.as_str()));
            prop_assert_eq!(c.value.parse::<u64>().ok(), Some(count), "{}", format);

            let g = sample(&samples, "svc_g");
            prop_assert_eq!(g.label("v"), Some(value.as_str()));
            let parsed: f64 = g.value.parse().unwrap();
            prop_assert_eq!(parsed.to_bits(), level.to_bits(), "{} wrote {}", format, g.value);
        }
    }
}
