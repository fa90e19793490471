//! [`Registry`]: prometheus-client's registry with a namespace, global labels,
//! fallible registration and every family announced from the start.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Metric;

use crate::bounded::{Bound, BoundedFamily};
use crate::name::{label_name_problem, metric_name_problem};
use crate::table::FoldCounters;
use crate::{Error, Histogram, HistogramBuilder, MetricsConfig, Result, SharedStr, buckets};

/// The unit of a family, appended to its name and announced in OpenMetrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// Seconds, the base unit of time.
    Seconds,
    /// Bytes, the base unit of size.
    Bytes,
    /// A ratio from 0 to 1.
    Ratios,
    /// Any other unit, such as `usd`; lower-case snake case.
    Other(&'static str),
}

impl Unit {
    /// The unit as it appears in names and `# UNIT` lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Bytes => "bytes",
            Self::Ratios => "ratios",
            Self::Other(unit) => unit,
        }
    }

    fn to_prometheus(self) -> prometheus_client::registry::Unit {
        use prometheus_client::registry::Unit as P;
        match self {
            Self::Seconds => P::Seconds,
            Self::Bytes => P::Bytes,
            Self::Ratios => P::Ratios,
            Self::Other(unit) => P::Other(unit.to_owned()),
        }
    }
}

/// The type of a family, as declared in its [`FamilySpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonic counter; `_total` is appended to its samples.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A histogram with `_bucket`, `_sum` and `_count` samples.
    Histogram,
    /// An info metric (`_info`), value 1.
    Info,
}

impl MetricKind {
    /// The type's name in the exposition formats.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Info => "info",
        }
    }

    fn matches(self, metric_type: MetricType) -> bool {
        matches!(
            (self, metric_type),
            (Self::Counter, MetricType::Counter)
                | (Self::Gauge, MetricType::Gauge)
                | (Self::Histogram, MetricType::Histogram)
                | (Self::Info, MetricType::Info)
        )
    }
}

/// Everything that describes a family except its values: declared once, as a
/// `const`, and used both to register the family and to document it.
///
/// `name` is given without the namespace, without the unit and without
/// `_total`; [`full_name`](Self::full_name) adds them as the encoders do.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{FamilySpec, MetricKind, Unit};
///
/// const REQUESTS: FamilySpec = FamilySpec {
///     name: "http_requests",
///     help: "Total number of HTTP requests",
///     kind: MetricKind::Counter,
///     unit: None,
///     labels: &["method", "path", "status"],
/// };
/// assert_eq!(REQUESTS.full_name("svc"), "svc_http_requests");
/// assert_eq!(REQUESTS.sample_names("svc"), vec!["svc_http_requests_total".to_owned()]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FamilySpec {
    /// The name without namespace, unit or `_total`.
    pub name: &'static str,
    /// One sentence without a final period (the encoders add it), and
    /// without backslashes, double quotes or control characters.
    pub help: &'static str,
    /// The metric type.
    pub kind: MetricKind,
    /// The unit, appended to the name.
    pub unit: Option<Unit>,
    /// The label names, in the order they are encoded.
    pub labels: &'static [&'static str],
}

impl FamilySpec {
    /// The family name as announced in the exposition (namespace, name, unit).
    pub fn full_name(&self, namespace: &str) -> String {
        let mut name = String::with_capacity(namespace.len() + self.name.len() + 16);
        if !namespace.is_empty() {
            name.push_str(namespace);
            name.push('_');
        }
        name.push_str(self.name);
        if let Some(unit) = self.unit {
            name.push('_');
            name.push_str(unit.as_str());
        }
        name
    }

