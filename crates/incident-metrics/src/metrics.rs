//! [`Metrics`], the one handle a user holds, its [`MetricsBuilder`], and
//! [`SetupError`].

use std::fmt;
use std::sync::Arc;

use incident_metrics_catalog::Catalog;
use incident_metrics_catalog::system::BuildInfo;
use incident_metrics_core::{MetricsConfig, Registry};
#[cfg(feature = "trackers")]
use incident_metrics_trackers::{TrackerConfig, Trackers};

/// Why the metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The configuration or a registration was refused.
    #[error(transparent)]
    Metrics(#[from] incident_metrics_core::Error),
    /// The trackers' configuration was refused.
    #[cfg(feature = "trackers")]
    #[error(transparent)]
    Trackers(#[from] incident_metrics_trackers::Error),
    /// [`init_metrics`](crate::init_metrics) ran a second time; the first
    /// process-wide metrics stay.
    #[error("metrics are already initialised: call `init_metrics` once, at start-up")]
    AlreadyInitialized,
}

/// The metrics of a service: the registry, every family of the catalog, the
/// configuration they follow and (feature `trackers`) the domain trackers,
/// and from it, one call each, everything that records or serves them.
///
/// Cloning is cheap (one `Arc`); hand clones to the code that records.
///
/// | you want | call |
/// |---|---|
/// | the tower layer for an HTTP server | [`http_layer`](Self::http_layer) |
/// | the gRPC layer for a tonic server / client channel | [`grpc_server_layer`](Self::grpc_server_layer) / [`grpc_client_layer`](Self::grpc_client_layer) |
/// | the axum `/metrics` router (the configured path) | [`router`](Self::router) |
/// | both on your axum router, in the order that counts every request | [`instrument`](Self::instrument) |
/// | LLM, incident, playbook, notification, storage and error trackers | [`trackers`](Self::trackers) |
/// | the exposition as Prometheus text, or in a chosen format | [`gather`](Self::gather), [`render`](Self::render) |
/// | the family handles, the registry, the configuration | [`catalog`](Self::catalog), [`registry`](Self::registry), [`config`](Self::config) |
///
/// With `enabled = false` in the configuration the layers and trackers
/// record nothing (and the trackers read no clock).
///
/// # Examples
///
/// ```
/// use incident_metrics::catalog::incident::Severity;
/// use incident_metrics::{Metrics, MetricsConfig};
///
/// let metrics = Metrics::new(MetricsConfig::new().with_global_label("env", "test"))?;
/// metrics.trackers().incidents.start(Severity::High).success("resolved");
///
/// let text = metrics.gather()?;
/// assert!(text.contains(
///     "llm_incident_manager_incidents_total{env=\"test\",severity=\"high\",status=\"resolved\"} 1\n"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    catalog: Catalog,
    #[cfg(feature = "trackers")]
    trackers: Trackers,
}

impl Metrics {
    /// A registry for `config` with every family of the catalog registered,
    /// and trackers with the default [`TrackerConfig`](crate::trackers::TrackerConfig).
    ///
    /// # Errors
    ///
    /// Any error of [`MetricsConfig::validate`] or of registration.
    pub fn new(config: MetricsConfig) -> Result<Self, SetupError> {
        Self::builder(config).build()
    }

