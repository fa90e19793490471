//! [`DurationEnd`]: where a request's duration stops.

/// The moment `http_request_duration_seconds` stops the clock.
///
/// Both start when the request reaches the layer. The clock is `quanta`'s
/// TSC-based `Instant` (about 12 ns per read here, against about 30 ns for
/// `std::time::Instant::now()`), read only for sampled requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationEnd {
    /// When the last byte of the response body has been handed to the
    /// server, or the body is dropped (client gone): the whole exchange,
    /// streaming included. The default.
    #[default]
    LastByte,
    /// When the inner service produced the response head (status and
    /// headers), before any body byte: time to first byte, as most other
    /// HTTP metrics middleware measures.
    FirstByte,
}
