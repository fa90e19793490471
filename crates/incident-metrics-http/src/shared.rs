//! The state every clone of a layer and its services shares.

use std::fmt;
use std::sync::Arc;

use http::Request;
use http_body::Body;
use incident_metrics_catalog::HttpMetrics;
use incident_metrics_core::{MetricsConfig, Sampler, SharedStr};

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
}

/// The layer's settings and its route cache.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) enabled: bool,
    pub(crate) sampler: Sampler,
    pub(crate) classifier: Option<Arc<dyn PathClassifier>>,
    pub(crate) routes: Routes,
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
        Some(Record::start(
            series,
            self.sampler.sample(),
            self.settings.duration_end,
            request.body().is_end_stream(),
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

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("enabled", &self.enabled)
            .field("unmatched", &self.settings.unmatched)
            .field("duration_end", &self.settings.duration_end)
            .field("sampler", &self.sampler)
            .field("classifier", &self.classifier.is_some())
            .field("routes", &self.routes)
            .finish()
    }
}
