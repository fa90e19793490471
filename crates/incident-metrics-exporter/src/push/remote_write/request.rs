//! Request building: a batch of queued samples as a protobuf
//! `WriteRequest` (snappy-compressed by [`encode_body`](crate::push::wire)),
//! sent as a `POST` with the headers the specification asks for.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use crate::push::client;
use crate::push::queue::Queued;
use crate::push::snapshot::Value;
use crate::push::wire::{Exemplar, Histogram, Sample, TimeSeries, WriteRequest};

/// The remote-write protocol version header's value for 1.0.
const PROTOCOL_VERSION: &str = "0.1.0";

/// Groups a batch into series, each with its samples, native histograms
/// and exemplars in time order, sorted by labels. A native histogram and
/// an exemplar without a timestamp take their entry's.
pub(super) fn build_request(batch: &[Queued]) -> WriteRequest {
    let mut index = HashMap::<*const _, usize>::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for queued in batch {
        let i = *index.entry(Arc::as_ptr(&queued.series)).or_insert_with(|| {
            timeseries.push(TimeSeries {
                labels: queued.series.to_vec(),
                ..TimeSeries::default()
            });
            timeseries.len() - 1
        });
        let Some(series) = timeseries.get_mut(i) else {
            continue;
        };
        match &queued.value {
            Value::Float(value) => series.samples.push(Sample {
                value: *value,
                timestamp: queued.timestamp_ms,
            }),
            Value::Native(histogram) => series.histograms.push(Histogram {
                timestamp: queued.timestamp_ms,
                ..Histogram::clone(histogram)
            }),
        }
        if let Some(exemplar) = &queued.exemplar {
            let timestamp = match exemplar.timestamp {
                0 => queued.timestamp_ms,
                t => t,
            };
            series.exemplars.push(Exemplar {
                timestamp,
                ..Exemplar::clone(exemplar)
            });
        }
    }
    // Stable: series with equal labels keep their order.
    timeseries.sort_by(|a, b| a.labels.cmp(&b.labels));
    WriteRequest { timeseries }
}

/// The `POST` of one compressed `WriteRequest`, with the configured
/// `extra` headers (which cannot name the protocol's own).
pub(super) fn write_request(
    uri: &Uri,
    extra: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    for (name, value) in extra {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        "x-prometheus-remote-write-version",
        HeaderValue::from_static(PROTOCOL_VERSION),
    );
    headers.insert(USER_AGENT, HeaderValue::from_static(client::USER_AGENT));
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::snapshot::Series;
    use crate::push::wire::Label;

    fn series(name: &str, extra: Option<(&str, &str)>) -> Series {
        let mut labels = vec![Label {
            name: "__name__".into(),
            value: name.into(),
        }];
        if let Some((k, v)) = extra {
            labels.push(Label {
                name: k.into(),
                value: v.into(),
            });
        }
        labels.into()
    }

    #[test]
    fn batches_group_samples_by_series_in_order() {
        let b = series("b", None);
        let a = series("a", Some(("x", "1")));
        let batch: Vec<_> = [(&b, 1.0, 10), (&a, 2.0, 10), (&b, 3.0, 20), (&a, 4.0, 20)]
            .into_iter()
            .map(|(s, value, timestamp_ms)| Queued {
                series: Arc::clone(s),
                value: Value::Float(value),
                timestamp_ms,
                exemplar: None,
            })
            .collect();
        let request = build_request(&batch);
        assert_eq!(request.timeseries.len(), 2);
        assert_eq!(request.timeseries[0].labels[0].value, "a");
        let a_samples: Vec<_> = request.timeseries[0]
            .samples
            .iter()
            .map(|s| (s.value, s.timestamp))
            .collect();
        assert_eq!(a_samples, [(2.0, 10), (4.0, 20)]);
        assert_eq!(request.timeseries[1].samples.len(), 2);
    }

    #[test]
    fn requests_carry_the_spec_headers() {
        let uri: Uri = "http://127.0.0.1:9/api/v1/write".parse().unwrap();
        let tenant = (
            HeaderName::from_static("x-scope-orgid"),
            HeaderValue::from_static("t1"),
        );
        let request = write_request(&uri, &[tenant], vec![1, 2]);
        assert_eq!(request.headers()["x-scope-orgid"], "t1");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.headers()["content-encoding"], "snappy");
        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
        assert_eq!(
            request.headers()["x-prometheus-remote-write-version"],
            "0.1.0"
        );
    }
}
