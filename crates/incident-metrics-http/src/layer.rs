//! [`HttpMetricsLayer`]: the tower layer and its options.

use std::fmt;
use std::sync::Arc;

use incident_metrics_catalog::Catalog;
use incident_metrics_core::{ExemplarSource, SharedStr, TraceparentSource};
use tower_layer::Layer;

use crate::classify::PathClassifier;
use crate::service::HttpMetricsService;
use crate::shared::{Settings, Shared};
use crate::timing::DurationEnd;

/// The `path` value of requests that matched no route, unless configured.
pub const DEFAULT_UNMATCHED_PATH: &str = "unmatched";

/// A tower [`Layer`] that records every request into the catalog's HTTP
/// families: `http_requests_total`, `http_request_duration_seconds`,
/// `http_request_size_bytes`, `http_response_size_bytes`,
/// `http_connections_active` and `http_requests_in_flight`.
///
/// Cloning is cheap (one `Arc`); clones share the route cache.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_http::{DurationEnd, HttpMetricsLayer};
///
/// let mut registry = Registry::new(&MetricsConfig::new().with_sample_rate(0.5))?;
/// let catalog = Catalog::register(&mut registry)?;
/// let layer = HttpMetricsLayer::new(&catalog)
///     .with_unmatched_path("no_route")
///     .with_duration_end(DurationEnd::FirstByte)
///     .with_path_classifier(|uri: &http::Uri| uri.path().starts_with("/v1/").then_some("/v1/{*rest}"));
/// assert_eq!(layer.unmatched_path(), "no_route");
/// assert_eq!(layer.duration_end(), DurationEnd::FirstByte);
/// # Ok::<(), incident_metrics_core::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpMetricsLayer {
    shared: Arc<Shared>,
}

impl HttpMetricsLayer {
    /// A layer recording into the HTTP families of `catalog`, with the
    /// sample rate, exclusions and on/off switch of the configuration the
    /// catalog was registered under ([`Catalog::config`]).
    ///
    /// The facade's `Metrics::http_layer` is this call.
    pub fn new(catalog: &Catalog) -> Self {
        // quanta calibrates its clock on first use (up to some 200 ms): do it
        // now rather than on the first request.
        let _ = quanta::Instant::now();
        Self::from_settings(Settings {
            metrics: catalog.http.clone(),
            config: catalog.config().clone(),
            classifier: None,
            unmatched: SharedStr::from_static(DEFAULT_UNMATCHED_PATH),
            duration_end: DurationEnd::default(),
            exemplar_source: Arc::new(TraceparentSource),
        })
    }

    fn from_settings(settings: Settings) -> Self {
        Self {
            shared: Arc::new(Shared::new(settings)),
        }
    }

    fn rebuild(&self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.shared.settings.clone();
        change(&mut settings);
        Self::from_settings(settings)
    }

    /// Names the route of requests that carry no axum `MatchedPath` (stacks
    /// without axum, or the feature off). Without a classifier, or when it
    /// returns `None`, a request counts as unmatched.
    ///
    /// The templates it returns should be few. If they are not (a
    /// classifier returning raw paths), the route families' cardinality
    /// limit (`cardinality_limit`, per family in `cardinality_limits`)
    /// bounds them: past it, new templates are recorded under
    /// `path="other"`, each such request counted in
    /// `label_values_folded_total{label="http_route"}`, and the layer's
    /// route table grows no further.
    #[must_use]
    pub fn with_path_classifier(self, classifier: impl PathClassifier) -> Self {
        self.rebuild(|s| s.classifier = Some(Arc::new(classifier)))
    }

    /// Sets the `path` value of requests that matched no route
    /// ([`DEFAULT_UNMATCHED_PATH`], `unmatched`, by default).
    #[must_use]
    pub fn with_unmatched_path(self, path: impl Into<SharedStr>) -> Self {
        let path = path.into();
        self.rebuild(|s| s.unmatched = path)
    }

    /// Sets where the request duration stops ([`DurationEnd::LastByte`] by default).
    #[must_use]
    pub fn with_duration_end(self, end: DurationEnd) -> Self {
        self.rebuild(|s| s.duration_end = end)
    }

    /// Sets where the layer finds a request's trace while exemplars are on
    /// (`exemplars = true` in the catalog's configuration): by default
    /// [`TraceparentSource`], the W3C `traceparent` header when valid and
    /// sampled. With exemplars off the source is never called.
    ///
    /// # Examples
    ///
    /// ```
    /// use incident_metrics_catalog::Catalog;
    /// use incident_metrics_core::{ExemplarSource, HeaderLookup, MetricsConfig, Registry, TraceContext};
    /// use incident_metrics_http::HttpMetricsLayer;
    ///
    /// /// Traces from a header set by an edge proxy.
    /// #[derive(Debug)]
    /// struct EdgeTrace;
    ///
    /// impl ExemplarSource for EdgeTrace {
    ///     fn trace_context(&self, headers: &dyn HeaderLookup) -> Option<TraceContext> {
    ///         TraceContext::from_traceparent(headers.header("x-edge-traceparent")?)
    ///             .filter(TraceContext::is_sampled)
    ///     }
    /// }
    ///
    /// let mut registry = Registry::new(&MetricsConfig::new().with_exemplars(true))?;
    /// let catalog = Catalog::register(&mut registry)?;
    /// let layer = HttpMetricsLayer::new(&catalog).with_exemplar_source(EdgeTrace);
    /// assert!(format!("{layer:?}").contains("EdgeTrace"));
    /// # Ok::<(), incident_metrics_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_exemplar_source(self, source: impl ExemplarSource) -> Self {
        self.rebuild(|s| s.exemplar_source = Arc::new(source))
    }

    /// The `path` value of requests that matched no route.
    pub fn unmatched_path(&self) -> &str {
        &self.shared.settings.unmatched
    }

    /// Where the request duration stops.
    pub fn duration_end(&self) -> DurationEnd {
        self.shared.settings.duration_end
    }
}

impl fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService::new(inner, Arc::clone(&self.shared))
    }
}
