//! [`IncidentManager`]: every state change of an incident, with its metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use incident_metrics::catalog::incident::IncidentStatus;
use incident_metrics_trackers::ActiveIncident;
use tokio::sync::{broadcast, watch};

use super::incident::{Incident, NewIncident, Status, ValidationError, new_id, now_ms};
use crate::config::IncidentConfig;
use crate::llm::Analyzer;
use crate::notify::{Notification, Notifier};
use crate::playbook::PlaybookEngine;
use crate::storage::{Storage, StorageError};
use crate::telemetry::Telemetry;

/// Why an incident operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncidentError {
    /// The request's fields are invalid.
    #[error("invalid request: {0}")]
    Invalid(#[from] ValidationError),
    /// No incident has this id.
    #[error("incident {0} not found")]
    NotFound(String),
    /// Storage failed.
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
}

/// The answer to a create request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Created {
    /// The new incident, or the open one it duplicates.
    pub incident: Incident,
    /// True when the request was folded into an open incident.
    pub deduplicated: bool,
}

/// What happened to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// Created.
    Created,
    /// A duplicate report was folded into it.
    Deduplicated,
    /// Resolved.
    Resolved,
    /// Escalated one or more levels.
    Escalated,
    /// Linked to other incidents from the same source.
    Correlated,
}

/// An event of the watch stream.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct IncidentEvent {
    /// What happened.
    pub kind: EventKind,
    /// The incident after the change.
    pub incident: Incident,
}

/// Creates, deduplicates, correlates, escalates and resolves incidents.
#[derive(Debug)]
pub struct IncidentManager {
    storage: Arc<Storage>,
    analyzer: Analyzer,
    notifier: Notifier,
    playbooks: PlaybookEngine,
    telemetry: Telemetry,
    config: IncidentConfig,
    events: broadcast::Sender<IncidentEvent>,
    active: Mutex<HashMap<String, ActiveIncident>>,
}