    /// The name of every sample line the family can produce.
    pub fn sample_names(&self, namespace: &str) -> Vec<String> {
        let base = self.full_name(namespace);
        match self.kind {
            MetricKind::Counter => vec![format!("{base}_total")],
            MetricKind::Gauge => vec![base],
            MetricKind::Info => vec![format!("{base}_info")],
            MetricKind::Histogram => vec![
                format!("{base}_bucket"),
                format!("{base}_sum"),
                format!("{base}_count"),
            ],
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Some(reason) = metric_name_problem(self.name) {
            return Err(Error::InvalidMetricName {
                name: self.name.to_owned(),
                reason,
            });
        }
        let invalid = |reason| {
            Err(Error::InvalidMetricName {
                name: self.name.to_owned(),
                reason,
            })
        };
        if self.kind == MetricKind::Counter && self.name.ends_with("_total") {
            return invalid("leave `_total` out of counter names: the encoders add it");
        }
        if self.kind == MetricKind::Info && self.name.ends_with("_info") {
            return invalid("leave `_info` out of info names: the encoders add it");
        }
        if let Some(unit) = self.unit {
            if self.name.ends_with(&format!("_{}", unit.as_str())) {
                return invalid("leave the unit out of the name: it is appended from `unit`");
            }
            if let Some(reason) = metric_name_problem(unit.as_str()) {
                return invalid(reason);
            }
        }
        if self.help.trim().is_empty() {
            return Err(Error::InvalidHelp {
                name: self.name.to_owned(),
                reason: "give one sentence saying what is measured",
            });
        }
        if self
            .help
            .contains(|c: char| matches!(c, '\\' | '"') || c.is_control())
        {
            return Err(Error::InvalidHelp {
                name: self.name.to_owned(),
                reason: "leave backslashes, double quotes and control characters (line \
                         breaks, carriage returns, tabs) out: prometheus-client writes \
                         OpenMetrics help text unescaped, and a parser may end the line \
                         at a carriage return",
            });
        }
        if self.help.ends_with('.') {
            return Err(Error::InvalidHelp {
                name: self.name.to_owned(),
                reason: "leave the final period out: the encoders add it",
            });
        }
        let mut seen = HashSet::new();
        for label in self.labels {
            if let Some(reason) = label_name_problem(label) {
                return Err(Error::InvalidLabelName {
                    field: self.name.to_owned(),
                    name: (*label).to_owned(),
                    reason,
                });
            }
            if (self.kind == MetricKind::Histogram && *label == "le") || !seen.insert(*label) {
                return Err(Error::InvalidLabelName {
                    field: self.name.to_owned(),
                    name: (*label).to_owned(),
                    reason: "the label is repeated or reserved (`le` on histograms)",
                });
            }
        }
        Ok(())
    }
}

/// A family as registered, for documentation and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredFamily {
    /// The family's declaration.
    pub spec: FamilySpec,
    /// The bucket bounds in use, for histograms.
    pub buckets: Option<Vec<f64>>,
    /// Whether its name carries the registry's namespace (false only for
    /// families registered with
    /// [`Registry::register_bounded_histogram_unprefixed`]).
    pub prefixed: bool,
}

impl RegisteredFamily {
    /// The family name as announced in the exposition of a registry whose
    /// namespace is `namespace`.
    pub fn full_name(&self, namespace: &str) -> String {
        self.spec
            .full_name(if self.prefixed { namespace } else { "" })
    }
}

/// prometheus-client's `Registry` with the namespace and global labels of a
/// [`MetricsConfig`], registration that returns errors instead of panicking,
/// and every family announced (`# HELP`/`# TYPE`) even before it has a series.
///
/// Build it once at start-up (`&mut` while registering), then share it
/// behind an `Arc` for rendering, which needs only `&Registry`.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
/// use prometheus_client::encoding::text::encode;
/// use prometheus_client::metrics::{counter::Counter, family::Family};
///
/// const JOBS: FamilySpec = FamilySpec {
///     name: "jobs",
///     help: "Jobs run",
///     kind: MetricKind::Counter,
///     unit: None,
///     labels: &["queue"],
/// };
///
/// let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc"))?;
/// let jobs = Family::<Vec<(String, String)>, Counter>::default();
/// registry.register(&JOBS, jobs.clone())?;
/// assert!(registry.register(&JOBS, jobs.clone()).is_err()); // duplicate
///
/// let mut text = String::new();
/// encode(&mut text, registry.as_prometheus()).unwrap();
/// // Announced although no series exists yet.
/// assert_eq!(text, "# HELP svc_jobs Jobs run.\n# TYPE svc_jobs counter\n# EOF\n");
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
pub struct Registry {
    inner: prometheus_client::registry::Registry,
    config: Arc<MetricsConfig>,
    sample_names: HashSet<String>,
    families: Vec<RegisteredFamily>,
    cardinality: RegistryState,
    /// Bytes of the last exposition rendered from this registry.
    exposition_len: std::sync::atomic::AtomicUsize,
}

