//! [`Global`]: a set-once, process-wide cell for metrics handles.

use std::fmt;
use std::sync::OnceLock;

use crate::{Error, Result};

/// A process-wide value that is set once, at start-up, and read everywhere.
///
/// It is the optional convenience behind `init`/`global` pairs: setting it a
/// second time returns [`Error::AlreadyInitialized`] instead of panicking or
/// silently replacing the first value, and nothing ever needs it: code that
/// is handed its handles explicitly (tests, embedders) works without it.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{Error, Global};
///
/// static NUMBER: Global<u32> = Global::new();
///
/// assert!(NUMBER.get().is_none());
/// assert_eq!(*NUMBER.set(7)?, 7);
/// assert!(matches!(NUMBER.set(8), Err(Error::AlreadyInitialized)));
/// assert_eq!(NUMBER.get(), Some(&7));
/// # Ok::<(), Error>(())
/// ```
pub struct Global<T> {
    cell: OnceLock<T>,
}

impl<T> Global<T> {
    /// An empty cell, usable in a `static`.
    pub const fn new() -> Self {
        Self {
            cell: OnceLock::new(),
        }
    }

    /// Stores `value` and returns a reference to it.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyInitialized`] when a value is already stored; the
    /// stored value is kept and `value` is dropped.
    pub fn set(&self, value: T) -> Result<&T> {
        let mut value = Some(value);
        let stored = self.cell.get_or_init(|| {
            // `get_or_init` runs this at most once, and only when empty.
            value
                .take()
                .unwrap_or_else(|| unreachable!("the value is taken once"))
        });
        if value.is_some() {
            Err(Error::AlreadyInitialized)
        } else {
            Ok(stored)
        }
    }

    /// Like [`set`](Self::set), building the value only if the cell is empty.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyInitialized`] when a value is already stored, and any
    /// error of `make`. When two threads race, one wins and the other gets
    /// `AlreadyInitialized`.
    pub fn try_init(&self, make: impl FnOnce() -> Result<T>) -> Result<&T> {
        if self.cell.get().is_some() {
            return Err(Error::AlreadyInitialized);
        }
        self.set(make()?)
    }

    /// The stored value, if any.
    pub fn get(&self) -> Option<&T> {
        self.cell.get()
    }
}

impl<T> Default for Global<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Global<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Global").field(&self.cell.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_once_from_many_threads() {
        let g: Global<usize> = Global::new();
        let wins = std::thread::scope(|s| {
            let g = &g;
            let handles: Vec<_> = (0..8).map(|i| s.spawn(move || g.set(i).is_ok())).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(false))
                .filter(|won| *won)
                .count()
        });
        assert_eq!(wins, 1);
        assert!(g.get().is_some());
    }

    #[test]
    fn try_init_reports_both_errors() {
        let g: Global<u8> = Global::new();
        assert!(g.try_init(|| Err(Error::AlreadyInitialized)).is_err());
        assert!(g.get().is_none());
        assert_eq!(g.try_init(|| Ok(1)).ok(), Some(&1));
        assert!(matches!(
            g.try_init(|| Ok(2)),
            Err(Error::AlreadyInitialized)
        ));
    }
}
