//! gRPC families, server and client side.

use incident_metrics_core::prometheus_client::encoding::EncodeLabelSet;
use incident_metrics_core::{
    FamilySpec, MetricKind, Registry, Result, SharedStr, Unit, buckets, label_enum,
};

use crate::family::{self, CounterFamily, ExemplarCounterFamily, GaugeFamily, HistogramFamily};

label_enum! {
    /// A gRPC status code, by its canonical name (`NOT_FOUND`, not `NotFound`).
    /// The index of each value is its numeric code.
    pub enum GrpcCode {
        /// 0
        Ok => "OK",
        /// 1
        Cancelled => "CANCELLED",
        /// 2
        Unknown => "UNKNOWN",
        /// 3
        InvalidArgument => "INVALID_ARGUMENT",
        /// 4
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        /// 5
        NotFound => "NOT_FOUND",
        /// 6
        AlreadyExists => "ALREADY_EXISTS",
        /// 7
        PermissionDenied => "PERMISSION_DENIED",
        /// 8
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        /// 9
        FailedPrecondition => "FAILED_PRECONDITION",
        /// 10
        Aborted => "ABORTED",
        /// 11
        OutOfRange => "OUT_OF_RANGE",
        /// 12
        Unimplemented => "UNIMPLEMENTED",
        /// 13
        Internal => "INTERNAL",
        /// 14
        Unavailable => "UNAVAILABLE",
        /// 15
        DataLoss => "DATA_LOSS",
        /// 16
        Unauthenticated => "UNAUTHENTICATED",
    }
}

impl GrpcCode {
    /// The code for a numeric value; values outside 0..=16 are `UNKNOWN`,
    /// as the gRPC specification requires.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::grpc::GrpcCode;
    ///
    /// assert_eq!(GrpcCode::from_i32(5), GrpcCode::NotFound);
    /// assert_eq!(GrpcCode::from_i32(99), GrpcCode::Unknown);
    /// ```
    pub fn from_i32(code: i32) -> Self {
        usize::try_from(code)
            .ok()
            .and_then(|i| <Self as incident_metrics_core::LabelEnum>::ALL.get(i))
            .copied()
            .unwrap_or(Self::Unknown)
    }

    /// The numeric value of the code.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// Labels of `grpc_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcRequestLabels {
    /// The fully qualified service, e.g. `incident.v1.IncidentService`.
    pub service: SharedStr,
    /// The method, e.g. `CreateIncident`.
    pub method: SharedStr,
    /// The status code the client saw.
    pub status: GrpcCode,
}

/// Labels of the per-method gRPC families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcMethodLabels {
    /// The fully qualified service.
    pub service: SharedStr,
    /// The method.
    pub method: SharedStr,
}

/// `grpc_requests_total`.
pub const REQUESTS: FamilySpec = FamilySpec {
    name: "grpc_requests",
    help: "Total number of gRPC calls handled, by service, method and status code",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method", "status"],
};

/// `grpc_request_duration_seconds`.
pub const REQUEST_DURATION: FamilySpec = FamilySpec {
    name: "grpc_request_duration",
    help: "Time from the start of a gRPC call to the end of its response stream",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["service", "method"],
};

/// `grpc_streams_active`.
pub const STREAMS_ACTIVE: FamilySpec = FamilySpec {
    name: "grpc_streams_active",
    help: "Number of gRPC calls in progress, from their start to the end of the response stream",
    kind: MetricKind::Gauge,
    unit: None,
    labels: &["service", "method"],
};

/// `grpc_requests_started_total`.
pub const REQUESTS_STARTED: FamilySpec = FamilySpec {
    name: "grpc_requests_started",
    help: "Total number of gRPC calls started on the server, by service and method",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method"],
};

/// `grpc_messages_received_total`.
pub const MESSAGES_RECEIVED: FamilySpec = FamilySpec {
    name: "grpc_messages_received",
    help: "Total number of gRPC messages received by the server, by service and method",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method"],
};

/// `grpc_messages_sent_total`.
pub const MESSAGES_SENT: FamilySpec = FamilySpec {
    name: "grpc_messages_sent",
    help: "Total number of gRPC messages sent by the server, by service and method",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method"],
};

