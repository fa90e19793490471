//! Per-family cardinality limits: [`BoundedFamily`], its configuration
//! (`cardinality_limit`, `cardinality_limits`) and the
//! `metrics_cardinality_overflow_total{family}` counter.
//!
//! A family may hold at most its limit of series. Once it does, every *new*
//! label set is folded into one overflow series whose every label is
//! [`OVERFLOW_VALUE`] (after OpenTelemetry's `otel.metric.overflow`
//! series), and the fold is counted in
//! `metrics_cardinality_overflow_total{family="<family>"}`. Series that
//! already exist keep recording as before, so a family never holds more
//! than `limit + 1` series and its memory stays bounded whatever its
//! callers pass in.
//!
//! The check runs only where a series would be created: a handle fetched
//! once and kept (as the layers and trackers do) records with no lookup,
//! no lock and no allocation, exactly as a plain prometheus-client handle.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::registry::{FamilySpec, MetricKind};
use crate::{Error, Histogram, HistogramBuilder, MetricsConfig, Registry, Result, SharedStr};

/// The series limit of every family without an override: OpenTelemetry's
/// default cardinality limit.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The value every label of an overflow series is set to, and the value the
/// trackers' per-label limiter folds excess values into.
pub const OVERFLOW_VALUE: &str = "other";

/// `metrics_cardinality_overflow_total{family}`: registered by the
/// [`Registry`] with its first bounded family.
pub const CARDINALITY_OVERFLOW: FamilySpec = FamilySpec {
    name: "metrics_cardinality_overflow",
    help: "Total number of new label sets folded into the overflow series because their family held its limit of series",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["family"],
};

impl MetricsConfig {
    /// Sets the most series any one family may hold before new label sets
    /// are folded into its overflow series (`cardinality_limit`, default
    /// [`DEFAULT_CARDINALITY_LIMIT`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::MetricsConfig;
    ///
    /// let config = MetricsConfig::new()
    ///     .with_cardinality_limit(500)
    ///     .with_family_cardinality_limit("llm_requests", 100);
    /// config.validate()?;
    /// assert_eq!(config.cardinality_limit_for("llm_requests"), 100);
    /// assert_eq!(config.cardinality_limit_for("http_requests"), 500);
    /// assert!(MetricsConfig::new().with_cardinality_limit(0).validate().is_err());
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = limit;
        self
    }

    /// Overrides the limit of one family (an entry of the
    /// `cardinality_limits` table), named as in the exposition without the
    /// namespace and without `_total`, unit included: `llm_requests`,
    /// `http_request_duration_seconds`.
    #[must_use]
    pub fn with_family_cardinality_limit(
        mut self,
        family: impl Into<String>,
        limit: usize,
    ) -> Self {
        self.cardinality_limits.insert(family.into(), limit);
        self
    }

    /// The limit of every family without an override.
    pub fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }

    /// The limit of `family` (named as in
    /// [`with_family_cardinality_limit`](Self::with_family_cardinality_limit)).
    pub fn cardinality_limit_for(&self, family: &str) -> usize {
        self.cardinality_limits
            .get(family)
            .copied()
            .unwrap_or(self.cardinality_limit)
    }

    /// The per-family overrides.
    pub fn cardinality_limit_overrides(&self) -> &BTreeMap<String, usize> {
        &self.cardinality_limits
    }
}

/// Checks the limits of a configuration: none may be zero, and every
/// override must name a well-formed family. Whether an override names a
/// *registered* family is known only once registration is over; see
/// [`Registry::check_cardinality_limits`].
pub(crate) fn validate(config: &MetricsConfig) -> Result<()> {
    if config.cardinality_limit == 0 {
        return Err(Error::InvalidCardinalityLimit {
            field: "cardinality_limit".to_owned(),
            value: 0,
        });
    }
    for (family, limit) in &config.cardinality_limits {
        crate::name::validate_metric_name(family)?;
        if *limit == 0 {
            return Err(Error::InvalidCardinalityLimit {
                field: format!("cardinality_limits.{family}"),
                value: 0,
            });
        }
    }
    Ok(())
}

