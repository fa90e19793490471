//! The remote-write 1.0 messages, declared by hand after
//! `prometheus/prompb/types.proto` and `remote.proto` (field numbers as
//! upstream), so that no `protoc` is needed.
//!
//! What a sender writes is declared: samples (2), exemplars (3) and native
//! histograms (4, integer counts only: the float variants are the receivers'
//! own); metadata (`WriteRequest` field 3) is left out, which protobuf
//! allows. Empty repeated fields cost no bytes, so a request without
//! exemplars and native histograms is byte for byte what it was before
//! they were declared.

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    /// Field 1 (field 2 is reserved upstream).
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: one series' labels, sorted by name, and its
/// samples in timestamp order.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub(crate) exemplars: Vec<Exemplar>,
    /// Field 4.
    #[prost(message, repeated, tag = "4")]
    pub(crate) histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub(crate) struct Label {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct Sample {
    /// Field 1.
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// Field 2: milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// `prometheus.Exemplar`: a sample's trace labels, value and time.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Exemplar {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    /// Field 2.
    #[prost(double, tag = "2")]
    pub(crate) value: f64,
    /// Field 3: milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub(crate) timestamp: i64,
}

/// `prometheus.Histogram`: a native histogram with integer counts, its
/// buckets as spans and deltas (as `io.prometheus.client.Histogram` has
/// them).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Histogram {
    /// `oneof count`: field 1 (`count_int`) or 2 (`count_float`).
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub(crate) count: Option<histogram::Count>,
    /// Field 3.
    #[prost(double, tag = "3")]
    pub(crate) sum: f64,
    /// Field 4.
    #[prost(sint32, tag = "4")]
    pub(crate) schema: i32,
    /// Field 5.
    #[prost(double, tag = "5")]
    pub(crate) zero_threshold: f64,
    /// `oneof zero_count`: field 6 (`zero_count_int`) or 7
    /// (`zero_count_float`).
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub(crate) zero_count: Option<histogram::ZeroCount>,
    /// Field 8.
    #[prost(message, repeated, tag = "8")]
    pub(crate) negative_spans: Vec<BucketSpan>,
    /// Field 9.
    #[prost(sint64, repeated, tag = "9")]
    pub(crate) negative_deltas: Vec<i64>,
    /// Field 11 (field 10, the float counts, is not sent).
    #[prost(message, repeated, tag = "11")]
    pub(crate) positive_spans: Vec<BucketSpan>,
    /// Field 12 (field 13, the float counts, is not sent).
    #[prost(sint64, repeated, tag = "12")]
    pub(crate) positive_deltas: Vec<i64>,
    /// Field 14: `ResetHint`, 0 (`UNKNOWN`: the receiver detects resets).
    #[prost(int32, tag = "14")]
    pub(crate) reset_hint: i32,
    /// Field 15: milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub(crate) timestamp: i64,
}

/// The `oneof`s of [`Histogram`].
pub(crate) mod histogram {
    /// `oneof count`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub(crate) enum Count {
        /// Field 1.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Field 2.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// `oneof zero_count`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub(crate) enum ZeroCount {
        /// Field 6.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Field 7.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }
}

/// `prometheus.BucketSpan`: `length` consecutive buckets, `offset` buckets
/// after the previous span (or from index 0, for the first).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub(crate) struct BucketSpan {
    /// Field 1.
    #[prost(sint32, tag = "1")]
    pub(crate) offset: i32,
    /// Field 2.
    #[prost(uint32, tag = "2")]
    pub(crate) length: u32,
}

/// The request body: the protobuf encoding of `request`, snappy-compressed
/// in the block format (not the framed one), as remote-write 1.0 requires.
pub(crate) fn encode_body(request: &WriteRequest) -> Result<Vec<u8>, snap::Error> {
    use prost::Message as _;
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn up() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn encodes_as_upstream_field_numbers_say() {
        let mut expected = vec![0x0a, 30]; // WriteRequest.timeseries (1), 30 bytes
        expected.extend([0x0a, 14]); // TimeSeries.labels (1), 14 bytes
        expected.extend([0x0a, 8]); // Label.name (1)
        expected.extend(b"__name__");
        expected.extend([0x12, 2]); // Label.value (2)
        expected.extend(b"up");
        expected.extend([0x12, 12]); // TimeSeries.samples (2), 12 bytes
        expected.push(0x09); // Sample.value (1), fixed64
        expected.extend(1.0f64.to_le_bytes());
        expected.extend([0x10, 0xe8, 0x07]); // Sample.timestamp (2), varint 1000
        assert_eq!(up().encode_to_vec(), expected);
        assert_eq!(WriteRequest::decode(expected.as_slice()).ok(), Some(up()));
    }

    #[test]
    fn exemplars_and_histograms_use_upstream_field_numbers() {
        let series = TimeSeries {
            exemplars: vec![Exemplar {
                labels: vec![Label {
                    name: "t".into(),
                    value: "a".into(),
                }],
                value: 0.5,
                timestamp: 2,
            }],
            histograms: vec![Histogram {
                count: Some(histogram::Count::CountInt(3)),
                sum: 1.0,
                schema: -1,
                zero_threshold: 0.25,
                zero_count: Some(histogram::ZeroCount::ZeroCountInt(0)),
                negative_spans: vec![],
                negative_deltas: vec![],
                positive_spans: vec![BucketSpan {
                    offset: -2,
                    length: 1,
                }],
                positive_deltas: vec![-1],
                reset_hint: 0,
                timestamp: 5,
            }],
            ..Default::default()
        };
        let mut exemplar = vec![0x1a, 19]; // TimeSeries.exemplars (3), 19 bytes
        exemplar.extend([0x0a, 6, 0x0a, 1, b't', 0x12, 1, b'a']); // Exemplar.labels (1)
        exemplar.push(0x11); // Exemplar.value (2), fixed64
        exemplar.extend(0.5f64.to_le_bytes());
        exemplar.extend([0x18, 2]); // Exemplar.timestamp (3), varint
        let mut histogram = vec![0x22, 35]; // TimeSeries.histograms (4), 35 bytes
        histogram.extend([0x08, 3]); // count_int (1)
        histogram.push(0x19); // sum (3), fixed64
        histogram.extend(1.0f64.to_le_bytes());
        histogram.extend([0x20, 1]); // schema (4), sint32 zigzag: -1 is 1
        histogram.push(0x29); // zero_threshold (5), fixed64
        histogram.extend(0.25f64.to_le_bytes());
        histogram.extend([0x30, 0]); // zero_count_int (6): set, so written even as 0
        histogram.extend([0x5a, 4, 0x08, 3, 0x10, 1]); // positive_spans (11): offset -2, length 1
        histogram.extend([0x62, 1, 1]); // positive_deltas (12), packed sint64: -1 is 1
        histogram.extend([0x78, 5]); // timestamp (15)
        let expected: Vec<u8> = exemplar.into_iter().chain(histogram).collect();
        assert_eq!(series.encode_to_vec(), expected);
        assert_eq!(TimeSeries::decode(expected.as_slice()).ok(), Some(series));
    }

    #[test]
    fn body_is_snappy_block_format() {
        let body = encode_body(&up()).unwrap();
        // The block format starts with the uncompressed length as a varint;
        // the framed format would start with the stream identifier 0xff.
        assert_eq!(body[0], 32);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).ok(), Some(up()));
    }
}