/// `grpc_client_requests_started_total`.
pub const CLIENT_REQUESTS_STARTED: FamilySpec = FamilySpec {
    name: "grpc_client_requests_started",
    help: "Total number of gRPC calls started by clients, by service and method",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method"],
};

/// `grpc_client_requests_total`.
pub const CLIENT_REQUESTS: FamilySpec = FamilySpec {
    name: "grpc_client_requests",
    help: "Total number of gRPC calls completed by clients, by service, method and status code",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method", "status"],
};

/// `grpc_client_request_duration_seconds`.
pub const CLIENT_REQUEST_DURATION: FamilySpec = FamilySpec {
    name: "grpc_client_request_duration",
    help: "Time from the start of a client gRPC call to the end of its response stream",
    kind: MetricKind::Histogram,
    unit: Some(Unit::Seconds),
    labels: &["service", "method"],
};

/// `grpc_client_messages_received_total`.
pub const CLIENT_MESSAGES_RECEIVED: FamilySpec = FamilySpec {
    name: "grpc_client_messages_received",
    help: "Total number of gRPC messages received by clients, by service and method",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method"],
};

/// `grpc_client_messages_sent_total`.
pub const CLIENT_MESSAGES_SENT: FamilySpec = FamilySpec {
    name: "grpc_client_messages_sent",
    help: "Total number of gRPC messages sent by clients, by service and method",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["service", "method"],
};

/// The gRPC families, server side and client side, in the manner of
/// go-grpc-middleware's Prometheus provider (started, handled, messages in
/// each direction, duration) under the contract's names.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GrpcMetrics {
    /// `grpc_requests_total{service, method, status}`: calls handled by the server.
    pub requests: ExemplarCounterFamily<GrpcRequestLabels>,
    /// `grpc_request_duration_seconds{service, method}`.
    pub request_duration: HistogramFamily<GrpcMethodLabels>,
    /// `grpc_streams_active{service, method}`.
    pub streams_active: GaugeFamily<GrpcMethodLabels>,
    /// `grpc_requests_started_total{service, method}`.
    pub requests_started: CounterFamily<GrpcMethodLabels>,
    /// `grpc_messages_received_total{service, method}`.
    pub messages_received: CounterFamily<GrpcMethodLabels>,
    /// `grpc_messages_sent_total{service, method}`.
    pub messages_sent: CounterFamily<GrpcMethodLabels>,
    /// `grpc_client_requests_started_total{service, method}`.
    pub client_requests_started: CounterFamily<GrpcMethodLabels>,
    /// `grpc_client_requests_total{service, method, status}`.
    pub client_requests: ExemplarCounterFamily<GrpcRequestLabels>,
    /// `grpc_client_request_duration_seconds{service, method}`.
    pub client_request_duration: HistogramFamily<GrpcMethodLabels>,
    /// `grpc_client_messages_received_total{service, method}`.
    pub client_messages_received: CounterFamily<GrpcMethodLabels>,
    /// `grpc_client_messages_sent_total{service, method}`.
    pub client_messages_sent: CounterFamily<GrpcMethodLabels>,
}

impl GrpcMetrics {
    /// Registers the gRPC families.
    ///
    /// # Errors
    ///
    /// Any registration error.
    pub fn register(registry: &mut Registry) -> Result<Self> {
        Ok(Self {
            requests: family::exemplar_counter(registry, &REQUESTS)?,
            request_duration: family::histogram(
                registry,
                &REQUEST_DURATION,
                buckets::RPC_DURATION_SECONDS,
            )?,
            streams_active: family::gauge(registry, &STREAMS_ACTIVE)?,
            requests_started: family::counter(registry, &REQUESTS_STARTED)?,
            messages_received: family::counter(registry, &MESSAGES_RECEIVED)?,
            messages_sent: family::counter(registry, &MESSAGES_SENT)?,
            client_requests_started: family::counter(registry, &CLIENT_REQUESTS_STARTED)?,
            client_requests: family::exemplar_counter(registry, &CLIENT_REQUESTS)?,
            client_request_duration: family::histogram(
                registry,
                &CLIENT_REQUEST_DURATION,
                buckets::RPC_DURATION_SECONDS,
            )?,
            client_messages_received: family::counter(registry, &CLIENT_MESSAGES_RECEIVED)?,
            client_messages_sent: family::counter(registry, &CLIENT_MESSAGES_SENT)?,
        })
    }
}