/// Applies `INCIDENT_METRICS_CARDINALITY_LIMIT` (`name` is the variable
/// without the prefix) and `INCIDENT_METRICS_CARDINALITY_LIMIT_<FAMILY>`.
pub(crate) fn set_env(
    config: &mut MetricsConfig,
    name: &str,
    value: &str,
) -> std::result::Result<(), String> {
    let family = match name.strip_prefix("CARDINALITY_LIMIT") {
        Some("") => None,
        Some(rest) => match rest.strip_prefix('_') {
            Some(family) if !family.is_empty() => Some(family.to_ascii_lowercase()),
            _ => {
                return Err(
                    "unknown variable; use CARDINALITY_LIMIT or CARDINALITY_LIMIT_<FAMILY>".into(),
                );
            }
        },
        None => return Err("not a cardinality limit variable".into()),
    };
    let limit = value
        .trim()
        .parse::<usize>()
        .map_err(|e| format!("not a whole number ({e}); give a number of series such as 2000"))?;
    match family {
        Some(family) => {
            config.cardinality_limits.insert(family, limit);
        }
        None => config.cardinality_limit = limit,
    }
    Ok(())
}

/// The labels of `metrics_cardinality_overflow_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct OverflowLabels {
    family: SharedStr,
}

/// What a [`Registry`] keeps about its bounded families.
#[derive(Debug, Default)]
pub(crate) struct RegistryState {
    overflow: Option<Family<OverflowLabels, Counter>>,
    bounded: BTreeSet<String>,
}

/// The limit and overflow counter of one family, handed out by the
/// registry before the family is registered.
struct Bound {
    name: String,
    limit: usize,
    overflow_total: Counter,
}

