//! [`AnalysisHandler`]: classifies and summarises an incident through the
//! LLM provider, then stores the result and removes its outbox row in one
//! transaction.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use incident_metrics::trackers::Trackers;

use super::{Handler, Signals};
use crate::domain::now_ms;
use crate::llm::Analyzer;
use crate::storage::{Storage, Work};

/// Runs the analysis rows of the outbox.
#[derive(Debug)]
pub struct AnalysisHandler {
    /// The store.
    pub storage: Arc<Storage>,
    /// The LLM calls, through the LLM tracker.
    pub analyzer: Analyzer,
    /// Counts failures.
    pub telemetry: Trackers,
}

impl Handler for AnalysisHandler {
    fn handle(self: Arc<Self>, work: Work, mut signals: Signals) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let incident = match self.storage.get(&work.incident_id) {
                Ok(Some(incident)) => incident,
                Ok(None) => {
                    // Pruned or never stored: nothing to analyse.
                    let _ = self.storage.write(move |tx| tx.complete(work.id)).await;
                    return;
                }
                Err(_) => {
                    self.telemetry.errors.record("analysis", "storage");
                    return;
                }
            };
            let analysis = tokio::select! {
                a = self.analyzer.analyze(
                    &incident.title,
                    &incident.description,
                    incident.severity,
                    work.due_at_ms.max(work.created_at_ms),
                ) => a,
                // Stopping: the row stays and the next start analyses it.
                () = signals.stopped() => return,
            };
            let id = work.id;
            let incident_id = work.incident_id.clone();
            let stored = self
                .storage
                .write(move |tx| {
                    if let Some(mut incident) = tx.get(&incident_id)? {
                        incident.classification = analysis.classification;
                        incident.summary = analysis.summary;
                        incident.updated_at_ms = now_ms();
                        tx.update(&incident)?;
                    }
                    tx.complete(id)
                })
                .await;
            if stored.is_err() {
                // The row stays and is tried again; not at once.
                self.telemetry.errors.record("analysis", "storage");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = signals.stopped() => {}
                }
            }
        })
    }
}