impl Registry {
    /// An empty registry for a validated `config`.
    ///
    /// # Errors
    ///
    /// Any error of [`MetricsConfig::validate`].
    pub fn new(config: &MetricsConfig) -> Result<Self> {
        config.validate()?;
        let labels = config
            .global_labels()
            .iter()
            .map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(v.clone())))
            .collect::<Vec<_>>();
        // The root has no prefix: each family is registered into a
        // sub-registry of its own, prefixed with the namespace or (for
        // [`register_bounded_histogram_unprefixed`]) not, which keeps the
        // exposition in registration order.
        let inner = prometheus_client::registry::Registry::with_labels(labels.into_iter());
        Ok(Self {
            inner,
            config: Arc::new(config.clone()),
            sample_names: HashSet::new(),
            families: Vec::new(),
            cardinality: RegistryState::default(),
            exposition_len: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// How many bytes to reserve for the next exposition of this registry:
    /// the last one noted with [`note_exposition_len`](Self::note_exposition_len)
    /// plus an eighth, or 0 before any. Exporters size their output buffer
    /// with it, so a large scrape does not grow its text by doubling.
    ///
    /// ```
    /// use incident_metrics_core::{MetricsConfig, Registry};
    ///
    /// let registry = Registry::new(&MetricsConfig::new())?;
    /// assert_eq!(registry.exposition_capacity_hint(), 0);
    /// registry.note_exposition_len(8000);
    /// assert_eq!(registry.exposition_capacity_hint(), 9000);
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn exposition_capacity_hint(&self) -> usize {
        let last = self
            .exposition_len
            .load(std::sync::atomic::Ordering::Relaxed);
        last.saturating_add(last / 8)
    }

    /// Notes the length of an exposition just rendered from this registry,
    /// for [`exposition_capacity_hint`](Self::exposition_capacity_hint).
    pub fn note_exposition_len(&self, len: usize) {
        self.exposition_len
            .store(len, std::sync::atomic::Ordering::Relaxed);
    }

    /// The configuration the registry was built from.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The configuration, shared.
    pub fn shared_config(&self) -> Arc<MetricsConfig> {
        Arc::clone(&self.config)
    }

    /// Registers `metric` as the family `spec`.
    ///
    /// The family is announced in every scrape from now on, even while it
    /// has no series.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetricName`], [`Error::InvalidHelp`] or
    /// [`Error::InvalidLabelName`] when the declaration breaks the naming
    /// rules; [`Error::InvalidLabelName`] when a label collides with a global
    /// label; [`Error::DuplicateMetric`] when one of its sample names is
    /// already taken; [`Error::InvalidMetricName`] when `metric` is not of the
    /// declared kind.
    pub fn register(&mut self, spec: &FamilySpec, metric: impl Metric) -> Result<()> {
        self.register_inner(spec, metric, None, true)
    }

    /// Registers a histogram family `spec` built by `make` with the bucket
    /// bounds configured for it, or `default` when none is configured.
    ///
    /// # Errors
    ///
    /// The errors of [`register`](Self::register), and
    /// [`Error::InvalidBuckets`] when `default` is not a valid layout.
    pub fn register_histogram<M: Metric + Clone>(
        &mut self,
        spec: &FamilySpec,
        default: &[f64],
        make: impl FnOnce(&[f64]) -> Result<M>,
    ) -> Result<M> {
        self.register_histogram_inner(spec, default, make, true)
    }

    fn register_histogram_inner<M: Metric + Clone>(
        &mut self,
        spec: &FamilySpec,
        default: &[f64],
        make: impl FnOnce(&[f64]) -> Result<M>,
        prefixed: bool,
    ) -> Result<M> {
        let full = spec.full_name("");
        let bounds = self.config.buckets_for(&full).unwrap_or(default).to_vec();
        buckets::validate(&full, &bounds)?;
        let metric = make(&bounds)?;
        self.register_inner(spec, metric.clone(), Some(bounds), prefixed)?;
        Ok(metric)
    }

    fn register_inner(
        &mut self,
        spec: &FamilySpec,
        metric: impl Metric,
        buckets: Option<Vec<f64>>,
        prefixed: bool,
    ) -> Result<()> {
        spec.check()?;
        if !spec.kind.matches(EncodeMetric::metric_type(&metric)) {
            return Err(Error::InvalidMetricName {
                name: spec.name.to_owned(),
                reason: "the metric's type differs from the kind its declaration gives",
            });
        }
        if let Some((name, _)) = self
            .config
            .global_labels()
            .iter()
            .find(|(name, _)| spec.labels.contains(&name.as_str()))
        {
            return Err(Error::InvalidLabelName {
                field: "global_labels".to_owned(),
                name: name.clone(),
                reason: "a global label may not share its name with a label of a family",
            });
        }
        let namespace = if prefixed {
            self.config.namespace()
        } else {
            ""
        };
        let names = spec.sample_names(namespace);
        if let Some(taken) = names.iter().find(|n| self.sample_names.contains(*n)) {
            return Err(Error::DuplicateMetric {
                name: taken.clone(),
            });
        }
        self.sample_names.extend(names);
        let announced = Announced(metric);
        let target = self.sub_registry(prefixed);
        match spec.unit {
            Some(unit) => {
                target.register_with_unit(spec.name, spec.help, unit.to_prometheus(), announced)
            }
            None => target.register(spec.name, spec.help, announced),
        }
        self.families.push(RegisteredFamily {
            spec: *spec,
            buckets,
            prefixed,
        });
        Ok(())
    }

    /// A new sub-registry of the root for one family or collector:
    /// prefixed with the namespace (when there is one) or not.
    fn sub_registry(&mut self, prefixed: bool) -> &mut prometheus_client::registry::Registry {
        let namespace = self.config.namespace();
        if prefixed && !namespace.is_empty() {
            self.inner.sub_registry_with_prefix(namespace)
        } else {
            self.inner.sub_registry_with_labels(std::iter::empty())
        }
    }

    /// Registers a collector, whose families are computed at each scrape;
    /// they take the namespace.
    pub fn register_collector(&mut self, collector: Box<dyn Collector>) {
        self.sub_registry(true).register_collector(collector);
    }

    /// The families registered so far, in registration order.
    pub fn families(&self) -> &[RegisteredFamily] {
        &self.families
    }

    /// The prometheus-client registry, for encoding.
    pub fn as_prometheus(&self) -> &prometheus_client::registry::Registry {
        &self.inner
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("namespace", &self.config.namespace())
            .field("global_labels", &self.config.global_labels())
            .field("families", &self.families.len())
            .finish_non_exhaustive()
    }
}

/// `metrics_cardinality_overflow_total{family}`: registered by the
/// [`Registry`] with its first bounded family.
pub const CARDINALITY_OVERFLOW: FamilySpec = FamilySpec {
    name: "metrics_cardinality_overflow",
    help: "Total number of new label sets folded into the overflow series because their family held its limit of series",
    kind: MetricKind::Counter,
    unit: None,
    labels: &["family"],
};

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
    /// `label_values_folded_total{label}`, shared with every bounded
    /// family; exposed once registered.
    fold_counters: FoldCounters,
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
        let family = BoundedFamily::new(bound, constructor);
        if let Err(e) = self.register(spec, family.clone()) {
            self.unbound(&name);
            return Err(e);
        }
        Ok(family)
    }

    /// Registers the histogram family `spec` as a [`BoundedFamily`], with
    /// the bucket bounds configured for it or else `default` (as
    /// [`register_histogram`](Self::register_histogram)).
    /// Its histograms have native buckets when the configuration turns them
    /// on for the family ([`MetricsConfig::native_for`]), and no classic
    /// buckets besides `+Inf` when it also sets `native_only`.
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
        self.register_bounded_histogram_inner(spec, default, true)
    }

    /// As [`register_bounded_histogram`](Self::register_bounded_histogram),
    /// but the family's name does not take the registry's namespace: for
    /// families whose names a standard fixes, such as the OpenTelemetry
    /// GenAI metrics (`gen_ai_client_token_usage`), which OpenTelemetry's
    /// own Prometheus exporters announce without a prefix. Global labels
    /// still apply; bucket overrides and cardinality limits are keyed by
    /// the name as usual.
    ///
    /// # Errors
    ///
    /// The errors of [`register_histogram`](Self::register_histogram); a
    /// [`Error::DuplicateMetric`] when the unprefixed sample names are
    /// taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry, Unit};
    ///
    /// const DURATION: FamilySpec = FamilySpec {
    ///     name: "gen_ai_client_operation_duration",
    ///     help: "GenAI operation duration",
    ///     kind: MetricKind::Histogram,
    ///     unit: Some(Unit::Seconds),
    ///     labels: &["gen_ai_operation_name"],
    /// };
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc"))?;
    /// let family = registry.register_bounded_histogram_unprefixed::<[(&str, String); 1]>(
    ///     &DURATION,
    ///     &[0.01, 0.1, 1.0],
    /// )?;
    /// family.get_or_create(&[("gen_ai_operation_name", "chat".to_owned())]).observe(0.05);
    ///
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(
    ///     &mut text,
    ///     registry.as_prometheus(),
    /// )
    /// .unwrap();
    /// assert!(text.contains("\ngen_ai_client_operation_duration_seconds_count{gen_ai_operation_name=\"chat\"} 1\n"));
    /// assert!(!text.contains("svc_gen_ai"));
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn register_bounded_histogram_unprefixed<L>(
        &mut self,
        spec: &FamilySpec,
        default: &[f64],
    ) -> Result<BoundedFamily<L, Histogram, HistogramBuilder>>
    where
        L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
    {
        self.register_bounded_histogram_inner(spec, default, false)
    }

    /// [`register_bounded_histogram`](Self::register_bounded_histogram),
    /// with or without the namespace: both kinds of family take the native
    /// settings the configuration gives their name.
    fn register_bounded_histogram_inner<L>(
        &mut self,
        spec: &FamilySpec,
        default: &[f64],
        prefixed: bool,
    ) -> Result<BoundedFamily<L, Histogram, HistogramBuilder>>
    where
        L: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
    {
        spec.check()?;
        let bound = self.bound(spec)?;
        let name = bound.name.clone();
        let native = self.config.native_for(&name);
        let native_only = self.config.native_only();
        let registered = self.register_histogram_inner(
            spec,
            default,
            |bounds| {
                let mut builder = HistogramBuilder::new(&name, bounds)?;
                if let Some(native) = native {
                    builder = builder.with_native(native);
                    if native_only {
                        builder = builder.without_classic_buckets();
                    }
                }
                Ok(BoundedFamily::new(bound, builder))
            },
            prefixed,
        );
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
            labels: spec.labels,
            limit,
            overflow_total,
            fold_counters: self.cardinality.fold_counters.clone(),
        })
    }

    /// The registry's `label_values_folded_total{label}` counters (see
    /// [`FoldCounters`]), shared with every bounded family.
    pub fn fold_counters(&self) -> &FoldCounters {
        &self.cardinality.fold_counters
    }

    /// Registers the registry's [`FoldCounters`] as the family `spec` (the
    /// catalog's `label_values_folded`), so that every fold counted by a
    /// [`LabelTable`](crate::LabelTable) fed from this registry is exposed.
    ///
    /// # Errors
    ///
    /// The errors of [`register`](Self::register).
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_core::{FamilySpec, MetricKind, MetricsConfig, Registry};
    ///
    /// const FOLDED: FamilySpec = FamilySpec {
    ///     name: "label_values_folded",
    ///     help: "Observations whose label value was folded",
    ///     kind: MetricKind::Counter,
    ///     unit: None,
    ///     labels: &["label"],
    /// };
    /// let mut registry = Registry::new(&MetricsConfig::new().with_namespace("svc"))?;
    /// let folds = registry.register_fold_counters(&FOLDED)?;
    /// folds.counter("grpc_method").inc();
    /// let mut text = String::new();
    /// incident_metrics_core::prometheus_client::encoding::text::encode(
    ///     &mut text,
    ///     registry.as_prometheus(),
    /// )
    /// .unwrap();
    /// assert!(text.contains("svc_label_values_folded_total{label=\"grpc_method\"} 1\n"));
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    pub fn register_fold_counters(&mut self, spec: &FamilySpec) -> Result<FoldCounters> {
        let folds = self.cardinality.fold_counters.clone();
        self.register(spec, folds.clone())?;
        Ok(folds)
    }
}