    /// The metrics part of a composed [`Config`](crate::Config) (the
    /// `/metrics` server and the push settings are the exporter's: hand
    /// [`Config::server`](crate::Config::server) and
    /// [`Config::push`](crate::Config::push) to it).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_config(config: &crate::Config) -> Result<Self, SetupError> {
        Self::new(config.metrics().clone())
    }

    /// A builder, for build information, families of your own or tracker
    /// limits and prices.
    pub fn builder(config: MetricsConfig) -> MetricsBuilder {
        MetricsBuilder {
            config,
            info: None,
            extra: Vec::new(),
            #[cfg(feature = "trackers")]
            trackers: TrackerConfig::default(),
        }
    }

    /// The configuration: what is recorded and how.
    pub fn config(&self) -> &MetricsConfig {
        self.inner.registry.config()
    }

    /// The registry, to render or serve (the exporter takes it).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The handles to every family, grouped by subsystem.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The domain trackers: LLM calls, incidents, alerts, playbooks,
    /// notifications, storage and `errors_total`.
    #[cfg(feature = "trackers")]
    pub fn trackers(&self) -> &Trackers {
        &self.inner.trackers
    }

    /// The tower layer that records HTTP requests: put it around your whole
    /// router, last ([`instrument`](Self::instrument) does). Clones share
    /// one route table; call it once and clone the layer.
    #[cfg(feature = "http")]
    pub fn http_layer(&self) -> incident_metrics_http::HttpMetricsLayer {
        incident_metrics_http::HttpMetricsLayer::new(self.catalog())
    }

    /// The tower layer that records the calls of a tonic server
    /// (`Server::builder().layer(..)`).
    #[cfg(feature = "grpc")]
    pub fn grpc_server_layer(&self) -> incident_metrics_grpc::GrpcMetricsLayer {
        incident_metrics_grpc::GrpcMetricsLayer::server(self.catalog())
    }

    /// The tower layer that records the calls of a tonic client channel;
    /// see [`GrpcMetricsLayer::map_request_body`](incident_metrics_grpc::GrpcMetricsLayer::map_request_body).
    #[cfg(feature = "grpc")]
    pub fn grpc_client_layer(&self) -> incident_metrics_grpc::GrpcMetricsLayer {
        incident_metrics_grpc::GrpcMetricsLayer::client(self.catalog())
    }

    /// The axum router that answers the configured endpoint (`/metrics` by
    /// default) with the exposition, in the format the scraper asks for.
    /// For authentication and scrape bounds use
    /// [`exporter::metrics_router_with`](incident_metrics_exporter::metrics_router_with).
    #[cfg(feature = "axum")]
    pub fn router(&self) -> axum::Router {
        incident_metrics_exporter::metrics_router(Arc::clone(self.registry()))
    }

    /// Your finished axum router with [`router`](Self::router) merged in
    /// and [`http_layer`](Self::http_layer) around all of it, so that every
    /// request is counted exactly once: under its route template, the
    /// `405`s of a route included, and under `unmatched` when no route
    /// matched (whatever fallback answered).
    ///
    /// It is `routes.merge(metrics.router()).layer(metrics.http_layer())`:
    /// the layer goes last because axum's `Router::layer` wraps only the
    /// routes and the fallback that exist when it is called. So call it
    /// last, on the router you serve, after every `route`, `merge`, `nest`,
    /// `fallback` and `with_state`; a route or fallback added to what it
    /// returns is not counted. The metrics endpoint and `excluded_paths`
    /// (`/health` by default) are left out of the counts by the
    /// configuration. For a protected endpoint
    /// (`exporter::metrics_router_with`) write the same two calls by hand;
    /// `incident_metrics_http`'s docs table what other compositions count.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::Router;
    /// use axum::routing::get;
    /// use incident_metrics::{Metrics, MetricsConfig};
    /// use tower::ServiceExt;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let metrics = Metrics::new(MetricsConfig::new())?;
    /// let routes = Router::new().route("/api/v1/incidents/{id}", get(|| async { "incident" }));
    /// let app = metrics.instrument(routes);
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// for (uri, status) in [("/api/v1/incidents/7", 200), ("/nope", 404), ("/metrics", 200)] {
    ///     let request = http::Request::get(uri).body(axum::body::Body::empty())?;
    ///     let response = runtime.block_on(app.clone().oneshot(request))?;
    ///     assert_eq!(response.status(), status);
    /// }
    /// let text = metrics.gather()?;
    /// assert!(text.contains(r#"http_requests_total{method="GET",path="/api/v1/incidents/{id}",status="200"} 1"#));
    /// assert!(text.contains(r#"http_requests_total{method="GET",path="unmatched",status="404"} 1"#));
    /// assert!(!text.contains(r#"path="/metrics""#));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(all(feature = "axum", feature = "http"))]
    pub fn instrument(&self, routes: axum::Router) -> axum::Router {
        routes.merge(self.router()).layer(self.http_layer())
    }

    /// Every family as Prometheus text 0.0.4, the format every scraper reads.
    ///
    /// # Errors
    ///
    /// [`exporter::Error::Render`](incident_metrics_exporter::Error::Render)
    /// when a metric fails to encode itself (only custom metrics can).
    pub fn gather(&self) -> incident_metrics_exporter::Result<String> {
        incident_metrics_exporter::render_text(self.registry())
    }

    /// Every family in `format` (OpenMetrics 1.0 or Prometheus text 0.0.4).
    ///
    /// # Errors
    ///
    /// As [`gather`](Self::gather).
    pub fn render(
        &self,
        format: incident_metrics_exporter::Format,
    ) -> incident_metrics_exporter::Result<String> {
        incident_metrics_exporter::render(self.registry(), format)
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("registry", &self.inner.registry)
            .finish_non_exhaustive()
    }
}

