//! [`RequestGuard`]: one call in progress, recorded exactly once.

use std::fmt;
use std::sync::Arc;

use incident_metrics_catalog::grpc::GrpcCode;
use incident_metrics_core::{PanicFlag, TraceContext};

use crate::handles::MethodHandles;

/// One gRPC call in progress. It has counted the call as started (and, on a
/// server, as an active stream); it counts the call as handled with a status
/// exactly once: on [`success`](Self::success), [`error`](Self::error) or
/// [`finish`](Self::finish), or when it is dropped.
///
/// Dropping a guard that was not finished records `CANCELLED`, since the
/// call was abandoned before it ended, or `DEADLINE_EXCEEDED` when the
/// call's deadline (`grpc-timeout`) had passed by then; `INTERNAL` when the
/// code it watched panicked, or it is dropped while its thread panics
/// (core's [`PanicFlag`], the HTTP layer's strategy too).
///
/// Get one from [`GrpcRequestMetrics::start_request`](crate::GrpcRequestMetrics::start_request);
/// [`GrpcMetricsLayer`](crate::GrpcMetricsLayer) uses the same guard inside.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_grpc::{GrpcCode, GrpcRequestMetrics};
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let interceptor = GrpcRequestMetrics::server(&catalog);
///
/// interceptor.start_request("incident.v1.IncidentService", "GetIncident").success();
/// interceptor
///     .start_request("incident.v1.IncidentService", "GetIncident")
///     .error(GrpcCode::NotFound);
/// drop(interceptor.start_request("incident.v1.IncidentService", "GetIncident"));
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(
///     &mut text,
///     registry.as_prometheus(),
/// )?;
/// for status in ["OK", "NOT_FOUND", "CANCELLED"] {
///     assert!(text.contains(&format!(
///         "llm_incident_manager_grpc_requests_total{{service=\"incident.v1.IncidentService\",\
///          method=\"GetIncident\",status=\"{status}\"}} 1\n"
///     )));
/// }
/// assert!(text.contains(
///     "llm_incident_manager_grpc_streams_active{service=\"incident.v1.IncidentService\",\
///      method=\"GetIncident\"} 0\n"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard at once records the call as cancelled"]
pub struct RequestGuard {
    handles: Option<Arc<MethodHandles>>,
    start: Option<quanta::Instant>,
    deadline: Option<quanta::Instant>,
    /// The call's trace, attached as an exemplar to its count and duration:
    /// set only while exemplars are on and the call carries a sampled trace.
    trace: Option<TraceContext>,
    panic: PanicFlag,
}

impl RequestGuard {
    /// Starts a call on `handles`: counts it as started and active.
    #[inline]
    pub(crate) fn start(
        handles: Arc<MethodHandles>,
        sampled: bool,
        timeout: Option<std::time::Duration>,
        trace: Option<TraceContext>,
    ) -> Self {
        handles.started.inc();
        if let Some(active) = &handles.active {
            active.inc();
        }
        let now = (sampled || timeout.is_some()).then(quanta::Instant::now);
        Self {
            deadline: timeout.and_then(|t| now.and_then(|n| n.checked_add(t))),
            start: if sampled { now } else { None },
            handles: Some(handles),
            trace,
            panic: PanicFlag::default(),
        }
    }

    /// A guard that records nothing, for a disabled configuration.
    pub(crate) fn disabled() -> Self {
        Self {
            handles: None,
            start: None,
            deadline: None,
            trace: None,
            panic: PanicFlag::default(),
        }
    }

    /// Records the call as handled with status `OK`.
    pub fn success(self) {
        self.finish(GrpcCode::Ok);
    }

    /// Records the call as handled with status `code`.
    pub fn error(self, code: GrpcCode) {
        self.finish(code);
    }

    /// Records the call as handled with status `code` (`OK` included).
    pub fn finish(mut self, code: GrpcCode) {
        self.record(code);
    }

    /// Whether this guard still has a call to record.
    pub fn is_pending(&self) -> bool {
        self.handles.is_some()
    }

    /// Runs `f` (a poll of the handler's future or body), so that the
    /// guard records `INTERNAL` if it unwinds.
    #[inline]
    pub(crate) fn watch<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.panic.watch(f)
    }

    pub(crate) fn handles(&self) -> Option<&Arc<MethodHandles>> {
        self.handles.as_ref()
    }

    /// Records the outcome once; later calls do nothing. A `CANCELLED`
    /// after the deadline is `DEADLINE_EXCEEDED` (tonic reports its own
    /// deadlines as `CANCELLED`).
    pub(crate) fn record(&mut self, code: GrpcCode) {
        self.record_with(code, code == GrpcCode::Cancelled);
    }

    /// Records a call that failed without a status (`code` is what is
    /// recorded unless the deadline has passed, which explains the failure).
    pub(crate) fn record_failure(&mut self, code: GrpcCode) {
        self.record_with(code, true);
    }

    fn record_with(&mut self, code: GrpcCode, deadline_explains: bool) {
        let Some(handles) = self.handles.take() else {
            return;
        };
        let mut now = None;
        let code = match self.deadline {
            Some(deadline) if deadline_explains => {
                let t = *now.get_or_insert_with(quanta::Instant::now);
                if t >= deadline {
                    GrpcCode::DeadlineExceeded
                } else {
                    code
                }
            }
            _ => code,
        };
        let handled = handles.handled(code);
        handled.inc_traced(self.trace.as_ref());
        if let Some(active) = &handles.active {
            active.dec();
        }
        if let Some(start) = self.start {
            let end = now.unwrap_or_else(quanta::Instant::now);
            let seconds = end.saturating_duration_since(start).as_secs_f64();
            handles
                .duration
                .observe_traced(seconds, self.trace.as_ref());
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.panic.panicked() {
            self.record_with(GrpcCode::Internal, false);
        } else {
            self.record(GrpcCode::Cancelled);
        }
    }
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard")
            .field("method", &self.handles)
            .field("timed", &self.start.is_some())
            .field("trace", &self.trace)
            .finish()
    }
}