/// A metric that is never reported empty, so that its family is announced
/// before it has a series (prometheus-client leaves out empty families).
#[derive(Debug)]
struct Announced<M>(M);

impl<M: EncodeMetric> EncodeMetric for Announced<M> {
    fn encode(&self, encoder: MetricEncoder<'_>) -> std::result::Result<(), fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }

    fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    const C: FamilySpec = FamilySpec {
        name: "c",
        help: "A counter",
        kind: MetricKind::Counter,
        unit: None,
        labels: &[],
    };

    fn registry() -> Registry {
        Registry::new(&MetricsConfig::new().with_namespace("ns")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn unprefixed_histograms_take_the_native_settings_too() {
        const H: FamilySpec = FamilySpec {
            name: "gen_ai_client_operation_duration",
            help: "H",
            kind: MetricKind::Histogram,
            unit: Some(Unit::Seconds),
            labels: &[],
        };
        for (config, native) in [
            (MetricsConfig::new(), false),
            (MetricsConfig::new().with_native_histograms(true), true),
            (
                MetricsConfig::new()
                    .with_native_histogram_family("gen_ai_client_operation_duration_seconds"),
                true,
            ),
        ] {
            let mut r =
                Registry::new(&config.with_namespace("ns")).unwrap_or_else(|e| panic!("{e}"));
            let family = r
                .register_bounded_histogram_unprefixed::<[(&str, String); 0]>(&H, &[1.0])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(family.get_or_create(&[]).has_native(), native);
            r.check_native_histograms()
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn err(spec: FamilySpec, metric: impl Metric) -> String {
        match registry().register(&spec, metric) {
            Ok(()) => panic!("{spec:?} should be rejected"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_bad_declarations() {
        let c = Counter::<u64>::default;
        assert!(err(FamilySpec { name: "a-b", ..C }, c()).contains("\"a-b\""));
        assert!(
            err(
                FamilySpec {
                    name: "c_total",
                    ..C
                },
                c()
            )
            .contains("`_total`")
        );
        assert!(
            err(
                FamilySpec {
                    name: "d_seconds",
                    kind: MetricKind::Gauge,
                    unit: Some(Unit::Seconds),
                    ..C
                },
                Gauge::<i64>::default()
            )
            .contains("unit")
        );
        assert!(err(FamilySpec { help: "", ..C }, c()).contains("help"));
        assert!(err(FamilySpec { help: "Ends.", ..C }, c()).contains("period"));
        for help in [
            "Two\nlines",
            "A \"quote\"",
            "C:\\dir",
            "Carriage\rreturn",
            "A\ttab",
            "Nul\0",
            "Next line\u{85}",
        ] {
            assert!(
                err(FamilySpec { help, ..C }, c()).contains("unescaped"),
                "{help:?}"
            );
        }
        assert!(
            err(
                FamilySpec {
                    labels: &["__x"],
                    ..C
                },
                c()
            )
            .contains("__x")
        );
        assert!(
            err(
                FamilySpec {
                    labels: &["a", "a"],
                    ..C
                },
                c()
            )
            .contains("repeated")
        );
        assert!(
            err(
                FamilySpec {
                    kind: MetricKind::Gauge,
                    ..C
                },
                c()
            )
            .contains("type")
        );
    }

    #[test]
    fn rejects_duplicates_and_sample_name_collisions() {
        let mut r = registry();
        r.register(&C, Counter::<u64>::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let e = r.register(&C, Counter::<u64>::default()).unwrap_err();
        assert!(
            matches!(e, Error::DuplicateMetric { ref name } if name == "ns_c_total"),
            "{e}"
        );
        // A gauge named `c_total` would produce the same sample name.
        let g = FamilySpec {
            name: "c_total",
            kind: MetricKind::Gauge,
            ..C
        };
        assert!(r.register(&g, Gauge::<i64>::default()).is_err());
        assert_eq!(r.families().len(), 1);
    }

    #[test]
    fn rejects_global_label_collisions() {
        let mut r = Registry::new(&MetricsConfig::new().with_global_label("method", "x"))
            .unwrap_or_else(|e| panic!("{e}"));
        let spec = FamilySpec {
            labels: &["method"],
            ..C
        };
        let e = r.register(&spec, Counter::<u64>::default()).unwrap_err();
        assert!(e.to_string().contains("global label"), "{e}");
    }

    #[test]
    fn histogram_buckets_follow_overrides() {
        let spec = FamilySpec {
            name: "d",
            help: "Duration",
            kind: MetricKind::Histogram,
            unit: Some(Unit::Seconds),
            labels: &[],
        };
        let config = MetricsConfig::new().with_buckets("d_seconds", vec![1.0, 2.0]);
        let mut r = Registry::new(&config).unwrap_or_else(|e| panic!("{e}"));
        let h = r
            .register_histogram(&spec, &[0.5], |b| crate::Histogram::new("d_seconds", b))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.bounds(), &[1.0, 2.0]);
        assert_eq!(r.families()[0].buckets.as_deref(), Some(&[1.0, 2.0][..]));
        let mut r = registry();
        assert!(
            r.register_histogram(&spec, &[2.0, 1.0], |b| crate::Histogram::new(
                "d_seconds",
                b
            ))
            .is_err()
        );
    }

    #[test]
    fn invalid_config_is_refused() {
        assert!(Registry::new(&MetricsConfig::new().with_sample_rate(2.0)).is_err());
    }
}

#[cfg(test)]
mod bounded_tests {
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