impl Registry {
    /// Registers `spec` as a [`BoundedFamily`] whose series start as
    /// `M::default()` (a `Counter`, a `Gauge`).
    ///
    /// Its limit is the configured one for its name (see
    /// [`MetricsConfig::cardinality_limit_for`]). The first bounded family
    /// also registers [`CARDINALITY_OVERFLOW`]; each bounded family has its
    /// `metrics_cardinality_overflow_total{family}` series from the start,
    /// at zero, so that an alert on its increase sees the first fold.
    ///
    /// # Errors
    ///
    /// The errors of [`register`](Self::register).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::prometheus_client::metrics::counter::Counter;
    /// use incident_metrics_core::{BoundedFamily, FamilySpec, MetricKind, MetricsConfig, Registry};
    ///
    /// const JOBS: FamilySpec = FamilySpec {
    ///     name: "jobs",
    ///     help: "Jobs run, by queue",
    ///     kind: MetricKind::Counter,
    ///     unit: None,
    ///     labels: &["queue"],
    /// };
    ///
    /// let config = MetricsConfig::new().with_namespace("svc").with_family_cardinality_limit("jobs", 2);
    /// let mut registry = Registry::new(&config)?;
    /// let jobs: BoundedFamily<[(&str, String); 1], Counter> =
    ///     registry.register_bounded(&JOBS)?;
    /// registry.check_cardinality_limits()?;
    ///
    /// for queue in ["a", "b", "c", "d"] {
    ///     jobs.get_or_create(&[("queue", queue.to_owned())]).inc();
    /// }
    /// assert_eq!(jobs.len(), 2);
    /// assert_eq!(jobs.overflowed(), 2);
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(
    ///     &mut text,
    ///     registry.as_prometheus(),
    /// )
    /// .unwrap();
    /// assert!(text.contains("svc_jobs_total{queue=\"other\"} 2\n"));
    /// assert!(text.contains("svc_metrics_cardinality_overflow_total{family=\"jobs\"} 2\n"));
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn register_bounded<L, M>(&mut self, spec: &FamilySpec) -> Result<BoundedFamily<L, M>>
    where
        L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
        M: Clone + Default + EncodeMetric + TypedMetric + fmt::Debug + Send + Sync + 'static,
    {
        self.register_bounded_with(spec, M::default as fn() -> M)
    }

    /// Registers `spec` as a [`BoundedFamily`] whose series are made by
    /// `constructor`.
    ///
    /// # Errors
    ///
    /// The errors of [`register`](Self::register).
    pub fn register_bounded_with<L, M, C>(
        &mut self,
        spec: &FamilySpec,
        constructor: C,
    ) -> Result<BoundedFamily<L, M, C>>
    where
        L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
        M: Clone + EncodeMetric + TypedMetric + fmt::Debug + Send + Sync + 'static,
        C: MetricConstructor<M> + Clone + Send + Sync + 'static,
    {
        spec.check()?;
        let bound = self.bound(spec)?;
        let name = bound.name.clone();
        let family = BoundedFamily::new(spec, bound, constructor);
        if let Err(e) = self.register(spec, family.clone()) {
            self.unbound(&name);
            return Err(e);
        }
        Ok(family)
    }

    /// Registers the histogram family `spec` as a [`BoundedFamily`], with
    /// the bucket bounds configured for it or else `default` (as
    /// [`register_histogram`](Self::register_histogram)).
    ///
    /// # Errors
    ///
    /// The errors of [`register_histogram`](Self::register_histogram).
    pub fn register_bounded_histogram<L>(
        &mut self,
        spec: &FamilySpec,
        default: &[f64],
    ) -> Result<BoundedFamily<L, Histogram, HistogramBuilder>>
    where
        L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
    {
        spec.check()?;
        let bound = self.bound(spec)?;
        let name = bound.name.clone();
        let registered = self.register_histogram(spec, default, |bounds| {
            let builder = HistogramBuilder::new(&name, bounds)?;
            Ok(BoundedFamily::new(spec, bound, builder))
        });
        if registered.is_err() {
            self.unbound(&name);
        }
        registered
    }

    /// Undoes [`bound`](Self::bound) for a family whose registration failed.
    fn unbound(&mut self, name: &str) {
        self.cardinality.bounded.remove(name);
        if let Some(overflow) = &self.cardinality.overflow {
            overflow.remove(&OverflowLabels {
                family: SharedStr::from(name),
            });
        }
    }

    /// Checks that every entry of `cardinality_limits` names a family
    /// registered with a limit. Call it once every family is registered
    /// (the facade's `Metrics` does).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCardinalityFamily`] for the first entry that names
    /// no bounded family.
    pub fn check_cardinality_limits(&self) -> Result<()> {
        let state = &self.cardinality;
        match self
            .config()
            .cardinality_limit_overrides()
            .keys()
            .find(|family| !state.bounded.contains(*family))
        {
            Some(family) => Err(Error::UnknownCardinalityFamily {
                family: family.clone(),
                known: state
                    .bounded
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            None => Ok(()),
        }
    }

    fn bound(&mut self, spec: &FamilySpec) -> Result<Bound> {
        let name = spec.full_name("");
        if self.cardinality.bounded.contains(&name) {
            return Err(Error::DuplicateMetric {
                name: spec.full_name(self.config().namespace()),
            });
        }
        let overflow = match &self.cardinality.overflow {
            Some(family) => family.clone(),
            None => {
                let family = Family::<OverflowLabels, Counter>::default();
                self.register(&CARDINALITY_OVERFLOW, family.clone())?;
                self.cardinality.overflow = Some(family.clone());
                family
            }
        };
        let overflow_total = overflow.get_or_create_owned(&OverflowLabels {
            family: SharedStr::from(name.as_str()),
        });
        let limit = self.config().cardinality_limit_for(&name);
        self.cardinality.bounded.insert(name.clone());
        Ok(Bound {
            name,
            limit,
            overflow_total,
        })
    }
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
/// all. Register one with [`Registry::register_bounded`] or
/// [`Registry::register_bounded_histogram`]. Cloning is cheap and clones
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
    fn new(spec: &FamilySpec, bound: Bound, constructor: C) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: bound.name,
                labels: spec.labels,
                limit: bound.limit,
                constructor,
                series: RwLock::new(IndexMap::new()),
                overflow_text: OnceLock::new(),
                overflow: OnceLock::new(),
                overflow_total: bound.overflow_total,
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

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::gauge::Gauge;

    const JOBS: FamilySpec = FamilySpec {
        name: "jobs",
        help: "Jobs run",
        kind: MetricKind::Counter,
        unit: None,
        labels: &["queue", "kind"],
    };

    const WAIT: FamilySpec = FamilySpec {
        name: "wait",
        help: "Time waited",
        kind: MetricKind::Histogram,
        unit: Some(crate::Unit::Seconds),
        labels: &["queue"],
    };

    type Labels = [(&'static str, String); 2];

    fn labels(queue: &str) -> Labels {
        [("queue", queue.to_owned()), ("kind", "batch".to_owned())]
    }

    fn render(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry.as_prometheus()).unwrap();
        text
    }

    fn registry(config: MetricsConfig) -> Registry {
        Registry::new(&config.with_namespace("ns")).unwrap()
    }

    #[test]
    fn config_defaults_toml_and_env() {
        let c = MetricsConfig::new();
        assert_eq!(c.cardinality_limit(), 2000);
        assert_eq!(c.cardinality_limit_for("llm_requests"), 2000);
        assert!(c.cardinality_limit_overrides().is_empty());

        let c = MetricsConfig::from_toml_str(
            "cardinality_limit = 300\n[cardinality_limits]\nllm_requests = 50\n",
        )
        .unwrap();
        assert_eq!(c.cardinality_limit(), 300);
        assert_eq!(c.cardinality_limit_for("llm_requests"), 50);
        assert_eq!(c.cardinality_limit_for("llm_tokens"), 300);

        let c = MetricsConfig::new()
            .with_env_vars([
                ("INCIDENT_METRICS_CARDINALITY_LIMIT", " 700 "),
                ("INCIDENT_METRICS_CARDINALITY_LIMIT_HTTP_REQUESTS", "9"),
            ])
            .unwrap();
        assert_eq!(c.cardinality_limit(), 700);
        assert_eq!(c.cardinality_limit_for("http_requests"), 9);
    }

    #[test]
    fn zero_and_malformed_limits_are_refused_with_the_field() {
        let e = MetricsConfig::new()
            .with_cardinality_limit(0)
            .validate()
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidCardinalityLimit { ref field, value: 0 } if field == "cardinality_limit"),
            "{e}"
        );
        assert!(e.to_string().contains("at least 1"), "{e}");

        let e =
            MetricsConfig::from_toml_str("[cardinality_limits]\nllm_requests = 0\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("`cardinality_limits.llm_requests` 0"),
            "{e}"
        );

        let e = MetricsConfig::new()
            .with_family_cardinality_limit("llm-requests", 5)
            .validate()
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidMetricName { ref name, .. } if name == "llm-requests"),
            "{e}"
        );

        let e = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_CARDINALITY_LIMIT", "many")])
            .unwrap_err();
        assert!(
            e.to_string().contains("INCIDENT_METRICS_CARDINALITY_LIMIT"),
            "{e}"
        );
        assert!(e.to_string().contains("not a whole number"), "{e}");

        let e = MetricsConfig::new()
            .with_env_vars([("INCIDENT_METRICS_CARDINALITY_LIMITS", "5")])
            .unwrap_err();
        assert!(e.to_string().contains("CARDINALITY_LIMIT_<FAMILY>"), "{e}");

        let e = MetricsConfig::from_toml_str("cardinality_limit = -1\n").unwrap_err();
        assert!(matches!(e, Error::ConfigParse { .. }), "{e}");
    }

