//! The pre-registered handles of one `(service, method)` pair, for one side
//! (server or client) of the call.

use std::fmt;
use std::sync::OnceLock;

use incident_metrics_catalog::grpc::{GrpcCode, GrpcMethodLabels, GrpcMetrics, GrpcRequestLabels};
use incident_metrics_catalog::{CounterFamily, GaugeFamily, HistogramFamily};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{Histogram, LabelEnum, SharedStr};

/// Which end of the call the recorder sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// A server: records into `grpc_requests_total` and the other server families.
    Server,
    /// A client: records into `grpc_client_requests_total` and the other client families.
    Client,
}

/// The families one side records into.
#[derive(Clone, Debug)]
pub(crate) struct SideFamilies {
    started: CounterFamily<GrpcMethodLabels>,
    handled: CounterFamily<GrpcRequestLabels>,
    duration: HistogramFamily<GrpcMethodLabels>,
    active: Option<GaugeFamily<GrpcMethodLabels>>,
    /// Messages carried by request bodies: received by a server, sent by a client.
    request_messages: CounterFamily<GrpcMethodLabels>,
    /// Messages carried by response bodies: sent by a server, received by a client.
    response_messages: CounterFamily<GrpcMethodLabels>,
}

impl SideFamilies {
    pub(crate) fn new(metrics: &GrpcMetrics, side: Side) -> Self {
        match side {
            Side::Server => Self {
                started: metrics.requests_started.clone(),
                handled: metrics.requests.clone(),
                duration: metrics.request_duration.clone(),
                active: Some(metrics.streams_active.clone()),
                request_messages: metrics.messages_received.clone(),
                response_messages: metrics.messages_sent.clone(),
            },
            Side::Client => Self {
                started: metrics.client_requests_started.clone(),
                handled: metrics.client_requests.clone(),
                duration: metrics.client_request_duration.clone(),
                active: None,
                request_messages: metrics.client_messages_sent.clone(),
                response_messages: metrics.client_messages_received.clone(),
            },
        }
    }
}

/// Handles for one method, resolved once when the method is first seen.
pub(crate) struct MethodHandles {
    pub(crate) service: SharedStr,
    pub(crate) method: SharedStr,
    pub(crate) started: Counter,
    pub(crate) active: Option<Gauge>,
    pub(crate) duration: Histogram,
    pub(crate) request_messages: Counter,
    pub(crate) response_messages: Counter,
    /// `handled` series by code index, created on the first call that ends
    /// with that code, so that only codes that happen are exposed.
    handled: Box<[OnceLock<Counter>]>,
    handled_family: CounterFamily<GrpcRequestLabels>,
}

impl MethodHandles {
    pub(crate) fn new(families: &SideFamilies, service: &str, method: &str) -> Self {
        let labels = GrpcMethodLabels {
            service: SharedStr::from(service),
            method: SharedStr::from(method),
        };
        Self {
            started: families.started.get_or_create(&labels).clone(),
            active: families
                .active
                .as_ref()
                .map(|f| f.get_or_create(&labels).clone()),
            duration: families.duration.get_or_create(&labels).clone(),
            request_messages: families.request_messages.get_or_create(&labels).clone(),
            response_messages: families.response_messages.get_or_create(&labels).clone(),
            handled: GrpcCode::ALL.iter().map(|_| OnceLock::new()).collect(),
            handled_family: families.handled.clone(),
            service: labels.service,
            method: labels.method,
        }
    }

    /// Whether these are the handles of `service`/`method`.
    #[inline]
    pub(crate) fn is(&self, service: &str, method: &str) -> bool {
        *self.method == *method && *self.service == *service
    }

    /// The `handled` counter for `code`.
    #[inline]
    pub(crate) fn handled(&self, code: GrpcCode) -> Option<&Counter> {
        let slot = self.handled.get(code.index())?;
        Some(slot.get_or_init(|| {
            self.handled_family
                .get_or_create(&GrpcRequestLabels {
                    service: self.service.clone(),
                    method: self.method.clone(),
                    status: code,
                })
                .clone()
        }))
    }
}

impl fmt::Debug for MethodHandles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodHandles")
            .field("service", &self.service)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}
