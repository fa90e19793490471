//! [`PanicFlag`]: tells a recording guard's `Drop` whether the work it
//! watched panicked.

/// Notes whether the code run through [`watch`](Self::watch) unwound, so
/// that a guard dropped later (by the runtime that caught the panic, or
/// while the panic unwinds through it) can record the outcome honestly:
/// `500`/`INTERNAL` for a panic, cancelled for a drop.
///
/// This is the one panic strategy of the HTTP and gRPC layers: a `Drop`
/// guard, no `catch_unwind`. Watching costs two stores of a flag; the
/// panic is never caught, so it unwinds on unchanged and the watched code
/// needs no `UnwindSafe`. A drop while the thread is panicking (a panic in
/// the code that built the guard's owner, say) counts as a panic too.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::PanicFlag;
///
/// let mut flag = PanicFlag::default();
/// assert_eq!(flag.watch(|| 1 + 1), 2);
/// assert!(!flag.panicked());
///
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     flag.watch(|| panic!("handler failed"))
/// }));
/// assert!(caught.is_err());
/// assert!(flag.panicked()); // the guard owning `flag` records a panic
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PanicFlag {
    running: bool,
}

impl PanicFlag {
    /// Runs `f`, noting that it is running until it returns.
    #[inline]
    pub fn watch<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.running = true;
        let out = f();
        self.running = false;
        out
    }

    /// Whether a watched call unwound instead of returning, or the thread
    /// is unwinding now.
    #[inline]
    pub fn panicked(&self) -> bool {
        self.running || std::thread::panicking()
    }
}
