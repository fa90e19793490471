//! [`LabelTable`]: the one bounded, set-once, lock-free lookup table from
//! open label values (route templates, gRPC methods, model names) to what
//! is recorded for them, with the one fold policy: past its limit, a new
//! value is folded into [`OVERFLOW_VALUE`] and counted in
//! `label_values_folded_total{label}` ([`FoldCounters`]).

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::SharedStr;

/// The value every label value past a limit is folded into, and the value
/// every label of a bounded family's overflow series takes.
pub const OVERFLOW_VALUE: &str = "other";

/// The labels of `label_values_folded_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct FoldedLabels {
    /// Which limited label folded a value, e.g. `llm_model`, `grpc_method`;
    /// set by code, never from input.
    pub label: SharedStr,
}

/// The counters of `label_values_folded_total{label}`: how many
/// observations had a label value folded into [`OVERFLOW_VALUE`], by label.
///
/// Every [`Registry`](crate::Registry) has one from the start and hands a
/// clone to each bounded family it registers
/// ([`BoundedFamily::fold_counters`](crate::BoundedFamily::fold_counters)),
/// so that any code holding a family can count its folds where the
/// registry exposes them once the family is registered
/// ([`Registry::register_fold_counters`](crate::Registry::register_fold_counters)).
/// Cloning is cheap; clones share their counters.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{FoldCounters, FoldedLabels};
///
/// let folds = FoldCounters::default();
/// folds.counter("llm_model").inc();
/// let same = folds.get_or_create(&FoldedLabels { label: "llm_model".into() });
/// assert_eq!(same.get(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct FoldCounters {
    family: Family<FoldedLabels, Counter>,
}

impl FoldCounters {
    /// The counter of `label`, created at zero on first use.
    pub fn counter(&self, label: &str) -> Counter {
        self.get_or_create(&FoldedLabels {
            label: SharedStr::from(label),
        })
    }

    /// The counter of `labels`, created at zero on first use.
    pub fn get_or_create(&self, labels: &FoldedLabels) -> Counter {
        self.family.get_or_create_owned(labels)
    }

    /// The counter of `labels`, if it was created.
    pub fn get(&self, labels: &FoldedLabels) -> Option<Counter> {
        self.family.get(labels).map(|c| c.clone())
    }
}

