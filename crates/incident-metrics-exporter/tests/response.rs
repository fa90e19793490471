//! `encode_response`: status, headers and body for each negotiated variant,
//! gzip that decompresses to the plain render, and a `500` when a metric
//! fails to encode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fmt;
use std::io::Read;

use incident_metrics_core::prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use incident_metrics_core::prometheus_client::metrics::MetricType;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::{MetricKind, Registry};
use incident_metrics_exporter::{Error, Format, encode_response, render, render_text};
use support::{registry, spec};

fn counting_registry() -> Registry {
    let mut r = registry(&[("env", "test")]);
    let jobs = Counter::<u64>::default();
    r.register(
        &spec("jobs", "Jobs run", MetricKind::Counter, None, &[]),
        jobs.clone(),
    )
    .unwrap();
    jobs.inc_by(5);
    r
}

fn gunzip(body: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn variants_carry_the_right_headers() {
    let r = counting_registry();
    let cases = [
        (None, None, Format::Prometheus, None),
        (
            Some("text/plain"),
            Some("identity"),
            Format::Prometheus,
            None,
        ),
        (
            Some("application/openmetrics-text"),
            None,
            Format::OpenMetrics,
            None,
        ),
        (None, Some("gzip"), Format::Prometheus, Some("gzip")),
        (
            Some("application/openmetrics-text;version=1.0.0"),
            Some("gzip, br"),
            Format::OpenMetrics,
            Some("gzip"),
        ),
    ];
    for (accept, accept_encoding, format, encoding) in cases {
        let response = encode_response(&r, accept, accept_encoding);
        let headers = response.headers();
        let case = format!("{accept:?} / {accept_encoding:?}");
        assert_eq!(response.status(), 200, "{case}");
        assert_eq!(headers["content-type"], format.content_type(), "{case}");
        assert_eq!(headers["vary"], "Accept, Accept-Encoding", "{case}");
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{case}"
        );
        assert_eq!(
            headers["content-length"],
            response.body().len().to_string(),
            "{case}"
        );
        let text = match encoding {
            Some(_) => gunzip(response.body()),
            None => String::from_utf8(response.body().to_vec()).unwrap(),
        };
        assert_eq!(text, render(&r, format).unwrap(), "{case}");
    }
}

#[test]
fn gzip_body_decompresses_to_the_plain_render() {
    let r = counting_registry();
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let accept = match format {
            Format::OpenMetrics => Some("application/openmetrics-text"),
            _ => None,
        };
        let plain = encode_response(&r, accept, None);
        let gzipped = encode_response(&r, accept, Some("gzip"));
        assert_eq!(&gzipped.body()[..2], &[0x1f, 0x8b], "gzip magic bytes");
        assert_ne!(gzipped.body(), plain.body());
        assert_eq!(gunzip(gzipped.body()).as_bytes(), &plain.body()[..]);
    }
}

/// A gauge whose `encode` fails, as a buggy custom metric's might.
#[derive(Debug)]
struct Broken;

impl EncodeMetric for Broken {
    fn encode(&self, _encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        Err(fmt::Error)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

#[test]
fn a_failing_metric_gives_an_error_and_a_500() {
    let mut r = counting_registry();
    r.register(
        &spec("broken", "Never encodes", MetricKind::Gauge, None, &[]),
        Broken,
    )
    .unwrap();

    let error = render(&r, Format::OpenMetrics).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Render {
                format: Format::OpenMetrics,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(render_text(&r).is_err());

    for accept_encoding in [None, Some("gzip")] {
        let response = encode_response(&r, None, accept_encoding);
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert!(response.headers().get("content-encoding").is_none());
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(
            body.starts_with("failed to render the registry as Prometheus text 0.0.4:"),
            "{body}"
        );
        assert!(body.contains("EncodeMetric"), "{body}");
    }
}
