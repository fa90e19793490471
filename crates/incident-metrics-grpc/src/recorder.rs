//! The shared recording state behind a layer or an interceptor.

use std::sync::Arc;
use std::time::Duration;

use incident_metrics_catalog::grpc::GrpcMetrics;
use incident_metrics_core::{MetricsConfig, Sampler};

use crate::guard::RequestGuard;
use crate::handles::{Side, SideFamilies};
use crate::path;
use crate::table::MethodTable;

/// Families, sampling and the method table, shared by every clone.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    table: MethodTable,
    sampler: Sampler,
    enabled: bool,
}

impl Recorder {
    pub(crate) fn new(metrics: &GrpcMetrics, config: &MetricsConfig, side: Side) -> Self {
        Self {
            shared: Arc::new(Shared {
                table: MethodTable::new(SideFamilies::new(metrics, side)),
                sampler: Sampler::new(config.sample_rate()),
                enabled: config.enabled(),
            }),
        }
    }

    /// Starts a call to `service`/`method`.
    #[inline]
    pub(crate) fn start(
        &self,
        service: &str,
        method: &str,
        timeout: Option<Duration>,
    ) -> RequestGuard {
        let shared = &*self.shared;
        if !shared.enabled {
            return RequestGuard::disabled();
        }
        let handles = Arc::clone(shared.table.resolve(service, method));
        RequestGuard::start(handles, shared.sampler.sample(), timeout)
    }

    /// Starts a call from its request path `/service/method`.
    #[inline]
    pub(crate) fn start_path(&self, path: &str, timeout: Option<Duration>) -> RequestGuard {
        let shared = &*self.shared;
        if !shared.enabled {
            return RequestGuard::disabled();
        }
        let handles = match path::split(path) {
            Some((service, method)) => shared.table.resolve(service, method),
            None => shared.table.fallback(),
        };
        RequestGuard::start(Arc::clone(handles), shared.sampler.sample(), timeout)
    }
}