impl TypedMetric for FoldCounters {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for FoldCounters {
    fn encode(&self, encoder: MetricEncoder<'_>) -> fmt::Result {
        self.family.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// One entry of a [`LabelTable`]: its key (the label values, as recorded)
/// and its value.
#[derive(Debug)]
pub struct TableEntry<V, const N: usize> {
    keys: [SharedStr; N],
    value: V,
}

impl<V, const N: usize> TableEntry<V, N> {
    /// The label values of the entry, [`OVERFLOW_VALUE`] each for the
    /// overflow entry.
    pub fn keys(&self) -> &[SharedStr; N] {
        &self.keys
    }

    /// The value built for these label values.
    pub fn value(&self) -> &V {
        &self.value
    }
}

/// A bounded, set-once, lock-free lookup table from `N` label values to a
/// `V` built once per distinct key: the one table the layers and trackers
/// use for open label values.
///
/// - A key seen before is found by a seeded hash of its bytes and a probe of
///   atomic loads over set-once slots: no lock, no allocation.
/// - A new key is copied once and its value built once, under a mutex
///   taken only for insertions (at most `limit` in the table's life), so
///   racing inserts of one key make one entry.
/// - Past `limit` distinct keys, or for a key its caller refuses
///   ([`fold`](Self::fold)), the table answers with its overflow entry,
///   whose every label value is [`OVERFLOW_VALUE`], and counts the fold in
///   the counter it was given (one `label_values_folded_total{label}`
///   series). A key that already reads [`OVERFLOW_VALUE`] throughout gets
///   the overflow entry without taking a place or counting a fold.
///
/// Entries are never removed. The table holds at least twice as many slots
/// as `limit`, so probes stay short; the hash's seed is random per table,
/// so a client cannot choose keys that collide.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::prometheus_client::metrics::counter::Counter;
/// use incident_metrics_core::{LabelTable, SharedStr};
///
/// let folded = Counter::default();
/// let models: LabelTable<usize> = LabelTable::new(2, folded.clone());
/// let made = |keys: &[SharedStr; 1]| keys[0].len();
/// assert_eq!(*models.get_or_insert_with(["gpt-4o"], made).value(), 6);
/// models.get_or_insert_with(["claude"], made);
/// let third = models.get_or_insert_with(["mistral"], made);
/// assert_eq!(third.keys()[0].as_str(), "other"); // past the limit
/// assert_eq!(models.get_or_insert_with(["gpt-4o"], made).keys()[0].as_str(), "gpt-4o");
/// assert_eq!((models.len(), folded.get()), (2, 1));
/// ```
pub struct LabelTable<V, const N: usize = 1> {
    /// Boxed entries: an empty slot is 16 bytes, so a table sized for the
    /// default limit (4096 slots) takes 64 KiB until it fills.
    slots: Box<[OnceLock<Box<TableEntry<V, N>>>]>,
    limit: usize,
    len: AtomicUsize,
    insert: Mutex<()>,
    seed: u64,
    overflow: OnceLock<TableEntry<V, N>>,
    folded: Counter,
}

impl<V, const N: usize> LabelTable<V, N> {
    /// The most keys any table admits (the trackers' largest handle cache,
    /// `MAX_COMBINATIONS`, fits): its slots (twice as many, 16 bytes each,
    /// 2 MiB at most) are allocated up front, so a limit configured far
    /// past any real number of routes or methods must not size them.
    pub const MAX_LEN: usize = 1 << 16;

    /// A table for at most `limit` distinct keys (and never more than
    /// [`MAX_LEN`](Self::MAX_LEN), whatever the configuration asks),
    /// counting each fold in `folded`.
    pub fn new(limit: usize, folded: Counter) -> Self {
        let limit = limit.min(Self::MAX_LEN);
        let capacity = limit.saturating_mul(2).max(2).next_power_of_two();
        Self {
            slots: (0..capacity).map(|_| OnceLock::new()).collect(),
            limit,
            len: AtomicUsize::new(0),
            insert: Mutex::new(()),
            seed: RandomState::new().hash_one(0x5eed_u32),
            overflow: OnceLock::new(),
            folded,
        }
    }

    /// The entry of `keys` if the table has one (the overflow entry, once
    /// made, for a key that reads [`OVERFLOW_VALUE`] throughout); never
    /// inserts, never counts.
    #[inline]
    pub fn get(&self, keys: [&str; N]) -> Option<&TableEntry<V, N>> {
        // The overflow key is never stored in a slot (`insert` hands it the
        // overflow entry), so a hit needs no check for it: only a miss does.
        match self.find(hash(self.seed, &keys), &keys) {
            Some(entry) => Some(entry),
            None if is_overflow(&keys) => self.overflow.get(),
            None => None,
        }
    }

    /// The entry of `keys`, its value built by `make` (from the label
    /// values as stored) the first time; the overflow entry, counting one
    /// fold, once the table holds `limit` other keys.
    #[inline]
    pub fn get_or_insert_with(
        &self,
        keys: [&str; N],
        make: impl FnOnce(&[SharedStr; N]) -> V,
    ) -> &TableEntry<V, N> {
        let hash = hash(self.seed, &keys);
        if let Some(entry) = self.find(hash, &keys) {
            return entry;
        }
        self.insert(hash, keys, make)
    }

    /// The overflow entry, counting one fold: for a key its caller refuses
    /// to record (a malformed name, say).
    #[cold]
    pub fn fold(&self, make: impl FnOnce(&[SharedStr; N]) -> V) -> &TableEntry<V, N> {
        self.folded.inc();
        self.overflow_entry(make)
    }

    /// The number of keys admitted (the overflow entry not included).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no key was admitted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the table admits.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The number of folds counted so far.
    pub fn folded(&self) -> u64 {
        self.folded.get()
    }

    #[inline]
    fn find(&self, hash: u64, keys: &[&str; N]) -> Option<&TableEntry<V, N>> {
        let mask = self.slots.len() - 1;
        // Truncation is intended: only the low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let entry = self.slots.get(i)?.get()?;
            if keys_eq(&entry.keys, keys) {
                return Some(entry);
            }
            i = (i + 1) & mask;
        }
        None
    }

    #[cold]
    fn insert(
        &self,
        hash: u64,
        keys: [&str; N],
        make: impl FnOnce(&[SharedStr; N]) -> V,
    ) -> &TableEntry<V, N> {
        if is_overflow(&keys) {
            return self.overflow_entry(make);
        }
        if self.len() >= self.limit {
            return self.fold(make);
        }
        // A poisoned lock only means a `make` panicked; the slots are
        // set-once and stay consistent.
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else {
                break;
            };
            match slot.get() {
                Some(entry) if keys_eq(&entry.keys, &keys) => return entry,
                Some(_) => i = (i + 1) & mask,
                None => {
                    if self.len() >= self.limit {
                        break;
                    }
                    // Only inserts write slots, and they hold the mutex.
                    let entry = slot.get_or_init(|| {
                        let keys = keys.map(SharedStr::from);
                        let value = make(&keys);
                        Box::new(TableEntry { keys, value })
                    });
                    self.len.fetch_add(1, Ordering::Release);
                    return entry;
                }
            }
        }
        // Every slot probed without a free one: not possible while the
        // table holds fewer than `limit` keys in twice as many slots, but
        // a fold is the answer that keeps the count exact either way.
        self.fold(make)
    }

