//! [`HandleCache`]: label strings resolved once to a struct of handles.

use std::fmt;
use std::sync::Arc;

use incident_metrics_core::SharedStr;

use crate::hash;
use crate::limiter::CardinalityLimiter;
use crate::table::SlotTable;

/// One cache entry: the (limited) label values and their handles.
#[derive(Debug)]
pub(crate) struct Entry<const N: usize, V> {
    pub(crate) keys: [SharedStr; N],
    pub(crate) value: V,
}

/// Maps `N` open label values to a struct of pre-resolved handles.
///
/// Each label passes through its own [`CardinalityLimiter`], so the cache
/// holds at most the product of (limit + 1) entries and never grows past it.
/// A lookup of values seen before hashes the strings and probes a lock-free
/// table: no allocation, no lock. Values past a limit miss the table, fold
/// (counted) and find the entry of [`OVERFLOW_VALUE`](crate::OVERFLOW_VALUE).
pub(crate) struct HandleCache<const N: usize, V> {
    limiters: [CardinalityLimiter; N],
    seed: u64,
    table: SlotTable<Arc<Entry<N, V>>>,
}

fn keys_eq<const N: usize>(keys: &[SharedStr; N], raw: &[&str; N]) -> bool {
    keys.iter().zip(raw).all(|(k, r)| k.as_str() == *r)
}

impl<const N: usize, V> HandleCache<N, V> {
    pub(crate) fn new(limiters: [CardinalityLimiter; N], max_values: [usize; N]) -> Self {
        let max_len = max_values
            .iter()
            .fold(1_usize, |acc, m| acc.saturating_mul(m.saturating_add(1)));
        Self {
            limiters,
            seed: hash::seed(),
            table: SlotTable::new(max_len),
        }
    }

    /// The entry for `raw`, built by `make` from the limited values the
    /// first time. `None` only if the table is full, which its sizing rules
    /// out.
    #[inline]
    pub(crate) fn get(
        &self,
        raw: [&str; N],
        make: impl FnOnce(&[SharedStr; N]) -> V,
    ) -> Option<&Arc<Entry<N, V>>> {
        let hash = hash::strs(self.seed, &raw);
        if let Some(entry) = self.table.find(hash, |e| keys_eq(&e.keys, &raw)) {
            return Some(entry);
        }
        self.resolve(raw, make)
    }

    #[cold]
    fn resolve(
        &self,
        raw: [&str; N],
        make: impl FnOnce(&[SharedStr; N]) -> V,
    ) -> Option<&Arc<Entry<N, V>>> {
        let limited: [&SharedStr; N] = std::array::from_fn(|i| self.limiters[i].limit(raw[i]));
        let strs: [&str; N] = limited.map(SharedStr::as_str);
        let hash = hash::strs(self.seed, &strs);
        self.table.find_or_insert(
            hash,
            |e| keys_eq(&e.keys, &strs),
            || {
                let keys = limited.map(Clone::clone);
                let value = make(&keys);
                Arc::new(Entry { keys, value })
            },
        )
    }

    /// The limiters, in key order.
    pub(crate) fn limiters(&self) -> &[CardinalityLimiter; N] {
        &self.limiters
    }
}

impl<const N: usize, V> fmt::Debug for HandleCache<N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleCache")
            .field("limiters", &self.limiters)
            .field("entries", &self.table)
            .finish_non_exhaustive()
    }
}
