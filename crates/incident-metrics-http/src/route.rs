//! The route cache: from a route template to the pre-resolved handles of
//! each (route, method), found without hashing or comparing more than the
//! template's bytes once.
//!
//! axum hands every request of a route a clone of one `Arc<str>` (its
//! `MatchedPath`), and a [`PathClassifier`](crate::PathClassifier) returns
//! text it owns, so a template's address and length are stable. They key a
//! fixed open-addressed table of write-once slots: a lookup is an integer
//! mix, one atomic load per probe and a `memcmp` of the template (which
//! guards against an address reused by a dropped router). A miss takes a
//! mutex and a `HashMap` keyed by the text, once per new address.
//!
//! The map holds at most as many templates as the route families may hold
//! series (their cardinality limit, the largest of the four): past it, a
//! new template (from a path classifier that returns raw paths, say) gets
//! a route built for that one request and dropped after it, whose series
//! are the families' overflow series. So the cache stays bounded, and each
//! such request is counted in `metrics_cardinality_overflow_total{family}`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use incident_metrics_catalog::HttpMetrics;
use incident_metrics_catalog::http::{self, HttpRouteLabels, Method};
use incident_metrics_core::{LabelEnum, MetricsConfig, SharedStr};

use crate::series::Series;
use crate::timing::DurationEnd;

/// Slots in the fast table (a power of two).
const TABLE_BITS: u32 = 9;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
/// Probes before a lookup gives up on the fast table.
const MAX_PROBES: usize = 8;

/// Everything a new [`Series`] is built from.
#[derive(Clone, Debug)]
pub(crate) struct SeriesSource {
    pub(crate) metrics: HttpMetrics,
    pub(crate) duration_end: DurationEnd,
}

/// One route template: whether it is excluded, and its series per method,
/// created on first use.
pub(crate) struct Route {
    template: SharedStr,
    excluded: bool,
    methods: [OnceLock<Arc<Series>>; Method::ALL.len()],
}