/// A registration of the caller's own, run by [`MetricsBuilder::build`].
type Extra = Box<dyn FnOnce(&mut Registry) -> incident_metrics_core::Result<()> + Send>;

/// Builds [`Metrics`] with more than a configuration: build information,
/// families or collectors of your own, tracker limits and prices.
///
/// # Examples
///
/// ```
/// use incident_metrics::catalog::system::BuildInfo;
/// use incident_metrics::trackers::{RuntimeCollector, TrackerConfig};
/// use incident_metrics::{Metrics, MetricsConfig};
///
/// let collector = RuntimeCollector::new();
/// let metrics = Metrics::builder(MetricsConfig::new())
///     .build_info(BuildInfo::from_build().with_version("1.2.3"))
///     .register(move |registry| {
///         collector.register(registry);
///         Ok(())
///     })
///     .tracker_config(TrackerConfig::default().with_max_models(4))
///     .build()?;
/// assert!(metrics.gather()?.contains("version=\"1.2.3\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build`"]
pub struct MetricsBuilder {
    config: MetricsConfig,
    info: Option<BuildInfo>,
    extra: Vec<Extra>,
    #[cfg(feature = "trackers")]
    trackers: TrackerConfig,
}

impl MetricsBuilder {
    /// Reports `info` in `build_info` (by default this crate's build).
    pub fn build_info(mut self, info: BuildInfo) -> Self {
        self.info = Some(info);
        self
    }

    /// Runs `register` on the registry after the catalog's families, to
    /// add your own families or collectors before the registry is frozen;
    /// `cardinality_limits` may name the bounded families it registers.
    pub fn register(
        mut self,
        register: impl FnOnce(&mut Registry) -> incident_metrics_core::Result<()> + Send + 'static,
    ) -> Self {
        self.extra.push(Box::new(register));
        self
    }

    /// The trackers' label limits and LLM prices (by default
    /// [`TrackerConfig::default`]).
    #[cfg(feature = "trackers")]
    pub fn tracker_config(mut self, config: TrackerConfig) -> Self {
        self.trackers = config;
        self
    }

    /// The metrics.
    ///
    /// # Errors
    ///
    /// [`SetupError::Metrics`] for any error of [`MetricsConfig::validate`],
    /// of registration (yours included), or an entry of
    /// `cardinality_limits` that names no bounded family, or of
    /// `native_histograms` that names no histogram family;
    /// [`SetupError::Trackers`] for a refused [`TrackerConfig`].
    pub fn build(self) -> Result<Metrics, SetupError> {
        let mut registry = Registry::new(&self.config)?;
        let info = self.info.unwrap_or_else(BuildInfo::from_build);
        let catalog = Catalog::register_with_build_info(&mut registry, &info)?;
        for extra in self.extra {
            extra(&mut registry)?;
        }
        registry.check_cardinality_limits()?;
        registry.check_native_histograms()?;
        #[cfg(feature = "trackers")]
        let trackers = Trackers::new(&catalog, &self.trackers)?;
        Ok(Metrics {
            inner: Arc::new(Inner {
                registry: Arc::new(registry),
                catalog,
                #[cfg(feature = "trackers")]
                trackers,
            }),
        })
    }
}

impl fmt::Debug for MetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsBuilder")
            .field("config", &self.config)
            .field("info", &self.info)
            .field("extra", &self.extra.len())
            .finish_non_exhaustive()
    }
}
