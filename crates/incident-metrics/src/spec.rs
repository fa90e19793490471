//! The spec's free-function tracker style over the process-wide metrics:
//! `LlmCallTracker::start("openai", "gpt-4", "completion")`,
//! `IncidentTracker::start("critical")`, `PlaybookTracker::start(..)`,
//! `NotificationTracker::start(..)`, `StorageTracker::start(..)`.
//!
//! Each is a trait implemented for the tracker type, so that bringing
//! [`prelude`](crate::prelude) into scope makes `Tracker::start(..)` read as
//! the spec writes it. They record into the metrics of
//! [`init_metrics`](crate::init_metrics); before it has run, they return the
//! tracker's `inert()` one, which records nothing and reads no clock (as a
//! disabled configuration does). Code that holds a [`Metrics`] should call
//! `metrics.trackers().llm.start(..)` instead: the same tracker, without the
//! process-wide lookup.

use incident_metrics_catalog::incident::Severity;
use incident_metrics_catalog::llm::LlmOperation;
use incident_metrics_catalog::storage::StorageOperation;
use incident_metrics_trackers::{
    IncidentTracker, IntoLabel, LlmCallTracker, NotificationTracker, PlaybookTracker,
    StorageTracker, Trackers,
};

/// The process-wide trackers, once `init_metrics` has run.
#[inline]
fn trackers() -> Option<&'static Trackers> {
    crate::global().map(crate::Metrics::trackers)
}

/// `LlmCallTracker::start(provider, model, operation)`, the spec's style.
///
/// # Examples
///
/// ```
/// use incident_metrics::prelude::*;
///
/// incident_metrics::init_metrics()?;
/// let tracker = LlmCallTracker::start("openai", "gpt-4", "completion");
/// tracker.success(1_000, 500);
/// assert!(incident_metrics::gather_metrics()?.contains(
///     r#"llm_requests_total{provider="openai",model="gpt-4",operation="completion"} 1"#
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait StartLlmCall: Sized {
    /// Starts timing one LLM call with the process-wide trackers.
    fn start(provider: &str, model: &str, operation: impl IntoLabel<LlmOperation>) -> Self;
}

impl StartLlmCall for LlmCallTracker<'static> {
    #[inline]
    fn start(provider: &str, model: &str, operation: impl IntoLabel<LlmOperation>) -> Self {
        match trackers() {
            Some(t) => t.llm.start(provider, model, operation),
            None => LlmCallTracker::inert(),
        }
    }
}

/// `IncidentTracker::start(severity)`, the spec's style.
///
/// # Examples
///
/// ```
/// use incident_metrics::prelude::*;
///
/// // Before `init_metrics` the tracker records nothing and nothing fails.
/// IncidentTracker::start("critical").success("resolved");
/// ```
pub trait StartIncident: Sized {
    /// Starts timing the processing of one incident of `severity`.
    fn start(severity: impl IntoLabel<Severity>) -> Self;
}

impl StartIncident for IncidentTracker<'static> {
    #[inline]
    fn start(severity: impl IntoLabel<Severity>) -> Self {
        match trackers() {
            Some(t) => t.incidents.start(severity),
            None => IncidentTracker::inert(severity),
        }
    }
}

/// `PlaybookTracker::start(playbook)`, the spec's style.
pub trait StartPlaybook: Sized {
    /// Starts timing one run of `playbook`.
    fn start(playbook: &str) -> Self;
}

impl StartPlaybook for PlaybookTracker<'static> {
    #[inline]
    fn start(playbook: &str) -> Self {
        match trackers() {
            Some(t) => t.playbooks.start(playbook),
            None => PlaybookTracker::inert(),
        }
    }
}

/// `NotificationTracker::start(channel)`, the spec's style.
pub trait StartNotification: Sized {
    /// Starts timing one delivery on `channel`.
    fn start(channel: &str) -> Self;
}

impl StartNotification for NotificationTracker<'static> {
    #[inline]
    fn start(channel: &str) -> Self {
        match trackers() {
            Some(t) => t.notifications.start(channel),
            None => NotificationTracker::inert(),
        }
    }
}

/// `StorageTracker::start(operation, backend)`, the spec's style.
pub trait StartStorage: Sized {
    /// Starts timing one `operation` on `backend`.
    fn start(operation: impl IntoLabel<StorageOperation>, backend: &str) -> Self;
}

impl StartStorage for StorageTracker<'static> {
    #[inline]
    fn start(operation: impl IntoLabel<StorageOperation>, backend: &str) -> Self {
        match trackers() {
            Some(t) => t.storage.start(operation, backend),
            None => StorageTracker::inert(),
        }
    }
}
