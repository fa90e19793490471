//! The webhook channel against a local receiver that fails, then succeeds:
//! retries with backoff, exact counts, and a queue gauge that follows the
//! real queue.

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
    Router::new().route(
        "/hook",
        post(move |body: String| {
            let hits = hits.clone();
            async move {
                assert!(body.contains("\"incident_id\""));
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
    let (addr, _stub) = serve_stub(flaky(2, hits.clone())).await;
    let app = start(config(&webhook_config(addr, 3))).await;
    create(&app, "notify me", "medium", "hooks").await;
    let text = wait_for_sample(
        app.http_addr(),
        "llm_incident_manager_notifications_total{channel=\"webhook\",status=\"sent\"}",
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
async fn queue_gauge_follows_the_real_queue_and_drains_at_shutdown() {
    // A receiver that holds every request until released.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let router = {
        let (gate, hits) = (gate.clone(), hits.clone());
        Router::new().route(
            "/hook",
            post(move || {
                let (gate, hits) = (gate.clone(), hits.clone());
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let _permit = gate.acquire().await.unwrap();
                    StatusCode::OK
                }
            }),
        )
    };
    let (addr, _stub) = serve_stub(router).await;
    let app = start(config(&webhook_config(addr, 1))).await;
    for i in 0..4 {
        create(&app, &format!("queued {i}"), "info", &format!("q{i}")).await;
    }
    // One is in delivery, three wait in the queue.
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
    // Shutdown drains the queue once the receiver lets go.
    let waiter = tokio::spawn(app.shutdown());
    gate.add_permits(100);
    tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("shutdown timed out")
        .unwrap()
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}
