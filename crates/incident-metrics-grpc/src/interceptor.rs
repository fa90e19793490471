//! [`GrpcRequestMetrics`]: the manual API, for code outside a tower stack.

use incident_metrics_catalog::Catalog;

use crate::guard::RequestGuard;
use crate::handles::Side;
use crate::recorder::Recorder;
use incident_metrics_core::TraceContext;

/// Starts [`RequestGuard`]s by hand, for calls that no
/// [`GrpcMetricsLayer`](crate::GrpcMetricsLayer) sees:
/// `start_request(service, method)` at the start of a call, then
/// [`success`](RequestGuard::success), [`error`](RequestGuard::error) or a
/// drop (cancelled) at its end. [`server`](Self::server) records into the
/// server families (`grpc_requests_total`, `grpc_request_duration_seconds`,
/// `grpc_streams_active`, `grpc_requests_started_total`),
/// [`client`](Self::client) into the client families. It is not a tonic
/// `Interceptor` (which sees only a request's metadata, never its end). Message counts need
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
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_grpc::GrpcRequestMetrics;
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let grpc = &catalog.grpc;
/// let requests = GrpcRequestMetrics::server(&catalog);
///
/// let guard = requests.start_request("IncidentService", "CreateIncident");
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
pub struct GrpcRequestMetrics {
    recorder: Recorder,
}

impl GrpcRequestMetrics {
    /// Records server calls into the gRPC families of `catalog`, with the
    /// sample rate and the on/off switch of the configuration the catalog
    /// was registered under.
    pub fn server(catalog: &Catalog) -> Self {
        Self {
            recorder: Recorder::new(&catalog.grpc, catalog.config(), Side::Server),
        }
    }

    /// Records client calls into the `grpc_client_*` families of `catalog`.
    pub fn client(catalog: &Catalog) -> Self {
        Self {
            recorder: Recorder::new(&catalog.grpc, catalog.config(), Side::Client),
        }
    }

    /// Starts a call to `method` of `service`.
    #[inline]
    pub fn start_request(&self, service: &str, method: &str) -> RequestGuard {
        self.recorder.start(service, method, None, None)
    }

    /// Starts a call to `method` of `service` whose trace is `trace`: while
    /// exemplars are on (`exemplars = true`), a sampled `trace` becomes the
    /// exemplar of the call's count and of its duration's bucket. With
    /// exemplars off, or an unsampled trace, this is
    /// [`start_request`](Self::start_request).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{MetricsConfig, Registry, TraceContext};
    /// use incident_metrics_grpc::GrpcRequestMetrics;
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new().with_exemplars(true))?;
    /// let catalog = Catalog::register(&mut registry)?;
    /// let requests = GrpcRequestMetrics::server(&catalog);
    /// let trace = TraceContext::from_traceparent(
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    /// );
    /// requests.start_request_traced("pkg.Svc", "Get", trace.as_ref()).success();
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(
    ///     &mut text,
    ///     registry.as_prometheus(),
    /// )?;
    /// let series = r#"llm_incident_manager_grpc_requests_total{service="pkg.Svc",method="Get",status="OK"}"#;
    /// let exemplar = r#"{trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 1.0 "#;
    /// assert!(text.contains(&format!("{series} 1 # {exemplar}")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn start_request_traced(
        &self,
        service: &str,
        method: &str,
        trace: Option<&TraceContext>,
    ) -> RequestGuard {
        let trace = trace
            .filter(|t| t.is_sampled() && self.recorder.exemplars_on())
            .copied();
        self.recorder.start(service, method, None, trace)
    }
}
