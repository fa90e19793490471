//! [`Sampler`]: the lock-free coin that thins costly observations.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

/// Decides, per observation, whether a sampled histogram records it.
///
/// The decision is one step of a thread-local xorshift generator compared
/// with a threshold: no lock, no allocation, no shared cache line. A rate of
/// 1.0 always records and 0.0 never does, without touching the generator.
/// Only histograms are sampled: counters count every event.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::Sampler;
///
/// assert!(Sampler::new(1.0).sample());
/// assert!(!Sampler::new(0.0).sample());
/// let half = Sampler::new(0.5);
/// let hits = (0..10_000).filter(|_| half.sample()).count();
/// assert!((4_000..6_000).contains(&hits));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampler {
    threshold: Threshold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Threshold {
    Always,
    Never,
    Below(u64),
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // A random per-thread seed from std's hasher keys; never zero, which
    // would stall xorshift.
    RandomState::new().hash_one(0_u8) | 1
}

impl Sampler {
    /// A sampler that records the share `rate` of observations. Values
    /// outside 0..=1 are clamped and NaN records nothing; validated
    /// configurations never hold them.
    pub fn new(rate: f64) -> Self {
        let threshold = if rate >= 1.0 {
            Threshold::Always
        } else if rate > 0.0 {
            // rate is in (0, 1): the product is in (0, 2^64), truncated.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let below = (rate * 18_446_744_073_709_551_616.0) as u64;
            Threshold::Below(below)
        } else {
            Threshold::Never
        };
        Self { threshold }
    }

    /// Whether this observation is recorded.
    #[inline]
    pub fn sample(&self) -> bool {
        match self.threshold {
            Threshold::Always => true,
            Threshold::Never => false,
            Threshold::Below(below) => next() < below,
        }
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new(1.0)
    }
}

#[inline]
fn next() -> u64 {
    STATE.with(|state| {
        // xorshift64* (Vigna).
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_honoured() {
        for rate in [0.1, 0.25, 0.9] {
            let s = Sampler::new(rate);
            let n = 200_000;
            let hits = (0..n).filter(|_| s.sample()).count() as f64 / f64::from(n);
            assert!((hits - rate).abs() < 0.01, "rate {rate}: {hits}");
        }
        assert!((0..1000).all(|_| Sampler::new(1.0).sample()));
        assert!((0..1000).all(|_| !Sampler::new(0.0).sample()));
        assert!((0..1000).all(|_| !Sampler::new(f64::NAN).sample()));
    }
}
