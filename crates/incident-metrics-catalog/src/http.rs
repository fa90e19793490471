//! HTTP server families.

use incident_metrics_core::prometheus_client::encoding::{
    EncodeLabelSet, EncodeLabelValue, LabelValueEncoder,
};
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{self, ExemplarCounterFamily, HistogramFamily};

label_enum! {
    /// An HTTP request method; methods outside the standard set count as `OTHER`.
    pub enum Method {
        /// `GET`
        Get => "GET",
        /// `HEAD`
        Head => "HEAD",
        /// `POST`
        Post => "POST",
        /// `PUT`
        Put => "PUT",
        /// `DELETE`
        Delete => "DELETE",
        /// `CONNECT`
        Connect => "CONNECT",
        /// `OPTIONS`
        Options => "OPTIONS",
        /// `TRACE`
        Trace => "TRACE",
        /// `PATCH`
        Patch => "PATCH",
        /// Any other method, folded into one value to bound cardinality.
        Other => "OTHER",
    }
}

impl Method {
    /// The method for a request-line token: the standard methods by their
    /// exact (case-sensitive) names, anything else `OTHER`.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::http::Method;
    ///
    /// assert_eq!(Method::from_token("PATCH"), Method::Patch);
    /// assert_eq!(Method::from_token("PROPFIND"), Method::Other);
    /// assert_eq!(Method::from_token("get"), Method::Other); // methods are case-sensitive
    /// ```
    pub fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            "OPTIONS" => Self::Options,
            "TRACE" => Self::Trace,
            "PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }
}

/// The `status` label of `http_requests_total`: the status code the client
/// saw, or a fixed word when it saw none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HttpStatus {
    /// A status code from 100 to 999, encoded as its three digits.
    Code(u16),
    /// The client went away before a response was sent (`cancelled`).
    Cancelled,
}

impl HttpStatus {
    /// The status for a response code; codes outside 100..=999 (which no
    /// valid response carries) are clamped into range.
    pub fn code(code: u16) -> Self {
        Self::Code(code.clamp(100, 999))
    }
}

impl EncodeLabelValue for HttpStatus {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        match *self {
            Self::Code(code) => {
                let code = code.clamp(100, 999);
                let digits = [
                    b'0' + (code / 100) as u8,
                    b'0' + (code / 10 % 10) as u8,
                    b'0' + (code % 10) as u8,
                ];
                let text = std::str::from_utf8(&digits).map_err(|_| std::fmt::Error)?;
                encoder.write_str(text)
            }
            Self::Cancelled => encoder.write_str("cancelled"),
        }
    }
}

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRequestLabels {
    /// The request method.
    pub method: Method,
    /// The route template (for example `/api/v1/incidents/{id}`), or the
    /// fixed value for requests that matched no route.
    pub path: SharedStr,
    /// The status the client saw.
    pub status: HttpStatus,
}

/// Labels of the HTTP duration and size histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRouteLabels {
    /// The request method.
    pub method: Method,
    /// The route template.
    pub path: SharedStr,
}

/// `http_requests_total`.
pub const REQUESTS: FamilySpec = FamilySpec {
    name: "http_requests",
    help: "Total number of HTTP requests handled, by method, route template and status",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["method", "path", "status"],
};

/// `http_request_duration_seconds`.
pub const REQUEST_DURATION: FamilySpec = FamilySpec {
    name: "http_request_duration",
    help: "Time from receiving an HTTP request to the end of its response",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["method", "path"],
};

/// `http_request_size_bytes`.
pub const REQUEST_SIZE: FamilySpec = FamilySpec {
    name: "http_request_size",
    help: "Size of HTTP request bodies as received",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Bytes),
    labels: &["method", "path"],
};

/// `http_response_size_bytes`.
pub const RESPONSE_SIZE: FamilySpec = FamilySpec {
    name: "http_response_size",
    help: "Size of HTTP response bodies as sent",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Bytes),
    labels: &["method", "path"],
};

/// `http_connections_active`.
pub const CONNECTIONS_ACTIVE: FamilySpec = FamilySpec {
    name: "http_connections_active",
    help: "Number of HTTP requests being served, from arrival to the end of the response body",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &[],
};

/// `http_requests_in_flight`.
pub const REQUESTS_IN_FLIGHT: FamilySpec = FamilySpec {
    name: "http_requests_in_flight",
    help: "Number of HTTP requests whose handler has not yet produced a response",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &[],
};

/// The HTTP server families.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpMetrics {
    /// `http_requests_total{method, path, status}`, with exemplars when on.
    pub requests: ExemplarCounterFamily<HttpRequestLabels>,
    /// `http_request_duration_seconds{method, path}`.
    pub request_duration: HistogramFamily<HttpRouteLabels>,
    /// `http_request_size_bytes{method, path}`.
    pub request_size: HistogramFamily<HttpRouteLabels>,
    /// `http_response_size_bytes{method, path}`.
    pub response_size: HistogramFamily<HttpRouteLabels>,
    /// `http_connections_active`.
    pub connections_active: Gauge,
    /// `http_requests_in_flight`.
    pub requests_in_flight: Gauge,
}

impl HttpMetrics {
    /// Registers the HTTP families.
    ///
    /// # Errors
    ///
    /// Any registration error (a name already taken, a bad bucket override).
    pub fn register(registry: &mut Registry) -> Result<Self> {
        let connections_active = Gauge::default();
        let requests_in_flight = Gauge::default();
        let metrics = Self {
            requests: family::exemplar_counter(registry, &REQUESTS)?,
            request_duration: family::histogram(
                registry,
                &REQUEST_DURATION,
                buckets::HTTP_DURATION_SECONDS,
            )?,
            request_size: family::histogram(registry, &REQUEST_SIZE, buckets::SIZE_BYTES)?,
            response_size: family::histogram(registry, &RESPONSE_SIZE, buckets::SIZE_BYTES)?,
            connections_active: connections_active.clone(),
            requests_in_flight: requests_in_flight.clone(),
        };
        registry.register(&CONNECTIONS_ACTIVE, connections_active)?;
        registry.register(&REQUESTS_IN_FLIGHT, requests_in_flight)?;
        Ok(metrics)
    }
}
