//! The remote-write 1.0 messages, declared by hand after
//! `prometheus/prompb/types.proto` and `remote.proto` (field numbers as
//! upstream), so that no `protoc` is needed.
//!
//! Only what a sender of float samples writes is declared: exemplars (3),
//! native histograms (4) and metadata (`WriteRequest` field 3) are left out,
//! which protobuf allows.

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
    fn body_is_snappy_block_format() {
        let body = encode_body(&up()).unwrap();
        // The block format starts with the uncompressed length as a varint;
        // the framed format would start with the stream identifier 0xff.
        assert_eq!(body[0], 32);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).ok(), Some(up()));
    }
}
