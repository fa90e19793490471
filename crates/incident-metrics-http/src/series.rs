//! [`Series`]: the handles of one (route, method), resolved once.

use std::fmt;
use std::sync::OnceLock;

use incident_metrics_catalog::CounterFamily;
use incident_metrics_catalog::http::{HttpRequestLabels, HttpRouteLabels, HttpStatus};
use incident_metrics_core::Histogram;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::prometheus_client::metrics::gauge::Gauge;

use crate::route::SeriesSource;
use crate::status::{self, SLOTS};
use crate::timing::DurationEnd;

/// Everything a request of one (route, method) records into, with no lookup.
pub(crate) struct Series {
    labels: HttpRouteLabels,
    requests: CounterFamily<HttpRequestLabels>,
    /// One counter per common status, created on first use.
    by_status: [OnceLock<Counter>; SLOTS],
    pub(crate) duration: Histogram,
    pub(crate) request_size: Histogram,
    pub(crate) response_size: Histogram,
    pub(crate) in_flight: Gauge,
    pub(crate) active: Gauge,
    pub(crate) duration_end: DurationEnd,
}

impl Series {
    pub(crate) fn new(source: &SeriesSource, labels: HttpRouteLabels) -> Self {
        let m = &source.metrics;
        Self {
            duration: m.request_duration.get_or_create_owned(&labels),
            request_size: m.request_size.get_or_create_owned(&labels),
            response_size: m.response_size.get_or_create_owned(&labels),
            requests: m.requests.clone(),
            by_status: std::array::from_fn(|_| OnceLock::new()),
            in_flight: m.requests_in_flight.clone(),
            active: m.connections_active.clone(),
            duration_end: source.duration_end,
            labels,
        }
    }

    /// Counts one request that ended with `status`.
    #[inline]
    pub(crate) fn count(&self, status: HttpStatus) {
        match status::slot(status) {
            Some(i) => {
                self.by_status[i]
                    .get_or_init(|| {
                        self.requests
                            .get_or_create_owned(&self.request_labels(status))
                    })
                    .inc();
            }
            None => {
                self.requests
                    .get_or_create(&self.request_labels(status))
                    .inc();
            }
        }
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
