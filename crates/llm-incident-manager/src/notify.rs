//! Notifications: one bounded queue per channel, each drained by its own
//! worker. Channels: `log` (one JSON line on stderr) and `webhook` (an HTTP
//! POST, retried with exponential backoff, then marked failed). The
//! `notification_queue_size` gauge follows each queue's real length.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use incident_metrics::base::prometheus_client::metrics::gauge::Gauge;
use incident_metrics::catalog::notification::NotificationStatus;
use incident_metrics_trackers::NotificationTracker;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{NotificationConfig, WebhookConfig};
use crate::http_client::{HttpClient, new_client};
use crate::telemetry::Telemetry;

/// One message to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Notification {
    /// What happened: `created`, `escalated`, `resolved`, `playbook`.
    pub event: String,
    /// The incident.
    pub incident_id: String,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: String,
    /// A human-readable message.
    pub message: String,
}

/// Why a notification was not queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// No such channel is configured.
    #[error("unknown notification channel {0:?}")]
    UnknownChannel(String),
    /// The channel's queue is full.
    #[error("notification queue of {0} is full")]
    QueueFull(String),
    /// The notifier is shutting down.
    #[error("notifier is closed")]
    Closed,
}

#[derive(Debug)]
struct Channel {
    tx: Mutex<Option<mpsc::Sender<Notification>>>,
    queue: Gauge,
}

/// The notification queues and their workers. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Notifier {
    channels: Arc<BTreeMap<&'static str, Channel>>,
    defaults: Arc<Vec<String>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
    telemetry: Telemetry,
}

impl Notifier {
    /// Starts a worker for `log`, and for `webhook` when configured.
    /// Must run inside a tokio runtime.
    pub fn start(config: &NotificationConfig, telemetry: Telemetry) -> Self {
        let mut channels = BTreeMap::new();
        let mut workers = Vec::new();
        let mut kinds: Vec<(&'static str, Delivery)> = vec![("log", Delivery::Log)];
        if let Some(webhook) = &config.webhook {
            kinds.push((
                "webhook",
                Delivery::Webhook(Box::new((webhook.clone(), new_client()))),
            ));
        }
        for (name, delivery) in kinds {
            let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
            // The queue's length lives in its gauge: a detached one (never
            // exported) when recording is off.
            let queue = telemetry
                .recording()
                .map(|t| t.notifications.queue_size(name))
                .unwrap_or_default();
            queue.set(0);
            workers.push(tokio::spawn(worker(
                name,
                rx,
                queue.clone(),
                delivery,
                telemetry.clone(),
            )));
            channels.insert(
                name,
                Channel {
                    tx: Mutex::new(Some(tx)),
                    queue,
                },
            );
        }
        Self {
            channels: Arc::new(channels),
            defaults: Arc::new(config.channels.clone()),
            workers: Arc::new(Mutex::new(workers)),
            telemetry,
        }
    }

    /// Queues `notification` on `channel`. A full queue drops it (counted
    /// as `dropped`).
    ///
    /// # Errors
    ///
    /// [`NotifyError`] when the channel is unknown, full or closed.
    pub fn send(&self, channel: &str, notification: Notification) -> Result<(), NotifyError> {
        let Some((name, ch)) = self.channels.get_key_value(channel) else {
            return Err(NotifyError::UnknownChannel(channel.to_owned()));
        };
        let tx = match ch.tx.lock() {
            Ok(guard) => guard.clone(),
            Err(_) => None,
        };
        let Some(tx) = tx else {
            if let Some(t) = self.telemetry.recording() {
                t.notifications.start(name).dropped();
            }
            return Err(NotifyError::Closed);
        };
        // Count it in the queue before the worker can take it out.
        ch.queue.inc();
        match tx.try_send(notification) {
            Ok(()) => Ok(()),
            Err(e) => {
                ch.queue.dec();
                if let Some(t) = self.telemetry.recording() {
                    t.notifications.start(name).dropped();
                }
                self.telemetry.error("notification", "queue_full");
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => {
                        NotifyError::QueueFull(channel.to_owned())
                    }
                    mpsc::error::TrySendError::Closed(_) => NotifyError::Closed,
                })
            }
        }
    }

    /// Queues `notification` on every default channel.
    pub fn broadcast(&self, notification: &Notification) {
        for channel in self.defaults.iter() {
            let _ = self.send(channel, notification.clone());
        }
    }

    /// The length of `channel`'s queue, as the gauge reports it.
    pub fn queue_len(&self, channel: &str) -> Option<i64> {
        self.channels.get(channel).map(|c| c.queue.get())
    }

    /// Stops taking notifications, lets the workers drain their queues, and
    /// waits for them up to `timeout` (then cuts them). True when every queue
    /// drained in time.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        for ch in self.channels.values() {
            if let Ok(mut tx) = ch.tx.lock() {
                tx.take();
            }
        }
        let workers: Vec<JoinHandle<()>> = match self.workers.lock() {
            Ok(mut w) => w.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut all = true;
        for mut worker in workers {
            if tokio::time::timeout_at(deadline, &mut worker)
                .await
                .is_err()
            {
                worker.abort();
                all = false;
            }
        }
        all
    }
}

#[derive(Debug)]
enum Delivery {
    Log,
    Webhook(Box<(WebhookConfig, HttpClient)>),
}

async fn worker(
    name: &'static str,
    mut rx: mpsc::Receiver<Notification>,
    queue: Gauge,
    delivery: Delivery,
    telemetry: Telemetry,
) {
    while let Some(notification) = rx.recv().await {
        queue.dec();
        let tracker = telemetry.recording().map(|t| t.notifications.start(name));
        let status = match &delivery {
            Delivery::Log => {
                match serde_json::to_string(&notification) {
                    Ok(line) => eprintln!("notification {line}"),
                    Err(_) => eprintln!("notification {notification:?}"),
                }
                NotificationStatus::Sent
            }
            Delivery::Webhook(webhook) => {
                let (config, client) = &**webhook;
                deliver_webhook(config, client, &notification, tracker.as_ref()).await
            }
        };
        if status == NotificationStatus::Sent {
            if let Some(tracker) = tracker {
                tracker.sent();
            }
        } else {
            if let Some(tracker) = tracker {
                tracker.failed();
            }
            telemetry.error("notification", "delivery_failed");
        }
    }
}

async fn deliver_webhook(
    config: &WebhookConfig,
    client: &HttpClient,
    notification: &Notification,
    tracker: Option<&NotificationTracker<'_>>,
) -> NotificationStatus {
    let body = match serde_json::to_vec(notification) {
        Ok(b) => Bytes::from(b),
        Err(_) => return NotificationStatus::Failed,
    };
    let attempts = config.max_attempts.max(1);
    let mut backoff = Duration::from_millis(config.initial_backoff_ms);
    for attempt in 1..=attempts {
        if post(config, client, body.clone()).await {
            return NotificationStatus::Sent;
        }
        if attempt == attempts {
            break;
        }
        if let Some(tracker) = tracker {
            tracker.retried();
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
    NotificationStatus::Failed
}

/// True when the webhook answered 2xx in time.
pub(crate) async fn post(config: &WebhookConfig, client: &HttpClient, body: Bytes) -> bool {
    let Ok(request) = http::Request::post(&config.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
    else {
        return false;
    };
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    matches!(
        tokio::time::timeout(timeout, client.request(request)).await,
        Ok(Ok(response)) if response.status().is_success()
    )
}
