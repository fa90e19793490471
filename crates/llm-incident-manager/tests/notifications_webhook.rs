//! The webhook channel against a local receiver that fails, then succeeds:
//! retries with backoff from the outbox, exact counts, one idempotency key
//! per notification on every attempt, a queue gauge that follows the
//! outbox, and deliveries that stay pending across a shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;

/// A receiver answering 500 to its first `failures` requests, then 200.
fn flaky(failures: usize, hits: Arc<AtomicUsize>) -> Router {
    flaky_keys(failures, hits, Keys::default())
}

/// The `Idempotency-Key` of every request a receiver saw, in order.
#[derive(Clone, Default)]
struct Keys(Arc<std::sync::Mutex<Vec<String>>>);

impl Keys {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// [`flaky`], noting each request's idempotency key.
fn flaky_keys(failures: usize, hits: Arc<AtomicUsize>, keys: Keys) -> Router {
    Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let (hits, keys) = (hits.clone(), keys.clone());
            async move {
                assert!(body.contains("\"incident_id\""));
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                keys.0.lock().unwrap().push(key);
                let n = hits.fetch_add(1, Ordering::SeqCst);
                if n < failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    )
}

fn webhook_config(addr: std::net::SocketAddr, attempts: u32) -> String {
    format!(
        "playbooks = []\n[notifications]\nchannels = [\"webhook\"]\n\
         [notifications.webhook]\nurl = \"http://{addr}/hook\"\nmax_attempts = {attempts}\n\
         initial_backoff_ms = 10\ntimeout_ms = 2000\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_then_succeeds_with_exact_counts() {
    let hits = Arc::new(AtomicUsize::new(0));
    let keys = Keys::default();
    let (addr, _stub) = serve_stub(flaky_keys(2, hits.clone(), keys.clone())).await;
    let app = start(config(&webhook_config(addr, 3))).await;
    let created = create(&app, "notify me", "medium", "hooks").await;
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"sent\"}",
        1.0,
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // The same key on every attempt, naming the incident and the event.
    let keys = keys.all();
    let id = created["id"].as_str().unwrap();
    assert_eq!(keys, vec![format!("{id}:created:webhook"); 3]);
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m("notifications_total{channel=\"webhook\",status=\"retried\"}"),
        2.0
    );
    assert_eq!(
        m("notifications_total{channel=\"webhook\",status=\"failed\"}"),
        0.0
    );
    assert_eq!(
        m("notification_delivery_duration_seconds_count{channel=\"webhook\"}"),
        1.0
    );
    assert_eq!(m("notification_queue_size{channel=\"webhook\"}"), 0.0);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_marked_failed_after_the_last_attempt() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (addr, _stub) = serve_stub(flaky(usize::MAX, hits.clone())).await;
    let app = start(config(&webhook_config(addr, 3))).await;
    create(&app, "never delivered", "low", "hooks").await;
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"failed\"}",
        1.0,
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    assert_eq!(
        m("notifications_total{channel=\"webhook\",status=\"retried\"}"),
        2.0
    );
    assert_eq!(
        m("notifications_total{channel=\"webhook\",status=\"sent\"}"),
        0.0
    );
    assert_eq!(
        m("errors_total{component=\"notification\",error_type=\"delivery_failed\"}"),
        1.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_gauge_follows_the_outbox_and_pending_deliveries_survive_a_shutdown() {
    // A receiver that holds every request until released.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let keys = Keys::default();
    let router = {
        let (gate, hits, keys) = (gate.clone(), hits.clone(), keys.clone());
        Router::new().route(
            "/hook",
            post(move |headers: axum::http::HeaderMap| {
                let (gate, hits, keys) = (gate.clone(), hits.clone(), keys.clone());
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let _permit = gate.acquire().await.unwrap();
                    keys.0.lock().unwrap().push(key);
                    StatusCode::OK
                }
            }),
        )
    };
    let (addr, _stub) = serve_stub(router).await;
    // One delivery at a time.
    let toml = webhook_config(addr, 1)
        .replace("[notifications]\n", "[notifications]\nmax_in_flight = 1\n");
    let config = config(&toml);
    let app = start(config.clone()).await;
    for i in 0..4 {
        create(&app, &format!("queued {i}"), "info", &format!("q{i}")).await;
    }
    // One is in delivery, three wait in the outbox.
    let ok = eventually(Duration::from_secs(10), || {
        let hits = hits.clone();
        async move { hits.load(Ordering::SeqCst) == 1 }
    })
    .await;
    assert!(ok);
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notification_queue_size{channel=\"webhook\"}",
        3.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"sent\"}"
        ),
        0.0
    );
    // Shutdown: the delivery in progress finishes once the receiver lets
    // go; the three waiting stay in the outbox, not dropped.
    let waiter = tokio::spawn(app.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.add_permits(100);
    tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("shutdown timed out")
        .unwrap()
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The next start on the same store delivers them, each once.
    let app = start(config).await;
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"sent\"}",
        3.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_notification_queue_size{channel=\"webhook\"}"
        ),
        0.0
    );
    let keys = keys.all();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), 4, "{keys:?}");
    app.shutdown().await.unwrap();
}
