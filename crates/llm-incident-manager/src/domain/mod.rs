//! The incident domain: the model, and the [`IncidentManager`] that creates,
//! deduplicates, correlates, escalates and resolves incidents.

mod incident;
mod manager;

pub use incident::{
    Incident, MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS, MAX_TITLE_CHARS, NewIncident, Severity,
    Status, ValidationError,
};
pub use manager::{Created, EventKind, IncidentError, IncidentEvent, IncidentManager};
