//! [`HandleCache`]: label strings resolved once to a struct of handles.

use std::fmt;
use std::sync::Arc;

use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_core::{LabelTable, SharedStr};

use crate::limiter::CardinalityLimiter;

/// One cache entry: the (limited) label values and their handles.
#[derive(Debug)]
pub(crate) struct Entry<const N: usize, V> {
    pub(crate) keys: [SharedStr; N],
    pub(crate) value: V,
}

/// Maps `N` open label values to a struct of pre-resolved handles.
///
/// Each label passes through its own [`CardinalityLimiter`], so the cache
/// holds at most the product of (limit + 1) entries: its core
/// [`LabelTable`] is sized for exactly that many, so it never folds by
/// itself (the limiters fold, and count, first). A lookup of values seen
/// before hashes the strings and probes the lock-free table: no
/// allocation, no lock. Values past a limit miss the table, fold (counted)
/// and find the entry of [`OVERFLOW_VALUE`](crate::OVERFLOW_VALUE).
pub(crate) struct HandleCache<const N: usize, V> {
    limiters: [CardinalityLimiter; N],
    table: LabelTable<Arc<Entry<N, V>>, N>,
}

impl<const N: usize, V> HandleCache<N, V> {
    pub(crate) fn new(limiters: [CardinalityLimiter; N], max_values: [usize; N]) -> Self {
        let max_len = max_values
            .iter()
            .fold(1_usize, |acc, m| acc.saturating_mul(m.saturating_add(1)));
        Self {
            limiters,
            // Sized for every combination of limited values: never folds,
            // so its fold counter is never read.
            table: LabelTable::new(max_len, Counter::default()),
        }
    }

    /// The entry for `raw`, built by `make` from the limited values the
    /// first time. Always `Some`: the table is sized for every combination
    /// of limited values.
    #[inline]
    pub(crate) fn get(
        &self,
        raw: [&str; N],
        make: impl FnOnce(&[SharedStr; N]) -> V,
    ) -> Option<&Arc<Entry<N, V>>> {
        if let Some(entry) = self.table.get(raw) {
            return Some(entry.value());
        }
        Some(self.resolve(raw, make))
    }

    #[cold]
    fn resolve(
        &self,
        raw: [&str; N],
        make: impl FnOnce(&[SharedStr; N]) -> V,
    ) -> &Arc<Entry<N, V>> {
        let limited: [&SharedStr; N] = std::array::from_fn(|i| self.limiters[i].limit(raw[i]));
        let strs: [&str; N] = limited.map(SharedStr::as_str);
        self.table
            .get_or_insert_with(strs, |keys| {
                let keys = keys.clone();
                let value = make(&keys);
                Arc::new(Entry { keys, value })
            })
            .value()
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
