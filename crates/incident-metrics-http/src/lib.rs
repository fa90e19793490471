//! Placeholder member of the incident-metrics workspace: its issue fills it.
//!
//! It must depend only on `incident-metrics-core` and `incident-metrics-catalog`.