impl Route {
    fn new(template: SharedStr, excluded: bool) -> Self {
        Self {
            template,
            excluded,
            methods: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The series of `method` on this route, `None` when the route is excluded.
    #[inline]
    fn series(&self, method: Method, source: &SeriesSource) -> Option<&Arc<Series>> {
        if self.excluded {
            return None;
        }
        let slot = &self.methods[method.index()];
        Some(slot.get_or_init(|| {
            Arc::new(Series::new(
                source,
                HttpRouteLabels {
                    method,
                    path: self.template.clone(),
                },
            ))
        }))
    }
}

struct Slot {
    addr: usize,
    len: usize,
    route: Arc<Route>,
}

/// Every route seen so far.
pub(crate) struct Routes {
    source: SeriesSource,
    config: MetricsConfig,
    unmatched: Route,
    slots: Box<[OnceLock<Slot>]>,
    by_template: Mutex<HashMap<SharedStr, Arc<Route>>>,
    /// The most templates `by_template` holds.
    max_routes: usize,
}

impl Routes {
    pub(crate) fn new(source: SeriesSource, config: MetricsConfig, unmatched: SharedStr) -> Self {
        let max_routes = [
            &http::REQUESTS,
            &http::REQUEST_DURATION,
            &http::REQUEST_SIZE,
            &http::RESPONSE_SIZE,
        ]
        .iter()
        .map(|spec| config.cardinality_limit_for(&spec.full_name("")))
        .max()
        .unwrap_or_else(|| config.cardinality_limit());
        Self {
            max_routes,
            source,
            config,
            // Unmatched requests are filtered by their raw path instead.
            unmatched: Route::new(unmatched, false),
            slots: (0..TABLE_SIZE).map(|_| OnceLock::new()).collect(),
            by_template: Mutex::new(HashMap::new()),
        }
    }

    /// The series of (`template`, `method`), `None` when the route is excluded.
    #[inline]
    pub(crate) fn series(&self, template: &str, method: Method) -> Option<Arc<Series>> {
        let addr = template.as_ptr().addr();
        let len = template.len();
        let start = index(addr, len);
        for probe in 0..MAX_PROBES {
            let slot = &self.slots[(start + probe) & (TABLE_SIZE - 1)];
            match slot.get() {
                Some(s) if s.addr == addr && s.len == len && *s.route.template == *template => {
                    return s.route.series(method, &self.source).cloned();
                }
                Some(_) => {}
                None => {
                    let (route, cached) = self.resolve(template);
                    if cached {
                        // A racing request may fill the slot first; either
                        // way the slot then holds a valid entry, ours or
                        // another.
                        let _ = slot.set(Slot {
                            addr,
                            len,
                            route: Arc::clone(&route),
                        });
                    }
                    return route.series(method, &self.source).cloned();
                }
            }
        }
        // Table region full (many distinct addresses, e.g. routers rebuilt
        // again and again): correct but slower.
        self.resolve(template)
            .0
            .series(method, &self.source)
            .cloned()
    }

    /// The series of a request that matched no route (`None` when its raw
    /// path is excluded).
    #[inline]
    pub(crate) fn unmatched(&self, raw_path: &str, method: Method) -> Option<Arc<Series>> {
        if self.config.is_excluded(raw_path) {
            return None;
        }
        self.unmatched.series(method, &self.source).cloned()
    }

    /// The route of `template`, and whether it is cached (`false` past
    /// `max_routes`: a route for this request only).
    fn resolve(&self, template: &str) -> (Arc<Route>, bool) {
        // A poisoned map only means another thread panicked while inserting;
        // the map itself is still whole.
        let mut map = self
            .by_template
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(route) = map.get(template) {
            return (Arc::clone(route), true);
        }
        let template = SharedStr::from(template);
        let route = Arc::new(Route::new(
            template.clone(),
            self.config.is_excluded(&template),
        ));
        if map.len() >= self.max_routes {
            return (route, false);
        }
        map.insert(template, Arc::clone(&route));
        (route, true)
    }

    /// The number of templates cached.
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.by_template
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("unmatched", &self.unmatched.template)
            .field(
                "cached",
                &self.slots.iter().filter(|s| s.get().is_some()).count(),
            )
            .finish_non_exhaustive()
    }
}

/// Fibonacci hashing of the address and length: integer arithmetic only.
#[inline]
fn index(addr: usize, len: usize) -> usize {
    let key = (addr as u64) ^ (len as u64).rotate_left(40);
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident_metrics_core::Registry;

    fn routes(config: &MetricsConfig) -> Routes {
        let mut registry = Registry::new(config).unwrap();
        let metrics = HttpMetrics::register(&mut registry).unwrap();
        Routes::new(
            SeriesSource {
                metrics,
                duration_end: DurationEnd::LastByte,
            },
            config.clone(),
            SharedStr::from_static("unmatched"),
        )
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
    }

    #[test]
    fn reused_address_with_other_text_is_not_confused() {
        let r = routes(&MetricsConfig::new());
        let buf = String::from("/xyz");
        let first = r.series(&buf[..], Method::Get).unwrap();
        let other = String::from("/abc");
        // Same length, different text and address: never the same route.
        let second = r.series(&other[..], Method::Get).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn many_addresses_overflow_to_the_slow_path_correctly() {
        let r = routes(&MetricsConfig::new());
        let texts: Vec<String> = (0..2 * TABLE_SIZE)
            .map(|i| format!("/r{}", i % 7))
            .collect();
        let first = r.series(&texts[0], Method::Get).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let s = r.series(t, Method::Get).unwrap();
            if i % 7 == 0 {
                assert!(Arc::ptr_eq(&s, &first));
            }
        }
    }

    #[test]
    fn the_cache_stops_at_the_family_limit_and_new_templates_fold() {
        let config = MetricsConfig::new()
            .with_cardinality_limit(3)
            .with_family_cardinality_limit("http_request_size_bytes", 5);
        let r = routes(&config);
        assert_eq!(r.max_routes, 5);
        let texts: Vec<String> = (0..20).map(|i| format!("/raw/{i}")).collect();
        for t in &texts {
            r.series(t, Method::Get).unwrap().request_size.observe(1.0);
        }
        assert_eq!(r.cached(), 5);
        let size = &r.source.metrics.request_size;
        assert_eq!((size.len(), size.overflowed()), (5, 15));
        let duration = &r.source.metrics.request_duration;
        assert_eq!((duration.len(), duration.overflowed()), (3, 17));
        // A cached template still finds its own series.
        let again = r.series(&texts[0], Method::Get).unwrap();
        again.request_size.observe(1.0);
        let first = HttpRouteLabels {
            method: Method::Get,
            path: "/raw/0".into(),
        };
        assert_eq!(size.get(&first).map(|h| h.count()), Some(2));
        // An excluded template stays excluded past the limit.
        assert!(r.series("/health", Method::Get).is_none());
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
