//! The shared recording state behind a layer or an interceptor.

use std::sync::Arc;
use std::time::Duration;

use incident_metrics_catalog::grpc::GrpcMetrics;
use incident_metrics_core::{
    ExemplarSource, HeaderLookup, LabelTable, MetricsConfig, Sampler, SharedStr, TraceContext,
    TraceparentSource,
};

use crate::guard::RequestGuard;
use crate::handles::{MethodHandles, Side, SideFamilies};
use crate::path;

/// Families, sampling and the method table, shared by every clone.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    /// Where a call's trace is found while exemplars are on; `None` while
    /// they are off, so that a call then costs one branch more, no header
    /// lookup.
    exemplars: Option<Arc<dyn ExemplarSource>>,
}

#[derive(Debug)]
struct Shared {
    /// `(service, method)` to its handles: core's bounded lookup table,
    /// holding as many methods as the families' cardinality limits allow;
    /// past that, and for malformed names, `other`/`other`, each call
    /// counted in `label_values_folded_total{label="grpc_method"}`.
    methods: LabelTable<Arc<MethodHandles>, 2>,
    families: SideFamilies,
    sampler: Sampler,
    enabled: bool,
    /// `exemplars = true` in the configuration.
    exemplars_on: bool,
}

impl Shared {
    /// The handles of `service`/`method`, created on first sight.
    #[inline]
    fn resolve(&self, service: &str, method: &str) -> &Arc<MethodHandles> {
        match self.methods.get([service, method]) {
            Some(entry) => entry.value(),
            None => self.insert(service, method),
        }
    }

    #[cold]
    fn insert(&self, service: &str, method: &str) -> &Arc<MethodHandles> {
        if !path::is_valid(service, method) {
            return self.fold();
        }
        self.methods
            .get_or_insert_with([service, method], |keys| self.make(keys))
            .value()
    }

    /// The `other`/`other` handles, counting one fold: for a call whose
    /// path or names cannot be labels.
    #[cold]
    fn fold(&self) -> &Arc<MethodHandles> {
        self.methods.fold(|keys| self.make(keys)).value()
    }

    fn make(&self, keys: &[SharedStr; 2]) -> Arc<MethodHandles> {
        Arc::new(MethodHandles::new(&self.families, keys))
    }
}

impl Recorder {
    pub(crate) fn new(metrics: &GrpcMetrics, config: &MetricsConfig, side: Side) -> Self {
        let families = SideFamilies::new(metrics, side);
        let exemplars_on = config.exemplars();
        Self {
            shared: Arc::new(Shared {
                methods: LabelTable::new(families.method_limit(), families.folded()),
                families,
                sampler: Sampler::new(config.sample_rate()),
                enabled: config.enabled(),
                exemplars_on,
            }),
            exemplars: exemplars_on.then(|| Arc::new(TraceparentSource) as Arc<dyn ExemplarSource>),
        }
    }

    /// This recorder with `source` as its exemplar source (used only while
    /// exemplars are on).
    pub(crate) fn with_exemplar_source(mut self, source: Arc<dyn ExemplarSource>) -> Self {
        self.exemplars = self.shared.exemplars_on.then_some(source);
        self
    }

    /// Whether exemplars are on.
    pub(crate) fn exemplars_on(&self) -> bool {
        self.shared.exemplars_on
    }

    /// The trace of a call with these request headers (metadata), while
    /// exemplars are on.
    #[inline]
    pub(crate) fn trace(&self, headers: &http::HeaderMap) -> Option<TraceContext> {
        match &self.exemplars {
            None => None,
            Some(source) => trace_of(&**source, headers),
        }
    }

    /// Starts a call to `service`/`method`.
    #[inline]
    pub(crate) fn start(
        &self,
        service: &str,
        method: &str,
        timeout: Option<Duration>,
        trace: Option<TraceContext>,
    ) -> RequestGuard {
        let shared = &*self.shared;
        if !shared.enabled {
            return RequestGuard::disabled();
        }
        let handles = Arc::clone(shared.resolve(service, method));
        RequestGuard::start(handles, shared.sampler.sample(), timeout, trace)
    }

    /// Starts a call from its request path `/service/method`.
    #[inline]
    pub(crate) fn start_path(
        &self,
        path: &str,
        timeout: Option<Duration>,
        trace: Option<TraceContext>,
    ) -> RequestGuard {
        let shared = &*self.shared;
        if !shared.enabled {
            return RequestGuard::disabled();
        }
        let handles = match path::split(path) {
            Some((service, method)) => shared.resolve(service, method),
            None => shared.fold(),
        };
        RequestGuard::start(Arc::clone(handles), shared.sampler.sample(), timeout, trace)
    }
}

/// The trace `source` finds in `headers`.
#[inline(never)]
fn trace_of(source: &dyn ExemplarSource, headers: &http::HeaderMap) -> Option<TraceContext> {
    source.trace_context(&Headers(headers))
}

/// gRPC metadata (HTTP/2 headers), as core's [`HeaderLookup`] reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.to_str().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident_metrics_core::{OVERFLOW_VALUE, Registry};

    fn shared(config: &MetricsConfig) -> (Registry, Recorder) {
        let mut registry = Registry::new(config).unwrap();
        let metrics = GrpcMetrics::register(&mut registry).unwrap();
        let recorder = Recorder::new(&metrics, config, Side::Server);
        (registry, recorder)
    }

    #[test]
    fn resolves_each_method_once() {
        let (_registry, r) = shared(&MetricsConfig::new());
        let t = &*r.shared;
        let a = Arc::clone(t.resolve("pkg.Svc", "Get"));
        let b = Arc::clone(t.resolve("pkg.Svc", "Put"));
        assert!(Arc::ptr_eq(&a, t.resolve("pkg.Svc", "Get")));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(t.methods.len(), 2);
        assert_eq!(&*b.method, "Put");
    }

    #[test]
    fn the_method_limit_comes_from_the_configuration_and_folds_count() {
        let config = MetricsConfig::new()
            .with_cardinality_limit(3)
            .with_family_cardinality_limit("grpc_requests_started", 5);
        let (_registry, r) = shared(&config);
        let t = &*r.shared;
        assert_eq!(t.methods.limit(), 5);
        let bad = t.resolve("pkg Svc", "Get");
        assert_eq!(
            (&*bad.service, &*bad.method),
            (OVERFLOW_VALUE, OVERFLOW_VALUE)
        );
        for i in 0..15 {
            let name = format!("M{i}");
            let h = t.resolve("pkg.Svc", &name);
            let want = if i < 5 { name.as_str() } else { OVERFLOW_VALUE };
            assert_eq!(&*h.method, want);
        }
        assert_eq!(t.methods.len(), 5);
        // One malformed name and ten methods past the limit.
        assert_eq!(t.families.folded().get(), 11);
        // Every method that made it in is still found, without a fold.
        for i in 0..5 {
            let name = format!("M{i}");
            assert_eq!(*t.resolve("pkg.Svc", &name).method, *name);
        }
        assert_eq!(t.methods.folded(), 11);
    }
}
