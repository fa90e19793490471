//! [`Registry`]: prometheus-client's registry with a namespace, global labels,
//! fallible registration and every family announced from the start.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Metric;

use crate::name::{label_name_problem, metric_name_problem};
use crate::{Error, MetricsConfig, Result, buckets};

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
    pub(crate) cardinality: crate::cardinality::RegistryState,
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
        let inner = if config.namespace().is_empty() {
            prometheus_client::registry::Registry::with_labels(labels.into_iter())
        } else {
            prometheus_client::registry::Registry::with_prefix_and_labels(
                config.namespace(),
                labels.into_iter(),
            )
        };
        Ok(Self {
            inner,
            config: Arc::new(config.clone()),
            sample_names: HashSet::new(),
            families: Vec::new(),
            cardinality: crate::cardinality::RegistryState::default(),
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
        self.register_inner(spec, metric, None)
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
        let full = spec.full_name("");
        let bounds = self.config.buckets_for(&full).unwrap_or(default).to_vec();
        buckets::validate(&full, &bounds)?;
        let metric = make(&bounds)?;
        self.register_inner(spec, metric.clone(), Some(bounds))?;
        Ok(metric)
    }

    fn register_inner(
        &mut self,
        spec: &FamilySpec,
        metric: impl Metric,
        buckets: Option<Vec<f64>>,
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
        let names = spec.sample_names(self.config.namespace());
        if let Some(taken) = names.iter().find(|n| self.sample_names.contains(*n)) {
            return Err(Error::DuplicateMetric {
                name: taken.clone(),
            });
        }
        self.sample_names.extend(names);
        let announced = Announced(metric);
        match spec.unit {
            Some(unit) => {
                self.inner
                    .register_with_unit(spec.name, spec.help, unit.to_prometheus(), announced)
            }
            None => self.inner.register(spec.name, spec.help, announced),
        }
        self.families.push(RegisteredFamily {
            spec: *spec,
            buckets,
        });
        Ok(())
    }

    /// Registers a collector, whose families are computed at each scrape.
    pub fn register_collector(&mut self, collector: Box<dyn Collector>) {
        self.inner.register_collector(collector);
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
