//! Reading the gRPC status: `grpc-status` in headers (a trailers-only answer)
//! or trailers, the HTTP status of a non-gRPC answer, and the call deadline
//! in `grpc-timeout`; classified as tower-http's `GrpcErrorsAsFailures` does.

use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode};
use incident_metrics_catalog::grpc::GrpcCode;

pub(crate) static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) static GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The code in the `grpc-status` entry of `headers`, if there is one. A value
/// that is not a number is `UNKNOWN`, like an out-of-range number.
pub(crate) fn from_headers(headers: &HeaderMap) -> Option<GrpcCode> {
    let value = headers.get(&GRPC_STATUS)?;
    Some(parse_code(value.as_bytes()))
}

fn parse_code(bytes: &[u8]) -> GrpcCode {
    if bytes.is_empty() || bytes.len() > 3 {
        return GrpcCode::Unknown;
    }
    let mut n = 0_i32;
    for b in bytes {
        if !b.is_ascii_digit() {
            return GrpcCode::Unknown;
        }
        n = n * 10 + i32::from(b - b'0');
    }
    GrpcCode::from_i32(n)
}

/// The code a client infers from an HTTP status when the answer carries no
/// `grpc-status`, as `doc/http-grpc-status-mapping.md` of gRPC specifies;
/// `None` for `200 OK`, whose status comes at the end of the body.
pub(crate) fn from_http_status(status: StatusCode) -> Option<GrpcCode> {
    Some(match status.as_u16() {
        200 => return None,
        400 => GrpcCode::Internal,
        401 => GrpcCode::Unauthenticated,
        403 => GrpcCode::PermissionDenied,
        404 => GrpcCode::Unimplemented,
        429 | 502..=504 => GrpcCode::Unavailable,
        _ => GrpcCode::Unknown,
    })
}

/// What the response head says about the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Classification {
    /// The outcome is known now (trailers-only answer, or an HTTP failure).
    Ready(GrpcCode),
    /// The outcome comes with the trailers at the end of the body.
    Deferred,
}

/// Classifies a response head.
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap) -> Classification {
    if let Some(code) = from_headers(headers) {
        return Classification::Ready(code);
    }
    match from_http_status(status) {
        Some(code) => Classification::Ready(code),
        None => Classification::Deferred,
    }
}

/// The deadline in a `grpc-timeout` value: 1 to 8 ASCII digits and a unit
/// (`H`, `M`, `S`, `m`, `u`, `n`). Anything else is no deadline.
pub(crate) fn parse_timeout(bytes: &[u8]) -> Option<Duration> {
    let (unit, digits) = bytes.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0_u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The deadline of a request, from its `grpc-timeout` header.
#[inline]
pub(crate) fn timeout(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(&GRPC_TIMEOUT)
        .and_then(|v| parse_timeout(v.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_grpc_status() {
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&h), None);
        for (value, code) in [
            ("0", GrpcCode::Ok),
            ("5", GrpcCode::NotFound),
            ("16", GrpcCode::Unauthenticated),
            ("17", GrpcCode::Unknown),
            ("x", GrpcCode::Unknown),
            ("", GrpcCode::Unknown),
            ("0005", GrpcCode::Unknown),
        ] {
            h.insert(&GRPC_STATUS, HeaderValue::from_static(value));
            assert_eq!(from_headers(&h), Some(code), "{value:?}");
        }
    }

    #[test]
    fn maps_http_statuses_as_the_spec_does() {
        let cases = [
            (200, None),
            (400, Some(GrpcCode::Internal)),
            (401, Some(GrpcCode::Unauthenticated)),
            (403, Some(GrpcCode::PermissionDenied)),
            (404, Some(GrpcCode::Unimplemented)),
            (429, Some(GrpcCode::Unavailable)),
            (502, Some(GrpcCode::Unavailable)),
            (503, Some(GrpcCode::Unavailable)),
            (504, Some(GrpcCode::Unavailable)),
            (500, Some(GrpcCode::Unknown)),
            (302, Some(GrpcCode::Unknown)),
        ];
        for (status, code) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(from_http_status(status), code, "{status}");
        }
    }

    #[test]
    fn classifies_like_grpc_errors_as_failures() {
        let mut h = HeaderMap::new();
        assert_eq!(classify(StatusCode::OK, &h), Classification::Deferred);
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &h),
            Classification::Ready(GrpcCode::Unavailable)
        );
        h.insert(&GRPC_STATUS, HeaderValue::from_static("3"));
        assert_eq!(
            classify(StatusCode::OK, &h),
            Classification::Ready(GrpcCode::InvalidArgument)
        );
    }

    #[test]
    fn parses_grpc_timeout() {
        assert_eq!(parse_timeout(b"10m"), Some(Duration::from_millis(10)));
        assert_eq!(parse_timeout(b"2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout(b"3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_timeout(b"7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_timeout(b"9n"), Some(Duration::from_nanos(9)));
        for bad in [
            &b""[..],
            b"m",
            b"10",
            b"10x",
            b"123456789m",
            b"-1m",
            b"1.5S",
        ] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }
}
