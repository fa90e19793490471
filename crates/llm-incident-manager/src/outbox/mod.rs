//! The workers that carry out what the outbox holds: each
//! [`Dispatcher`] reads the due rows of one kind (and one channel) from the
//! store, runs at most a bounded number at once, and each [`Handler`]
//! removes its row (or moves it on) in the same transaction as the change
//! its work made. Work is never carried by a request's future: a create
//! answers once its row is committed, and the work happens here, at least
//! once, across restarts.
//!
//! Stopping: at the stop signal a dispatcher takes no new rows; the
//! handlers of resumable work (analysis, playbooks) stop at their next
//! step, leaving their rows for the next start, and deliveries in progress
//! finish until the cut signal, after which they too are left pending.

mod analysis;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

pub use analysis::AnalysisHandler;
use incident_metrics::trackers::Trackers;

use crate::domain::now_ms;
use crate::storage::{Storage, Work, WorkKind};

/// The longest a dispatcher sleeps without looking at the store (a row
/// written by another path, a clock that jumped).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How a worker is told that new work was committed: one [`Notify`] per
/// dispatcher, each woken (a wake-up while busy is kept for its next wait).
#[derive(Clone, Debug, Default)]
pub struct Wake {
    notifies: Arc<std::sync::Mutex<Vec<Arc<Notify>>>>,
}

impl Wake {
    /// A new wake-up for one more dispatcher.
    pub fn register(&self) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        if let Ok(mut all) = self.notifies.lock() {
            all.push(Arc::clone(&notify));
        }
        notify
    }

    /// Wakes every dispatcher.
    pub fn wake(&self) {
        if let Ok(all) = self.notifies.lock() {
            for notify in all.iter() {
                notify.notify_one();
            }
        }
    }
}

/// The signals a handler watches: `stop` (the service is stopping: leave
/// resumable work for the next start) and `cut` (the shutdown timeout
/// passed: leave everything).
#[derive(Clone, Debug)]
pub struct Signals {
    /// The service is stopping.
    pub stop: watch::Receiver<bool>,
    /// The shutdown timeout has passed.
    pub cut: watch::Receiver<bool>,
}

impl Signals {
    /// Waits until `stop` turns true.
    pub async fn stopped(&mut self) {
        let _ = self.stop.wait_for(|s| *s).await;
    }

    /// Waits until `cut` turns true.
    pub async fn cut(&mut self) {
        let _ = self.cut.wait_for(|s| *s).await;
    }

    /// Whether the service is stopping.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Carries out one row of the outbox.
pub trait Handler: Send + Sync + std::fmt::Debug + 'static {
    /// Does the work of `work`, then removes or moves on its row; returns
    /// when done, or when the signals say to leave it for later.
    fn handle(self: Arc<Self>, work: Work, signals: Signals) -> BoxFuture<'static, ()>;
}

/// Runs the due rows of one kind (and target) through a [`Handler`], at
/// most `max_in_flight` at once, oldest first.
#[derive(Debug)]
pub struct Dispatcher<H> {
    /// The store.
    pub storage: Arc<Storage>,
    /// The kind of rows.
    pub kind: WorkKind,
    /// The channel or playbook name, or every row of the kind.
    pub target: Option<String>,
    /// The most rows handled at once.
    pub max_in_flight: usize,
    /// The handler.
    pub handler: Arc<H>,
    /// Woken when work is committed.
    pub notify: Arc<Notify>,
    /// Counts failures to read the store.
    pub telemetry: Trackers,
}

impl<H: Handler> Dispatcher<H> {
    /// Runs until `signals.stop`, then waits for the rows in progress (each
    /// handler leaves at `stop` or `cut` as its kind allows).
    pub async fn run(self, mut signals: Signals) {
        let max = self.max_in_flight.max(1);
        let mut running = JoinSet::new();
        let mut tasks: HashMap<tokio::task::Id, i64> = HashMap::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        loop {
            if signals.stopping() {
                break;
            }
            let now = now_ms();
            let mut next_look = tokio::time::Instant::now() + POLL_INTERVAL;
            if running.len() < max {
                let free = max - running.len();
                match self.storage.due_work(
                    self.kind,
                    self.target.as_deref(),
                    now,
                    free.saturating_add(in_flight.len()),
                ) {
                    Ok(due) => {
                        let fresh: Vec<Work> = due
                            .into_iter()
                            .filter(|w| !in_flight.contains(&w.id))
                            .take(free)
                            .collect();
                        for work in fresh {
                            in_flight.insert(work.id);
                            let id = work.id;
                            let handle = running
                                .spawn(Arc::clone(&self.handler).handle(work, signals.clone()));
                            tasks.insert(handle.id(), id);
                        }
                    }
                    Err(_) => self.telemetry.errors.record("outbox", "storage"),
                }
                if running.len() < max
                    && let Ok(Some(due)) = self.storage.next_due(self.kind, self.target.as_deref())
                {
                    let wait = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
                    next_look = next_look
                        .min(tokio::time::Instant::now() + Duration::from_millis(wait.max(1)));
                }
            }
            tokio::select! {
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let task = match done {
                        Ok((task, ())) => task,
                        Err(e) => {
                            // A handler that panicked: its row stays and is
                            // tried again after the poll interval.
                            self.telemetry.errors.record("outbox", "panic");
                            tokio::time::sleep(POLL_INTERVAL).await;
                            e.id()
                        }
                    };
                    if let Some(id) = tasks.remove(&task) {
                        in_flight.remove(&id);
                    }
                }
                () = self.notify.notified() => {}
                () = tokio::time::sleep_until(next_look) => {}
                () = signals.stopped() => {}
            }
        }
        // Stopping: the handlers leave at `stop` or `cut`.
        while running.join_next().await.is_some() {}
    }
}

/// The wait before retry `attempt` (1-based): `initial` doubled after each
/// failed attempt, at most an hour.
pub fn backoff(initial: Duration, attempt: u32) -> Duration {
    let factor = 1_u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    initial
        .saturating_mul(factor)
        .min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_millis(200);
        assert_eq!(backoff(b, 1), Duration::from_millis(200));
        assert_eq!(backoff(b, 2), Duration::from_millis(400));
        assert_eq!(backoff(b, 4), Duration::from_millis(1600));
        assert_eq!(backoff(b, 60), Duration::from_secs(3600));
    }
}
