//! [`Series`]: the handles of one (route, method), resolved once.

use std::fmt;
use std::sync::OnceLock;

use incident_metrics_catalog::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus};
use incident_metrics_catalog::{ExemplarCounterFamily, HttpMetrics};
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;
use incident_metrics_core::{ByLabel, ExemplarCounter, Histogram, TraceContext};

use crate::status::CommonStatus;

/// Everything a request of one (route, method) records into, with no lookup.
pub(crate) struct Series {
    labels: HttpRouteLabels,
    requests: ExemplarCounterFamily<HttpRequestLabels>,
    /// One counter per common status, created on first use.
    by_status: ByLabel<CommonStatus, OnceLock<ExemplarCounter>>,
    pub(crate) duration: Histogram,
    pub(crate) request_size: Histogram,
    pub(crate) response_size: Histogram,
    pub(crate) in_flight: Gauge,
    pub(crate) active: Gauge,
}

impl Series {
    pub(crate) fn new(metrics: &HttpMetrics, labels: HttpRouteLabels) -> Self {
        Self {
            duration: metrics.request_duration.get_or_create_owned(&labels),
            request_size: metrics.request_size.get_or_create_owned(&labels),
            response_size: metrics.response_size.get_or_create_owned(&labels),
            requests: metrics.requests.clone(),
            by_status: ByLabel::new(|_| OnceLock::new()),
            in_flight: metrics.requests_in_flight.clone(),
            active: metrics.connections_active.clone(),
            labels,
        }
    }

    /// Counts one request that ended with `status`, with `trace` as the
    /// counter's exemplar when there is one (exemplars on, sampled trace).
    #[inline]
    pub(crate) fn count(&self, status: HttpStatus, trace: Option<&TraceContext>) {
        match CommonStatus::of(status) {
            Some(common) => {
                let counter = self.by_status.get(common).get_or_init(|| {
                    self.requests
                        .get_or_create_owned(&self.request_labels(status))
                });
                counter.inc_traced(trace);
            }
            None => {
                self.requests
                    .get_or_create(&self.request_labels(status))
                    .inc_traced(trace);
            }
        }
    }

    /// Observes a request's duration, with `trace` as its bucket's exemplar
    /// when there is one.
    #[inline]
    pub(crate) fn observe_duration(&self, seconds: f64, trace: Option<&TraceContext>) {
        self.duration.observe_traced(seconds, trace);
    }

    fn request_labels(&self, status: HttpStatus) -> HttpRequestLabels {
        HttpRequestLabels {
            method: self.labels.method,
            path: self.labels.path.clone(),
            status,
        }
    }
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("method", &self.labels.method)
            .field("path", &self.labels.path)
            .finish_non_exhaustive()
    }
}
