//! The state every clone of a layer and its services shares.

use std::fmt;
use std::sync::Arc;

use http::Request;
use http_body::Body;
use incident_metrics_catalog::HttpMetrics;
use incident_metrics_core::{
    ExemplarSource, HeaderLookup, MetricsConfig, Sampler, SharedStr, TraceContext,
};

use crate::classify::PathClassifier;
use crate::method::method_label;
use crate::record::{Record, RequestSize};
use crate::route::Routes;
use crate::timing::DurationEnd;

/// What a layer is built from; kept so that the builder methods can
/// rebuild the shared state.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) metrics: HttpMetrics,
    pub(crate) config: MetricsConfig,
    pub(crate) classifier: Option<Arc<dyn PathClassifier>>,
    pub(crate) unmatched: SharedStr,
    pub(crate) duration_end: DurationEnd,
    pub(crate) exemplar_source: Arc<dyn ExemplarSource>,
}

/// The layer's settings and its route cache.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) enabled: bool,
    pub(crate) sampler: Sampler,
    pub(crate) classifier: Option<Arc<dyn PathClassifier>>,
    pub(crate) routes: Routes,
    /// The exemplar source while exemplars are on (`exemplars = true`);
    /// `None` otherwise, so that a request with exemplars off costs one
    /// branch more, no header lookup.
    pub(crate) exemplars: Option<Arc<dyn ExemplarSource>>,
}

impl Shared {
    pub(crate) fn new(settings: Settings) -> Self {
        let routes = Routes::new(
            settings.metrics.clone(),
            settings.config.clone(),
            settings.unmatched.clone(),
        );
        Self {
            enabled: settings.config.enabled(),
            sampler: Sampler::new(settings.config.sample_rate()),
            classifier: settings.classifier.clone(),
            exemplars: settings
                .config
                .exemplars()
                .then(|| Arc::clone(&settings.exemplar_source)),
            routes,
            settings,
        }
    }

    /// Starts recording `request`: `None` when it is not recorded at all
    /// (metrics disabled, excluded path).
    #[inline]
    pub(crate) fn begin<B: Body>(
        &self,
        request: &Request<B>,
    ) -> Option<(Record, Option<RequestSize>)> {
        if !self.enabled {
            return None;
        }
        let method = method_label(request.method());
        let series = match self.template(request) {
            Some(template) => self.routes.series(template, method)?,
            None => self.routes.unmatched(request.uri().path(), method)?,
        };
        let trace = match &self.exemplars {
            None => None,
            Some(source) => trace_of(&**source, request),
        };
        Some(Record::start(
            series,
            self.sampler.sample(),
            self.settings.duration_end,
            request.body().is_end_stream(),
            trace,
        ))
    }

    #[inline]
    fn template<'a, B>(&'a self, request: &'a Request<B>) -> Option<&'a str> {
        #[cfg(feature = "axum")]
        if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Some(path.as_str());
        }
        self.classifier
            .as_deref()
            .and_then(|c| c.classify(request.method(), request.uri(), request.extensions()))
    }
}

/// The trace `source` finds in `request`'s headers.
#[inline(never)]
fn trace_of<B>(source: &dyn ExemplarSource, request: &Request<B>) -> Option<TraceContext> {
    source.trace_context(&Headers(request.headers()))
}

/// A request's headers, as core's [`HeaderLookup`] reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.to_str().ok()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("enabled", &self.enabled)
            .field("unmatched", &self.settings.unmatched)
            .field("duration_end", &self.settings.duration_end)
            .field("sampler", &self.sampler)
            .field("classifier", &self.classifier.is_some())
            .field("exemplars", &self.exemplars)
            .field("routes", &self.routes)
            .finish()
    }
}