    fn overflow_entry(&self, make: impl FnOnce(&[SharedStr; N]) -> V) -> &TableEntry<V, N> {
        self.overflow.get_or_init(|| {
            let keys = std::array::from_fn(|_| SharedStr::from_static(OVERFLOW_VALUE));
            let value = make(&keys);
            TableEntry { keys, value }
        })
    }
}

fn keys_eq<const N: usize>(stored: &[SharedStr; N], keys: &[&str; N]) -> bool {
    stored.iter().zip(keys).all(|(s, k)| s.as_str() == *k)
}

fn is_overflow<const N: usize>(keys: &[&str; N]) -> bool {
    keys.iter().all(|k| *k == OVERFLOW_VALUE)
}

impl<V, const N: usize> fmt::Debug for LabelTable<V, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelTable")
            .field("len", &self.len())
            .field("limit", &self.limit)
            .field("folded", &self.folded.get())
            .finish_non_exhaustive()
    }
}

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline]
fn add(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(K)
}

/// Mixes `s` into `hash`, eight bytes at a time.
#[inline]
fn str_into(mut hash: u64, s: &str) -> u64 {
    let chunks = s.as_bytes().chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        hash = add(hash, u64::from_le_bytes(word));
    }
    let mut word = [0_u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    hash = add(hash, u64::from_le_bytes(word));
    add(hash, s.len() as u64)
}

/// A small, fast, seeded hash of a key made of several strings. The table
/// holds a bounded number of keys, so speed matters more than strength;
/// the random seed keeps probe sequences unpredictable.
#[inline]
fn hash<const N: usize>(seed: u64, parts: &[&str; N]) -> u64 {
    let mut hash = seed;
    for part in parts {
        hash = str_into(hash, part);
    }
    // Final avalanche, so that the low bits (the slot) depend on every
    // input bit.
    hash = (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_of(keys: &[SharedStr; 1]) -> usize {
        keys[0].len()
    }

    #[test]
    fn hash_separates_parts_and_lengths() {
        let s = 7;
        assert_ne!(hash(s, &["ab", "c"]), hash(s, &["a", "bc"]));
        assert_ne!(hash(s, &["a"]), hash(s, &["a\0"]));
        assert_eq!(
            hash(s, &["openai", "gpt-4o"]),
            hash(s, &["openai", "gpt-4o"])
        );
    }

    #[test]
    fn admits_up_to_the_limit_then_folds_and_counts() {
        let folded = Counter::default();
        let t: LabelTable<usize> = LabelTable::new(3, folded.clone());
        for k in ["a", "bb", "ccc"] {
            assert_eq!(t.get_or_insert_with([k], len_of).keys()[0].as_str(), k);
        }
        assert_eq!(*t.get(["bb"]).map(TableEntry::value).unwrap(), 2);
        let other = t.get_or_insert_with(["dddd"], len_of);
        assert_eq!(other.keys()[0].as_str(), OVERFLOW_VALUE);
        assert_eq!(*other.value(), OVERFLOW_VALUE.len());
        assert!(t.get(["dddd"]).is_none());
        // Admitted keys stay; each fold counts.
        assert_eq!(t.get_or_insert_with(["a"], len_of).keys()[0].as_str(), "a");
        t.get_or_insert_with(["eeeee"], len_of);
        assert_eq!((t.len(), t.folded(), folded.get()), (3, 2, 2));
    }

    #[test]
    fn the_overflow_value_takes_no_place_and_counts_no_fold() {
        let t: LabelTable<usize, 2> = LabelTable::new(1, Counter::default());
        let other = t.get_or_insert_with(["other", "other"], |_| 9);
        assert_eq!((*other.value(), t.len(), t.folded()), (9, 0, 0));
        // A key with one `other` is an ordinary key.
        t.get_or_insert_with(["other", "x"], |_| 1);
        assert_eq!(t.len(), 1);
        let refused = t.fold(|_| 0);
        assert!(std::ptr::eq(refused, other));
        assert_eq!(t.folded(), 1);
    }

    #[test]
    fn a_huge_limit_is_capped() {
        let t: LabelTable<usize> = LabelTable::new(usize::MAX, Counter::default());
        assert_eq!(t.limit(), LabelTable::<usize>::MAX_LEN);
        assert_eq!(t.slots.len(), 2 * LabelTable::<usize>::MAX_LEN);
    }

    #[test]
    fn a_zero_limit_folds_everything() {
        let t: LabelTable<usize> = LabelTable::new(0, Counter::default());
        assert_eq!(
            t.get_or_insert_with(["a"], len_of).keys()[0].as_str(),
            OVERFLOW_VALUE
        );
        assert_eq!((t.len(), t.folded()), (0, 1));
    }

    #[test]
    fn racing_inserts_of_one_key_make_one_entry() {
        let t: LabelTable<usize> = LabelTable::new(8, Counter::default());
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for k in &keys {
                        t.get_or_insert_with([k.as_str()], len_of);
                    }
                });
            }
        });
        assert_eq!((t.len(), t.folded()), (8, 0));
    }

    #[test]
    fn fold_counters_encode_as_a_counter_family() {
        let folds = FoldCounters::default();
        folds.counter("grpc_method").inc_by(2);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("label_values_folded", "Folds", folds.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("label_values_folded_total{label=\"grpc_method\"} 2\n"),
            "{text}"
        );
    }
}
