//! [`IncidentManager`]: every state change of an incident, each one write
//! transaction that also stores the work it owes (the outbox), with its
//! metrics recorded after the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use incident_metrics::catalog::incident::IncidentStatus;
use incident_metrics::trackers::Trackers;
use tokio::sync::{broadcast, watch};

use crate::config::{Config, EscalationConfig, IncidentConfig};
use crate::domain::{
    Incident, NewIncident, Origin, Severity, Status, ValidIncident, ValidationError,
    alert_dedup_key, new_id, now_ms,
};
use crate::notify::Notification;
use crate::outbox::Wake;
use crate::storage::{NewWork, Page, PageCursor, Storage, StorageError, Tx, WorkKind};

/// How many incidents one escalation tick looks at, at most; the rest wait
/// for the next tick. Bounds the work (and the write) of one tick.
pub const ESCALATION_BATCH: usize = 500;

/// How many resolved incidents one prune deletes per transaction.
pub const PRUNE_BATCH: usize = 1000;

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
    /// The incident's state forbids the change (acknowledging a resolved
    /// incident).
    #[error("{0}")]
    Conflict(String),
    /// The store is full: `storage.max_size_bytes`, the disk, or
    /// `incidents.max_stored`.
    #[error("{0}")]
    StoreFull(String),
    /// Storage failed.
    #[error("storage failed: {0}")]
    Storage(StorageError),
}

impl From<StorageError> for IncidentError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Full => Self::StoreFull(e.to_string()),
            e => Self::Storage(e),
        }
    }
}

/// The answer to a create request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Created {
    /// The new incident, or the active one it duplicates.
    pub incident: Incident,
    /// True when the request was folded into an active incident.
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
    /// Acknowledged by a responder.
    Acknowledged,
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

/// What each state change owes: the notification channels, and the
/// playbooks by severity. Built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Routing {
    /// The channels every incident event goes to.
    pub channels: Vec<String>,
    /// Each playbook's name and the severities whose new incidents run it.
    pub playbooks: Vec<(String, Vec<Severity>)>,
    /// Whether new incidents are analysed by the LLM provider.
    pub analysis: bool,
}

impl Routing {
    /// The routing of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            channels: config.notifications.channels.clone(),
            playbooks: config
                .playbooks
                .iter()
                .map(|p| (p.name.clone(), p.severities.clone()))
                .collect(),
            analysis: true,
        }
    }

    /// One notification per default channel for `event`. The idempotency
    /// key names the incident, the event (and `occurrence`, for events that
    /// repeat) and the channel: the same on every delivery attempt.
    fn notifications(
        &self,
        event: &str,
        occurrence: Option<u32>,
        incident: &Incident,
        message: &str,
        now: i64,
    ) -> Vec<NewWork> {
        let notification = notification(event, incident, message);
        let payload = serde_json::to_string(&notification).unwrap_or_default();
        self.channels
            .iter()
            .map(|channel| {
                let key = match occurrence {
                    Some(n) => format!("{}:{event}:{n}:{channel}", incident.id),
                    None => format!("{}:{event}:{channel}", incident.id),
                };
                NewWork {
                    kind: WorkKind::Notification,
                    target: channel.clone(),
                    incident_id: incident.id.clone(),
                    idempotency_key: key,
                    payload: payload.clone(),
                    due_at_ms: now,
                }
            })
            .collect()
    }

    /// What a new incident owes: its analysis, a `created` notification per
    /// channel, and each playbook of its severity.
    fn for_created(&self, incident: &Incident, now: i64) -> Vec<NewWork> {
        let mut work = Vec::new();
        if self.analysis {
            work.push(NewWork {
                kind: WorkKind::Analysis,
                target: String::new(),
                incident_id: incident.id.clone(),
                idempotency_key: format!("{}:analysis", incident.id),
                payload: String::new(),
                due_at_ms: now,
            });
        }
        work.extend(self.notifications("created", None, incident, "incident created", now));
        for (name, severities) in &self.playbooks {
            if severities.contains(&incident.severity) {
                work.push(NewWork {
                    kind: WorkKind::Playbook,
                    target: name.clone(),
                    incident_id: incident.id.clone(),
                    idempotency_key: format!("{}:playbook:{name}", incident.id),
                    payload: String::new(),
                    due_at_ms: now,
                });
            }
        }
        work
    }
}

