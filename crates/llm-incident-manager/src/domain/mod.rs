//! The incident domain: the model, and the [`IncidentManager`] that creates,
//! deduplicates, correlates, escalates and resolves incidents.

mod incident;
mod manager;

pub(crate) use incident::now_ms;
pub use incident::{
    Incident, MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS, MAX_TITLE_CHARS, NewIncident, Severity,
    Status, ValidationError,
};
pub use manager::{
    Created, ESCALATION_BATCH, EventKind, IncidentError, IncidentEvent, IncidentManager,
    PRUNE_BATCH, Routing,
};