    #[test]
    fn folds_new_label_sets_past_the_limit_into_one_overflow_series() {
        let mut r = registry(MetricsConfig::new().with_family_cardinality_limit("jobs", 2));
        let jobs: BoundedFamily<Labels, Counter> = r.register_bounded(&JOBS).unwrap();
        r.check_cardinality_limits().unwrap();
        assert_eq!((jobs.name(), jobs.limit(), jobs.len()), ("jobs", 2, 0));

        // Announced, and its overflow counter at zero, before any series.
        let text = render(&r);
        assert!(
            text.contains("# TYPE ns_metrics_cardinality_overflow counter\n"),
            "{text}"
        );
        assert!(
            text.contains("ns_metrics_cardinality_overflow_total{family=\"jobs\"} 0\n"),
            "{text}"
        );

        jobs.get_or_create(&labels("a")).inc();
        jobs.get_or_create(&labels("b")).inc_by(2);
        jobs.get_or_create(&labels("c")).inc_by(3); // folded
        jobs.get_or_create(&labels("d")).inc_by(4); // folded
        jobs.get_or_create(&labels("a")).inc_by(10); // existing: its own series
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs.overflowed(), 2);
        assert_eq!(jobs.get(&labels("a")).map(|c| c.get()), Some(11));
        assert_eq!(jobs.get(&labels("c")).map(|c| c.get()), None);

