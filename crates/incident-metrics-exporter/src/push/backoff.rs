//! Capped exponential backoff with jitter, for retrying remote-write
//! requests.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The delays between retries: `min`, `2 min`, `4 min`, ... capped at `max`,
/// each drawn at random from its upper half (equal jitter), so that many
/// senders recovering from one outage do not retry in step.
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

    /// The ceiling of the next delay, before jitter.
    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The next delay, within `[ceiling / 2, ceiling]`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            random_u64() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
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
    fn delays_grow_stay_within_bounds_and_reset() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut backoff = Backoff::new(min, max);
        let ceilings = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for ceiling in ceilings {
            let ceiling = Duration::from_millis(ceiling);
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        for _ in 0..100 {
            assert!(backoff.next_delay() <= max);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= min);
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(Duration::from_secs(3_600), Duration::from_secs(3_600));
        for _ in 0..200 {
            assert!(backoff.next_delay() <= Duration::from_secs(3_600));
        }
        let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.next_delay(), Duration::ZERO);
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: std::collections::HashSet<_> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        assert!(delays.len() > 1, "{delays:?}");
    }
}
