//! Playbooks: named step lists from the configuration, run asynchronously
//! for new incidents whose severity they name, each execution recorded by
//! the playbook tracker. The first failing step fails the execution.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use incident_metrics::catalog::playbook::PlaybookStatus;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{PlaybookConfig, StepConfig};
use crate::domain::Incident;
use crate::http_client::{HttpClient, new_client};
use crate::notify::{Notification, Notifier};
use crate::storage::Storage;
use crate::telemetry::Telemetry;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The notification could not be queued.
    #[error("notify: {0}")]
    Notify(#[from] crate::notify::NotifyError),
    /// The annotation could not be stored.
    #[error("annotate: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// The incident is gone.
    #[error("incident {0} not found")]
    NotFound(String),
    /// The HTTP call failed or answered outside 2xx.
    #[error("http step: {0}")]
    Http(String),
    /// Shutdown cut the execution.
    #[error("cancelled")]
    Cancelled,
}

/// Runs playbooks.
#[derive(Clone, Debug)]
pub struct PlaybookEngine {
    playbooks: Arc<Vec<PlaybookConfig>>,
    storage: Arc<Storage>,
    notifier: Notifier,
    telemetry: Telemetry,
    client: HttpClient,
    tasks: Arc<Mutex<JoinSet<()>>>,
    cancel: watch::Sender<bool>,
}

impl PlaybookEngine {
    /// An engine for `playbooks`.
    pub fn new(
        playbooks: Vec<PlaybookConfig>,
        storage: Arc<Storage>,
        notifier: Notifier,
        telemetry: Telemetry,
    ) -> Self {
        Self {
            playbooks: Arc::new(playbooks),
            storage,
            notifier,
            telemetry,
            client: new_client(),
            tasks: Arc::new(Mutex::new(JoinSet::new())),
            cancel: watch::Sender::new(false),
        }
    }

    /// Starts, in the background, every playbook that names the incident's
    /// severity; returns how many started.
    pub fn trigger(&self, incident: &Incident) -> usize {
        if *self.cancel.borrow() {
            return 0;
        }
        let Ok(mut tasks) = self.tasks.lock() else {
            return 0;
        };
        // Reap finished executions so the set stays small.
        while tasks.try_join_next().is_some() {}
        let mut started = 0;
        for (index, playbook) in self.playbooks.iter().enumerate() {
            if !playbook.severities.contains(&incident.severity) {
                continue;
            }
            let engine = self.clone();
            let incident = incident.clone();
            tasks.spawn(async move { engine.execute(index, &incident).await });
            started += 1;
        }
        started
    }

    async fn execute(&self, index: usize, incident: &Incident) {
        let Some(playbook) = self.playbooks.get(index) else {
            return;
        };
        let tracker = self
            .telemetry
            .recording()
            .map(|t| t.playbooks.start(&playbook.name));
        let timeout = Duration::from_millis(playbook.timeout_ms.max(1));
        let status = match tokio::time::timeout(timeout, self.steps(playbook, incident)).await {
            Ok(Ok(())) => PlaybookStatus::Success,
            Ok(Err(StepError::Cancelled)) => PlaybookStatus::Cancelled,
            Ok(Err(e)) => {
                eprintln!(
                    "playbook {} failed for incident {}: {e}",
                    playbook.name, incident.id
                );
                PlaybookStatus::Failed
            }
            Err(_) => PlaybookStatus::Timeout,
        };
        if status != PlaybookStatus::Success {
            self.telemetry.error("playbook", status.as_str());
        }
        if let Some(tracker) = tracker {
            tracker.finish(status);
        }
    }

    async fn steps(&self, playbook: &PlaybookConfig, incident: &Incident) -> Result<(), StepError> {
        for step in &playbook.steps {
            if *self.cancel.borrow() {
                return Err(StepError::Cancelled);
            }
            match step {
                StepConfig::Notify { channel, message } => {
                    self.notifier.send(
                        channel,
                        Notification {
                            event: "playbook".to_owned(),
                            incident_id: incident.id.clone(),
                            title: incident.title.clone(),
                            severity: incident.severity.as_str().to_owned(),
                            message: format!("{}: {message}", playbook.name),
                        },
                    )?;
                }
                StepConfig::Annotate { note } => {
                    let note = note.clone();
                    self.storage
                        .modify(&incident.id, |i| {
                            i.annotations.push(note);
                            true
                        })?
                        .ok_or_else(|| StepError::NotFound(incident.id.clone()))?;
                }
                StepConfig::Wait { ms } => {
                    let mut cancel = self.cancel.subscribe();
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(*ms)) => {}
                        _ = cancel.wait_for(|c| *c) => return Err(StepError::Cancelled),
                    }
                }
                StepConfig::Http { url, method } => {
                    let body =
                        serde_json::to_vec(incident).map_err(|e| StepError::Http(e.to_string()))?;
                    let request = http::Request::builder()
                        .method(method.as_str())
                        .uri(url)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .map_err(|e| StepError::Http(e.to_string()))?;
                    let response = self
                        .client
                        .request(request)
                        .await
                        .map_err(|e| StepError::Http(e.to_string()))?;
                    if !response.status().is_success() {
                        return Err(StepError::Http(format!(
                            "{url} answered {}",
                            response.status()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The number of executions not yet finished.
    pub fn running(&self) -> usize {
        self.tasks.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// Stops new executions, cancels waiting steps, and waits up to
    /// `timeout` for the running executions (then aborts them). True when
    /// every execution finished in time.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.cancel.send_replace(true);
        let mut tasks = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return false,
        };
        let drained = tokio::time::timeout(timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !drained {
            tasks.abort_all();
        }
        drained
    }
}
