//! [`MetricsInterceptor`]: the manual API, for code outside a tower stack.

use incident_metrics_catalog::grpc::GrpcMetrics;
use incident_metrics_core::MetricsConfig;

use crate::guard::RequestGuard;
use crate::handles::Side;
use crate::recorder::Recorder;

/// Starts [`RequestGuard`]s by hand, in the manner of a gRPC interceptor:
/// `start_request(service, method)` at the start of a call, then
/// [`success`](RequestGuard::success), [`error`](RequestGuard::error) or a
/// drop (cancelled) at its end. Records into the server families
/// (`grpc_requests_total`, `grpc_request_duration_seconds`,
/// `grpc_streams_active`, `grpc_requests_started_total`); see
/// [`client`](Self::client) for the client families. Message counts need
/// the bodies and so come only from [`GrpcMetricsLayer`](crate::GrpcMetricsLayer).
///
/// Cloning is cheap and clones share the method table. The same limits as
/// the layer apply: names that are not protobuf names, and methods past
/// the families' cardinality limit, are counted as `other`/`other` and in
/// `label_values_folded_total{label="grpc_method"}`.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::MetricsRegistry;
/// use incident_metrics_core::MetricsConfig;
/// use incident_metrics_grpc::MetricsInterceptor;
///
/// let registry = MetricsRegistry::new(&MetricsConfig::new())?;
/// let grpc = &registry.metrics().grpc;
/// let interceptor = MetricsInterceptor::new(grpc, registry.config());
///
/// let guard = interceptor.start_request("IncidentService", "CreateIncident");
/// // ... handle the request ...
/// guard.success();
///
/// assert_eq!(
///     grpc.requests_started
///         .get_or_create(&incident_metrics_catalog::grpc::GrpcMethodLabels {
///             service: "IncidentService".into(),
///             method: "CreateIncident".into(),
///         })
///         .get(),
///     1
/// );
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MetricsInterceptor {
    recorder: Recorder,
}

impl MetricsInterceptor {
    /// An interceptor recording server calls into `metrics`, with the sample
    /// rate and the on/off switch of `config`.
    pub fn new(metrics: &GrpcMetrics, config: &MetricsConfig) -> Self {
        Self {
            recorder: Recorder::new(metrics, config, Side::Server),
        }
    }

    /// An interceptor recording client calls (`grpc_client_*` families).
    pub fn client(metrics: &GrpcMetrics, config: &MetricsConfig) -> Self {
        Self {
            recorder: Recorder::new(metrics, config, Side::Client),
        }
    }

    /// Starts a call to `method` of `service`.
    #[inline]
    pub fn start_request(&self, service: &str, method: &str) -> RequestGuard {
        self.recorder.start(service, method, None)
    }
}
