//! The incident domain: the model, and the [`IncidentManager`] that creates,
//! deduplicates, correlates, escalates and resolves incidents.

mod incident;
mod manager;

pub use incident::{
    Incident, MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS, MAX_TITLE_CHARS, NewIncident, Origin,
    Severity, Status, ValidationError,
};
pub(crate) use incident::{ValidIncident, now_ms};
pub use manager::{
    Created, ESCALATION_BATCH, EventKind, IncidentError, IncidentEvent, IncidentManager,
    PRUNE_BATCH, Routing,
};
