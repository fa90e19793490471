//! Label values holding quotes, backslashes, newlines and non-ASCII text are
//! escaped as both formats require, and read back intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use incident_metrics_core::MetricKind;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::family::Family;
use incident_metrics_exporter::{Format, render};
use support::{parse_samples, registry, sample, spec};

const VALUE: &str = "say \"hi\"\\n\nC:\\dir ü 🦀";
const ESCAPED: &str = r#"say \"hi\"\\n\nC:\\dir ü 🦀"#;

fn escaped_registry() -> incident_metrics_core::Registry {
    let mut r = registry(&[("host", "ünïcode \"box\"")]);
    let family = Family::<Vec<(String, String)>, Counter>::default();
    r.register(
        &spec("odd", "Odd labels", MetricKind::Counter, None, &["v"]),
        family.clone(),
    )
    .unwrap();
    family
        .get_or_create(&vec![("v".to_owned(), VALUE.to_owned())])
        .inc();
    r
}

#[test]
fn label_values_are_escaped_in_both_formats() {
    let r = escaped_registry();
    let line = format!("svc_odd_total{{host=\"ünïcode \\\"box\\\"\",v=\"{ESCAPED}\"}} 1\n");
    assert_eq!(
        render(&r, Format::OpenMetrics).unwrap(),
        format!("# HELP svc_odd Odd labels.\n# TYPE svc_odd counter\n{line}# EOF\n")
    );
    assert_eq!(
        render(&r, Format::Prometheus).unwrap(),
        format!("# HELP svc_odd_total Odd labels.\n# TYPE svc_odd_total counter\n{line}")
    );
}

#[test]
fn escaped_label_values_read_back_intact() {
    let r = escaped_registry();
    for format in [Format::OpenMetrics, Format::Prometheus] {
        let text = render(&r, format).unwrap();
        // One sample line: the newline in the value never reaches the text raw.
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            1,
            "{text}"
        );
        let samples = parse_samples(&text);
        let odd = sample(&samples, "svc_odd_total");
        assert_eq!(odd.label("v"), Some(VALUE), "{format}");
        assert_eq!(odd.label("host"), Some("ünïcode \"box\""), "{format}");
        assert_eq!(odd.value, "1");
    }
}
