//! [`SlotTable`]: a fixed-capacity, insert-only hash table whose reads take
//! no lock and allocate nothing.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Open addressing with linear probing over `OnceLock` slots. A read is a
/// probe of atomic loads; an insert takes a mutex (inserts happen once per
/// distinct key, and the number of keys is capped), so concurrent inserts of
/// one key never produce two entries. The table holds at most `max_len`
/// entries and at least twice as many slots, so probes stay short.
pub(crate) struct SlotTable<V> {
    slots: Box<[OnceLock<V>]>,
    max_len: usize,
    len: AtomicUsize,
    insert: Mutex<()>,
}

impl<V> SlotTable<V> {
    /// A table for up to `max_len` entries.
    pub(crate) fn new(max_len: usize) -> Self {
        let capacity = max_len.saturating_mul(2).max(2).next_power_of_two();
        Self {
            slots: (0..capacity).map(|_| OnceLock::new()).collect(),
            max_len,
            len: AtomicUsize::new(0),
            insert: Mutex::new(()),
        }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no more entries fit.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.max_len
    }

    /// The entry with this hash for which `eq` holds, if any.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(&V) -> bool) -> Option<&V> {
        let mask = self.slots.len() - 1;
        // Truncation is intended: only the low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            match self.slots[i].get() {
                Some(v) if eq(v) => return Some(v),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
        None
    }

    /// The entry for which `eq` holds, inserting `make()` if there is none;
    /// `None` when the table is full.
    pub(crate) fn find_or_insert(
        &self,
        hash: u64,
        mut eq: impl FnMut(&V) -> bool,
        make: impl FnOnce() -> V,
    ) -> Option<&V> {
        if let Some(v) = self.find(hash, &mut eq) {
            return Some(v);
        }
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = &self.slots[i];
            match slot.get() {
                Some(v) if eq(v) => return Some(v),
                Some(_) => i = (i + 1) & mask,
                None => {
                    if self.is_full() {
                        return None;
                    }
                    // Only inserts write slots, and they hold the mutex.
                    let v = slot.get_or_init(make);
                    self.len.fetch_add(1, Ordering::Release);
                    return Some(v);
                }
            }
        }
        None
    }
}

impl<V> fmt::Debug for SlotTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotTable")
            .field("len", &self.len())
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inserts_and_refuses_past_max_len() {
        let t: SlotTable<u32> = SlotTable::new(3);
        for k in [1_u32, 2, 3] {
            // Same hash for every key: probing must separate them.
            assert_eq!(t.find_or_insert(0, |v| *v == k, || k), Some(&k));
        }
        assert_eq!(t.find(0, |v| *v == 2), Some(&2));
        assert_eq!(t.find_or_insert(0, |v| *v == 2, || 99), Some(&2));
        assert_eq!(t.find_or_insert(0, |v| *v == 4, || 4), None);
        assert_eq!(t.len(), 3);
        let empty: SlotTable<u32> = SlotTable::new(0);
        assert_eq!(empty.find_or_insert(5, |_| true, || 1), None);
    }

    #[test]
    fn concurrent_inserts_of_one_key_make_one_entry() {
        let t: SlotTable<u32> = SlotTable::new(8);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for k in 0..8_u32 {
                        t.find_or_insert(u64::from(k), |v| *v == k, || k);
                    }
                });
            }
        });
        assert_eq!(t.len(), 8);
    }
}
