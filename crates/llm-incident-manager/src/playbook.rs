//! Playbooks: named step lists from the configuration, owed by new
//! incidents whose severity they name. Each execution is a row of the
//! durable outbox that records the next step, so that an execution cut by
//! a restart resumes where it was: a `wait` step is stored as the time it
//! ends, a `notify` step adds its notification to the outbox in the same
//! transaction that moves the execution on, and an `annotate` step writes
//! the note in that transaction too. An `http` step may run again after a
//! crash; it carries an `Idempotency-Key` header that is the same each
//! time. The first failing step fails the execution; each execution is
//! recorded by the playbook tracker.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::Full;
use incident_metrics::base::prometheus_client::metrics::gauge::Gauge;
use incident_metrics::catalog::playbook::PlaybookStatus;
use incident_metrics::trackers::Trackers;

use crate::config::{PlaybookConfig, StepConfig};
use crate::domain::now_ms;
use crate::http_client::{HttpClient, new_client, new_client_with};
use crate::notify::{IDEMPOTENCY_KEY, Notification};
use crate::outbox::{Handler, Signals, Wake};
use crate::storage::{NewWork, Storage, StorageError, Work, WorkKind};

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The store refused (the execution stays, and is tried again).
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The incident is gone.
    #[error("incident {0} not found")]
    NotFound(String),
    /// The HTTP call failed or answered outside 2xx.
    #[error("http step: {0}")]
    Http(String),
    /// The service is stopping: the execution resumes at the next start.
    #[error("suspended")]
    Suspended,
}

/// Runs the playbook rows of the outbox.
#[derive(Debug)]
pub struct PlaybookHandler {
    playbooks: Vec<PlaybookConfig>,
    storage: Arc<Storage>,
    telemetry: Trackers,
    client: HttpClient,
    wake: Wake,
    pending: Gauge,
}

impl PlaybookHandler {
    /// The handler of `playbooks`; sets `playbooks_pending` to the rows the
    /// outbox holds.
    pub fn new(
        playbooks: Vec<PlaybookConfig>,
        storage: Arc<Storage>,
        telemetry: Trackers,
        wake: Wake,
        pending: i64,
    ) -> Self {
        let gauge = telemetry.playbooks.pending();
        gauge.set(pending);
        Self {
            playbooks,
            storage,
            telemetry,
            client: new_client(),
            wake,
            pending: gauge,
        }
    }

