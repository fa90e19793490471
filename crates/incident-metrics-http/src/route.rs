//! The route table: from a route template to the pre-resolved handles of
//! each (route, method).
//!
//! Templates live in core's [`LabelTable`], the one bounded lookup table of
//! the toolkit: a template seen before is found by a short seeded hash of
//! its bytes and a probe of atomic loads, with no lock and no allocation;
//! a new one is copied once. The table admits as many templates as the
//! route families may hold series (the largest of their cardinality
//! limits): past it, a new template (from a path classifier that returns
//! raw paths, say) is recorded under `path="other"`, and each such request
//! is counted in `label_values_folded_total{label="http_route"}`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use incident_metrics_catalog::HttpMetrics;
use incident_metrics_catalog::http::{HttpRouteLabels, Method};
use incident_metrics_core::{ByLabel, LabelTable, MetricsConfig, SharedStr};

use crate::series::Series;

/// The label of `label_values_folded_total` that counts requests whose
/// route template was folded into `other`.
pub(crate) const FOLDED_LABEL: &str = "http_route";

/// One route template: whether it is excluded, and its series per method,
/// created on first use.
pub(crate) struct Route {
    template: SharedStr,
    excluded: bool,
    methods: ByLabel<Method, OnceLock<Arc<Series>>>,
}

impl Route {
    fn new(template: SharedStr, excluded: bool) -> Self {
        Self {
            template,
            excluded,
            methods: ByLabel::new(|_| OnceLock::new()),
        }
    }

    /// The series of `method` on this route, `None` when the route is excluded.
    #[inline]
    fn series(&self, method: Method, metrics: &HttpMetrics) -> Option<Arc<Series>> {
        if self.excluded {
            return None;
        }
        let series = self.methods.get(method).get_or_init(|| {
            Arc::new(Series::new(
                metrics,
                HttpRouteLabels {
                    method,
                    path: self.template.clone(),
                },
            ))
        });
        Some(Arc::clone(series))
    }
}

/// Every route seen so far.
pub(crate) struct Routes {
    metrics: HttpMetrics,
    config: MetricsConfig,
    unmatched: Route,
    table: LabelTable<Route>,
}

impl Routes {
    pub(crate) fn new(metrics: HttpMetrics, config: MetricsConfig, unmatched: SharedStr) -> Self {
        let limit = [
            metrics.requests.limit(),
            metrics.request_duration.limit(),
            metrics.request_size.limit(),
            metrics.response_size.limit(),
        ]
        .into_iter()
        .fold(0, usize::max);
        let folded = metrics.requests.fold_counters().counter(FOLDED_LABEL);
        Self {
            table: LabelTable::new(limit, folded),
            // Unmatched requests are filtered by their raw path instead.
            unmatched: Route::new(unmatched, false),
            metrics,
            config,
        }
    }

    /// The series of (`template`, `method`), `None` when the route is excluded.
    #[inline]
    pub(crate) fn series(&self, template: &str, method: Method) -> Option<Arc<Series>> {
        let config = &self.config;
        self.table
            .get_or_insert_with([template], |[template]| {
                Route::new(template.clone(), config.is_excluded(template))
            })
            .value()
            .series(method, &self.metrics)
    }

    /// The series of a request that matched no route (`None` when its raw
    /// path is excluded).
    #[inline]
    pub(crate) fn unmatched(&self, raw_path: &str, method: Method) -> Option<Arc<Series>> {
        if self.config.is_excluded(raw_path) {
            return None;
        }
        self.unmatched.series(method, &self.metrics)
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("unmatched", &self.unmatched.template)
            .field("cached", &self.table.len())
            .field("folded", &self.table.folded())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident_metrics_catalog::http::HttpRouteLabels;
    use incident_metrics_core::Registry;

    fn routes(config: &MetricsConfig) -> Routes {
        let mut registry = Registry::new(config).unwrap();
        let metrics = HttpMetrics::register(&mut registry).unwrap();
        Routes::new(metrics, config.clone(), SharedStr::from_static("unmatched"))
    }

    #[test]
    fn same_template_at_different_addresses_shares_one_route() {
        let r = routes(&MetricsConfig::new());
        let a: Arc<str> = Arc::from("/a/{id}");
        let b: Arc<str> = Arc::from("/a/{id}");
        let sa = r.series(&a, Method::Get).unwrap();
        let sb = r.series(&b, Method::Get).unwrap();
        assert!(Arc::ptr_eq(&sa, &sb));
        let again = r.series(&a, Method::Get).unwrap();
        assert!(Arc::ptr_eq(&sa, &again));
        let post = r.series(&a, Method::Post).unwrap();
        assert!(!Arc::ptr_eq(&sa, &post));
        let other = r.series("/b/{id}", Method::Get).unwrap();
        assert!(!Arc::ptr_eq(&sa, &other));
    }

    #[test]
    fn past_the_family_limit_new_templates_fold_into_other_and_count() {
        let config = MetricsConfig::new()
            .with_cardinality_limit(3)
            .with_family_cardinality_limit("http_request_size_bytes", 5);
        let r = routes(&config);
        assert_eq!(r.table.limit(), 5);
        let texts: Vec<String> = (0..20).map(|i| format!("/raw/{i}")).collect();
        for t in &texts {
            r.series(t, Method::Get).unwrap().request_size.observe(1.0);
        }
        assert_eq!((r.table.len(), r.table.folded()), (5, 15));
        let folded = r.metrics.requests.fold_counters().counter(FOLDED_LABEL);
        assert_eq!(folded.get(), 15);
        // The folded requests share one route, `path="other"`, one new label
        // set for each family (which the full ones fold in their turn).
        let size = &r.metrics.request_size;
        assert_eq!((size.len(), size.overflowed()), (5, 1));
        let duration = &r.metrics.request_duration;
        assert_eq!((duration.len(), duration.overflowed()), (3, 3));
        // A cached template still finds its own series.
        r.series(&texts[0], Method::Get)
            .unwrap()
            .request_size
            .observe(1.0);
        let first = HttpRouteLabels {
            method: Method::Get,
            path: "/raw/0".into(),
        };
        assert_eq!(size.get(&first).map(|h| h.count()), Some(2));
    }

    #[test]
    fn excluded_templates_and_raw_paths_have_no_series() {
        let r = routes(&MetricsConfig::new().exclude_path("/ready"));
        assert!(r.series("/health", Method::Get).is_none());
        assert!(r.series("/metrics", Method::Get).is_none());
        assert!(r.series("/ready", Method::Get).is_none());
        assert!(r.unmatched("/metrics", Method::Get).is_none());
        assert!(r.unmatched("/nope", Method::Get).is_some());
    }
}
