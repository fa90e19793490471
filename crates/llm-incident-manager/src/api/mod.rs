//! The REST API: [`routes::router`] mounts the handlers of [`handlers`],
//! `/health`, the metrics endpoint and the API's OpenAPI document
//! ([`openapi`]).

pub mod alertmanager;
pub mod handlers;
pub mod openapi;
pub mod routes;

/// The page size of a list request that names none.
pub const DEFAULT_PAGE: usize = 100;

/// The largest page size a list request may ask for.
pub const MAX_PAGE: usize = 1000;

use std::sync::Arc;

use axum::extract::FromRef;
use incident_metrics::Registry;
use incident_metrics::exporter::Protection;

use crate::manager::IncidentManager;

/// The state every handler reads.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The incidents.
    pub manager: Arc<IncidentManager>,
    /// The metrics registry, for `/metrics`.
    pub registry: Arc<Registry>,
    /// What guards `/metrics`: auth, the scrape bound and the scrape
    /// timeout of `[metrics.server]`.
    pub protection: Protection,
    /// The Alertmanager webhook receiver (`[alertmanager]`).
    pub alerts: Arc<alertmanager::AlertIntake>,
}

impl FromRef<ApiState> for Arc<Registry> {
    fn from_ref(state: &ApiState) -> Self {
        state.registry.clone()
    }
}
