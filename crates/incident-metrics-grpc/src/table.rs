//! The method table: `(service, method)` to [`MethodHandles`], read without
//! a lock, an allocation or a hash of the strings.
//!
//! The table is open addressing over a fixed array of set-once slots. The
//! start slot comes from a fingerprint that reads the two lengths and four
//! bytes, whatever the names' length, so finding a method costs that
//! fingerprint plus one string comparison with the entry found (two when
//! fingerprints collide, rarely more). Entries are never removed, so a
//! reader that meets an empty slot knows the method is new; only then does
//! it take the insertion lock, once per method for the life of the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::handles::{MethodHandles, SideFamilies};
use crate::path::{self, UNKNOWN_METHOD, UNKNOWN_SERVICE};

/// The most distinct `(service, method)` pairs a layer labels; calls to any
/// further method are counted under [`UNKNOWN_SERVICE`]/[`UNKNOWN_METHOD`].
/// A server only answers its own methods, but the path is chosen by the
/// client, so the label set must be bounded before routing.
pub const MAX_METHODS: usize = 256;

/// Twice [`MAX_METHODS`], a power of two: probes stay short.
const SLOTS: usize = 512;
const SLOT_BITS: u32 = SLOTS.trailing_zeros();

pub(crate) struct MethodTable {
    slots: Box<[OnceLock<Arc<MethodHandles>>]>,
    len: AtomicUsize,
    insert: Mutex<()>,
    fallback: OnceLock<Arc<MethodHandles>>,
    families: SideFamilies,
}

/// The start slot for a name pair: lengths and four bytes, mixed by one
/// multiplication. Constant time; not a hash of the whole string.
#[inline]
fn start_slot(service: &str, method: &str) -> usize {
    let s = service.as_bytes();
    let m = method.as_bytes();
    let at = |b: &[u8], i: usize| u64::from(b.get(i).copied().unwrap_or(0));
    let x = (m.len() as u64)
        | (s.len() as u64) << 8
        | at(m, 0) << 16
        | at(m, m.len() / 2) << 24
        | at(m, m.len().wrapping_sub(1)) << 32
        | at(s, s.len().wrapping_sub(1)) << 40;
    // The top bits of a Fibonacci multiplication; below 2^SLOT_BITS.
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as usize
}

impl MethodTable {
    pub(crate) fn new(families: SideFamilies) -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            len: AtomicUsize::new(0),
            insert: Mutex::new(()),
            fallback: OnceLock::new(),
            families,
        }
    }

    /// The handles of `service`/`method` if the table has them.
    #[inline]
    fn lookup(&self, service: &str, method: &str) -> Option<&Arc<MethodHandles>> {
        let start = start_slot(service, method);
        for i in 0..SLOTS {
            let handles = self.slots.get((start + i) & (SLOTS - 1))?.get()?;
            if handles.is(service, method) {
                return Some(handles);
            }
        }
        None
    }

    /// The handles of `service`/`method`, created on first sight; the
    /// fallback handles for invalid names or once the table is full.
    #[inline]
    pub(crate) fn resolve(&self, service: &str, method: &str) -> &Arc<MethodHandles> {
        match self.lookup(service, method) {
            Some(handles) => handles,
            None => self.insert(service, method),
        }
    }

    /// The handles for calls whose path is malformed.
    pub(crate) fn fallback(&self) -> &Arc<MethodHandles> {
        self.fallback.get_or_init(|| {
            Arc::new(MethodHandles::new(
                &self.families,
                UNKNOWN_SERVICE,
                UNKNOWN_METHOD,
            ))
        })
    }

    #[cold]
    fn insert(&self, service: &str, method: &str) -> &Arc<MethodHandles> {
        if !path::is_valid(service, method) || self.len.load(Ordering::Relaxed) >= MAX_METHODS {
            return self.fallback();
        }
        // A poisoned lock only means another insertion panicked; the slots
        // are set-once and stay consistent.
        let _lock = self
            .insert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handles) = self.lookup(service, method) {
            return handles;
        }
        if self.len.load(Ordering::Relaxed) >= MAX_METHODS {
            return self.fallback();
        }
        let start = start_slot(service, method);
        for i in 0..SLOTS {
            let Some(slot) = self.slots.get((start + i) & (SLOTS - 1)) else {
                break;
            };
            if slot.get().is_none() {
                let handles = slot
                    .get_or_init(|| Arc::new(MethodHandles::new(&self.families, service, method)));
                self.len.fetch_add(1, Ordering::Relaxed);
                return handles;
            }
        }
        self.fallback()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for MethodTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodTable")
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handles::Side;
    use incident_metrics_catalog::grpc::GrpcMetrics;
    use incident_metrics_core::{MetricsConfig, Registry};

    fn table() -> MethodTable {
        let mut registry = Registry::new(&MetricsConfig::new()).unwrap();
        let metrics = GrpcMetrics::register(&mut registry).unwrap();
        MethodTable::new(SideFamilies::new(&metrics, Side::Server))
    }

    #[test]
    fn resolves_each_method_once() {
        let t = table();
        let a = Arc::clone(t.resolve("pkg.Svc", "Get"));
        let b = Arc::clone(t.resolve("pkg.Svc", "Put"));
        assert!(Arc::ptr_eq(&a, t.resolve("pkg.Svc", "Get")));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(t.len(), 2);
        assert_eq!(&*b.method, "Put");
    }

    #[test]
    fn folds_invalid_names_and_overflow() {
        let t = table();
        let bad = t.resolve("pkg Svc", "Get");
        assert_eq!(&*bad.service, UNKNOWN_SERVICE);
        for i in 0..MAX_METHODS + 10 {
            let name = format!("M{i}");
            let h = t.resolve("pkg.Svc", &name);
            if i < MAX_METHODS {
                assert_eq!(*h.method, *name);
            } else {
                assert_eq!(&*h.method, UNKNOWN_METHOD);
            }
        }
        assert_eq!(t.len(), MAX_METHODS);
        // Every method that made it in is still found.
        for i in 0..MAX_METHODS {
            let name = format!("M{i}");
            assert_eq!(*t.resolve("pkg.Svc", &name).method, *name);
        }
    }
}
