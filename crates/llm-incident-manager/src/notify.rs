//! Notifications: each one a row of the durable outbox, delivered by the
//! [`NotificationHandler`] of its channel: `log` (one JSON line on stderr)
//! or `webhook` (an HTTP POST with an `Idempotency-Key` header that is the
//! same on every attempt, retried with exponential backoff from the store,
//! then marked failed). The `notification_queue_size` gauge counts each
//! channel's rows waiting in the outbox (not those in delivery).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::Full;
use incident_metrics::base::prometheus_client::metrics::gauge::Gauge;
use incident_metrics::trackers::Trackers;
use serde::{Deserialize, Serialize};

use crate::config::{NotificationConfig, WebhookConfig};
use crate::domain::now_ms;
use crate::http_client::{HttpClient, new_client_with};
use crate::outbox::{Handler, Signals, backoff};
use crate::storage::{Storage, Work, WorkKind};

/// The header that carries a delivery's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// One message to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Notification {
    /// What happened: `created`, `acknowledged`, `escalated`, `resolved`,
    /// `playbook`.
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

/// How a channel delivers.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// One JSON line on stderr.
    Log,
    /// An HTTP POST.
    Webhook(Box<(WebhookConfig, HttpClient)>),
}

/// The channels of `config`: `log` always, `webhook` when configured.
pub(crate) fn channels(config: &NotificationConfig) -> Vec<(&'static str, Delivery)> {
    let mut channels = vec![("log", Delivery::Log)];
    if let Some(webhook) = &config.webhook {
        channels.push((
            "webhook",
            Delivery::Webhook(Box::new((
                webhook.clone(),
                new_client_with(webhook.tls.as_ref()),
            ))),
        ));
    }
    channels
}

/// Delivers the outbox rows of one channel.
#[derive(Debug)]
pub struct NotificationHandler {
    channel: &'static str,
    delivery: Delivery,
    storage: Arc<Storage>,
    telemetry: Trackers,
    queue: Gauge,
}

impl NotificationHandler {
    /// The handler of `channel`; sets its `notification_queue_size` to the
    /// rows the outbox holds for it.
    pub(crate) fn new(
        channel: &'static str,
        delivery: Delivery,
        storage: Arc<Storage>,
        telemetry: Trackers,
        pending: i64,
    ) -> Self {
        // A detached gauge (never exported) when metrics are off.
        let queue = telemetry.notifications.queue_size(channel);
        queue.set(pending);
        Self {
            channel,
            delivery,
            storage,
            telemetry,
            queue,
        }
    }

    /// The channel's name.
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    fn max_attempts(&self) -> u32 {
        match &self.delivery {
            Delivery::Log => 1,
            Delivery::Webhook(w) => w.0.max_attempts.max(1),
        }
    }

    fn initial_backoff(&self) -> Duration {
        match &self.delivery {
            Delivery::Log => Duration::ZERO,
            Delivery::Webhook(w) => Duration::from_millis(w.0.initial_backoff_ms),
        }
    }

    /// One delivery attempt.
    async fn deliver(&self, work: &Work) -> Result<(), String> {
        match &self.delivery {
            Delivery::Log => {
                let notification: serde_json::Value =
                    serde_json::from_str(&work.payload).unwrap_or(serde_json::Value::Null);
                let line = serde_json::json!({
                    "idempotency_key": work.idempotency_key,
                    "notification": notification,
                });
                eprintln!("notification {line}");
                Ok(())
            }
            Delivery::Webhook(webhook) => {
                let (config, client) = &**webhook;
                post(
                    config,
                    client,
                    &work.idempotency_key,
                    Bytes::from(work.payload.clone()),
                )
                .await
            }
        }
    }
}

impl Handler for NotificationHandler {
    fn handle(self: Arc<Self>, work: Work, mut signals: Signals) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // In delivery: no longer waiting in the queue.
            self.queue.dec();
            let tracker = self.telemetry.notifications.start(self.channel);
            // A delivery in progress finishes, unless the shutdown timeout
            // passes first: then it stays in the outbox for the next start.
            let delivered = tokio::select! {
                d = self.deliver(&work) => d,
                () = signals.cut() => {
                    self.queue.inc();
                    tracker.postponed();
                    return;
                }
            };
            let id = work.id;
            let attempts = work.attempts.saturating_add(1);
            match delivered {
                Ok(()) => {
                    if self.storage.write(move |tx| tx.complete(id)).await.is_ok() {
                        tracker.sent();
                    } else {
                        // Delivered, but the row could not be removed: it
                        // is delivered again (with the same key).
                        self.queue.inc();
                        self.telemetry.errors.record("notification", "storage");
                        tracker.postponed();
                    }
                }
                Err(reason) if attempts >= self.max_attempts() => {
                    eprintln!(
                        "notification {} on {} failed after {attempts} attempts: {reason}",
                        work.idempotency_key, self.channel
                    );
                    if self.storage.write(move |tx| tx.complete(id)).await.is_err() {
                        self.queue.inc();
                    }
                    tracker.failed();
                    self.telemetry
                        .errors
                        .record("notification", "delivery_failed");
                }
                Err(_) => {
                    let wait = backoff(self.initial_backoff(), attempts);
                    let due = now_ms()
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                    let _ = self
                        .storage
                        .write(move |tx| tx.reschedule(id, 0, attempts, due))
                        .await;
                    self.queue.inc();
                    tracker.retried();
                    tracker.postponed();
                }
            }
        })
    }
}

/// Removes the outbox rows of notification channels that are no longer
/// configured (each counted as `dropped`, with a line on stderr); returns
/// the rows left per configured channel.
///
/// # Errors
///
/// When the store cannot be read or written.
pub async fn settle_channels(
    storage: &Storage,
    configured: &[&str],
    telemetry: &Trackers,
) -> Result<Vec<(String, i64)>, crate::storage::StorageError> {
    let mut left = Vec::new();
    for (kind, target, n) in storage.pending_work()? {
        if kind != WorkKind::Notification.as_str() {
            continue;
        }
        if configured.contains(&target.as_str()) {
            left.push((target, n));
            continue;
        }
        let channel = target.clone();
        let dropped = storage
            .write(move |tx| tx.discard(WorkKind::Notification, &channel))
            .await?;
        eprintln!(
            "llm-incident-manager: dropped {dropped} pending notifications of channel {target:?}, \
             which is no longer configured"
        );
        for _ in 0..dropped {
            telemetry.notifications.start(&target).dropped();
        }
    }
    Ok(left)
}

/// One POST to the webhook, with the idempotency key; `Err` says why it
/// was not a 2xx in time.
pub(crate) async fn post(
    config: &WebhookConfig,
    client: &HttpClient,
    key: &str,
    body: Bytes,
) -> Result<(), String> {
    let request = http::Request::post(&config.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_KEY, key)
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("{} answered {}", config.url, response.status())),
        Ok(Err(e)) => Err(format!("{}: {e}", config.url)),
        Err(_) => Err(format!("{} did not answer within {timeout:?}", config.url)),
    }
}
