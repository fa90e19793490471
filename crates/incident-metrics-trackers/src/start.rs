//! [`Start`]: when a tracked operation started; nothing at all for a
//! tracker that records nothing, which so never reads the clock.

use std::time::Duration;

use quanta::Instant;

/// The start of a tracked operation, `None` for a tracker that records
/// nothing (metrics disabled, or no series to record into).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Start(Option<Instant>);

impl Start {
    /// No start: the tracker records nothing and reads no clock.
    pub(crate) const NONE: Self = Self(None);

    /// Now.
    #[inline]
    pub(crate) fn now() -> Self {
        Self(Some(Instant::now()))
    }

    /// The time from the start to `now` (zero without a start).
    #[inline]
    pub(crate) fn until(self, now: Instant) -> Duration {
        self.0
            .map_or(Duration::ZERO, |start| now.saturating_duration_since(start))
    }

    /// The time since the start (zero, and no clock read, without one).
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        match self.0 {
            Some(start) => start.elapsed(),
            None => Duration::ZERO,
        }
    }
}
