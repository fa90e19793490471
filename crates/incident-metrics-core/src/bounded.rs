//! [`BoundedFamily`]: a metric family that holds at most its configured
//! number of series.
//!
//! Once a family holds its limit, every *new* label set is folded into one
//! overflow series whose every label is [`OVERFLOW_VALUE`] (after
//! OpenTelemetry's `otel.metric.overflow` series), and the fold is counted
//! in `metrics_cardinality_overflow_total{family="<family>"}`. Series that
//! already exist keep recording as before, so a family never holds more
//! than `limit + 1` series and its memory stays bounded whatever its
//! callers pass in.
//!
//! The check runs only where a series would be created: a handle fetched
//! once and kept (as the layers and trackers do) records with no lookup,
//! no lock and no allocation, exactly as a plain prometheus-client handle.
//! The [`Registry`](crate::Registry) builds bounded families
//! (`register_bounded*`); this module knows nothing of it.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use indexmap::IndexMap;
use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::table::{FoldCounters, OVERFLOW_VALUE};

/// The series limit of every family without an override: OpenTelemetry's
/// default cardinality limit.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// What a family is bounded by, handed out by the registry before the
/// family is registered.
pub(crate) struct Bound {
    /// The family's name without the namespace, unit included.
    pub(crate) name: String,
    /// The label names of the family's declaration.
    pub(crate) labels: &'static [&'static str],
    pub(crate) limit: usize,
    pub(crate) overflow_total: Counter,
    pub(crate) fold_counters: FoldCounters,
}

/// The label set of a bounded family's overflow series: every label of
/// the family's declaration set to [`OVERFLOW_VALUE`].
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct OverflowSet(&'static [&'static str]);

impl EncodeLabelSet for OverflowSet {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|name| {
            EncodeLabel::encode(&(*name, OVERFLOW_VALUE), encoder.encode_label())
        })
    }
}

struct Inner<L, M, C> {
    name: String,
    labels: &'static [&'static str],
    limit: usize,
    constructor: C,
    /// The callers' series, in the order they were created. A read lock
    /// finds one; the write lock makes "check the count, then create" one
    /// step. Creation order (not hash order) is what a scrape walks: the
    /// series' handles were allocated in that order, so the walk reads
    /// memory front to back instead of at random, which keeps a large
    /// family's scrape linear in its size; and the exposition lists the
    /// series in a stable order.
    series: RwLock<IndexMap<L, M>>,
    /// How the overflow series' labels encode, to recognise a caller's
    /// label set that encodes the same.
    overflow_text: OnceLock<Option<String>>,
    overflow: OnceLock<M>,
    overflow_total: Counter,
    fold_counters: FoldCounters,
}

/// A metric family, in the manner of prometheus-client's
/// [`Family`], that holds at most a configured number of series: past it,
/// new label sets get the family's one overflow series.
///
/// - A label set that has a series gets it, whatever the count.
/// - A new label set gets a new series while the family holds fewer than
///   its limit.
/// - Otherwise it gets the overflow series, whose every label (free strings
///   and enums alike) is [`OVERFLOW_VALUE`], created on the first fold; the
///   fold is counted in `metrics_cardinality_overflow_total{family}`.
///
/// A caller's label set that encodes exactly as the overflow series (every
/// label `other`, as the trackers' limiters fold values) gets the overflow
/// series itself: while the family has room, without taking a place or
/// counting a fold; once it is full, as any new label set.
///
/// So a family never encodes more than `limit + 1` series. Each call with
/// a label set not yet in the family counts as one fold: callers that keep
/// their handles (the layers and trackers) ask once per label set, so the
/// counter equals the number of label sets folded.
///
/// A lookup of an existing series takes a read lock and returns an owned
/// handle (an `Arc` clone); keep the handle to record with no lookup at
/// all. Register one with [`Registry::register_bounded`](crate::Registry::register_bounded) or
/// [`Registry::register_bounded_histogram`](crate::Registry::register_bounded_histogram). Cloning is cheap and clones
/// share their series.
///
/// This limit counts *series* per family; the trackers'
/// `CardinalityLimiter` counts distinct *values* of one label and folds
/// them into the same [`OVERFLOW_VALUE`] before a label set is formed. The
/// two compose: the limiter keeps each label's values few, the family limit
/// caps their combinations and every label no limiter guards.
pub struct BoundedFamily<L, M, C = fn() -> M> {
    inner: Arc<Inner<L, M, C>>,
}

