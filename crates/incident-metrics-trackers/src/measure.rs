//! Generic RAII helpers: [`Timer`], [`measure`], [`measure_async`] and
//! [`count_errors`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use incident_metrics_core::Histogram;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use quanta::Instant;

/// Observes the time from its creation into a histogram when it is
/// [stopped](Self::stop) or dropped, whichever comes first, exactly once;
/// a panic that unwinds past it still records.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::Histogram;
/// use incident_metrics_trackers::Timer;
///
/// let h = Histogram::new("job_duration_seconds", &[0.1, 1.0])?;
/// {
///     let _timer = Timer::start(&h);
///     // ... work ...
/// } // dropped: observed
/// Timer::start(&h).stop();
/// assert_eq!(h.count(), 2);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[must_use = "a timer observes when dropped; dropping it at once measures nothing"]
pub struct Timer {
    histogram: Histogram,
    start: Instant,
    armed: bool,
}

impl Timer {
    /// Starts timing into `histogram` (a cheap clone of the handle).
    #[inline]
    pub fn start(histogram: &Histogram) -> Self {
        Self {
            histogram: histogram.clone(),
            start: Instant::now(),
            armed: true,
        }
    }

    /// Observes the elapsed time now and returns it in seconds.
    pub fn stop(mut self) -> f64 {
        self.observe()
    }

    fn observe(&mut self) -> f64 {
        let elapsed = self.start.elapsed().as_secs_f64();
        if self.armed {
            self.armed = false;
            self.histogram.observe(elapsed);
        }
        elapsed
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.observe();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

/// Runs `f` and observes how long it took in `histogram`, even if it panics.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::Histogram;
/// use incident_metrics_trackers::measure;
///
/// let h = Histogram::new("parse_duration_seconds", &[0.1, 1.0])?;
/// let n = measure(&h, || "42".parse::<u32>());
/// assert_eq!(n, Ok(42));
/// assert_eq!(h.count(), 1);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[inline]
pub fn measure<T>(histogram: &Histogram, f: impl FnOnce() -> T) -> T {
    let _timer = Timer::start(histogram);
    f()
}

pin_project_lite::pin_project! {
    /// The future of [`measure_async`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Measured<F> {
        #[pin]
        inner: F,
        timer: Option<Timer>,
    }
}

/// Wraps `future` so that the time from this call to its completion is
/// observed in `histogram`; if the future is dropped first (cancelled, or
/// its task panicked), the time until the drop is observed instead.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::Histogram;
/// use incident_metrics_trackers::measure_async;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), incident_metrics_core::Error> {
/// let h = Histogram::new("fetch_duration_seconds", &[0.1, 1.0])?;
/// let value = measure_async(&h, async { 7 }).await;
/// assert_eq!(value, 7);
/// drop(measure_async(&h, async { 8 })); // never polled: still observed
/// assert_eq!(h.count(), 2);
/// # Ok(())
/// # }
/// ```
pub fn measure_async<F: Future>(histogram: &Histogram, future: F) -> Measured<F> {
    Measured {
        inner: future,
        timer: Some(Timer::start(histogram)),
    }
}

impl<F: Future> Future for Measured<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Some(timer) = this.timer.take() {
            timer.stop();
        }
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for Measured<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Measured")
            .field("timer", &self.timer)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`count_errors`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CountErrors<F> {
        #[pin]
        inner: F,
        counter: Counter,
    }
}

/// Wraps a `Result`-returning `future` so that `counter` goes up once if
/// it resolves to `Err` or panics while polled. A future dropped before it
/// finishes (cancelled) is not counted: it did not fail.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::prometheus_client::metrics::counter::Counter;
/// use incident_metrics_trackers::count_errors;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let errors = Counter::<u64>::default();
/// let ok: Result<u8, &str> = count_errors(&errors, async { Ok(1) }).await;
/// let err: Result<u8, &str> = count_errors(&errors, async { Err("boom") }).await;
/// assert_eq!((ok, err), (Ok(1), Err("boom")));
/// assert_eq!(errors.get(), 1);
/// # }
/// ```
pub fn count_errors<F, T, E>(counter: &Counter, future: F) -> CountErrors<F>
where
    F: Future<Output = Result<T, E>>,
{
    CountErrors {
        inner: future,
        counter: counter.clone(),
    }
}

/// Counts when dropped while the thread unwinds from a panic.
struct OnPanic<'a>(&'a Counter);

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.inc();
        }
    }
}

impl<F, T, E> Future for CountErrors<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.project();
        let guard = OnPanic(this.counter);
        let output = ready!(this.inner.poll(cx));
        drop(guard);
        if output.is_err() {
            this.counter.inc();
        }
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for CountErrors<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountErrors")
            .field("errors", &self.counter.get())
            .finish_non_exhaustive()
    }
}