        let text = render(&r);
        assert!(
            text.contains("ns_jobs_total{queue=\"a\",kind=\"batch\"} 11\n"),
            "{text}"
        );
        assert!(
            text.contains("ns_jobs_total{queue=\"b\",kind=\"batch\"} 2\n"),
            "{text}"
        );
        // Every label of the overflow series is `other`.
        assert!(
            text.contains("ns_jobs_total{queue=\"other\",kind=\"other\"} 7\n"),
            "{text}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("ns_jobs_total"))
                .count(),
            3
        );
        assert!(
            text.contains("ns_metrics_cardinality_overflow_total{family=\"jobs\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn series_are_listed_in_the_order_they_were_created() {
        let mut r = registry(MetricsConfig::new());
        let jobs: BoundedFamily<Labels, Counter> = r.register_bounded(&JOBS).unwrap();
        // Names whose hash order is unlikely to be their creation order.
        let queues: Vec<String> = (0..64).map(|i| format!("q{}", (i * 37) % 64)).collect();
        for q in &queues {
            jobs.get_or_create(&labels(q)).inc();
        }
        let listed: Vec<String> = render(&r)
            .lines()
            .filter_map(|l| l.strip_prefix("ns_jobs_total{queue=\""))
            .map(|l| l[..l.find('"').unwrap()].to_owned())
            .collect();
        assert_eq!(listed, queues);
        // And again: the order is stable from one scrape to the next.
        assert_eq!(render(&r), render(&r));
    }

    #[test]
    fn histograms_and_gauges_are_bounded_with_their_buckets() {
        let config = MetricsConfig::new()
            .with_cardinality_limit(1)
            .with_buckets("wait_seconds", vec![1.0, 2.0]);
        let mut r = registry(config);
        let wait: BoundedFamily<[(&'static str, String); 1], Histogram, HistogramBuilder> =
            r.register_bounded_histogram(&WAIT, &[0.5]).unwrap();
        let gauges: BoundedFamily<[(&'static str, String); 1], Gauge> = r
            .register_bounded(&FamilySpec {
                name: "depth",
                kind: MetricKind::Gauge,
                labels: &["queue"],
                ..JOBS
            })
            .unwrap();
        for q in ["x", "y", "z"] {
            wait.get_or_create(&[("queue", q.to_owned())]).observe(1.5);
            gauges.get_or_create(&[("queue", q.to_owned())]).inc();
        }
        let text = render(&r);
        assert!(
            text.contains("ns_wait_seconds_bucket{le=\"2.0\",queue=\"x\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ns_wait_seconds_count{queue=\"other\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("ns_depth{queue=\"other\"} 2\n"), "{text}");
        assert!(
            text.contains("ns_metrics_cardinality_overflow_total{family=\"wait_seconds\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ns_metrics_cardinality_overflow_total{family=\"depth\"} 2\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE ns_metrics_cardinality_overflow counter")
                .count(),
            1
        );
    }

    #[test]
    fn a_label_set_reading_as_the_overflow_series_is_the_overflow_series() {
        let mut r = registry(MetricsConfig::new().with_family_cardinality_limit("jobs", 2));
        let jobs: BoundedFamily<Labels, Counter> = r.register_bounded(&JOBS).unwrap();
        let other = [("queue", "other".to_owned()), ("kind", "other".to_owned())];
        // Under the limit: no place taken, no fold counted.
        jobs.get_or_create(&other).inc();
        assert_eq!((jobs.len(), jobs.overflowed()), (0, 0));
        jobs.get_or_create(&labels("a")).inc();
        jobs.get_or_create(&labels("b")).inc();
        jobs.get_or_create(&labels("c")).inc(); // folded
        jobs.get_or_create(&other).inc(); // full: counted as any new set
        assert_eq!((jobs.len(), jobs.overflowed()), (2, 2));
        let text = render(&r);
        let overflow = "ns_jobs_total{queue=\"other\",kind=\"other\"}";
        assert_eq!(text.matches(overflow).count(), 1, "{text}");
        assert!(text.contains(&format!("{overflow} 3\n")), "{text}");
        assert_eq!(jobs.get(&other).map(|c| c.get()), Some(3));
        // A label set with one label `other` is an ordinary one.
        let half = [("queue", "other".to_owned()), ("kind", "batch".to_owned())];
        assert!(jobs.get(&half).is_none());
    }

    #[test]
    fn overrides_must_name_a_bounded_family() {
        let mut r = registry(MetricsConfig::new().with_family_cardinality_limit("jbos", 5));
        let _jobs: BoundedFamily<Labels, Counter> = r.register_bounded(&JOBS).unwrap();
        let e = r.check_cardinality_limits().unwrap_err();
        assert!(
            matches!(e, Error::UnknownCardinalityFamily { ref family, ref known } if family == "jbos" && known == "jobs"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("`cardinality_limits.jbos` names no registered family"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_registration_leaves_no_overflow_series() {
        let mut r = registry(MetricsConfig::new());
        r.register(&JOBS, Counter::<u64>::default()).unwrap();
        // The sample name is taken by a plain family.
        let e = r.register_bounded::<Labels, Counter>(&JOBS).unwrap_err();
        assert!(matches!(e, Error::DuplicateMetric { .. }), "{e}");
        let bad = FamilySpec {
            name: "wait",
            ..WAIT
        };
        let e = r
            .register_histogram(&bad, &[1.0], |b| crate::Histogram::new("wait_seconds", b))
            .map(|_| ())
            .and_then(|()| {
                r.register_bounded_histogram::<[(&'static str, String); 1]>(&WAIT, &[1.0])
                    .map(|_| ())
            })
            .unwrap_err();
        assert!(matches!(e, Error::DuplicateMetric { .. }), "{e}");
        let text = render(&r);
        assert!(!text.contains("family=\"jobs\""), "{text}");
        assert!(!text.contains("family=\"wait_seconds\""), "{text}");
        assert!(r.check_cardinality_limits().is_ok());
    }

    #[test]
    fn a_family_is_bounded_once() {
        let mut r = registry(MetricsConfig::new());
        let _jobs: BoundedFamily<Labels, Counter> = r.register_bounded(&JOBS).unwrap();
        let e = r.register_bounded::<Labels, Counter>(&JOBS).unwrap_err();
        assert!(
            matches!(e, Error::DuplicateMetric { ref name } if name == "ns_jobs"),
            "{e}"
        );
    }

    #[test]
    fn racing_threads_never_exceed_the_limit() {
        let mut r = registry(MetricsConfig::new().with_cardinality_limit(50));
        let jobs: BoundedFamily<Labels, Counter> = r.register_bounded(&JOBS).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let jobs = jobs.clone();
                s.spawn(move || {
                    for i in 0..100 {
                        jobs.get_or_create(&labels(&format!("{t}-{i}"))).inc();
                    }
                });
            }
        });
        assert_eq!(jobs.len(), 50);
        assert_eq!(jobs.overflowed(), 350);
        let text = render(&r);
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("ns_jobs_total"))
                .count(),
            51
        );
        assert!(
            text.contains("ns_jobs_total{queue=\"other\",kind=\"other\"} 350\n"),
            "{text}"
        );
    }
}
