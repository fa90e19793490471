//! [`Record`]: one request's state, from its arrival at the layer to the end
//! of its response body, and [`RequestSize`], its request body's bytes.
//!
//! Every transition is a method here; the future and the bodies only call
//! them. `Drop` does the final accounting, so that every way a request can
//! end (response, error, cancellation, panic, body dropped half-way) is
//! counted exactly once and every gauge comes back down.

use std::sync::Arc;

use incident_metrics_catalog::http::HttpStatus;
use incident_metrics_core::{Histogram, PanicFlag, TraceContext};

use crate::series::Series;
use crate::timing::DurationEnd;

/// A recorder that counts the bytes of a body as its frames pass.
pub(crate) trait CountBytes {
    /// Adds `n` bytes.
    fn add_bytes(&mut self, n: usize);
}

/// Where a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The inner service has not answered: dropping now means the client
    /// went away (`cancelled`) or the handler panicked (`500`).
    Waiting,
    /// The inner service failed; counted as `500`, no body.
    Failed,
    /// The response head was counted; its body is streaming.
    Streaming,
}

/// One request from its arrival at the layer to the end of its response
/// body. Holds `http_connections_active` and, until the response head,
/// `http_requests_in_flight` up.
pub(crate) struct Record {
    series: Arc<Series>,
    /// Set when the request is sampled: its durations and sizes are observed.
    start: Option<quanta::Instant>,
    /// The request's trace, attached as an exemplar to its count and its
    /// duration: set only while exemplars are on and the request carries a
    /// sampled trace.
    trace: Option<TraceContext>,
    response_bytes: u64,
    state: State,
    duration_end: DurationEnd,
    /// Set while the inner future is polled: a record dropped with it set
    /// was dropped by (or after) a panic in the handler.
    panic: PanicFlag,
}

impl Record {
    /// Starts recording a request whose body `request_is_empty` or not;
    /// also returns the recorder of its body's size when it must be
    /// counted as it streams.
    #[inline]
    pub(crate) fn start(
        series: Arc<Series>,
        sampled: bool,
        duration_end: DurationEnd,
        request_is_empty: bool,
        trace: Option<TraceContext>,
    ) -> (Self, Option<RequestSize>) {
        series.in_flight.inc();
        series.active.inc();
        let size = match (sampled, request_is_empty) {
            (false, _) => None,
            // No body (a typical GET): its size is known now, and the body
            // needs no recorder of its own.
            (true, true) => {
                series.request_size.observe(0.0);
                None
            }
            (true, false) => Some(RequestSize {
                histogram: series.request_size.clone(),
                bytes: 0,
            }),
        };
        let record = Self {
            start: sampled.then(quanta::Instant::now),
            trace,
            series,
            response_bytes: 0,
            state: State::Waiting,
            duration_end,
            panic: PanicFlag::default(),
        };
        (record, size)
    }

    /// Polls the inner future through `poll`, noting a panic if it unwinds.
    #[inline]
    pub(crate) fn watch<R>(&mut self, poll: impl FnOnce() -> R) -> R {
        self.panic.watch(poll)
    }

    /// The inner service answered with `status`: counts the request; the
    /// record goes on with the response body.
    #[inline]
    pub(crate) fn respond(mut self, status: u16) -> Self {
        self.answered(HttpStatus::code(status));
        self.state = State::Streaming;
        self
    }

    /// The inner service failed: counts the request as `500` and finishes.
    #[inline]
    pub(crate) fn fail(mut self) {
        self.answered(HttpStatus::code(500));
        self.state = State::Failed;
    }

    #[inline]
    fn answered(&self, status: HttpStatus) {
        let series = &*self.series;
        series.count(status, self.trace.as_ref());
        series.in_flight.dec();
        if let (DurationEnd::FirstByte, Some(start)) = (self.duration_end, self.start) {
            series.observe_duration(elapsed(start), self.trace.as_ref());
        }
    }
}

impl CountBytes for Record {
    #[inline]
    fn add_bytes(&mut self, n: usize) {
        self.response_bytes = self.response_bytes.saturating_add(n as u64);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let series = &*self.series;
        if self.state == State::Waiting {
            // No response: the future was dropped (client gone) or unwound
            // through us (a panic in the handler, or in `call`).
            let status = if self.panic.panicked() {
                HttpStatus::code(500)
            } else {
                HttpStatus::Cancelled
            };
            series.count(status, self.trace.as_ref());
            series.in_flight.dec();
        }
        series.active.dec();
        if let Some(start) = self.start {
            if self.state != State::Streaming || self.duration_end == DurationEnd::LastByte {
                series.observe_duration(elapsed(start), self.trace.as_ref());
            }
            if self.state == State::Streaming {
                #[allow(clippy::cast_precision_loss)] // exact below 2^53 bytes
                series.response_size.observe(self.response_bytes as f64);
            }
        }
    }
}

#[inline]
fn elapsed(start: quanta::Instant) -> f64 {
    quanta::Instant::now().duration_since(start).as_secs_f64()
}

/// Counts the bytes of a sampled request body and observes them into
/// `http_request_size_bytes` when the body ends or is dropped.
pub(crate) struct RequestSize {
    histogram: Histogram,
    bytes: u64,
}

impl CountBytes for RequestSize {
    #[inline]
    fn add_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }
}

impl Drop for RequestSize {
    fn drop(&mut self) {
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 bytes
        self.histogram.observe(self.bytes as f64);
    }
}