    /// Verifies `https://` step URLs as `tls` says (`[playbooks_tls]`; the
    /// platform's roots when `None`).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<&crate::config::ClientTlsConfig>) -> Self {
        self.client = new_client_with(tls);
        self
    }

    /// `playbooks_pending`, moved by the manager when it owes executions.
    pub fn pending(&self) -> &Gauge {
        &self.pending
    }

    /// Runs the steps of `playbook` from `work.step`, moving the row on
    /// after each.
    async fn steps(
        &self,
        playbook: &PlaybookConfig,
        work: &Work,
        signals: &mut Signals,
    ) -> Result<(), StepError> {
        let first = usize::try_from(work.step).unwrap_or(usize::MAX);
        for (index, step) in playbook.steps.iter().enumerate().skip(first) {
            if signals.stopping() {
                return Err(StepError::Suspended);
            }
            let next = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let row = work.id;
            let incident_id = work.incident_id.clone();
            match step {
                StepConfig::Notify { channel, message } => {
                    let incident = self
                        .storage
                        .get(&work.incident_id)?
                        .ok_or_else(|| StepError::NotFound(work.incident_id.clone()))?;
                    let notification = Notification {
                        event: "playbook".to_owned(),
                        incident_id: incident.id.clone(),
                        title: incident.title.clone(),
                        severity: incident.severity.as_str().to_owned(),
                        message: format!("{}: {message}", playbook.name),
                    };
                    let owed = NewWork {
                        kind: WorkKind::Notification,
                        target: channel.clone(),
                        incident_id: incident.id.clone(),
                        idempotency_key: format!(
                            "{}:playbook:{}:{index}:{channel}",
                            incident.id, playbook.name
                        ),
                        payload: serde_json::to_string(&notification).unwrap_or_default(),
                        due_at_ms: now_ms(),
                    };
                    let channel = channel.clone();
                    self.storage
                        .write(move |tx| {
                            tx.enqueue(&owed)?;
                            tx.reschedule(row, next, 0, now_ms())
                        })
                        .await?;
                    self.telemetry.notifications.queue_size(&channel).inc();
                    self.wake.wake();
                }
                StepConfig::Annotate { note } => {
                    let note = note.clone();
                    let found = self
                        .storage
                        .write(move |tx| {
                            let Some(mut incident) = tx.get(&incident_id)? else {
                                return Ok(false);
                            };
                            incident.annotations.push(note);
                            incident.updated_at_ms = now_ms();
                            tx.update(&incident)?;
                            tx.reschedule(row, next, 0, now_ms())?;
                            Ok(true)
                        })
                        .await?;
                    if !found {
                        return Err(StepError::NotFound(work.incident_id.clone()));
                    }
                }
                StepConfig::Wait { ms } => {
                    // The end of the wait is stored first, as the time the
                    // next step is due: after a restart the execution is
                    // taken up again when the wait is over.
                    let ends = now_ms().saturating_add(i64::try_from(*ms).unwrap_or(i64::MAX));
                    self.storage
                        .write(move |tx| tx.reschedule(row, next, 0, ends))
                        .await?;
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(*ms)) => {}
                        () = signals.stopped() => return Err(StepError::Suspended),
                    }
                }
                StepConfig::Http {
                    url,
                    method,
                    timeout_ms,
                } => {
                    let incident = self
                        .storage
                        .get(&work.incident_id)?
                        .ok_or_else(|| StepError::NotFound(work.incident_id.clone()))?;
                    let body = serde_json::to_vec(&incident)
                        .map_err(|e| StepError::Http(e.to_string()))?;
                    let request = http::Request::builder()
                        .method(method.as_str())
                        .uri(url)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .header(IDEMPOTENCY_KEY, format!("{}:{index}", work.idempotency_key))
                        .body(Full::new(Bytes::from(body)))
                        .map_err(|e| StepError::Http(e.to_string()))?;
                    let timeout = Duration::from_millis((*timeout_ms).max(1));
                    let response = tokio::select! {
                        r = tokio::time::timeout(timeout, self.client.request(request)) => r,
                        () = signals.stopped() => return Err(StepError::Suspended),
                    };
                    let response = response
                        .map_err(|_| {
                            StepError::Http(format!("{url} did not answer within {timeout:?}"))
                        })?
                        .map_err(|e| StepError::Http(format!("{url}: {e}")))?;
                    if !response.status().is_success() {
                        return Err(StepError::Http(format!(
                            "{url} answered {}",
                            response.status()
                        )));
                    }
                    self.storage
                        .write(move |tx| tx.reschedule(row, next, 0, now_ms()))
                        .await?;
                }
            }
        }
        Ok(())
    }
}

impl Handler for PlaybookHandler {
    fn handle(self: Arc<Self>, work: Work, mut signals: Signals) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let id = work.id;
            let Some(playbook) = self.playbooks.iter().find(|p| p.name == work.target) else {
                // A playbook no longer configured: its executions cannot run.
                eprintln!(
                    "playbook {:?} is no longer configured: dropped its execution for incident {}",
                    work.target, work.incident_id
                );
                self.telemetry.errors.record("playbook", "unknown");
                if self.storage.write(move |tx| tx.complete(id)).await.is_ok() {
                    self.pending.dec();
                }
                return;
            };
            let tracker = self.telemetry.playbooks.start(&playbook.name);
            // The execution's time runs from when it was owed.
            let deadline = work
                .created_at_ms
                .saturating_add(i64::try_from(playbook.timeout_ms).unwrap_or(i64::MAX));
            let left = u64::try_from(deadline.saturating_sub(now_ms())).unwrap_or(0);
            let ran = tokio::time::timeout(
                Duration::from_millis(left),
                self.steps(playbook, &work, &mut signals),
            )
            .await;
            let status = match ran {
                Ok(Ok(())) => PlaybookStatus::Success,
                Ok(Err(StepError::Suspended)) => {
                    tracker.suspended();
                    return;
                }
                Ok(Err(StepError::Storage(e))) => {
                    // The row stays where it was; tried again, not at once.
                    self.telemetry.errors.record("playbook", e.kind());
                    tracker.suspended();
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = signals.stopped() => {}
                    }
                    return;
                }
                Ok(Err(e)) => {
                    eprintln!(
                        "playbook {} failed for incident {}: {e}",
                        playbook.name, work.incident_id
                    );
                    PlaybookStatus::Failed
                }
                Err(_) => PlaybookStatus::Timeout,
            };
            if self.storage.write(move |tx| tx.complete(id)).await.is_err() {
                // Not removed: it runs again from its stored step.
                self.telemetry.errors.record("playbook", "storage");
                tracker.suspended();
                return;
            }
            self.pending.dec();
            if status != PlaybookStatus::Success {
                self.telemetry.errors.record("playbook", status.as_str());
            }
            tracker.finish(status);
        })
    }
}
