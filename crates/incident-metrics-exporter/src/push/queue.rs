//! [`SampleQueue`]: the bounded queue of samples waiting to be sent.

use std::collections::VecDeque;

use super::snapshot::{Series, Value};
use super::wire::Exemplar;

/// A sample (a float or a native histogram) waiting to be sent, with the
/// exemplar that goes with it.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub(crate) series: Series,
    pub(crate) value: Value,
    pub(crate) timestamp_ms: i64,
    pub(crate) exemplar: Option<Box<Exemplar>>,
}

impl Queued {
    /// Whether this is a native histogram.
    pub(crate) fn is_native(&self) -> bool {
        matches!(self.value, Value::Native(_))
    }
}

/// Samples in the order they were taken, at most `capacity` of them counting
/// the batch in flight. When full, the oldest waiting samples are dropped
/// first; the batch in flight is never dropped while it is being sent, but
/// it is when it comes back for a retry and the queue is full.
#[derive(Debug)]
pub(crate) struct SampleQueue {
    waiting: VecDeque<Queued>,
    in_flight: usize,
    capacity: usize,
}

impl SampleQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            waiting: VecDeque::new(),
            in_flight: 0,
            capacity: capacity.max(1),
        }
    }

    /// Samples held, the batch in flight included.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len() + self.in_flight
    }

    /// Whether no sample waits to be sent (a batch may be in flight).
    pub(crate) fn nothing_waiting(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Appends `samples`; returns how many old samples were dropped.
    pub(crate) fn push(&mut self, samples: impl IntoIterator<Item = Queued>) -> usize {
        self.waiting.extend(samples);
        self.enforce_capacity()
    }

    /// Takes the oldest `max` waiting samples out to send them.
    pub(crate) fn take_batch(&mut self, max: usize) -> Vec<Queued> {
        let n = max.min(self.waiting.len());
        let batch: Vec<_> = self.waiting.drain(..n).collect();
        self.in_flight += batch.len();
        batch
    }

    /// The batch in flight is done with: sent, or rejected for good.
    pub(crate) fn finish_batch(&mut self, batch_len: usize) {
        self.in_flight = self.in_flight.saturating_sub(batch_len);
    }

    /// The batch in flight failed and will be retried: it goes back to the
    /// front. Returns how many samples were dropped to respect the capacity.
    pub(crate) fn return_batch(&mut self, batch: Vec<Queued>) -> usize {
        self.in_flight = self.in_flight.saturating_sub(batch.len());
        for sample in batch.into_iter().rev() {
            self.waiting.push_front(sample);
        }
        self.enforce_capacity()
    }

    /// Drops every waiting native histogram; returns how many.
    pub(crate) fn drop_native(&mut self) -> usize {
        let before = self.waiting.len();
        self.waiting.retain(|q| !q.is_native());
        before - self.waiting.len()
    }

    /// Drops every waiting sample; returns how many.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.waiting.len();
        self.waiting.clear();
        n
    }

    fn enforce_capacity(&mut self) -> usize {
        let excess = self
            .len()
            .saturating_sub(self.capacity)
            .min(self.waiting.len());
        self.waiting.drain(..excess);
        excess
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::wire::Label;

    fn samples(range: std::ops::Range<i64>) -> Vec<Queued> {
        let series: Series = vec![Label {
            name: "__name__".into(),
            value: "x".into(),
        }]
        .into();
        range
            .map(|t| Queued {
                series: series.clone(),
                value: Value::Float(t as f64),
                timestamp_ms: t,
                exemplar: None,
            })
            .collect()
    }

    fn times(batch: &[Queued]) -> Vec<i64> {
        batch.iter().map(|q| q.timestamp_ms).collect()
    }

    #[test]
    fn a_queued_sample_takes_48_bytes() {
        // The series (shared), the value or a boxed native histogram, the
        // timestamp and a boxed exemplar: docs/push.md and
        // MAX_QUEUE_CAPACITY quote it.
        assert_eq!(std::mem::size_of::<Queued>(), 48);
    }

    #[test]
    fn native_histograms_are_dropped_alone() {
        let mut q = SampleQueue::new(10);
        q.push(samples(0..3));
        let mut native = samples(3..5);
        for n in &mut native {
            n.value = Value::Native(Box::default());
        }
        q.push(native);
        assert_eq!(q.drop_native(), 2);
        assert_eq!(times(&q.take_batch(10)), [0, 1, 2]);
    }

    #[test]
    fn drops_the_oldest_first_and_counts() {
        let mut q = SampleQueue::new(5);
        assert_eq!(q.push(samples(0..3)), 0);
        assert_eq!(q.push(samples(3..8)), 3);
        assert_eq!(q.len(), 5);
        assert_eq!(times(&q.take_batch(10)), [3, 4, 5, 6, 7]);
    }

    #[test]
    fn the_batch_in_flight_counts_and_is_dropped_only_when_returned() {
        let mut q = SampleQueue::new(5);
        q.push(samples(0..4));
        let batch = q.take_batch(3);
        assert_eq!(times(&batch), [0, 1, 2]);
        assert_eq!(q.len(), 4);
        // Full: the oldest waiting sample (3) goes, not the batch in flight.
        assert_eq!(q.push(samples(4..6)), 1);
        assert_eq!(q.len(), 5);
        // The batch fails and comes back at the front; the next overflow
        // drops its samples, the oldest, first.
        assert_eq!(q.return_batch(batch), 0);
        assert_eq!(q.push(samples(6..8)), 2);
        assert_eq!(q.len(), 5);
        assert_eq!(times(&q.take_batch(10)), [2, 4, 5, 6, 7]);
    }

    #[test]
    fn finished_batches_free_room_and_nothing_is_lost_within_capacity() {
        let mut q = SampleQueue::new(10);
        q.push(samples(0..6));
        let batch = q.take_batch(4);
        assert_eq!(q.push(samples(6..10)), 0);
        assert_eq!(q.return_batch(batch), 0);
        let batch = q.take_batch(4);
        q.finish_batch(batch.len());
        assert_eq!(q.len(), 6);
        assert_eq!(times(&q.take_batch(100)), [4, 5, 6, 7, 8, 9]);
        assert!(q.nothing_waiting());
        q.push(samples(0..2));
        assert_eq!(q.clear(), 2);
    }
}
