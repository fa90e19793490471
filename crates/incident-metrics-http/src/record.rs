//! The per-request records whose `Drop` does the final accounting, so that
//! every way a request can end (response, error, cancellation, panic, body
//! dropped half-way) is counted exactly once and every gauge comes back down.

use std::sync::Arc;

use incident_metrics_catalog::http::HttpStatus;
use incident_metrics_core::Histogram;

use crate::series::Series;
use crate::timing::DurationEnd;

/// One request from its arrival at the layer to the end of its response
/// body. Holds `http_connections_active` and, until the response head,
/// `http_requests_in_flight` up.
/// A recorder that counts the bytes of a body as its frames pass.
pub(crate) trait CountBytes {
    /// Adds `n` bytes.
    fn add_bytes(&mut self, n: usize);
}

pub(crate) struct Record {
    series: Arc<Series>,
    /// Set when the request is sampled: its durations and sizes are observed.
    start: Option<quanta::Instant>,
    /// True while the inner future is being polled: if the record is dropped
    /// in that state, the poll never returned, so it panicked.
    pub(crate) polling: bool,
    responded: bool,
    /// True once the response body is wrapped: its size is observed.
    has_body: bool,
    response_bytes: u64,
}

impl Record {
    /// Starts recording a request.
    #[inline]
    pub(crate) fn start(series: Arc<Series>, sampled: bool) -> Self {
        series.in_flight.inc();
        series.active.inc();
        Self {
            start: sampled.then(quanta::Instant::now),
            series,
            polling: false,
            responded: false,
            has_body: false,
            response_bytes: 0,
        }
    }

    /// The inner service answered (or failed, as `500`).
    #[inline]
    pub(crate) fn respond(&mut self, status: u16) {
        self.responded = true;
        self.series.count(HttpStatus::code(status));
        self.series.in_flight.dec();
        if let (DurationEnd::FirstByte, Some(start)) = (self.series.duration_end, self.start) {
            self.series
                .duration
                .observe(quanta::Instant::now().duration_since(start).as_secs_f64());
        }
    }

    /// The response has a body whose bytes are counted.
    #[inline]
    pub(crate) fn with_body(&mut self) {
        self.has_body = true;
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
        if !self.responded {
            // No response: the future was dropped (client gone) or unwound
            // through us (a panic in the handler, or in `call`).
            let status = if self.polling || std::thread::panicking() {
                HttpStatus::code(500)
            } else {
                HttpStatus::Cancelled
            };
            series.count(status);
            series.in_flight.dec();
        }
        series.active.dec();
        if let Some(start) = self.start {
            if !self.responded || series.duration_end == DurationEnd::LastByte {
                series
                    .duration
                    .observe(quanta::Instant::now().duration_since(start).as_secs_f64());
            }
            if self.has_body {
                #[allow(clippy::cast_precision_loss)] // exact below 2^53 bytes
                series.response_size.observe(self.response_bytes as f64);
            }
        }
    }
}

/// Counts the bytes of a sampled request body and observes them into
/// `http_request_size_bytes` when the body ends or is dropped.
pub(crate) struct SizeRecord {
    histogram: Histogram,
    bytes: u64,
}

impl SizeRecord {
    pub(crate) fn new(histogram: Histogram) -> Self {
        Self {
            histogram,
            bytes: 0,
        }
    }
}

impl CountBytes for SizeRecord {
    #[inline]
    fn add_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }
}

impl Drop for SizeRecord {
    fn drop(&mut self) {
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 bytes
        self.histogram.observe(self.bytes as f64);
    }
}