/// Creates, deduplicates, correlates, acknowledges, escalates, resolves
/// and prunes incidents. Each change is one transaction with the work it
/// owes; the workers of [`crate::outbox`] carry that work out.
#[derive(Debug)]
pub struct IncidentManager {
    storage: Arc<Storage>,
    telemetry: Trackers,
    config: IncidentConfig,
    routing: Arc<Routing>,
    events: broadcast::Sender<IncidentEvent>,
    wake: Wake,
    /// Incidents stored, for `incidents.max_stored` (counted once at
    /// start-up, then moved by the writes).
    stored: Arc<AtomicU64>,
}

impl IncidentManager {
    /// A manager over `storage`; sets `incidents_active` from the store
    /// (one indexed count).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub async fn new(
        storage: Arc<Storage>,
        routing: Routing,
        telemetry: Trackers,
        config: IncidentConfig,
        wake: Wake,
    ) -> Result<Self, IncidentError> {
        let counts = storage.active_counts()?;
        for severity in Severity::ALL {
            let n = counts
                .iter()
                .filter(|(s, _, _)| *s == severity)
                .map(|(_, _, n)| *n)
                .sum();
            telemetry.incidents.set_active(severity.metric(), n);
        }
        for origin in Origin::ALL {
            let n = counts
                .iter()
                .filter(|(_, o, _)| *o == origin)
                .map(|(_, _, n)| *n)
                .sum();
            telemetry.incidents.set_active_from(origin.metric(), n);
        }
        let stored = storage.write(|tx: &Tx<'_>| tx.count()).await?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            storage,
            telemetry,
            config,
            routing: Arc::new(routing),
            events,
            wake,
            stored: Arc::new(AtomicU64::new(stored)),
        })
    }

    /// The service's trackers.
    pub fn telemetry(&self) -> &Trackers {
        &self.telemetry
    }

    /// The store.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
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

    /// After a commit that owes `work`: the queue gauges move and the
    /// workers wake.
    fn owed(&self, work: &[NewWork]) {
        if work.is_empty() {
            return;
        }
        for w in work {
            match w.kind {
                WorkKind::Notification => {
                    self.telemetry.notifications.queue_size(&w.target).inc();
                }
                WorkKind::Playbook => {
                    self.telemetry.playbooks.pending().inc();
                }
                _ => {}
            }
        }
        self.wake.wake();
    }

    /// A write that failed (already counted by the storage tracker).
    fn failed(&self, e: StorageError) -> IncidentError {
        IncidentError::from(e)
    }

    /// Creates an incident, or folds it into the active incident with the
    /// same fingerprint (or, with none, the same source and title). The
    /// incident, its correlation links on both sides and the work it owes
    /// are one transaction; nothing of it waits for the LLM.
    ///
    /// # Errors
    ///
    /// [`IncidentError::Invalid`] for bad fields,
    /// [`IncidentError::StoreFull`], [`IncidentError::Storage`].
    pub async fn create(&self, request: NewIncident) -> Result<Created, IncidentError> {
        self.open(request.validate()?).await
    }

    /// Opens a validated incident, or folds it into the active incident
    /// with the same deduplication key.
    async fn open(&self, valid: ValidIncident) -> Result<Created, IncidentError> {
        // Dropped on an error below, the tracker records the outcome `failed`.
        let tracker = self.telemetry.incidents.start(valid.severity.metric());
        let now = now_ms();
        let mut incident = Incident {
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
            acknowledged_at_ms: None,
            resolved_at_ms: None,
            escalation_level: 0,
            correlated_ids: Vec::new(),
            classification: None,
            summary: None,
            duplicate_count: 0,
            annotations: Vec::new(),
            origin: valid.origin,
            labels: valid.labels,
            generator_url: valid.generator_url,
            escalate_at_ms: None,
        };
        incident.escalate_at_ms = next_escalation(&self.config.escalation, &incident);
        let routing = Arc::clone(&self.routing);
        let window = i64::try_from(self.config.correlation_window_ms).unwrap_or(i64::MAX);
        let max_correlated = self.config.max_correlated;
        let max_stored = self.config.max_stored;
        let stored = Arc::clone(&self.stored);
        let outcome = self
            .storage
            .write(move |tx| {
                if let Some(mut existing) = tx.active_duplicate(&incident.dedup_key)? {
                    existing.duplicate_count = existing.duplicate_count.saturating_add(1);
                    existing.updated_at_ms = now;
                    tx.update(&existing)?;
                    return Ok(Outcome::Duplicate(existing));
                }
                if let Some(max) = max_stored
                    && stored.load(Ordering::Relaxed) >= max
                {
                    return Ok(Outcome::AtCapacity(max));
                }
                tx.ensure_room()?;
                // Correlation: the most recent other incidents of the same
                // source in the window, at most `max_correlated`, linked on
                // both sides.
                let mut linked = Vec::new();
                if max_correlated > 0 {
                    let since = now.saturating_sub(window);
                    for other in tx.recent_from_source(&incident.source, since, max_correlated)? {
                        let Some(mut o) = tx.get(&other)? else {
                            continue;
                        };
                        if !o.correlated_ids.contains(&incident.id) {
                            o.correlated_ids.push(incident.id.clone());
                            o.updated_at_ms = now;
                            tx.update(&o)?;
                        }
                        incident.correlated_ids.push(o.id.clone());
                        linked.push(o);
                    }
                }
                tx.insert(&incident)?;
                let work = routing.for_created(&incident, now);
                for w in &work {
                    tx.enqueue(w)?;
                }
                stored.fetch_add(1, Ordering::Relaxed);
                Ok(Outcome::Created {
                    incident,
                    linked,
                    work,
                })
            })
            .await
            .map_err(|e| self.failed(e))?;
        match outcome {
            Outcome::Duplicate(incident) => {
                self.telemetry.incidents.deduplicated();
                tracker.success(IncidentStatus::Deduplicated);
                self.emit(EventKind::Deduplicated, &incident);
                Ok(Created {
                    incident,
                    deduplicated: true,
                })
            }
            Outcome::AtCapacity(max) => {
                self.telemetry.errors.record("storage", "max_stored");
                Err(IncidentError::StoreFull(format!(
                    "the incident store is full: it holds incidents.max_stored = {max} \
                     incidents; resolve and prune incidents, or raise the limit"
                )))
            }
            Outcome::Created {
                incident,
                linked,
                work,
            } => {
                let (severity, source) = (incident.severity.metric(), incident.origin.metric());
                self.telemetry.incidents.add_active(severity, 1);
                self.telemetry.incidents.opened_from(severity, source);
                self.telemetry.incidents.add_active_from(source, 1);
                if !linked.is_empty() {
                    self.telemetry.incidents.correlated();
                }
                tracker.success(IncidentStatus::Open);
                self.owed(&work);
                for o in &linked {
                    self.emit(EventKind::Correlated, o);
                }
                self.emit(EventKind::Created, &incident);
                Ok(Created {
                    incident,
                    deduplicated: false,
                })
            }
        }
    }

    /// [`create`](Self::create) in a task of its own: once a request is
    /// received it is carried out to its end even if the caller goes away
    /// (a client that hangs up, a gRPC deadline that passes), so that what
    /// the service took in is never half done.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create); [`IncidentError::Storage`] if the task
    /// panicked.
    pub async fn create_detached(
        self: &Arc<Self>,
        request: NewIncident,
    ) -> Result<Created, IncidentError> {
        let manager = Arc::clone(self);
        tokio::spawn(async move { manager.create(request).await })
            .await
            .map_err(|e| IncidentError::Storage(StorageError::RolledBack(e.to_string())))?
    }

    /// Opens the incident of a firing alert (a [`ValidIncident`] of origin
    /// [`Origin::Alertmanager`]), or folds it into the active incident of
    /// the same alert fingerprint: Alertmanager's re-sends of a firing
    /// alert fold as duplicates. Carried out to its end in a task of its
    /// own, as [`create_detached`](Self::create_detached).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub(crate) async fn open_alert(
        self: &Arc<Self>,
        alert: ValidIncident,
    ) -> Result<Created, IncidentError> {
        let manager = Arc::clone(self);
        tokio::spawn(async move { manager.open(alert).await })
            .await
            .map_err(|e| IncidentError::Storage(StorageError::RolledBack(e.to_string())))?
    }

    /// Resolves the active incident of the alert with `fingerprint`, if
    /// there is one (a resolved alert whose incident was already resolved,
    /// or never opened, changes nothing). Carried out to its end in a task
    /// of its own.
    ///
    /// # Errors
    ///
    /// [`IncidentError::Storage`].
    pub(crate) async fn resolve_alert(
        self: &Arc<Self>,
        fingerprint: &str,
    ) -> Result<Option<Incident>, IncidentError> {
        let manager = Arc::clone(self);
        let key = Lookup::Active(alert_dedup_key(fingerprint));
        let resolved = tokio::spawn(async move { manager.resolve_where(key).await })
            .await
            .map_err(|e| IncidentError::Storage(StorageError::RolledBack(e.to_string())))?;
        match resolved {
            Ok(incident) => Ok(Some(incident)),
            Err(IncidentError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
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

    /// One page of incidents, oldest first, optionally with one status.
    ///
    /// # Errors
    ///
    /// [`IncidentError::Storage`].
    pub fn list(
        &self,
        status: Option<Status>,
        after: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page, IncidentError> {
        Ok(self.storage.list_page(status, after, limit)?)
    }

    /// Acknowledges an incident: it stays active and is no longer
    /// escalated. Acknowledging an acknowledged incident changes nothing.
    ///
    /// # Errors
    ///
    /// [`IncidentError::NotFound`], [`IncidentError::Conflict`] for a
    /// resolved incident, [`IncidentError::Storage`].
    pub async fn acknowledge(&self, id: &str) -> Result<Incident, IncidentError> {
        let change = self
            .transition(
                Lookup::Id(id.to_owned()),
                "acknowledged",
                "incident acknowledged",
                |i, now| match i.status {
                    Status::Resolved => Verdict::Refuse,
                    Status::Acknowledged => Verdict::Keep,
                    Status::Open => {
                        i.status = Status::Acknowledged;
                        i.acknowledged_at_ms = Some(now);
                        Verdict::Change
                    }
                },
            )
            .await?;
        match change {
            Change::NotFound => Err(IncidentError::NotFound(id.to_owned())),
            Change::Refused(_) => Err(IncidentError::Conflict(format!(
                "incident {id} is resolved; only an open incident can be acknowledged"
            ))),
            Change::Unchanged(incident) => Ok(incident),
            Change::Changed { incident, work } => {
                let severity = incident.severity.metric();
                self.telemetry
                    .incidents
                    .start(severity)
                    .success(IncidentStatus::Acknowledged);
                let at = incident
                    .acknowledged_at_ms
                    .unwrap_or(incident.updated_at_ms);
                self.telemetry.incidents.acknowledged_after(
                    severity,
                    incident.origin.metric(),
                    since(incident.created_at_ms, at),
                );
                self.owed(&work);
                self.emit(EventKind::Acknowledged, &incident);
                Ok(incident)
            }
        }
    }

    /// Resolves an incident; resolving a resolved incident changes nothing.
    ///
    /// # Errors
    ///
    /// [`IncidentError::NotFound`], [`IncidentError::Storage`].
    pub async fn resolve(&self, id: &str) -> Result<Incident, IncidentError> {
        self.resolve_where(Lookup::Id(id.to_owned())).await
    }

    /// Resolves the incident `lookup` finds.
    async fn resolve_where(&self, lookup: Lookup) -> Result<Incident, IncidentError> {
        let id = lookup.describe();
        let change = self
            .transition(lookup, "resolved", "incident resolved", |i, now| {
                if i.status == Status::Resolved {
                    return Verdict::Keep;
                }
                i.status = Status::Resolved;
                i.resolved_at_ms = Some(now);
                Verdict::Change
            })
            .await?;
        match change {
            Change::NotFound => Err(IncidentError::NotFound(id)),
            Change::Unchanged(incident) | Change::Refused(incident) => Ok(incident),
            Change::Changed { incident, work } => {
                let severity = incident.severity.metric();
                self.telemetry
                    .incidents
                    .start(severity)
                    .success(IncidentStatus::Resolved);
                let source = incident.origin.metric();
                self.telemetry.incidents.add_active(severity, -1);
                self.telemetry.incidents.add_active_from(source, -1);
                let at = incident.resolved_at_ms.unwrap_or(incident.updated_at_ms);
                self.telemetry.incidents.resolved_after(
                    severity,
                    source,
                    since(incident.created_at_ms, at),
                );
                self.owed(&work);
                self.emit(EventKind::Resolved, &incident);
                Ok(incident)
            }
        }
    }

    /// One change of an incident's status, in one transaction with the
    /// notifications of `event` it owes: `apply` sees the stored incident
    /// and the time, and says whether it changed it. A changed incident is
    /// no longer escalated.
    async fn transition(
        &self,
        lookup: Lookup,
        event: &'static str,
        message: &'static str,
        apply: fn(&mut Incident, i64) -> Verdict,
    ) -> Result<Change, IncidentError> {
        let now = now_ms();
        let routing = Arc::clone(&self.routing);
        self.storage
            .write(move |tx| {
                let found = match &lookup {
                    Lookup::Id(id) => tx.get(id)?,
                    Lookup::Active(key) => tx.active_duplicate(key)?,
                };
                let Some(mut incident) = found else {
                    return Ok(Change::NotFound);
                };
                match apply(&mut incident, now) {
                    Verdict::Refuse => return Ok(Change::Refused(incident)),
                    Verdict::Keep => return Ok(Change::Unchanged(incident)),
                    Verdict::Change => {}
                }
                incident.updated_at_ms = now;
                incident.escalate_at_ms = None;
                tx.update(&incident)?;
                let work = routing.notifications(event, None, &incident, message, now);
                for w in &work {
                    tx.enqueue(w)?;
                }
                Ok(Change::Changed { incident, work })
            })
            .await
            .map_err(|e| self.failed(e))
    }

    /// Escalates the open incidents due at `now` (found by their indexed
    /// `escalate_at_ms`, at most [`ESCALATION_BATCH`] per call), one level
    /// per delay passed, in one transaction with the notifications they
    /// owe; returns how many levels were taken in all.
    ///
    /// # Errors
    ///
    /// [`IncidentError::Storage`].
    pub async fn escalate_due(&self, now: i64) -> Result<u32, IncidentError> {
        let due = self.storage.escalation_due(now, ESCALATION_BATCH)?;
        if due.is_empty() {
            return Ok(0);
        }
        let policy = self.config.escalation.clone();
        let routing = Arc::clone(&self.routing);
        let escalated = self
            .storage
            .write(move |tx| {
                let mut escalated = Vec::new();
                for id in due {
                    let Some(mut incident) = tx.get(&id)? else {
                        continue;
                    };
                    let from = incident.escalation_level;
                    if incident.status == Status::Open
                        && policy.severities.contains(&incident.severity)
                    {
                        let age =
                            u64::try_from(now.saturating_sub(incident.created_at_ms)).unwrap_or(0);
                        let due =
                            u32::try_from(policy.delays_ms.iter().filter(|d| age >= **d).count())
                                .unwrap_or(u32::MAX);
                        incident.escalation_level = incident.escalation_level.max(due);
                    }
                    incident.escalate_at_ms = next_escalation(&policy, &incident);
                    let mut work = Vec::new();
                    if incident.escalation_level > from {
                        incident.updated_at_ms = now;
                        let level = incident.escalation_level;
                        work = routing.notifications(
                            "escalated",
                            Some(level),
                            &incident,
                            &format!("escalated to level {level}"),
                            now,
                        );
                    }
                    tx.update(&incident)?;
                    for w in &work {
                        tx.enqueue(w)?;
                    }
                    if incident.escalation_level > from {
                        escalated.push((incident, from, work));
                    }
                }
                Ok(escalated)
            })
            .await
            .map_err(|e| self.failed(e))?;
        let mut taken = 0;
        for (incident, from, work) in escalated {
            for level in from + 1..=incident.escalation_level {
                self.telemetry.incidents.escalated(level);
                taken += 1;
            }
            self.owed(&work);
            self.emit(EventKind::Escalated, &incident);
        }
        Ok(taken)
    }

    /// Deletes the incidents resolved more than `incidents.retention_days`
    /// before `now` (in batches of [`PRUNE_BATCH`]); how many. Counted in
    /// `incidents_pruned_total`. Nothing when retention is 0 (keep all).
    ///
    /// # Errors
    ///
    /// [`IncidentError::Storage`].
    pub async fn prune(&self, now: i64) -> Result<u64, IncidentError> {
        if self.config.retention_days == 0 {
            return Ok(0);
        }
        let keep = i64::from(self.config.retention_days).saturating_mul(86_400_000);
        let before = now.saturating_sub(keep);
        let mut pruned = 0_u64;
        loop {
            let stored = Arc::clone(&self.stored);
            let n = self
                .storage
                .write(move |tx| {
                    let n = tx.prune_resolved(before, PRUNE_BATCH)?;
                    let n64 = u64::try_from(n).unwrap_or(0);
                    let _ = stored.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                        Some(s.saturating_sub(n64))
                    });
                    Ok(n)
                })
                .await
                .map_err(|e| self.failed(e))?;
            pruned += u64::try_from(n).unwrap_or(0);
            self.telemetry
                .incidents
                .pruned(u64::try_from(n).unwrap_or(0));
            if n < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }

    /// Runs [`escalate_due`](Self::escalate_due) (when escalation is on) and
    /// [`prune`](Self::prune) every `interval` until `stop` turns true; a
    /// failed run is counted in `errors_total` and tried again at the next.
    pub async fn run_periodic(self: Arc<Self>, interval: Duration, stop: watch::Receiver<bool>) {
        let escalation = self.config.escalation.enabled;
        crate::periodic::every_async(interval, stop, || {
            let manager = Arc::clone(&self);
            async move {
                let now = now_ms();
                if escalation && manager.escalate_due(now).await.is_err() {
                    manager.telemetry.errors.record("escalation", "storage");
                }
                if manager.prune(now).await.is_err() {
                    manager.telemetry.errors.record("retention", "storage");
                }
            }
        })
        .await;
    }
}

/// What a create transaction found.
enum Outcome {
    Duplicate(Incident),
    AtCapacity(u64),
    Created {
        incident: Incident,
        linked: Vec<Incident>,
        work: Vec<NewWork>,
    },
}

/// How a transition finds its incident.
enum Lookup {
    /// By id.
    Id(String),
    /// The active incident with this deduplication key.
    Active(String),
}

impl Lookup {
    /// The id, or the key, for a not-found error.
    fn describe(&self) -> String {
        match self {
            Self::Id(id) => id.clone(),
            Self::Active(key) => format!("with key {key}"),
        }
    }
}

/// What a transition's `apply` decided.
enum Verdict {
    /// The change is not allowed in this state.
    Refuse,
    /// Already done: nothing to change.
    Keep,
    /// Changed: store it.
    Change,
}

/// What an acknowledge or resolve transaction found.
enum Change {
    NotFound,
    Refused(Incident),
    Unchanged(Incident),
    Changed {
        incident: Incident,
        work: Vec<NewWork>,
    },
}

/// The time from `from_ms` to `to_ms`, zero when the clock went back.
fn since(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}

/// When an incident's next escalation level is due under `policy`, or
/// `None` when it will not escalate further (not open, a severity the
/// policy leaves out, or every level reached).
fn next_escalation(policy: &EscalationConfig, incident: &Incident) -> Option<i64> {
    if incident.status != Status::Open || !policy.severities.contains(&incident.severity) {
        return None;
    }
    let level = usize::try_from(incident.escalation_level).unwrap_or(usize::MAX);
    let delay = policy.delays_ms.get(level)?;
    Some(
        incident
            .created_at_ms
            .saturating_add(i64::try_from(*delay).unwrap_or(i64::MAX)),
    )
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