impl IncidentManager {
    /// A manager over its parts; sets `incidents_active` from the store.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub fn new(
        storage: Arc<Storage>,
        analyzer: Analyzer,
        notifier: Notifier,
        playbooks: PlaybookEngine,
        telemetry: Telemetry,
        config: IncidentConfig,
    ) -> Result<Self, IncidentError> {
        // One `incidents_active` guard per open incident, rebuilt from the store.
        let active = match telemetry.recording() {
            Some(trackers) => storage
                .list(Some(Status::Open))?
                .into_iter()
                .map(|i| {
                    let guard = trackers.incidents.opened(i.severity.metric());
                    (i.id, guard)
                })
                .collect(),
            None => HashMap::new(),
        };
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            storage,
            analyzer,
            notifier,
            playbooks,
            telemetry,
            config,
            events,
            active: Mutex::new(active),
        })
    }

    /// The store.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The notifier.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The playbook engine.
    pub fn playbooks(&self) -> &PlaybookEngine {
        &self.playbooks
    }

    /// A receiver of every later event.
    pub fn subscribe(&self) -> broadcast::Receiver<IncidentEvent> {
        self.events.subscribe()
    }

    fn emit(&self, kind: EventKind, incident: &Incident) {
        // No subscriber is not an error.
        let _ = self.events.send(IncidentEvent {
            kind,
            incident: incident.clone(),
        });
    }

    fn storage_failed(&self, e: StorageError) -> IncidentError {
        IncidentError::Storage(e)
    }

    /// Creates an incident, or folds it into the open incident with the same
    /// fingerprint (or, with none, the same source and title).
    ///
    /// # Errors
    ///
    /// [`IncidentError::Invalid`] for bad fields, [`IncidentError::Storage`].
    pub async fn create(&self, request: NewIncident) -> Result<Created, IncidentError> {
        let valid = request.validate()?;
        // Dropped on an error below, the tracker records the outcome `failed`.
        let tracker = self
            .telemetry
            .recording()
            .map(|t| t.incidents.start(valid.severity.metric()));
        let now = now_ms();
        let incident = Incident {
            id: new_id(),
            dedup_key: valid.dedup_key(),
            title: valid.title,
            description: valid.description,
            severity: valid.severity,
            status: Status::Open,
            source: valid.source,
            fingerprint: valid.fingerprint,
            created_at_ms: now,
            updated_at_ms: now,
            resolved_at_ms: None,
            escalation_level: 0,
            correlated_ids: Vec::new(),
            classification: None,
            summary: None,
            duplicate_count: 0,
            annotations: Vec::new(),
        };
        let (mut incident, deduplicated) = self
            .storage
            .create_or_dedup(incident)
            .map_err(|e| self.storage_failed(e))?;
        if deduplicated {
            if let (Some(trackers), Some(tracker)) = (self.telemetry.recording(), tracker) {
                trackers.incidents.deduplicated();
                tracker.success(IncidentStatus::Deduplicated);
            }
            self.emit(EventKind::Deduplicated, &incident);
            return Ok(Created {
                incident,
                deduplicated: true,
            });
        }
        if let Some(trackers) = self.telemetry.recording() {
            let guard = trackers.incidents.opened(incident.severity.metric());
            if let Ok(mut active) = self.active.lock() {
                active.insert(incident.id.clone(), guard);
            }
        }

        // Correlation: link to the most recent other incidents of the same
        // source in the window, at most `max_correlated` of them.
        let window = i64::try_from(self.config.correlation_window_ms).unwrap_or(i64::MAX);
        let since = now.saturating_sub(window);
        let max = self.config.max_correlated;
        let others: Vec<String> = if max == 0 {
            Vec::new()
        } else {
            // One more than wanted: the new incident is among them.
            let others: Vec<String> = self
                .storage
                .recent_from_source(&incident.source, since, max.saturating_add(1))?
                .into_iter()
                .filter(|o| o.id != incident.id)
                .map(|o| o.id)
                .collect();
            let older = others.len().saturating_sub(max);
            others.into_iter().skip(older).collect()
        };
        if !others.is_empty() {
            for other in &others {
                let new_id = incident.id.clone();
                let linked = self.storage.modify(other, |o| {
                    if o.correlated_ids.contains(&new_id) {
                        return false;
                    }
                    o.correlated_ids.push(new_id);
                    o.updated_at_ms = now;
                    true
                })?;
                if let Some((o, true)) = linked {
                    self.emit(EventKind::Correlated, &o);
                }
            }
            if let Some((updated, _)) = self.storage.modify(&incident.id, |i| {
                i.correlated_ids.extend(others.iter().cloned());
                true
            })? {
                incident = updated;
            }
            if let Some(trackers) = self.telemetry.recording() {
                trackers.incidents.correlated();
            }
        }

        // Analysis by the LLM provider: failures leave the fields empty.
        let analysis = self
            .analyzer
            .analyze(&incident.title, &incident.description, incident.severity)
            .await;
        if (analysis.classification.is_some() || analysis.summary.is_some())
            && let Some((updated, _)) = self.storage.modify(&incident.id, |i| {
                i.classification = analysis.classification.clone();
                i.summary = analysis.summary.clone();
                i.updated_at_ms = now_ms();
                true
            })?
        {
            incident = updated;
        }

        self.notifier
            .broadcast(&notification("created", &incident, "incident created"));
        self.playbooks.trigger(&incident);
        if let Some(tracker) = tracker {
            tracker.success(IncidentStatus::Open);
        }
        self.emit(EventKind::Created, &incident);
        Ok(Created {
            incident,
            deduplicated: false,
        })
    }

    /// One incident.
    ///
    /// # Errors
    ///
    /// [`IncidentError::NotFound`], [`IncidentError::Storage`].
    pub fn get(&self, id: &str) -> Result<Incident, IncidentError> {
        self.storage
            .get(id)?
            .ok_or_else(|| IncidentError::NotFound(id.to_owned()))
    }

    /// Every incident, or those with `status`, oldest first.
    ///
    /// # Errors
    ///
    /// [`IncidentError::Storage`].
    pub fn list(&self, status: Option<Status>) -> Result<Vec<Incident>, IncidentError> {
        Ok(self.storage.list(status)?)
    }

    /// Resolves an incident; resolving a resolved incident changes nothing.
    ///
    /// # Errors
    ///
    /// [`IncidentError::NotFound`], [`IncidentError::Storage`].
    pub fn resolve(&self, id: &str) -> Result<Incident, IncidentError> {
        let now = now_ms();
        let (incident, changed) = self
            .storage
            .modify(id, |i| {
                if i.status == Status::Resolved {
                    return false;
                }
                i.status = Status::Resolved;
                i.resolved_at_ms = Some(now);
                i.updated_at_ms = now;
                true
            })?
            .ok_or_else(|| IncidentError::NotFound(id.to_owned()))?;
        if changed {
            let tracker = self
                .telemetry
                .recording()
                .map(|t| t.incidents.start(incident.severity.metric()));
            let guard = self
                .active
                .lock()
                .ok()
                .and_then(|mut a| a.remove(&incident.id));
            if let Some(guard) = guard {
                guard.resolve();
            }
            if let Some(tracker) = tracker {
                tracker.success(IncidentStatus::Resolved);
            }
            self.notifier
                .broadcast(&notification("resolved", &incident, "incident resolved"));
            self.emit(EventKind::Resolved, &incident);
        }
        Ok(incident)
    }

    /// Escalates every open incident that is due at `now_ms`, one level per
    /// delay passed; returns how many levels were taken in all.
    ///
    /// # Errors
    ///
    /// [`IncidentError::Storage`].
    pub fn escalate_due(&self, now: i64) -> Result<u32, IncidentError> {
        let policy = &self.config.escalation;
        let mut taken = 0;
        for open in self.storage.list(Some(Status::Open))? {
            if !policy.severities.contains(&open.severity) {
                continue;
            }
            let age = u64::try_from(now.saturating_sub(open.created_at_ms)).unwrap_or(0);
            let due = u32::try_from(policy.delays_ms.iter().filter(|d| age >= **d).count())
                .unwrap_or(u32::MAX);
            if due <= open.escalation_level {
                continue;
            }
            let mut from = 0;
            let updated = self.storage.modify(&open.id, |i| {
                if i.status != Status::Open || due <= i.escalation_level {
                    return false;
                }
                from = i.escalation_level;
                i.escalation_level = due;
                i.updated_at_ms = now;
                true
            })?;
            if let Some((incident, true)) = updated {
                for level in from + 1..=due {
                    if let Some(trackers) = self.telemetry.recording() {
                        trackers.incidents.escalated(level);
                    }
                    taken += 1;
                }
                self.notifier.broadcast(&notification(
                    "escalated",
                    &incident,
                    &format!("escalated to level {due}"),
                ));
                self.emit(EventKind::Escalated, &incident);
            }
        }
        Ok(taken)
    }

    /// Runs [`escalate_due`](Self::escalate_due) every `interval` until
    /// `stop` turns true.
    pub async fn run_escalation(self: Arc<Self>, interval: Duration, stop: watch::Receiver<bool>) {
        crate::periodic::every(interval, stop, || {
            if self.escalate_due(now_ms()).is_err() {
                self.telemetry.error("escalation", "storage");
            }
        })
        .await;
    }
}

pub(crate) fn notification(event: &str, incident: &Incident, message: &str) -> Notification {
    Notification {
        event: event.to_owned(),
        incident_id: incident.id.clone(),
        title: incident.title.clone(),
        severity: incident.severity.as_str().to_owned(),
        message: message.to_owned(),
    }
}
