//! [`ExemplarCounter`]: a `u64` counter that can carry an exemplar.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::exemplar::{ExemplarSample, ExemplarSlot, TraceContext, TraceLabels};

/// A monotonic `u64` counter, cheap to clone (an `Arc` inside), whose
/// increments may carry the trace they came from: the newest one is kept
/// (one [`ExemplarSlot`]) and written after the `_total` sample of the
/// OpenMetrics and protobuf answers.
///
/// [`inc`](Self::inc) is one atomic add, as prometheus-client's `Counter`.
/// The slot is allocated on the first exemplar, so a counter that never gets
/// one holds only an empty `OnceLock` beside its value.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use incident_metrics_core::{ExemplarCounter, FamilySpec, MetricKind, MetricsConfig, Registry, TraceContext};
///
/// const JOBS: FamilySpec = FamilySpec {
///     name: "jobs",
///     help: "Jobs run",
///     kind: MetricKind::Counter,
///     unit: None,
///     labels: &[],
/// };
/// let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc"))?;
/// let jobs = ExemplarCounter::default();
/// registry.register(&JOBS, jobs.clone())?;
/// jobs.inc();
/// let trace = TraceContext::from_traceparent(
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
/// )
/// .unwrap();
/// jobs.inc_with_exemplar_at(&trace, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// assert_eq!(jobs.get(), 2);
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(&mut text, registry.as_prometheus())?;
/// assert!(text.contains(
///     "svc_jobs_total 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",\
///      span_id=\"00f067aa0ba902b7\"} 1.0 1700000000.0\n"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct ExemplarCounter {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    value: AtomicU64,
    exemplar: OnceLock<Box<ExemplarSlot>>,
}

impl ExemplarCounter {
    /// Adds one; returns the previous value.
    #[inline]
    pub fn inc(&self) -> u64 {
        self.inner.value.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds `v`; returns the previous value.
    #[inline]
    pub fn inc_by(&self, v: u64) -> u64 {
        self.inner.value.fetch_add(v, Ordering::Relaxed)
    }

    /// Adds one and keeps `trace` as the counter's exemplar (value 1),
    /// timestamped now; returns the previous value.
    #[inline]
    pub fn inc_with_exemplar(&self, trace: &TraceContext) -> u64 {
        self.inc_by_with_exemplar_at(1, trace, SystemTime::now())
    }

    /// [`inc`](Self::inc) without a trace,
    /// [`inc_with_exemplar`](Self::inc_with_exemplar) with one: for
    /// recorders whose trace is known only at run time (a request's sampled
    /// `traceparent`, exemplars on). Returns the previous value.
    #[inline]
    pub fn inc_traced(&self, trace: Option<&TraceContext>) -> u64 {
        match trace {
            None => self.inc(),
            Some(trace) => self.inc_with_exemplar(trace),
        }
    }

    /// Adds one and keeps `trace` as the counter's exemplar, timestamped `at`.
    pub fn inc_with_exemplar_at(&self, trace: &TraceContext, at: SystemTime) -> u64 {
        self.inc_by_with_exemplar_at(1, trace, at)
    }

    /// Adds `v` and keeps `trace` as the counter's exemplar (value `v`),
    /// timestamped `at`; returns the previous value. The count is exact
    /// even when the exemplar is dropped (another thread was writing one).
    pub fn inc_by_with_exemplar_at(&self, v: u64, trace: &TraceContext, at: SystemTime) -> u64 {
        let previous = self.inc_by(v);
        #[allow(clippy::cast_precision_loss)] // an exemplar's value is informative
        self.slot().store_at(trace, v as f64, at);
        previous
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.inner.value.load(Ordering::Relaxed)
    }

    /// The newest exemplar, if any.
    pub fn exemplar(&self) -> Option<ExemplarSample> {
        self.inner.exemplar.get().and_then(|slot| slot.load())
    }

    #[cold]
    fn new_slot() -> Box<ExemplarSlot> {
        Box::new(ExemplarSlot::new())
    }

    #[inline]
    fn slot(&self) -> &ExemplarSlot {
        self.inner.exemplar.get_or_init(Self::new_slot)
    }
}

impl fmt::Debug for ExemplarCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExemplarCounter")
            .field("value", &self.get())
            .field("exemplar", &self.exemplar())
            .finish()
    }
}

impl TypedMetric for ExemplarCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ExemplarCounter {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        let exemplar = self.exemplar().map(|e| e.to_exemplar());
        encoder.encode_counter::<TraceLabels, u64, f64>(&self.get(), exemplar.as_ref())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FamilySpec, MetricKind, MetricsConfig, Registry};
    use std::time::{Duration, UNIX_EPOCH};

    const SPEC: FamilySpec = FamilySpec {
        name: "c",
        help: "C",
        kind: MetricKind::Counter,
        unit: None,
        labels: &[],
    };

    fn render(counter: &ExemplarCounter) -> (String, String) {
        let mut registry = Registry::new(&MetricsConfig::new().with_namespace(""))
            .unwrap_or_else(|e| panic!("{e}"));
        registry
            .register(&SPEC, counter.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let (mut open, mut text) = (String::new(), String::new());
        prometheus_client::encoding::text::encode(&mut open, registry.as_prometheus())
            .unwrap_or_else(|e| panic!("{e}"));
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry.as_prometheus())
            .unwrap_or_else(|e| panic!("{e}"));
        (open, text)
    }

    #[test]
    fn renders_the_exemplar_in_openmetrics_only() {
        let c = ExemplarCounter::default();
        c.inc();
        assert_eq!(
            render(&c).0,
            "# HELP c C.\n# TYPE c counter\nc_total 1\n# EOF\n"
        );
        let trace = TraceContext::new([0xab; 16], [0xcd; 8], true).unwrap_or_else(|| panic!());
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(c.inc_by_with_exemplar_at(2, &trace, at), 1);
        let (open, text) = render(&c);
        assert_eq!(
            open,
            "# HELP c C.\n# TYPE c counter\n\
             c_total 3 # {trace_id=\"abababababababababababababababab\",span_id=\"cdcdcdcdcdcdcdcd\"} 2.0 1700000000.25\n\
             # EOF\n"
        );
        assert_eq!(
            text,
            "# HELP c_total C.\n# TYPE c_total counter\nc_total 3\n"
        );
        let e = c.exemplar().unwrap_or_else(|| panic!("kept"));
        assert_eq!((e.trace, e.value, e.timestamp), (trace, 2.0, Some(at)));
    }

    #[test]
    fn counts_stay_exact_under_concurrent_exemplars() {
        let c = ExemplarCounter::default();
        std::thread::scope(|s| {
            for w in 1..=4_u8 {
                let c = &c;
                s.spawn(move || {
                    let trace =
                        TraceContext::new([w; 16], [w; 8], true).unwrap_or_else(|| panic!());
                    for i in 0..5_000 {
                        if i % 2 == 0 {
                            c.inc_with_exemplar(&trace);
                        } else {
                            c.inc();
                        }
                    }
                });
            }
        });
        assert_eq!(c.get(), 20_000);
        let e = c.exemplar().unwrap_or_else(|| panic!("kept"));
        assert_eq!(e.trace.span_id(), [e.trace.trace_id()[0]; 8]);
        assert_eq!(e.value, 1.0);
    }
}
