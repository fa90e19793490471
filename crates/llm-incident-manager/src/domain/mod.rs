//! The incident domain's model: incidents, their severity, status and
//! origin, and their validation. What acts on them, the
//! [`IncidentManager`](crate::manager::IncidentManager), is
//! [`crate::manager`]: the model depends on nothing else in the service.

mod incident;

pub use incident::{
    Incident, MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS, MAX_TITLE_CHARS, NewIncident, Origin,
    Severity, Status, ValidationError,
};
pub(crate) use incident::{ValidIncident, alert_dedup_key, new_id, now_ms};