impl<L, M, C> BoundedFamily<L, M, C>
where
    L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
    M: Clone,
    C: MetricConstructor<M>,
{
    pub(crate) fn new(bound: Bound, constructor: C) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: bound.name,
                labels: bound.labels,
                limit: bound.limit,
                constructor,
                series: RwLock::new(IndexMap::new()),
                overflow_text: OnceLock::new(),
                overflow: OnceLock::new(),
                overflow_total: bound.overflow_total,
                fold_counters: bound.fold_counters,
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, IndexMap<L, M>> {
        // A poisoned lock only means a constructor panicked; the map is whole.
        self.inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The series of `labels`: its own while the family has room for it,
    /// else the overflow series.
    #[inline]
    pub fn get_or_create(&self, labels: &L) -> M {
        if let Some(metric) = self.read().get(labels) {
            return metric.clone();
        }
        self.create(labels)
    }

    /// The same as [`get_or_create`](Self::get_or_create), under the name
    /// prometheus-client gives its owned variant.
    #[inline]
    pub fn get_or_create_owned(&self, labels: &L) -> M {
        self.get_or_create(labels)
    }

    /// The series of `labels` if it exists (the overflow series, once
    /// created, for a label set that reads as it); never creates one.
    pub fn get(&self, labels: &L) -> Option<M> {
        if let Some(metric) = self.read().get(labels) {
            return Some(metric.clone());
        }
        let overflow = self.inner.overflow.get()?;
        self.is_overflow(labels).then(|| overflow.clone())
    }

    #[cold]
    fn create(&self, labels: &L) -> M {
        let inner = &*self.inner;
        let mut series = inner.series.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(metric) = series.get(labels) {
            return metric.clone();
        }
        if series.len() < inner.limit {
            if self.is_overflow(labels) {
                // A label set that reads exactly as the overflow series
                // (every label `other`, as the trackers' limiters produce)
                // *is* the overflow series: two series with one label set
                // would make the exposition invalid.
                drop(series);
                return self.overflow_series();
            }
            let metric = inner.constructor.new_metric();
            series.insert(labels.clone(), metric.clone());
            return metric;
        }
        drop(series);
        inner.overflow_total.inc();
        self.overflow_series()
    }

    fn overflow_series(&self) -> M {
        let inner = &*self.inner;
        inner
            .overflow
            .get_or_init(|| inner.constructor.new_metric())
            .clone()
    }

    /// Whether `labels` encodes as the overflow series does. Runs only when
    /// a series is about to be created: at most `limit` times, plus the
    /// calls that find the overflow series this way.
    fn is_overflow(&self, labels: &L) -> bool {
        let overflow = self
            .inner
            .overflow_text
            .get_or_init(|| encode_labels(&OverflowSet(self.inner.labels)));
        overflow.is_some() && *overflow == encode_labels(labels)
    }

    /// The family's name as configured and as its overflow counter labels
    /// it (`llm_requests`, `http_request_duration_seconds`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The most series the family holds besides its overflow series.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// The series created for callers' label sets so far (the overflow
    /// series not included).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no series was created yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of label sets folded into the overflow series so far.
    pub fn overflowed(&self) -> u64 {
        self.inner.overflow_total.get()
    }

    /// The registry's `label_values_folded_total{label}` counters, for the
    /// [`LabelTable`](crate::LabelTable)s that resolve open label values
    /// before they reach this family: a layer built from the family alone
    /// counts its folds where the registry exposes them.
    pub fn fold_counters(&self) -> &FoldCounters {
        &self.inner.fold_counters
    }
}

/// The text-format encoding of `labels` (`{a="x",b="y"}`), through
/// prometheus-client's own encoder; `None` if it cannot be encoded.
fn encode_labels<L>(labels: &L) -> Option<String>
where
    L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Counter>::default();
    let _series = family.get_or_create_owned(labels);
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("x", "x", family);
    let mut text = String::new();
    prometheus_client::encoding::text::encode_registry(&mut text, &registry).ok()?;
    let line = text.lines().find(|l| l.starts_with("x_total"))?;
    Some(line["x_total".len()..line.rfind(' ')?].to_owned())
}

impl<L, M, C> Clone for BoundedFamily<L, M, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<L, M, C> fmt::Debug for BoundedFamily<L, M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedFamily")
            .field("name", &self.inner.name)
            .field("limit", &self.inner.limit)
            .field("overflowed", &self.inner.overflow_total.get())
            .finish_non_exhaustive()
    }
}

impl<L, M: TypedMetric, C> TypedMetric for BoundedFamily<L, M, C> {
    const TYPE: MetricType = <M as TypedMetric>::TYPE;
}

impl<L, M, C> EncodeMetric for BoundedFamily<L, M, C>
where
    L: EncodeLabelSet,
    M: EncodeMetric + TypedMetric,
{
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        let series = self
            .inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for (labels, metric) in series.iter() {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        if let Some(metric) = self.inner.overflow.get() {
            let labels = OverflowSet(self.inner.labels);
            metric.encode(encoder.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}
