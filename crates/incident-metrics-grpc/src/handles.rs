//! The pre-registered handles of one `(service, method)` pair, for one side
//! (server or client) of the call.

use std::fmt;
use std::sync::OnceLock;

use incident_metrics_catalog::grpc::{GrpcCode, GrpcMethodLabels, GrpcMetrics, GrpcRequestLabels};
use incident_metrics_catalog::{
    CounterFamily, ExemplarCounterFamily, GaugeFamily, HistogramFamily,
};
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, ExemplarCounter, Histogram, SharedStr};

/// The label of `label_values_folded_total` that counts calls whose
/// `(service, method)` was folded into `other`/`other`.
pub(crate) const FOLDED_LABEL: &str = "grpc_method";

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
    handled: ExemplarCounterFamily<GrpcRequestLabels>,
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

    /// The most methods the side's families hold series for: the largest
    /// of their configured cardinality limits (`cardinality_limit`, or the
    /// family's entry in `cardinality_limits`), so that every method the
    /// table admits can still get its own series in some family.
    pub(crate) fn method_limit(&self) -> usize {
        let limits = [
            self.started.limit(),
            self.handled.limit(),
            self.duration.limit(),
            self.request_messages.limit(),
            self.response_messages.limit(),
        ];
        let active = self.active.as_ref().map_or(0, GaugeFamily::limit);
        limits.into_iter().fold(active, usize::max)
    }

    /// The counter of methods folded into `other`, in the registry's
    /// `label_values_folded_total{label="grpc_method"}`.
    pub(crate) fn folded(&self) -> Counter {
        self.started.fold_counters().counter(FOLDED_LABEL)
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
    /// `handled` series by code, created on the first call that ends with
    /// that code, so that only codes that happen are exposed.
    handled: ByLabel<GrpcCode, OnceLock<ExemplarCounter>>,
    handled_family: ExemplarCounterFamily<GrpcRequestLabels>,
}

impl MethodHandles {
    /// The handles of `[service, method]`, as the method table stores them.
    pub(crate) fn new(families: &SideFamilies, [service, method]: &[SharedStr; 2]) -> Self {
        let labels = GrpcMethodLabels {
            service: service.clone(),
            method: method.clone(),
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
            handled: ByLabel::new(|_| OnceLock::new()),
            handled_family: families.handled.clone(),
            service: labels.service,
            method: labels.method,
        }
    }

    /// The `handled` counter for `code`.
    #[inline]
    pub(crate) fn handled(&self, code: GrpcCode) -> &ExemplarCounter {
        self.handled.get(code).get_or_init(|| {
            self.handled_family
                .get_or_create(&GrpcRequestLabels {
                    service: self.service.clone(),
                    method: self.method.clone(),
                    status: code,
                })
                .clone()
        })
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
