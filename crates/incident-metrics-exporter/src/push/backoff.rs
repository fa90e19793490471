//! Capped exponential backoff with jitter, for retrying remote-write
//! requests, after Prometheus's own sender.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The delays between retries.
///
/// Each retry has a floor: `min`, `2 min`, `4 min`, ... capped at `max`
/// (Prometheus's `min_backoff` doubling up to `max_backoff`). A delay is
/// never below its floor, whatever the receiver says: a `Retry-After` above
/// the floor is honoured (up to `max`), one below it (`0`, a date in the
/// past) or a missing or unreadable one gives the floor. A random jitter of
/// up to half the delay is added (never past `max`), so that many senders
/// recovering from one outage do not retry in step.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min: min.min(max),
            max,
            attempt: 0,
        }
    }

    /// The floor of the next delay: `min × 2^attempt`, capped at `max`.
    pub(crate) fn floor(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The next delay, given the receiver's `Retry-After` if it sent a
    /// readable one: within `[base, min(1.5 base, max)]`, where `base` is
    /// the floor or `retry_after` (capped at `max`), whichever is longer.
    pub(crate) fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let floor = self.floor();
        self.attempt = self.attempt.saturating_add(1);
        let base = floor.max(retry_after.unwrap_or(Duration::ZERO).min(self.max));
        let spread = u64::try_from((base / 2).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            random_u64() % spread.saturating_add(1)
        };
        // `base <= max`, so the result is never below `base`.
        base.saturating_add(Duration::from_nanos(jitter))
            .min(self.max)
    }

    /// Starts over after a success.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A random number from the standard library's randomly keyed hasher: good
/// enough for jitter, with no dependency.
fn random_u64() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_double_up_to_max_and_delays_never_go_below_them() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut backoff = Backoff::new(min, max);
        let floors = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for floor in floors {
            let floor = Duration::from_millis(floor);
            assert_eq!(backoff.floor(), floor);
            let delay = backoff.next_delay(None);
            assert!(
                delay >= floor && delay <= (floor * 3 / 2).min(max),
                "{delay:?} vs {floor:?}"
            );
        }
        for _ in 0..100 {
            let delay = backoff.next_delay(None);
            assert_eq!(delay, max);
        }
        backoff.reset();
        assert_eq!(backoff.floor(), min);
    }

    #[test]
    fn retry_after_is_raised_to_the_floor_and_capped_at_max() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut backoff = Backoff::new(min, max);
        // `Retry-After: 0` waits the floor, and the floor still doubles.
        assert!(backoff.next_delay(Some(Duration::ZERO)) >= min);
        assert!(backoff.next_delay(Some(Duration::ZERO)) >= min * 2);
        // A value above the floor is honoured.
        let delay = backoff.next_delay(Some(Duration::from_secs(1)));
        assert!(delay >= Duration::from_secs(1), "{delay:?}");
        // One above `max` waits `max`.
        assert_eq!(backoff.next_delay(Some(Duration::from_secs(3_600))), max);
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(Duration::from_secs(3_600), Duration::from_secs(3_600));
        for _ in 0..200 {
            assert_eq!(
                backoff.next_delay(Some(Duration::MAX)),
                Duration::from_secs(3_600)
            );
        }
        let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.next_delay(None), Duration::ZERO);
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX);
        for _ in 0..40 {
            assert_eq!(huge.next_delay(None), Duration::MAX);
        }
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: std::collections::HashSet<_> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(2)).next_delay(None))
            .collect();
        assert!(delays.len() > 1, "{delays:?}");
    }
}
